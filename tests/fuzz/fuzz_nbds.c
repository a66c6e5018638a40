/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the NBD server itself (src/nbds.c), where
 * fuzz_nbd.c covers only its codec: the input is what a client sends on a
 * connected socket, to a server whose export e1.0 is an in-memory target
 * (tests/faketarget.c) behind the real engine, on the real event loop.
 * Negotiation, the transmission phase, requests in flight and their
 * replies, bad input, disconnects mid-request: all as in aoe-nbd.  The
 * first byte (as in fuzz_nbd.c's seeds) picks how the stream is cut: bit 7
 * set, all at once; else (byte + 1) * 4 bytes per loop turn, so that
 * headers and payloads arrive in pieces.  Checks:
 * the server ends every connection within a bounded number of loop turns
 * once the client has stopped sending, its counters stay consistent, and
 * (with the sanitizers) no memory error and no leak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzz.h"
#include "aoe.h"
#include "engine.h"
#include "faketarget.h"
#include "log.h"
#include "loop.h"
#include "nbds.h"
#include "util.h"

#define FT_SECTORS 2048         /* 1 MiB export */
#define FRAME_CAP 9216
#define QMAX 256                /* frames the engine sent, not delivered */
#define MAX_TURNS 4000          /* loop turns before the harness gives up */

struct fz {
	struct engine *e;
	struct nbds *s;
	struct faketarget *ft;
	bool up;
	unsigned nq;
	size_t qlen[QMAX];
	uint8_t q[QMAX][FRAME_CAP];
	uint8_t rsp[FRAME_CAP];
};

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t target_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

/* The engine's frames wait in q until deliver() hands them over. */
static int
fz_send(void *ctx, unsigned ifidx, const struct iovec *iov, unsigned n)
{
	struct fz *fz = ctx;
	size_t len = 0;

	CHECK(ifidx == 0);
	if (fz->nq == QMAX)
		return 0; /* lost on the wire */
	for (unsigned i = 0; i < n; i++) {
		if (len + iov[i].iov_len > FRAME_CAP)
			return 0;
		memcpy(fz->q[fz->nq] + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	fz->qlen[fz->nq++] = len;
	return 0;
}

static void
fz_event(void *ctx, struct target *t, int ev)
{
	struct fz *fz = ctx;

	if (ev == ENGINE_EV_UP)
		fz->up = true;
	if (fz->s != NULL)
		nbds_target_event(fz->s, t, ev);
}

static const struct engine_ops fz_ops = {
	.send = fz_send,
	.event = fz_event,
};

/* The target answers everything sent so far (and what that causes). */
static void
deliver(struct fz *fz)
{
	static uint8_t batch[QMAX][FRAME_CAP];
	static size_t blen[QMAX];

	for (unsigned round = 0; round < 64 && fz->nq > 0; round++) {
		unsigned n = fz->nq;

		for (unsigned i = 0; i < n; i++) {
			memcpy(batch[i], fz->q[i], fz->qlen[i]);
			blen[i] = fz->qlen[i];
		}
		fz->nq = 0;
		for (unsigned i = 0; i < n; i++) {
			size_t r = ft_handle(fz->ft, batch[i], blen[i],
			    fz->rsp, sizeof(fz->rsp));

			if (r > 0)
				engine_input(fz->e, 0, fz->rsp, r, loop_now());
		}
	}
}

/* Whatever the server wrote is read and dropped. */
static void
drain(int fd)
{
	static uint8_t sink[65536];

	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz fz;
	struct engine_config ec;
	struct nbds_config sc;
	struct loop *loop = NULL;
	int sv[2] = { -1, -1 };
	size_t off = 1, chunk;
	unsigned turn;
	bool shut = false;
	const struct nbds_stats *st;

	log_init("fuzz_nbds", true);
	log_setverbose(-1);
	fz.s = NULL;
	fz.up = false;
	fz.nq = 0;
	CHECK(loop_new(&loop) == 0);
	engine_config_default(&ec);
	ec.discover_ns = 0;
	fz.e = engine_new(&ec, &fz_ops, &fz);
	CHECK(fz.e != NULL);
	CHECK(engine_add_interface(fz.e, "fz0", our_mac, 9000) == 0);
	fz.ft = ft_new(1, 0, target_mac, FT_SECTORS);
	CHECK(fz.ft != NULL);
	ft_set_mtu(fz.ft, 9000);
	ft_set_bufcnt(fz.ft, 64);

	memset(&sc, 0, sizeof(sc));
	sc.tls = TLS_OFF;
	CHECK(nbds_new(&fz.s, &sc, loop) == 0);
	nbds_set_engine(fz.s, fz.e);
	engine_discover(fz.e, AOE_SHELF_ANY, AOE_SLOT_ANY, loop_now());
	deliver(&fz);
	CHECK(fz.up);

	if (size == 0)
		off = 0;
	chunk = size == 0 || (data[0] & 0x80) ? size :
	    ((size_t)data[0] + 1) * 4;
	/* The client's bytes, then its end of writing. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == 0);
	CHECK(nbds_serve_fds(fz.s, sv[0], sv[0]) == 0);
	for (turn = 0; turn < MAX_TURNS; turn++) {
		if (off < size) {
			size_t want = size - off < chunk ? size - off : chunk;
			ssize_t n = send(sv[1], data + off, want,
			    MSG_NOSIGNAL);

			if (n > 0) {
				off += (size_t)n;
			} else if (errno != EAGAIN && errno != EINTR) {
				/* The server closed: stop sending. */
				CHECK(errno == EPIPE || errno == ECONNRESET);
				off = size;
			}
		}
		if (off == size && !shut) {
			(void)shutdown(sv[1], SHUT_WR);
			shut = true;
		}
		/* Never waits: everything here answers at once. */
		CHECK(loop_run_once(loop, loop_now()) == 0);
		deliver(&fz);
		engine_tick(fz.e, loop_now());
		deliver(&fz);
		drain(sv[1]);
		if (nbds_open_conns(fz.s) == 0)
			break;
	}
	/* Everything sent and answered: the server must have let go. */
	CHECK(turn < MAX_TURNS);
	st = nbds_stats(fz.s);
	CHECK(st->conns_accepted == 1);
	CHECK(st->conns_open == 0);
	CHECK(st->errors <= st->requests);
	if (getenv("FUZZ_NBDS_VERBOSE") != NULL)
		fprintf(stderr, "fuzz_nbds: %zu bytes, %u turns, "
		    "%llu requests, %llu errors, %llu protocol errors, "
		    "%llu bytes read, %llu written\n", size, turn,
		    (unsigned long long)st->requests,
		    (unsigned long long)st->errors,
		    (unsigned long long)st->protocol_errors,
		    (unsigned long long)st->bytes_read,
		    (unsigned long long)st->bytes_written);

	engine_free(fz.e);
	nbds_free(fz.s);
	fz.s = NULL;
	ft_free(fz.ft);
	loop_free(loop);
	close(sv[1]);
	return 0;
}
