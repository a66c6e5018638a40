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
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rand_off(struct state *st)
{
	return rng_next(&st->rng) % (st->size / st->bsize) * st->bsize;
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
		st->lat[st->done] = now_ns() - s->t0;
	st->done++;
	st->inflight--;
	st->free[st->nfree++] = s;
	return 1;
}

static int
submit(struct state *st, struct slot *s)
{
	nbd_completion_callback cb = { .callback = on_done, .user_data = s };

	s->t0 = now_ns();
	if (nbd_aio_pread(st->h, s->buf, st->bsize, rand_off(st), cb, 0)
	    == -1)
		return -1;
	st->issued++;
	st->inflight++;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / 1000.0;
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
	uint64_t t0, t1, sum = 0;
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
	t0 = now_ns();
	if (depth == 1) {
		for (i = 0; i < count; i++) {
			uint64_t t = now_ns();

			if (nbd_pread(st.h, buf, st.bsize, rand_off(&st), 0)
			    == -1) {
				st.failed++;
				continue;
			}
			st.lat[st.done++] = now_ns() - t;
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
	t1 = now_ns();
	if (st.done == 0 || st.failed) {
		fprintf(stderr, "nbd-randread: %lu reads failed\n", st.failed);
		goto out;
	}
	for (i = 0; i < st.done; i++)
		sum += st.lat[i];
	qsort(st.lat, st.done, sizeof(*st.lat), cmp_u64);
	printf("depth %lu n %lu secs %.3f iops %.0f MBps %.1f min %.1f "
	    "p50 %.1f p99 %.1f mean %.1f max %.1f us\n",
	    depth, st.done, (double)(t1 - t0) / 1e9,
	    (double)st.done * 1e9 / (double)(t1 - t0),
	    (double)st.done * (double)st.bsize * 1e3 / (double)(t1 - t0),
	    pct(st.lat, st.done, 0), pct(st.lat, st.done, 50),
	    pct(st.lat, st.done, 99), (double)sum / (double)st.done / 1000.0,
	    pct(st.lat, st.done, 100));
	st_rc = 0;
out:
	nbd_shutdown(st.h, 0);
	nbd_close(st.h);
	free(buf);
	free(st.lat);
	return st_rc;
}
