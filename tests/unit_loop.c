/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for src/loop: busy polling (--busy-poll) and coalescing naps
 * (--coalesce).  Real epoll, a pipe and a timerfd; the loop's counters
 * tell whether a wait was answered while polling or by a sleep, and how
 * often it napped.  Bounds on time are generous (they only catch a loop
 * that hangs, never sleeps or never naps).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "loop.h"

#define MS 1000000ull

struct fixture {
	struct loop *l;
	int pfd[2];     /* a pipe: write a byte to make the loop busy */
	int tfd;        /* a timerfd: an event that comes later */
	unsigned pipe_calls, timer_calls;
};

static void
on_pipe(void *arg, uint32_t events)
{
	struct fixture *f = arg;
	char c;

	(void)events;
	cr_assert_eq(read(f->pfd[0], &c, 1), 1);
	f->pipe_calls++;
}

static void
on_timer(void *arg, uint32_t events)
{
	struct fixture *f = arg;
	uint64_t n;

	(void)events;
	cr_assert_eq(read(f->tfd, &n, sizeof(n)), (ssize_t)sizeof(n));
	f->timer_calls++;
}

static void
setup(struct fixture *f, uint64_t poll_ns)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(loop_new(&f->l), 0);
	cr_assert_eq(pipe(f->pfd), 0);
	f->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	cr_assert_geq(f->tfd, 0);
	cr_assert_eq(loop_add_fd(f->l, f->pfd[0], EPOLLIN, on_pipe, f), 0);
	cr_assert_eq(loop_add_fd(f->l, f->tfd, EPOLLIN, on_timer, f), 0);
	loop_set_busy_poll(f->l, poll_ns);
}

static void
teardown(struct fixture *f)
{
	loop_free(f->l);
	close(f->pfd[0]);
	close(f->pfd[1]);
	close(f->tfd);
}

/* An event: one byte in the pipe, dispatched by one loop_run_once. */
static void
kick(struct fixture *f)
{
	unsigned before = f->pipe_calls;

	cr_assert_eq(write(f->pfd[1], "x", 1), 1);
	cr_assert_eq(loop_run_once(f->l, UINT64_MAX), 0);
	cr_assert_eq(f->pipe_calls, before + 1);
}

static void
arm(struct fixture *f, uint64_t ns)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(ns / 1000000000u);
	its.it_value.tv_nsec = (long)(ns % 1000000000u);
	cr_assert_eq(timerfd_settime(f->tfd, 0, &its, NULL), 0);
}

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loop's count of waits answered by polling and of sleeps. */
static void
expect_waits(const struct fixture *f, uint64_t polled, uint64_t slept)
{
	struct loop_stats st;

	loop_get_stats(f->l, &st);
	cr_expect_eq(st.polled, polled, "polled %llu, want %llu",
	    (unsigned long long)st.polled, (unsigned long long)polled);
	cr_expect_eq(st.slept, slept, "slept %llu, want %llu",
	    (unsigned long long)st.slept, (unsigned long long)slept);
}

Test(busy_poll, off_by_default_every_wait_sleeps)
{
	struct fixture f;

	setup(&f, 0);
	kick(&f);
	arm(&f, 2 * MS);
	cr_assert_eq(loop_run_once(f.l, UINT64_MAX), 0);
	cr_expect_eq(f.timer_calls, 1);
	expect_waits(&f, 0, 2);
	teardown(&f);
}

Test(busy_poll, event_soon_after_activity_is_found_by_polling)
{
	struct fixture f;

	setup(&f, 2000 * MS);
	/* Nothing happened yet: the first wait sleeps. */
	kick(&f);
	expect_waits(&f, 0, 1);
	/* Right after activity, the next event is polled for. */
	arm(&f, 2 * MS);
	cr_assert_eq(loop_run_once(f.l, UINT64_MAX), 0);
	cr_expect_eq(f.timer_calls, 1);
	expect_waits(&f, 1, 1);
	/* An event already there is found at once, by polling too. */
	kick(&f);
	expect_waits(&f, 2, 1);
	teardown(&f);
}

Test(busy_poll, idle_loop_goes_to_sleep_after_the_window)
{
	struct fixture f;
	uint64_t t0, c0, until;

	setup(&f, 1 * MS);
	kick(&f);
	/* No event for 200 ms: 1 ms of polling, then a sleep. */
	t0 = loop_now();
	c0 = cpu_ns();
	until = t0 + 200 * MS;
	cr_assert_eq(loop_run_once(f.l, until), 0);
	cr_expect_geq(loop_now(), until);
	cr_expect_lt(cpu_ns() - c0, 100 * MS,
	    "the loop polled instead of sleeping: %llu ns of CPU",
	    (unsigned long long)(cpu_ns() - c0));
	expect_waits(&f, 0, 2);
	teardown(&f);
}

Test(busy_poll, polling_stops_at_the_next_deadline)
{
	struct fixture f;
	uint64_t t0, until;

	/* A window far longer than the deadline: the deadline wins. */
	setup(&f, 1000000 * MS);
	kick(&f);
	t0 = loop_now();
	until = t0 + 5 * MS;
	cr_assert_eq(loop_run_once(f.l, until), 0);
	cr_expect_geq(loop_now(), until);
	cr_expect_lt(loop_now() - t0, 2000 * MS);
	teardown(&f);
}

static struct loop *alarm_loop;

static void
on_alarm(int sig)
{
	(void)sig;
	loop_stop(alarm_loop);
}

Test(busy_poll, a_signal_stops_the_loop_while_polling, .timeout = 10)
{
	struct fixture f;
	struct sigaction sa;
	struct itimerval it = { 0 };

	setup(&f, 1000000 * MS);
	kick(&f);
	alarm_loop = f.l;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	it.it_value.tv_usec = 5000;
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* Polls (no sleep to interrupt) until the handler stops it. */
	cr_assert_eq(loop_run(f.l, UINT64_MAX), 0);
	cr_expect(loop_stopped(f.l));
	teardown(&f);
}

/* ------------------------------------------------------------ coalescing */

struct napper {
	uint64_t ns;    /* what the hook answers */
	unsigned calls;
};

static uint64_t
nap_hook(void *arg)
{
	struct napper *n = arg;

	n->calls++;
	return n->ns;
}

static uint64_t
napped(const struct fixture *f)
{
	struct loop_stats st;

	loop_get_stats(f->l, &st);
	return st.napped;
}

/*
 * An event already there: the loop naps as long as the hook says, then
 * finds it (and what else came meanwhile) in the same wait.
 */
Test(coalesce, naps_before_the_wait)
{
	struct fixture f;
	struct napper n = { .ns = 20 * MS };
	uint64_t t0;

	setup(&f, 0);
	loop_set_nap(f.l, nap_hook, &n);
	t0 = loop_now();
	kick(&f);
	cr_expect_geq(loop_now() - t0, 20 * MS, "no nap: %llu ns",
	    (unsigned long long)(loop_now() - t0));
	cr_expect_eq(n.calls, 1);
	cr_expect_eq(napped(&f), 1);
	expect_waits(&f, 0, 1);
	teardown(&f);
}

/* The hook says 0 (few frames in flight): no nap, no delay. */
Test(coalesce, no_nap_when_the_hook_says_so)
{
	struct fixture f;
	struct napper n = { .ns = 0 };
	uint64_t t0;

	setup(&f, 0);
	loop_set_nap(f.l, nap_hook, &n);
	t0 = loop_now();
	kick(&f);
	cr_expect_lt(loop_now() - t0, 1000 * MS);
	cr_expect_eq(n.calls, 1);
	cr_expect_eq(napped(&f), 0);
	teardown(&f);
}

/* A nap never runs past the next deadline. */
Test(coalesce, nap_stops_at_the_deadline)
{
	struct fixture f;
	struct napper n = { .ns = 100000 * MS };
	uint64_t t0, until;

	setup(&f, 0);
	loop_set_nap(f.l, nap_hook, &n);
	t0 = loop_now();
	until = t0 + 5 * MS;
	cr_assert_eq(loop_run_once(f.l, until), 0);
	cr_expect_geq(loop_now(), until);
	cr_expect_lt(loop_now() - t0, 2000 * MS, "napped past the deadline");
	cr_expect_eq(napped(&f), 1);
	teardown(&f);
}

/* Busy polling turns naps off; so does a NULL hook. */
Test(coalesce, off_with_busy_polling_or_no_hook)
{
	struct fixture f;
	struct napper n = { .ns = 20000 * MS };
	uint64_t t0;

	setup(&f, 1 * MS);
	loop_set_nap(f.l, nap_hook, &n);
	t0 = loop_now();
	kick(&f);
	kick(&f);
	cr_expect_lt(loop_now() - t0, 10000 * MS);
	cr_expect_eq(n.calls, 0);
	cr_expect_eq(napped(&f), 0);
	teardown(&f);

	setup(&f, 0);
	loop_set_nap(f.l, nap_hook, &n);
	loop_set_nap(f.l, NULL, NULL);
	kick(&f);
	cr_expect_eq(n.calls, 0);
	cr_expect_eq(napped(&f), 0);
	teardown(&f);
}

static void
on_slow_alarm(int sig)
{
	uint64_t end = loop_now() + 20 * MS;

	(void)sig;
	while (loop_now() < end)
		;
}

/* Asks for a 5 ms nap and has a signal handler take 20 ms of it. */
static uint64_t
nap_hook_oversleeps(void *arg)
{
	struct napper *n = arg;
	struct itimerval it = { 0 };

	n->calls++;
	it.it_value.tv_usec = 200;
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	return n->ns;
}

/* Like nap_hook_oversleeps, one nap in four (a busy machine). */
static uint64_t
nap_hook_sometimes_oversleeps(void *arg)
{
	struct napper *n = arg;

	if (n->calls % 4 == 0)
		return nap_hook_oversleeps(arg);
	n->calls++;
	return n->ns;
}

/*
 * Naps that last far longer than asked (coarse timers, an emulated
 * machine) would starve the target: when half of the latest 32 did, none
 * for a quarter of a second.
 */
Test(coalesce, naps_stop_when_they_oversleep, .timeout = 30)
{
	struct fixture f;
	struct napper n = { .ns = 5 * MS };
	struct sigaction sa;
	struct loop_stats st;
	uint64_t before, t0;

	setup(&f, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_slow_alarm;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	loop_set_nap(f.l, nap_hook_oversleeps, &n);
	for (unsigned k = 0; k < 40; k++) {
		kick(&f);
		loop_get_stats(f.l, &st);
		if (st.nap_off > 0)
			break;
	}
	cr_assert_eq(st.nap_off, 1, "naps never stopped");
	cr_expect_geq(st.nap_late, 16);
	cr_expect_geq(st.napped, 32);
	before = st.napped;
	t0 = loop_now();
	kick(&f);
	kick(&f);
	loop_get_stats(f.l, &st);
	/* Two wake-ups take microseconds; the stop lasts 250 ms. */
	cr_assert_lt(loop_now() - t0, 200 * MS, "two kicks took 200 ms");
	cr_expect_eq(st.napped, before, "napped again at once");
	cr_expect_eq(n.calls, (unsigned)before, "asked while naps are off");
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, NULL);
	teardown(&f);
}

/* A nap in four oversleeping (another process had the CPU): naps go on. */
Test(coalesce, a_few_late_naps_do_not_stop_them, .timeout = 30)
{
	struct fixture f;
	struct napper n = { .ns = 1 * MS };
	struct sigaction sa;
	struct loop_stats st;

	setup(&f, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_slow_alarm;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	loop_set_nap(f.l, nap_hook_sometimes_oversleeps, &n);
	for (unsigned k = 0; k < 40; k++)
		kick(&f);
	loop_get_stats(f.l, &st);
	cr_expect_eq(st.nap_off, 0, "naps stopped");
	cr_expect_geq(st.nap_late, 8);
	cr_expect_eq(st.napped, 40);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, NULL);
	teardown(&f);
}

/*
 * How long to nap for a number of frames in flight: none below 8 (QD1
 * latency), the whole --coalesce from 16, in proportion between, so a
 * nap never outlasts what the target has queued.
 */
Test(coalesce, nap_scales_with_the_frames_in_flight)
{
	const uint64_t max = 100000;

	cr_expect_eq(loop_nap_scaled(max, 0), 0);
	cr_expect_eq(loop_nap_scaled(max, 1), 0);
	cr_expect_eq(loop_nap_scaled(max, LOOP_NAP_MIN_INFLIGHT - 1), 0);
	cr_expect_eq(loop_nap_scaled(max, 8), 50000);
	cr_expect_eq(loop_nap_scaled(max, 12), 75000);
	cr_expect_eq(loop_nap_scaled(max, 15), 93750);
	cr_expect_eq(loop_nap_scaled(max, 16), max);
	cr_expect_eq(loop_nap_scaled(max, 1000000), max);
	cr_expect_eq(loop_nap_scaled(0, 64), 0);
	/* The most --coalesce allows, many frames: no overflow. */
	cr_expect_eq(loop_nap_scaled(1000000000ull, 15), 937500000ull);
	for (unsigned n = LOOP_NAP_MIN_INFLIGHT; n < 64; n++)
		cr_expect_geq(loop_nap_scaled(max, n + 1),
		    loop_nap_scaled(max, n), "not monotonic at %u", n);
}

/*
 * The gain on naps: up (x 9/8) while a nap saw half or fewer of what was in
 * flight come back, down (x 3/4) when it saw 7/8 or more (the peers may
 * have run dry), unchanged between; never below 1x (the naps
 * loop_nap_scaled gives) nor above 4x.
 */
Test(coalesce, nap_gain_follows_what_came_back)
{
	unsigned g = LOOP_NAP_GAIN_MIN, steps = 0;

	/* Plenty left after each nap: grows to 4x in a few naps, no more. */
	while (g < LOOP_NAP_GAIN_MAX) {
		unsigned n = loop_nap_adapt(g, 64, 20);

		cr_assert_gt(n, g, "no growth from %u", g);
		g = n;
		cr_assert_lt(++steps, 16, "slow to grow");
	}
	cr_expect_eq(g, LOOP_NAP_GAIN_MAX);
	cr_expect_eq(loop_nap_adapt(g, 64, 0), LOOP_NAP_GAIN_MAX);
	cr_expect_eq(loop_nap_adapt(g, 64, 32), LOOP_NAP_GAIN_MAX, "half");
	/* Between half and 7/8: unchanged. */
	cr_expect_eq(loop_nap_adapt(40, 64, 33), 40);
	cr_expect_eq(loop_nap_adapt(40, 64, 55), 40);
	/* 7/8 or more came back: shorter, down to 1x and no lower. */
	cr_expect_eq(loop_nap_adapt(64, 64, 56), 48);
	cr_expect_eq(loop_nap_adapt(64, 64, 200), 48, "more than in flight");
	g = LOOP_NAP_GAIN_MAX;
	for (unsigned i = 0; i < 20; i++)
		g = loop_nap_adapt(g, 16, 16);
	cr_expect_eq(g, LOOP_NAP_GAIN_MIN);
	/* Nothing was in flight: nothing learnt; out-of-range gains clamp. */
	cr_expect_eq(loop_nap_adapt(40, 0, 0), 40);
	cr_expect_eq(loop_nap_adapt(0, 0, 0), LOOP_NAP_GAIN_MIN);
	cr_expect_eq(loop_nap_adapt(1000, 0, 0), LOOP_NAP_GAIN_MAX);
}
