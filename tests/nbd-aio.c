/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-aio: a libnbd client for the integration tests.  Keeps many
 * asynchronous reads, writes (some with FUA), zeroes, caches and flushes in
 * flight at random aligned offsets and sizes over one or more connections,
 * and checks every byte read against a shadow copy of the export; at the
 * end reads the whole export back, compares it, and writes the shadow to
 * --out so the test can compare it with the target's backing file.
 * Requests in flight never overlap a write in flight (NBD gives no order
 * between concurrent requests), so the shadow is exact.  Not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libnbd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SECTOR 512u
#define MAX_CONNS 8

enum op_kind { OP_READ, OP_WRITE, OP_ZERO, OP_FLUSH, OP_CACHE };

struct op {
	struct state *st;
	enum op_kind kind;
	uint64_t off;
	size_t len;
	uint8_t *buf;
	uint64_t seq;          /* submission order */
};

struct state {
	struct nbd_handle *h[MAX_CONNS];
	unsigned nconns;
	uint64_t size;
	uint8_t *shadow;
	/* per sector: readers in flight, and a writer in flight */
	uint16_t *readers;
	uint8_t *writer;
	uint64_t rng;
	unsigned inflight, depth;
	uint64_t submitted, completed, count;
	uint64_t reads, writes, zeroes, flushes, caches, fuas;
	uint64_t bytes_read, bytes_written;
	uint64_t errors, mismatches;
	uint64_t last_seq, out_of_order; /* completions before older ones */
	size_t max_len;
};

static uint64_t
rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + splitmix64(s) % (hi - lo + 1);
}

static void
fill(uint64_t *s, uint8_t *p, size_t len)
{
	size_t i;
	uint64_t v;

	for (i = 0; i + 8 <= len; i += 8) {
		v = splitmix64(s);
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)splitmix64(s);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* May [off, off+len) start now?  Writers exclude everyone. */
static bool
range_free(const struct state *st, uint64_t off, size_t len, bool write)
{
	for (uint64_t s = off / SECTOR; s < (off + len) / SECTOR; s++) {
		if (st->writer[s])
			return false;
		if (write && st->readers[s])
			return false;
	}
	return true;
}

static void
range_mark(struct state *st, uint64_t off, size_t len, bool write, int d)
{
	for (uint64_t s = off / SECTOR; s < (off + len) / SECTOR; s++) {
		if (write)
			st->writer[s] = (uint8_t)(st->writer[s] + d);
		else
			st->readers[s] = (uint16_t)(st->readers[s] + d);
	}
}

static int
op_done(void *user_data, int *error)
{
	struct op *o = user_data;
	struct state *st = o->st;
	bool write = o->kind == OP_WRITE || o->kind == OP_ZERO;

	st->inflight--;
	st->completed++;
	if (o->seq < st->last_seq)
		st->out_of_order++;
	else
		st->last_seq = o->seq;
	if (*error != 0) {
		st->errors++;
		fprintf(stderr, "nbd-aio: op %d at %" PRIu64 "+%zu failed: "
		    "%s\n", o->kind, o->off, o->len, strerror(*error));
	} else if (o->kind == OP_READ) {
		if (memcmp(o->buf, st->shadow + o->off, o->len) != 0) {
			for (size_t i = 0; i < o->len; i++) {
				if (o->buf[i] == st->shadow[o->off + i])
					continue;
				if (st->mismatches == 0)
					fprintf(stderr, "nbd-aio: read at "
					    "%" PRIu64 "+%zu: first bad byte "
					    "at %" PRIu64 "\n", o->off, o->len,
					    o->off + i);
				st->mismatches++;
			}
		}
		st->bytes_read += o->len;
	} else if (o->kind == OP_WRITE) {
		st->bytes_written += o->len;
	}
	if (o->kind != OP_FLUSH)
		range_mark(st, o->off, o->len, write, -1);
	free(o->buf);
	free(o);
	return 1;  /* auto-retire */
}

/* Pick and submit one operation.  0 = submitted, 1 = busy, -1 = error. */
static int
submit_one(struct state *st)
{
	nbd_completion_callback cb = { .callback = op_done };
	struct nbd_handle *h;
	struct op *o;
	uint64_t r = rng_range(&st->rng, 0, 99), nsec, maxsec;
	uint32_t flags = 0;
	int64_t cookie = -1;
	bool write;

	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -1;
	o->st = st;
	o->seq = st->submitted + 1;
	if (r < 40)
		o->kind = OP_READ;
	else if (r < 82)
		o->kind = OP_WRITE;
	else if (r < 90)
		o->kind = OP_ZERO;
	else if (r < 95)
		o->kind = OP_CACHE;
	else
		o->kind = OP_FLUSH;
	h = st->h[splitmix64(&st->rng) % st->nconns];
	if (o->kind == OP_FLUSH) {
		cb.user_data = o;
		cookie = nbd_aio_flush(h, cb, 0);
		if (cookie < 0)
			goto fail;
		st->flushes++;
		goto out;
	}
	/* Mostly small, sometimes big, all multiples of 512. */
	maxsec = st->max_len / SECTOR;
	if (rng_range(&st->rng, 0, 9) < 7)
		maxsec = maxsec > 16 ? 16 : maxsec;
	if (maxsec > st->size / SECTOR)
		maxsec = st->size / SECTOR;
	nsec = rng_range(&st->rng, 1, maxsec);
	o->len = (size_t)(nsec * SECTOR);
	o->off = rng_range(&st->rng, 0, st->size / SECTOR - nsec) * SECTOR;
	write = o->kind == OP_WRITE || o->kind == OP_ZERO;
	if (!range_free(st, o->off, o->len, write)) {
		free(o);
		return 1;
	}
	cb.user_data = o;
	switch (o->kind) {
	case OP_READ:
		o->buf = malloc(o->len);
		if (o->buf == NULL)
			goto fail;
		cookie = nbd_aio_pread(h, o->buf, o->len, o->off, cb, 0);
		st->reads++;
		break;
	case OP_WRITE:
		o->buf = malloc(o->len);
		if (o->buf == NULL)
			goto fail;
		fill(&st->rng, o->buf, o->len);
		memcpy(st->shadow + o->off, o->buf, o->len);
		if (nbd_can_fua(h) == 1 && rng_range(&st->rng, 0, 9) == 0) {
			flags = LIBNBD_CMD_FLAG_FUA;
			st->fuas++;
		}
		cookie = nbd_aio_pwrite(h, o->buf, o->len, o->off, cb, flags);
		st->writes++;
		break;
	case OP_ZERO:
		memset(st->shadow + o->off, 0, o->len);
		if (splitmix64(&st->rng) & 1)
			flags = LIBNBD_CMD_FLAG_NO_HOLE;
		cookie = nbd_aio_zero(h, o->len, o->off, cb, flags);
		st->zeroes++;
		break;
	case OP_CACHE:
		cookie = nbd_aio_cache(h, o->len, o->off, cb, 0);
		st->caches++;
		break;
	default:
		break;
	}
	if (cookie < 0)
		goto fail;
	range_mark(st, o->off, o->len, write, +1);
out:
	st->inflight++;
	st->submitted++;
	return 0;
fail:
	fprintf(stderr, "nbd-aio: submit: %s\n", nbd_get_error());
	free(o->buf);
	free(o);
	return -1;
}

/* Wait for progress on every handle (libnbd's poll loop, by hand). */
static int
poll_all(struct state *st)
{
	struct pollfd pfd[MAX_CONNS];

	for (unsigned i = 0; i < st->nconns; i++) {
		unsigned dir = nbd_aio_get_direction(st->h[i]);

		pfd[i].fd = nbd_aio_get_fd(st->h[i]);
		pfd[i].events = 0;
		pfd[i].revents = 0;
		if (dir & LIBNBD_AIO_DIRECTION_READ)
			pfd[i].events |= POLLIN;
		if (dir & LIBNBD_AIO_DIRECTION_WRITE)
			pfd[i].events |= POLLOUT;
	}
	if (poll(pfd, st->nconns, 60000) <= 0) {
		fprintf(stderr, "nbd-aio: no progress for 60 s\n");
		return -1;
	}
	for (unsigned i = 0; i < st->nconns; i++) {
		int rc = 0;

		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			rc = nbd_aio_notify_read(st->h[i]);
		else if (pfd[i].revents & POLLOUT)
			rc = nbd_aio_notify_write(st->h[i]);
		if (rc < 0) {
			fprintf(stderr, "nbd-aio: %s\n", nbd_get_error());
			return -1;
		}
	}
	return 0;
}

/* Whole-export read, 1 MiB at a time, synchronously. */
static int
read_all(struct nbd_handle *h, uint8_t *dst, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += 1u << 20) {
		size_t n = size - off < (1u << 20) ? (size_t)(size - off) :
		    (1u << 20);

		if (nbd_pread(h, dst + off, n, off, 0) < 0) {
			fprintf(stderr, "nbd-aio: pread %" PRIu64 ": %s\n",
			    off, nbd_get_error());
			return -1;
		}
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: nbd-aio [--seed N] [--count N] [--depth N] [--max-len BYTES]\n"
"               [--connections N] [--no-sr] [--out FILE]\n"
"               [--stop-file FILE] URI\n"
"  --stop-file: stop submitting once FILE exists (then finish and check)\n");
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "depth", required_argument, NULL, 'd' },
		{ "max-len", required_argument, NULL, 'm' },
		{ "connections", required_argument, NULL, 'C' },
		{ "no-sr", no_argument, NULL, 'S' },
		{ "out", required_argument, NULL, 'o' },
		{ "stop-file", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct state st;
	const char *out = NULL, *stop_file = NULL, *uri;
	uint8_t *check = NULL;
	bool no_sr = false;
	double t0;
	int opt, status = 1;

	memset(&st, 0, sizeof(st));
	st.rng = 1;
	st.count = 2000;
	st.depth = 64;
	st.max_len = 4u << 20;
	st.nconns = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			st.rng = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			st.count = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			st.depth = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			st.max_len = (size_t)strtoull(optarg, NULL, 0);
			break;
		case 'C':
			st.nconns = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			no_sr = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'F':
			stop_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || st.depth == 0 || st.nconns == 0 ||
	    st.nconns > MAX_CONNS || st.max_len < SECTOR) {
		usage(stderr);
		return 2;
	}
	uri = argv[optind];

	for (unsigned i = 0; i < st.nconns; i++) {
		st.h[i] = nbd_create();
		if (st.h[i] == NULL ||
		    nbd_set_request_structured_replies(st.h[i], !no_sr) < 0 ||
		    nbd_connect_uri(st.h[i], uri) < 0) {
			fprintf(stderr, "nbd-aio: connect %s: %s\n", uri,
			    nbd_get_error());
			goto out;
		}
		if (i > 0 && nbd_can_multi_conn(st.h[0]) != 1) {
			fprintf(stderr, "nbd-aio: the server does not "
			    "advertise multi-conn\n");
			goto out;
		}
	}
	st.size = (uint64_t)nbd_get_size(st.h[0]);
	if ((int64_t)st.size <= 0 || st.size % SECTOR) {
		fprintf(stderr, "nbd-aio: bad export size %" PRId64 "\n",
		    (int64_t)st.size);
		goto out;
	}
	printf("nbd-aio: %s: %" PRIu64 " bytes, %u connection(s), "
	    "structured replies %s, depth %u, %" PRIu64 " operations\n", uri,
	    st.size, st.nconns,
	    nbd_get_structured_replies_negotiated(st.h[0]) ? "yes" : "no",
	    st.depth, st.count);
	st.shadow = malloc(st.size);
	check = malloc(st.size);
	st.readers = calloc(st.size / SECTOR, sizeof(*st.readers));
	st.writer = calloc(st.size / SECTOR, 1);
	if (st.shadow == NULL || check == NULL || st.readers == NULL ||
	    st.writer == NULL) {
		fprintf(stderr, "nbd-aio: out of memory\n");
		goto out;
	}
	if (read_all(st.h[0], st.shadow, st.size) < 0)
		goto out;

	t0 = now_s();
	while (st.completed < st.count) {
		if (stop_file != NULL && st.submitted % 64 == 0 &&
		    st.submitted < st.count && access(stop_file, F_OK) == 0)
			st.count = st.submitted;
		while (st.inflight < st.depth && st.submitted < st.count) {
			int rc = submit_one(&st);

			if (rc < 0)
				goto out;
			if (rc > 0)
				break;  /* overlaps a request in flight */
		}
		if (st.inflight == 0)
			continue;
		if (poll_all(&st) < 0)
			goto out;
	}
	printf("nbd-aio: %" PRIu64 " reads, %" PRIu64 " writes (%" PRIu64
	    " FUA), %" PRIu64 " zeroes, %" PRIu64 " caches, %" PRIu64
	    " flushes in %.2f s; %" PRIu64 " bytes read, %" PRIu64
	    " written\n", st.reads, st.writes, st.fuas, st.zeroes, st.caches,
	    st.flushes, now_s() - t0, st.bytes_read, st.bytes_written);
	if (nbd_flush(st.h[0], 0) < 0) {
		fprintf(stderr, "nbd-aio: flush: %s\n", nbd_get_error());
		goto out;
	}
	/* Read it all back on the last connection and compare. */
	if (read_all(st.h[st.nconns - 1], check, st.size) < 0)
		goto out;
	if (memcmp(check, st.shadow, st.size) != 0) {
		uint64_t bad = 0;

		while (check[bad] == st.shadow[bad])
			bad++;
		fprintf(stderr, "nbd-aio: final read-back differs from the "
		    "shadow copy at byte %" PRIu64 "\n", bad);
		st.mismatches++;
	}
	if (out != NULL) {
		FILE *f = fopen(out, "wb");

		if (f == NULL || fwrite(st.shadow, 1, st.size, f) != st.size ||
		    fclose(f) != 0) {
			fprintf(stderr, "nbd-aio: cannot write %s\n", out);
			goto out;
		}
	}
	if (st.errors == 0 && st.mismatches == 0)
		status = 0;
	printf("nbd-aio: %" PRIu64 " replies overtook older requests\n",
	    st.out_of_order);
	printf("nbd-aio: %" PRIu64 " errors, %" PRIu64 " mismatched bytes: "
	    "%s\n", st.errors, st.mismatches, status == 0 ? "OK" : "FAIL");

out:
	for (unsigned i = 0; i < st.nconns; i++) {
		if (st.h[i] != NULL) {
			nbd_shutdown(st.h[i], 0);
			nbd_close(st.h[i]);
		}
	}
	free(st.shadow);
	free(check);
	free(st.readers);
	free(st.writer);
	return status;
}
