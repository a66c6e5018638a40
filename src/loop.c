/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop: level-triggered epoll over registered fds, and timer hooks
 * that report their next CLOCK_MONOTONIC deadline and get a tick after every
 * wait.  Entries removed from inside a callback are only marked dead and
 * freed once dispatch is over, so a pending event never reaches freed memory.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 64

struct loop_fd {
	struct loop_fd *next;
	int fd;
	uint32_t events;
	loop_fd_fn fn;
	void *arg;
	bool dead;
};

struct loop_hook {
	struct loop_hook *next;
	loop_deadline_fn deadline;
	loop_tick_fn tick;
	void *arg;
	bool dead;
};

struct loop {
	int epfd;
	struct loop_fd *fds;       /* live */
	struct loop_fd *dead_fds;  /* removed during dispatch, freed after */
	struct loop_hook *hooks;   /* in registration order; dead ones swept */
	bool hooks_dirty;
	int depth;                 /* > 0 while callbacks run */
	volatile sig_atomic_t stop;
	uint64_t poll_ns;          /* busy-poll window after activity, 0 = off */
	loop_nap_fn nap;           /* coalescing: how long to nap first */
	void *nap_arg;
	uint32_t nap_hist;         /* the latest naps, a bit each: overslept */
	unsigned nap_count;        /* naps in nap_hist */
	uint64_t nap_off_until;    /* no nap before then (they oversleep) */
	uint64_t nap_off_ns;       /* how long the next stop lasts */
	uint64_t active;           /* when events were last dispatched */
	struct loop_stats stats;
};

uint64_t
loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
loop_new(struct loop **out)
{
	struct loop *l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int rc = -errno;

		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void
free_fd_list(struct loop_fd *f)
{
	while (f != NULL) {
		struct loop_fd *next = f->next;

		free(f);
		f = next;
	}
}

void
loop_free(struct loop *l)
{
	struct loop_hook *h, *hn;

	if (l == NULL)
		return;
	free_fd_list(l->fds);
	free_fd_list(l->dead_fds);
	for (h = l->hooks; h != NULL; h = hn) {
		hn = h->next;
		free(h);
	}
	close(l->epfd);
	free(l);
}

static struct loop_fd **
find_fd(struct loop *l, int fd)
{
	struct loop_fd **pp;

	for (pp = &l->fds; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			return pp;
	return NULL;
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
    void *arg)
{
	struct epoll_event ev = { .events = events };
	struct loop_fd *f;

	if (fd < 0 || fn == NULL)
		return -EINVAL;
	if (find_fd(l, fd) != NULL)
		return -EEXIST;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->fd = fd;
	f->events = events;
	f->fn = fn;
	f->arg = arg;
	ev.data.ptr = f;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		free(f);
		return rc;
	}
	f->next = l->fds;
	l->fds = f;
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct loop_fd **pp = find_fd(l, fd);
	struct epoll_event ev = { .events = events };

	if (pp == NULL)
		return -ENOENT;
	ev.data.ptr = *pp;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	(*pp)->events = events;
	return 0;
}

int
loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd **pp = find_fd(l, fd);
	struct loop_fd *f;

	if (pp == NULL)
		return -ENOENT;
	f = *pp;
	*pp = f->next;
	/* The fd may already be closed (then epoll dropped it itself). */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (l->depth > 0) {
		/* An event for f may still be pending in this batch. */
		f->dead = true;
		f->next = l->dead_fds;
		l->dead_fds = f;
	} else {
		free(f);
	}
	return 0;
}

int
loop_add_hook(struct loop *l, loop_deadline_fn deadline, loop_tick_fn tick,
    void *arg)
{
	struct loop_hook *h, **pp;

	if (deadline == NULL && tick == NULL)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->deadline = deadline;
	h->tick = tick;
	h->arg = arg;
	for (pp = &l->hooks; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = h;
	return 0;
}

static void
sweep_hooks(struct loop *l)
{
	struct loop_hook **pp = &l->hooks, *h;

	while ((h = *pp) != NULL) {
		if (h->dead) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
	l->hooks_dirty = false;
}

int
loop_del_hook(struct loop *l, loop_deadline_fn deadline, loop_tick_fn tick,
    void *arg)
{
	struct loop_hook *h;

	for (h = l->hooks; h != NULL; h = h->next) {
		if (h->dead || h->deadline != deadline || h->tick != tick ||
		    h->arg != arg)
			continue;
		h->dead = true;
		l->hooks_dirty = true;
		if (l->depth == 0)
			sweep_hooks(l);
		return 0;
	}
	return -ENOENT;
}

/* Milliseconds for epoll_wait, rounded up so we never spin before deadline. */
static int
timeout_ms(uint64_t deadline, uint64_t now)
{
	uint64_t d, ms;

	if (deadline == UINT64_MAX)
		return -1;
	if (deadline <= now)
		return 0;
	d = deadline - now;
	ms = d / 1000000u + (d % 1000000u != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * Busy polling: until poll_ns after the last dispatch (and not past the
 * next deadline), look for events without sleeping.  A CPU that halts
 * can take tens of microseconds to wake (virtual machines, deep C-states),
 * which is more than an AoE round trip on a LAN.  Returns what epoll_wait
 * returned last: events, 0 when the window closed, -1 with errno.
 */
static int
spin(struct loop *l, struct epoll_event *evs, uint64_t deadline)
{
	uint64_t end = l->active + l->poll_ns;
	int n = 0;

	if (end < l->active)
		end = UINT64_MAX;
	if (end > deadline)
		end = deadline;
	while (n == 0 && !l->stop && loop_now() < end)
		n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, 0);
	return n;
}

void
loop_set_busy_poll(struct loop *l, uint64_t ns)
{
	l->poll_ns = ns;
}

uint64_t
loop_nap_scaled(uint64_t max_ns, unsigned inflight)
{
	if (inflight < LOOP_NAP_MIN_INFLIGHT)
		return 0;
	if (inflight >= LOOP_NAP_FULL_INFLIGHT)
		return max_ns;
	return max_ns * inflight / LOOP_NAP_FULL_INFLIGHT;
}

static unsigned
nap_gain_clamp(unsigned gain)
{
	if (gain < LOOP_NAP_GAIN_MIN)
		return LOOP_NAP_GAIN_MIN;
	return gain > LOOP_NAP_GAIN_MAX ? LOOP_NAP_GAIN_MAX : gain;
}

unsigned
loop_nap_adapt(unsigned gain, unsigned inflight, uint64_t answered)
{
	gain = nap_gain_clamp(gain);
	if (inflight == 0)
		return gain;
	if (answered * 8 >= (uint64_t)inflight * 7)
		gain = gain * 3 / 4;
	else if (answered * 2 <= inflight)
		gain = (gain * 9 + 7) / 8;
	return nap_gain_clamp(gain);
}

void
loop_set_nap(struct loop *l, loop_nap_fn fn, void *arg)
{
	l->nap = fn;
	l->nap_arg = arg;
	/*
	 * Naps of tens of microseconds: the default timer slack (50 us)
	 * would double them.  Best effort.
	 */
	if (fn != NULL)
		(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
}

/*
 * Coalescing: before a wait that would sleep, nap as long as the hook asks
 * (not past the deadline).  Asleep outside epoll_wait, no sender wakes us:
 * what arrives meanwhile is found by the wait, in one batch.  Where the
 * timers are coarse (an emulated machine) a nap can last many times what
 * was asked, and the target runs out of work meanwhile: when NAP_LATE_MAX
 * of the latest 32 naps overslept, none for a quarter of a second,
 * doubling up to a minute while they go on oversleeping; 32 naps in time
 * start again from a quarter.  (On a busy machine some naps oversleep too,
 * while another process has the CPU: 1-2 % on the development VM, more in
 * bursts, which stopped naps for 1 s of a 1.5 s transfer once in four;
 * short first stops lose little to those; in a qemu TCG guest most naps
 * oversleep.)
 */
#define NAP_LATE_MAX 16
#define NAP_OFF_MIN_NS (250000000ull)
#define NAP_OFF_MAX_NS (256 * NAP_OFF_MIN_NS)
#define NAP_SLACK_NS 100000u /* a nap longer than 2x + this overslept */

static void
nap(struct loop *l, uint64_t deadline)
{
	uint64_t ns, now, slept;
	struct timespec ts;

	if (l->nap == NULL || l->stop)
		return;
	now = loop_now();
	if (deadline <= now || now < l->nap_off_until)
		return;
	ns = l->nap(l->nap_arg);
	if (ns == 0)
		return;
	if (ns > deadline - now)
		ns = deadline - now;
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	(void)nanosleep(&ts, NULL); /* a signal cuts it short: fine */
	l->stats.napped++;
	l->stats.nap_ns += ns;
	slept = loop_now() - now;
	l->nap_hist <<= 1;
	if (l->nap_count < 32)
		l->nap_count++;
	if (slept > 2 * ns + NAP_SLACK_NS) {
		l->stats.nap_late++;
		l->nap_hist |= 1;
	}
	if (l->nap_count < 32)
		return;
	if (l->nap_hist == 0) {
		l->nap_off_ns = NAP_OFF_MIN_NS;
	} else if (__builtin_popcount(l->nap_hist) >= NAP_LATE_MAX) {
		if (l->nap_off_ns == 0)
			l->nap_off_ns = NAP_OFF_MIN_NS;
		l->nap_off_until = now + slept + l->nap_off_ns;
		l->nap_off_ns = l->nap_off_ns * 2 > NAP_OFF_MAX_NS ?
		    NAP_OFF_MAX_NS : l->nap_off_ns * 2;
		l->nap_hist = 0;
		l->nap_count = 0;
		l->stats.nap_off++;
	}
}

void
loop_get_stats(const struct loop *l, struct loop_stats *out)
{
	*out = l->stats;
}

int
loop_run_once(struct loop *l, uint64_t until)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	struct loop_hook *h;
	uint64_t deadline = until, now, t0, turn;
	int n;

	for (h = l->hooks; h != NULL; h = h->next) {
		if (!h->dead && h->deadline != NULL) {
			uint64_t d = h->deadline(h->arg);

			if (d < deadline)
				deadline = d;
		}
	}
	n = 0;
	if (l->poll_ns > 0 && l->active != 0) {
		n = spin(l, evs, deadline);
		if (n < 0 && errno != EINTR)
			return -errno;
		/* Stopped by a signal handler while polling. */
		if (n <= 0 && l->stop)
			return 0;
	}
	if (n > 0) {
		l->stats.polled++;
	} else {
		if (l->poll_ns == 0)
			nap(l, deadline);
		for (;;) {
			now = loop_now();
			n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS,
			    timeout_ms(deadline, now));
			if (n >= 0)
				break;
			if (errno != EINTR)
				return -errno;
			/* A signal handler may have asked us to stop. */
			if (l->stop)
				return 0;
		}
		l->stats.slept++;
	}

	l->depth++;
	t0 = loop_now();
	for (int i = 0; i < n; i++) {
		struct loop_fd *f = evs[i].data.ptr;

		if (!f->dead)
			f->fn(f->arg, evs[i].events);
	}
	now = loop_now();
	/* Busy polling counts from the end of this dispatch. */
	if (n > 0)
		l->active = now;
	for (h = l->hooks; h != NULL; h = h->next)
		if (!h->dead && h->tick != NULL)
			h->tick(h->arg, now);
	l->depth--;
	turn = loop_now() - t0;
	if (turn > l->stats.turn_max_ns)
		l->stats.turn_max_ns = turn;

	if (l->depth == 0) {
		free_fd_list(l->dead_fds);
		l->dead_fds = NULL;
		if (l->hooks_dirty)
			sweep_hooks(l);
	}
	return 0;
}

int
loop_run(struct loop *l, uint64_t until)
{
	while (!l->stop) {
		int rc;

		if (until != UINT64_MAX && loop_now() >= until)
			return 0;
		rc = loop_run_once(l, until);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

bool
loop_stopped(const struct loop *l)
{
	return l->stop != 0;
}
