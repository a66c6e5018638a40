/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the engine (src/engine.h), driven on a fake link and a fake
 * clock: frames the engine sends go through a simulated wire with seeded
 * loss, duplication, delay and reordering to in-memory vblade-like targets
 * (faketarget.c), and back.  No sockets, no sleeping.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "engine.h"
#include "faketarget.h"
#include "util.h"

#define MAX_IFS 2
#define MAX_TGTS 8
#define MAX_EVENTS 256
#define MAX_OUT 1024
#define MAX_HOLDS 4096
#define FRAME_CAP 9216
#define T0 (1000 * NSEC_PER_SEC)
#define USEC 1000ULL

/* ---------------------------------------------------------------- wire */

struct wframe {
	uint64_t t;             /* delivery time */
	uint64_t seq;           /* FIFO among equal times */
	unsigned ifidx;
	bool to_engine;
	size_t len;
	uint8_t *data;
};

struct sent_rec {
	uint64_t t;
	unsigned ifidx;
	size_t len;
	uint8_t hdr[AOE_ATA_HDR_LEN];
};

struct ev_rec {
	struct target *t;
	int ev;
	uint64_t time;
};

/* An ATA frame on the wire whose response has not reached the engine. */
struct out_frame {
	uint32_t tag;
	unsigned tgt;
	uint64_t lba;
	unsigned cnt;
	bool write;
	bool rw;
};

struct net;
typedef void (*net_hook)(struct net *n, unsigned ifidx, const uint8_t *f,
    size_t len);

struct net {
	struct engine *e;
	struct engine_config cfg;
	uint64_t now;
	uint64_t rng;

	unsigned nifs;
	uint8_t ifmac[MAX_IFS][6];
	unsigned ifmtu[MAX_IFS];

	struct faketarget *tgt[MAX_TGTS];
	unsigned tgt_ifs[MAX_TGTS];
	unsigned ntgts;

	struct wframe *q;
	size_t qn, qcap;
	uint64_t qseq;
	uint64_t last_req_t[MAX_IFS];

	/* knobs: probabilities in per mille */
	unsigned drop_req, drop_rsp, dup_req, dup_rsp;
	uint64_t delay_ns;          /* one way */
	uint64_t jitter_req_ns;     /* non-zero reorders requests */
	uint64_t jitter_rsp_ns;     /* reorders responses */
	unsigned late_rsp;          /* responses held back by late_ns */
	unsigned late_req;          /* requests held back by late_ns */
	uint64_t late_ns;
	/*
	 * Every stall_every_ns the path stalls for stall_ns: answers due in
	 * a stall all arrive as it ends, in order (a descheduled VM).
	 */
	uint64_t stall_every_ns, stall_ns;
	unsigned foreign;           /* responses preceded by a foreign copy */
	unsigned down_ifs;          /* bit per interface: drops everything */
	uint64_t foreign_injected;

	/* hooks */
	net_hook on_send;           /* every frame the engine sends */
	net_hook on_rsp;            /* a target's reply, before the engine */
	void (*on_step)(struct net *n);
	void *hook_arg;

	/* records */
	struct sent_rec *log;
	size_t logn, logcap;
	struct ev_rec ev[MAX_EVENTS];
	unsigned nev;
	uint64_t sends, dropped_req, dropped_rsp;
	bool refuse_big;            /* frames over our MTU: refused (sent,
				       -EMSGSIZE) or dropped (received) */
	uint64_t refused_big;
	size_t drop_over;           /* frames longer: lost on the way (a
				       switch with a smaller MTU); 0 = none */
	unsigned drop_over_ifs;     /* ... bit per interface; 0 = all */
	uint64_t dropped_over;
	unsigned unflushed;
	unsigned in_engine, in_submit;
	unsigned done_seq;

	/* ATA frames outstanding on the wire (valid without loss) */
	struct out_frame out[MAX_OUT];
	unsigned nout;
	unsigned out_per_tgt[MAX_TGTS], out_max[MAX_TGTS];
	bool track;                 /* keep out[]: only without loss */
	bool check_overlap;
	unsigned overlap_violations;
	char overlap_msg[160];

	/*
	 * Zero-copy reads (net_new_zc): the frame being delivered, which
	 * hold() may take from the wire (then freed by release or eviction).
	 */
	const uint8_t *zcur;
	bool zcur_taken;
	bool zrefuse;               /* hold() says no */
	struct zhold {
		uint8_t *frame;
		void (*evict)(void *owner, unsigned idx);
		void *owner;
		unsigned idx;
		bool live;
	} zh[MAX_HOLDS];
	unsigned zlive, zholds, zreleases, zevicted;
	unsigned zasked;            /* hold() calls, refused or not */
};

static uint64_t
rnd(struct net *n)
{
	/* xorshift64* */
	n->rng ^= n->rng >> 12;
	n->rng ^= n->rng << 25;
	n->rng ^= n->rng >> 27;
	return n->rng * 0x2545f4914f6cdd1dULL;
}

static bool
chance(struct net *n, unsigned per_mille)
{
	return per_mille && rnd(n) % 1000 < per_mille;
}

static uint64_t
rnd_below(struct net *n, uint64_t bound)
{
	return bound ? rnd(n) % bound : 0;
}

static void
q_push(struct net *n, uint64_t t, unsigned ifidx, bool to_engine,
    const uint8_t *data, size_t len)
{
	struct wframe *w;

	if (n->qn == n->qcap) {
		n->qcap = n->qcap ? 2 * n->qcap : 256;
		n->q = realloc(n->q, n->qcap * sizeof(*n->q));
		cr_assert_not_null(n->q);
	}
	w = &n->q[n->qn++];
	w->t = t;
	w->seq = n->qseq++;
	w->ifidx = ifidx;
	w->to_engine = to_engine;
	w->len = len;
	w->data = malloc(len ? len : 1);
	cr_assert_not_null(w->data);
	memcpy(w->data, data, len);
}

static size_t
q_min(const struct net *n)
{
	size_t best = SIZE_MAX;

	for (size_t i = 0; i < n->qn; i++) {
		if (best == SIZE_MAX || n->q[i].t < n->q[best].t ||
		    (n->q[i].t == n->q[best].t &&
		    n->q[i].seq < n->q[best].seq))
			best = i;
	}
	return best;
}

static void
q_clear(struct net *n)
{
	for (size_t i = 0; i < n->qn; i++)
		free(n->q[i].data);
	n->qn = 0;
}

static bool
mac_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 6) == 0;
}

static bool
mac_bcast(const uint8_t *a)
{
	static const uint8_t b[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	return mac_eq(a, b);
}

static int
tgt_by_mac(const struct net *n, const uint8_t *mac)
{
	for (unsigned i = 0; i < n->ntgts; i++)
		if (mac_eq(ft_mac(n->tgt[i]), mac))
			return (int)i;
	return -1;
}

static bool
is_ata(const uint8_t *f, size_t len)
{
	return len >= AOE_ATA_HDR_LEN && get_be16(f + 12) == AOE_ETHERTYPE &&
	    f[19] == AOE_CMD_ATA;
}

static bool
ata_is_rw(uint8_t cmd, bool *write)
{
	switch (cmd) {
	case ATA_CMD_READ:
	case ATA_CMD_READ_EXT:
		*write = false;
		return true;
	case ATA_CMD_WRITE:
	case ATA_CMD_WRITE_EXT:
		*write = true;
		return true;
	default:
		*write = false;
		return false;
	}
}

static uint64_t
frame_lba(const uint8_t *f)
{
	uint64_t lba = get_le48(f + 28);

	if (!(f[24] & AOE_AFLAG_EXT))
		lba &= 0x0fffffffULL;
	return lba;
}

/* Outstanding ATA frames, for the window and overlap checks. */
static void
out_add(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	int ti = tgt_by_mac(n, f);
	struct out_frame o;

	(void)ifidx;
	(void)len;
	if (ti < 0)
		return;
	o.tag = get_be32(f + 20);
	o.tgt = (unsigned)ti;
	o.lba = frame_lba(f);
	o.cnt = f[26];
	o.rw = ata_is_rw(f[27], &o.write);
	if (n->check_overlap && o.rw) {
		for (unsigned i = 0; i < n->nout; i++) {
			const struct out_frame *p = &n->out[i];

			if (!p->rw || p->tgt != o.tgt)
				continue;
			if (p->lba >= o.lba + o.cnt || o.lba >= p->lba + p->cnt)
				continue;
			if (!p->write && !o.write)
				continue;
			/* a resend of the same frame is not a new overlap */
			if (p->lba == o.lba && p->cnt == o.cnt &&
			    p->write == o.write)
				continue;
			if (n->overlap_violations++ == 0)
				snprintf(n->overlap_msg, sizeof(n->overlap_msg),
				    "%s lba %" PRIu64 "+%u sent while %s lba %"
				    PRIu64 "+%u in flight",
				    o.write ? "write" : "read", o.lba, o.cnt,
				    p->write ? "write" : "read", p->lba,
				    p->cnt);
		}
	}
	cr_assert_lt(n->nout, MAX_OUT, "too many outstanding frames");
	n->out[n->nout++] = o;
	n->out_per_tgt[ti]++;
	if (n->out_per_tgt[ti] > n->out_max[ti])
		n->out_max[ti] = n->out_per_tgt[ti];
}

static void
out_del(struct net *n, const uint8_t *f)
{
	uint32_t tag = get_be32(f + 20);
	int ti = tgt_by_mac(n, f + 6);

	for (unsigned i = 0; i < n->nout; i++) {
		if (n->out[i].tag == tag && (int)n->out[i].tgt == ti) {
			n->out_per_tgt[ti]--;
			n->out[i] = n->out[--n->nout];
			return;
		}
	}
}

/* ---------------------------------------------------------------- ops */

/* A frame of len bytes on interface ifidx that the switch loses (drop_over). */
static bool
over_lost(const struct net *n, unsigned ifidx, size_t len)
{
	return n->drop_over && len > n->drop_over &&
	    (n->drop_over_ifs == 0 || (n->drop_over_ifs & (1u << ifidx)));
}

static int
op_send(void *ctx, unsigned ifidx, const struct iovec *iov, unsigned iovcnt)
{
	struct net *n = ctx;
	uint8_t f[FRAME_CAP];
	size_t len = 0;
	uint64_t t;
	struct sent_rec *s;

	cr_assert_lt(ifidx, n->nifs, "send on unknown interface %u", ifidx);
	for (unsigned i = 0; i < iovcnt; i++) {
		cr_assert_leq(len + iov[i].iov_len, sizeof(f));
		memcpy(f + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	/* every request: padded, ours, AoE v1, R clear, tag bit 31 */
	cr_assert_geq(len, (size_t)AOE_MIN_FRAME, "request of %zu bytes", len);
	if (n->refuse_big && len > (size_t)n->ifmtu[ifidx] + 14) {
		/* As the kernel: too large for the interface, not sent. */
		n->refused_big++;
		return -EMSGSIZE;
	}
	cr_assert_leq(len, (size_t)n->ifmtu[ifidx] + 14,
	    "frame of %zu bytes on MTU %u", len, n->ifmtu[ifidx]);
	if (over_lost(n, ifidx, len)) {
		n->dropped_over++;
		return 0; /* sent, and lost on the way */
	}
	cr_assert_eq(get_be16(f + 12), AOE_ETHERTYPE);
	cr_assert(mac_eq(f + 6, n->ifmac[ifidx]), "wrong source MAC");
	cr_assert_eq(f[14] >> 4, AOE_VERSION);
	cr_assert_eq(f[14] & AOE_FLAG_RSP, 0, "request with R set");
	cr_assert(get_be32(f + 20) & AOE_TAG_USER, "tag %08x without bit 31",
	    get_be32(f + 20));

	n->sends++;
	n->unflushed++;
	if (n->logn == n->logcap) {
		n->logcap = n->logcap ? 2 * n->logcap : 1024;
		n->log = realloc(n->log, n->logcap * sizeof(*n->log));
		cr_assert_not_null(n->log);
	}
	s = &n->log[n->logn++];
	s->t = n->now;
	s->ifidx = ifidx;
	s->len = len;
	memcpy(s->hdr, f, sizeof(s->hdr));
	if (n->track && is_ata(f, len))
		out_add(n, ifidx, f, len);
	if (n->on_send)
		n->on_send(n, ifidx, f, len);

	if ((n->down_ifs & (1u << ifidx)) || chance(n, n->drop_req)) {
		n->dropped_req++;
		return 0;
	}
	t = n->now + n->delay_ns + rnd_below(n, n->jitter_req_ns);
	if (chance(n, n->late_req)) {
		t += n->late_ns;
	} else if (!n->jitter_req_ns) {
		/* a FIFO link */
		if (t < n->last_req_t[ifidx])
			t = n->last_req_t[ifidx];
		n->last_req_t[ifidx] = t;
	}
	q_push(n, t, ifidx, false, f, len);
	if (chance(n, n->dup_req))
		q_push(n, t, ifidx, false, f, len);
	return 0;
}

static void
op_flush(void *ctx)
{
	struct net *n = ctx;

	n->unflushed = 0;
}

static void
op_event(void *ctx, struct target *t, int ev)
{
	struct net *n = ctx;

	cr_assert_lt(n->nev, MAX_EVENTS);
	n->ev[n->nev++] = (struct ev_rec){ .t = t, .ev = ev, .time = n->now };
}

static const struct engine_ops fake_ops = {
	.send = op_send,
	.flush = op_flush,
	.event = op_event,
};

/* A link that keeps frames: the one being delivered, taken off the wire. */
static int
op_hold(void *ctx, unsigned ifidx, const uint8_t *frame,
    void (*evict)(void *owner, unsigned idx), void *owner, unsigned idx)
{
	struct net *n = ctx;
	unsigned h;

	cr_assert_lt(ifidx, n->nifs);
	cr_assert(n->in_engine, "hold outside engine input");
	cr_assert_eq(frame, n->zcur, "hold of a frame not being delivered");
	cr_assert(!n->zcur_taken, "the same frame held twice");
	n->zasked++;
	if (n->zrefuse)
		return -1;
	for (h = 0; h < MAX_HOLDS && n->zh[h].live; h++)
		;
	cr_assert_lt(h, MAX_HOLDS);
	n->zh[h] = (struct zhold){
		.frame = (uint8_t *)(uintptr_t)frame,
		.evict = evict,
		.owner = owner,
		.idx = idx,
		.live = true,
	};
	n->zcur_taken = true;
	n->zlive++;
	n->zholds++;
	return (int)h;
}

static void
zhold_drop(struct net *n, unsigned h)
{
	/* Scribbled on first: a reader of a given-back frame sees junk. */
	memset(n->zh[h].frame, 0xee, AOE_ATA_HDR_LEN);
	free(n->zh[h].frame);
	n->zh[h].live = false;
	n->zlive--;
}

static void
op_release(void *ctx, unsigned ifidx, int handle)
{
	struct net *n = ctx;

	cr_assert_lt(ifidx, n->nifs);
	cr_assert(handle >= 0 && handle < MAX_HOLDS && n->zh[handle].live,
	    "release of handle %d, not held", handle);
	n->zreleases++;
	zhold_drop(n, (unsigned)handle);
}

/* The link wants hold h back, as its ring would. */
static void
net_evict(struct net *n, unsigned h)
{
	cr_assert(n->zh[h].live);
	n->zh[h].live = false; /* the handle is gone before the call */
	n->zh[h].evict(n->zh[h].owner, n->zh[h].idx);
	n->zh[h].live = true;
	n->zevicted++;
	zhold_drop(n, h);
}

static const struct engine_ops fake_zc_ops = {
	.send = op_send,
	.flush = op_flush,
	.event = op_event,
	.hold = op_hold,
	.release = op_release,
};

/* ---------------------------------------------------------------- net */

static void
check_flushed(const struct net *n, const char *what)
{
	cr_assert_eq(n->unflushed, 0, "%s returned with %u frames not flushed",
	    what, n->unflushed);
}

static struct net *
net_new_ops(const struct engine_config *cfg, unsigned nifs, unsigned mtu0,
    unsigned mtu1, uint64_t seed, const struct engine_ops *ops)
{
	struct net *n = calloc(1, sizeof(*n));
	const char *env = getenv("UNIT_SEED");

	cr_assert_not_null(n);
	if (cfg)
		n->cfg = *cfg;
	else
		engine_config_default(&n->cfg);
	n->now = T0;
	n->rng = (env ? strtoull(env, NULL, 0) : 0) ^ seed ^
	    0x9e3779b97f4a7c15ULL;
	if (n->rng == 0)
		n->rng = 1;
	n->delay_ns = 100 * USEC;
	n->e = engine_new(&n->cfg, ops, n);
	cr_assert_not_null(n->e, "engine_new failed");
	n->nifs = nifs;
	for (unsigned i = 0; i < nifs; i++) {
		char name[16];
		int rc;

		snprintf(name, sizeof(name), "fake%u", i);
		memcpy(n->ifmac[i], (uint8_t[6]){ 0x02, 0x11, 0x22, 0x33,
		    0x44, (uint8_t)i }, 6);
		n->ifmtu[i] = i == 0 ? mtu0 : mtu1;
		rc = engine_add_interface(n->e, name, n->ifmac[i], n->ifmtu[i]);
		cr_assert_eq(rc, (int)i, "engine_add_interface: %d", rc);
		cr_assert_str_eq(engine_interface_name(n->e, i), name);
	}
	return n;
}

static struct net *
net_new(const struct engine_config *cfg, unsigned nifs, unsigned mtu0,
    unsigned mtu1, uint64_t seed)
{
	return net_new_ops(cfg, nifs, mtu0, mtu1, seed, &fake_ops);
}

static void
net_free(struct net *n)
{
	if (n == NULL)
		return;
	if (n->e) {
		n->in_engine++;
		engine_free(n->e);
		n->in_engine--;
	}
	cr_assert_eq(n->zlive, 0, "%u frames still held after engine_free",
	    n->zlive);
	for (unsigned i = 0; i < n->ntgts; i++)
		ft_free(n->tgt[i]);
	q_clear(n);
	free(n->q);
	free(n->log);
	free(n);
}

static struct faketarget *
net_add_target(struct net *n, uint16_t shelf, uint8_t slot, uint64_t sectors,
    unsigned ifmask)
{
	uint8_t mac[6] = { 0x02, 0xaa, 0x00, (uint8_t)(shelf >> 8),
		(uint8_t)shelf, slot };
	struct faketarget *ft;

	cr_assert_lt(n->ntgts, MAX_TGTS);
	ft = ft_new(shelf, slot, mac, sectors);
	cr_assert_not_null(ft);
	n->tgt[n->ntgts] = ft;
	n->tgt_ifs[n->ntgts] = ifmask;
	n->ntgts++;
	return ft;
}

/* Queue a frame to the engine as if a target had sent it. */
static void
net_inject(struct net *n, unsigned ifidx, const uint8_t *f, size_t len,
    uint64_t delay)
{
	q_push(n, n->now + delay, ifidx, true, f, len);
}

/* engine_input with the bookkeeping every delivery needs. */
static void
net_input(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	n->in_engine++;
	engine_input(n->e, ifidx, f, len, n->now);
	n->in_engine--;
	check_flushed(n, "engine_input");
}

static void
deliver_to_targets(struct net *n, const struct wframe *w)
{
	uint8_t rsp[FRAME_CAP];

	for (unsigned i = 0; i < n->ntgts; i++) {
		size_t rl;
		uint64_t t;

		if (!(n->tgt_ifs[i] & (1u << w->ifidx)))
			continue;
		if (!mac_bcast(w->data) && !mac_eq(w->data, ft_mac(n->tgt[i])))
			continue;
		rl = ft_handle(n->tgt[i], w->data, w->len, rsp, sizeof(rsp));
		if (rl == 0)
			continue;
		if (chance(n, n->drop_rsp)) {
			n->dropped_rsp++;
			continue;
		}
		t = n->now + n->delay_ns + rnd_below(n, n->jitter_rsp_ns);
		if (chance(n, n->late_rsp))
			t += n->late_ns;
		if (n->stall_every_ns != 0 &&
		    t % n->stall_every_ns < n->stall_ns)
			t += n->stall_ns - t % n->stall_every_ns;
		q_push(n, t, w->ifidx, true, rsp, rl);
		if (chance(n, n->dup_rsp))
			q_push(n, t + rnd_below(n, n->jitter_rsp_ns), w->ifidx,
			    true, rsp, rl);
	}
}

static void
deliver_to_engine(struct net *n, const struct wframe *w)
{
	if (n->refuse_big && w->len > (size_t)n->ifmtu[w->ifidx] + 14) {
		/* Larger than our interface takes now: dropped on arrival. */
		n->refused_big++;
		return;
	}
	if (over_lost(n, w->ifidx, w->len)) {
		n->dropped_over++;
		return;
	}
	if (n->track && is_ata(w->data, w->len) &&
	    (w->data[14] & AOE_FLAG_RSP))
		out_del(n, w->data);
	if (n->on_rsp)
		n->on_rsp(n, w->ifidx, w->data, w->len);
	if (n->foreign && w->len >= AOE_HDR_LEN && chance(n, n->foreign)) {
		uint8_t *c = malloc(w->len);

		cr_assert_not_null(c);
		memcpy(c, w->data, w->len);
		memcpy(c + 6, (uint8_t[6]){ 0x02, 0xf0, 0xf0, 0, 0, 1 }, 6);
		for (size_t i = AOE_HDR_LEN; i < w->len; i++)
			c[i] ^= 0x5a;
		n->foreign_injected++;
		net_input(n, w->ifidx, c, w->len);
		free(c);
	}
	net_input(n, w->ifidx, w->data, w->len);
}

typedef bool (*net_pred)(struct net *n, void *arg);

/*
 * Pump: deliver frames at their time and run engine timers, until pred
 * holds or the fake clock would pass now + max_ns.  Returns pred's value
 * (true when pred is NULL and the time ran out).
 */
static bool
net_run(struct net *n, uint64_t max_ns, net_pred pred, void *arg)
{
	uint64_t until = n->now + max_ns;
	unsigned stuck = 0;
	uint64_t last = 0;

	for (;;) {
		uint64_t tq, te, t;
		size_t i;

		if (pred && pred(n, arg))
			return true;
		i = q_min(n);
		tq = i == SIZE_MAX ? UINT64_MAX : n->q[i].t;
		te = engine_next_timeout(n->e);
		t = MIN(tq, te);
		if (t > until) {
			n->now = until;
			return pred == NULL;
		}
		if (t < n->now)
			t = n->now;
		if (t == last && tq > t) {
			cr_assert_lt(++stuck, 10000,
			    "engine_next_timeout stuck at %" PRIu64, t);
		} else {
			stuck = 0;
		}
		last = t;
		n->now = t;
		if (tq <= t) {
			struct wframe w = n->q[i];

			n->q[i] = n->q[--n->qn];
			n->zcur = w.data;
			n->zcur_taken = false;
			if (w.to_engine)
				deliver_to_engine(n, &w);
			else
				deliver_to_targets(n, &w);
			n->zcur = NULL;
			if (!n->zcur_taken)
				free(w.data); /* else the holder's */
		} else {
			n->in_engine++;
			engine_tick(n->e, n->now);
			n->in_engine--;
			check_flushed(n, "engine_tick");
		}
		if (n->on_step)
			n->on_step(n);
	}
}

static void
net_advance(struct net *n, uint64_t ns)
{
	net_run(n, ns, NULL, NULL);
}

static unsigned
count_events(const struct net *n, const struct target *t, int ev)
{
	unsigned c = 0;

	for (unsigned i = 0; i < n->nev; i++)
		if ((t == NULL || n->ev[i].t == t) && n->ev[i].ev == ev)
			c++;
	return c;
}

static bool
pred_all_up(struct net *n, void *arg)
{
	unsigned want = *(const unsigned *)arg;
	unsigned up = 0;

	for (struct target *t = engine_target_next(n->e, NULL); t;
	    t = engine_target_next(n->e, t))
		if (target_state(t) == TARGET_UP)
			up++;
	return up >= want;
}

static void
net_discover(struct net *n)
{
	n->in_engine++;
	engine_discover(n->e, AOE_SHELF_ANY, AOE_SLOT_ANY, n->now);
	n->in_engine--;
	check_flushed(n, "engine_discover");
}

/* Discover every target and wait until all are up. */
static void
net_up(struct net *n)
{
	unsigned want = n->ntgts;

	net_discover(n);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_all_up, &want),
	    "not all %u targets came up", want);
}

static struct target *
net_target(struct net *n, unsigned i)
{
	struct target *t = engine_target_find(n->e, ft_shelf(n->tgt[i]),
	    ft_slot(n->tgt[i]));

	cr_assert_not_null(t, "target e%u.%u not found",
	    ft_shelf(n->tgt[i]), ft_slot(n->tgt[i]));
	return t;
}

static void
fill_random(struct net *n, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd(n);
}

/* Random image in the target and the same in *shadow. */
static uint8_t *
seed_image(struct net *n, struct faketarget *ft)
{
	size_t size = (size_t)ft_sectors(ft) * 512;
	uint8_t *s = malloc(size);

	cr_assert_not_null(s);
	fill_random(n, s, size);
	cr_assert_eq(ft_pwrite(ft, s, size, 0), 0);
	return s;
}

static void
assert_image(const struct faketarget *ft, const uint8_t *shadow)
{
	size_t size = (size_t)ft_sectors(ft) * 512;
	uint8_t *img = malloc(size);

	cr_assert_not_null(img);
	cr_assert_eq(ft_pread(ft, img, size, 0), 0);
	for (size_t i = 0; i < size; i++)
		cr_assert_eq(img[i], shadow[i],
		    "target image differs from the shadow at byte %zu", i);
	free(img);
}

/* ---------------------------------------------------------------- requests */

enum { R_READ = 1, R_WRITE, R_FLUSH };

struct req {
	struct net *n;
	int kind;
	uint64_t off;
	size_t len;
	uint8_t *buf;
	uint8_t *expect;        /* reads: the shadow at submit time */
	int submit_rc;
	int rc;
	unsigned ncalls;
	uint64_t t_submit, t_done;
	unsigned order;
	void (*then)(struct req *r);
	void *ctx;
};

static void
req_done(void *arg, int rc)
{
	struct req *r = arg;
	struct net *n = r->n;

	cr_assert(n->in_engine,
	    "callback outside engine_input/engine_tick/engine_free");
	cr_assert_eq(n->in_submit, 0, "callback inside the submitting call");
	cr_assert_eq(n->unflushed, 0, "callback before flush()");
	cr_assert_eq(r->submit_rc, 0, "callback for a request refused at "
	    "submit (%d)", r->submit_rc);
	cr_assert_eq(r->ncalls, 0, "callback ran twice (rc %d, then %d)",
	    r->rc, rc);
	r->ncalls++;
	r->rc = rc;
	r->t_done = n->now;
	r->order = n->done_seq++;
	if (r->kind == R_READ && rc == 0 && r->expect) {
		for (size_t i = 0; i < r->len; i++)
			cr_assert_eq(r->buf[i], r->expect[i],
			    "read %" PRIu64 "+%zu: byte %zu (offset %" PRIu64
			    ") is %#x, expected %#x", r->off, r->len, i,
			    r->off + i, r->buf[i], r->expect[i]);
	}
	if (r->then)
		r->then(r);
}

static int
sub_read(struct net *n, struct req *r, struct target *t, uint64_t off,
    size_t len)
{
	r->n = n;
	r->kind = R_READ;
	r->off = off;
	r->len = len;
	r->t_submit = n->now;
	if (r->buf == NULL)
		r->buf = calloc(1, len ? len : 1);
	cr_assert_not_null(r->buf);
	n->in_submit++;
	r->submit_rc = engine_read(n->e, t, r->buf, off, len, req_done, r,
	    n->now);
	n->in_submit--;
	check_flushed(n, "engine_read");
	return r->submit_rc;
}

static int
sub_write(struct net *n, struct req *r, struct target *t, uint64_t off,
    size_t len)
{
	r->n = n;
	r->kind = R_WRITE;
	r->off = off;
	r->len = len;
	r->t_submit = n->now;
	if (r->buf == NULL) {
		r->buf = malloc(len ? len : 1);
		cr_assert_not_null(r->buf);
		fill_random(n, r->buf, len);
	}
	n->in_submit++;
	r->submit_rc = engine_write(n->e, t, r->buf, off, len, req_done, r,
	    n->now);
	n->in_submit--;
	check_flushed(n, "engine_write");
	return r->submit_rc;
}

static int
sub_flush(struct net *n, struct req *r, struct target *t)
{
	r->n = n;
	r->kind = R_FLUSH;
	r->t_submit = n->now;
	n->in_submit++;
	r->submit_rc = engine_flush(n->e, t, req_done, r, n->now);
	n->in_submit--;
	check_flushed(n, "engine_flush");
	return r->submit_rc;
}

static void
req_release(struct req *r)
{
	free(r->buf);
	free(r->expect);
	r->buf = r->expect = NULL;
}

static bool
pred_req_done(struct net *n, void *arg)
{
	const struct req *r = arg;

	(void)n;
	return r->ncalls > 0;
}

/* More frames refused for their size than *arg. */
static bool
pred_refused_more(struct net *n, void *arg)
{
	return n->refused_big > *(const uint64_t *)arg;
}

struct req_set {
	struct req *r;
	unsigned n;
};

static bool
pred_set_done(struct net *n, void *arg)
{
	const struct req_set *s = arg;

	(void)n;
	for (unsigned i = 0; i < s->n; i++)
		if (s->r[i].submit_rc == 0 && s->r[i].ncalls == 0)
			return false;
	return true;
}

/* Submit, wait, return the completion code. */
static int
do_read(struct net *n, struct target *t, void *buf, uint64_t off, size_t len)
{
	struct req r = { .buf = buf };
	int rc = sub_read(n, &r, t, off, len);

	if (rc)
		return rc;
	cr_assert_eq(r.ncalls, 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r),
	    "read %" PRIu64 "+%zu never completed", off, len);
	return r.rc;
}

static int
do_write(struct net *n, struct target *t, const void *buf, uint64_t off,
    size_t len)
{
	struct req r = { .buf = (uint8_t *)(uintptr_t)buf };
	int rc = sub_write(n, &r, t, off, len);

	if (rc)
		return rc;
	cr_assert_eq(r.ncalls, 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r),
	    "write %" PRIu64 "+%zu never completed", off, len);
	return r.rc;
}

/* ---------------------------------------------------------------- workload */

/*
 * Random reads and writes of random sizes and alignments, depth of them in
 * flight, checked against a shadow image in submission order (overlapping
 * requests are serialised FIFO by the engine).
 */
struct workload {
	struct net *n;
	struct target *t;
	struct faketarget *ft;
	uint64_t size;
	uint8_t *shadow;
	struct req *reqs;
	unsigned total, submitted, done, depth;
	size_t max_len;
	bool disjoint_writes;   /* each 64 KiB region written at most once */
	uint8_t *region_used;
	size_t nregions;
	unsigned nreads, nwrites, nunaligned;
};

#define WL_REGION (64 * 1024)

static void wl_next(struct workload *w);

static void
wl_done(struct req *r)
{
	struct workload *w = r->ctx;

	cr_assert_eq(r->rc, 0, "%s %" PRIu64 "+%zu failed: %d",
	    r->kind == R_READ ? "read" : "write", r->off, r->len, r->rc);
	req_release(r);
	w->done++;
	wl_next(w);
}

static void
wl_pick(struct workload *w, bool *write, uint64_t *off, size_t *len)
{
	struct net *n = w->n;
	uint64_t lo = 0, hi = w->size;

	*write = rnd(n) & 1;
	if (*write && w->disjoint_writes) {
		size_t i = (size_t)rnd_below(n, w->nregions), k;

		for (k = 0; k < w->nregions; k++)
			if (!w->region_used[(i + k) % w->nregions])
				break;
		if (k == w->nregions) {
			*write = false;
		} else {
			i = (i + k) % w->nregions;
			w->region_used[i] = 1;
			lo = (uint64_t)i * WL_REGION;
			hi = MIN(lo + WL_REGION, w->size);
		}
	}
	switch (rnd(n) % 4) {
	case 0:         /* aligned */
		*off = lo + rnd_below(n, (hi - lo) / 512) * 512;
		*len = (1 + rnd_below(n, w->max_len / 512)) * 512;
		break;
	case 1:         /* small, anywhere */
		*off = lo + rnd_below(n, hi - lo);
		*len = 1 + rnd_below(n, 1500);
		break;
	case 2:         /* anything */
		*off = lo + rnd_below(n, hi - lo);
		*len = 1 + rnd_below(n, w->max_len);
		break;
	default:        /* aligned start, ragged end */
		*off = lo + rnd_below(n, (hi - lo) / 512) * 512;
		*len = 1 + rnd_below(n, w->max_len);
		break;
	}
	if (*len > hi - *off)
		*len = hi - *off;
	if (*off % 512 || *len % 512)
		w->nunaligned++;
}

static void
wl_next(struct workload *w)
{
	while (w->submitted < w->total && w->submitted - w->done < w->depth) {
		struct req *r = &w->reqs[w->submitted++];
		bool write;
		uint64_t off;
		size_t len;
		int rc;

		wl_pick(w, &write, &off, &len);
		r->then = wl_done;
		r->ctx = w;
		if (write) {
			w->nwrites++;
			r->buf = malloc(len);
			cr_assert_not_null(r->buf);
			fill_random(w->n, r->buf, len);
			memcpy(w->shadow + off, r->buf, len);
			rc = sub_write(w->n, r, w->t, off, len);
		} else {
			w->nreads++;
			r->expect = malloc(len);
			cr_assert_not_null(r->expect);
			memcpy(r->expect, w->shadow + off, len);
			rc = sub_read(w->n, r, w->t, off, len);
		}
		cr_assert_eq(rc, 0, "submit %s %" PRIu64 "+%zu: %d",
		    write ? "write" : "read", off, len, rc);
	}
}

static bool
pred_wl_done(struct net *n, void *arg)
{
	const struct workload *w = arg;

	(void)n;
	return w->done == w->total;
}

static void
wl_run(struct net *n, unsigned tgt, unsigned total, unsigned depth,
    size_t max_len, bool disjoint, uint64_t max_ns)
{
	struct workload w = {
		.n = n, .ft = n->tgt[tgt], .total = total, .depth = depth,
		.max_len = max_len, .disjoint_writes = disjoint,
	};

	w.t = net_target(n, tgt);
	w.size = ft_sectors(w.ft) * 512;
	cr_assert_eq(target_size(w.t), w.size);
	w.shadow = seed_image(n, w.ft);
	w.reqs = calloc(total, sizeof(*w.reqs));
	cr_assert_not_null(w.reqs);
	w.nregions = (size_t)((w.size + WL_REGION - 1) / WL_REGION);
	w.region_used = calloc(w.nregions, 1);
	cr_assert_not_null(w.region_used);

	wl_next(&w);
	cr_assert(net_run(n, max_ns, pred_wl_done, &w),
	    "workload: %u of %u requests done", w.done, w.total);
	for (unsigned i = 0; i < total; i++)
		cr_assert_eq(w.reqs[i].ncalls, 1);
	cr_assert_gt(w.nreads, total / 4);
	cr_assert_gt(w.nwrites, total / 8);
	cr_assert_gt(w.nunaligned, total / 4);
	assert_image(w.ft, w.shadow);
	free(w.region_used);
	free(w.reqs);
	free(w.shadow);
}

/* ---------------------------------------------------------------- discovery */

static struct engine_config
cfg_fast(void)
{
	struct engine_config c;

	engine_config_default(&c);
	c.rto_min_ns = 5 * NSEC_PER_MSEC;
	c.rto_max_ns = 500 * NSEC_PER_MSEC;
	c.rto_init_ns = 200 * NSEC_PER_MSEC;
	return c;
}

static void
check_events_new_up(const struct net *n, const struct target *t)
{
	int first = -1, up = -1;

	for (unsigned i = 0; i < n->nev; i++) {
		if (n->ev[i].t != t)
			continue;
		if (first < 0)
			first = (int)i;
		if (n->ev[i].ev == ENGINE_EV_UP && up < 0)
			up = (int)i;
		cr_assert_neq(n->ev[i].ev, ENGINE_EV_DEAD);
	}
	cr_assert_geq(first, 0, "no event for %s", target_name(t));
	cr_assert_eq(n->ev[first].ev, ENGINE_EV_NEW, "first event %d",
	    n->ev[first].ev);
	cr_assert_gt(up, first, "no UP after NEW");
	cr_assert_eq(count_events(n, t, ENGINE_EV_NEW), 1);
	cr_assert_eq(count_events(n, t, ENGINE_EV_UP), 1);
}

Test(discovery, broadcast_finds_three)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 1);
	struct faketarget *a, *b, *d;
	struct target *ta, *tb, *td, *it;
	struct target_info ia, ib, id;
	const uint64_t big = ATA_LBA28_MAX + 1000;

	a = net_add_target(n, 1, 0, 8192, 1);          /* fake0 */
	b = net_add_target(n, 1, 1, 12345, 2);         /* fake1 */
	d = net_add_target(n, 7, 3, big, 3);           /* both */
	ft_set_bufcnt(a, 16);
	ft_set_bufcnt(b, 5);
	ft_set_scnt(b, 1);
	ft_set_bufcnt(d, 64);
	ft_set_scnt(d, 17);
	ft_set_config(a, "hello", 5);
	ft_set_fwver(b, 0x4001);

	cr_assert_null(engine_target_next(n->e, NULL));
	net_up(n);

	ta = net_target(n, 0);
	tb = net_target(n, 1);
	td = net_target(n, 2);
	/* shelf.slot order */
	cr_assert_eq(engine_target_next(n->e, NULL), ta);
	cr_assert_eq(engine_target_next(n->e, ta), tb);
	cr_assert_eq(engine_target_next(n->e, tb), td);
	cr_assert_null(engine_target_next(n->e, td));
	cr_assert_null(engine_target_find(n->e, 1, 2));

	cr_assert_eq(target_size(ta), 8192ULL * 512);
	cr_assert_eq(target_size(tb), 12345ULL * 512);
	cr_assert_eq(target_size(td), big * 512, "LBA48 size %" PRIu64,
	    target_size(td));
	cr_assert_str_eq(target_name(ta), "e1.0");
	cr_assert_str_eq(target_name(td), "e7.3");
	cr_assert_not(target_read_only(ta));
	for (it = engine_target_next(n->e, NULL); it;
	    it = engine_target_next(n->e, it))
		check_events_new_up(n, it);

	engine_target_info(ta, &ia);
	engine_target_info(tb, &ib);
	engine_target_info(td, &id);
	cr_assert_eq(ia.shelf, 1);
	cr_assert_eq(ia.slot, 0);
	cr_assert_str_eq(ia.name, "e1.0");
	cr_assert_eq(ia.state, TARGET_UP);
	cr_assert(ia.identified);
	cr_assert_eq(ia.bufcnt, 16);
	cr_assert_eq(ib.bufcnt, 5);
	cr_assert_eq(id.bufcnt, 64);
	cr_assert_eq(ia.fwver, 0x4019);
	cr_assert_eq(ib.fwver, 0x4001);
	cr_assert_eq(ia.scnt, 2);
	cr_assert_eq(ib.scnt, 1);
	cr_assert_eq(id.scnt, 17);
	/* min(scnt, (1500 - 36) / 512 = 2) */
	cr_assert_eq(ia.sectors_per_frame, 2);
	cr_assert_eq(ib.sectors_per_frame, 1);
	cr_assert_eq(id.sectors_per_frame, 2);
	cr_assert_eq(ia.cfg_len, 5);
	cr_assert(memcmp(ia.cfg, "hello", 5) == 0);
	cr_assert_eq(ib.cfg_len, 0);
	cr_assert_str_eq(ia.ident.model, "Coraid EtherDrive vblade");
	cr_assert_str_eq(ia.ident.firmware, "V25");
	cr_assert_str_eq(ia.ident.serial, "1.0:fakehost");
	cr_assert_str_eq(id.ident.serial, "7.3:fakehost");
	cr_assert(ia.ident.lba48);
	cr_assert(ia.ident.flush);
	cr_assert_not(ia.ident.flush_ext);
	cr_assert_eq(ia.ident.sectors, 8192);
	cr_assert_eq(id.ident.sectors, big);
	cr_assert_eq(ia.size, 8192ULL * 512);
	cr_assert_not(ia.read_only);
	cr_assert_geq(ia.window, 1);
	cr_assert_leq(ia.window, 16);
	cr_assert_eq(ia.window_max, 16);
	cr_assert_eq(ib.window_max, 5);
	cr_assert_eq(ia.inflight, 0);

	/* paths: a on fake0, b on fake1, d on both */
	cr_assert_eq(ia.npaths, 1);
	cr_assert_eq(ia.paths[0].ifidx, 0);
	cr_assert(mac_eq(ia.paths[0].mac, ft_mac(a)));
	cr_assert_eq(ia.paths[0].mtu, 1500);
	cr_assert_eq(ib.npaths, 1);
	cr_assert_eq(ib.paths[0].ifidx, 1);
	cr_assert_eq(id.npaths, 2);
	cr_assert_neq(id.paths[0].ifidx, id.paths[1].ifidx);
	cr_assert(mac_eq(id.paths[0].mac, ft_mac(d)));
	cr_assert(mac_eq(id.paths[1].mac, ft_mac(d)));

	/* the discovery went out on both interfaces as a broadcast */
	{
		unsigned bc[MAX_IFS] = { 0 };

		for (size_t i = 0; i < n->logn; i++) {
			const uint8_t *h = n->log[i].hdr;

			if (h[19] == AOE_CMD_CFG && mac_bcast(h) &&
			    get_be16(h + 16) == AOE_SHELF_ANY &&
			    h[18] == AOE_SLOT_ANY && (h[29] & 0x0f) == 0)
				bc[n->log[i].ifidx]++;
		}
		cr_assert_geq(bc[0], 1);
		cr_assert_geq(bc[1], 1);
	}
	/* I/O works at the far end of the LBA48 target */
	{
		uint8_t w[1024], r[1024];
		uint64_t off = (big - 2) * 512;

		fill_random(n, w, sizeof(w));
		cr_assert_eq(do_write(n, td, w, off, sizeof(w)), 0);
		cr_assert_eq(do_read(n, td, r, off, sizeof(r)), 0);
		cr_assert(memcmp(w, r, sizeof(w)) == 0);
		cr_assert_eq(ft_pread(d, r, sizeof(r), off), 0);
		cr_assert(memcmp(w, r, sizeof(w)) == 0);
		/* beyond LBA28 only LBA48 commands work */
		for (size_t i = 0; i < n->logn; i++) {
			const uint8_t *h = n->log[i].hdr;
			bool wr;

			if (h[19] == AOE_CMD_ATA && ata_is_rw(h[27], &wr) &&
			    frame_lba(h) > ATA_LBA28_MAX)
				cr_assert(h[24] & AOE_AFLAG_EXT);
		}
	}
	net_free(n);
}

Test(discovery, unsolicited_advert)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a, *b;
	uint8_t f[FRAME_CAP];
	size_t len;
	struct target *t;
	unsigned two = 2;

	c.discover_ns = 0;
	n = net_new(&c, 1, 1500, 0, 2);
	a = net_add_target(n, 3, 9, 4096, 1);
	b = net_add_target(n, 3, 10, 2048, 1);
	ft_set_config(a, "adv", 3);
	/* vblade's advert: tag 0, version nibble 0 */
	len = ft_advert(a, f, sizeof(f));
	cr_assert_eq(len, 35);
	cr_assert_eq(get_be32(f + 20), 0);
	cr_assert_eq(f[14], AOE_FLAG_RSP);
	net_inject(n, 0, f, len, 0);
	/* an advert with version 1 */
	len = ft_advert(b, f, sizeof(f));
	f[14] = 0x10 | AOE_FLAG_RSP;
	net_inject(n, 0, f, len, 0);
	/* version 2 is not AoE as we know it */
	f[14] = 0x20 | AOE_FLAG_RSP;
	put_be16(f + 16, 3);
	f[18] = 11;
	net_inject(n, 0, f, len, 0);
	cr_assert(net_run(n, 2 * NSEC_PER_SEC, pred_all_up, &two),
	    "adverts did not bring the targets up");
	t = engine_target_find(n->e, 3, 9);
	cr_assert_not_null(t);
	cr_assert_eq(target_size(t), 4096ULL * 512);
	check_events_new_up(n, t);
	t = engine_target_find(n->e, 3, 10);
	cr_assert_not_null(t);
	cr_assert_eq(target_size(t), 2048ULL * 512);
	check_events_new_up(n, t);
	cr_assert_null(engine_target_find(n->e, 3, 11));
	cr_assert_eq(engine_stats(n->e)->rx_badver, 1);
	cr_assert_eq(ft_stats(a)->identifies, 1);
	cr_assert_eq(ft_stats(b)->identifies, 1);
	/* nothing was broadcast: the adverts alone did it */
	for (size_t i = 0; i < n->logn; i++)
		cr_assert_not(mac_bcast(n->log[i].hdr));
	net_free(n);
}

Test(discovery, changes_seen)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 4);
	struct faketarget *a;
	struct target *t;
	struct target_info ti;
	unsigned changed;

	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	changed = count_events(n, t, ENGINE_EV_CHANGED);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.window_max, 16);
	cr_assert_eq(ti.npaths, 1);

	/* a rediscovery that finds nothing new changes nothing */
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(count_events(n, t, ENGINE_EV_CHANGED), changed);

	/* new config string and buffer count */
	ft_set_config(a, "moved", 5);
	ft_set_bufcnt(a, 4);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_gt(count_events(n, t, ENGINE_EV_CHANGED), changed);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.cfg_len, 5);
	cr_assert(memcmp(ti.cfg, "moved", 5) == 0);
	cr_assert_eq(ti.bufcnt, 4);
	cr_assert_eq(ti.window_max, 4);
	cr_assert_leq(ti.window, 4);
	cr_assert_eq(ti.state, TARGET_UP);

	/* a second path appears */
	changed = count_events(n, t, ENGINE_EV_CHANGED);
	n->tgt_ifs[0] = 3;
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_gt(count_events(n, t, ENGINE_EV_CHANGED), changed);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.npaths, 2);
	cr_assert_eq(count_events(n, t, ENGINE_EV_NEW), 1);
	cr_assert_eq(count_events(n, t, ENGINE_EV_UP), 1);
	net_free(n);
}

/* Two vblades on one host answer from the same MAC: two targets. */
Test(discovery, shared_mac)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 5);
	struct faketarget *a, *b;
	struct target *ta, *tb;
	struct target_info ia, ib;
	uint8_t *sa, *sb, *buf;
	const size_t len = 40000;

	a = net_add_target(n, 2, 0, 4096, 1);
	b = net_add_target(n, 2, 1, 8192, 1);
	ft_free(b);
	b = ft_new(2, 1, ft_mac(a), 8192);
	cr_assert_not_null(b);
	n->tgt[1] = b;
	net_up(n);
	ta = net_target(n, 0);
	tb = net_target(n, 1);
	cr_assert_neq(ta, tb);
	cr_assert_eq(target_size(ta), 4096ULL * 512);
	cr_assert_eq(target_size(tb), 8192ULL * 512);
	engine_target_info(ta, &ia);
	engine_target_info(tb, &ib);
	cr_assert_eq(ia.npaths, 1);
	cr_assert_eq(ib.npaths, 1);
	cr_assert(mac_eq(ia.paths[0].mac, ib.paths[0].mac));

	/* the same bytes to both, interleaved: each lands on its own image */
	sa = seed_image(n, a);
	sb = seed_image(n, b);
	buf = malloc(len);
	cr_assert_not_null(buf);
	{
		struct req ra = { 0 }, rb = { 0 };

		cr_assert_eq(sub_write(n, &ra, ta, 1000, len), 0);
		rb.buf = malloc(len);
		cr_assert_not_null(rb.buf);
		fill_random(n, rb.buf, len);
		cr_assert_eq(sub_write(n, &rb, tb, 1000, len), 0);
		cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_req_done, &ra));
		cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_req_done, &rb));
		cr_assert_eq(ra.rc, 0);
		cr_assert_eq(rb.rc, 0);
		memcpy(sa + 1000, ra.buf, len);
		memcpy(sb + 1000, rb.buf, len);
		req_release(&ra);
		req_release(&rb);
	}
	assert_image(a, sa);
	assert_image(b, sb);
	cr_assert_eq(do_read(n, tb, buf, 4096ULL * 512, len), 0);
	cr_assert(memcmp(buf, sb + 4096 * 512, len) == 0);
	free(buf);
	free(sa);
	free(sb);
	net_free(n);
}

/*
 * Two hosts export e1.0, each its own disk: a (net_add_target: 4096
 * sectors) and b at another MAC with b_sectors and serial
 * "1.0:otherhost", both reached on interface 0.  b is silent when
 * b_silent (its vblade not started yet).  Nothing discovered yet.
 */
static struct net *
net_two_hosts(const struct engine_config *c, uint64_t seed,
    uint64_t b_sectors, bool b_silent, struct faketarget **pa,
    struct faketarget **pb)
{
	struct net *n = net_new(c, 1, 1500, 0, seed);
	uint8_t mac[6] = { 0x02, 0xbb, 0x00, 0x00, 0x01, 0x00 };
	struct faketarget *b;

	*pa = net_add_target(n, 1, 0, 4096, 1);
	cr_assert_lt(n->ntgts, MAX_TGTS);
	b = ft_new(1, 0, mac, b_sectors);
	cr_assert_not_null(b);
	ft_set_serial(b, "1.0:otherhost");
	if (b_silent)
		ft_set_silent(b, FT_SILENT_ALL);
	n->tgt[n->ntgts] = b;
	n->tgt_ifs[n->ntgts] = 1;
	n->ntgts++;
	*pb = b;
	return n;
}

/* Discover, and wait until the one target of net_two_hosts is up. */
static void
net_up_one(struct net *n)
{
	unsigned one = 1;

	net_discover(n);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_all_up, &one),
	    "e1.0 did not come up");
}

/*
 * Two targets with the same shelf.slot and other disks (serials), as two
 * hosts both exporting e1.0: both answer discovery and were taken as two
 * paths of one target, so a read was every other frame of each disk.  A
 * path carries I/O only once its own IDENTIFY shows the target's disk:
 * reads are one disk's, a write lands on that disk whole, and the other
 * path is a conflict, said once.
 */
Test(discovery, same_address_other_disk)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a, *b;
	struct target *t;
	struct target_info ti;
	uint8_t *sa, *sb, *used, *buf;
	unsigned conflicts = 0;
	const size_t len = 64 * 1024;

	n = net_two_hosts(&c, 7, 4096, false, &a, &b);
	sa = seed_image(n, a);
	sb = seed_image(n, b);
	net_up_one(n);
	net_advance(n, 200 * NSEC_PER_MSEC); /* the other path's check */
	t = net_target(n, 0);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.npaths, 2);
	for (unsigned i = 0; i < ti.npaths; i++)
		conflicts += ti.paths[i].conflict;
	cr_expect_eq(conflicts, 1);
	cr_expect_eq(count_events(n, t, ENGINE_EV_CONFLICT), 1);
	used = strcmp(ti.ident.serial, "1.0:otherhost") == 0 ? sb : sa;

	buf = malloc(len);
	cr_assert_not_null(buf);
	cr_assert_eq(do_read(n, t, buf, 0, len), 0);
	cr_assert(memcmp(buf, used, len) == 0, "the read mixed both disks");
	fill_random(n, buf, len);
	cr_assert_eq(do_write(n, t, buf, 8192, len), 0);
	memcpy(used + 8192, buf, len);
	assert_image(a, sa);
	assert_image(b, sb);
	free(buf);
	free(sa);
	free(sb);
	net_free(n);
}

/*
 * Target a (e1.0) answers; b, at another MAC with serial "1.0:otherhost"
 * and b_sectors, is silent.  A goes silent with a write in flight, long
 * enough for its path to be avoided, then b answers (vblade started on
 * another host): *w is that write, t the target.
 */
static struct net *
net_failover(uint64_t b_sectors, struct faketarget **pa,
    struct faketarget **pb, struct target **pt, struct req *w)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a, *b;
	struct target *t;
	struct target_info ti;

	c.dead_ns = 60 * NSEC_PER_SEC;
	n = net_two_hosts(&c, 8, b_sectors, true, &a, &b);
	net_up_one(n);
	t = net_target(n, 0);
	ft_set_silent(a, FT_SILENT_ALL);
	cr_assert_eq(sub_write(n, w, t, 4096, 8192), 0);
	net_advance(n, 6 * NSEC_PER_SEC);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.npaths, 1);
	cr_assert_geq(ti.paths[0].lost, 8, "a's path not avoided yet");
	cr_assert_eq(w->ncalls, 0);
	ft_set_silent(b, 0);
	net_discover(n);
	*pa = a;
	*pb = b;
	*pt = t;
	return n;
}

/*
 * Every path to the disk silent and another MAC answering for it as
 * another disk of the same size: vblade failed over to another host (an
 * HA pair on shared storage, its serial naming the host).  aoe.ko rides
 * through that: the write in flight completes on the new host, no
 * ENGINE_EV_DEAD nor _REPLACED, ENGINE_EV_MOVED said once (with the old
 * path and the new), and I/O goes on.  It was REPLACED, the write -EIO.
 */
Test(discovery, failover_same_size_moves)
{
	struct net *n;
	struct faketarget *a, *b;
	struct target *t;
	struct target_info ti;
	struct req w = { 0 };
	uint8_t got[8192], r[512];
	uint64_t reads;

	n = net_failover(4096, &a, &b, &t, &w);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &w),
	    "the write hangs after the move");
	cr_expect_eq(w.rc, 0, "the write failed after the move: %d", w.rc);
	cr_expect_eq(count_events(n, t, ENGINE_EV_MOVED), 1);
	cr_expect_eq(count_events(n, t, ENGINE_EV_REPLACED), 0);
	cr_expect_eq(count_events(n, t, ENGINE_EV_DEAD), 0);
	cr_assert_eq(ft_pread(b, got, sizeof(got), 4096), 0);
	cr_expect(memcmp(got, w.buf, sizeof(got)) == 0,
	    "the write is not on the new host's disk");
	engine_target_info(t, &ti);
	cr_expect_eq(ti.state, TARGET_UP);
	cr_expect_str_eq(ti.ident.serial, "1.0:otherhost");
	cr_expect_eq(memcmp(ti.paths[ti.moved_path].mac, ft_mac(a), 6), 0);
	cr_expect_eq(memcmp(ti.paths[ti.conflict_path].mac, ft_mac(b), 6), 0);
	cr_expect_eq(do_read(n, t, r, 4096, sizeof(r)), 0);
	cr_expect(memcmp(r, w.buf, sizeof(r)) == 0);
	/* a back (split brain): its path is a conflict, not used */
	ft_set_silent(a, 0);
	net_discover(n);
	net_advance(n, NSEC_PER_SEC);
	cr_expect_eq(count_events(n, t, ENGINE_EV_CONFLICT), 1);
	reads = ft_stats(a)->reads;
	cr_expect_eq(do_read(n, t, got, 0, sizeof(got)), 0);
	cr_expect_eq(ft_stats(a)->reads, reads, "a read went to the old host");
	req_release(&w);
	net_free(n);
}

/* The same with another size: another disk, replaced, the write fails. */
Test(discovery, failover_other_size_replaced)
{
	struct net *n;
	struct faketarget *a, *b;
	struct target *t;
	struct req w = { 0 };
	uint8_t got[8192], zero[8192] = { 0 };

	n = net_failover(8192, &a, &b, &t, &w);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &w),
	    "the write hangs after the replacement");
	cr_expect_eq(w.rc, -EIO);
	cr_expect_eq(count_events(n, t, ENGINE_EV_REPLACED), 1);
	cr_expect_eq(count_events(n, t, ENGINE_EV_MOVED), 0);
	cr_assert_eq(ft_pread(b, got, sizeof(got), 4096), 0);
	cr_expect(memcmp(got, zero, sizeof(got)) == 0,
	    "the old disk's write landed on the new one");
	req_release(&w);
	net_free(n);
}

/*
 * A failover slower than the dead timeout: the write fails with the dead
 * target, and the disk found again at another MAC, of the same size, is
 * taken as moved (said, with the old path), not replaced: aoe-nbd keeps
 * its connections.  At the same MAC it is replaced (9ff328b).
 */
Test(dead, failover_after_dead_timeout)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a, *b;
	struct target *t;
	struct target_info ti;
	struct req w = { 0 };
	uint8_t buf[4096];

	c.dead_ns = 2 * NSEC_PER_SEC;
	n = net_two_hosts(&c, 9, 4096, true, &a, &b);
	net_up_one(n);
	t = net_target(n, 0);
	ft_set_silent(a, FT_SILENT_ALL);
	cr_assert_eq(sub_write(n, &w, t, 0, 4096), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &w));
	cr_assert_eq(w.rc, -EIO);
	cr_assert_eq(target_state(t), TARGET_DEAD);
	ft_set_silent(b, 0);
	net_up_one(n);
	cr_expect_eq(count_events(n, t, ENGINE_EV_MOVED), 1);
	cr_expect_eq(count_events(n, t, ENGINE_EV_REPLACED), 0);
	engine_target_info(t, &ti);
	cr_expect_str_eq(ti.ident.serial, "1.0:otherhost");
	cr_expect_eq(memcmp(ti.paths[ti.moved_path].mac, ft_mac(a), 6), 0);
	cr_expect_eq(memcmp(ti.paths[ti.conflict_path].mac, ft_mac(b), 6), 0);
	fill_random(n, buf, sizeof(buf));
	cr_expect_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	req_release(&w);
	net_free(n);
}

/* Broadcasts with a time in [from, to) on any interface. */
static unsigned
count_discover(const struct net *n, uint64_t from, uint64_t to)
{
	unsigned bc = 0;

	for (size_t i = 0; i < n->logn; i++)
		bc += mac_bcast(n->log[i].hdr) && n->log[i].hdr[19] == 1 &&
		    n->log[i].t >= from && n->log[i].t < to;
	return bc;
}

Test(discovery, periodic)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	uint64_t t0;

	c.discover_ns = NSEC_PER_SEC;
	n = net_new(&c, 2, 1500, 1500, 6);
	net_add_target(n, 1, 0, 4096, 2);
	t0 = n->now;
	net_up(n);
	net_advance(n, 9 * NSEC_PER_SEC);
	/* at start and 8 times 250 ms apart, on both interfaces */
	cr_assert_eq(count_discover(n, t0, t0 + 2100 * NSEC_PER_MSEC), 2 * 9,
	    "%u discovery broadcasts in the first 2.1 s",
	    count_discover(n, t0, t0 + 2100 * NSEC_PER_MSEC));
	/* then 0.25 and 0.5 s later (2.25, 2.75), then every second */
	cr_assert_eq(count_discover(n, t0 + 2100 * NSEC_PER_MSEC,
	    t0 + 3 * NSEC_PER_SEC), 2 * 2, "%u in 2.1-3 s",
	    count_discover(n, t0 + 2100 * NSEC_PER_MSEC,
	    t0 + 3 * NSEC_PER_SEC));
	cr_assert_eq(count_discover(n, t0 + 5 * NSEC_PER_SEC,
	    t0 + 8 * NSEC_PER_SEC), 2 * 3, "%u in 5-8 s",
	    count_discover(n, t0 + 5 * NSEC_PER_SEC, t0 + 8 * NSEC_PER_SEC));
	cr_assert_eq(count_events(n, NULL, ENGINE_EV_NEW), 1);
	cr_assert_eq(count_events(n, NULL, ENGINE_EV_CHANGED), 0);
	net_free(n);
}

struct drop_ident {
	unsigned left;
};

static void
drop_ident_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	struct drop_ident *d = n->hook_arg;

	(void)ifidx;
	if (is_ata(f, len) && f[27] == ATA_CMD_IDENTIFY && d->left > 0) {
		d->left--;
		n->drop_req = 1000;
	} else {
		n->drop_req = 0;
	}
}

/*
 * IDENTIFY lost four times in a row: each answer to discovery's quick
 * rounds (250 ms apart) asks again at once, so the target is up after
 * about a second, not after the backed-off timer (0.2 + 0.4 + 0.8 + 1.6 s).
 */
/* Up, read-only: a write refused, which it learnt; buf holds 1 KiB. */
static struct target *
read_only_target(struct net *n, struct faketarget **a, uint8_t *buf)
{
	struct target *t;

	*a = net_add_target(n, 1, 0, 4096, 1);
	ft_set_read_only(*a, true);
	net_up(n);
	t = net_target(n, 0);
	memset(buf, 0x5a, 1024);
	cr_assert_eq(do_write(n, t, buf, 0, 1024), -EROFS);
	cr_assert(target_read_only(t));
	return t;
}

/*
 * Target a announces itself (its start-up advert, not an answer to us)
 * two seconds on: it is identified again.
 */
static void
announce_restart(struct net *n, struct faketarget *a)
{
	uint8_t f[FRAME_CAP];
	uint64_t idents = ft_stats(a)->identifies;
	size_t len;

	net_advance(n, 2 * NSEC_PER_SEC);
	len = ft_advert(a, f, sizeof(f));
	cr_assert_gt(len, 0);
	net_input(n, 0, f, len);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_gt(ft_stats(a)->identifies, idents);
}

/*
 * A config answer to an idle target at least a second after its IDENTIFY
 * identifies it again: a new size is seen (CHANGED), and a read-only
 * state learnt from refused writes is forgotten; sooner, nothing is sent.
 */
Test(discovery, reidentify_size_and_read_only)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 61);
	struct faketarget *a;
	struct target *t;
	uint8_t buf[1024];
	unsigned changed;
	uint64_t idents;

	t = read_only_target(n, &a, buf);
	/* within a second of the IDENTIFY: no new one */
	idents = ft_stats(a)->identifies;
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(a)->identifies, idents);
	cr_assert(target_read_only(t));

	/* restarted writable and larger */
	ft_set_read_only(a, false);
	ft_set_ident_sectors(a, 8192);
	changed = count_events(n, t, ENGINE_EV_CHANGED);
	net_advance(n, 2 * NSEC_PER_SEC);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_gt(ft_stats(a)->identifies, idents);
	cr_assert_gt(count_events(n, t, ENGINE_EV_CHANGED), changed);
	cr_assert_eq(target_size(t), 8192ULL * 512);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	cr_assert_eq(ft_stats(a)->writes, 1);
	cr_assert_eq(count_events(n, t, ENGINE_EV_UP), 1);

	/*
	 * Writes refused from now on without a restart (identified again
	 * by rediscovery only): it took a write since it started, so that
	 * is an I/O error (vblade's backing file could not be written, e.g.
	 * a full filesystem), not learnt: it stays writable.
	 */
	ft_set_read_only(a, true);
	net_advance(n, 2 * NSEC_PER_SEC);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EIO);
	cr_assert_not(target_read_only(t));

	/* restarted read-only (its advert): learnt from a refused write */
	announce_restart(n, a);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);
	cr_assert(target_read_only(t));
	net_free(n);
}

/*
 * A target that took writes and then refuses one (vblade: ATA ABRT for any
 * failed write to its file, e.g. ENOSPC on a thin image's filesystem):
 * -EIO, not learnt as read-only, and writes work again once the target
 * takes them (the space freed), without a restart.
 */
Test(errors, refused_after_writes_is_io_error)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 63);
	struct faketarget *a;
	struct target *t;
	uint8_t buf[1024];

	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	ft_set_read_only(a, true);      /* its writes now fail (ABRT) */
	cr_assert_eq(do_write(n, t, buf, 1024, sizeof(buf)), -EIO);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EIO);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), 0);
	ft_set_read_only(a, false);     /* space freed */
	cr_assert_eq(do_write(n, t, buf, 1024, sizeof(buf)), 0);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(count_events(n, t, ENGINE_EV_DEAD), 0);
	net_free(n);
}

/* ENGINE_EV_READ_ONLY said so far for t; *ti gets its state now. */
static unsigned
ro_events(const struct net *n, struct target *t, struct target_info *ti)
{
	engine_target_info(t, ti);
	return count_events(n, t, ENGINE_EV_READ_ONLY);
}

/*
 * The very first write refused (vblade's thin image on a full filesystem,
 * as vblade -r): read-only is learnt, and later writes fail -EROFS here,
 * for cfg.ro_retry_ns.  Then writes go to the target again: refused, it
 * is learnt again (as long again); taken (the space freed), it is
 * writable and the bytes land.  Each change is an ENGINE_EV_READ_ONLY.
 */
Test(errors, learnt_read_only_expires)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a;
	struct target *t;
	struct target_info ti;
	struct req r = { 0 };
	uint8_t buf[1024], back[1024];
	uint64_t t0, tried;

	c.ro_retry_ns = 5 * NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 64);
	a = net_add_target(n, 1, 0, 4096, 1);
	ft_set_read_only(a, true);      /* its file cannot grow: ABRT */
	net_up(n);
	t = net_target(n, 0);
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_not(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 0);

	/* the first write: refused on the wire, learnt */
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);
	t0 = n->now;
	tried = ft_stats(a)->ata_errors;
	cr_assert_gt(tried, 0);
	cr_assert(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 1);
	cr_assert(ti.read_only && ti.ro_learnt && !ti.ro_retry);
	cr_assert_eq(ti.ro_refusals, 1);
	cr_assert_eq(ti.ro_until_ns, t0 + c.ro_retry_ns);

	/* while learnt: refused at once, nothing sent; reads work */
	cr_assert_eq(sub_write(n, &r, t, 0, 512), -EROFS);
	req_release(&r);
	cr_assert_eq(do_read(n, t, back, 0, sizeof(back)), 0);
	net_advance(n, t0 + c.ro_retry_ns - NSEC_PER_MSEC - n->now);
	cr_assert(target_read_only(t), "expired early");
	cr_assert_eq(sub_write(n, &r, t, 0, 512), -EROFS);
	req_release(&r);
	cr_assert_eq(ft_stats(a)->ata_errors, tried);
	cr_assert_eq(ft_stats(a)->writes, 0);

	/* expired: writes go out again; still refused: learnt again */
	net_advance(n, 2 * NSEC_PER_MSEC);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 2);
	cr_assert(!ti.read_only && !ti.ro_learnt && ti.ro_retry);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);
	cr_assert_gt(ft_stats(a)->ata_errors, tried);
	cr_assert(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 3);
	cr_assert(ti.ro_learnt && !ti.ro_retry);
	cr_assert_eq(ti.ro_refusals, 2);
	cr_assert_eq(ti.ro_until_ns, n->now + c.ro_retry_ns);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);

	/* the space freed; after the expiry a write is taken: writable */
	ft_set_read_only(a, false);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);
	net_advance(n, c.ro_retry_ns);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 4);
	cr_assert_eq(do_write(n, t, buf, 1024, sizeof(buf)), 0);
	cr_assert_eq(ro_events(n, t, &ti), 5);
	cr_assert(!ti.read_only && !ti.ro_learnt && !ti.ro_retry);
	cr_assert_eq(ti.ro_refusals, 0);
	cr_assert_eq(ft_stats(a)->writes, 1);
	cr_assert_eq(ft_pread(a, back, sizeof(back), 1024), 0);
	cr_assert_arr_eq(back, buf, sizeof(buf));

	/* no timer left; having taken a write, a refusal is -EIO */
	net_advance(n, 3 * c.ro_retry_ns);
	cr_assert_eq(ro_events(n, t, &ti), 5);
	ft_set_read_only(a, true);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EIO);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 5);
	cr_assert_eq(count_events(n, t, ENGINE_EV_DEAD), 0);
	net_free(n);
}

/*
 * Two writes in flight, the first refused (a hole in a thin image on a
 * full filesystem), the second taken (an allocated block): read-only is
 * learnt, then given up at once; later writes go out.
 */
Test(errors, learnt_read_only_taken_write_clears)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 65);
	struct faketarget *a;
	struct target *t;
	struct target_info ti;
	struct req r1 = { 0 }, r2 = { 0 };
	uint8_t buf[512];

	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	ft_fail_lba(a, 100, ATA_ER_ABRT);
	cr_assert_eq(sub_write(n, &r1, t, 100 * 512, 512), 0);
	cr_assert_eq(sub_write(n, &r2, t, 0, 512), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r2));
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r1));
	cr_assert_eq(r1.rc, -EROFS);
	cr_assert_eq(r2.rc, 0);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(ro_events(n, t, &ti), 2);
	cr_assert(!ti.ro_learnt && !ti.ro_retry);
	memset(buf, 0x11, sizeof(buf));
	cr_assert_eq(do_write(n, t, buf, 512, sizeof(buf)), 0);
	req_release(&r1);
	req_release(&r2);
	net_free(n);
}

/*
 * --ro-retry 0: learnt until the target restarts.  Configured read-only
 * never expires, and no write ever goes out.
 */
Test(errors, read_only_without_expiry)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a;
	struct target *t;
	struct target_info ti;
	struct req r = { 0 };
	uint8_t buf[1024];

	c.ro_retry_ns = 0;
	n = net_new(&c, 1, 1500, 0, 66);
	t = read_only_target(n, &a, buf);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.ro_until_ns, UINT64_MAX);
	ft_set_read_only(a, false);
	net_advance(n, 3600 * NSEC_PER_SEC);
	cr_assert(target_read_only(t));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), -EROFS);
	cr_assert_eq(ft_stats(a)->writes, 0);
	announce_restart(n, a);
	cr_assert_not(target_read_only(t));
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	net_free(n);

	c = cfg_fast();
	c.read_only = true;
	c.ro_retry_ns = NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 67);
	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	for (unsigned i = 0; i < 5; i++) {
		cr_assert(target_read_only(t));
		cr_assert_eq(sub_write(n, &r, t, 0, 512), -EROFS);
		req_release(&r);
		net_advance(n, 30 * NSEC_PER_SEC);
	}
	engine_target_info(t, &ti);
	cr_assert(ti.read_only && !ti.ro_learnt && !ti.ro_retry);
	cr_assert_eq(count_events(n, t, ENGINE_EV_READ_ONLY), 0);
	cr_assert_eq(ft_stats(a)->writes + ft_stats(a)->ata_errors, 0);
	net_free(n);
}

/*
 * A read-only state learnt from a refused write outlives our own
 * rediscovery (the same size: nothing says it changed) and is forgotten
 * when the target announces itself (restarted) or comes back resized.
 */
Test(discovery, read_only_kept_until_restart)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 62);
	struct faketarget *a;
	struct target *t;
	uint8_t buf[1024];
	uint64_t idents;

	t = read_only_target(n, &a, buf);

	/* rediscovery, identified again, the same size: still read-only */
	idents = ft_stats(a)->identifies;
	net_advance(n, 2 * NSEC_PER_SEC);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_gt(ft_stats(a)->identifies, idents);
	cr_assert(target_read_only(t), "forgotten at rediscovery");
	cr_assert_eq(ft_stats(a)->writes, 0);

	/* restarted writable: its start-up advert */
	ft_set_read_only(a, false);
	announce_restart(n, a);
	cr_assert_not(target_read_only(t), "kept after the target restarted");
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	net_free(n);
}

Test(discovery, identify_lost_paced_by_adverts)
{
	struct engine_config c;
	struct drop_ident d = { .left = 4 };
	unsigned want = 1;
	struct net *n;
	uint64_t t0;

	engine_config_default(&c);
	c.discover_ns = 60 * NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 78);
	net_add_target(n, 1, 0, 4096, 1);
	n->on_send = drop_ident_hook;
	n->hook_arg = &d;
	t0 = n->now;
	net_discover(n);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_all_up, &want),
	    "not up");
	cr_assert_eq(d.left, 0, "not every IDENTIFY was sent");
	cr_assert_lt(n->now - t0, 1500 * NSEC_PER_MSEC, "up after %llu ms",
	    (unsigned long long)((n->now - t0) / NSEC_PER_MSEC));
	cr_assert_geq(engine_stats(n->e)->retransmits, 4);
	net_free(n);
}

Test(discovery, bad_config_rejected)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	uint8_t f[FRAME_CAP];
	size_t len;
	struct faketarget *x, *y;

	c.discover_ns = 0;
	n = net_new(&c, 1, 1500, 0, 3);
	x = net_add_target(n, 0xffff, 1, 4096, 0);
	y = net_add_target(n, 2, 0xff, 4096, 0);
	len = ft_advert(x, f, sizeof(f));
	net_input(n, 0, f, len);
	len = ft_advert(y, f, sizeof(f));
	net_input(n, 0, f, len);
	net_advance(n, NSEC_PER_SEC);
	cr_assert_eq(engine_stats(n->e)->rx_bad_cfg, 2);
	cr_assert_null(engine_target_next(n->e, NULL));
	cr_assert_eq(n->nev, 0);
	net_free(n);
}

/* ---------------------------------------------------------------- I/O */

Test(io, random_rw_shadow)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 10);

	net_add_target(n, 1, 0, 16384, 1);      /* 8 MiB */
	net_up(n);
	wl_run(n, 0, 600, 24, 160 * 1024, false, 120 * NSEC_PER_SEC);
	cr_assert_eq(engine_stats(n->e)->retransmits, 0);
	net_free(n);
}

/*
 * engine_plug: requests submitted while plugged (plugs nest) queue their
 * frames without a flush; the outermost engine_unplug() flushes them all
 * at once, and the reads then complete with the target's data.
 */
Test(io, plug_batches_submissions)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 12);
	struct faketarget *a;
	struct target *t;
	uint8_t *shadow;
	enum { NR = 6 };
	struct req r[NR] = { 0 };
	struct req_set set = { r, NR };
	uint64_t sends0;

	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	shadow = seed_image(n, a);
	sends0 = n->sends;
	engine_plug(n->e);
	engine_plug(n->e);
	for (unsigned i = 0; i < NR; i++) {
		r[i].n = n;
		r[i].kind = R_READ;
		r[i].off = (uint64_t)i * 8192 + 512;
		r[i].len = 4096;
		r[i].t_submit = n->now;
		r[i].buf = calloc(1, r[i].len);
		r[i].expect = malloc(r[i].len);
		cr_assert(r[i].buf != NULL && r[i].expect != NULL);
		memcpy(r[i].expect, shadow + r[i].off, r[i].len);
		n->in_submit++;
		cr_assert_eq(engine_read(n->e, t, r[i].buf, r[i].off,
		    r[i].len, req_done, &r[i], n->now), 0);
		n->in_submit--;
	}
	cr_assert_gt(n->sends, sends0, "plugged reads sent nothing");
	cr_assert_eq(n->unflushed, n->sends - sends0,
	    "a plugged submission flushed");
	engine_unplug(n->e);
	cr_assert_eq(n->unflushed, n->sends - sends0,
	    "the inner unplug flushed");
	engine_unplug(n->e);
	check_flushed(n, "the outermost engine_unplug");
	/* Unplugged again: a submission flushes at once. */
	engine_unplug(n->e); /* unbalanced: ignored */
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_set_done, &set));
	for (unsigned i = 0; i < NR; i++) {
		cr_assert_eq(r[i].ncalls, 1);
		cr_assert_eq(r[i].rc, 0);
		req_release(&r[i]);
	}
	free(shadow);
	net_free(n);
}

/*
 * Input while plugged (aoe-nbd takes every batch the link has in one
 * plug): what the answers make the engine send (the window opening for
 * the rest of a large read) waits for the unplug, but every completion
 * callback still runs with nothing left unflushed (req_done checks), so
 * no queued frame can point at a buffer a callback frees.
 */
Test(io, plug_holds_what_input_sends)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 13);
	struct faketarget *a;
	struct target *t;
	uint8_t *shadow;
	enum { NR = 4, LEN = 128 * 1024 };
	struct req r[NR] = { 0 };
	struct req_set set = { r, NR };
	uint64_t held = 0, inputs = 0;

	a = net_add_target(n, 1, 0, 8192, 1);
	net_up(n);
	t = net_target(n, 0);
	shadow = seed_image(n, a);
	for (unsigned i = 0; i < NR; i++) {
		r[i].expect = malloc(LEN);
		cr_assert_not_null(r[i].expect);
		memcpy(r[i].expect, shadow + (uint64_t)i * LEN, LEN);
		cr_assert_eq(sub_read(n, &r[i], t, (uint64_t)i * LEN, LEN), 0);
	}
	/* Deliver by hand: each answer to the engine inside a plug. */
	while (!pred_set_done(n, &set)) {
		size_t i = q_min(n);
		struct wframe w;
		uint64_t s0;
		unsigned d0;

		cr_assert_neq(i, SIZE_MAX, "nothing in flight, reads not done");
		w = n->q[i];
		n->q[i] = n->q[--n->qn];
		if (w.t > n->now)
			n->now = w.t;
		if (!w.to_engine) {
			deliver_to_targets(n, &w);
			free(w.data);
			continue;
		}
		s0 = n->sends;
		d0 = n->done_seq;
		engine_plug(n->e);
		n->in_engine++;
		engine_input(n->e, w.ifidx, w.data, w.len, n->now);
		n->in_engine--;
		/* A completion flushes before its callback, plugged or not. */
		if (n->done_seq == d0) {
			cr_assert_eq(n->unflushed, n->sends - s0,
			    "engine_input flushed while plugged");
			held += n->sends - s0;
			inputs++;
		}
		engine_unplug(n->e);
		check_flushed(n, "the engine_unplug after input");
		free(w.data);
	}
	cr_assert_gt(held, 0, "%" PRIu64 " answers, and none sent anything",
	    inputs);
	for (unsigned i = 0; i < NR; i++) {
		cr_assert_eq(r[i].ncalls, 1);
		cr_assert_eq(r[i].rc, 0);
		req_release(&r[i]);
	}
	free(shadow);
	net_free(n);
}

Test(io, submit_errors)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 11);
	struct faketarget *a, *b;
	struct target *t, *tb;
	struct req r[12] = { 0 };
	uint64_t size = 4096ULL * 512;
	uint64_t sends;
	unsigned one = 1;

	a = net_add_target(n, 1, 0, 4096, 1);
	b = net_add_target(n, 1, 1, 4096, 1);
	ft_set_silent(b, FT_SILENT_ATA);        /* never identified */
	net_discover(n);
	cr_assert(net_run(n, NSEC_PER_SEC, pred_all_up, &one));
	net_advance(n, 100 * NSEC_PER_MSEC);
	t = net_target(n, 0);
	tb = net_target(n, 1);
	cr_assert_eq(target_state(tb), TARGET_NEW);
	cr_assert_eq(target_size(tb), 0);

	sends = n->sends;
	cr_assert_eq(sub_read(n, &r[0], t, 0, 0), -EINVAL);
	cr_assert_eq(sub_write(n, &r[1], t, 0, 0), -EINVAL);
	cr_assert_eq(sub_read(n, &r[2], t, size - 1, 2), -EINVAL);
	cr_assert_eq(sub_read(n, &r[3], t, size, 1), -EINVAL);
	cr_assert_eq(sub_write(n, &r[4], t, size - 1, 2), -ENOSPC);
	cr_assert_eq(sub_write(n, &r[5], t, size, 1), -ENOSPC);
	cr_assert_eq(sub_write(n, &r[6], t, UINT64_MAX - 10, 100), -ENOSPC);
	cr_assert_eq(sub_read(n, &r[7], t, UINT64_MAX - 10, 100), -EINVAL);
	cr_assert_eq(sub_read(n, &r[8], tb, 0, 512), -EAGAIN);
	cr_assert_eq(sub_write(n, &r[9], tb, 0, 512), -EAGAIN);
	cr_assert_eq(n->sends, sends, "a refused request sent frames");
	/* the last byte is fine */
	cr_assert_eq(sub_read(n, &r[10], t, size - 1, 1), 0);
	cr_assert_eq(sub_write(n, &r[11], t, size - 3, 3), 0);
	net_run(n, NSEC_PER_SEC, NULL, NULL);
	for (unsigned i = 0; i < 10; i++)
		cr_assert_eq(r[i].ncalls, 0, "callback for refused request %u",
		    i);
	cr_assert_eq(r[10].ncalls, 1);
	cr_assert_eq(r[10].rc, 0);
	cr_assert_eq(r[11].ncalls, 1);
	cr_assert_eq(r[11].rc, 0);
	{
		uint8_t tail[3];

		cr_assert_eq(ft_pread(a, tail, 3, size - 3), 0);
		cr_assert(memcmp(tail, r[11].buf, 3) == 0);
	}
	for (unsigned i = 0; i < 12; i++)
		req_release(&r[i]);
	net_free(n);
}

/* ---------------------------------------------------------------- hazards */

Test(hazards, loss_dup_late)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 20);
	const struct engine_stats *st;

	net_add_target(n, 1, 0, 8192, 1);       /* 4 MiB */
	net_up(n);
	n->drop_req = 200;
	n->drop_rsp = 200;
	n->dup_req = 100;
	n->dup_rsp = 100;
	n->jitter_rsp_ns = 300 * USEC;
	n->late_rsp = 30;
	n->late_ns = 300 * NSEC_PER_MSEC;
	wl_run(n, 0, 400, 16, 64 * 1024, false, 600 * NSEC_PER_SEC);
	st = engine_stats(n->e);
	cr_assert_gt(n->dropped_req, 0);
	cr_assert_gt(n->dropped_rsp, 0);
	cr_assert_gt(st->retransmits, 0);
	cr_assert_gt(st->timeouts, 0);
	cr_assert_gt(st->rx_unknown, 0);
	cr_assert_eq(st->rx_foreign, 0);
	cr_assert_eq(st->rx_mismatch, 0);
	cr_assert_eq(st->rx_short, 0);
	net_free(n);
}

/* Drop the nth READ frame the engine sends, once. */
struct drop_nth {
	unsigned seen, nth;
};

static void
drop_nth_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	struct drop_nth *d = n->hook_arg;

	(void)ifidx;
	if (!is_ata(f, len) || (f[27] != ATA_CMD_READ_EXT &&
	    f[27] != ATA_CMD_READ)) {
		n->drop_req = 0;
		return;
	}
	n->drop_req = ++d->seen == d->nth ? 1000 : 0;
}

/*
 * vblade answers in arrival order: one lost frame is resent as soon as
 * three later frames are answered, long before its retransmit timer.
 */
Test(hazards, fast_retransmit)
{
	struct engine_config c = cfg_fast();
	struct drop_nth d = { .nth = 2 };
	const struct engine_stats *st;
	struct req r = { 0 };
	struct net *n;
	uint64_t t0;

	c.rto_min_ns = c.rto_init_ns = 400 * NSEC_PER_MSEC;
	c.rto_max_ns = 2 * NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 90);
	net_add_target(n, 1, 0, 4096, 1);
	n->delay_ns = 100 * USEC;
	net_up(n);
	n->on_send = drop_nth_hook;
	n->hook_arg = &d;
	t0 = n->now;
	cr_assert_eq(sub_read(n, &r, net_target(n, 0), 0, 32 * 1024), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r));
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(n->dropped_req, 1);
	st = engine_stats(n->e);
	cr_assert_eq(st->timeouts, 0, "the timer fired: %" PRIu64,
	    st->timeouts);
	cr_assert_geq(st->retransmits, 1);
	cr_assert_lt(r.t_done - t0, 50 * NSEC_PER_MSEC,
	    "read took %" PRIu64 " us with one frame lost",
	    (r.t_done - t0) / 1000);
	free(r.buf);
	net_free(n);
}

/* Copy 30% of WRITE frames once more, 20 ms late, as a faulty switch would. */
static void
late_dup_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	if (!is_ata(f, len) || !(f[24] & AOE_AFLAG_WRITE) || !chance(n, 300))
		return;
	q_push(n, n->now + n->delay_ns + 20 * NSEC_PER_MSEC, ifidx, false, f,
	    len);
}

/*
 * Late copies of write requests, never retransmitted by the engine.  The
 * target cannot tell a copy from a new request, so the first late copy
 * can land on newer data before anything shows it exists (an AoE limit).
 * Once their late answers have shown up, overlapping writes are held back
 * long enough, and the image ends as the shadow says.
 */
Test(hazards, late_duplicate_writes)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 27);
	struct target *t;
	uint64_t unknown;

	net_add_target(n, 1, 0, 128, 1);        /* 64 KiB: rewrites overlap */
	n->delay_ns = 50 * USEC;
	net_up(n);
	t = net_target(n, 0);
	n->on_send = late_dup_hook;
	/* Warm up until a late answer was seen. */
	for (unsigned i = 0; i < 20; i++) {
		struct req r = { 0 };

		cr_assert_eq(sub_write(n, &r, t, 0, 4096), 0);
		cr_assert(net_run(n, NSEC_PER_SEC, pred_req_done, &r));
		cr_assert_eq(r.rc, 0);
		free(r.buf);
		net_advance(n, 40 * NSEC_PER_MSEC);
	}
	unknown = engine_stats(n->e)->rx_unknown;
	cr_assert_gt(unknown, 0, "no late answer in the warm-up");
	wl_run(n, 0, 400, 4, 16 * 1024, false, 600 * NSEC_PER_SEC);
	cr_assert_gt(engine_stats(n->e)->rx_unknown, unknown);
	cr_assert_eq(engine_stats(n->e)->timeouts, 0);
	net_free(n);
}

/*
 * A path that reorders requests by up to 2 ms makes answers come out of
 * send order, with nothing lost: fast retransmit must notice its mistakes
 * (the first copy answered) and stop firing, instead of resending a
 * quarter of all frames.
 */
Test(hazards, reordering_adapts)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	const struct engine_stats *st;

	c.rto_min_ns = c.rto_init_ns = 400 * NSEC_PER_MSEC;
	c.rto_max_ns = 2 * NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 28);
	net_add_target(n, 1, 0, 8192, 1);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	n->jitter_req_ns = 2 * NSEC_PER_MSEC;
	wl_run(n, 0, 300, 16, 64 * 1024, false, 600 * NSEC_PER_SEC);
	st = engine_stats(n->e);
	cr_assert_eq(st->timeouts, 0);
	cr_assert_lt(st->retransmits * 20, st->tx_frames,
	    "%" PRIu64 " retransmits for %" PRIu64 " frames", st->retransmits,
	    st->tx_frames);
	net_free(n);
}

/*
 * A path that stalls now and then (10 ms every 50 ms, all answers held,
 * nothing lost) with an RTO of a few ms: the first stall fires the timer,
 * the late first copies show it was needless, the window cut is undone
 * and the RTO stays above the stall, so later stalls fire nothing.  The
 * learnt floor fades when the stalls stop.
 */
Test(hazards, spurious_timeouts_learnt)
{
	struct engine_config c = cfg_fast();
	const struct engine_stats *st;
	struct target_info ti;
	struct net *n;
	uint64_t timeouts, t1;
	unsigned rounds = 0;

	n = net_new(&c, 1, 1500, 0, 29);
	net_add_target(n, 1, 0, 8192, 1);
	n->delay_ns = 50 * USEC;
	net_up(n);
	n->stall_every_ns = 50 * NSEC_PER_MSEC;
	n->stall_ns = 10 * NSEC_PER_MSEC;
	st = engine_stats(n->e);
	while (st->timeouts == 0 && rounds++ < 50)
		wl_run(n, 0, 100, 16, 64 * 1024, false, 60 * NSEC_PER_SEC);
	cr_assert_gt(st->timeouts, 0, "no stall fired the timer");
	/* Let the answers of the first stall's retransmissions land. */
	wl_run(n, 0, 100, 16, 64 * 1024, false, 60 * NSEC_PER_SEC);
	timeouts = st->timeouts;
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.spurious_timeouts, ti.timeouts,
	    "%" PRIu64 " of %" PRIu64 " timeouts seen as spurious",
	    ti.spurious_timeouts, ti.timeouts);
	/* Above the longest wait a stall causes. */
	cr_assert_gt(ti.rto_ns, n->stall_ns + 2 * n->delay_ns,
	    "rto %" PRIu64 " us", ti.rto_ns / 1000);
	/* Ten more stalls: none fires the timer, the window stays open. */
	t1 = n->now;
	while (n->now - t1 < 10 * n->stall_every_ns)
		wl_run(n, 0, 100, 16, 64 * 1024, false, 60 * NSEC_PER_SEC);
	cr_assert_eq(st->timeouts, timeouts, "%" PRIu64 " more timeouts",
	    st->timeouts - timeouts);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.window, ti.window_max, "window %u of %u", ti.window,
	    ti.window_max);
	/* No stall for a minute: the RTO follows the estimator again. */
	n->stall_every_ns = 0;
	net_advance(n, 60 * NSEC_PER_SEC);
	wl_run(n, 0, 100, 16, 64 * 1024, false, 60 * NSEC_PER_SEC);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.rto_ns, c.rto_min_ns, "rto %" PRIu64 " us (srtt %"
	    PRIu64 ", rttvar %" PRIu64 " us, %" PRIu64 " spurious)",
	    ti.rto_ns / 1000, ti.srtt_ns / 1000, ti.rttvar_ns / 1000,
	    ti.spurious_timeouts);
	net_free(n);
}

/* Start a stall of the path (answers held, none lost) in 1 ms. */
static void
stall_soon(struct net *n, uint64_t len)
{
	const uint64_t every = 100 * NSEC_PER_SEC;

	n->stall_every_ns = 0;
	net_advance(n, every - n->now % every - NSEC_PER_MSEC);
	n->stall_every_ns = every;
	n->stall_ns = len;
}

/*
 * One target of 4 MiB at MTU 1500, 50 us each way, after a warm-up
 * workload that opened the window.
 */
static struct net *
net_warm(const struct engine_config *c, uint64_t seed)
{
	struct net *n = net_new(c, 1, 1500, 0, seed);

	net_add_target(n, 1, 0, 8192, 1);
	n->delay_ns = 50 * USEC;
	net_up(n);
	wl_run(n, 0, 100, 16, 64 * 1024, false, 60 * NSEC_PER_SEC);
	return n;
}

/* The first target's bytes at off equal buf. */
static void
expect_target_bytes(struct net *n, uint64_t off, const uint8_t *buf,
    size_t len)
{
	uint8_t *img = malloc(len);

	cr_assert_not_null(img);
	cr_assert_eq(ft_pread(n->tgt[0], img, len, off), 0);
	cr_assert_eq(memcmp(img, buf, len), 0, "target bytes at %" PRIu64
	    "+%zu differ", off, len);
	free(img);
}

/*
 * The path stalls for 40 ms (RTO 5 ms) with a window of frames in flight,
 * nothing lost: one frame asks for them all, the others wait unsent, and
 * the stall's end answers each once.  Resending every frame as its timer
 * fires would send the whole window again at each backoff.
 */
Test(hazards, stall_resends_one_frame)
{
	struct engine_config c = cfg_fast();
	const struct engine_stats *st;
	struct target_info ti;
	struct req r = { 0 };
	const size_t len = 1024 * 1024;
	uint64_t tmo0, rtx0;
	struct net *n;

	n = net_warm(&c, 31);
	st = engine_stats(n->e);
	tmo0 = st->timeouts;
	rtx0 = st->retransmits;
	stall_soon(n, 40 * NSEC_PER_MSEC);
	cr_assert_eq(sub_read(n, &r, net_target(n, 0), 0, len), 0);
	net_advance(n, 2 * NSEC_PER_MSEC);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_geq(ti.inflight, 16, "only %u frames in flight", ti.inflight);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r));
	cr_assert_eq(r.rc, 0);
	expect_target_bytes(n, 0, r.buf, len);
	/* The probe and its backoffs (5, 10, 20 ms) only. */
	cr_assert_gt(st->timeouts, tmo0, "the stall fired no timer");
	cr_assert_leq(st->timeouts - tmo0, 4, "%" PRIu64 " timeouts for one "
	    "stall of %u frames", st->timeouts - tmo0, ti.inflight);
	cr_assert_leq(st->retransmits - rtx0, 4, "%" PRIu64 " frames resent",
	    st->retransmits - rtx0);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.spurious_timeouts, 1, "%" PRIu64 " spurious",
	    ti.spurious_timeouts);
	free(r.buf);
	net_free(n);
}

/*
 * A stall of 300 ms during a large write (nothing lost) must not slow
 * what follows: the frames held through it give no round-trip samples,
 * and the fence on the resent probe's sectors follows the path's timer,
 * not the one the stall raised, so an overlapping write right after
 * waits tens of ms, not the timer's cap (500 ms here).
 */
Test(hazards, stall_then_writes_at_speed)
{
	struct engine_config c = cfg_fast();
	struct target_info ti;
	struct req w1 = { 0 }, w2 = { 0 };
	const size_t len = 1024 * 1024;
	struct net *n;

	n = net_warm(&c, 33);
	stall_soon(n, 300 * NSEC_PER_MSEC);
	cr_assert_eq(sub_write(n, &w1, net_target(n, 0), 0, len), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &w1));
	cr_assert_eq(w1.rc, 0);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_geq(ti.held, 8, "%" PRIu64 " frames held", ti.held);
	cr_assert_eq(sub_write(n, &w2, net_target(n, 0), 0, len), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &w2));
	cr_assert_eq(w2.rc, 0);
	cr_assert_lt(w2.t_done - w2.t_submit, 100 * NSEC_PER_MSEC,
	    "the overlapping write took %" PRIu64 " ms",
	    (w2.t_done - w2.t_submit) / NSEC_PER_MSEC);
	expect_target_bytes(n, 0, w2.buf, len);
	free(w1.buf);
	free(w2.buf);
	net_free(n);
}

/*
 * The target goes dark for 1 s during a large write (every frame both
 * ways lost): while it is silent one frame a backoff asks for it, not
 * the whole window; when it answers, the held frames go out at once and
 * the write completes with the target holding exactly what was written.
 */
Test(hazards, outage_probes_then_resends_all)
{
	struct engine_config c = cfg_fast();
	struct target_info ti;
	struct req r = { 0 };
	const size_t len = 1024 * 1024;
	uint64_t sends0, t_back;
	struct net *n;

	c.dead_ns = 30 * NSEC_PER_SEC;
	n = net_warm(&c, 32);
	cr_assert_eq(sub_write(n, &r, net_target(n, 0), 4096, len), 0);
	net_advance(n, NSEC_PER_MSEC);
	n->down_ifs = 1;
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_geq(ti.inflight, 16, "only %u frames in flight", ti.inflight);
	/* The answers still on the way let a last few frames out. */
	net_advance(n, 10 * NSEC_PER_MSEC);
	sends0 = n->sends;
	net_advance(n, NSEC_PER_SEC);
	/*
	 * The probe's backoffs up to the 500 ms cap (6 or 7 in 1 s) and the
	 * discovery broadcasts (4: every 250 ms in this harness).
	 */
	cr_assert_leq(n->sends - sends0, 12, "%" PRIu64 " frames sent into "
	    "a 1 s outage with %u in flight", n->sends - sends0, ti.inflight);
	cr_assert_eq(r.ncalls, 0);
	n->down_ifs = 0;
	t_back = n->now;
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r));
	cr_assert_eq(r.rc, 0);
	/* The probe's next backoff (500 ms at most), then one round. */
	cr_assert_lt(r.t_done - t_back, 600 * NSEC_PER_MSEC,
	    "write done %" PRIu64 " ms after the target came back",
	    (r.t_done - t_back) / NSEC_PER_MSEC);
	expect_target_bytes(n, 4096, r.buf, len);
	free(r.buf);
	net_free(n);
}

Test(hazards, reordered_requests)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 21);

	net_add_target(n, 1, 0, 8192, 1);
	net_up(n);
	n->jitter_req_ns = 2 * NSEC_PER_MSEC;
	n->jitter_rsp_ns = 2 * NSEC_PER_MSEC;
	n->drop_req = 50;
	n->drop_rsp = 50;
	n->dup_rsp = 50;
	wl_run(n, 0, 400, 16, 48 * 1024, true, 600 * NSEC_PER_SEC);
	cr_assert_gt(engine_stats(n->e)->retransmits, 0);
	net_free(n);
}

/*
 * Requests reordered and some held back past their retransmission (12 ms,
 * RTO 5 ms), writes overlapping: a stale copy of a resent write must not
 * land after a newer write to the same sectors.  The engine fences a resent
 * write's sectors for 4 RTO (at least 20 ms here).  No loss (it would back
 * the RTO off past the delay) and no duplicated requests (the engine cannot
 * know of those).
 */
Test(hazards, reordered_overlapping_writes)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 25);

	net_add_target(n, 1, 0, 512, 1);        /* 256 KiB: many overlaps */
	net_up(n);
	n->jitter_req_ns = 500 * USEC;
	n->jitter_rsp_ns = 500 * USEC;
	n->late_req = 50;
	n->late_ns = 12 * NSEC_PER_MSEC;
	n->dup_rsp = 100;
	wl_run(n, 0, 500, 12, 16 * 1024, false, 600 * NSEC_PER_SEC);
	cr_assert_gt(engine_stats(n->e)->retransmits, 0);
	net_free(n);
}

Test(hazards, path_failover)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 26);
	struct target_info ti;
	uint64_t if1_sends = 0;
	size_t mark;

	net_add_target(n, 1, 0, 4096, 3);       /* reachable on both */
	net_up(n);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.npaths, 2);
	n->down_ifs = 1;                        /* fake0 goes dark */
	mark = n->logn;
	wl_run(n, 0, 200, 8, 16 * 1024, false, 120 * NSEC_PER_SEC);
	for (size_t i = mark; i < n->logn; i++)
		if1_sends += n->log[i].ifidx == 1;
	cr_assert_gt(if1_sends, 0);
	cr_assert_gt(engine_stats(n->e)->retransmits, 0);
	engine_target_info(net_target(n, 0), &ti);
	cr_assert_eq(ti.state, TARGET_UP);
	for (unsigned i = 0; i < ti.npaths; i++) {
		if (ti.paths[i].ifidx == 0)
			cr_assert_gt(ti.paths[i].lost, 0);
		else
			cr_assert_gt(ti.paths[i].rx, 0);
	}
	net_free(n);
}

/* Corrupt copies of real responses, each expected in one counter. */
struct foreign_ctx {
	unsigned left;          /* read responses still to shadow */
	unsigned wrong_mac, wrong_known_mac, wrong_if;
	unsigned bad_shelf, bad_slot, bad_cmd, short_data;
	unsigned r_clear, bad_ver;
	uint8_t other_mac[6];
};

static void
inject_variant(struct net *n, unsigned ifidx, const uint8_t *f, size_t len,
    void (*mod)(uint8_t *p, size_t *len, const void *arg), const void *arg)
{
	uint8_t *c = malloc(len);
	size_t l = len;

	cr_assert_not_null(c);
	memcpy(c, f, len);
	for (size_t i = AOE_ATA_HDR_LEN; i < len; i++)
		c[i] ^= 0xa5;
	mod(c, &l, arg);
	net_input(n, ifidx, c, l);
	free(c);
}

static void
m_src(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	memcpy(p + 6, arg, 6);
}

static void
m_none(uint8_t *p, size_t *len, const void *arg)
{
	(void)p;
	(void)len;
	(void)arg;
}

static void
m_shelf(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	(void)arg;
	put_be16(p + 16, (uint16_t)(get_be16(p + 16) + 1));
}

static void
m_slot(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	(void)arg;
	p[18] ^= 0x40;
}

static void
m_cmd(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	(void)arg;
	p[19] = AOE_CMD_RESV;
}

static void
m_short(uint8_t *p, size_t *len, const void *arg)
{
	(void)p;
	(void)arg;
	*len -= 512;
}

static void
m_rclear(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	(void)arg;
	p[14] &= (uint8_t)~AOE_FLAG_RSP;
}

static void
m_ver(uint8_t *p, size_t *len, const void *arg)
{
	(void)len;
	(void)arg;
	p[14] = (uint8_t)(0x20 | (p[14] & 0x0f));
}

static void
foreign_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	struct foreign_ctx *fc = n->hook_arg;
	static const uint8_t stranger[6] = { 0x02, 0x66, 0x66, 0x66, 0x66, 1 };

	if (!fc->left || !is_ata(f, len) || f[27] != 0x40 ||
	    !mac_eq(f + 6, ft_mac(n->tgt[0])) || f[26] != 0 ||
	    len != AOE_ATA_HDR_LEN + 1024)
		return;
	fc->left--;
	inject_variant(n, ifidx, f, len, m_src, stranger);
	fc->wrong_mac++;
	inject_variant(n, ifidx, f, len, m_src, ft_mac(n->tgt[1]));
	fc->wrong_known_mac++;
	inject_variant(n, 1 - ifidx, f, len, m_none, NULL);
	fc->wrong_if++;
	inject_variant(n, ifidx, f, len, m_shelf, NULL);
	fc->bad_shelf++;
	inject_variant(n, ifidx, f, len, m_slot, NULL);
	fc->bad_slot++;
	inject_variant(n, ifidx, f, len, m_cmd, NULL);
	fc->bad_cmd++;
	inject_variant(n, ifidx, f, len, m_short, NULL);
	fc->short_data++;
	inject_variant(n, ifidx, f, len, m_rclear, NULL);
	fc->r_clear++;
	inject_variant(n, ifidx, f, len, m_ver, NULL);
	fc->bad_ver++;
}

Test(hazards, foreign_responses)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 22);
	struct foreign_ctx fc = { .left = 6 };
	struct faketarget *a;
	struct target *t;
	struct engine_stats s0, s1;
	uint8_t *shadow, *buf;
	const size_t len = 64 * 1024;

	a = net_add_target(n, 4, 2, 4096, 1);   /* fake0 only */
	net_add_target(n, 4, 3, 4096, 1);       /* another MAC on fake0 */
	net_up(n);
	t = net_target(n, 0);
	shadow = seed_image(n, a);
	s0 = *engine_stats(n->e);
	n->on_rsp = foreign_hook;
	n->hook_arg = &fc;
	buf = malloc(len);
	cr_assert_not_null(buf);
	cr_assert_eq(do_read(n, t, buf, 4096, len), 0);
	cr_assert(memcmp(buf, shadow + 4096, len) == 0,
	    "a forged response was accepted");
	cr_assert_eq(fc.left, 0);
	s1 = *engine_stats(n->e);
	cr_assert_eq(s1.rx_foreign - s0.rx_foreign,
	    fc.wrong_mac + fc.wrong_known_mac + fc.wrong_if,
	    "rx_foreign %" PRIu64 ", expected %u",
	    s1.rx_foreign - s0.rx_foreign,
	    fc.wrong_mac + fc.wrong_known_mac + fc.wrong_if);
	cr_assert_geq(s1.rx_mismatch - s0.rx_mismatch,
	    fc.bad_shelf + fc.bad_slot + fc.bad_cmd,
	    "rx_mismatch %" PRIu64, s1.rx_mismatch - s0.rx_mismatch);
	cr_assert_eq((s1.rx_mismatch - s0.rx_mismatch) +
	    (s1.rx_short - s0.rx_short),
	    fc.bad_shelf + fc.bad_slot + fc.bad_cmd + fc.short_data,
	    "rx_mismatch %" PRIu64 " + rx_short %" PRIu64,
	    s1.rx_mismatch - s0.rx_mismatch, s1.rx_short - s0.rx_short);
	cr_assert_eq(s1.rx_request - s0.rx_request, fc.r_clear);
	cr_assert_eq(s1.rx_badver - s0.rx_badver, fc.bad_ver);
	cr_assert_eq(s1.rx_unknown, s0.rx_unknown);
	cr_assert_eq(s1.retransmits, s0.retransmits);
	/* a stranger's MAC did not become a path */
	{
		struct target_info ti;

		engine_target_info(t, &ti);
		cr_assert_eq(ti.npaths, 1);
	}
	free(buf);
	free(shadow);
	net_free(n);
}

/*
 * Two initiators on one host share the interface's MAC address: each
 * receives the target's answers to the other.  Two engines with the same
 * history (the same target found the same way) issue the same tags for
 * their frames; only their tag instances tell the answers apart.
 */
struct twin_ctx {
	struct net *other;
	uint64_t copies;
};

static void
twin_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	struct twin_ctx *tc = n->hook_arg;

	if (!is_ata(f, len))
		return;
	if (tc->other->now < n->now)
		tc->other->now = n->now;
	tc->copies++;
	net_input(tc->other, ifidx, f, len);
}

static void
twin_reads(unsigned inst_a, unsigned inst_b, uint16_t seed_a, uint16_t seed_b,
    bool *a_ok, bool *b_ok)
{
	struct engine_config ca = cfg_fast(), cb = cfg_fast();
	struct net *na, *nb;
	struct twin_ctx ta, tb;
	struct req ra = { .buf = NULL }, rb = { .buf = NULL };
	struct req_set sa = { &ra, 1 }, sb = { &rb, 1 };
	struct faketarget *fa, *fb;
	const size_t len = 64 * 1024;
	uint8_t *shadow;

	ca.tag_instance = inst_a;
	cb.tag_instance = inst_b;
	ca.tag_seed = seed_a;
	cb.tag_seed = seed_b;
	na = net_new(&ca, 1, 1500, 0, 41);
	nb = net_new(&cb, 1, 1500, 0, 41);
	fa = net_add_target(na, 4, 2, 4096, 1);
	fb = net_add_target(nb, 4, 2, 4096, 1);
	shadow = seed_image(na, fa);
	cr_assert_eq(ft_pwrite(fb, shadow, 4096 * 512, 0), 0);
	net_up(na);
	net_up(nb);
	ta = (struct twin_ctx){ .other = nb };
	tb = (struct twin_ctx){ .other = na };
	na->on_rsp = twin_hook;
	na->hook_arg = &ta;
	nb->on_rsp = twin_hook;
	nb->hook_arg = &tb;
	cr_assert_eq(sub_read(na, &ra, net_target(na, 0), 0, len), 0);
	cr_assert_eq(sub_read(nb, &rb, net_target(nb, 0), 1024 * 1024, len),
	    0);
	for (unsigned i = 0; i < 10000 && !(pred_set_done(na, &sa) &&
	    pred_set_done(nb, &sb)); i++) {
		net_run(na, NSEC_PER_MSEC, pred_set_done, &sa);
		net_run(nb, NSEC_PER_MSEC, pred_set_done, &sb);
	}
	cr_assert(pred_set_done(na, &sa) && pred_set_done(nb, &sb),
	    "the reads never completed");
	cr_assert_gt(ta.copies + tb.copies, 0);
	*a_ok = ra.rc == 0 && memcmp(ra.buf, shadow, len) == 0;
	*b_ok = rb.rc == 0 && memcmp(rb.buf, shadow + 1024 * 1024, len) == 0;
	na->on_rsp = nb->on_rsp = NULL;
	req_release(&ra);
	req_release(&rb);
	free(shadow);
	net_free(na);
	net_free(nb);
}

Test(hazards, same_mac_second_initiator)
{
	bool a_ok, b_ok;

	/* The same instance: the twins do take each other's answers ... */
	twin_reads(0, 0, 0, 0, &a_ok, &b_ok);
	cr_assert(!a_ok || !b_ok, "the twins no longer collide: test moot");
	/* ... different ones never. */
	twin_reads(0, 1, 0, 0, &a_ok, &b_ok);
	cr_assert(a_ok, "the first initiator read the other's data");
	cr_assert(b_ok, "the second initiator read the other's data");
	twin_reads(7, 3, 0, 0, &a_ok, &b_ok);
	cr_assert(a_ok && b_ok, "instances 7 and 3 mixed up");
}

/*
 * An initiator started again takes the instance its predecessor had (the
 * first free one) and would issue its tags, taking the late answers to
 * the old requests for its own.  Generations from another tag_seed (rt.c
 * draws one per process) keep the twins of one instance apart too, while
 * neither has sent a frame as often more as the seeds are apart (from
 * random seeds: a late answer is taken with odds of 1 in 4096, not 1).
 */
Test(hazards, same_instance_other_seed)
{
	bool a_ok, b_ok;

	twin_reads(0, 0, 0x123, 0x9ab, &a_ok, &b_ok);
	cr_assert(a_ok, "the first initiator read the other's data");
	cr_assert(b_ok, "the second initiator read the other's data");
	/* Across the wrap of the 12 bits. */
	twin_reads(5, 5, 0xf80, 0x700, &a_ok, &b_ok);
	cr_assert(a_ok && b_ok, "seeds 0xf80 and 0x700 mixed up");
}

Test(hazards, foreign_injector_with_io)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 23);

	net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	n->foreign = 300;
	wl_run(n, 0, 150, 8, 32 * 1024, false, 60 * NSEC_PER_SEC);
	cr_assert_gt(n->foreign_injected, 0);
	cr_assert_eq(engine_stats(n->e)->rx_foreign, n->foreign_injected);
	net_free(n);
}

/* Every truncation of the real responses, before the real one. */
struct trunc_ctx {
	uint64_t injected, below_hdr;
	unsigned kinds;         /* bit per command seen */
	bool saw_ident, saw_read, saw_write;
};

static size_t
content_len(const uint8_t *f, size_t len)
{
	if (len < AOE_HDR_LEN)
		return len;
	switch (f[19]) {
	case AOE_CMD_ATA:
		if (f[24] & AOE_AFLAG_WRITE)
			return AOE_ATA_HDR_LEN;
		return len;     /* read data and IDENTIFY: unpadded here */
	case AOE_CMD_CFG:
		return AOE_CFG_HDR_LEN + get_be16(f + 30);
	case AOE_CMD_MASK:
		return AOE_MASK_HDR_LEN + 8 * (size_t)f[27];
	case AOE_CMD_RESV:
		return AOE_RESV_HDR_LEN + 6 * (size_t)f[25];
	default:
		return len;
	}
}

static void
trunc_hook(struct net *n, unsigned ifidx, const uint8_t *f, size_t len)
{
	struct trunc_ctx *tc = n->hook_arg;
	size_t cl = MIN(content_len(f, len), len);
	unsigned kind = f[19] < 4 ? f[19] : 4;

	if (len >= AOE_HDR_LEN && f[19] == AOE_CMD_ATA) {
		if (f[27 - 0] == 0x40 && len == AOE_ATA_HDR_LEN + 512 &&
		    !tc->saw_ident) {
			tc->saw_ident = true;
		} else if (f[24] & AOE_AFLAG_WRITE) {
			if (tc->saw_write)
				return;
			tc->saw_write = true;
		} else if (len > AOE_ATA_HDR_LEN + 512) {
			if (tc->saw_read)
				return;
			tc->saw_read = true;
		} else {
			return;
		}
	} else if (tc->kinds & (1u << kind)) {
		return;
	}
	tc->kinds |= 1u << kind;
	for (size_t l = 0; l < cl; l++) {
		uint8_t *c = malloc(l ? l : 1);

		cr_assert_not_null(c);
		memcpy(c, f, l);
		net_input(n, ifidx, c, l);
		free(c);
		tc->injected++;
		if (l < AOE_HDR_LEN)
			tc->below_hdr++;
	}
}

static uint64_t
drops(const struct engine_stats *s)
{
	return s->rx_short + s->rx_request + s->rx_badver + s->rx_unknown +
	    s->rx_foreign + s->rx_mismatch + s->rx_bad_cfg;
}

Test(hazards, truncated_everywhere)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 24);
	struct trunc_ctx tc = { 0 };
	struct faketarget *a;
	struct target *t;
	uint8_t w[3000], r[3000];
	const struct engine_stats *st;

	a = net_add_target(n, 1, 0, 4096, 1);
	ft_set_config(a, "truncate me", 11);
	n->on_rsp = trunc_hook;
	n->hook_arg = &tc;
	net_up(n);
	t = net_target(n, 0);
	fill_random(n, w, sizeof(w));
	cr_assert_eq(do_write(n, t, w, 1000, sizeof(w)), 0);
	cr_assert_eq(do_read(n, t, r, 1000, sizeof(r)), 0);
	cr_assert(memcmp(w, r, sizeof(w)) == 0);
	cr_assert(tc.saw_ident && tc.saw_read && tc.saw_write);
	cr_assert(tc.kinds & (1u << AOE_CMD_CFG));
	st = engine_stats(n->e);
	cr_assert_eq(drops(st), tc.injected,
	    "%" PRIu64 " truncated frames, %" PRIu64 " counted drops "
	    "(short %" PRIu64 " mismatch %" PRIu64 ")", tc.injected,
	    drops(st), st->rx_short, st->rx_mismatch);
	cr_assert_geq(st->rx_short, tc.below_hdr);
	cr_assert_eq(st->rx_short + st->rx_mismatch, tc.injected);
	/* and random junk with our ethertype */
	for (unsigned i = 0; i < 3000; i++) {
		size_t l = (size_t)rnd_below(n, 80);
		uint8_t *j = malloc(l ? l : 1);

		cr_assert_not_null(j);
		fill_random(n, j, l);
		if (l >= 14)
			put_be16(j + 12, AOE_ETHERTYPE);
		if (l >= 15)
			j[14] = (uint8_t)(0x18 | (j[14] & 0x07));
		net_input(n, 0, j, l);
		free(j);
	}
	net_free(n);
}

/* ---------------------------------------------------------------- window */

struct win_ctx {
	struct target *t;
	bool strict;            /* no loss: inflight <= window too */
	unsigned max_window_seen, min_window_seen;
	bool violated;
	char msg[128];
};

static void
win_step(struct net *n)
{
	struct win_ctx *wc = n->hook_arg;
	struct target_info ti;

	engine_target_info(wc->t, &ti);
	/* after a loss the window may close below what is in flight */
	if (!wc->violated && ((wc->strict && ti.inflight > ti.window) ||
	    ti.inflight > ti.window_max || ti.window > ti.window_max ||
	    ti.window < 1)) {
		wc->violated = true;
		snprintf(wc->msg, sizeof(wc->msg),
		    "inflight %u window %u window_max %u", ti.inflight,
		    ti.window, ti.window_max);
	}
	if (ti.window > wc->max_window_seen)
		wc->max_window_seen = ti.window;
	if (ti.window < wc->min_window_seen)
		wc->min_window_seen = ti.window;
}

/* Keep the engine busy with one-frame reads until pred says stop. */
struct stream {
	struct net *n;
	struct target *t;
	struct req r[64];
	unsigned depth;
	bool stop;
	uint64_t completed, failed;
};

static void stream_fill(struct stream *s);

static void
stream_done(struct req *r)
{
	struct stream *s = r->ctx;

	if (r->rc)
		s->failed++;
	s->completed++;
	free(r->buf);
	r->buf = NULL;
	r->ncalls = 0;
	r->kind = 0;
	if (!s->stop)
		stream_fill(s);
}

static void
stream_fill(struct stream *s)
{
	for (unsigned i = 0; i < s->depth; i++) {
		struct req *r = &s->r[i];
		uint64_t off;

		if (r->kind)
			continue;
		off = rnd_below(s->n, target_size(s->t) / 1024) * 1024;
		r->then = stream_done;
		r->ctx = s;
		cr_assert_eq(sub_read(s->n, r, s->t, off, 1024), 0);
	}
}

static bool
pred_window_at(struct net *n, void *arg)
{
	struct win_ctx *wc = arg;
	struct target_info ti;

	(void)n;
	engine_target_info(wc->t, &ti);
	return ti.window == ti.window_max;
}

static bool
pred_timeouts(struct net *n, void *arg)
{
	return engine_stats(n->e)->timeouts >= *(const uint64_t *)arg;
}

static bool
pred_stream_idle(struct net *n, void *arg)
{
	const struct stream *s = arg;

	(void)n;
	for (unsigned i = 0; i < s->depth; i++)
		if (s->r[i].kind)
			return false;
	return true;
}

Test(window, grows_shrinks_bounded)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 30);
	struct win_ctx wc = { .min_window_seen = UINT32_MAX };
	struct stream s = { .n = n, .depth = 48 };
	struct target_info ti;
	uint64_t want;
	struct faketarget *a;

	a = net_add_target(n, 1, 0, 4096, 1);
	ft_set_bufcnt(a, 8);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	wc.t = s.t = net_target(n, 0);
	engine_target_info(wc.t, &ti);
	cr_assert_eq(ti.window_max, 8);
	cr_assert_geq(ti.window, 1);
	cr_assert_leq(ti.window, 8);
	n->on_step = win_step;
	n->hook_arg = &wc;
	n->track = true;
	wc.strict = true;

	/* no loss: the window opens up to the buffer count, never beyond */
	stream_fill(&s);
	cr_assert(net_run(n, 60 * NSEC_PER_SEC, pred_window_at, &wc),
	    "window never reached window_max");
	net_advance(n, 200 * NSEC_PER_MSEC);
	cr_assert_eq(n->out_max[0], 8, "most frames on the wire: %u",
	    n->out_max[0]);
	cr_assert_not(wc.violated, "%s", wc.msg);
	cr_assert_eq(engine_stats(n->e)->timeouts, 0);

	/* loss: the window closes */
	n->track = false;
	wc.strict = false;
	n->drop_req = 1000;
	want = engine_stats(n->e)->timeouts + 1;
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_timeouts, &want));
	n->drop_req = 0;
	wc.min_window_seen = UINT32_MAX;
	engine_target_info(wc.t, &ti);
	cr_assert_lt(ti.window, 8, "window %u after loss", ti.window);

	/* loss-free again: it opens back up */
	cr_assert(net_run(n, 60 * NSEC_PER_SEC, pred_window_at, &wc),
	    "window did not grow back after loss (min seen %u)",
	    wc.min_window_seen);
	s.stop = true;
	cr_assert(net_run(n, 30 * NSEC_PER_SEC, pred_stream_idle, &s));
	cr_assert_eq(s.failed, 0);
	cr_assert_not(wc.violated, "%s", wc.msg);
	net_free(n);
}

/*
 * A target that announces itself while its window is full (restarted with
 * a larger image under load) is identified again as one of the window's
 * frames: never more on the wire than its buffer count, no request lost.
 */
Test(window, reidentify_busy_target)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct win_ctx wc = { .min_window_seen = UINT32_MAX };
	struct stream s = { .depth = 48 };
	struct faketarget *a;
	uint64_t idents, done;
	unsigned changed;

	c.discover_ns = 0; /* only the net_discover() below */
	n = net_new(&c, 1, 1500, 0, 33);
	s.n = n;
	/* an image of 8192 sectors that says 4096 until "restarted" */
	a = net_add_target(n, 1, 0, 8192, 1);
	ft_set_ident_sectors(a, 4096);
	ft_set_bufcnt(a, 8);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	wc.t = s.t = net_target(n, 0);
	cr_assert_eq(target_size(wc.t), 4096ULL * 512);
	n->on_step = win_step;
	n->hook_arg = &wc;
	n->track = true;
	stream_fill(&s);
	cr_assert(net_run(n, 60 * NSEC_PER_SEC, pred_window_at, &wc),
	    "window never reached window_max");
	net_advance(n, 2 * NSEC_PER_SEC);
	cr_assert_eq(n->out_max[0], 8);

	ft_set_ident_sectors(a, 8192);
	idents = ft_stats(a)->identifies;
	changed = count_events(n, wc.t, ENGINE_EV_CHANGED);
	done = s.completed;
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(a)->identifies, idents + 1);
	cr_assert_eq(count_events(n, wc.t, ENGINE_EV_CHANGED), changed + 1);
	cr_assert_eq(target_size(wc.t), 8192ULL * 512);
	cr_assert_gt(s.completed, done + 100, "the stream stalled");
	cr_assert_eq(n->out_max[0], 8, "most frames on the wire: %u",
	    n->out_max[0]);

	/* within a second of it: not again */
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(a)->identifies, idents + 1);
	s.stop = true;
	cr_assert(net_run(n, 30 * NSEC_PER_SEC, pred_stream_idle, &s));
	cr_assert_eq(s.failed, 0);
	cr_assert_eq(engine_stats(n->e)->timeouts, 0);
	net_free(n);
}

Test(window, bounded_by_config_and_bufcnt)
{
	for (unsigned k = 0; k < 2; k++) {
		struct engine_config c = cfg_fast();
		struct net *n;
		struct win_ctx wc = { .min_window_seen = UINT32_MAX };
		struct stream s = { .depth = 48 };
		struct target_info ti;
		struct faketarget *a;
		unsigned bound = k == 0 ? 3 : 4;

		if (k == 0)
			c.max_window = 3;
		n = net_new(&c, 1, 1500, 0, 31 + k);
		s.n = n;
		a = net_add_target(n, 1, 0, 4096, 1);
		ft_set_bufcnt(a, k == 0 ? 16 : 4);
		n->delay_ns = NSEC_PER_MSEC;
		net_up(n);
		wc.t = s.t = net_target(n, 0);
		engine_target_info(wc.t, &ti);
		cr_assert_eq(ti.window_max, bound);
		n->on_step = win_step;
		n->hook_arg = &wc;
		n->track = true;
		wc.strict = true;
		stream_fill(&s);
		net_advance(n, 5 * NSEC_PER_SEC);
		cr_assert_eq(n->out_max[0], bound, "k %u: max on wire %u", k,
		    n->out_max[0]);
		cr_assert_eq(wc.max_window_seen, bound);
		cr_assert_not(wc.violated, "%s", wc.msg);
		s.stop = true;
		cr_assert(net_run(n, 30 * NSEC_PER_SEC, pred_stream_idle, &s));
		cr_assert_eq(s.failed, 0);
		net_free(n);
	}
}

/* ---------------------------------------------------------------- dead */

Test(dead, timeout_and_revival)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct faketarget *a;
	struct target *t;
	struct req ra = { 0 }, rb = { 0 }, rc = { 0 }, rq = { 0 };
	uint8_t buf[2048];
	uint64_t t0, t_dead = 0;
	unsigned dead_ev = 0, one = 1;

	c.dead_ns = 2 * NSEC_PER_SEC;
	n = net_new(&c, 1, 1500, 0, 40);
	a = net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	cr_assert_eq(do_read(n, t, buf, 0, 2048), 0);

	ft_set_silent(a, FT_SILENT_ALL);
	t0 = n->now;
	cr_assert_eq(sub_read(n, &ra, t, 0, 1024), 0);
	cr_assert_eq(n->log[n->logn - 1].t, t0, "read not sent at once");
	net_advance(n, 300 * NSEC_PER_MSEC);
	cr_assert_eq(sub_read(n, &rb, t, 8192, 1024), 0);
	/* waits behind rb: overlapping */
	cr_assert_eq(sub_write(n, &rq, t, 8192 + 100, 1000), 0);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &ra));
	cr_assert_eq(ra.rc, -EIO);
	cr_assert_geq(ra.t_done, t0 + c.dead_ns, "failed %" PRIu64
	    " ns early", t0 + c.dead_ns - ra.t_done);
	cr_assert_leq(ra.t_done, t0 + c.dead_ns + c.rto_max_ns,
	    "failed %" PRIu64 " ns after the dead time",
	    ra.t_done - t0 - c.dead_ns);
	/* everything pending fails with it */
	cr_assert(net_run(n, 1, pred_req_done, &rb));
	cr_assert_eq(rb.rc, -EIO);
	cr_assert_eq(rb.t_done, ra.t_done);
	cr_assert(net_run(n, 1, pred_req_done, &rq), "queued write hangs");
	cr_assert_eq(rq.rc, -EIO);
	cr_assert_eq(rq.t_done, ra.t_done);
	cr_assert_eq(target_state(t), TARGET_DEAD);
	for (unsigned i = 0; i < n->nev; i++) {
		if (n->ev[i].t == t && n->ev[i].ev == ENGINE_EV_DEAD) {
			dead_ev++;
			t_dead = n->ev[i].time;
		}
	}
	cr_assert_eq(dead_ev, 1);
	cr_assert_eq(t_dead, ra.t_done);
	cr_assert_eq(sub_read(n, &rc, t, 0, 512), -EIO);
	cr_assert_eq(sub_write(n, &rc, t, 0, 512), -EIO);
	net_advance(n, NSEC_PER_SEC);
	cr_assert_eq(rc.ncalls, 0);
	cr_assert_eq(ra.ncalls, 1);
	cr_assert_eq(rb.ncalls, 1);

	/* the target answers again: config, IDENTIFY, up */
	ft_set_silent(a, 0);
	net_discover(n);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_all_up, &one),
	    "dead target did not come back");
	cr_assert_eq(engine_target_find(n->e, 1, 0), t);
	cr_assert_eq(count_events(n, t, ENGINE_EV_UP), 2);
	{
		uint8_t w[4000], r[4000];

		fill_random(n, w, sizeof(w));
		cr_assert_eq(do_write(n, t, w, 777, sizeof(w)), 0);
		cr_assert_eq(do_read(n, t, r, 777, sizeof(r)), 0);
		cr_assert(memcmp(w, r, sizeof(w)) == 0);
	}
	req_release(&ra);
	req_release(&rb);
	req_release(&rc);
	req_release(&rq);
	net_free(n);
}

/* ---------------------------------------------------------------- overlap */

static bool
ranges_overlap(const struct req *a, const struct req *b)
{
	uint64_t a0 = a->off / 512, a1 = (a->off + a->len + 511) / 512;
	uint64_t b0 = b->off / 512, b1 = (b->off + b->len + 511) / 512;

	return a0 < b1 && b0 < a1;
}

Test(overlap, serialised_fifo)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 50);
	struct faketarget *a;
	struct target *t;
	uint8_t *shadow;
	enum { NR = 400 };
	struct req *r = calloc(NR, sizeof(*r));
	struct req_set set = { r, NR };
	const uint64_t span = 96 * 1024;        /* all requests in 96 KiB */

	cr_assert_not_null(r);
	a = net_add_target(n, 1, 0, 4096, 1);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	t = net_target(n, 0);
	shadow = seed_image(n, a);
	n->track = true;
	n->check_overlap = true;

	/* a fixed start: two overlapping writes, a read across both */
	for (unsigned i = 0; i < NR; i++) {
		bool write;
		uint64_t off;
		size_t len;
		int rc;

		if (i == 0) {
			write = true, off = 0, len = 32 * 1024;
		} else if (i == 1) {
			write = true, off = 16 * 1024 + 100, len = 20000;
		} else if (i == 2) {
			write = false, off = 0, len = 48 * 1024;
		} else {
			write = rnd(n) % 3 != 0;
			off = rnd_below(n, span);
			len = 1 + rnd_below(n, 24 * 1024);
			if (len > span - off)
				len = span - off;
		}
		if (write) {
			r[i].buf = malloc(len);
			cr_assert_not_null(r[i].buf);
			fill_random(n, r[i].buf, len);
			memcpy(shadow + off, r[i].buf, len);
			rc = sub_write(n, &r[i], t, off, len);
		} else {
			r[i].expect = malloc(len);
			cr_assert_not_null(r[i].expect);
			memcpy(r[i].expect, shadow + off, len);
			rc = sub_read(n, &r[i], t, off, len);
		}
		cr_assert_eq(rc, 0);
		/* let some requests start before the next is queued */
		if (i % 50 == 49)
			net_advance(n, 3 * NSEC_PER_MSEC);
	}
	cr_assert(net_run(n, 120 * NSEC_PER_SEC, pred_set_done, &set));
	cr_assert_eq(n->overlap_violations, 0, "%u overlapping frames in "
	    "flight, first: %s", n->overlap_violations, n->overlap_msg);
	for (unsigned i = 0; i < NR; i++) {
		cr_assert_eq(r[i].ncalls, 1);
		cr_assert_eq(r[i].rc, 0);
		for (unsigned j = i + 1; j < NR; j++) {
			if ((r[i].kind == R_WRITE || r[j].kind == R_WRITE) &&
			    ranges_overlap(&r[i], &r[j]))
				cr_assert_lt(r[i].order, r[j].order,
				    "request %u completed after the later "
				    "overlapping request %u", i, j);
		}
	}
	/* something was really in flight together */
	cr_assert_gt(n->out_max[0], 1);
	assert_image(a, shadow);
	for (unsigned i = 0; i < NR; i++)
		req_release(&r[i]);
	free(r);
	free(shadow);
	net_free(n);
}

/* ---------------------------------------------------------------- errors */

Test(errors, mapping)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 60);
	struct faketarget *ro, *lie, *arg, *res, *unc;
	struct target *t;
	uint8_t buf[4096];
	struct target_info ti;
	const uint8_t other[1][6] = { { 0x02, 0x77, 0, 0, 0, 7 } };
	uint64_t t_start;

	ro = net_add_target(n, 2, 0, 4096, 1);
	lie = net_add_target(n, 2, 1, 4096, 1);
	arg = net_add_target(n, 2, 2, 4096, 1);
	res = net_add_target(n, 2, 3, 4096, 1);
	unc = net_add_target(n, 2, 4, 4096, 1);
	ft_set_read_only(ro, true);
	ft_set_ident_sectors(lie, 8192);
	ft_set_accept_scnt(arg, 1);
	ft_resv_set(res, other, 1);     /* IDENTIFY still answers */
	ft_fail_lba(unc, 100, ATA_ER_UNC);
	net_up(n);
	memset(buf, 0x33, sizeof(buf));

	/* read-only: the write fails -EROFS and the target turns read-only */
	t = net_target(n, 0);
	cr_assert_not(target_read_only(t));
	t_start = n->now;
	cr_assert_eq(do_write(n, t, buf, 0, 1024), -EROFS);
	cr_assert_lt(n->now - t_start, 100 * NSEC_PER_MSEC,
	    "error was retried");
	cr_assert(target_read_only(t));
	engine_target_info(t, &ti);
	cr_assert(ti.read_only);
	cr_assert_eq(do_write(n, t, buf, 0, 1024), -EROFS);
	cr_assert_eq(do_read(n, t, buf, 0, 1024), 0);
	cr_assert_eq(ft_stats(ro)->writes, 0);

	/* IDNF: the target claims more sectors than it has */
	t = net_target(n, 1);
	cr_assert_eq(target_size(t), 8192ULL * 512);
	cr_assert_eq(do_read(n, t, buf, 0, 1024), 0);
	cr_assert_eq(do_read(n, t, buf, 5000 * 512, 1024), -ENOSPC);
	cr_assert_eq(do_write(n, t, buf, 5000 * 512, 1024), -ENOSPC);
	cr_assert_not(target_read_only(t));

	/* AoE error 2: more sectors than the target accepts */
	t = net_target(n, 2);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.sectors_per_frame, 2);
	t_start = n->now;
	cr_assert_eq(do_read(n, t, buf, 0, 1024), -EINVAL);
	cr_assert_lt(n->now - t_start, 100 * NSEC_PER_MSEC,
	    "error was retried");
	cr_assert_eq(do_read(n, t, buf, 0, 512), 0);

	/* reserved by another host */
	t = net_target(n, 3);
	cr_assert_eq(target_state(t), TARGET_UP);
	cr_assert_eq(do_read(n, t, buf, 0, 1024), -EACCES);
	cr_assert_eq(do_write(n, t, buf, 0, 1024), -EACCES);
	cr_assert_eq(ft_stats(res)->reads + ft_stats(res)->writes, 0);

	/* ATA UNC */
	t = net_target(n, 4);
	cr_assert_eq(do_read(n, t, buf, 99 * 512, 1024), -EIO);
	cr_assert_eq(do_read(n, t, buf, 0, 4096), 0);

	/* none of it killed a target */
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(target_state(net_target(n, i)), TARGET_UP);
	cr_assert_eq(count_events(n, NULL, ENGINE_EV_DEAD), 0);
	net_free(n);
}

Test(errors, configured_read_only)
{
	struct engine_config c = cfg_fast();
	struct net *n;
	struct target *t;
	struct req r = { 0 };
	uint8_t buf[512];

	c.read_only = true;
	n = net_new(&c, 1, 1500, 0, 61);
	net_add_target(n, 1, 0, 4096, 1);
	net_up(n);
	t = net_target(n, 0);
	cr_assert(target_read_only(t));
	cr_assert_eq(sub_write(n, &r, t, 0, 512), -EROFS);
	cr_assert_eq(do_read(n, t, buf, 0, 512), 0);
	net_advance(n, NSEC_PER_SEC);
	cr_assert_eq(r.ncalls, 0);
	cr_assert_eq(ft_stats(n->tgt[0])->writes, 0);
	req_release(&r);
	net_free(n);
}

/* ---------------------------------------------------------------- flush */

static void
flush_case(uint16_t w83, bool ext, uint8_t want_cmd)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 70);
	struct faketarget *a;
	struct target *t;
	struct req r = { 0 };
	uint8_t buf[1024] = { 1 };
	size_t mark;
	unsigned flush_frames = 0;

	a = net_add_target(n, 1, 0, 4096, 1);
	if (ext)
		ft_set_flush_ext(a, true);
	else
		ft_set_w83(a, w83);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	t = net_target(n, 0);
	cr_assert_eq(do_write(n, t, buf, 0, sizeof(buf)), 0);
	mark = n->logn;
	cr_assert_eq(sub_flush(n, &r, t), 0);
	cr_assert_eq(r.ncalls, 0, "flush completed inside engine_flush");
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_req_done, &r));
	cr_assert_eq(r.rc, 0);
	for (size_t i = mark; i < n->logn; i++) {
		const uint8_t *h = n->log[i].hdr;

		if (h[19] == AOE_CMD_ATA &&
		    (h[27] == ATA_CMD_FLUSH || h[27] == ATA_CMD_FLUSH_EXT)) {
			flush_frames++;
			cr_assert_eq(h[27], want_cmd, "flush sent %#x", h[27]);
			cr_assert_eq(h[24] & AOE_AFLAG_WRITE, 0);
		}
	}
	if (want_cmd == 0) {
		cr_assert_eq(flush_frames, 0);
		cr_assert_eq(ft_stats(a)->flushes + ft_stats(a)->flush_exts, 0);
	} else {
		cr_assert_eq(flush_frames, 1);
		/* the target had answered before the callback: 2 x 1 ms */
		cr_assert_geq(r.t_done - r.t_submit, 2 * NSEC_PER_MSEC);
		cr_assert_eq(want_cmd == ATA_CMD_FLUSH ?
		    ft_stats(a)->flushes : ft_stats(a)->flush_exts, 1);
	}
	net_free(n);
}

Test(flush, vblade_flush_cache)
{
	flush_case(0x5400, false, ATA_CMD_FLUSH);
}

Test(flush, flush_cache_ext)
{
	flush_case(0, true, ATA_CMD_FLUSH_EXT);
}

Test(flush, no_cache)
{
	flush_case(0x4400, false, 0);
}

Test(flush, ext_refused_falls_back)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 72);
	struct faketarget *a;
	struct target *t;
	struct req r1 = { 0 }, r2 = { 0 };
	size_t mark;
	unsigned ext = 0, plain = 0;

	a = net_add_target(n, 1, 0, 4096, 1);
	ft_set_w83(a, 0x7400);  /* claims FLUSH CACHE EXT, refuses it */
	net_up(n);
	t = net_target(n, 0);
	mark = n->logn;
	cr_assert_eq(sub_flush(n, &r1, t), 0);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_req_done, &r1));
	cr_assert_eq(r1.rc, 0);
	cr_assert_eq(sub_flush(n, &r2, t), 0);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_req_done, &r2));
	cr_assert_eq(r2.rc, 0);
	for (size_t i = mark; i < n->logn; i++) {
		const uint8_t *h = n->log[i].hdr;

		if (h[19] != AOE_CMD_ATA)
			continue;
		ext += h[27] == ATA_CMD_FLUSH_EXT;
		plain += h[27] == ATA_CMD_FLUSH;
	}
	cr_assert_eq(ext, 1, "FLUSH CACHE EXT sent %u times", ext);
	cr_assert_eq(plain, 2);
	cr_assert_eq(ft_stats(a)->flushes, 2);
	net_free(n);
}

Test(flush, dead_and_unidentified)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 71);
	struct faketarget *b;
	struct req r = { 0 };
	unsigned one = 1;

	net_add_target(n, 1, 0, 4096, 1);
	b = net_add_target(n, 1, 1, 4096, 1);
	ft_set_silent(b, FT_SILENT_ATA);
	net_discover(n);
	cr_assert(net_run(n, NSEC_PER_SEC, pred_all_up, &one));
	cr_assert_eq(sub_flush(n, &r, net_target(n, 1)), -EAGAIN);
	net_advance(n, NSEC_PER_SEC);
	cr_assert_eq(r.ncalls, 0);
	net_free(n);
}

/* ---------------------------------------------------------------- admin */

struct admin_res {
	struct net *n;
	unsigned ncalls;
	int rc;
	bool have;
	uint64_t t_done;
	struct aoe_cfg cfg;
	struct aoe_mask mask;
	struct aoe_resv resv;
};

static void
admin_common(struct admin_res *a, int rc)
{
	cr_assert(a->n->in_engine, "admin callback outside the engine");
	cr_assert_eq(a->n->in_submit, 0, "admin callback inside submit");
	cr_assert_eq(a->ncalls, 0, "admin callback ran twice");
	a->ncalls++;
	a->rc = rc;
	a->t_done = a->n->now;
}

static void
cfg_done(void *arg, int rc, const struct aoe_cfg *c)
{
	struct admin_res *a = arg;

	admin_common(a, rc);
	a->have = c != NULL;
	if (c)
		a->cfg = *c;
}

static void
mask_done(void *arg, int rc, const struct aoe_mask *m)
{
	struct admin_res *a = arg;

	admin_common(a, rc);
	a->have = m != NULL;
	if (m)
		a->mask = *m;
}

static void
resv_done(void *arg, int rc, const struct aoe_resv *r)
{
	struct admin_res *a = arg;

	admin_common(a, rc);
	a->have = r != NULL;
	if (r)
		a->resv = *r;
}

static bool
pred_admin(struct net *n, void *arg)
{
	(void)n;
	return ((const struct admin_res *)arg)->ncalls > 0;
}

static void
admin_wait(struct net *n, struct admin_res *a)
{
	cr_assert_eq(a->ncalls, 0, "admin callback inside submit");
	cr_assert(net_run(n, 30 * NSEC_PER_SEC, pred_admin, a),
	    "admin command never completed");
}

static struct admin_res *
do_cfg(struct net *n, struct target *t, uint8_t ccmd, const char *s,
    uint64_t timeout, struct admin_res *a)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->n = n;
	n->in_submit++;
	rc = engine_config(n->e, t, ccmd, s, s ? strlen(s) : 0, timeout,
	    cfg_done, a, n->now);
	n->in_submit--;
	check_flushed(n, "engine_config");
	cr_assert_eq(rc, 0, "engine_config: %d", rc);
	admin_wait(n, a);
	return a;
}

static struct admin_res *
do_mask(struct net *n, struct target *t, const struct aoe_mask *m,
    struct admin_res *a)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->n = n;
	n->in_submit++;
	rc = engine_mask(n->e, t, m, NSEC_PER_SEC, mask_done, a, n->now);
	n->in_submit--;
	check_flushed(n, "engine_mask");
	cr_assert_eq(rc, 0, "engine_mask: %d", rc);
	admin_wait(n, a);
	return a;
}

static struct admin_res *
do_resv(struct net *n, struct target *t, const struct aoe_resv *r,
    struct admin_res *a)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->n = n;
	n->in_submit++;
	rc = engine_reserve(n->e, t, r, NSEC_PER_SEC, resv_done, a, n->now);
	n->in_submit--;
	check_flushed(n, "engine_reserve");
	cr_assert_eq(rc, 0, "engine_reserve: %d", rc);
	admin_wait(n, a);
	return a;
}

static void
assert_cfg_str(const struct admin_res *a, const char *s)
{
	cr_assert(a->have, "no config response");
	cr_assert_eq(a->cfg.len, strlen(s), "config length %u, want %zu",
	    a->cfg.len, strlen(s));
	cr_assert(memcmp(a->cfg.str, s, strlen(s)) == 0);
}

Test(admin, config_commands)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 80);
	struct faketarget *f;
	struct target *t;
	struct admin_res *a = calloc(1, sizeof(*a));
	const uint64_t to = NSEC_PER_SEC;
	uint64_t t0;
	size_t cl;
	const uint8_t *cs;

	cr_assert_not_null(a);
	f = net_add_target(n, 5, 1, 4096, 1);
	net_up(n);
	t = net_target(n, 0);

	do_cfg(n, t, AOE_CCMD_READ, NULL, to, a);
	cr_assert_eq(a->rc, 0);
	assert_cfg_str(a, "");
	cr_assert_eq(a->cfg.bufcnt, 16);
	cr_assert_eq(a->cfg.scnt, 2);
	cr_assert_eq(a->cfg.fwver, 0x4019);

	do_cfg(n, t, AOE_CCMD_SET, "alpha", to, a);
	cr_assert_eq(a->rc, 0);
	assert_cfg_str(a, "alpha");
	cs = ft_config(f, &cl);
	cr_assert_eq(cl, 5);
	cr_assert(memcmp(cs, "alpha", 5) == 0);

	do_cfg(n, t, AOE_CCMD_TEST, "alpha", to, a);
	cr_assert_eq(a->rc, 0);
	assert_cfg_str(a, "alpha");
	do_cfg(n, t, AOE_CCMD_PREFIX, "alp", to, a);
	cr_assert_eq(a->rc, 0);
	assert_cfg_str(a, "alpha");

	t0 = n->now;
	do_cfg(n, t, AOE_CCMD_TEST, "alp", to, a);
	cr_assert_eq(a->rc, -ETIMEDOUT);
	cr_assert_geq(a->t_done, t0 + to);
	cr_assert_leq(a->t_done, t0 + to + c.rto_max_ns);
	t0 = n->now;
	do_cfg(n, t, AOE_CCMD_PREFIX, "beta", to, a);
	cr_assert_eq(a->rc, -ETIMEDOUT);
	cr_assert_geq(a->t_done, t0 + to);
	cr_assert_leq(a->t_done, t0 + to + c.rto_max_ns);

	/* set refused (error 4) with the current string */
	do_cfg(n, t, AOE_CCMD_SET, "beta", to, a);
	cr_assert_eq(a->rc, -EEXIST);
	assert_cfg_str(a, "alpha");
	cs = ft_config(f, &cl);
	cr_assert_eq(cl, 5);
	/* set to the same string is fine, force set always */
	do_cfg(n, t, AOE_CCMD_SET, "alpha", to, a);
	cr_assert_eq(a->rc, 0);
	do_cfg(n, t, AOE_CCMD_FSET, "beta", to, a);
	cr_assert_eq(a->rc, 0);
	assert_cfg_str(a, "beta");
	cs = ft_config(f, &cl);
	cr_assert_eq(cl, 4);
	cr_assert(memcmp(cs, "beta", 4) == 0);
	do_cfg(n, t, AOE_CCMD_READ, NULL, to, a);
	assert_cfg_str(a, "beta");
	{
		struct target_info ti;

		engine_target_info(t, &ti);
		cr_assert_eq(ti.cfg_len, 4);
		cr_assert(memcmp(ti.cfg, "beta", 4) == 0);
	}

	/* the admin frames went unicast to the target */
	for (size_t i = 0; i < n->logn; i++) {
		const uint8_t *h = n->log[i].hdr;

		if (h[19] == AOE_CMD_CFG && !mac_bcast(h)) {
			cr_assert(mac_eq(h, ft_mac(f)));
			cr_assert_eq(get_be16(h + 16), 5);
			cr_assert_eq(h[18], 1);
		}
	}
	free(a);
	net_free(n);
}

Test(admin, mask_list)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 81);
	struct faketarget *f;
	struct target *t;
	struct admin_res *a = calloc(1, sizeof(*a));
	struct aoe_mask *m = calloc(1, sizeof(*m));
	const uint8_t other[6] = { 0x02, 0x77, 0, 0, 0, 9 };

	cr_assert_not_null(a);
	cr_assert_not_null(m);
	f = net_add_target(n, 5, 1, 4096, 1);
	net_up(n);
	t = net_target(n, 0);

	m->mcmd = AOE_MCMD_READ;
	do_mask(n, t, m, a);
	cr_assert_eq(a->rc, 0);
	cr_assert(a->have);
	cr_assert_eq(a->mask.ndir, 0);

	memset(m, 0, sizeof(*m));
	m->mcmd = AOE_MCMD_EDIT;
	m->ndir = 2;
	m->dir[0].dcmd = AOE_DCMD_ADD;
	memcpy(m->dir[0].mac, n->ifmac[0], 6);
	m->dir[1].dcmd = AOE_DCMD_ADD;
	memcpy(m->dir[1].mac, other, 6);
	do_mask(n, t, m, a);
	cr_assert_eq(a->rc, 0);
	cr_assert_eq(a->mask.merror, 0);
	cr_assert_eq(a->mask.ndir, 2);
	cr_assert(mac_eq(a->mask.dir[0].mac, n->ifmac[0]));
	cr_assert(mac_eq(a->mask.dir[1].mac, other));
	cr_assert_eq(ft_mask_count(f), 2);

	/* a bad directive: merror 2, the index in ndir, list unchanged */
	memset(m, 0, sizeof(*m));
	m->mcmd = AOE_MCMD_EDIT;
	m->ndir = 2;
	m->dir[0].dcmd = AOE_DCMD_NONE;
	m->dir[1].dcmd = 7;
	do_mask(n, t, m, a);
	cr_assert_eq(a->rc, -EINVAL);
	cr_assert(a->have);
	cr_assert_eq(a->mask.merror, AOE_MERR_BADDIR);
	cr_assert_eq(a->mask.ndir, 1);
	cr_assert_eq(ft_mask_count(f), 2);

	/* delete ourselves: from now on the target ignores us */
	memset(m, 0, sizeof(*m));
	m->mcmd = AOE_MCMD_EDIT;
	m->ndir = 1;
	m->dir[0].dcmd = AOE_DCMD_DEL;
	memcpy(m->dir[0].mac, n->ifmac[0], 6);
	do_mask(n, t, m, a);
	cr_assert_eq(a->rc, 0);
	cr_assert_eq(a->mask.ndir, 1);
	cr_assert(mac_eq(a->mask.dir[0].mac, other));
	cr_assert_eq(ft_mask_count(f), 1);
	m->mcmd = AOE_MCMD_READ;
	m->ndir = 0;
	do_mask(n, t, m, a);
	cr_assert_eq(a->rc, -ETIMEDOUT);
	free(m);
	free(a);
	net_free(n);
}

Test(admin, reserve_release)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 82);
	struct faketarget *f;
	struct target *t;
	struct admin_res *a = calloc(1, sizeof(*a));
	struct aoe_resv *r = calloc(1, sizeof(*r));
	const uint8_t other[1][6] = { { 0x02, 0x77, 0, 0, 0, 9 } };
	uint8_t buf[1024];

	cr_assert_not_null(a);
	cr_assert_not_null(r);
	f = net_add_target(n, 5, 1, 4096, 1);
	net_up(n);
	t = net_target(n, 0);

	r->rcmd = AOE_RCMD_READ;
	do_resv(n, t, r, a);
	cr_assert_eq(a->rc, 0);
	cr_assert(a->have);
	cr_assert_eq(a->resv.nmacs, 0);

	r->rcmd = AOE_RCMD_SET;
	r->nmacs = 1;
	memcpy(r->macs[0], n->ifmac[0], 6);
	do_resv(n, t, r, a);
	cr_assert_eq(a->rc, 0);
	cr_assert_eq(a->resv.nmacs, 1);
	cr_assert(mac_eq(a->resv.macs[0], n->ifmac[0]));
	cr_assert_eq(ft_resv_count(f), 1);
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), 0);

	/* someone else holds it */
	ft_resv_set(f, other, 1);
	do_resv(n, t, r, a);
	cr_assert_eq(a->rc, -EACCES);
	cr_assert(a->have);
	cr_assert_eq(a->resv.nmacs, 1);
	cr_assert(mac_eq(a->resv.macs[0], other[0]));
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), -EACCES);

	r->rcmd = AOE_RCMD_FSET;
	do_resv(n, t, r, a);
	cr_assert_eq(a->rc, 0);
	cr_assert(mac_eq(ft_resv_mac(f, 0), n->ifmac[0]));
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), 0);

	/* release */
	r->rcmd = AOE_RCMD_SET;
	r->nmacs = 0;
	do_resv(n, t, r, a);
	cr_assert_eq(a->rc, 0);
	cr_assert_eq(a->resv.nmacs, 0);
	cr_assert_eq(ft_resv_count(f), 0);
	free(r);
	free(a);
	net_free(n);
}

/* engine_reserve_hold and engine_reserve_release, as a front end calls them. */
static void
hold(struct net *n, struct target *t)
{
	n->in_engine++;
	engine_reserve_hold(n->e, t, n->now);
	n->in_engine--;
	check_flushed(n, "engine_reserve_hold");
}

static bool
pred_released(struct net *n, void *arg)
{
	(void)arg;
	return engine_releasing(n->e) == 0;
}

static unsigned
release_all(struct net *n)
{
	unsigned k;

	n->in_engine++;
	k = engine_reserve_release(n->e, n->now);
	n->in_engine--;
	check_flushed(n, "engine_reserve_release");
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_released, NULL),
	    "releases never answered");
	return k;
}

/* t's reservation state, and that the list holds both our MACs. */
static void
expect_resv(struct net *n, struct target *t, enum target_resv st,
    unsigned events)
{
	struct target_info ti;

	engine_target_info(t, &ti);
	cr_assert_eq(ti.resv, st, "reservation state %d, expected %d",
	    ti.resv, st);
	cr_assert_eq(count_events(n, t, ENGINE_EV_RESERVE), events);
	if (st == TARGET_RESV_HELD) {
		cr_assert_eq(ti.resv_total, 2);
		cr_assert(mac_eq(ti.resv_macs[0], n->ifmac[0]));
		cr_assert(mac_eq(ti.resv_macs[1], n->ifmac[1]));
	}
}

/*
 * --reserve: a held target is reserved for every local MAC at once, again
 * after it restarted (its list forgotten), not taken from another host
 * (its I/O fails -EACCES; claimed again on a refused I/O at most once a
 * second), taken again at a config answer 30 s on once an admin cleared
 * it, and with a new MAC; released on engine_reserve_release.
 */
Test(admin, reserve_hold)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 84);
	const uint8_t other[1][6] = { { 0x02, 0x77, 0, 0, 0, 9 } };
	const uint8_t newmac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x99 };
	struct faketarget *f;
	struct target *t;
	uint8_t buf[1024];
	uint64_t resvs;

	f = net_add_target(n, 5, 1, 4096, 3);
	net_up(n);
	t = net_target(n, 0);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(f)->resvs, 0, "reserved without being asked");

	hold(n, t);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_resv_count(f), 2);
	cr_assert(mac_eq(ft_resv_mac(f, 0), n->ifmac[0]));
	cr_assert(mac_eq(ft_resv_mac(f, 1), n->ifmac[1]));
	expect_resv(n, t, TARGET_RESV_HELD, 1);
	resvs = ft_stats(f)->resvs;
	hold(n, t);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(f)->resvs, resvs, "a second hold sent again");
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), 0);

	/* Restarted: its list is gone, taken again at its advert. */
	ft_resv_set(f, NULL, 0);
	announce_restart(n, f);
	cr_assert_eq(ft_resv_count(f), 2, "not claimed after the restart");
	expect_resv(n, t, TARGET_RESV_HELD, 1);

	/* Another host takes it: refused, and not taken over. */
	ft_resv_set(f, other, 1);
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), -EACCES);
	net_advance(n, 100 * NSEC_PER_MSEC);
	expect_resv(n, t, TARGET_RESV_OTHER, 2);
	{
		struct target_info ti;

		engine_target_info(t, &ti);
		cr_assert_eq(ti.resv_total, 1);
		cr_assert_eq(ti.resv_nmacs, 1);
		cr_assert(mac_eq(ti.resv_macs[0], other[0]));
	}
	cr_assert_eq(ft_resv_count(f), 1);
	cr_assert(mac_eq(ft_resv_mac(f, 0), other[0]));
	resvs = ft_stats(f)->resvs;
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), -EACCES);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(f)->resvs, resvs, "claimed twice in a second");
	net_advance(n, NSEC_PER_SEC);
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), -EACCES);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_stats(f)->resvs, resvs + 1, "not claimed again");
	expect_resv(n, t, TARGET_RESV_OTHER, 2);

	/* Cleared by an admin: I/O works, taken again 30 s on. */
	ft_resv_set(f, NULL, 0);
	cr_assert_eq(do_read(n, t, buf, 0, sizeof(buf)), 0);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_resv_count(f), 0, "claimed before 30 s");
	net_advance(n, 30 * NSEC_PER_SEC);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_resv_count(f), 2, "not taken again");
	expect_resv(n, t, TARGET_RESV_HELD, 3);

	/* A new MAC: in the list at the next config answer. */
	engine_update_interface(n->e, 1, newmac, 1500);
	memcpy(n->ifmac[1], newmac, 6);
	net_discover(n);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_resv_count(f), 2);
	cr_assert(mac_eq(ft_resv_mac(f, 1), newmac), "the new MAC not listed");

	/* Released; not claimed again after that. */
	cr_assert_eq(release_all(n), 1);
	cr_assert_eq(ft_resv_count(f), 0);
	expect_resv(n, t, TARGET_RESV_NONE, 4);
	announce_restart(n, f);
	net_discover(n);
	net_advance(n, 31 * NSEC_PER_SEC);
	cr_assert_eq(ft_resv_count(f), 0, "claimed after the release");
	cr_assert_eq(release_all(n), 0);
	net_free(n);
}

/*
 * Two vblades serving one file (one disk) on two LANs keep a reserve list
 * each: a held target is reserved through each port, one found later
 * too, and released through each.
 */
Test(admin, reserve_two_ports)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 86);
	uint8_t mac[6] = { 0x02, 0xbb, 0x00, 0x00, 0x01, 0x00 };
	struct faketarget *a, *b;
	struct target *t;
	struct target_info ti;
	unsigned one = 1;

	a = net_add_target(n, 1, 0, 4096, 1);
	b = ft_new(1, 0, mac, 4096);
	cr_assert_not_null(b);
	ft_set_silent(b, FT_SILENT_ALL);
	n->tgt[n->ntgts] = b;
	n->tgt_ifs[n->ntgts] = 2;
	n->ntgts++;
	net_discover(n);
	cr_assert(net_run(n, 5 * NSEC_PER_SEC, pred_all_up, &one));
	t = net_target(n, 0);
	hold(n, t);
	net_advance(n, 100 * NSEC_PER_MSEC);
	cr_assert_eq(ft_resv_count(a), 2);
	cr_assert_eq(ft_resv_count(b), 0);
	expect_resv(n, t, TARGET_RESV_HELD, 1);

	/* b's vblade starts: a second port to the disk, reserved too */
	ft_set_silent(b, 0);
	net_discover(n);
	net_advance(n, 500 * NSEC_PER_MSEC);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.npaths, 2);
	cr_assert(ti.paths[0].checked && ti.paths[1].checked);
	cr_assert_eq(ft_resv_count(b), 2, "the second port not reserved");
	cr_assert(mac_eq(ft_resv_mac(b, 0), n->ifmac[0]));
	cr_assert(mac_eq(ft_resv_mac(b, 1), n->ifmac[1]));
	expect_resv(n, t, TARGET_RESV_HELD, 1);

	cr_assert_eq(release_all(n), 2);
	cr_assert_eq(ft_resv_count(a), 0);
	cr_assert_eq(ft_resv_count(b), 0);
	expect_resv(n, t, TARGET_RESV_NONE, 2);
	net_free(n);
}

/*
 * Release at exit of a target another host took meanwhile: refused,
 * quietly (no event), and its list stays; one given back to this host by
 * an admin after a refusal is released.
 */
Test(admin, reserve_release_not_ours)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 1500, 1500, 85);
	const uint8_t other[1][6] = { { 0x02, 0x77, 0, 0, 0, 9 } };
	const uint8_t ours[2][6] = { { 0x02, 0x11, 0x22, 0x33, 0x44, 0 },
		{ 0x02, 0x11, 0x22, 0x33, 0x44, 1 } };
	struct faketarget *f, *g;
	struct target *t, *u;
	uint8_t buf[1024];

	f = net_add_target(n, 5, 1, 4096, 3);
	g = net_add_target(n, 5, 2, 4096, 3);
	net_up(n);
	t = net_target(n, 0);
	u = net_target(n, 1);
	cr_assert_eq(target_name(u)[3], '2');
	hold(n, t);
	hold(n, u);
	net_advance(n, 100 * NSEC_PER_MSEC);
	expect_resv(n, t, TARGET_RESV_HELD, 1);
	expect_resv(n, u, TARGET_RESV_HELD, 1);
	ft_resv_set(f, other, 1);
	/* u: taken by another host, then given back to us by an admin */
	ft_resv_set(g, other, 1);
	cr_assert_eq(do_read(n, u, buf, 0, sizeof(buf)), -EACCES);
	net_advance(n, 100 * NSEC_PER_MSEC);
	expect_resv(n, u, TARGET_RESV_OTHER, 2);
	ft_resv_set(g, ours, 2);
	cr_assert_eq(release_all(n), 2);
	cr_assert_eq(ft_resv_count(f), 1, "another host's list changed");
	cr_assert(mac_eq(ft_resv_mac(f, 0), other[0]));
	expect_resv(n, t, TARGET_RESV_OTHER, 1);
	cr_assert_eq(ft_resv_count(g), 0, "ours again, but not released");
	expect_resv(n, u, TARGET_RESV_NONE, 3);
	net_free(n);
}

/* ---------------------------------------------------------------- free */

/* engine_cancel: requests r[0..16) of the array ctx. */
static bool
match_first16(void *arg, void *ctx)
{
	const struct req *r = arg, *lo = ctx;

	return r >= lo && r < lo + 16;
}

static bool
pred_all20_done(struct net *n, void *arg)
{
	const struct req *r = arg;

	(void)n;
	for (unsigned i = 0; i < 20; i++)
		if (r[i].ncalls == 0)
			return false;
	return true;
}

/*
 * A front end's client went away: its requests that have not started, and
 * the unsent frames of those that have, are dropped; every callback still
 * runs once; the other client's requests are untouched.
 */
Test(lifecycle, cancel)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 95);
	struct faketarget *ft;
	struct target *t;
	struct req *r = calloc(20, sizeof(*r));
	uint64_t sends0;
	unsigned k;

	cr_assert_not_null(r);
	ft = net_add_target(n, 1, 0, 8192, 1);
	ft_set_bufcnt(ft, 4);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	t = net_target(n, 0);
	for (unsigned i = 0; i < 20; i++)
		cr_assert_eq(sub_read(n, &r[i], t, (uint64_t)i * 65536,
		    65536), 0);
	sends0 = n->sends;
	k = engine_cancel(n->e, t, match_first16, r, n->now);
	check_flushed(n, "engine_cancel");
	cr_assert_eq(k, 16);
	for (unsigned i = 0; i < 20; i++)
		cr_assert_eq(r[i].ncalls, 0, "callback inside engine_cancel");
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_all20_done, r));
	for (unsigned i = 0; i < 16; i++)
		cr_assert_eq(r[i].rc, -ECANCELED, "r[%u]: %d", i, r[i].rc);
	for (unsigned i = 16; i < 20; i++)
		cr_assert_eq(r[i].rc, 0, "r[%u]: %d", i, r[i].rc);
	/* 4 x 64 frames for the rest, a window's worth for the cancelled */
	cr_assert_leq(n->sends - sends0, 4 * 64 + 8, "%" PRIu64 " frames",
	    n->sends - sends0);
	for (unsigned i = 0; i < 20; i++)
		free(r[i].buf);
	free(r);
	net_free(n);
}

Test(lifecycle, free_cancels_pending)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 1500, 0, 90);
	struct faketarget *f;
	struct target *t;
	enum { NR = 12 };
	struct req r[NR] = { 0 };
	struct admin_res *ac = calloc(1, sizeof(*ac));
	unsigned i;

	cr_assert_not_null(ac);
	f = net_add_target(n, 1, 0, 4096, 1);
	n->delay_ns = NSEC_PER_MSEC;
	net_up(n);
	t = net_target(n, 0);
	ft_set_silent(f, FT_SILENT_ALL);

	for (i = 0; i < 6; i++)
		cr_assert_eq(sub_read(n, &r[i], t, i * 8192, 3000), 0);
	/* overlapping writes: the second one waits */
	cr_assert_eq(sub_write(n, &r[6], t, 100000, 5000), 0);
	cr_assert_eq(sub_write(n, &r[7], t, 101000, 5000), 0);
	cr_assert_eq(sub_read(n, &r[8], t, 100500, 100), 0);
	cr_assert_eq(sub_flush(n, &r[9], t), 0);
	cr_assert_eq(sub_read(n, &r[10], t, 300000, 200000), 0);
	cr_assert_eq(sub_write(n, &r[11], t, 600000, 200000), 0);
	ac->n = n;
	n->in_submit++;
	cr_assert_eq(engine_config(n->e, t, AOE_CCMD_TEST, "x", 1,
	    10 * NSEC_PER_SEC, cfg_done, ac, n->now), 0);
	n->in_submit--;
	net_advance(n, 50 * NSEC_PER_MSEC);
	for (i = 0; i < NR; i++)
		cr_assert_eq(r[i].ncalls, 0);
	cr_assert_eq(ac->ncalls, 0);

	n->in_engine++;
	engine_free(n->e);
	n->in_engine--;
	n->e = NULL;
	for (i = 0; i < NR; i++) {
		cr_assert_eq(r[i].ncalls, 1, "request %u: %u callbacks", i,
		    r[i].ncalls);
		cr_assert_eq(r[i].rc, -ECANCELED, "request %u: rc %d", i,
		    r[i].rc);
		req_release(&r[i]);
	}
	cr_assert_eq(ac->ncalls, 1);
	cr_assert_eq(ac->rc, -ECANCELED);
	free(ac);
	net_free(n);
	engine_free(NULL);
}

/* ---------------------------------------------------------------- jumbo */

Test(jumbo, mtu9000_17_sectors)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, 9000, 0, 100);
	struct faketarget *f;
	struct target *t;
	struct target_info ti;
	const size_t len = 1 << 20;
	uint8_t *w = malloc(len), *r = malloc(len);
	size_t mark;
	unsigned full = 0, total = 0, other = 0;

	cr_assert_not_null(w);
	cr_assert_not_null(r);
	f = net_add_target(n, 1, 0, 8192, 1);
	ft_set_mtu(f, 9000);
	net_up(n);
	t = net_target(n, 0);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.scnt, 17);
	cr_assert_eq(ti.sectors_per_frame, 17);
	cr_assert_eq(ti.paths[0].mtu, 9000);

	fill_random(n, w, len);
	mark = n->logn;
	cr_assert_eq(do_write(n, t, w, 0, len), 0);
	cr_assert_eq(do_read(n, t, r, 0, len), 0);
	cr_assert(memcmp(w, r, len) == 0);
	for (size_t i = mark; i < n->logn; i++) {
		const uint8_t *h = n->log[i].hdr;
		bool wr;

		if (h[19] != AOE_CMD_ATA || !ata_is_rw(h[27], &wr))
			continue;
		cr_assert_leq(h[26], 17);
		total += h[26];
		if (h[26] == 17)
			full++;
		else
			other++;
		if (wr)
			cr_assert_eq(n->log[i].len,
			    AOE_ATA_HDR_LEN + (size_t)h[26] * 512);
	}
	cr_assert_eq(total, 2 * 2048, "sectors on the wire %u", total);
	/* 2048 = 120 x 17 + 8, for the write and the read */
	cr_assert_geq(full, 2 * 120, "%u full frames", full);
	cr_assert_leq(other, 2 * 2);
	free(w);
	free(r);
	net_free(n);
}

/*
 * One interface of MTU mtu and one target of 4096 sectors whose own MTU is
 * 9000 (17 sectors a frame when ours allows), up.
 */
static struct net *
net_jumbo(unsigned mtu, uint64_t seed, struct target **t)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 1, mtu, 0, seed);
	struct faketarget *f = net_add_target(n, 1, 0, 4096, 1);

	ft_set_mtu(f, 9000);
	net_up(n);
	*t = net_target(n, 0);
	return n;
}

Test(jumbo, mtu_change)
{
	struct target *t;
	struct net *n = net_jumbo(1500, 104, &t);
	struct target_info ti;
	uint8_t *buf = malloc(64 * 1024);
	size_t mark;

	cr_assert_not_null(buf);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.sectors_per_frame, 2);
	engine_set_mtu(n->e, 0, 9000);
	n->ifmtu[0] = 9000;
	engine_target_info(t, &ti);
	cr_assert_eq(ti.sectors_per_frame, 17);
	mark = n->logn;
	cr_assert_eq(do_read(n, t, buf, 0, 64 * 1024), 0);
	{
		unsigned full = 0;

		for (size_t i = mark; i < n->logn; i++)
			full += n->log[i].hdr[19] == AOE_CMD_ATA &&
			    n->log[i].hdr[26] == 17;
		cr_assert_eq(full, 7);  /* 128 = 7 x 17 + 9 */
	}
	engine_set_mtu(n->e, 0, 1500);
	n->ifmtu[0] = 1500;
	engine_target_info(t, &ti);
	cr_assert_eq(ti.sectors_per_frame, 2);
	cr_assert_eq(do_read(n, t, buf, 0, 64 * 1024), 0);
	free(buf);
	net_free(n);
}

/*
 * The interface was removed and created again (a new MAC, a larger MTU):
 * every frame after engine_update_interface() leaves from the new MAC (the
 * net checks each one) and is sized for the new MTU.
 */
Test(jumbo, interface_back_with_new_mac)
{
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	struct target *t;
	struct net *n = net_jumbo(1500, 105, &t);
	struct target_info ti;
	uint8_t *buf = malloc(64 * 1024);

	cr_assert_not_null(buf);
	cr_assert_eq(do_read(n, t, buf, 0, 64 * 1024), 0);
	memcpy(n->ifmac[0], mac, 6);
	n->ifmtu[0] = 9000;
	engine_update_interface(n->e, 0, mac, 9000);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.sectors_per_frame, 17);
	cr_assert_eq(do_read(n, t, buf, 0, 64 * 1024), 0);
	cr_assert_eq(do_write(n, t, buf, 4096, 64 * 1024), 0);
	free(buf);
	net_free(n);
}

/*
 * The interface's MTU is lowered (9000 to 1500) under a 1 MiB write, then
 * under a read: the link refuses the jumbo frames, the engine is told the
 * new MTU (as rt is at its next tick) and splits each refused frame when
 * it resends it, the rest issued as the window allows; both complete with
 * the right bytes.
 */
Test(jumbo, mtu_lowered_splits_frames)
{
	const size_t len = 1024 * 1024;
	struct req r = { 0 }, rd = { 0 };
	struct target *t;
	struct net *n = net_jumbo(9000, 106, &t);
	uint64_t refused;
	size_t mark;

	n->ifmtu[0] = 1500;
	n->refuse_big = true;
	cr_assert_eq(sub_write(n, &r, t, 4096, len), 0);
	cr_assert_gt(n->refused_big, 0);
	engine_set_mtu(n->e, 0, 1500);
	mark = n->logn;
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &r),
	    "the write never completed");
	cr_assert_eq(r.rc, 0);
	expect_target_bytes(n, 4096, r.buf, len);
	for (size_t i = mark; i < n->logn; i++)
		cr_assert_leq(n->log[i].len, (size_t)1514,
		    "a %zu-byte frame after the MTU fell", n->log[i].len);

	/*
	 * Back to 9000, then down again under a read of the same bytes: the
	 * requests are small, the jumbo answers are dropped as they arrive
	 * and the engine learns the MTU later (rt reads it every 5 s).
	 */
	n->ifmtu[0] = 9000;
	engine_set_mtu(n->e, 0, 9000);
	rd.buf = malloc(len);
	cr_assert_not_null(rd.buf);
	cr_assert_eq(sub_read(n, &rd, t, 4096, len), 0);
	n->ifmtu[0] = 1500;
	refused = n->refused_big;
	cr_assert(net_run(n, 20 * NSEC_PER_MSEC, pred_refused_more, &refused));
	cr_assert_eq(rd.ncalls, 0);
	engine_set_mtu(n->e, 0, 1500);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_req_done, &rd),
	    "the read never completed");
	cr_assert_eq(rd.rc, 0);
	cr_assert_eq(memcmp(rd.buf, r.buf, len), 0, "read back differs");
	free(rd.buf);
	free(r.buf);
	net_free(n);
}

/*
 * ATA reads and writes sent since log entry mark on interface ifidx (-1:
 * any): the largest in sectors; *jumbo (when not NULL) counts those of
 * more than JUMBO sectors (2: above 1500 bytes).
 */
#define JUMBO 2
static unsigned
rw_sent(const struct net *n, size_t mark, int ifidx, unsigned *jumbo)
{
	unsigned m = 0, j = 0;

	for (size_t i = mark; i < n->logn; i++) {
		const uint8_t *h = n->log[i].hdr;
		bool wr;

		if (ifidx >= 0 && n->log[i].ifidx != (unsigned)ifidx)
			continue;
		if (h[19] == AOE_CMD_ATA && ata_is_rw(h[27], &wr)) {
			m = MAX(m, (unsigned)h[26]);
			j += h[26] > JUMBO;
		}
	}
	if (jumbo)
		*jumbo = j;
	return m;
}

/* Largest ATA frame sent since log entry mark, in sectors. */
static unsigned
max_sectors_sent(const struct net *n, size_t mark)
{
	return rw_sent(n, mark, -1, NULL);
}

/*
 * With the switch dropping jumbo frames set up: len random bytes written
 * at 4096 and read back equal, then 256 KiB reads (30 frames of 17
 * sectors and one of 2: the small ones answered start the probe's clock)
 * until the lost probe's event, 10 s at most.
 */
static void
write_read_until_jumbo_event(struct net *n, struct target *t, uint8_t *w,
    uint8_t *r, size_t len)
{
	cr_assert_not_null(w);
	cr_assert_not_null(r);
	fill_random(n, w, len);
	cr_assert_eq(do_write(n, t, w, 4096, len), 0);
	expect_target_bytes(n, 4096, w, len);
	cr_assert_eq(do_read(n, t, r, 4096, len), 0);
	cr_assert_eq(memcmp(w, r, len), 0, "read back differs");
	for (unsigned k = 0; k < 40 && count_events(n, t, ENGINE_EV_JUMBO) == 0;
	    k++) {
		cr_assert_eq(do_read(n, t, r, 0, 256 * 1024), 0);
		net_run(n, 250 * NSEC_PER_MSEC, NULL, NULL);
	}
}

/*
 * The switch fixed: 256 KiB reads until the second jumbo event (a probe
 * answered: full-size frames again), 200 s at most.
 */
static void
read_until_second_jumbo_event(struct net *n, struct target *t, uint8_t *r)
{
	uint64_t t0 = n->now;

	while (count_events(n, t, ENGINE_EV_JUMBO) < 2) {
		cr_assert_lt(n->now - t0, 200 * NSEC_PER_SEC,
		    "still capped after the switch was fixed");
		cr_assert_eq(do_read(n, t, r, 0, 256 * 1024), 0);
		net_run(n, 500 * NSEC_PER_MSEC, NULL, NULL);
	}
}

/*
 * Both ends at MTU 9000, a switch between them that drops every frame
 * above 1500 bytes: 1 MiB written and read back complete with the right
 * bytes (frames of 2 sectors after JUMBO_LOST_MAX jumbo timeouts; without
 * this the target went dead), the loss of the first full-size probe while
 * small frames are answered is an event, the target says jumbo_lost.
 * Then the switch passes jumbo frames again: a later probe is answered,
 * frames of 17 sectors are used again, another event.
 */
Test(jumbo, switch_drops_jumbo_frames)
{
	const size_t len = 1024 * 1024;
	struct target *t;
	struct net *n = net_jumbo(9000, 107, &t);
	struct target_info ti;
	uint8_t *w = malloc(len), *r = malloc(len);
	size_t mark;

	n->drop_over = 1514;
	write_read_until_jumbo_event(n, t, w, r, len);
	engine_target_info(t, &ti);
	cr_assert_eq(count_events(n, t, ENGINE_EV_JUMBO), 1);
	cr_assert(ti.jumbo_lost);
	cr_assert_eq(ti.jumbo_caps, 1);
	cr_assert_eq(ti.sectors_per_frame, 2);
	cr_assert_eq(ti.sectors_per_frame_full, 17);
	cr_assert_neq(ti.state, TARGET_DEAD);
	/* Few frames lost for it: the cap came quickly, probes are rare. */
	cr_assert_leq(n->dropped_over, 40, "%" PRIu64 " jumbo frames lost",
	    n->dropped_over);

	/* Fixed: within the probe's backoff, full-size frames again. */
	n->drop_over = 0;
	mark = n->logn;
	read_until_second_jumbo_event(n, t, r);
	engine_target_info(t, &ti);
	cr_assert(!ti.jumbo_lost);
	cr_assert_eq(ti.sectors_per_frame, 17);
	cr_assert_eq(do_read(n, t, r, 4096, len), 0);
	cr_assert_eq(memcmp(w, r, len), 0, "read back differs");
	cr_assert_eq(max_sectors_sent(n, mark), 17);
	free(w);
	free(r);
	net_free(n);
}

/*
 * A target that stops answering altogether (a reboot) is no jumbo trouble:
 * frames shrink while nothing is answered, but the first answers after it
 * came back are to small frames, the probe that follows is answered:
 * no event, full-size frames again.
 */
Test(jumbo, outage_is_not_jumbo_loss)
{
	struct target *t;
	struct net *n = net_jumbo(9000, 108, &t);
	struct target_info ti;
	const size_t len = 256 * 1024;
	uint8_t *buf = malloc(len);
	uint64_t t0;

	cr_assert_not_null(buf);
	n->drop_over = 60; /* everything: the target is away */
	{
		struct req rq = { .buf = buf };

		cr_assert_eq(sub_read(n, &rq, t, 0, len), 0);
		net_run(n, 3 * NSEC_PER_SEC, NULL, NULL);
		cr_assert_eq(rq.ncalls, 0);
		engine_target_info(t, &ti);
		cr_assert_eq(ti.jumbo_caps, 1);
		n->drop_over = 0;
		cr_assert(net_run(n, 20 * NSEC_PER_SEC, pred_req_done, &rq),
		    "the read never completed");
		cr_assert_eq(rq.rc, 0);
	}
	t0 = n->now;
	do {
		cr_assert_lt(n->now - t0, 20 * NSEC_PER_SEC);
		cr_assert_eq(do_read(n, t, buf, 0, len), 0);
		engine_target_info(t, &ti);
	} while (ti.sectors_per_frame != 17);
	cr_assert(!ti.jumbo_lost);
	cr_assert_eq(count_events(n, t, ENGINE_EV_JUMBO), 0);
	free(buf);
	net_free(n);
}

/*
 * Two interfaces of MTU 9000 and a target of 4096 sectors on both whose own
 * MTU is 9000, up; *bad is the index in paths[] of the path through fake1.
 */
static struct net *
net_jumbo2(uint64_t seed, struct target **t, unsigned *bad)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new(&c, 2, 9000, 9000, seed);
	struct faketarget *f = net_add_target(n, 1, 0, 4096, 3);
	struct target_info ti;

	ft_set_mtu(f, 9000);
	net_up(n);
	*t = net_target(n, 0);
	engine_target_info(*t, &ti);
	cr_assert_eq(ti.npaths, 2);
	*bad = ti.paths[0].ifidx == 1 ? 0 : 1;
	return n;
}

/*
 * Two paths at MTU 9000, and a switch on the second that drops every frame
 * above 1500 bytes: that path alone is capped.  The I/O completes with the
 * right bytes, 17-sector frames keep going on the first path, the second
 * carries small frames and now and then a probe; the loss of a probe while
 * small frames pass is one event, naming that path.  Fixed: 17-sector
 * frames on it again, another event.  (Before paths were capped one by
 * one, the second path's losses had it avoided, retried every 200 ms
 * with a jumbo frame lost each time, and never said why.)
 */
Test(jumbo, one_path_drops_jumbo_frames)
{
	const size_t len = 1024 * 1024;
	struct target *t;
	unsigned bad, j1;
	struct net *n = net_jumbo2(109, &t, &bad);
	struct target_info ti;
	uint8_t *w = malloc(len), *r = malloc(len);
	size_t mark;

	n->drop_over = 1514;
	n->drop_over_ifs = 1u << 1;
	write_read_until_jumbo_event(n, t, w, r, len);
	engine_target_info(t, &ti);
	cr_assert_eq(count_events(n, t, ENGINE_EV_JUMBO), 1);
	cr_assert_eq(ti.jumbo_path, bad);
	cr_assert(ti.paths[bad].jumbo_lost);
	cr_assert(!ti.paths[1 - bad].jumbo_lost);
	cr_assert(ti.jumbo_lost);
	cr_assert_eq(ti.jumbo_caps, 1);
	cr_assert_eq(ti.sectors_per_frame, 17, "the good path is capped too");
	cr_assert_neq(ti.state, TARGET_DEAD);
	cr_assert_leq(n->dropped_over, 40, "%" PRIu64 " jumbo frames lost",
	    n->dropped_over);
	/* Now: full-size frames on fake0, small ones on fake1. */
	mark = n->logn;
	cr_assert_eq(do_read(n, t, r, 4096, len), 0);
	cr_assert_eq(memcmp(w, r, len), 0, "read back differs");
	cr_assert_eq(rw_sent(n, mark, 0, NULL), 17);
	(void)rw_sent(n, mark, 1, &j1);
	cr_assert_leq(j1, 1, "%u jumbo frames on the capped path", j1);

	/* Fixed: within the probe's backoff, full-size frames there too. */
	n->drop_over = 0;
	read_until_second_jumbo_event(n, t, r);
	engine_target_info(t, &ti);
	cr_assert_eq(ti.jumbo_path, bad);
	cr_assert(!ti.paths[bad].jumbo_lost);
	cr_assert(!ti.jumbo_lost);
	mark = n->logn;
	cr_assert_eq(do_read(n, t, r, 4096, len), 0);
	cr_assert_eq(memcmp(w, r, len), 0, "read back differs");
	cr_assert_eq(rw_sent(n, mark, 1, NULL), 17);
	free(w);
	free(r);
	net_free(n);
}

/*
 * Two paths; the second goes dark for a while (its target process
 * descheduled, a cable pulled): its jumbo frames time out, but the first
 * path answers full-size frames all along, so frames stay at 17 sectors
 * (before, three such timeouts at once cut the whole target to 2-sector
 * frames), and nothing says jumbo frames are lost.  Back: the second path
 * carries 17-sector frames again.
 */
Test(jumbo, one_path_outage_keeps_full_frames)
{
	const size_t len = 2 * 1024 * 1024;
	struct target *t;
	unsigned bad;
	struct net *n = net_jumbo2(110, &t, &bad);
	struct target_info ti;
	struct req rq = { .buf = malloc(len) };
	size_t mark;
	uint64_t t0;

	cr_assert_not_null(rq.buf);
	(void)bad;
	n->down_ifs = 1u << 1;
	cr_assert_eq(sub_read(n, &rq, t, 0, len), 0);
	t0 = n->now;
	while (rq.ncalls == 0) {
		cr_assert_lt(n->now - t0, 20 * NSEC_PER_SEC,
		    "the read never completed");
		net_run(n, 5 * NSEC_PER_MSEC, pred_req_done, &rq);
		engine_target_info(t, &ti);
		cr_assert_eq(ti.sectors_per_frame, 17,
		    "frames cut while a path answers full-size ones");
	}
	cr_assert_eq(rq.rc, 0);
	cr_assert_gt(n->dropped_req, 0, "the dark path carried nothing");
	n->down_ifs = 0;
	t0 = n->now;
	do {
		cr_assert_lt(n->now - t0, 60 * NSEC_PER_SEC,
		    "no full-size frame on the path after it came back");
		mark = n->logn;
		cr_assert_eq(do_read(n, t, rq.buf, 0, 256 * 1024), 0);
		net_run(n, 250 * NSEC_PER_MSEC, NULL, NULL);
	} while (rw_sent(n, mark, 1, NULL) != 17);
	cr_assert_eq(count_events(n, t, ENGINE_EV_JUMBO), 0);
	free(rq.buf);
	net_free(n);
}

Test(jumbo, frame_size_limits)
{
	/* target scnt 17 on a 1500 link; scnt 2 on a 9000 link; a cap */
	for (unsigned k = 0; k < 3; k++) {
		struct engine_config c = cfg_fast();
		struct net *n;
		struct faketarget *f;
		struct target_info ti;
		unsigned want[] = { 2, 2, 8 };
		uint8_t buf[8192];

		if (k == 2)
			c.max_sectors = 8;
		n = net_new(&c, 1, k == 0 ? 1500 : 9000, 0, 101 + k);
		f = net_add_target(n, 1, 0, 4096, 1);
		ft_set_scnt(f, k == 1 ? 2 : 17);
		net_up(n);
		engine_target_info(net_target(n, 0), &ti);
		cr_assert_eq(ti.sectors_per_frame, want[k], "case %u: %u", k,
		    ti.sectors_per_frame);
		cr_assert_eq(do_read(n, net_target(n, 0), buf, 0, sizeof(buf)),
		    0);
		for (size_t i = 0; i < n->logn; i++) {
			const uint8_t *h = n->log[i].hdr;
			bool wr;

			if (h[19] == AOE_CMD_ATA && ata_is_rw(h[27], &wr))
				cr_assert_leq(h[26], want[k]);
		}
		net_free(n);
	}
}

/* ---------------------------------------------------------------- zero copy */

/* A zero-copy read and what its callback saw. */
struct zread {
	struct net *n;
	uint8_t *buf;
	const uint8_t *expect;
	size_t len;
	int rc;
	unsigned ncalls;
	bool take;                  /* the callback takes the data */
	struct engine_rdata *d;
};

static void
zread_done(void *arg, int rc)
{
	struct zread *z = arg;

	cr_assert(z->n->in_engine);
	z->ncalls++;
	z->rc = rc;
	if (z->take)
		z->d = engine_take_rdata(z->n->e);
}

static bool
pred_zread_done(struct net *n, void *arg)
{
	(void)n;
	return ((const struct zread *)arg)->ncalls > 0;
}

static void
zread_run(struct net *n, struct target *t, struct zread *z, uint64_t off)
{
	int rc;

	z->n = n;
	n->in_submit++;
	rc = engine_read_zc(n->e, t, z->buf, off, z->len, zread_done, z,
	    n->now);
	n->in_submit--;
	cr_assert_eq(rc, 0, "engine_read_zc: %d", rc);
	cr_assert(net_run(n, 10 * NSEC_PER_SEC, pred_zread_done, z));
	cr_assert_eq(z->ncalls, 1);
}

/* The bytes the iovecs give from off on, max iovecs at a time, are expect's. */
static void
zread_check(const struct zread *z, size_t off, unsigned max)
{
	struct iovec iov[300];

	cr_assert_leq(max, 300);
	while (off < z->len) {
		unsigned cnt = engine_rdata_iov(z->d, off, iov, max);

		cr_assert_gt(cnt, 0, "no iovec at %zu of %zu", off, z->len);
		cr_assert_leq(cnt, max);
		for (unsigned i = 0; i < cnt; i++) {
			cr_assert_gt(iov[i].iov_len, 0);
			cr_assert_leq(off + iov[i].iov_len, z->len);
			cr_assert(memcmp(iov[i].iov_base, z->expect + off,
			    iov[i].iov_len) == 0, "bytes %zu+%zu differ", off,
			    iov[i].iov_len);
			off += iov[i].iov_len;
		}
		cr_assert(cnt == max || off == z->len,
		    "%u iovecs (of %u allowed) end at %zu of %zu", cnt, max,
		    off, z->len);
	}
}

static struct net *
zc_net(unsigned mtu, uint64_t seed, uint8_t **image, struct faketarget **ft)
{
	struct engine_config c = cfg_fast();
	struct net *n = net_new_ops(&c, 1, mtu, 0, seed, &fake_zc_ops);
	struct faketarget *f = net_add_target(n, 1, 0, 8192, 1);

	ft_set_mtu(f, mtu);
	*image = seed_image(n, f);
	if (ft != NULL)
		*ft = f;
	net_up(n);
	return n;
}

Test(zerocopy, data_stays_in_the_frames)
{
	uint8_t *image;
	struct net *n = zc_net(9000, 120, &image, NULL);
	struct target *t = net_target(n, 0);
	struct zread z = { .len = 256 << 10, .take = true };
	unsigned held, frames = (unsigned)((z.len + 17 * 512 - 1) / (17 * 512));

	z.buf = calloc(1, z.len);
	cr_assert_not_null(z.buf);
	z.expect = image + 4096 * 512;
	zread_run(n, t, &z, 4096 * 512);
	cr_assert_eq(z.rc, 0);
	cr_assert_not_null(z.d, "nothing held");
	held = engine_rdata_held(z.d);
	cr_assert_eq(held, frames, "%u of %u frames held", held, frames);
	cr_assert_eq(n->zlive, frames);
	/* Left in the frames: the buffer was never written. */
	for (size_t i = 0; i < z.len; i++)
		cr_assert_eq(z.buf[i], 0, "byte %zu copied to the buffer", i);
	zread_check(&z, 0, 300);
	zread_check(&z, 0, 1);
	zread_check(&z, 1000, 2);
	zread_check(&z, z.len - 1, 1);
	cr_assert_eq(engine_rdata_iov(z.d, z.len, (struct iovec[1]){ 0 }, 1),
	    0);

	/* The link wants every other frame back: those land in the buffer. */
	for (unsigned h = 0, k = 0; h < MAX_HOLDS; h++)
		if (n->zh[h].live && k++ % 2 == 0)
			net_evict(n, h);
	cr_assert_eq(engine_rdata_held(z.d), frames - (frames + 1) / 2);
	zread_check(&z, 0, 300);
	zread_check(&z, 4321, 3);
	engine_rdata_free(z.d);
	cr_assert_eq(n->zlive, 0, "%u frames not given back", n->zlive);
	cr_assert_eq(n->zreleases, frames - (frames + 1) / 2);
	free(z.buf);
	free(image);
	net_free(n);
}

/* After every step the link takes back what the engine holds. */
static void
evict_all_step(struct net *n)
{
	for (unsigned h = 0; h < MAX_HOLDS; h++)
		if (n->zh[h].live)
			net_evict(n, h);
}

Test(zerocopy, copied_when_it_cannot_be_held)
{
	uint8_t *image;
	struct faketarget *f;
	struct net *n = zc_net(1500, 121, &image, &f);
	struct target *t = net_target(n, 0);
	struct zread z = { .take = true };
	uint8_t *buf = calloc(1, 600 << 10);
	unsigned asked;

	cr_assert_not_null(buf);
	/* Unaligned: through the bounce buffer, copied. */
	z = (struct zread){ .take = true, .len = 10000, .buf = buf,
	    .expect = image + 777 };
	zread_run(n, t, &z, 777);
	cr_assert_eq(z.rc, 0);
	cr_assert_null(z.d);
	cr_assert(memcmp(buf, z.expect, z.len) == 0);
	cr_assert_eq(n->zholds, 0);

	/* More frames than are worth holding (600 KiB of 1 KiB frames). */
	z = (struct zread){ .take = true, .len = 600 << 10, .buf = buf,
	    .expect = image };
	zread_run(n, t, &z, 0);
	cr_assert_eq(z.rc, 0);
	cr_assert_null(z.d);
	cr_assert(memcmp(buf, z.expect, z.len) == 0);
	cr_assert_eq(n->zholds, 0);

	/* The link cannot hold: copied, and asked for the first frame only. */
	n->zrefuse = true;
	asked = n->zasked;
	memset(buf, 0, 64 << 10);
	z = (struct zread){ .take = true, .len = 64 << 10, .buf = buf,
	    .expect = image + 8192 };
	zread_run(n, t, &z, 8192);
	cr_assert_null(z.d);
	cr_assert(memcmp(buf, z.expect, z.len) == 0);
	cr_assert_eq(n->zasked - asked, 1, "hold asked %u times",
	    n->zasked - asked);
	n->zrefuse = false;

	/* Evicted as they come: in the buffer, but the last one's. */
	n->on_step = evict_all_step;
	memset(buf, 0, 64 << 10);
	z = (struct zread){ .take = true, .len = 64 << 10, .buf = buf,
	    .expect = image + 65536 };
	zread_run(n, t, &z, 65536);
	cr_assert_eq(z.rc, 0);
	cr_assert_gt(n->zevicted, 0);
	cr_assert_leq(engine_rdata_held(z.d), 1);
	if (z.d != NULL)
		zread_check(&z, 0, 300);
	else
		cr_assert(memcmp(buf, z.expect, z.len) == 0);
	engine_rdata_free(z.d);
	n->on_step = NULL;

	/* Not taken by the callback: given back after it. */
	z = (struct zread){ .len = 64 << 10, .buf = buf, .expect = image };
	zread_run(n, t, &z, 0);
	cr_assert_eq(z.rc, 0);
	cr_assert_gt(n->zholds, 0);
	cr_assert_eq(n->zlive, 0);

	/* A read that fails: what was held is given back, nothing taken. */
	ft_fail_lba(f, 100, 0x40);
	z = (struct zread){ .take = true, .len = 64 << 10, .buf = buf,
	    .expect = image };
	zread_run(n, t, &z, 0);
	cr_assert_eq(z.rc, -EIO, "rc %d", z.rc);
	cr_assert_null(z.d);
	cr_assert_eq(n->zlive, 0);
	ft_fail_clear(f);
	free(buf);
	free(image);
	net_free(n);
}

/* Once a few frames are held, the target says nothing more. */
static void
silence_step(struct net *n)
{
	if (n->zlive >= 4)
		ft_set_silent(n->hook_arg, FT_SILENT_ALL);
}

/* Held frames of reads that engine_free() cancels are given back. */
Test(zerocopy, free_gives_frames_back)
{
	uint8_t *image;
	struct faketarget *f;
	struct net *n = zc_net(9000, 122, &image, &f);
	struct target *t = net_target(n, 0);
	struct zread z = { .take = true, .len = 1 << 20 };

	z.buf = calloc(1, z.len);
	cr_assert_not_null(z.buf);
	z.n = n;
	n->in_submit++;
	cr_assert_eq(engine_read_zc(n->e, t, z.buf, 0, z.len, zread_done, &z,
	    n->now), 0);
	n->in_submit--;
	/* Part of it back, then the target says nothing more. */
	n->hook_arg = f;
	n->on_step = silence_step;
	net_advance(n, 50 * NSEC_PER_MSEC);
	cr_assert_eq(z.ncalls, 0);
	cr_assert_gt(n->zlive, 0);
	n->in_engine++;
	engine_free(n->e);
	n->in_engine--;
	n->e = NULL;
	cr_assert_eq(z.ncalls, 1);
	cr_assert_eq(z.rc, -ECANCELED);
	cr_assert_null(z.d);
	cr_assert_eq(n->zlive, 0, "%u frames still held", n->zlive);
	free(z.buf);
	free(image);
	net_free(n);
}
