/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the benchmark's helpers (aoe-rtt, aoe-lat, nbd-randread) share: the
 * clock and the one output format aoe-bench.sh parses, so that every
 * latency line has its figures in the same places.
 */
#ifndef AOE_BENCH_H
#define AOE_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile of sorted v[0..n) (n > 0), in microseconds. */
static inline double
bench_pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / 1000.0;
}

/*
 * Sort the n > 0 latencies in v (nanoseconds) and end the line with
 * "min X p50 X p99 X mean X max X us".
 */
static inline void
bench_print_latency(uint64_t *v, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	printf("min %.1f p50 %.1f p99 %.1f mean %.1f max %.1f us\n",
	    bench_pct(v, n, 0), bench_pct(v, n, 50), bench_pct(v, n, 99),
	    (double)sum / (double)n / 1000.0, bench_pct(v, n, 100));
}

/*
 * "depth D n N secs S iops I MBps M " for n reads of bsize bytes that
 * took ns nanoseconds, then the latencies of bench_print_latency().
 */
static inline void
bench_print_reads(unsigned long depth, uint64_t *v, size_t n, size_t bsize,
    uint64_t ns)
{
	printf("depth %lu n %zu secs %.3f iops %.0f MBps %.1f ", depth, n,
	    (double)ns / 1e9, (double)n * 1e9 / (double)ns,
	    (double)n * (double)bsize * 1e3 / (double)ns);
	bench_print_latency(v, n);
}

#endif
