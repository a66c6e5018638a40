/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one event loop: epoll over file descriptors plus timer hooks that
 * report their next deadline (CLOCK_MONOTONIC ns).  Front ends and links
 * register here; nothing blocks anywhere else.
 */
#ifndef AOE_LOOP_H
#define AOE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

typedef void (*loop_fd_fn)(void *arg, uint32_t events);
/* Return the next absolute deadline, or UINT64_MAX for none. */
typedef uint64_t (*loop_deadline_fn)(void *arg);
/* Called after every wait with the current time. */
typedef void (*loop_tick_fn)(void *arg, uint64_t now);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t loop_now(void);

int loop_new(struct loop **out);
void loop_free(struct loop *l); /* NULL-safe */

/* events: EPOLLIN / EPOLLOUT ...  Returns 0 or -errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
    void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
int loop_del_fd(struct loop *l, int fd);

/* A timer hook; returns 0 or -errno. */
int loop_add_hook(struct loop *l, loop_deadline_fn deadline, loop_tick_fn tick,
    void *arg);
/*
 * Remove the hook added with the same three values (safe from inside a
 * callback: a removed hook is not called again).  0 or -ENOENT.
 */
int loop_del_hook(struct loop *l, loop_deadline_fn deadline, loop_tick_fn tick,
    void *arg);

/*
 * Wait until an fd is ready, a hook deadline passes or `until` (absolute,
 * UINT64_MAX = no limit) is reached; dispatch fd callbacks, then every
 * tick hook.  Returns 0 or -errno (EINTR is retried).
 */
int loop_run_once(struct loop *l, uint64_t until);

/*
 * Busy polling (0 = off, the default): for `ns` after events were last
 * dispatched, loop_run_once() polls without sleeping before it blocks.
 * It trades CPU time for the wake-up latency of a sleeping CPU; an idle
 * loop still sleeps.
 */
void loop_set_busy_poll(struct loop *l, uint64_t ns);

/*
 * Coalescing: before each wait that may sleep (busy polling off), fn(arg)
 * says how long to nap first (0 = not now).  While the loop naps it is not
 * waiting on its fds, so no sender pays for waking it, and it then takes
 * what arrived in one batch: fewer wake-ups and system calls when events
 * come close together, up to that much more latency.  When half of the
 * latest 32 naps lasted more than twice what was asked plus 100 us (coarse
 * timers), naps stop for 0.25 s, doubling up to 64 s while that goes on.
 * NULL = never.
 */
typedef uint64_t (*loop_nap_fn)(void *arg);
void loop_set_nap(struct loop *l, loop_nap_fn fn, void *arg);

/*
 * A nap for `inflight` requests outstanding, up to max_ns: none under
 * LOOP_NAP_MIN_INFLIGHT (latency matters), max_ns from
 * LOOP_NAP_FULL_INFLIGHT, in proportion between: a nap stays well inside
 * the time the peers take to work through what they hold.
 */
#define LOOP_NAP_MIN_INFLIGHT 8
#define LOOP_NAP_FULL_INFLIGHT 16
uint64_t loop_nap_scaled(uint64_t max_ns, unsigned inflight);

/*
 * A gain on those naps, in 1/16ths (LOOP_NAP_GAIN_MIN = 1x ... 4x), from
 * what the last nap showed: `answered` of the `inflight` requests that
 * were outstanding when it began came back meanwhile.  Half or fewer: the
 * peers still had plenty queued, the next naps may be longer (x 9/8); 7/8
 * or more: they may have run dry, shorter (x 3/4), never below 1x.  So
 * naps grow only where the peers are slow next to the nap (a long queue
 * of large frames: sequential transfers), and never shorter than
 * loop_nap_scaled() makes them.  Returns the new gain.
 */
#define LOOP_NAP_GAIN_MIN 16u
#define LOOP_NAP_GAIN_MAX 64u
unsigned loop_nap_adapt(unsigned gain, unsigned inflight, uint64_t answered);

/* How the waits ended (reported with -v): events found by polling, sleeps. */
struct loop_stats {
	uint64_t polled;   /* waits answered while busy polling */
	uint64_t napped;   /* naps before a wait (coalescing) */
	uint64_t nap_ns;   /* ... the time they asked for, in all */
	uint64_t nap_late; /* ... that lasted far longer than asked */
	uint64_t nap_off;  /* times naps were stopped for that (0.25-64 s) */
	uint64_t slept;    /* blocking waits (events or a deadline) */
	uint64_t turn_max_ns; /* the longest turn: its events and ticks */
};
void loop_get_stats(const struct loop *l, struct loop_stats *out);

/* Run until loop_stop() or `until`; returns 0 or -errno. */
int loop_run(struct loop *l, uint64_t until);
/*
 * Make loop_run() return and loop_stopped() true; sticky (a later
 * loop_run() returns at once).  Async-signal-safe.
 */
void loop_stop(struct loop *l);
bool loop_stopped(const struct loop *l);

#endif
