/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoe-lat: random aligned reads through the engine in this process (no
 * NBD or FUSE in between) at a fixed queue depth, for the benchmark
 * (contrib/bench/aoe-bench.sh): the initiator's own latency next to the
 * bare round trip of aoe-rtt.  Links the core library.  Not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine.h"
#include "log.h"
#include "loop.h"
#include "rt.h"
#include "util.h"

#define MAX_DEPTH 1024

struct lat;

struct slot {
	struct lat *l;
	uint64_t t0;
	uint8_t *buf;
};

struct lat {
	struct rt *rt;
	struct engine *e;
	struct target *t;
	uint16_t shelf;
	uint8_t slot;
	bool up, finished;
	uint64_t size, rng, *v;
	size_t bsize;
	unsigned long count, issued, done, failed;
	unsigned inflight;
	int err;
};

static void
on_event(void *ctx, struct target *t, int ev)
{
	struct lat *l = ctx;

	if (ev == ENGINE_EV_UP &&
	    engine_target_find(l->e, l->shelf, l->slot) == t) {
		l->t = t;
		l->up = true;
	}
}

static const struct engine_ops front_ops = {
	.event = on_event,
};

static void read_done(void *arg, int rc);

static int
submit(struct slot *s)
{
	struct lat *l = s->l;
	uint64_t off;
	int rc;

	off = splitmix64(&l->rng) % (l->size / l->bsize) * l->bsize;
	s->t0 = loop_now();
	rc = engine_read(l->e, l->t, s->buf, off, l->bsize, read_done, s,
	    s->t0);
	if (rc < 0)
		return rc;
	l->issued++;
	l->inflight++;
	return 0;
}

/* A callback may submit: the next read goes out from here. */
static void
read_done(void *arg, int rc)
{
	struct slot *s = arg;
	struct lat *l = s->l;

	l->inflight--;
	if (rc < 0) {
		l->failed++;
		l->err = rc;
	} else if (l->done < l->count) {
		l->v[l->done++] = loop_now() - s->t0;
	}
	if (l->issued < l->count && l->failed == 0 && (rc = submit(s)) < 0) {
		l->failed++;
		l->err = rc;
	}
	if (l->inflight == 0)
		l->finished = true;
}

/* depth reads in flight until count are done; 0 or -errno. */
static int
run(struct lat *l, struct slot *slots, unsigned depth, unsigned long count)
{
	unsigned i;
	int rc;

	l->count = count;
	l->issued = l->done = l->failed = 0;
	l->finished = false;
	for (i = 0; i < depth && i < count; i++) {
		if ((rc = submit(&slots[i])) < 0)
			return rc;
	}
	while (!l->finished) {
		rc = rt_run_until(l->rt, &l->finished,
		    loop_now() + 60 * NSEC_PER_SEC);
		if (rc < 0)
			return rc;
	}
	return l->failed ? l->err : 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: aoe-lat [OPTIONS] [-d DEPTH] [-n COUNT] [--warmup N]\n"
	    "               [-b BYTES] TARGET\n"
	    "COUNT random reads of BYTES (default 4096) at aligned offsets\n"
	    "through the engine, DEPTH (default 1) in flight.\n");
	rt_usage_common(f);
}

enum { OPT_WARMUP = 0x2000 };

int
main(int argc, char **argv)
{
	static const struct option own[] = {
		{ "depth", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option longopts[ARRAY_SIZE(own) + RT_LONG_OPTIONS_COUNT + 1];
	struct rt_options o;
	struct lat l;
	struct loop *loop = NULL;
	struct slot *slots = NULL;
	unsigned long count = 20000, warmup = 500, depth = 1, i;
	unsigned long long v;
	uint64_t t0, t1, deadline, now;
	size_t n = 0;
	int opt, rc, status = EXIT_FAIL;

	log_init("aoe-lat", true);
	memset(&l, 0, sizeof(l));
	l.bsize = 4096;
	l.rng = 7;
	rt_options_init(&o);
	o.wait_ns = 5 * NSEC_PER_SEC;
	for (i = 0; i < ARRAY_SIZE(own); i++)
		longopts[n++] = own[i];
	for (i = 0; rt_long_options[i].name != NULL; i++)
		longopts[n++] = rt_long_options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	while ((opt = getopt_long(argc, argv, "d:n:b:hI:w:v", longopts,
	    NULL)) != -1) {
		rc = rt_parse_option(&o, opt, optarg);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'd':
		case 'n':
		case 'b':
		case OPT_WARMUP:
			if (parse_uint(optarg, opt == 'n' ? 1 : 0,
			    opt == 'd' ? MAX_DEPTH : 100000000, &v) < 0) {
				fprintf(stderr, "aoe-lat: bad value '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			if (opt == 'd')
				depth = (unsigned long)v;
			else if (opt == 'n')
				count = (unsigned long)v;
			else if (opt == 'b')
				l.bsize = (size_t)v;
			else
				warmup = (unsigned long)v;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || depth == 0 || l.bsize == 0 ||
	    target_name_parse(argv[optind], &l.shelf, &l.slot) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}

	if ((rc = loop_new(&loop)) < 0) {
		fprintf(stderr, "aoe-lat: event loop: %s\n", strerror(-rc));
		return EXIT_FAIL;
	}
	status = rt_new(&l.rt, &o, loop, &front_ops, &l);
	if (status != 0)
		goto out;
	status = EXIT_FAIL;
	l.e = rt_engine(l.rt);
	deadline = loop_now() + o.wait_ns;
	while (!l.up && (now = loop_now()) < deadline) {
		engine_discover(l.e, l.shelf, l.slot, now);
		rc = rt_run_until(l.rt, &l.up, MIN(deadline,
		    now + NSEC_PER_SEC));
		if (rc < 0 && rc != -ETIMEDOUT)
			goto out;
	}
	if (!l.up) {
		fprintf(stderr, "aoe-lat: %s did not answer\n", argv[optind]);
		status = EXIT_NOTFOUND;
		goto out;
	}
	l.size = target_size(l.t);
	if (l.size < l.bsize) {
		fprintf(stderr, "aoe-lat: target smaller than a read\n");
		goto out;
	}
	slots = calloc(depth, sizeof(*slots));
	l.v = calloc(count > warmup ? count : warmup, sizeof(*l.v));
	if (slots == NULL || l.v == NULL)
		goto out;
	for (i = 0; i < depth; i++) {
		slots[i].l = &l;
		slots[i].buf = malloc(l.bsize);
		if (slots[i].buf == NULL)
			goto out;
	}
	if (warmup > 0 && (rc = run(&l, slots, (unsigned)depth, warmup)) < 0)
		goto fail;
	t0 = loop_now();
	rc = run(&l, slots, (unsigned)depth, count);
	t1 = loop_now();
	if (rc < 0)
		goto fail;
	bench_print_reads(depth, l.v, l.done, l.bsize, t1 - t0);
	status = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "aoe-lat: read: %s\n", strerror(-rc));
out:
	if (slots != NULL) {
		for (i = 0; i < depth; i++)
			free(slots[i].buf);
	}
	rt_free(l.rt);
	loop_free(loop);
	free(slots);
	free(l.v);
	return status;
}
