/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-randread: random aligned reads through one libnbd connection at a
 * fixed queue depth, for the benchmark (contrib/bench/aoe-bench.sh).
 * Depth 1 uses the synchronous call (one request, one wait); a greater
 * depth keeps that many asynchronous reads in flight.  Prints IOPS and the
 * latency percentiles in microseconds.  Not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libnbd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "util.h"

#define MAX_DEPTH 1024

struct slot {
	struct state *st;
	uint64_t t0;
	void *buf;
};

struct state {
	struct nbd_handle *h;
	uint64_t size, rng, *lat;
	size_t bsize;
	unsigned long count, issued, done, failed;
	unsigned inflight;
	unsigned nfree;
	struct slot *free[MAX_DEPTH];
};

static uint64_t
rand_off(struct state *st)
{
	return splitmix64(&st->rng) % (st->size / st->bsize) * st->bsize;
}

/*
 * A completion: record it and give the slot back to the main loop (libnbd
 * forbids calls on a handle from inside its own callback).
 */
static int
on_done(void *user, int *error)
{
	struct slot *s = user;
	struct state *st = s->st;

	if (*error)
		st->failed++;
	else if (st->done < st->count)
		st->lat[st->done] = bench_now_ns() - s->t0;
	st->done++;
	st->inflight--;
	st->free[st->nfree++] = s;
	return 1;
}

static int
submit(struct state *st, struct slot *s)
{
	nbd_completion_callback cb = { .callback = on_done, .user_data = s };

	s->t0 = bench_now_ns();
	if (nbd_aio_pread(st->h, s->buf, st->bsize, rand_off(st), cb, 0)
	    == -1)
		return -1;
	st->issued++;
	st->inflight++;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: nbd-randread [-d DEPTH] [-n COUNT] [-w WARMUP] [-b BYTES] "
	    "URI\n"
	    "COUNT random reads of BYTES (default 4096) at aligned offsets,\n"
	    "DEPTH (default 1) in flight on one connection.\n");
}

int
main(int argc, char **argv)
{
	struct state st = { .rng = 7, .bsize = 4096 };
	struct slot slots[MAX_DEPTH];
	unsigned long count = 20000, warmup = 500, depth = 1, i;
	uint64_t t0, t1;
	int64_t sz;
	void *buf;
	int c, st_rc = 1;

	while ((c = getopt(argc, argv, "d:n:w:b:h")) != -1) {
		switch (c) {
		case 'd':
			depth = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			warmup = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			st.bsize = strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || depth == 0 || depth > MAX_DEPTH ||
	    count == 0 || st.bsize == 0) {
		usage(stderr);
		return 2;
	}
	st.h = nbd_create();
	if (st.h == NULL || nbd_connect_uri(st.h, argv[optind]) == -1 ||
	    (sz = nbd_get_size(st.h)) == -1) {
		fprintf(stderr, "nbd-randread: %s\n", nbd_get_error());
		return 1;
	}
	st.size = (uint64_t)sz;
	if (st.size < st.bsize) {
		fprintf(stderr, "nbd-randread: export smaller than a block\n");
		return 1;
	}
	buf = calloc(depth, st.bsize);
	st.lat = calloc(count, sizeof(*st.lat));
	if (buf == NULL || st.lat == NULL)
		return 1;
	for (i = 0; i < warmup; i++) {
		if (nbd_pread(st.h, buf, st.bsize, rand_off(&st), 0) == -1) {
			fprintf(stderr, "nbd-randread: %s\n", nbd_get_error());
			goto out;
		}
	}
	t0 = bench_now_ns();
	if (depth == 1) {
		for (i = 0; i < count; i++) {
			uint64_t t = bench_now_ns();

			if (nbd_pread(st.h, buf, st.bsize, rand_off(&st), 0)
			    == -1) {
				st.failed++;
				continue;
			}
			st.lat[st.done++] = bench_now_ns() - t;
		}
	} else {
		st.count = count;
		for (i = 0; i < depth && i < count; i++) {
			slots[i].st = &st;
			slots[i].buf = (char *)buf + i * st.bsize;
			if (submit(&st, &slots[i]) < 0) {
				fprintf(stderr, "nbd-randread: %s\n",
				    nbd_get_error());
				goto out;
			}
		}
		for (;;) {
			while (st.nfree > 0 && st.issued < count) {
				if (submit(&st, st.free[--st.nfree]) < 0) {
					fprintf(stderr, "nbd-randread: %s\n",
					    nbd_get_error());
					goto out;
				}
			}
			if (st.inflight == 0)
				break;
			if (nbd_poll(st.h, -1) == -1) {
				fprintf(stderr, "nbd-randread: %s\n",
				    nbd_get_error());
				goto out;
			}
		}
		if (st.done > count)
			st.done = count;
	}
	t1 = bench_now_ns();
	if (st.done == 0 || st.failed) {
		fprintf(stderr, "nbd-randread: %lu reads failed\n", st.failed);
		goto out;
	}
	bench_print_reads(depth, st.lat, st.done, st.bsize, t1 - t0);
	st_rc = 0;
out:
	nbd_shutdown(st.h, 0);
	nbd_close(st.h);
	free(buf);
	free(st.lat);
	return st_rc;
}
