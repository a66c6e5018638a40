/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the engine (src/engine.h) on a fake link and clock.
 * Two in-memory vblade-like targets (tests/faketarget.c) are discovered and
 * brought up, requests are submitted, then the input is played as a script:
 * the targets' genuine answers (mutated or not), raw frames (optionally with
 * a header copied from a request in flight so that the tag matches), clock
 * steps, target changes and more requests.  Invariants: every accepted
 * request's callback runs once, from input/tick/free only and after flush();
 * new frames never exceed the window; frames are well formed; timers move
 * forward; and while only the targets' own frames went in, reads return and
 * the images hold what the completed writes wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "engine.h"
#include "faketarget.h"
#include "util.h"

#define MAX_IFS 2
#define MAX_FT 2
#define FRAME_CAP (AOE_ATA_HDR_LEN + 18 * 512)
#define WIRE_MAX 64             /* frames sent and not yet delivered */
#define RING_MAX 64             /* headers of recent sends, for tag patching */
#define REPLAY_MAX 8            /* recent answers, for late duplicates */
#define MAX_REQS 256
#define LAST_CMD_MAX 4096
#define T0 (1000 * NSEC_PER_SEC)
#define FT_SECTORS 4096         /* 2 MiB each, stored sparsely */

enum rq_kind { K_READ, K_WRITE, K_FLUSH, K_CFG, K_MASK, K_RESV };

struct fz;

struct rq {
	struct fz *fz;
	enum rq_kind kind;
	bool accepted;
	bool chain;             /* the callback submits another request */
	unsigned calls;
	uint8_t *buf;
	struct target *t;
	int fti;                /* index of the fake target, or -1 */
	uint64_t off;
	size_t len;
};

/*
 * What a target's image must hold: every completed write applied in
 * completion order (the engine never has overlapping writes in flight).
 * Sectors a failed write may have changed are unknown from then on.
 */
#define SH_CHUNK 65536
#define SH_NCHUNKS (FT_SECTORS * 512 / SH_CHUNK)

struct shadow {
	uint8_t *chunk[SH_NCHUNKS];     /* NULL: zeroes */
	uint8_t unknown[FT_SECTORS / 8];
	uint8_t touched[FT_SECTORS / 8];
};

struct wframe {
	unsigned ifidx;
	uint64_t sent;
	size_t len;
	uint8_t data[FRAME_CAP];
};

struct sent {
	unsigned ifidx;
	uint8_t hdr[AOE_HDR_LEN];
};

struct fz {
	struct engine *e;
	uint64_t now;
	const uint8_t *in;
	size_t inlen, pos;

	unsigned nifs;
	uint8_t ifmac[MAX_IFS][6];
	unsigned ifmtu[MAX_IFS];
	struct faketarget *ft[MAX_FT];
	unsigned ft_ifs[MAX_FT];        /* bit per interface it is on */

	struct rq rq[MAX_REQS];
	unsigned nrq;

	unsigned in_engine, in_submit, unflushed;
	bool freeing;
	/*
	 * Data is checked against the targets' images until a frame not from
	 * a target went in, or a write reached a target later than the
	 * engine's fence against delayed duplicates covers (40 ms at least).
	 */
	bool tainted;
	struct shadow sh[MAX_FT];
	uint64_t seen_retx;
	uint8_t last_cmd[LAST_CMD_MAX];

	/* the wire: order[] indexes wire[] in send order */
	unsigned order[WIRE_MAX], nwire;
	struct sent ring[RING_MAX];
	unsigned nring, ring_pos;
	size_t replay_len[REPLAY_MAX];
	unsigned nreplay, replay_pos;
};

static struct wframe wire[WIRE_MAX];
static uint8_t replay[REPLAY_MAX][FRAME_CAP];
static uint8_t scratch[FRAME_CAP];

static const uint8_t foreign_mac[6] = { 0x02, 0xf0, 0xf0, 0x00, 0x00, 0x01 };

/* ------------------------------------------------------------ input */

static bool
more(const struct fz *z)
{
	return z->pos < z->inlen;
}

static unsigned
take(struct fz *z)
{
	return z->pos < z->inlen ? z->in[z->pos++] : 0;
}

static unsigned
take16(struct fz *z)
{
	unsigned hi = take(z);

	return hi << 8 | take(z);
}

static uint64_t
take64(struct fz *z)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | take(z);
	return v;
}

/* ------------------------------------------------------------ ops */

static unsigned
wire_slot_free(const struct fz *z)
{
	bool used[WIRE_MAX] = { false };

	for (unsigned i = 0; i < z->nwire; i++)
		used[z->order[i]] = true;
	for (unsigned i = 0; i < WIRE_MAX; i++)
		if (!used[i])
			return i;
	return 0;
}

static void
wire_remove(struct fz *z, unsigned k)
{
	memmove(&z->order[k], &z->order[k + 1],
	    (z->nwire - k - 1) * sizeof(z->order[0]));
	z->nwire--;
}

static bool
is_rw_or_flush(uint8_t cmd)
{
	switch (cmd) {
	case ATA_CMD_READ:
	case ATA_CMD_READ_EXT:
	case ATA_CMD_WRITE:
	case ATA_CMD_WRITE_EXT:
	case ATA_CMD_FLUSH:
	case ATA_CMD_FLUSH_EXT:
		return true;
	default:
		return false;
	}
}

/* A new (not retransmitted) ATA frame: the window must have room for it. */
static void
check_window(struct fz *z, const uint8_t *f, size_t len, bool retx)
{
	static struct target_info info;
	uint32_t idx = get_be32(f + 20) & 0xffff;
	uint8_t cmd = f[27];
	struct target *t;
	bool fallback = false;

	if (idx < LAST_CMD_MAX) {
		/* FLUSH CACHE EXT refused, the same frame retried as FLUSH */
		fallback = cmd == ATA_CMD_FLUSH &&
		    z->last_cmd[idx] == ATA_CMD_FLUSH_EXT;
		z->last_cmd[idx] = cmd;
	}
	if (retx || fallback || !is_rw_or_flush(cmd))
		return;
	t = engine_target_find(z->e, get_be16(f + 16), f[18]);
	CHECK(t != NULL);
	engine_target_info(t, &info);
	CHECK(info.state == TARGET_UP);
	CHECK(info.inflight >= 1 && info.inflight <= info.window);
	CHECK(info.window <= info.window_max);
	if (cmd != ATA_CMD_FLUSH && cmd != ATA_CMD_FLUSH_EXT) {
		/* Jumbo frames lost: one full-size frame tries again. */
		CHECK(f[26] >= 1 && (f[26] <= info.sectors_per_frame ||
		    (f[26] <= info.sectors_per_frame_full &&
		    info.sectors_per_frame == 2)));
		if (f[24] & AOE_AFLAG_WRITE)
			CHECK(len == AOE_ATA_HDR_LEN + (size_t)f[26] * 512);
		else
			CHECK(len == AOE_MIN_FRAME);
	}
}

static int
op_send(void *ctx, unsigned ifidx, const struct iovec *iov, unsigned iovcnt)
{
	struct fz *z = ctx;
	const struct engine_stats *st = engine_stats(z->e);
	struct wframe *w;
	uint8_t *f = scratch;
	size_t len = 0;
	bool retx = false;
	unsigned slot;

	CHECK(ifidx < z->nifs);
	for (unsigned i = 0; i < iovcnt; i++) {
		CHECK(iov[i].iov_len <= sizeof(scratch) - len);
		memcpy(f + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	/* every request: padded, ours, AoE v1, R clear, tag bit 31 */
	CHECK(len >= AOE_MIN_FRAME);
	CHECK(get_be16(f + 12) == AOE_ETHERTYPE);
	CHECK(memcmp(f + 6, z->ifmac[ifidx], 6) == 0);
	CHECK(f[14] >> 4 == AOE_VERSION);
	CHECK((f[14] & (AOE_FLAG_RSP | AOE_FLAG_ERR)) == 0);
	CHECK(get_be32(f + 20) & AOE_TAG_USER);
	if (st->retransmits > z->seen_retx) {
		/* the engine counts a retransmission just before sending it */
		z->seen_retx = st->retransmits;
		retx = true;
	}
	if (!retx)
		CHECK(len <= (size_t)z->ifmtu[ifidx] + ETH_HLEN_);
	if (f[19] == AOE_CMD_ATA)
		check_window(z, f, len, retx);
	if (mac_is_broadcast(f))
		CHECK(f[19] == AOE_CMD_CFG);

	z->unflushed++;
	memcpy(z->ring[z->ring_pos].hdr, f, AOE_HDR_LEN);
	z->ring[z->ring_pos].ifidx = ifidx;
	z->ring_pos = (z->ring_pos + 1) % RING_MAX;
	if (z->nring < RING_MAX)
		z->nring++;
	if (z->nwire == WIRE_MAX)
		wire_remove(z, 0); /* the oldest is lost */
	slot = wire_slot_free(z);
	w = &wire[slot];
	w->ifidx = ifidx;
	w->sent = z->now;
	w->len = len;
	memcpy(w->data, f, len);
	z->order[z->nwire++] = slot;
	return 0;
}

static void
op_flush(void *ctx)
{
	struct fz *z = ctx;

	z->unflushed = 0;
}

static void
op_event(void *ctx, struct target *t, int ev)
{
	struct fz *z = ctx;

	CHECK(z->in_engine > 0 && z->in_submit == 0);
	CHECK(t != NULL);
	switch (ev) {
	case ENGINE_EV_NEW:
		CHECK(target_state(t) == TARGET_NEW);
		break;
	case ENGINE_EV_UP:
		CHECK(target_state(t) == TARGET_UP);
		CHECK(target_size(t) > 0);
		break;
	case ENGINE_EV_CHANGED:
		break;
	case ENGINE_EV_DEAD:
		CHECK(target_state(t) == TARGET_DEAD);
		break;
	case ENGINE_EV_JUMBO: {
		struct target_info info;

		/*
		 * A path's cap; with one path, lost: 2-sector frames, found
		 * again: no cap.
		 */
		engine_target_info(t, &info);
		CHECK(info.jumbo_caps > 0);
		CHECK(info.jumbo_path < info.npaths);
		CHECK(!info.paths[info.jumbo_path].jumbo_lost ||
		    info.jumbo_lost);
		if (info.npaths == 1)
			CHECK(info.jumbo_lost ? info.sectors_per_frame == 2 :
			    info.sectors_per_frame ==
			    info.sectors_per_frame_full);
		break;
	}
	case ENGINE_EV_CONFLICT:
	case ENGINE_EV_REPLACED:
	case ENGINE_EV_MOVED: {
		/* Another disk at a path (conflict, replaced, moved). */
		struct target_info info;

		engine_target_info(t, &info);
		CHECK(info.conflict_path < info.npaths);
		CHECK(info.conflict_ident.sectors != 0);
		if (ev == ENGINE_EV_MOVED) {
			CHECK(info.moved_path < info.npaths);
			CHECK(info.conflict_ident.sectors == info.ident.sectors);
		}
		break;
	}
	case ENGINE_EV_READ_ONLY: {
		/* Learnt (refused since), retried, or writable again. */
		struct target_info info;

		engine_target_info(t, &info);
		CHECK(!(info.ro_learnt && info.ro_retry));
		CHECK(info.read_only == info.ro_learnt);
		CHECK(!info.ro_learnt || info.ro_refusals > 0);
		CHECK(info.ro_learnt || info.ro_retry ||
		    info.ro_refusals == 0);
		break;
	}
	case ENGINE_EV_RESERVE: {
		/* Held, refused, failed, or released. */
		struct target_info info;

		engine_target_info(t, &info);
		CHECK(info.resv_nmacs <= TARGET_RESV_SHOW);
		CHECK(info.resv_nmacs <= info.resv_total);
		CHECK(info.resv != TARGET_RESV_HELD || info.resv_total > 0);
		if (info.resv == TARGET_RESV_OTHER)
			CHECK(info.resv_rc == -EACCES);
		else if (info.resv == TARGET_RESV_FAILED)
			CHECK(info.resv_rc < 0 && info.resv_rc != -EACCES);
		else
			CHECK(info.resv_rc == 0);
		CHECK(info.resv_want || info.resv == TARGET_RESV_NONE ||
		    info.resv == TARGET_RESV_FAILED);
		break;
	}
	default:
		CHECK(!"unknown event");
	}
}

static const struct engine_ops fz_ops = {
	.send = op_send,
	.flush = op_flush,
	.event = op_event,
};

/* ------------------------------------------------------------ engine calls */

static void
after_call(struct fz *z)
{
	CHECK(z->unflushed == 0);
}

static void
input(struct fz *z, unsigned ifidx, const uint8_t *f, size_t len)
{
	/* an exact-size copy, so that reading past len is caught */
	uint8_t *c = malloc(len ? len : 1);

	CHECK(c != NULL);
	memcpy(c, f, len);
	z->in_engine++;
	engine_input(z->e, ifidx, c, len, z->now);
	z->in_engine--;
	free(c);
	after_call(z);
}

static void
tick(struct fz *z)
{
	uint64_t next;

	z->in_engine++;
	engine_tick(z->e, z->now);
	z->in_engine--;
	after_call(z);
	/* Every timer due has run: the loop must not spin. */
	next = engine_next_timeout(z->e);
	CHECK(next > z->now);
}

static void
check_targets(struct fz *z)
{
	static struct target_info info;
	unsigned inflight = 0;

	for (struct target *t = engine_target_next(z->e, NULL); t;
	    t = engine_target_next(z->e, t)) {
		engine_target_info(t, &info);
		inflight += info.inflight;
		CHECK(info.npaths >= 1 && info.npaths <= ENGINE_MAX_PATHS);
		CHECK(info.window >= 1 && info.window <= info.window_max);
		CHECK(info.sectors_per_frame >= 1 &&
		    info.sectors_per_frame <= 255);
		CHECK(info.state == TARGET_UP || info.inflight == 0);
		CHECK(info.cfg_len <= AOE_CFG_STR_MAX);
		CHECK(info.identified == (info.size > 0));
		CHECK(info.rto_ns > 0);
	}
	CHECK(engine_inflight(z->e) == inflight);
}

/* ------------------------------------------------------------ requests */

static void submit(struct fz *z);

/* ------------------------------------------------------------ shadow */

static bool
bit(const uint8_t *map, uint64_t s)
{
	return map[s / 8] & (1u << (s % 8));
}

static void
bits_set(uint8_t *map, uint64_t s0, uint64_t s1, bool on)
{
	for (uint64_t s = s0; s < s1 && s < FT_SECTORS; s++) {
		if (on)
			map[s / 8] |= (uint8_t)(1u << (s % 8));
		else
			map[s / 8] &= (uint8_t)~(1u << (s % 8));
	}
}

static const uint8_t *
sh_sector(const struct shadow *sh, uint64_t s)
{
	static const uint8_t zero[512];
	const uint8_t *c = sh->chunk[s * 512 / SH_CHUNK];

	return c ? c + s * 512 % SH_CHUNK : zero;
}

static void
sh_write(struct shadow *sh, uint64_t off, const uint8_t *src, size_t len)
{
	while (len > 0) {
		size_t ci = (size_t)(off / SH_CHUNK), co = off % SH_CHUNK;
		size_t n = MIN(len, SH_CHUNK - co);

		if (sh->chunk[ci] == NULL) {
			sh->chunk[ci] = calloc(1, SH_CHUNK);
			CHECK(sh->chunk[ci] != NULL);
		}
		memcpy(sh->chunk[ci] + co, src, n);
		off += n;
		src += n;
		len -= n;
	}
}

static void
data_mismatch(const struct rq *r, const char *what, uint64_t at)
{
	fprintf(stderr, "%s %llu+%zu on e1.%d: byte %llu differs from %s\n",
	    r->kind == K_READ ? "read" : "write", (unsigned long long)r->off,
	    r->len, r->fti, (unsigned long long)at, what);
	CHECK(!"data mismatch");
}

/*
 * A read or write completed without error: what was read is what the
 * shadow holds (where it is known), what was written is on the target.
 */
static void
check_data(struct fz *z, const struct rq *r)
{
	static uint8_t img[512];
	struct shadow *sh;
	uint64_t s0, s1, end = r->off + r->len;

	if (z->tainted || r->fti < 0)
		return;
	sh = &z->sh[r->fti];
	s0 = r->off / 512;
	s1 = (end + 511) / 512;
	/* answered without error, so within the target's real size */
	CHECK(s1 <= FT_SECTORS);
	for (uint64_t s = s0; s < s1; s++) {
		uint64_t a = MAX(s * 512, r->off), b = MIN(s * 512 + 512, end);
		const uint8_t *want = sh_sector(sh, s) + (a - s * 512);
		const uint8_t *got = r->buf + (a - r->off);

		if (r->kind == K_WRITE) {
			CHECK(ft_pread(z->ft[r->fti], img, 512, s * 512) == 0);
			want = img + (a - s * 512);
		} else if (bit(sh->unknown, s)) {
			continue;
		}
		for (uint64_t i = 0; i < b - a; i++)
			if (got[i] != want[i])
				data_mismatch(r, r->kind == K_WRITE ?
				    "the target" : "the shadow", a + i);
	}
	if (r->kind == K_WRITE) {
		sh_write(sh, r->off, r->buf, r->len);
		/* edges of unknown sectors stay unknown */
		bits_set(sh->unknown, (r->off + 511) / 512, end / 512, false);
	}
}

/* After engine_free(): every sector written is as the shadow says. */
static void
check_images(struct fz *z)
{
	static uint8_t img[512];

	if (z->tainted)
		return;
	for (unsigned i = 0; i < MAX_FT; i++) {
		struct shadow *sh = &z->sh[i];

		for (uint64_t s = 0; s < FT_SECTORS; s++) {
			if (!bit(sh->touched, s) || bit(sh->unknown, s))
				continue;
			CHECK(ft_pread(z->ft[i], img, 512, s * 512) == 0);
			if (memcmp(img, sh_sector(sh, s), 512) != 0) {
				fprintf(stderr, "e1.%u sector %llu: the target "
				    "differs from the writes that completed\n",
				    i, (unsigned long long)s);
				CHECK(!"image mismatch");
			}
		}
	}
}

static void
rq_finish(struct fz *z, struct rq *r)
{
	CHECK(r->accepted);
	CHECK(z->in_engine > 0 && z->in_submit == 0);
	CHECK(z->unflushed == 0);
	CHECK(r->calls == 0);
	r->calls++;
	free(r->buf);
	r->buf = NULL;
	if (r->chain)
		submit(z);
}

static void
rq_done(void *arg, int rc)
{
	struct rq *r = arg;

	CHECK(rc <= 0);
	if (rc == 0 && (r->kind == K_READ || r->kind == K_WRITE))
		check_data(r->fz, r);
	if (rc != 0 && r->kind == K_WRITE && r->fti >= 0)
		bits_set(r->fz->sh[r->fti].unknown, r->off / 512,
		    (r->off + r->len + 511) / 512, true);
	rq_finish(r->fz, r);
}

static void
cfg_done(void *arg, int rc, const struct aoe_cfg *c)
{
	struct rq *r = arg;

	CHECK(rc <= 0);
	CHECK(rc != 0 || c != NULL);
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		CHECK(c == NULL);
	if (c)
		CHECK(c->len <= AOE_CFG_STR_MAX);
	rq_finish(r->fz, r);
}

static void
mask_done(void *arg, int rc, const struct aoe_mask *m)
{
	struct rq *r = arg;

	CHECK(rc <= 0);
	CHECK(rc != 0 || m != NULL);
	if (rc == 0)
		CHECK(m->merror == 0);
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		CHECK(m == NULL);
	rq_finish(r->fz, r);
}

static void
resv_done(void *arg, int rc, const struct aoe_resv *v)
{
	struct rq *r = arg;

	CHECK(rc <= 0);
	CHECK(rc != 0 || v != NULL);
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		CHECK(v == NULL);
	rq_finish(r->fz, r);
}

/* One of the fake targets, or any target the engine knows. */
static struct target *
pick_target(struct fz *z)
{
	unsigned b = take(z);
	struct target *t = NULL;

	if (b & 0x80) {
		for (unsigned i = 0; i <= (b & 0x7f); i++) {
			t = engine_target_next(z->e, t);
			if (t == NULL)
				t = engine_target_next(z->e, NULL);
		}
		return t;
	}
	return engine_target_find(z->e, ft_shelf(z->ft[b % MAX_FT]),
	    ft_slot(z->ft[b % MAX_FT]));
}

static void
pick_range(struct fz *z, struct target *t, uint64_t *off, size_t *len)
{
	uint64_t size = t ? target_size(t) : 0;
	unsigned mode = take(z);

	switch (mode & 3) {
	case 0:
		*off = take16(z);
		break;
	case 1:
		*off = take16(z);
		*off = size - MIN(size, *off);
		break;
	case 2:
		*off = take64(z) % (size + 1);
		break;
	default:
		*off = (uint64_t)take16(z) * 512;
		break;
	}
	*len = (size_t)take16(z) + 1;
	if (mode & 4)
		*len = (*len + 511) / 512 * 512;
	if (mode & 8)
		*len %= 4096;
}

static void
pick_mac(struct fz *z, uint8_t mac[6])
{
	unsigned b = take(z) % 4;

	if (b < MAX_IFS)
		memcpy(mac, z->ifmac[b], 6);
	else if (b == 2)
		memcpy(mac, foreign_mac, 6);
	else
		memcpy(mac, ft_mac(z->ft[0]), 6);
}

static void
submit(struct fz *z)
{
	static struct aoe_mask m;
	static struct aoe_resv v;
	uint8_t str[64];
	struct target *t;
	struct rq *r;
	uint64_t off = 0, size, tmo;
	size_t len = 0, slen;
	unsigned b;
	int rc;

	if (z->nrq == MAX_REQS || !more(z))
		return;
	r = &z->rq[z->nrq++];
	memset(r, 0, sizeof(*r));
	r->fz = z;
	b = take(z);
	r->kind = (enum rq_kind)(b % 8 < 2 ? K_READ : b % 8 < 4 ? K_WRITE :
	    b % 8 - 2);
	r->chain = b & 0x80;
	t = pick_target(z);
	r->t = t;
	r->fti = -1;
	for (unsigned i = 0; t != NULL && i < MAX_FT; i++)
		if (engine_target_find(z->e, ft_shelf(z->ft[i]),
		    ft_slot(z->ft[i])) == t)
			r->fti = (int)i;
	tmo = (uint64_t)(take(z) % 16 + 1) * 500 * NSEC_PER_MSEC;
	z->in_submit++;
	switch (r->kind) {
	case K_READ:
	case K_WRITE:
		pick_range(z, t, &off, &len);
		r->off = off;
		r->len = len;
		r->buf = malloc(len ? len : 1);
		CHECK(r->buf != NULL);
		memset(r->buf, (int)(z->nrq & 0xff), len);
		if (r->kind == K_READ)
			rc = engine_read(z->e, t, r->buf, off, len, rq_done, r,
			    z->now);
		else
			rc = engine_write(z->e, t, r->buf, off, len, rq_done,
			    r, z->now);
		break;
	case K_FLUSH:
		rc = engine_flush(z->e, t, rq_done, r, z->now);
		break;
	case K_CFG:
		b = take(z);
		slen = take(z) % 72;
		slen = MIN(slen, sizeof(str));
		for (size_t i = 0; i < slen; i++)
			str[i] = (uint8_t)take(z);
		rc = engine_config(z->e, t, (uint8_t)(b % 6), str, slen, tmo,
		    cfg_done, r, z->now);
		break;
	case K_MASK:
		memset(&m, 0, sizeof(m));
		m.mcmd = (uint8_t)(take(z) % 3);
		m.ndir = (uint8_t)(take(z) % 4);
		for (unsigned i = 0; i < m.ndir; i++) {
			m.dir[i].dcmd = (uint8_t)(take(z) % 4);
			pick_mac(z, m.dir[i].mac);
		}
		rc = engine_mask(z->e, t, &m, tmo, mask_done, r, z->now);
		break;
	default:
		memset(&v, 0, sizeof(v));
		v.rcmd = (uint8_t)(take(z) % 4);
		v.nmacs = (uint8_t)(take(z) % 4);
		for (unsigned i = 0; i < v.nmacs; i++)
			pick_mac(z, v.macs[i]);
		rc = engine_reserve(z->e, t, &v, tmo, resv_done, r, z->now);
		break;
	}
	z->in_submit--;
	after_call(z);
	CHECK(r->calls == 0);
	CHECK(rc <= 0);
	if (z->freeing && rc == 0) {
		/* engine_free() runs the last callbacks: nothing new starts */
		fprintf(stderr, "request kind %d accepted from a callback "
		    "run by engine_free()\n", (int)r->kind);
		CHECK(!"request accepted during engine_free");
	}
	if (rc == 0) {
		r->accepted = true;
		if (r->kind == K_WRITE && r->fti >= 0)
			bits_set(z->sh[r->fti].touched, off / 512,
			    (off + len + 511) / 512, true);
		return;
	}
	free(r->buf);
	r->buf = NULL;
	/* A valid request to a usable target is accepted. */
	if ((r->kind == K_READ || r->kind == K_WRITE) && t != NULL &&
	    !z->freeing && target_state(t) == TARGET_UP) {
		size = target_size(t);
		if (len > 0 && off <= size && len <= size - off &&
		    (r->kind == K_READ || !target_read_only(t)) &&
		    rc != -ENOMEM) {
			fprintf(stderr, "%s %llu+%zu of %llu refused: %d\n",
			    r->kind == K_READ ? "read" : "write",
			    (unsigned long long)off, len,
			    (unsigned long long)size, rc);
			CHECK(!"valid request refused");
		}
	}
}

/* ------------------------------------------------------------ script */

/* The fake targets answer a frame on the wire; answers go to the engine. */
static void
deliver(struct fz *z, unsigned k, unsigned mode)
{
	static uint8_t rsp[FRAME_CAP];
	static struct wframe w;
	unsigned ifidx;

	if (z->nwire == 0)
		return;
	k %= z->nwire;
	/* a copy: the engine may queue new frames while answers go in */
	w = wire[z->order[k]];
	wire_remove(z, k);
	if (w.len > 27 && w.data[19] == AOE_CMD_ATA &&
	    (w.data[24] & AOE_AFLAG_WRITE) &&
	    z->now - w.sent > 40 * NSEC_PER_MSEC)
		z->tainted = true;
	for (unsigned i = 0; i < MAX_FT; i++) {
		size_t rl;

		if (!(z->ft_ifs[i] & (1u << w.ifidx)))
			continue;
		if (!mac_is_broadcast(w.data) &&
		    memcmp(w.data, ft_mac(z->ft[i]), 6) != 0)
			continue;
		rl = ft_handle(z->ft[i], w.data, w.len, rsp, sizeof(rsp));
		if (rl == 0)
			continue;
		ifidx = w.ifidx;
		if (mode & 1) {
			unsigned pos = take16(z);
			uint8_t x = (uint8_t)take(z);

			rsp[pos % rl] ^= x;
			z->tainted |= x != 0;
		}
		if (mode & 2)
			rl = take16(z) % (rl + 1);
		if (mode & 4)
			ifidx = (w.ifidx + 1) % MAX_IFS;
		memcpy(replay[z->replay_pos], rsp, rl);
		z->replay_len[z->replay_pos] = rl;
		z->replay_pos = (z->replay_pos + 1) % REPLAY_MAX;
		if (z->nreplay < REPLAY_MAX)
			z->nreplay++;
		/* the engine may send (and so queue) from here on */
		input(z, ifidx, rsp, rl);
		if (mode & 8)
			input(z, ifidx, rsp, rl);
	}
}

/*
 * A frame from the input.  With a header patch, the first bytes come from a
 * recent request turned into an answer (addresses swapped, R set, same
 * shelf, slot, command and tag) and the input supplies the rest.
 */
static void
raw_frame(struct fz *z)
{
	unsigned flags = take(z);
	size_t len = take16(z), hl = 0;
	uint8_t *f = scratch;
	unsigned ifidx = flags >> 6;

	if ((flags & 1) && z->nring > 0) {
		unsigned rb = take(z);
		const struct sent *s = &z->ring[(rb & 0x7f) % z->nring];

		memcpy(f, s->hdr, AOE_HDR_LEN);
		memcpy(f, s->hdr + 6, 6);
		if (mac_is_broadcast(s->hdr))
			memcpy(f + 6, ft_mac(z->ft[rb >> 7]), 6);
		else
			memcpy(f + 6, s->hdr, 6);
		f[14] = (uint8_t)(AOE_VERSION << 4 | AOE_FLAG_RSP);
		if (flags & 2) {
			f[14] |= AOE_FLAG_ERR;
			f[15] = (uint8_t)take(z);
		}
		if (flags & 4)
			f[14] = (uint8_t)take(z);
		if (flags & 8)
			f[23] = (uint8_t)take(z); /* a near miss of the tag */
		hl = AOE_HDR_LEN;
		if (ifidx == 0)
			ifidx = s->ifidx;
		else if (ifidx == 1)
			ifidx = (s->ifidx + 1) % MAX_IFS;
	} else if (ifidx == 1) {
		ifidx = 0;
	}
	z->tainted = true;
	len = MIN(len, z->inlen - z->pos);
	len = MIN(len, sizeof(scratch) - hl);
	memcpy(f + hl, z->in + z->pos, len);
	z->pos += len;
	input(z, ifidx, f, hl + len);
}

static void
clock_step(struct fz *z)
{
	static const uint64_t scale[8] = {
		0, 1000, NSEC_PER_MSEC, 10 * NSEC_PER_MSEC,
		100 * NSEC_PER_MSEC, NSEC_PER_SEC, 10 * NSEC_PER_SEC,
		100 * NSEC_PER_SEC,
	};
	unsigned b = take(z);

	z->now += scale[b & 7] * ((b >> 3) + 1);
	tick(z);
}

static void
clock_next(struct fz *z)
{
	uint64_t next = engine_next_timeout(z->e);

	if (next != UINT64_MAX && next > z->now)
		z->now = next;
	tick(z);
}

static void
replay_old(struct fz *z)
{
	unsigned k;

	if (z->nreplay == 0)
		return;
	k = take(z) % z->nreplay;
	memcpy(scratch, replay[k], z->replay_len[k]);
	input(z, take(z) % MAX_IFS, scratch, z->replay_len[k]);
}

/* Change a fake target, as a real one may change under us. */
/*
 * --reserve: hold a target, release them all, or have its list taken by
 * another host or cleared (by an admin).
 */
static void
resv_knob(struct fz *z, struct faketarget *ft, unsigned v)
{
	static const uint8_t other[1][6] = { { 0x02, 0x77, 0, 0, 0, 9 } };
	struct target *t;
	unsigned k;

	switch (v & 3) {
	case 0:
		t = pick_target(z);
		if (t == NULL)
			break;
		z->in_engine++;
		engine_reserve_hold(z->e, t, z->now);
		z->in_engine--;
		after_call(z);
		break;
	case 1:
		ft_resv_set(ft, other, 1);
		break;
	case 2:
		ft_resv_set(ft, NULL, 0);
		break;
	default:
		z->in_engine++;
		k = engine_reserve_release(z->e, z->now);
		z->in_engine--;
		after_call(z);
		CHECK(k == engine_releasing(z->e));
		break;
	}
}

static void
knob(struct fz *z)
{
	static const uint64_t sizes[] = {
		0, 2048, 1ULL << 32, (1ULL << 28) + 5, 1, 1ULL << 28,
	};
	static uint8_t adv[AOE_CFG_HDR_LEN + 1024];
	unsigned b = take(z), v = take(z);
	struct faketarget *ft = z->ft[b & 1];
	size_t n;

	switch ((b >> 1) % 8) {
	case 0:
		ft_set_ident_sectors(ft, sizes[v % ARRAY_SIZE(sizes)]);
		break;
	case 1:
		ft_set_read_only(ft, v & 1);
		break;
	case 2:
		ft_set_silent(ft, v == 0xff ? FT_SILENT_ALL : v & 0x0f);
		break;
	case 3:
		if (v & 1)
			ft_fail_lba(ft, take16(z), (uint8_t)take(z));
		else
			ft_fail_clear(ft);
		break;
	case 4:
		ft_set_bufcnt(ft, (uint16_t)(v % 40));
		break;
	case 5:
		if (v & 0x80)
			ft_set_accept_scnt(ft, (uint8_t)(v % 20));
		else
			ft_set_scnt(ft, (uint8_t)(v % 20));
		break;
	case 6:
		if (v & 0x80)
			ft_set_w83(ft, (uint16_t)take16(z));
		else
			ft_set_flush_ext(ft, v & 1);
		break;
	default:
		if (b & 0x80) {
			resv_knob(z, ft, v);
			break;
		}
		/* an unsolicited advert with the current settings */
		n = ft_advert(ft, adv, sizeof(adv));
		if (n > 0)
			input(z, v % z->nifs, adv, n);
		break;
	}
}

static void
set_mtu(struct fz *z)
{
	static const unsigned mtus[] = { 1500, 9000, 1024, 576, 4000, 2048 };
	unsigned b = take(z), i = b % z->nifs;

	z->ifmtu[i] = mtus[(b >> 1) % ARRAY_SIZE(mtus)];
	z->in_engine++;
	engine_set_mtu(z->e, i, z->ifmtu[i]);
	z->in_engine--;
	after_call(z);
}

static void
deliver_all(struct fz *z, unsigned max)
{
	while (z->nwire > 0 && max-- > 0)
		deliver(z, 0, 0);
}

/* ------------------------------------------------------------ set-up */

static struct fz *
fz_new(const uint8_t *data, size_t size)
{
	struct engine_config cfg;
	struct fz *z = calloc(1, sizeof(*z));
	unsigned c0, c1, c2, c3;

	CHECK(z != NULL);
	z->in = data;
	z->inlen = size;
	z->now = T0;
	c0 = take(z);
	c1 = take(z);
	c2 = take(z);
	c3 = take(z);

	engine_config_default(&cfg);
	cfg.read_only = c0 & 0x01;
	if (c0 & 0x10)
		cfg.max_window = c1 % 40 + 1;
	if (c0 & 0x20)
		cfg.max_sectors = c2 % 20 + 1;
	if (c0 & 0x40)
		cfg.dead_ns = (c1 % 16 + 1) * NSEC_PER_SEC;
	if (c0 & 0x80)
		cfg.discover_ns = 0;
	if (c0 & 0x04)
		cfg.ro_retry_ns = (c3 / 16 % 4) * NSEC_PER_SEC; /* 0: never */
	z->e = engine_new(&cfg, &fz_ops, z);
	CHECK(z->e != NULL);

	z->nifs = c0 & 0x02 ? 2 : 1;
	for (unsigned i = 0; i < z->nifs; i++) {
		char name[16];

		snprintf(name, sizeof(name), "fz%u", i);
		memcpy(z->ifmac[i], (const uint8_t[6]){ 0x02, 0x11, 0x22,
		    0x33, 0x44, (uint8_t)i }, 6);
		z->ifmtu[i] = i == 0 && (c0 & 0x08) ? 9000 : 1500;
		CHECK(engine_add_interface(z->e, name, z->ifmac[i],
		    z->ifmtu[i]) == (int)i);
	}

	for (unsigned i = 0; i < MAX_FT; i++) {
		uint8_t mac[6] = { 0x02, 0xaa, 0x00, 0x00, 0x01, (uint8_t)i };
		struct faketarget *ft = ft_new(1, (uint8_t)i, mac, FT_SECTORS);

		CHECK(ft != NULL);
		z->ft[i] = ft;
		/* the second target is on every interface: two paths */
		z->ft_ifs[i] = i == 0 ? 1u : (1u << z->nifs) - 1;
		ft_set_bufcnt(ft, (uint16_t)(c3 % 16 + 1 + 8 * i));
		if (c3 & 0x80)
			ft_set_mtu(ft, 9000);
	}
	/* e1.0: LBA28, FLUSH CACHE only or no flush at all. */
	if (c3 & 0x10)
		ft_set_w83(z->ft[0], 0x4000);
	if (c3 & 0x20)
		ft_set_read_only(z->ft[0], true);
	/* e1.1: LBA48 and larger than it is (IDNF past 2 MiB), FLUSH EXT. */
	ft_set_ident_sectors(z->ft[1], 1ULL << 32);
	ft_set_flush_ext(z->ft[1], c3 & 0x40);
	return z;
}

static void
fz_up(struct fz *z)
{
	z->in_engine++;
	engine_discover(z->e, AOE_SHELF_ANY, AOE_SLOT_ANY, z->now);
	z->in_engine--;
	after_call(z);
	for (unsigned i = 0; i < 16 && z->nwire > 0; i++) {
		z->now += 100 * 1000;
		deliver(z, 0, 0);
	}
}

/* A few requests in flight before the script starts. */
static void
fz_start_io(struct fz *z)
{
	static const uint8_t init[] = {
		/* kind, target, timeout, then the kind's own bytes */
		0, 0, 0, 0, 0x00, 0x00, 0x0f, 0xff,     /* read 4 KiB at 0 */
		2, 0, 0, 0, 0x02, 0xbc, 0x03, 0xe7,     /* write 1000 at 700 */
		2, 1, 0, 3, 0x00, 0x20, 0x1f, 0xff,     /* write 8 KiB, 16 K */
		0, 0, 0, 1, 0x03, 0x00, 0x02, 0xff,     /* read the last 768 */
		4, 1, 0,                                /* flush */
		4, 0, 0,                                /* flush */
		5, 0, 3, 0, 0,                          /* config read */
		6, 0, 3, 0, 0,                          /* mask read */
		7, 1, 3, 0, 0,                          /* reserve read */
	};
	const uint8_t *in = z->in;
	size_t inlen = z->inlen, pos = z->pos;

	z->in = init;
	z->inlen = sizeof(init);
	z->pos = 0;
	while (more(z))
		submit(z);
	z->in = in;
	z->inlen = inlen;
	z->pos = pos;
}

static void
fz_free(struct fz *z)
{
	z->freeing = true;
	/* callbacks that submit again read the input once more */
	z->pos = 0;
	z->in_engine++;
	engine_free(z->e);
	z->in_engine--;
	CHECK(z->unflushed == 0);
	for (unsigned i = 0; i < z->nrq; i++) {
		/* exactly once for every accepted request, never otherwise */
		CHECK(z->rq[i].calls == (z->rq[i].accepted ? 1u : 0u));
		CHECK(z->rq[i].buf == NULL);
	}
	check_images(z);
	for (unsigned i = 0; i < MAX_FT; i++) {
		ft_free(z->ft[i]);
		for (unsigned c = 0; c < SH_NCHUNKS; c++)
			free(z->sh[i].chunk[c]);
	}
	free(z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *z = fz_new(data, size);

	fz_up(z);
	fz_start_io(z);
	check_targets(z);
	while (more(z)) {
		unsigned op = take(z);

		/* low nibble: the operation; high nibble: its parameter */
		switch (op & 0x0f) {
		case 0:
		case 1:
		case 12:
			deliver(z, take(z), op >> 4);
			break;
		case 2:
		case 13:
			raw_frame(z);
			break;
		case 3:
			clock_step(z);
			break;
		case 4:
			clock_next(z);
			break;
		case 5:
		case 14:
			submit(z);
			break;
		case 6:
		case 15:
			deliver_all(z, op >> 4);
			break;
		case 7:
			if (z->nwire > 0)
				wire_remove(z, take(z) % z->nwire);
			break;
		case 8:
			replay_old(z);
			break;
		case 9:
			z->now += (uint64_t)take(z) * NSEC_PER_MSEC;
			deliver(z, take(z), 0);
			break;
		case 10:
			knob(z);
			break;
		default:
			set_mtu(z);
			break;
		}
		check_targets(z);
	}
	fz_free(z);
	return 0;
}
