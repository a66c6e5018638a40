/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoe-rw: the integration tests' I/O driver.  Links the core, waits for one
 * target, then writes and reads it back through the engine's asynchronous
 * interface with many requests of random (often unaligned) sizes in flight,
 * and checks every byte.  Further modes drive the fault-tolerance tests: loop
 * (verify passes for a while), outage (I/O must fail with EIO once the target
 * is dead, then work again when it is back) and flush (a timestamped log of
 * writes and flushes to check against a --trace).  Not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "rt.h"
#include "util.h"

#define SECTOR 512u
#define MAX_REQ (1024u * 1024u)        /* largest request: 1 MiB */
#define STALL_NS (60 * NSEC_PER_SEC)   /* no completion this long: give up */

enum rw_mode {
	MODE_VERIFY,
	MODE_ROFS,
	MODE_READ,
	MODE_LOOP,
	MODE_OUTAGE,
	MODE_FLUSH,
};

/* One request: a byte range of the target. */
struct chunk {
	uint64_t off;
	size_t len;
	uint8_t *buf;  /* read buffer while in flight */
	struct rw *rw;
};

struct rw {
	struct rt *rt;
	struct engine *e;
	struct target *t;
	uint16_t shelf;
	uint8_t slot;
	bool up, dead;
	bool wake;             /* something completed: the main loop looks */
	bool interrupted;
	bool closing;          /* engine_free is cancelling: submit nothing */
	bool copy_reads;       /* --mode read: read straight into img */
	int res;               /* result of a single request (flush, rofs) */

	uint8_t *img;          /* the image written (verify) or read (read) */
	uint64_t size;

	/* the current phase */
	bool writing;
	struct chunk *chunks;
	size_t nchunks, next, done, inflight;
	unsigned depth;
	bool again;            /* a submit said -EAGAIN: retry shortly */
	int first_err;
	uint64_t mismatches, first_bad;
	uint64_t last_progress;

	/* outage bookkeeping (loop_now() times, 0 = not yet) */
	uint64_t last_ok, first_fail, dead_at, up_at;
	uint64_t n_eio, n_other_err;

	/* flush mode */
	FILE *log;
	struct fwrite *fw;     /* the writes (freed after the engine) */
	size_t fw_done;        /* writes of the current round completed */
};

static struct loop *g_loop;

/* ---------------------------------------------------------- PRNG */

/* Uniform enough in [lo, hi]. */
static uint64_t
prng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + splitmix64(s) % (hi - lo + 1);
}

static void
prng_fill(uint64_t *s, uint8_t *p, uint64_t len)
{
	uint64_t i, v;

	for (i = 0; i + 8 <= len; i += 8) {
		v = splitmix64(s);
		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		v = splitmix64(s);
		memcpy(p + i, &v, (size_t)(len - i));
	}
}

/* ---------------------------------------------------------- plan */

/*
 * Cut [0, size) into consecutive chunks of random length (1 B .. 1 MiB,
 * biased towards a mix of tiny, small and large), about half of them
 * ending on a sector boundary, then shuffle their order.  Every byte is
 * in exactly one chunk.  Returns the count, or 0 on allocation failure.
 */
static size_t
plan_chunks(uint64_t *s, uint64_t size, struct chunk **out,
    size_t *unaligned)
{
	struct chunk *c = NULL, *tmp;
	size_t n = 0, cap = 0, i, j, odd = 0;
	uint64_t off = 0, len, end, r, max;

	while (off < size) {
		r = prng_range(s, 0, 99);
		if (r < 10)
			max = SECTOR - 1;
		else if (r < 30)
			max = 8 * 1024;
		else if (r < 60)
			max = 128 * 1024;
		else
			max = MAX_REQ;
		len = prng_range(s, 1, max);
		end = off + len;
		/* Half the time end on a sector boundary. */
		if (splitmix64(s) & 1) {
			end = (end + SECTOR - 1) / SECTOR * SECTOR;
			if (end - off > MAX_REQ)
				end -= SECTOR;
			if (end <= off)
				end = off + len;
		}
		if (end > size)
			end = size;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			tmp = realloc(c, cap * sizeof(*c));
			if (tmp == NULL) {
				free(c);
				return 0;
			}
			c = tmp;
		}
		memset(&c[n], 0, sizeof(c[n]));
		c[n].off = off;
		c[n].len = (size_t)(end - off);
		if (off % SECTOR || c[n].len % SECTOR)
			odd++;
		n++;
		off = end;
	}
	/* Fisher-Yates. */
	for (i = n; i > 1; i--) {
		struct chunk t;

		j = (size_t)prng_range(s, 0, i - 1);
		t = c[i - 1];
		c[i - 1] = c[j];
		c[j] = t;
	}
	*out = c;
	*unaligned = odd;
	return n;
}

/* ---------------------------------------------------------- engine glue */

static void
on_event(void *ctx, struct target *t, int ev)
{
	struct rw *rw = ctx;
	struct engine *e = rt_engine(rw->rt);

	if (engine_target_find(e, rw->shelf, rw->slot) != t)
		return;
	switch (ev) {
	case ENGINE_EV_UP:
		rw->t = t;
		rw->up = true;
		rw->dead = false;
		rw->up_at = loop_now();
		rw->wake = true;
		break;
	case ENGINE_EV_DEAD:
		rw->dead = true;
		rw->up = false;
		rw->dead_at = loop_now();
		rw->wake = true;
		break;
	default:
		break;
	}
}

static const struct engine_ops front_ops = {
	.event = on_event,
};

static void pump(struct rw *rw);

/* Remember when the last request succeeded and the first failed. */
static void
note_result(struct rw *rw, int rc)
{
	if (rw->closing)
		return;
	if (rc == 0) {
		rw->last_ok = loop_now();
		return;
	}
	if (rw->first_fail == 0)
		rw->first_fail = loop_now();
	if (rc == -EIO)
		rw->n_eio++;
	else
		rw->n_other_err++;
}

static void
chunk_done(void *arg, int rc)
{
	struct chunk *c = arg;
	struct rw *rw = c->rw;

	rw->inflight--;
	rw->done++;
	rw->wake = true;
	rw->last_progress = loop_now();
	note_result(rw, rc);
	if (rw->closing) {
		if (!rw->copy_reads && !rw->writing)
			free(c->buf);
		c->buf = NULL;
		return;
	}
	if (rc < 0) {
		if (rw->first_err == 0) {
			rw->first_err = rc;
			fprintf(stderr, "aoe-rw: %s of %zu bytes at %" PRIu64
			    " failed: %s\n", rw->writing ? "write" : "read",
			    c->len, c->off, strerror(-rc));
		}
	} else if (!rw->writing && !rw->copy_reads) {
		/* verify: compare with the image */
		if (memcmp(c->buf, rw->img + c->off, c->len) != 0) {
			size_t i;

			for (i = 0; i < c->len; i++) {
				if (c->buf[i] == rw->img[c->off + i])
					continue;
				if (rw->mismatches == 0)
					rw->first_bad = c->off + i;
				rw->mismatches++;
			}
		}
	}
	if (!rw->copy_reads && !rw->writing)
		free(c->buf);
	c->buf = NULL;
	pump(rw);
}

/* Keep up to depth requests in flight. */
static void
pump(struct rw *rw)
{
	struct chunk *c;
	uint64_t now;
	int rc;

	while (rw->inflight < rw->depth && rw->next < rw->nchunks &&
	    rw->first_err == 0) {
		c = &rw->chunks[rw->next];
		c->rw = rw;
		now = loop_now();
		if (rw->writing) {
			rc = engine_write(rw->e, rw->t, rw->img + c->off,
			    c->off, c->len, chunk_done, c, now);
		} else {
			if (rw->copy_reads)
				c->buf = rw->img + c->off;
			else if ((c->buf = malloc(c->len)) == NULL) {
				rw->first_err = -ENOMEM;
				rw->wake = true;
				return;
			}
			rc = engine_read(rw->e, rw->t, c->buf, c->off, c->len,
			    chunk_done, c, now);
		}
		if (rc < 0 && !rw->writing && !rw->copy_reads) {
			free(c->buf);
			c->buf = NULL;
		}
		if (rc == -EAGAIN) {
			rw->again = true;
			return;
		}
		if (rc < 0) {
			fprintf(stderr, "aoe-rw: submitting a %s of %zu bytes "
			    "at %" PRIu64 " failed: %s\n",
			    rw->writing ? "write" : "read", c->len, c->off,
			    strerror(-rc));
			rw->first_err = rc;
			rw->wake = true;
			return;
		}
		rw->inflight++;
		rw->next++;
	}
}

/*
 * Run one phase over rw->chunks.  Returns 0, or a negative errno (the
 * first failure, -ETIMEDOUT on a stall, -EINTR on a signal).
 */
static int
run_phase(struct rw *rw, bool writing)
{
	uint64_t until;
	int rc;

	rw->writing = writing;
	rw->next = rw->done = rw->inflight = 0;
	rw->first_err = 0;
	rw->last_progress = loop_now();
	for (;;) {
		rw->again = false;
		pump(rw);
		if (rw->done == rw->nchunks || rw->dead ||
		    (rw->first_err != 0 && rw->inflight == 0))
			break;
		rw->wake = false;
		until = rw->again ? loop_now() + 10 * NSEC_PER_MSEC :
		    rw->last_progress + STALL_NS;
		rc = rt_run_until(rw->rt, &rw->wake, until);
		if (rc == -EINTR) {
			rw->interrupted = true;
			return -EINTR;
		}
		if (rc == -ETIMEDOUT && !rw->again &&
		    loop_now() >= rw->last_progress + STALL_NS) {
			fprintf(stderr, "aoe-rw: no progress for %llu s "
			    "(%zu of %zu requests done)\n",
			    (unsigned long long)(STALL_NS / NSEC_PER_SEC),
			    rw->done, rw->nchunks);
			return -ETIMEDOUT;
		}
		if (rc < 0 && rc != -ETIMEDOUT) {
			fprintf(stderr, "aoe-rw: event loop: %s\n",
			    strerror(-rc));
			return rc;
		}
	}
	if (rw->dead) {
		fprintf(stderr, "aoe-rw: the target went dead\n");
		return -EIO;
	}
	return rw->first_err;
}

static void
single_done(void *arg, int rc)
{
	struct rw *rw = arg;

	rw->res = rc;
	rw->wake = true;
	note_result(rw, rc);
}

/*
 * Wait for the single request submitted with single_done (rw->res was
 * set to 1 before).  Returns its result, or -EINTR / -EIO (dead target).
 */
static int
wait_single(struct rw *rw)
{
	int rc;

	while (rw->res == 1) {
		rw->wake = false;
		rc = rt_run_until(rw->rt, &rw->wake,
		    loop_now() + NSEC_PER_SEC);
		if (rc == -EINTR) {
			rw->interrupted = true;
			return rc;
		}
		if (rw->dead && rw->res == 1)
			return -EIO;
	}
	return rw->res;
}

static int
do_flush(struct rw *rw)
{
	int rc;

	rw->res = 1;
	rc = engine_flush(rw->e, rw->t, single_done, rw, loop_now());
	if (rc < 0)
		return rc;
	return wait_single(rw);
}

/* ---------------------------------------------------------- reports */

static double
secs_since(uint64_t t0)
{
	return (double)(loop_now() - t0) / 1e9;
}

static void
print_rate(const char *what, uint64_t bytes, double s)
{
	printf("%s: %" PRIu64 " bytes in %.3f s (%.1f MiB/s)\n", what, bytes,
	    s, s > 0 ? (double)bytes / s / (1024.0 * 1024.0) : 0.0);
}

static void
print_counters(struct rw *rw)
{
	const struct engine_stats *st = engine_stats(rw->e);
	struct target_info ti;

	printf("engine: tx_frames %" PRIu64 " rx_frames %" PRIu64
	    " retransmits %" PRIu64 " timeouts %" PRIu64 "\n",
	    st->tx_frames, st->rx_frames, st->retransmits, st->timeouts);
	printf("engine: dropped short %" PRIu64 " request %" PRIu64
	    " badver %" PRIu64 " unknown %" PRIu64 " foreign %" PRIu64
	    " mismatch %" PRIu64 " bad_cfg %" PRIu64 "\n",
	    st->rx_short, st->rx_request, st->rx_badver, st->rx_unknown,
	    st->rx_foreign, st->rx_mismatch, st->rx_bad_cfg);
	for (unsigned i = 0; i < rt_nlinks(rw->rt); i++) {
		const struct link *l = rt_link(rw->rt, i);

		printf("link %s: tx_frames %" PRIu64 " tx_ring %" PRIu64
		    " tx_errors %" PRIu64 "\n", l->ifname, l->tx_frames,
		    l->tx_ring, l->tx_errors);
	}
	if (rw->t == NULL)
		return;
	engine_target_info(rw->t, &ti);
	printf("target %s: sectors_per_frame %u window %u/%u srtt_us %" PRIu64
	    " rto_us %" PRIu64 " retransmits %" PRIu64 " timeouts %" PRIu64
	    " errors %" PRIu64 "\n", ti.name, ti.sectors_per_frame, ti.window,
	    ti.window_max, ti.srtt_ns / 1000, ti.rto_ns / 1000,
	    ti.retransmits, ti.timeouts, ti.errors);
	for (unsigned i = 0; i < ti.npaths && i < ENGINE_MAX_PATHS; i++) {
		const struct target_path *p = &ti.paths[i];
		char mac[MAC_STRLEN];

		printf("path %u: %s %s tx %" PRIu64 " rx %" PRIu64 " lost %"
		    PRIu64 "\n", i, engine_interface_name(rw->e, p->ifidx),
		    mac_fmt(mac, p->mac), p->tx, p->rx, p->lost);
	}
}

static int
write_file(const char *path, const uint8_t *p, uint64_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		n = write(fd, p, (size_t)MIN(len, (uint64_t)(1 << 30)));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return (int)n;
		}
		p += n;
		len -= (uint64_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------- modes */

/*
 * One verify pass over [0, rw->size): fill the image from the PRNG, write
 * it in random requests, flush, read it back in another random plan and
 * compare.  Returns 0, a negative errno (I/O failure: the reason was
 * printed) or 1 when bytes differ.  Prints the figures unless quiet.
 */
static int
verify_pass(struct rw *rw, uint64_t *s, bool quiet)
{
	uint64_t t0;
	size_t odd;
	int rc;

	prng_fill(s, rw->img, rw->size);
	rw->mismatches = 0;

	/* Write. */
	free(rw->chunks);
	rw->nchunks = plan_chunks(s, rw->size, &rw->chunks, &odd);
	if (rw->nchunks == 0)
		return -ENOMEM;
	if (!quiet)
		printf("write: %zu requests (%zu unaligned), depth %u\n",
		    rw->nchunks, odd, rw->depth);
	t0 = loop_now();
	rc = run_phase(rw, true);
	if (rc == 0)
		rc = do_flush(rw);
	if (rc < 0) {
		fprintf(stderr, "aoe-rw: write phase failed: %s\n",
		    strerror(-rc));
		return rc;
	}
	if (!quiet)
		print_rate("write", rw->size, secs_since(t0));

	/* Read back with another random plan. */
	free(rw->chunks);
	rw->nchunks = plan_chunks(s, rw->size, &rw->chunks, &odd);
	if (rw->nchunks == 0)
		return -ENOMEM;
	if (!quiet)
		printf("read: %zu requests (%zu unaligned), depth %u\n",
		    rw->nchunks, odd, rw->depth);
	t0 = loop_now();
	rc = run_phase(rw, false);
	if (rc < 0) {
		fprintf(stderr, "aoe-rw: read phase failed: %s\n",
		    strerror(-rc));
		return rc;
	}
	if (!quiet)
		print_rate("read", rw->size, secs_since(t0));
	if (rw->mismatches) {
		printf("verify: %" PRIu64 " bytes differ, the first at offset "
		    "%" PRIu64 "\n", rw->mismatches, rw->first_bad);
		return 1;
	}
	return 0;
}

static int
alloc_image(struct rw *rw)
{
	rw->img = malloc(rw->size);
	if (rw->img == NULL) {
		fprintf(stderr, "aoe-rw: out of memory for %" PRIu64
		    " bytes\n", rw->size);
		return -ENOMEM;
	}
	return 0;
}

static int
save_image(struct rw *rw, const char *out)
{
	int rc;

	if (out == NULL)
		return 0;
	rc = write_file(out, rw->img, rw->size);
	if (rc < 0)
		fprintf(stderr, "aoe-rw: %s: %s\n", out, strerror(-rc));
	return rc;
}

static int
mode_verify(struct rw *rw, uint64_t seed, const char *out)
{
	uint64_t s = seed;
	int rc;

	if (alloc_image(rw) < 0)
		return EXIT_FAIL;
	rc = verify_pass(rw, &s, false);
	print_counters(rw);
	if (rc < 0)
		return EXIT_FAIL;
	if (save_image(rw, out) < 0)
		return EXIT_FAIL;
	if (rc > 0)
		return EXIT_FAIL;
	printf("verify: all %" PRIu64 " bytes match\n", rw->size);
	return EXIT_OK;
}

/*
 * loop: verify passes (each with new data) until --duration has passed;
 * any I/O error or difference fails.  --out gets the last pass's image.
 */
static int
mode_loop(struct rw *rw, uint64_t seed, const char *out, uint64_t duration)
{
	uint64_t s = seed, start = loop_now(), t0;
	unsigned pass = 0;
	int rc;

	if (alloc_image(rw) < 0)
		return EXIT_FAIL;
	do {
		pass++;
		t0 = loop_now();
		rc = verify_pass(rw, &s, true);
		if (rc != 0) {
			printf("loop: pass %u failed after %.3f s\n", pass,
			    secs_since(start));
			print_counters(rw);
			return EXIT_FAIL;
		}
		printf("loop: pass %u ok in %.3f s (at %.3f s)\n", pass,
		    secs_since(t0), secs_since(start));
		fflush(stdout);
	} while (loop_now() - start < duration && !rw->interrupted);
	print_counters(rw);
	if (save_image(rw, out) < 0)
		return EXIT_FAIL;
	printf("loop: %u passes of %" PRIu64 " bytes in %.3f s, all "
	    "verified\n", pass, rw->size, secs_since(start));
	return EXIT_OK;
}

/* Submit one small request of the given kind to a dead target. */
static int
probe_dead(struct rw *rw, bool write, uint8_t *buf, size_t len)
{
	uint64_t t0 = loop_now();
	int rc;

	rw->res = 1;
	if (write)
		rc = engine_write(rw->e, rw->t, buf, 0, len, single_done, rw,
		    t0);
	else
		rc = engine_read(rw->e, rw->t, buf, 0, len, single_done, rw,
		    t0);
	if (rc == 0) {
		/* Accepted: it must still fail, and soon. */
		while (rw->res == 1 && loop_now() - t0 < 2 * NSEC_PER_SEC) {
			rw->wake = false;
			if (rt_run_until(rw->rt, &rw->wake,
			    t0 + 2 * NSEC_PER_SEC) == -EINTR)
				return -EINTR;
		}
		rc = rw->res == 1 ? -ETIMEDOUT : rw->res;
		printf("outage: a new %s completed with %s after %.3f s\n",
		    write ? "write" : "read", rc ? strerror(-rc) : "success",
		    secs_since(t0));
	} else {
		printf("outage: a new %s was refused at submit: %s\n",
		    write ? "write" : "read", strerror(-rc));
	}
	return rc;
}

/*
 * outage: verify passes until I/O fails because the target went dead (the
 * test stops it for longer than --dead-timeout).  The failure must be EIO,
 * come about --dead-timeout after the last completion, and take every
 * pending request with it; new requests must fail at once.  Then wait for
 * the target to come back (its config answer to periodic discovery or its
 * start-up advert) and run one more pass, which must verify.
 */
static int
mode_outage(struct rw *rw, uint64_t seed, const char *out, uint64_t dead_ns,
    uint64_t duration)
{
	static uint8_t probe[4096]; /* outlives a cancelled probe */
	uint64_t s = seed, start = loop_now(), silence, t0;
	unsigned pass = 0;
	bool ok = true;
	int rc;

	if (alloc_image(rw) < 0)
		return EXIT_FAIL;
	/* 1: I/O until it fails. */
	for (;;) {
		if (loop_now() - start >= duration) {
			fprintf(stderr, "aoe-rw: outage: no I/O failure within "
			    "%.1f s\n", (double)duration / 1e9);
			return EXIT_FAIL;
		}
		pass++;
		rw->first_fail = 0;
		rc = verify_pass(rw, &s, true);
		if (rc == -EINTR || rw->interrupted)
			return EXIT_FAIL;
		if (rc > 0) {
			fprintf(stderr, "aoe-rw: outage: data differ before "
			    "the outage\n");
			return EXIT_FAIL;
		}
		if (rc == 0) {
			printf("outage: pass %u ok (at %.3f s)\n", pass,
			    secs_since(start));
			fflush(stdout);
			continue;
		}
		break;
	}
	silence = rw->first_fail > rw->last_ok ? rw->first_fail - rw->last_ok :
	    0;
	printf("outage: pass %u failed with %s at %.3f s, %.3f s after the "
	    "last completion (dead timeout %.3f s)\n", pass, strerror(-rc),
	    secs_since(start), (double)silence / 1e9, (double)dead_ns / 1e9);
	printf("outage: %" PRIu64 " requests failed with EIO, %" PRIu64
	    " with another error, %zu still in flight, target %s\n",
	    rw->n_eio, rw->n_other_err, rw->inflight,
	    rw->dead ? "dead" : "not dead");
	if (rc != -EIO || rw->n_other_err != 0) {
		fprintf(stderr, "aoe-rw: outage: expected EIO only\n");
		ok = false;
	}
	if (!rw->dead || rw->inflight != 0) {
		fprintf(stderr, "aoe-rw: outage: the target is not dead or "
		    "requests are still pending\n");
		ok = false;
	}
	/* Not much later than the dead timeout, nor much earlier. */
	if (silence > dead_ns + NSEC_PER_SEC || silence < dead_ns / 2) {
		fprintf(stderr, "aoe-rw: outage: the failure came %.3f s "
		    "after the last completion, not about %.3f s\n",
		    (double)silence / 1e9, (double)dead_ns / 1e9);
		ok = false;
	}

	/* 2: new requests fail at once while the target is dead. */
	memset(probe, 0x5a, sizeof(probe));
	for (int i = 0; i < 3 && rw->dead; i++) {
		rc = probe_dead(rw, i & 1, probe, sizeof(probe));
		if (rc == -EINTR)
			return EXIT_FAIL;
		if (rc != -EIO) {
			fprintf(stderr, "aoe-rw: outage: a new request to "
			    "the dead target gave %s, expected EIO\n",
			    rc ? strerror(-rc) : "success");
			ok = false;
		}
	}

	/* 3: wait for the target to come back. */
	t0 = loop_now();
	while (!rw->up && loop_now() - start < duration) {
		rw->wake = false;
		rc = rt_run_until(rw->rt, &rw->up, start + duration);
		if (rc == -EINTR)
			return EXIT_FAIL;
	}
	if (!rw->up) {
		fprintf(stderr, "aoe-rw: outage: %s did not come back within "
		    "%.1f s\n", rw->t ? target_name(rw->t) : "target",
		    (double)duration / 1e9);
		print_counters(rw);
		return EXIT_FAIL;
	}
	printf("outage: target up again %.3f s after it went dead (waited "
	    "%.3f s)\n", (double)(rw->up_at - rw->dead_at) / 1e9,
	    (double)(rw->up_at - t0) / 1e9);

	/* 4: and it works. */
	rw->first_fail = 0;
	rw->n_eio = rw->n_other_err = 0;
	rc = verify_pass(rw, &s, false);
	print_counters(rw);
	if (rc != 0) {
		fprintf(stderr, "aoe-rw: outage: the pass after the target "
		    "came back failed\n");
		return EXIT_FAIL;
	}
	printf("outage: the pass after the outage verified %" PRIu64
	    " bytes\n", rw->size);
	if (save_image(rw, out) < 0)
		return EXIT_FAIL;
	return ok ? EXIT_OK : EXIT_FAIL;
}

/* ---------------------------------------------------------- flush mode */

#define FLUSH_WRITES 16        /* writes submitted before each flush */
#define FLUSH_AFTER 8          /* writes submitted right after it */
#define FLUSH_WSECT 8          /* sectors per write */

struct fwrite {
	struct rw *rw;
	unsigned id;
	uint64_t off;
	bool done;
	int rc;
};

static uint64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void __attribute__((format(printf, 2, 3)))
flush_log(struct rw *rw, const char *fmt, ...)
{
	/* CLOCK_REALTIME, as the pcap trace's timestamps. */
	uint64_t t = real_ns();
	va_list ap;

	fprintf(rw->log, "%" PRIu64 ".%09" PRIu64 " ",
	    (uint64_t)(t / NSEC_PER_SEC), (uint64_t)(t % NSEC_PER_SEC));
	va_start(ap, fmt);
	vfprintf(rw->log, fmt, ap);
	va_end(ap);
	fputc('\n', rw->log);
}

static void
fwrite_done(void *arg, int rc)
{
	struct fwrite *w = arg;
	struct rw *rw = w->rw;

	w->done = true;
	w->rc = rc;
	rw->wake = true;
	rw->fw_done++;
	if (rw->closing)
		return;
	note_result(rw, rc);
	flush_log(rw, "write_done %u %d", w->id, rc);
}

static void
fflush_done(void *arg, int rc)
{
	struct fwrite *w = arg;
	struct rw *rw = w->rw;

	w->done = true;
	w->rc = rc;
	rw->wake = true;
	if (rw->closing)
		return;
	note_result(rw, rc);
	flush_log(rw, "flush_done %u %d", w->id, rc);
}

static int
fwrite_submit(struct rw *rw, struct fwrite *w)
{
	const size_t len = FLUSH_WSECT * SECTOR;
	int rc;

	flush_log(rw, "write_submit %u %" PRIu64 " %u", w->id,
	    w->off / SECTOR, FLUSH_WSECT);
	rc = engine_write(rw->e, rw->t, rw->img + w->off, w->off, len,
	    fwrite_done, w, loop_now());
	if (rc < 0)
		fprintf(stderr, "aoe-rw: flush: submitting write %u failed: "
		    "%s\n", w->id, strerror(-rc));
	return rc;
}

/* Run the loop until *count reaches want or the stall timeout. */
static int
wait_count(struct rw *rw, const size_t *count, size_t want,
    const bool *also)
{
	uint64_t t0 = loop_now();
	int rc;

	while (*count < want || (also != NULL && !*also)) {
		if (loop_now() - t0 > STALL_NS || rw->dead)
			return -ETIMEDOUT;
		rw->wake = false;
		rc = rt_run_until(rw->rt, &rw->wake, t0 + STALL_NS);
		if (rc == -EINTR) {
			rw->interrupted = true;
			return rc;
		}
	}
	return 0;
}

/*
 * flush: ROUNDS rounds of FLUSH_WRITES aligned writes; once half of them
 * completed a flush is submitted, then FLUSH_AFTER more writes while it is
 * in flight; the round ends when all are done.  Every submission and
 * completion goes to --log with its CLOCK_REALTIME time, for the test to
 * compare with the --trace pcap.  Finally everything is read back.
 */
static int
mode_flush(struct rw *rw, uint64_t seed, const char *logpath,
    unsigned rounds)
{
	const unsigned per = FLUSH_WRITES + FLUSH_AFTER;
	const uint64_t wbytes = FLUSH_WSECT * SECTOR;
	static struct fwrite fl; /* engine_free may still call back */
	struct fwrite *w = NULL;
	uint64_t s = seed, need = (uint64_t)rounds * per * wbytes;
	unsigned id = 0, r, k;
	int rc, status = EXIT_FAIL;

	if (rw->size < need) {
		fprintf(stderr, "aoe-rw: flush: %u rounds need %" PRIu64
		    " bytes\n", rounds, need);
		return EXIT_USAGE;
	}
	rw->log = fopen(logpath, "we");
	if (rw->log == NULL) {
		fprintf(stderr, "aoe-rw: %s: %s\n", logpath, strerror(errno));
		return EXIT_FAIL;
	}
	rw->size = need;
	if (alloc_image(rw) < 0)
		goto out;
	prng_fill(&s, rw->img, rw->size);
	w = rw->fw = calloc((size_t)rounds * per, sizeof(*w));
	if (w == NULL)
		goto out;
	for (r = 0; r < rounds; r++) {
		struct fwrite *rw_w = &w[(size_t)r * per];

		rw->fw_done = 0;
		for (k = 0; k < per; k++) {
			rw_w[k].rw = rw;
			rw_w[k].id = id++;
			rw_w[k].off = ((uint64_t)r * per + k) * wbytes;
		}
		for (k = 0; k < FLUSH_WRITES; k++)
			if (fwrite_submit(rw, &rw_w[k]) < 0)
				goto out;
		/* Half of them acknowledged: flush. */
		if (wait_count(rw, &rw->fw_done, FLUSH_WRITES / 2, NULL) < 0)
			goto stalled;
		memset(&fl, 0, sizeof(fl));
		fl.rw = rw;
		fl.id = r;
		flush_log(rw, "flush_submit %u", r);
		rc = engine_flush(rw->e, rw->t, fflush_done, &fl, loop_now());
		if (rc < 0) {
			fprintf(stderr, "aoe-rw: flush: submit: %s\n",
			    strerror(-rc));
			goto out;
		}
		for (k = FLUSH_WRITES; k < per; k++)
			if (fwrite_submit(rw, &rw_w[k]) < 0)
				goto out;
		if (wait_count(rw, &rw->fw_done, per, &fl.done) < 0)
			goto stalled;
		if (fl.rc != 0) {
			fprintf(stderr, "aoe-rw: flush %u failed: %s\n", r,
			    strerror(-fl.rc));
			goto out;
		}
		for (k = 0; k < per; k++) {
			if (rw_w[k].rc != 0) {
				fprintf(stderr, "aoe-rw: flush: write %u "
				    "failed: %s\n", rw_w[k].id,
				    strerror(-rw_w[k].rc));
				goto out;
			}
		}
	}
	printf("flush: %u rounds of %u writes and a flush done\n", rounds,
	    per);

	/* Read it all back. */
	free(rw->chunks);
	{
		size_t odd;

		rw->nchunks = plan_chunks(&s, rw->size, &rw->chunks, &odd);
	}
	if (rw->nchunks == 0 || run_phase(rw, false) < 0)
		goto out;
	print_counters(rw);
	if (rw->mismatches) {
		printf("verify: %" PRIu64 " bytes differ, the first at offset "
		    "%" PRIu64 "\n", rw->mismatches, rw->first_bad);
		goto out;
	}
	printf("verify: all %" PRIu64 " bytes match\n", rw->size);
	status = EXIT_OK;
	goto out;

stalled:
	fprintf(stderr, "aoe-rw: flush: requests did not complete\n");
	print_counters(rw);
out:
	/* w stays until after engine_free, which may still call back. */
	if (fclose(rw->log) != 0 && status == EXIT_OK) {
		fprintf(stderr, "aoe-rw: %s: %s\n", logpath, strerror(errno));
		status = EXIT_FAIL;
	}
	rw->log = NULL;
	return status;
}

static int
mode_read(struct rw *rw, const char *out)
{
	uint64_t s = 1, t0;
	size_t odd;
	int rc;

	rw->img = malloc(rw->size);
	if (rw->img == NULL) {
		fprintf(stderr, "aoe-rw: out of memory\n");
		return EXIT_FAIL;
	}
	rw->copy_reads = true;
	rw->nchunks = plan_chunks(&s, rw->size, &rw->chunks, &odd);
	if (rw->nchunks == 0)
		return EXIT_FAIL;
	printf("read: %zu requests (%zu unaligned), depth %u\n", rw->nchunks,
	    odd, rw->depth);
	t0 = loop_now();
	rc = run_phase(rw, false);
	if (rc < 0) {
		fprintf(stderr, "aoe-rw: read failed: %s\n", strerror(-rc));
		print_counters(rw);
		return EXIT_FAIL;
	}
	print_rate("read", rw->size, secs_since(t0));
	print_counters(rw);
	if (out != NULL) {
		rc = write_file(out, rw->img, rw->size);
		if (rc < 0) {
			fprintf(stderr, "aoe-rw: %s: %s\n", out, strerror(-rc));
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

/* One write must fail with EROFS or EPERM; a read must still work. */
static int
mode_rofs(struct rw *rw)
{
	static uint8_t buf[SECTOR]; /* outlives a cancelled request */
	int rc;

	memset(buf, 0xa5, sizeof(buf));
	rw->res = 1;
	rc = engine_write(rw->e, rw->t, buf, 0, sizeof(buf), single_done, rw,
	    loop_now());
	if (rc == 0) {
		rc = wait_single(rw);
		if (rc == -EINTR)
			return EXIT_FAIL;
		printf("rofs: write completed with %d (%s)\n", rc,
		    rc ? strerror(-rc) : "success");
	} else {
		printf("rofs: write refused at submit with %d (%s)\n", rc,
		    strerror(-rc));
	}
	if (rc != -EROFS && rc != -EPERM) {
		fprintf(stderr, "aoe-rw: a write to a read-only target gave "
		    "%s, expected EROFS or EPERM\n",
		    rc ? strerror(-rc) : "success");
		return EXIT_FAIL;
	}
	printf("rofs: target read_only %s\n",
	    target_read_only(rw->t) ? "true" : "false");

	rw->res = 1;
	rc = engine_read(rw->e, rw->t, buf, 0, sizeof(buf), single_done, rw,
	    loop_now());
	if (rc == 0)
		rc = wait_single(rw);
	if (rc < 0) {
		fprintf(stderr, "aoe-rw: a read after the refused write "
		    "failed: %s\n", strerror(-rc));
		return EXIT_FAIL;
	}
	printf("rofs: a read still works\n");
	return EXIT_OK;
}

/* ---------------------------------------------------------- main */

/* A byte count with an optional K, M or G (binary) suffix. */
static int
parse_size(const char *arg, uint64_t *out)
{
	char num[32];
	size_t n = strlen(arg);
	unsigned shift = 0;
	unsigned long long v;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, arg, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	default:
		break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (parse_uint(num, 1, UINT64_MAX >> shift, &v) < 0)
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* After --help or -V: a lost line is a failure, as in the programs. */
static int
flushed_status(void)
{
	int rc = stream_flush(stdout);

	if (rc == 0)
		return EXIT_OK;
	fprintf(stderr, "aoe-rw: write error on standard output: %s\n",
	    strerror(-rc));
	return EXIT_FAIL;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: aoe-rw [OPTIONS] [--seed N] [--depth N] [--out FILE] "
	    "[--mode MODE] TARGET\n"
	    "Integration test driver: write TARGET (e.g. e1.0) with random "
	    "data in\nrandom requests, read it back and compare.\n"
	    "\n"
	    "      --seed=N                 PRNG seed (default 1)\n"
	    "      --depth=N                requests in flight (default 32)\n"
	    "      --out=FILE               write the image (verify: as "
	    "written,\n"
	    "                               read: as read) to FILE\n"
	    "      --mode=MODE              verify (default); rofs: one "
	    "write must\n"
	    "                               fail with EROFS or EPERM; read: "
	    "read\n"
	    "                               the whole target (needs --out);\n"
	    "                               loop: verify passes for "
	    "--duration;\n"
	    "                               outage: I/O until it fails with "
	    "EIO\n"
	    "                               (target dead), then again once "
	    "it is\n"
	    "                               back; flush: rounds of writes "
	    "and\n"
	    "                               flushes logged to --log\n"
	    "      --size=BYTES             use only the first BYTES of the "
	    "target\n"
	    "                               (suffixes K, M, G)\n"
	    "      --duration=SECS          loop: run this long; outage: "
	    "give up\n"
	    "                               after this long (default 60)\n"
	    "      --log=FILE               flush: the event log\n"
	    "      --rounds=N               flush: rounds (default 8)\n"
	    "  -h, --help                   this help\n"
	    "  -V, --version                print the version\n"
	    "(aoe-rw waits up to 5 s for TARGET unless --wait says "
	    "otherwise)\n");
	rt_usage_common(f, NULL);
}

static void
on_signal(int sig)
{
	(void)sig;
	if (g_loop != NULL)
		loop_stop(g_loop);
}

enum {
	OPT_SEED = 0x2000,
	OPT_DEPTH,
	OPT_OUT,
	OPT_MODE,
	OPT_SIZE,
	OPT_DURATION,
	OPT_LOG,
	OPT_ROUNDS,
};

static const struct option own_options[] = {
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};

int
main(int argc, char **argv)
{
	struct option longopts[ARRAY_SIZE(own_options) + 32];
	struct rt_options o;
	struct rw rw;
	struct loop *loop = NULL;
	struct sigaction sa;
	enum rw_mode mode = MODE_VERIFY;
	unsigned long long v;
	uint64_t seed = 1, deadline, now;
	const char *out = NULL, *logpath = NULL;
	uint64_t limit = 0, duration_ms = 60000;
	unsigned rounds = 8;
	size_t n = 0, i;
	int opt, rc, status = EXIT_FAIL;
	char name[16];

	log_init("aoe-rw", true);
	/* Line by line: tests follow the progress of long modes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&rw, 0, sizeof(rw));
	rw.depth = 32;
	rt_options_init(&o);
	o.wait_ns = 5 * NSEC_PER_SEC;

	for (i = 0; i < ARRAY_SIZE(own_options); i++)
		longopts[n++] = own_options[i];
	for (i = 0; rt_long_options[i].name != NULL && n + 1 <
	    ARRAY_SIZE(longopts); i++)
		longopts[n++] = rt_long_options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	while ((opt = getopt_long(argc, argv, "I:w:vhV", longopts,
	    NULL)) != -1) {
		rc = rt_parse_option(&o, opt, optarg);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case OPT_SEED:
			if (parse_uint(optarg, 0, UINT64_MAX, &v) < 0) {
				fprintf(stderr, "aoe-rw: bad --seed '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			seed = v;
			break;
		case OPT_DEPTH:
			if (parse_uint(optarg, 1, 4096, &v) < 0) {
				fprintf(stderr, "aoe-rw: bad --depth '%s' "
				    "(1..4096)\n", optarg);
				return EXIT_USAGE;
			}
			rw.depth = (unsigned)v;
			break;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "verify") == 0)
				mode = MODE_VERIFY;
			else if (strcmp(optarg, "rofs") == 0)
				mode = MODE_ROFS;
			else if (strcmp(optarg, "read") == 0)
				mode = MODE_READ;
			else if (strcmp(optarg, "loop") == 0)
				mode = MODE_LOOP;
			else if (strcmp(optarg, "outage") == 0)
				mode = MODE_OUTAGE;
			else if (strcmp(optarg, "flush") == 0)
				mode = MODE_FLUSH;
			else {
				fprintf(stderr, "aoe-rw: bad --mode '%s' "
				    "(verify, rofs, read, loop, outage, "
				    "flush)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_SIZE:
			if (parse_size(optarg, &limit) < 0) {
				fprintf(stderr, "aoe-rw: bad --size '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_DURATION:
			if (parse_seconds_ms(optarg, 86400000,
			    &duration_ms) < 0 || duration_ms == 0) {
				fprintf(stderr, "aoe-rw: bad --duration "
				    "'%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_LOG:
			logpath = optarg;
			break;
		case OPT_ROUNDS:
			if (parse_uint(optarg, 1, 100000, &v) < 0) {
				fprintf(stderr, "aoe-rw: bad --rounds '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			rounds = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return flushed_status();
		case 'V':
			printf("aoe-rw %s\n", PACKAGE_VERSION);
			return flushed_status();
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "aoe-rw: exactly one TARGET expected\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (target_name_parse(argv[optind], &rw.shelf, &rw.slot) < 0) {
		fprintf(stderr, "aoe-rw: bad target name '%s' (e.g. e1.0)\n",
		    argv[optind]);
		return EXIT_USAGE;
	}
	target_name_fmt(name, sizeof(name), rw.shelf, rw.slot);
	if (mode == MODE_READ && out == NULL) {
		fprintf(stderr, "aoe-rw: --mode read needs --out FILE\n");
		return EXIT_USAGE;
	}
	if (mode == MODE_FLUSH && logpath == NULL) {
		fprintf(stderr, "aoe-rw: --mode flush needs --log FILE\n");
		return EXIT_USAGE;
	}
	if (mode == MODE_OUTAGE && o.ecfg.dead_ns == 0) {
		fprintf(stderr, "aoe-rw: --mode outage needs a "
		    "--dead-timeout\n");
		return EXIT_USAGE;
	}

	rc = loop_new(&loop);
	if (rc < 0) {
		fprintf(stderr, "aoe-rw: event loop: %s\n", strerror(-rc));
		return EXIT_FAIL;
	}
	g_loop = loop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	status = rt_new(&rw.rt, &o, loop, &front_ops, &rw);
	if (status != 0)
		goto out;
	status = EXIT_FAIL;
	rw.e = rt_engine(rw.rt);

	/* Ask for the target (again every second) until it is up. */
	deadline = loop_now() + o.wait_ns;
	while (!rw.up) {
		now = loop_now();
		if (now >= deadline)
			break;
		engine_discover(rw.e, rw.shelf, rw.slot, now);
		rc = rt_run_until(rw.rt, &rw.up,
		    MIN(deadline, now + NSEC_PER_SEC));
		if (rc == -EINTR)
			goto out;
		if (rc < 0 && rc != -ETIMEDOUT) {
			fprintf(stderr, "aoe-rw: event loop: %s\n",
			    strerror(-rc));
			goto out;
		}
	}
	if (!rw.up) {
		fprintf(stderr, "aoe-rw: %s did not answer within %.1f s\n",
		    name, (double)o.wait_ns / 1e9);
		status = EXIT_NOTFOUND;
		goto out;
	}
	rw.size = target_size(rw.t);
	printf("%s: %" PRIu64 " bytes, backend %s\n", name, rw.size,
	    o.backend == LINK_BACKEND_PCAP ? "pcap" : "packet");
	if (rw.size == 0) {
		fprintf(stderr, "aoe-rw: %s has size 0\n", name);
		goto out;
	}
	if (limit != 0 && limit < rw.size) {
		rw.size = limit;
		printf("%s: using the first %" PRIu64 " bytes\n", name,
		    rw.size);
	}

	switch (mode) {
	case MODE_VERIFY:
		status = mode_verify(&rw, seed, out);
		break;
	case MODE_READ:
		status = mode_read(&rw, out);
		break;
	case MODE_ROFS:
		status = mode_rofs(&rw);
		break;
	case MODE_LOOP:
		status = mode_loop(&rw, seed, out, duration_ms * NSEC_PER_MSEC);
		break;
	case MODE_OUTAGE:
		status = mode_outage(&rw, seed, out, o.ecfg.dead_ns,
		    duration_ms * NSEC_PER_MSEC);
		break;
	case MODE_FLUSH:
		status = mode_flush(&rw, seed, logpath, rounds);
		break;
	}
	if (rw.interrupted)
		status = EXIT_FAIL;
out:
	/*
	 * engine_free (in rt_free) completes what is left with -ECANCELED;
	 * the callbacks free their buffers and submit nothing more.
	 */
	rw.closing = true;
	rt_free(rw.rt);
	free(rw.fw);
	free(rw.chunks);
	free(rw.img);
	g_loop = NULL;
	loop_free(loop);
	return status;
}
