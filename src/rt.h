/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runtime glue shared by every program: the common command-line options
 * (interfaces, link backend, trace, timeouts), opening the links with clear
 * errors, and wiring links + engine + loop together (link fds into the
 * loop, received frames into engine_input, the engine's sends into the
 * links, its timers into the loop).  Also the program exit statuses.
 */
#ifndef AOE_RT_H
#define AOE_RT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "link.h"
#include "loop.h"

/* Exit statuses, the same for every program (documented in the man pages). */
#define EXIT_OK 0
#define EXIT_FAIL 1       /* run-time failure: I/O error, target error */
#define EXIT_USAGE 2      /* bad command line or configuration */
#define EXIT_NOTFOUND 3   /* no target found / the named target did not answer */
#define EXIT_NOPERM 4     /* no CAP_NET_RAW (or other permission problem) */

#define RT_MAX_IFS ENGINE_MAX_IFS

struct rt_options {
	char ifaces[RT_MAX_IFS][IF_NAMESIZE];
	unsigned nifaces;          /* 0 = all up Ethernet interfaces */
	enum link_backend backend;
	const char *trace_path;    /* NULL = no trace */
	uint64_t wait_ns;          /* discovery wait for one-shot commands */
	uint64_t busy_poll_ns;     /* loop_set_busy_poll(), 0 = off */
	uint64_t coalesce_ns;      /* nap with many frames in flight, 0 = off */
	struct engine_config ecfg;
};

/*
 * The common long options, to append to a program's own getopt_long
 * table (terminated with a zero entry), and the usage text for them.
 * Their `val`s are RT_OPT_* (>= 0x1000) or the short letters 'I', 'w' and
 * 'v' which programs add to their short option string as "I:w:v".
 * rt_long_options holds RT_LONG_OPTIONS_COUNT entries followed by a zero
 * entry.  rt_parse_option also accepts RT_OPT_WAIT for --wait (for a
 * program that gives -w another meaning).
 */
enum {
	RT_OPT_BACKEND = 0x1000,
	RT_OPT_TRACE,
	RT_OPT_DEAD,
	RT_OPT_DISCOVER,
	RT_OPT_MAXWIN,
	RT_OPT_MAXSECT,
	RT_OPT_BUSYPOLL,
	RT_OPT_COALESCE,
	RT_OPT_RORETRY,
	RT_OPT_WAIT,
};
extern const struct option rt_long_options[];
#define RT_LONG_OPTIONS_COUNT 12
/*
 * Print the common options' help lines; wait_help: the program's own -w
 * entry (NULL: the default one).
 */
void rt_usage_common(FILE *f, const char *wait_help);

void rt_options_init(struct rt_options *o);
/*
 * Handle one common option (getopt's return value and optarg).
 * Returns 1 when handled, 0 when not a common option, -1 after printing an
 * error for a bad value (exit EXIT_USAGE).  -I/--interface takes a name or
 * a comma- or space-separated list and may be repeated.  -v/--verbose
 * raises the log level (log_setverbose) directly.
 */
int rt_parse_option(struct rt_options *o, int opt, const char *arg);

struct rt;

/*
 * Open every chosen interface (or every up Ethernet interface), create
 * the engine and register with the loop.  On failure prints one clear
 * message (no CAP_NET_RAW: the three ways out; unknown interface; down
 * interface) and returns the exit status to use (EXIT_NOPERM,
 * EXIT_USAGE, EXIT_FAIL); 0 on success.
 */
int rt_new(struct rt **out, const struct rt_options *o, struct loop *loop,
    const struct engine_ops *front /* event callback only; may be NULL */,
    void *front_ctx);
void rt_free(struct rt *rt); /* NULL-safe; frees the engine and links */
/*
 * Around a fork whose child carries on with the links (daemonising): on
 * before it, off again in the child (link_fork_inherit).
 */
void rt_fork_inherit(struct rt *rt, bool on);

/* Log every target's counters and its paths', the links' and the loop's. */
void rt_log_counters(struct rt *rt);

struct engine *rt_engine(struct rt *rt);
/* The tag instance this process claimed (engine_config.tag_instance). */
unsigned rt_tag_instance(const struct rt *rt);
struct loop *rt_loop(struct rt *rt);
unsigned rt_nlinks(const struct rt *rt);
struct link *rt_link(struct rt *rt, unsigned i);
/* The link of engine interface ifidx, or NULL. */
struct link *rt_link_of(struct rt *rt, unsigned ifidx);

/*
 * A tap sees every received frame (engine interface index, whole frame)
 * before the engine; returning true keeps it from the engine.  For tools
 * that speak AoE beside it (aoectl check).  NULL removes it.
 */
typedef bool (*rt_tap_fn)(void *arg, unsigned ifidx, const uint8_t *frame,
    size_t len);
void rt_set_tap(struct rt *rt, rt_tap_fn tap, void *arg);

/*
 * At exit: release every target reserved with engine_reserve_hold
 * (--reserve), running the loop (stopped or not) until they answer, for
 * 3 s at most.
 */
void rt_reserve_release(struct rt *rt);

/* Broadcast discovery on every link now. */
void rt_discover(struct rt *rt);

/*
 * Run the loop until *flag becomes true or `until` (absolute ns) passes.
 * Returns 0 when *flag is set, -ETIMEDOUT, -EINTR once loop_stop() was
 * called, or -errno.  flag may be NULL (run until `until`).
 */
int rt_run_until(struct rt *rt, const bool *flag, uint64_t until);

/* The message for a missing CAP_NET_RAW, shared by every program. */
void rt_print_noperm(const char *progname, const char *ifname);

#endif
