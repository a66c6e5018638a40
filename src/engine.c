/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AoE initiator engine: targets and paths learnt from Query Config
 * responses, IDENTIFY, byte-range requests split into ATA frames, a per-target
 * AIMD window, Jacobson/Karels RTT and per-frame retransmission with backoff,
 * the dead timeout and the administrative commands.  It owns no socket and
 * reads no clock: see engine.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/queue.h>

#include "engine.h"
#include "util.h"

/*
 * Tags: bit 31 set (aoe.ko drops such responses, so we coexist with it),
 * bits 30..28 the instance (engine_config.tag_instance, AOE_TAG_INSTANCE),
 * bits 27..16 a generation counter bumped at every send (from
 * engine_config.tag_seed, random per process), bits 15..0 the
 * index of the frame in the pool.  A response names its frame directly and
 * an answer to an earlier send of the same frame (or to an earlier use of
 * the slot) no longer matches.  Index 0xffff is the discovery broadcast.
 *
 * The instance keeps apart the initiators of one host: they share the
 * interface's MAC address, so each receives the answers to all of them.
 * Two engines with the same history (started together, the same targets)
 * issue the same tags for the same frames, and without the instance one
 * took the other's answer (another sector's data) for its own.
 */
#define TAG_INDEX_MASK 0xffffu
#define TAG_GEN_MASK 0x0fffu
#define TAG_DISCOVER (AOE_TAG_USER | TAG_INDEX_MASK)
#define POOL_MAX 0xffffu

#define PATH_BAD_LOSSES 8 /* consecutive losses before a path is avoided */
#define PATH_PROBE_NS (200 * NSEC_PER_MSEC) /* retry an avoided path this often */
#define PATH_CHECK_TRIES 4 /* sends of a path check before its next advert */
#define FAST_REXMIT_THRESH 3 /* initial; doubles when reordering is seen */
#define DISCOVER_FIRST_NS (250 * NSEC_PER_MSEC) /* quick rediscovery */
#define DISCOVER_FAST_TRIES 8
/*
 * A config answer this long after the latest IDENTIFY answer identifies
 * an idle target again: one restarted or resized (vblade announces itself
 * at start; rediscovery asks every minute) shows its new size, and a
 * read-only state learnt from refused writes is forgotten.
 */
#define REIDENTIFY_NS (1 * NSEC_PER_SEC)
#define MAX_TARGETS 4096  /* adverts beyond this are dropped (rx_bad_cfg) */
#define MAX_FENCES 4096   /* then one fence covers the whole target */
#define DUP_MEMORY_NS (60 * NSEC_PER_SEC) /* fence all writes this long after a late duplicate */
/* A read of more frames is copied to its buffer (engine.h). */
#define RDATA_MAX_PIECES ENGINE_RDATA_MAX_FRAMES
#define RECENT_WRITES 1024 /* completed write frames remembered to spot late duplicates */
#define RTO_FLOOR_HOLD_NS (10 * NSEC_PER_SEC) /* a learnt RTO floor halves after this */
#define RESV_TIMEOUT_NS (2 * NSEC_PER_SEC)  /* a claim or release unanswered */
#define RESV_RETRY_NS (1 * NSEC_PER_SEC)    /* a refused claim again after */
#define RESV_RENEW_NS (30 * NSEC_PER_SEC)   /* a held one claimed again after */
/*
 * Jumbo frames lost on the way (a switch or bridge whose MTU is smaller
 * than both ends'): frames whose AoE payload passes a standard Ethernet
 * MTU are "jumbo"; JUMBO_SAFE_SECTORS fit in 1500 bytes.
 */
#define JUMBO_PAYLOAD 1500
#define JUMBO_SAFE_SECTORS ata_mtu_sectors(JUMBO_PAYLOAD)
#define JUMBO_LOST_MAX 3 /* jumbo timeouts, none answered: smaller frames */
#define JUMBO_DELAY_MIN_NS (1 * NSEC_PER_SEC)  /* then a full-size frame again */
#define JUMBO_DELAY_MAX_NS (64 * NSEC_PER_SEC) /* ... doubling up to this */

struct req;
struct admin;

enum frame_kind {
	FK_RW,       /* read or write sectors for a request */
	FK_FLUSH,    /* FLUSH CACHE (EXT) for a request */
	FK_IDENTIFY, /* IDENTIFY DEVICE for the target itself */
	FK_ADMIN,    /* config, mask or reserve command */
};

struct frame {
	uint32_t index;
	uint32_t tag;   /* current tag; 0 while free */
	uint32_t prev_tag; /* tag of the send before: its answer still counts */
	uint16_t gen;
	enum frame_kind kind;
	struct target *t;
	struct req *req;
	struct admin *adm;
	/* ATA fields */
	uint8_t ata_cmd;
	bool write;
	unsigned scnt;
	uint64_t lba;       /* FK_RW: first sector */
	uint8_t *dst;       /* read data goes here */
	const uint8_t *src; /* write data comes from here */
	size_t datalen;
	/* timing */
	uint64_t first_ns, sent_ns, deadline, rto;
	uint64_t prev_sent_ns; /* when the send with prev_tag went out */
	unsigned nsent;
	bool jumbo, prev_jumbo; /* the latest / the send before: jumbo */
	uint64_t seq;   /* per-path send sequence of the latest send */
	bool fast;      /* latest send was a fast retransmit */
	bool timed_out; /* latest send was a retransmission by the timer */
	bool held;      /* timed out while its target was silent: not resent */
	bool pinned;    /* goes on path only: an IDENTIFY checking that path */
	bool stalled;   /* was held: its round trip includes the silence */
	unsigned path;
	/* the request bytes after the Ethernet addresses are filled per send */
	uint8_t hdr[AOE_MIN_FRAME];
	size_t hdrlen;
	uint8_t *big; /* admin frames with a payload: whole frame */
	size_t biglen;
	/* engine-wide list of frames in flight */
	TAILQ_ENTRY(frame) link;
	/* the target's list of ATA frames in flight, in order of last send */
	TAILQ_ENTRY(frame) tlink;
	bool on_tlist;
	struct frame *free_next;
};

enum req_kind {
	RQ_READ,
	RQ_WRITE,
	RQ_FLUSH,
};

/* Sectors to issue again: the tail of a frame split for a lower MTU. */
struct redo {
	uint64_t lba;
	unsigned n;
};

/* A piece of a read left in a received frame (engine_read_zc). */
struct rpiece {
	uint8_t *dst;         /* where it belongs in the buffer */
	const uint8_t *src;   /* in the held frame; NULL once copied to dst */
	uint32_t len;
	int handle;           /* ops->hold's; -1 once given back */
	unsigned ifidx;
};

struct engine_rdata {
	void (*release)(void *ctx, unsigned ifidx, int handle);
	void *ctx;
	uint8_t *buf;
	size_t len;
	unsigned n, cap, nheld;
	uint16_t *ord;        /* p[] indices in buffer order (engine_take_rdata) */
	struct rpiece p[];
};

struct req {
	enum req_kind kind;
	struct target *t;
	uint8_t *ubuf;        /* reads: user buffer */
	const uint8_t *usrc;  /* writes: user buffer */
	uint64_t off;
	size_t len;
	uint64_t s0, s1;      /* sector range [s0, s1) */
	uint8_t *bounce;      /* (s1 - s0) sectors when unaligned */
	struct engine_rdata *rd; /* engine_read_zc: frames held, or NULL */
	bool zc;              /* frames may be held (until one is refused) */
	int phase;            /* writes with RMW: 0 reading edges, 1 writing */
	uint64_t rmw[2];
	unsigned nrmw, rmw_issued;
	uint64_t cur;         /* next sector to issue in this phase */
	struct redo *redo;    /* sectors of split frames, issued first */
	unsigned nredo, redo_cap;
	bool flush_issued;
	bool retransmitted;   /* some frame was sent more than once */
	unsigned outstanding;
	int rc;
	engine_done_fn done;
	void *arg;
	/* in exactly one of: t->queued, t->active, e->done */
	TAILQ_ENTRY(req) link;
	/* in t->issuing while frames can be issued */
	TAILQ_ENTRY(req) ilink;
	bool in_issuing;
};

struct admin {
	uint8_t cmd; /* AOE_CMD_CFG, _MASK, _RESV */
	uint64_t timeout_at;
	int rc;
	bool has_rsp;
	union {
		engine_cfg_fn cfg;
		engine_mask_fn mask;
		engine_resv_fn resv;
	} fn;
	void *arg;
	union {
		struct aoe_cfg cfg;
		struct aoe_mask mask;
		struct aoe_resv resv;
	} rsp;
	struct admin *next;
};

/* A written range that a delayed copy of a retransmitted frame may still hit. */
struct fence {
	uint64_t s0, s1, until;
	struct fence *next;
};

TAILQ_HEAD(reqlist, req);
TAILQ_HEAD(framelist, frame);

/* A target's path and jumbo frames: see struct target. */
struct path_jumbo {
	unsigned timeouts;        /* since a jumbo frame was answered through it */
	bool capped;
	struct frame *probe;
	uint64_t probe_at, delay;
};

struct target {
	struct engine *e;
	uint16_t shelf;
	uint8_t slot;
	char name[16];
	enum target_state state;
	uint16_t bufcnt, fwver;
	uint8_t scnt;
	uint16_t cfg_len;
	uint8_t cfg[AOE_CFG_STR_MAX];
	bool identified;
	struct ata_ident ident;
	uint64_t sectors;
	bool read_only;
	/*
	 * It accepted a write since it was last (re)identified after a
	 * start: a refused write (ATA ABRT) is then an I/O error, not a
	 * sign that it is read-only (see ata_response).
	 */
	bool wrote;
	/*
	 * Read-only learnt from a refused write (see ro_learn), until
	 * ro_until; then ro_retry: writes go to the target again.
	 */
	bool ro_learnt, ro_retry;
	uint64_t ro_until;
	unsigned ro_refusals;
	bool no_flush_ext;
	struct target_path paths[ENGINE_MAX_PATHS];
	unsigned npaths;
	unsigned rr;
	unsigned spf;
	/*
	 * Jumbo frames lost, per path: after JUMBO_LOST_MAX timer resends of
	 * jumbo frames sent on a path with no jumbo frame answered through
	 * it, the path is capped: it carries frames of JUMBO_SAFE_SECTORS
	 * only.  While another path is not capped, full-size frames go
	 * there; when every path is, frames are small (split as they are
	 * resent).  Once something is answered through a capped path, one
	 * full-size frame (its jumbo probe) tries it again after its delay,
	 * doubling while it is lost; any jumbo frame answered through it
	 * lifts the cap.  Said (an event, paths[].jumbo_lost) when the probe
	 * is lost while smaller frames pass, and when the cap goes again.
	 */
	unsigned spf_full;        /* sectors per frame without a cap */
	bool jumbo_capped;        /* every path is */
	struct path_jumbo pj[ENGINE_MAX_PATHS];
	unsigned jumbo_ev_path;   /* the path of the latest jumbo event */
	uint64_t jumbo_caps;      /* times a path was capped */
	unsigned cwnd, ssthresh, cwnd_acc, wmax, inflight;
	uint64_t srtt, rttvar, rto;
	bool have_rtt;
	uint64_t recover_until;
	/*
	 * Learnt from spurious timeouts (the first copy answered after the
	 * timer fired): the RTO stays above twice the longest such delay,
	 * halved after RTO_FLOOR_HOLD_NS without another.
	 */
	uint64_t rto_floor, rto_floor_at;
	/*
	 * The RTO without that floor: how long a copy of a frame may still
	 * be on the way (write fences).  A stall of the target delays
	 * answers, not the order in which it takes requests.
	 */
	uint64_t rto_base;
	/*
	 * Silence: when the timer fires for a frame and no frame sent after
	 * it was answered, one frame (the probe) is resent and the others
	 * are held, unsent, until the target speaks again.
	 */
	uint64_t answered_sent_ns; /* latest send time of an answered copy */
	struct frame *probe;
	unsigned nheld;
	/* per path: last send sequence, highest sequence answered */
	uint64_t path_seq[ENGINE_MAX_PATHS], path_acked[ENGINE_MAX_PATHS];
	uint64_t path_probe_at[ENGINE_MAX_PATHS];
	unsigned dupthresh;      /* fast retransmit threshold, grows on reordering */
	unsigned prior_cwnd, prior_ssthresh; /* before the last cut, for undo */
	uint64_t dup_hold;       /* how late duplicates of writes came */
	uint64_t dup_until;      /* fence every write until then */
	unsigned nfences;
	struct framelist tframes;
	struct frame *ident_frame;
	/* per path: the IDENTIFY checking it (target_path.checked) */
	struct frame *path_ident[ENGINE_MAX_PATHS];
	unsigned conflict_ev_path; /* the path of the latest conflict event */
	struct ata_ident conflict_ident; /* and what it answered */
	unsigned moved_ev_path;  /* the silent path of the latest move event */
	unsigned ident_path;     /* the path that identified the disk */
	uint64_t ident_ns;       /* when the latest IDENTIFY was answered */
	bool reident;            /* identify again when the window has room */
	bool restarted;          /* it announced itself: forget learnt state */
	/* engine_reserve_hold: see there */
	bool resv_want;
	unsigned resv_pending;   /* claims in flight (one per target port) */
	int resv_agg;            /* their answers so far (resv_claim_done) */
	enum target_resv resv;
	int resv_rc;
	uint64_t resv_sent;      /* when the latest claim went out */
	uint64_t resv_next;      /* no claim of our own before */
	unsigned resv_total, resv_nmacs;
	uint8_t resv_macs[TARGET_RESV_SHOW][6];
	struct reqlist queued, active;
	struct reqlist issuing;
	struct fence *fences;
	uint64_t tx_frames, rx_frames, retransmits, timeouts, errors;
	uint64_t spurious, held_total;
	uint64_t reqs_done, reqs_failed, bytes_read, bytes_written;
	void *user;
};

struct eif {
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	unsigned mtu;
};

struct engine {
	struct engine_config cfg;
	struct engine_ops ops;
	void *ctx;
	uint32_t tag_instance;   /* cfg.tag_instance, in place in a tag */
	struct eif ifs[ENGINE_MAX_IFS];
	unsigned nifs;
	struct target **targets; /* sorted by shelf.slot */
	unsigned ntargets, targets_cap;
	struct frame **pool;
	unsigned npool, pool_cap;
	struct frame *free_frames;
	struct frame *released;  /* freed since the last flush: see frame_release */
	unsigned plugged;        /* engine_plug depth: submissions do not flush */
	struct framelist frames; /* in flight */
	struct reqlist done;
	struct engine_rdata *cur_rd; /* the running callback's, until taken */
	struct admin *adone_head, *adone_tail;
	unsigned releasing;      /* engine_reserve_release: unanswered */
	uint64_t next_discover;
	uint64_t discover_step; /* see engine_config.discover_ns */
	unsigned discover_fast;  /* quick retries done */
	bool discover_armed;
	bool freeing;           /* engine_free() is running the last callbacks */
	struct engine_stats stats;
	unsigned inflight;         /* ATA frames in flight, every target */
	/* recently completed write frames: a late duplicate's answer names one */
	struct recent_write {
		uint32_t tag, prev_tag;
		struct target *t;
		uint64_t done_ns;
	} recent[RECENT_WRITES];
	unsigned recent_next;
};

/* ------------------------------------------------------------ lists */

static void
rl_append(struct reqlist *l, struct req *r)
{
	TAILQ_INSERT_TAIL(l, r, link);
}

static void
rl_remove(struct reqlist *l, struct req *r)
{
	TAILQ_REMOVE(l, r, link);
}

static void
issuing_add(struct target *t, struct req *r)
{
	if (r->in_issuing)
		return;
	r->in_issuing = true;
	TAILQ_INSERT_TAIL(&t->issuing, r, ilink);
}

static void
issuing_del(struct target *t, struct req *r)
{
	if (!r->in_issuing)
		return;
	r->in_issuing = false;
	TAILQ_REMOVE(&t->issuing, r, ilink);
}

static void
tl_append(struct target *t, struct frame *f)
{
	TAILQ_INSERT_TAIL(&t->tframes, f, tlink);
	f->on_tlist = true;
}

static void
tl_remove(struct target *t, struct frame *f)
{
	if (!f->on_tlist)
		return;
	TAILQ_REMOVE(&t->tframes, f, tlink);
	f->on_tlist = false;
}

/* ------------------------------------------------------------ config */

void
engine_config_default(struct engine_config *c)
{
	memset(c, 0, sizeof(*c));
	c->dead_ns = 180 * NSEC_PER_SEC;
	c->discover_ns = 60 * NSEC_PER_SEC;
	c->rto_min_ns = 10 * NSEC_PER_MSEC;
	c->rto_max_ns = 2 * NSEC_PER_SEC;
	c->rto_init_ns = 200 * NSEC_PER_MSEC;
	c->ro_retry_ns = 10 * NSEC_PER_SEC;
}

struct engine *
engine_new(const struct engine_config *cfg, const struct engine_ops *ops,
    void *ctx)
{
	struct engine *e;

	if (ops == NULL || ops->send == NULL)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	TAILQ_INIT(&e->frames);
	TAILQ_INIT(&e->done);
	if (cfg)
		e->cfg = *cfg;
	else
		engine_config_default(&e->cfg);
	if (e->cfg.rto_min_ns == 0)
		e->cfg.rto_min_ns = NSEC_PER_MSEC;
	if (e->cfg.rto_max_ns < e->cfg.rto_min_ns)
		e->cfg.rto_max_ns = e->cfg.rto_min_ns;
	if (e->cfg.rto_init_ns < e->cfg.rto_min_ns)
		e->cfg.rto_init_ns = e->cfg.rto_min_ns;
	if (e->cfg.rto_init_ns > e->cfg.rto_max_ns)
		e->cfg.rto_init_ns = e->cfg.rto_max_ns;
	e->cfg.tag_instance &= AOE_TAG_INSTANCES - 1;
	e->tag_instance = AOE_TAG_INSTANCE(e->cfg.tag_instance);
	e->ops = *ops;
	e->ctx = ctx;
	return e;
}

static void resv_renew_all(struct engine *e);

int
engine_add_interface(struct engine *e, const char *name, const uint8_t mac[6],
    unsigned mtu)
{
	struct eif *i;

	if (name == NULL || mac == NULL || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	if (e->nifs >= ENGINE_MAX_IFS)
		return -ENOSPC;
	i = &e->ifs[e->nifs];
	strcpy(i->name, name);
	memcpy(i->mac, mac, 6);
	i->mtu = mtu;
	resv_renew_all(e);
	return (int)e->nifs++;
}

const char *
engine_interface_name(const struct engine *e, unsigned ifidx)
{
	return ifidx < e->nifs ? e->ifs[ifidx].name : "?";
}

const struct engine_stats *
engine_stats(const struct engine *e)
{
	return &e->stats;
}

unsigned
engine_inflight(const struct engine *e)
{
	return e->inflight;
}

/* ------------------------------------------------------------ frames */

static struct frame *
frame_alloc(struct engine *e)
{
	struct frame *f;

	if (e->free_frames) {
		f = e->free_frames;
		e->free_frames = f->free_next;
	} else {
		if (e->npool >= POOL_MAX)
			return NULL;
		if (e->npool == e->pool_cap) {
			unsigned ncap = e->pool_cap ? e->pool_cap * 2 : 64;
			struct frame **np;

			if (ncap > POOL_MAX)
				ncap = POOL_MAX;
			np = realloc(e->pool, ncap * sizeof(*np));
			if (np == NULL)
				return NULL;
			e->pool = np;
			e->pool_cap = ncap;
		}
		/* Frames never move: a batching link may hold pointers. */
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			return NULL;
		f->index = e->npool;
		f->gen = (uint16_t)(e->cfg.tag_seed & TAG_GEN_MASK);
		e->pool[e->npool++] = f;
	}
	{
		uint32_t index = f->index;
		uint16_t gen = f->gen;

		memset(f, 0, sizeof(*f));
		f->index = index;
		f->gen = gen;
	}
	return f;
}

/*
 * The probe of a silent target went away unanswered: a held frame takes
 * its place at the next tick, or the held frames would wait for nothing.
 * (Today a frame ends answered or with its whole target, dead or freed;
 * this keeps it so should requests ever be cancelled one by one.)
 */
static void
probe_gone(struct target *t)
{
	struct frame *f;

	t->probe = NULL;
	TAILQ_FOREACH(f, &t->tframes, tlink) {
		if (f->held) {
			f->held = false;
			t->nheld--;
			f->deadline = 0;
			return;
		}
	}
}

static void
frame_release(struct engine *e, struct frame *f)
{
	if (f->tag != 0)
		TAILQ_REMOVE(&e->frames, f, link);
	if (f->t) {
		tl_remove(f->t, f);
		if (f->held) {
			f->held = false;
			f->t->nheld--;
		}
		if (f->t->probe == f)
			probe_gone(f->t);
		for (unsigned i = 0; i < f->t->npaths; i++)
			if (f->t->pj[i].probe == f)
				f->t->pj[i].probe = NULL;
	}
	f->tag = 0;
	/*
	 * A send of this frame may still sit in the link's batch, pointing
	 * at f->hdr (or f->big): reuse it only after the next flush, or the
	 * batch would carry another frame's header with this one's data.
	 */
	f->free_next = e->released;
	e->released = f;
}

static struct frame *
frame_lookup(struct engine *e, uint32_t tag)
{
	uint32_t idx = tag & TAG_INDEX_MASK;
	struct frame *f;

	if (!(tag & AOE_TAG_USER) || idx >= e->npool)
		return NULL;
	f = e->pool[idx];
	if (f->tag == 0)
		return NULL;
	return f->tag == tag || f->prev_tag == tag ? f : NULL;
}

static bool
path_usable(const struct target_path *p)
{
	return p->lost < PATH_BAD_LOSSES;
}

/*
 * Whether a path may carry the target's frames: any path until the target
 * is identified, then only one whose own IDENTIFY showed the same disk.
 * Two targets given the same shelf.slot both answer discovery, and a round
 * robin over both read and wrote every other frame on the other disk.
 */
static bool
path_carries(const struct target *t, unsigned i)
{
	return !t->identified || t->paths[i].checked;
}

/* A frame that a path capped for lost jumbo frames does not carry. */
static bool
frame_is_jumbo(const struct frame *f)
{
	return f->kind == FK_RW && f->scnt > JUMBO_SAFE_SECTORS;
}

/* A capped path whose jumbo probe may go now. */
static bool
jumbo_probe_due(const struct target *t, unsigned i, uint64_t now)
{
	const struct path_jumbo *j = &t->pj[i];

	return j->capped && j->probe == NULL && now >= j->probe_at;
}

/*
 * Round robin over the target's paths, preferring ones that answer; a path
 * avoided after losses still gets one frame every PATH_PROBE_NS, so it is
 * used again once it works.  A jumbo frame is the probe of a capped path
 * whose probe is due, else it goes on a path that is not capped.
 */
static unsigned
path_pick(struct target *t, struct frame *f, int avoid, uint64_t now)
{
	bool jumbo = frame_is_jumbo(f);
	unsigned i, k;

	if (jumbo) {
		for (i = 0; i < t->npaths; i++) {
			if ((int)i != avoid && path_carries(t, i) &&
			    jumbo_probe_due(t, i, now)) {
				t->pj[i].probe = f;
				return i;
			}
		}
	}
	for (k = 0; k < t->npaths; k++) {
		i = (t->rr + k) % t->npaths;
		if ((int)i == avoid && t->npaths > 1)
			continue;
		if (!path_carries(t, i))
			continue;
		if (jumbo && t->pj[i].capped)
			continue;
		if (path_usable(&t->paths[i]) || now >= t->path_probe_at[i]) {
			if (!path_usable(&t->paths[i]))
				t->path_probe_at[i] = now + PATH_PROBE_NS;
			t->rr = i + 1;
			return i;
		}
	}
	i = t->rr % t->npaths;
	if ((int)i == avoid && t->npaths > 1)
		i = (i + 1) % t->npaths;
	for (k = 0; k < t->npaths && !path_carries(t, i); k++)
		i = (i + 1) % t->npaths;
	t->rr = i + 1;
	return i;
}

/* Fill the Ethernet addresses and the tag, then hand the frame to the link. */
static void
frame_send(struct engine *e, struct frame *f, uint64_t now)
{
	struct target *t = f->t;
	struct target_path *p;
	struct eif *i;
	struct iovec iov[2];
	unsigned n = 0;
	uint8_t *h;
	int rc;

	if (!f->pinned)
		f->path = path_pick(t, f, f->nsent ? (int)f->path : -1, now);
	f->fast = false;
	f->timed_out = false;
	if (f->held) {
		f->held = false;
		t->nheld--;
	}
	p = &t->paths[f->path];
	i = &e->ifs[p->ifidx];
	f->gen = (uint16_t)((f->gen + 1) & TAG_GEN_MASK);
	if (f->tag != 0)
		TAILQ_REMOVE(&e->frames, f, link);
	f->prev_tag = f->nsent ? f->tag : 0;
	f->tag = AOE_TAG_USER | e->tag_instance | (uint32_t)f->gen << 16 |
	    f->index;
	f->prev_jumbo = f->jumbo;
	f->jumbo = frame_is_jumbo(f);
	h = f->big ? f->big : f->hdr;
	memcpy(h, p->mac, 6);
	memcpy(h + 6, i->mac, 6);
	put_be32(h + 20, f->tag);
	if (f->big) {
		iov[n].iov_base = f->big;
		iov[n++].iov_len = f->biglen;
	} else {
		iov[n].iov_base = f->hdr;
		iov[n++].iov_len = f->hdrlen;
		if (f->src && f->datalen) {
			iov[n].iov_base = (void *)(uintptr_t)f->src;
			iov[n++].iov_len = f->datalen;
		}
	}
	if (f->nsent == 0) {
		f->first_ns = now;
		f->rto = t->rto;
		f->stalled = false;
	} else {
		f->rto = MIN(f->rto * 2, e->cfg.rto_max_ns);
	}
	f->nsent++;
	f->prev_sent_ns = f->sent_ns;
	f->sent_ns = now;
	f->deadline = now + f->rto;
	TAILQ_INSERT_TAIL(&e->frames, f, link);
	if (f->kind == FK_RW || f->kind == FK_FLUSH) {
		tl_remove(t, f);
		tl_append(t, f);
		f->seq = ++t->path_seq[f->path];
	}
	p->tx++;
	t->tx_frames++;
	e->stats.tx_frames++;
	rc = e->ops.send(e->ctx, p->ifidx, iov, n);
	(void)rc; /* a failed send is a lost frame: the timer resends it */
}

static void
ops_flush(struct engine *e)
{
	struct frame *f;

	if (e->ops.flush)
		e->ops.flush(e->ctx);
	/* Nothing queued points at released frames any more. */
	while ((f = e->released) != NULL) {
		e->released = f->free_next;
		free(f->big);
		f->big = NULL;
		f->free_next = e->free_frames;
		e->free_frames = f;
	}
}

static void
ev(struct engine *e, struct target *t, int event)
{
	if (e->ops.event)
		e->ops.event(e->ctx, t, event);
}

/* ------------------------------------------------------------ read-only */

/*
 * AoE has no read-only flag (AoEr11): vblade -r answers a write with ATA
 * ABRT, and so does any vblade whose backing file refuses the write (a
 * thin image on a full filesystem: ENOSPC; EIO).  A refusal from a target
 * that took no write since it was identified is learnt as read-only, so
 * that later writes fail at once and front ends can say so; but only for
 * cfg.ro_retry_ns, as the space may be freed.  A target that took a write
 * is not read-only (it would have to restart, which it announces): its
 * refusals are I/O errors (ata_response).
 */
static void
ro_learn(struct engine *e, struct target *t, uint64_t now)
{
	if (t->ro_learnt || e->cfg.read_only)
		return; /* said already (writes in flight together) */
	t->read_only = true;
	t->ro_learnt = true;
	t->ro_retry = false;
	t->ro_refusals++;
	t->ro_until = e->cfg.ro_retry_ns ? now + e->cfg.ro_retry_ns :
	    UINT64_MAX;
	ev(e, t, ENGINE_EV_READ_ONLY);
}

/* Learnt read-only expired: writes go to the target again. */
static void
ro_expire(struct engine *e, struct target *t)
{
	t->ro_learnt = false;
	t->ro_retry = true;
	t->read_only = e->cfg.read_only;
	ev(e, t, ENGINE_EV_READ_ONLY);
}

/* Learnt read-only, and its retry, forgotten: writable as configured. */
static void
ro_clear(struct engine *e, struct target *t)
{
	t->read_only = e->cfg.read_only;
	t->ro_learnt = false;
	t->ro_retry = false;
	t->ro_refusals = 0;
}

/* A write taken while read-only was learnt or retried: writable. */
static void
ro_taken(struct engine *e, struct target *t)
{
	ro_clear(e, t);
	ev(e, t, ENGINE_EV_READ_ONLY);
}

/*
 * Restarted, another disk, another host: writable until a write is
 * refused, silently (the caller says what changed).
 */
static void
ro_forget(struct engine *e, struct target *t)
{
	ro_clear(e, t);
	t->wrote = false;
	t->ro_until = 0;
}

/* Common AoE header of a request to t (addresses and tag filled per send). */
static void
hdr_fill(uint8_t *p, const struct target *t, uint8_t cmd)
{
	struct aoe_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = AOE_VERSION;
	h.shelf = t->shelf;
	h.slot = t->slot;
	h.cmd = cmd;
	aoe_hdr_encode(p, AOE_HDR_LEN, &h);
}

/* An ATA frame: header + argument in f->hdr, padded when it carries no data. */
static void
ata_frame_build(struct frame *f, const struct aoe_ata *a)
{
	hdr_fill(f->hdr, f->t, AOE_CMD_ATA);
	aoe_ata_encode(f->hdr, sizeof(f->hdr), a);
	f->ata_cmd = a->cmd_status;
	f->hdrlen = AOE_ATA_HDR_LEN;
	if (!(f->src && f->datalen))
		f->hdrlen = aoe_pad(f->hdr, f->hdrlen);
}

/* ------------------------------------------------------------ targets */

static int
target_cmp_key(const struct target *t, uint16_t shelf, uint8_t slot)
{
	uint32_t a = (uint32_t)t->shelf << 8 | t->slot;
	uint32_t b = (uint32_t)shelf << 8 | slot;

	return a < b ? -1 : a > b ? 1 : 0;
}

/* Index of the first target >= (shelf, slot). */
static unsigned
target_lower_bound(const struct engine *e, uint16_t shelf, uint8_t slot)
{
	unsigned lo = 0, hi = e->ntargets;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (target_cmp_key(e->targets[mid], shelf, slot) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct target *
engine_target_find(struct engine *e, uint16_t shelf, uint8_t slot)
{
	unsigned i = target_lower_bound(e, shelf, slot);

	if (i < e->ntargets && target_cmp_key(e->targets[i], shelf, slot) == 0)
		return e->targets[i];
	return NULL;
}

struct target *
engine_target_next(struct engine *e, struct target *prev)
{
	unsigned i;

	if (prev == NULL)
		return e->ntargets ? e->targets[0] : NULL;
	i = target_lower_bound(e, prev->shelf, prev->slot) + 1;
	return i < e->ntargets ? e->targets[i] : NULL;
}

static void
target_reset_timing(struct engine *e, struct target *t)
{
	t->have_rtt = false;
	t->srtt = 0;
	t->rttvar = 0;
	t->rto = e->cfg.rto_init_ns;
	t->rto_base = t->rto;
	t->recover_until = 0;
}

/* Window bound and sectors per frame from the config and the path MTUs. */
static void
target_recompute(struct engine *e, struct target *t)
{
	unsigned spf = t->scnt ? t->scnt : 2, i, wmax;

	for (i = 0; i < t->npaths; i++) {
		unsigned mtu = e->ifs[t->paths[i].ifidx].mtu;
		unsigned n = ata_mtu_sectors(mtu);

		t->paths[i].mtu = mtu;
		spf = MIN(spf, MAX(n, 1u));
	}
	if (e->cfg.max_sectors)
		spf = MIN(spf, e->cfg.max_sectors);
	spf = MAX(MIN(spf, 255u), 1u);
	t->spf_full = spf;
	t->jumbo_capped = t->npaths > 0;
	for (i = 0; i < t->npaths; i++)
		if (path_carries(t, i) && !t->pj[i].capped)
			t->jumbo_capped = false;
	if (t->jumbo_capped)
		spf = MIN(spf, (unsigned)JUMBO_SAFE_SECTORS);
	t->spf = spf;

	wmax = t->bufcnt ? t->bufcnt : 1;
	if (e->cfg.max_window)
		wmax = MIN(wmax, e->cfg.max_window);
	t->wmax = wmax;
	if (t->cwnd == 0 || t->cwnd > wmax) {
		t->cwnd = MAX(wmax / 2, 1u);
		t->ssthresh = wmax;
		t->cwnd_acc = 0;
	}
	if (t->ssthresh > wmax || t->ssthresh == 0)
		t->ssthresh = wmax;
}

static struct target *
target_create(struct engine *e, uint16_t shelf, uint8_t slot)
{
	unsigned i = target_lower_bound(e, shelf, slot);
	struct target *t;

	if (e->ntargets == e->targets_cap) {
		unsigned ncap = e->targets_cap ? e->targets_cap * 2 : 16;
		struct target **nt = realloc(e->targets, ncap * sizeof(*nt));

		if (nt == NULL)
			return NULL;
		e->targets = nt;
		e->targets_cap = ncap;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	TAILQ_INIT(&t->queued);
	TAILQ_INIT(&t->active);
	TAILQ_INIT(&t->issuing);
	TAILQ_INIT(&t->tframes);
	t->e = e;
	t->shelf = shelf;
	t->slot = slot;
	target_name_fmt(t->name, sizeof(t->name), shelf, slot);
	t->state = TARGET_NEW;
	t->read_only = e->cfg.read_only;
	t->dupthresh = FAST_REXMIT_THRESH;
	target_reset_timing(e, t);
	memmove(&e->targets[i + 1], &e->targets[i],
	    (e->ntargets - i) * sizeof(*e->targets));
	e->targets[i] = t;
	e->ntargets++;
	return t;
}

static int
target_path_find(const struct target *t, unsigned ifidx, const uint8_t mac[6])
{
	for (unsigned i = 0; i < t->npaths; i++)
		if (t->paths[i].ifidx == ifidx &&
		    memcmp(t->paths[i].mac, mac, 6) == 0)
			return (int)i;
	return -1;
}

enum target_state
target_state(const struct target *t)
{
	return t->state;
}

uint64_t
target_size(const struct target *t)
{
	return t->identified ? t->sectors * ATA_SECTOR_SIZE : 0;
}

const char *
target_name(const struct target *t)
{
	return t->name;
}

bool
target_read_only(const struct target *t)
{
	return t->read_only;
}

void
target_set_user(struct target *t, void *user)
{
	t->user = user;
}

void *
target_user(const struct target *t)
{
	return t->user;
}

void
engine_target_info(const struct target *t, struct target_info *o)
{
	memset(o, 0, sizeof(*o));
	o->shelf = t->shelf;
	o->slot = t->slot;
	memcpy(o->name, t->name, sizeof(o->name));
	o->state = t->state;
	o->bufcnt = t->bufcnt;
	o->fwver = t->fwver;
	o->scnt = t->scnt;
	o->cfg_len = t->cfg_len;
	memcpy(o->cfg, t->cfg, t->cfg_len);
	o->identified = t->identified;
	o->ident = t->ident;
	o->size = target_size(t);
	o->read_only = t->read_only;
	o->ro_learnt = t->ro_learnt;
	o->ro_until_ns = t->ro_until;
	o->ro_retry = t->ro_retry;
	o->ro_refusals = t->ro_refusals;
	o->resv_want = t->resv_want;
	o->resv = t->resv;
	o->resv_rc = t->resv_rc;
	o->resv_total = t->resv_total;
	o->resv_nmacs = t->resv_nmacs;
	memcpy(o->resv_macs, t->resv_macs, sizeof(o->resv_macs));
	o->npaths = t->npaths;
	memcpy(o->paths, t->paths, sizeof(o->paths));
	o->sectors_per_frame = t->spf;
	o->sectors_per_frame_full = t->spf_full;
	for (unsigned i = 0; i < t->npaths; i++)
		o->jumbo_lost |= t->paths[i].jumbo_lost;
	o->jumbo_path = t->jumbo_ev_path;
	o->conflict_path = t->conflict_ev_path;
	o->conflict_ident = t->conflict_ident;
	o->moved_path = t->moved_ev_path;
	o->jumbo_caps = t->jumbo_caps;
	o->window = t->cwnd;
	o->window_max = t->wmax;
	o->inflight = t->inflight;
	o->srtt_ns = t->srtt;
	o->rttvar_ns = t->rttvar;
	o->rto_ns = t->rto;
	o->tx_frames = t->tx_frames;
	o->rx_frames = t->rx_frames;
	o->retransmits = t->retransmits;
	o->timeouts = t->timeouts;
	o->spurious_timeouts = t->spurious;
	o->held = t->held_total;
	o->errors = t->errors;
	o->reqs_done = t->reqs_done;
	o->reqs_failed = t->reqs_failed;
	o->bytes_read = t->bytes_read;
	o->bytes_written = t->bytes_written;
}

/* ------------------------------------------------------------ window, RTT */

static void jumbo_answered(struct engine *e, struct target *t, unsigned pi,
    bool jumbo, uint64_t now);
static void frames_unhold(struct engine *e, struct target *t, bool lost,
    uint64_t now);
static void target_dead(struct engine *e, struct target *t, uint64_t now);

static void
rtt_sample(struct engine *e, struct target *t, uint64_t rtt, uint64_t now)
{
	uint64_t err;

	/* Jacobson/Karels (RFC 6298): srtt += err/8, rttvar += (|err| - rttvar)/4. */
	if (!t->have_rtt) {
		t->srtt = rtt;
		t->rttvar = rtt / 2;
		t->have_rtt = true;
	} else {
		err = rtt > t->srtt ? rtt - t->srtt : t->srtt - rtt;
		t->rttvar = (3 * t->rttvar + err) / 4;
		t->srtt = (7 * t->srtt + rtt) / 8;
	}
	t->rto_base = MIN(MAX(t->srtt + 4 * t->rttvar, e->cfg.rto_min_ns),
	    e->cfg.rto_max_ns);
	t->rto = t->rto_base;
	if (t->rto_floor != 0 && now - t->rto_floor_at >= RTO_FLOOR_HOLD_NS) {
		uint64_t halvings = (now - t->rto_floor_at) / RTO_FLOOR_HOLD_NS;

		t->rto_floor = halvings >= 64 ? 0 : t->rto_floor >> halvings;
		t->rto_floor_at += halvings * RTO_FLOOR_HOLD_NS;
		if (t->rto_floor < e->cfg.rto_min_ns)
			t->rto_floor = 0;
	}
	if (t->rto < t->rto_floor)
		t->rto = MIN(t->rto_floor, e->cfg.rto_max_ns);
}

/* A retransmission proved needless: give back the window it cost. */
static void
window_undo(struct target *t)
{
	if (t->cwnd < t->prior_cwnd) {
		/* the bound may have shrunk since (config response) */
		t->cwnd = MIN(t->prior_cwnd, t->wmax);
		t->ssthresh = MIN(t->prior_ssthresh, t->wmax);
	}
}

/*
 * The first copy of a frame the timer resent was answered, delay after
 * its send: the path was slow, not lossy (a virtual machine's vCPU
 * descheduled, a busy target).  Keep the RTO above twice that delay for
 * a while so the next such stall does not cut the window again (the
 * estimator alone forgets a spike within a few dozen samples), and undo
 * this cut (Eifel, RFC 3522/4015).
 */
static void
spurious_timeout(struct engine *e, struct target *t, uint64_t delay,
    uint64_t now)
{
	uint64_t floor = MIN(2 * delay, e->cfg.rto_max_ns);

	t->spurious++;
	if (floor >= t->rto_floor) {
		t->rto_floor = floor;
		t->rto_floor_at = now;
	}
	if (t->rto < t->rto_floor)
		t->rto = t->rto_floor;
	window_undo(t);
}

static void
window_grow(struct target *t)
{
	if (t->cwnd >= t->wmax)
		return;
	if (t->cwnd < t->ssthresh) {
		t->cwnd++;
	} else if (++t->cwnd_acc >= t->cwnd) {
		t->cwnd_acc = 0;
		t->cwnd++;
	}
}

/* One cut per round trip: halve (multiplicative decrease). */
static void
window_cut(struct engine *e, struct target *t, uint64_t now)
{
	if (now < t->recover_until)
		return;
	t->rto = MIN(t->rto * 2, e->cfg.rto_max_ns);
	t->rto_base = MIN(t->rto_base * 2, e->cfg.rto_max_ns);
	t->prior_cwnd = t->cwnd;
	t->prior_ssthresh = t->ssthresh;
	t->ssthresh = MAX(t->cwnd / 2, 1u);
	t->cwnd = t->ssthresh;
	t->cwnd_acc = 0;
	t->recover_until = now + (t->have_rtt ? t->srtt + t->rto : t->rto);
}

/* ------------------------------------------------------------ requests */

static bool
reqs_conflict(const struct req *a, const struct req *b)
{
	if (a->kind == RQ_FLUSH || b->kind == RQ_FLUSH)
		return false;
	if (a->kind != RQ_WRITE && b->kind != RQ_WRITE)
		return false;
	return a->s0 < b->s1 && b->s0 < a->s1;
}

static bool
fenced(const struct target *t, const struct req *r, uint64_t now)
{
	if (r->kind != RQ_WRITE)
		return false;
	for (const struct fence *f = t->fences; f; f = f->next)
		if (f->until > now && r->s0 < f->s1 && f->s0 < r->s1)
			return true;
	return false;
}

static bool
req_blocked(const struct target *t, const struct req *r, uint64_t now)
{
	const struct req *o;

	for (o = TAILQ_FIRST(&t->active); o; o = TAILQ_NEXT(o, link))
		if (reqs_conflict(o, r))
			return true;
	for (o = TAILQ_FIRST(&t->queued); o && o != r;
	    o = TAILQ_NEXT(o, link))
		if (reqs_conflict(o, r))
			return true;
	return fenced(t, r, now);
}

static bool
req_can_issue(const struct req *r)
{
	if (r->rc)
		return false;
	switch (r->kind) {
	case RQ_READ:
		return r->cur < r->s1 || r->nredo > 0;
	case RQ_WRITE:
		if (r->phase == 0)
			return r->rmw_issued < r->nrmw;
		return r->cur < r->s1 || r->nredo > 0;
	case RQ_FLUSH:
		return !r->flush_issued;
	}
	return false;
}

static void
req_activate(struct target *t, struct req *r)
{
	rl_append(&t->active, r);
	if (req_can_issue(r))
		issuing_add(t, r);
}

static void
admit_queued(struct target *t, uint64_t now)
{
	struct req *r, *next;

	for (r = TAILQ_FIRST(&t->queued); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (!req_blocked(t, r, now)) {
			rl_remove(&t->queued, r);
			req_activate(t, r);
		}
	}
}

static void
fence_add(struct target *t, uint64_t s0, uint64_t s1, uint64_t until)
{
	struct fence *f = t->fences;

	/* Sequential writes make adjacent ranges: grow the newest fence. */
	if (f && s0 <= f->s1 && s1 >= f->s0) {
		f->s0 = MIN(f->s0, s0);
		f->s1 = MAX(f->s1, s1);
		f->until = MAX(f->until, until);
		return;
	}
	if (t->nfences >= MAX_FENCES) {
		/* Too many to check one by one: fence the whole target. */
		f->s0 = 0;
		f->s1 = UINT64_MAX;
		f->until = MAX(f->until, until);
		return;
	}
	f = malloc(sizeof(*f));
	if (f == NULL)
		return; /* best effort: only matters with delayed duplicates */
	f->s0 = s0;
	f->s1 = s1;
	f->until = until;
	f->next = t->fences;
	t->fences = f;
	t->nfences++;
}

static void
fences_expire(struct target *t, uint64_t now)
{
	struct fence **pp = &t->fences, *f;

	while ((f = *pp) != NULL) {
		if (f->until <= now) {
			*pp = f->next;
			free(f);
			t->nfences--;
		} else {
			pp = &f->next;
		}
	}
}

/* ------------------------------------------------------------ zero copy */

/* The link wants a held frame back: its piece goes to the buffer. */
static void
rdata_evict(void *owner, unsigned idx)
{
	struct engine_rdata *d = owner;
	struct rpiece *pc = &d->p[idx];

	memcpy(pc->dst, pc->src, pc->len);
	pc->src = NULL;
	pc->handle = -1;
	d->nheld--;
}

/* The frames r takes at spf sectors each (spf > 0). */
static uint64_t
req_frames(const struct req *r, unsigned spf)
{
	return (r->s1 - r->s0 + spf - 1) / spf;
}

/* Whether r's frames may be held: the link can, and they are few. */
static bool
rdata_wanted(const struct engine *e, const struct req *r)
{
	unsigned spf = r->t->spf;

	return e->ops.hold != NULL && e->ops.release != NULL && spf != 0 &&
	    req_frames(r, spf) <= RDATA_MAX_PIECES;
}

/* Room for r's frames (rdata_wanted), made at its first answer. */
static struct engine_rdata *
rdata_new(struct engine *e, struct req *r)
{
	unsigned spf = r->t->spf;
	uint64_t frames;
	struct engine_rdata *d;

	if (spf == 0)
		return NULL;
	/* spf may have shrunk since (MTU lowered): the rest is copied. */
	frames = MIN(req_frames(r, spf), RDATA_MAX_PIECES);
	d = malloc(sizeof(*d) + frames * (sizeof(d->p[0]) +
	    sizeof(d->ord[0])));
	if (d == NULL)
		return NULL; /* copied then */
	d->release = e->ops.release;
	d->ctx = e->ctx;
	d->buf = r->ubuf;
	d->len = r->len;
	d->n = 0;
	d->cap = (unsigned)frames;
	d->nheld = 0;
	d->ord = (uint16_t *)(void *)&d->p[frames];
	return d;
}

/*
 * Leave len bytes at src (in frame, on ifidx) there for r's dst; false:
 * copy.  The piece table comes with r's first answer (freed again if the
 * link refuses to hold that one); once the link refuses a frame (pcap,
 * recvmmsg), r's other frames are copied without asking.
 */
static bool
rdata_hold(struct engine *e, struct req *r, unsigned ifidx,
    const uint8_t *frame, uint8_t *dst, const uint8_t *src, size_t len)
{
	struct engine_rdata *d;
	int h;

	if (r == NULL || !r->zc)
		return false;
	if (r->rd == NULL && (r->rd = rdata_new(e, r)) == NULL) {
		r->zc = false;
		return false;
	}
	d = r->rd;
	if (d->n == d->cap)
		return false;
	h = e->ops.hold(e->ctx, ifidx, frame, rdata_evict, d, d->n);
	if (h < 0) {
		r->zc = false;
		if (d->n == 0) {
			free(d);
			r->rd = NULL;
		}
		return false;
	}
	d->p[d->n++] = (struct rpiece){
		.dst = dst,
		.src = src,
		.len = (uint32_t)len,
		.handle = h,
		.ifidx = ifidx,
	};
	d->nheld++;
	return true;
}

struct engine_rdata *
engine_take_rdata(struct engine *e)
{
	struct engine_rdata *d = e->cur_rd;

	e->cur_rd = NULL;
	if (d == NULL)
		return NULL;
	if (d->nheld == 0) {
		engine_rdata_free(d);
		return NULL;
	}
	/* Buffer order (frames come back nearly in order: insertion). */
	for (unsigned i = 0; i < d->n; i++) {
		unsigned j = i;

		while (j > 0 && d->p[d->ord[j - 1]].dst > d->p[i].dst) {
			d->ord[j] = d->ord[j - 1];
			j--;
		}
		d->ord[j] = (uint16_t)i;
	}
	return d;
}

unsigned
engine_rdata_iov(const struct engine_rdata *d, size_t off, struct iovec *iov,
    unsigned max)
{
	size_t cur = 0, from;
	unsigned n = 0;

	for (unsigned k = 0; k < d->n && n < max; k++) {
		const struct rpiece *pc = &d->p[d->ord[k]];
		size_t ps, pe;

		if (pc->src == NULL)
			continue; /* in the buffer */
		ps = (size_t)(pc->dst - d->buf);
		pe = ps + pc->len;
		from = MAX(cur, off);
		if (pe <= from)
			continue;
		if (ps > from) {
			/* The bytes before it are in the buffer. */
			iov[n].iov_base = d->buf + from;
			iov[n++].iov_len = ps - from;
			if (n == max)
				return n;
		} else {
			ps = from;
		}
		/* iovec is not const; the caller only reads. */
		iov[n].iov_base = (void *)(uintptr_t)(pc->src +
		    (ps - (size_t)(pc->dst - d->buf)));
		iov[n++].iov_len = pe - ps;
		cur = pe;
	}
	from = MAX(cur, off);
	if (n < max && from < d->len) {
		iov[n].iov_base = d->buf + from;
		iov[n++].iov_len = d->len - from;
	}
	return n;
}

unsigned
engine_rdata_held(const struct engine_rdata *d)
{
	return d == NULL ? 0 : d->nheld;
}

void
engine_rdata_free(struct engine_rdata *d)
{
	if (d == NULL)
		return;
	for (unsigned i = 0; i < d->n && d->nheld > 0; i++) {
		if (d->p[i].handle < 0)
			continue;
		d->release(d->ctx, d->p[i].ifidx, d->p[i].handle);
		d->nheld--;
	}
	free(d);
}

/* ------------------------------------------------------------ requests */

/* Queue r's callback; it runs from drain() at the end of input or tick. */
static void
req_complete(struct engine *e, struct req *r, int rc, uint64_t now)
{
	struct target *t = r->t;

	issuing_del(t, r);
	rl_remove(&t->active, r);
	r->rc = rc;
	if (rc == 0) {
		t->reqs_done++;
		if (r->kind == RQ_READ) {
			if (r->bounce)
				memcpy(r->ubuf,
				    r->bounce + (r->off - r->s0 * ATA_SECTOR_SIZE),
				    r->len);
			t->bytes_read += r->len;
		} else if (r->kind == RQ_WRITE) {
			t->bytes_written += r->len;
		}
	} else {
		t->reqs_failed++;
	}
	/*
	 * A copy of this write may still be in the network: one we resent, or
	 * a duplicate the network made (seen lately on this target).  Hold
	 * overlapping writes back until such a copy must have landed, or it
	 * would overwrite them (the target has no duplicate detection).
	 */
	if (r->kind == RQ_WRITE && (r->retransmitted || now < t->dup_until))
		fence_add(t, r->s0, r->s1, now + MAX(MIN(4 * t->rto_base,
		    e->cfg.rto_max_ns), now < t->dup_until ? t->dup_hold : 0));
	rl_append(&e->done, r);
	admit_queued(t, now);
}

static void
req_free(struct req *r)
{
	if (r == NULL)
		return;
	engine_rdata_free(r->rd);
	free(r->bounce);
	free(r->redo);
	free(r);
}

/* A request may finish or move on once its outstanding frames are back. */
static void
req_progress(struct engine *e, struct req *r, uint64_t now)
{
	struct target *t = r->t;

	if (r->outstanding > 0 || req_can_issue(r))
		return;
	if (r->rc == 0 && r->kind == RQ_WRITE && r->phase == 0) {
		/* Edges read: merge the caller's bytes, then write it all. */
		memcpy(r->bounce + (r->off - r->s0 * ATA_SECTOR_SIZE), r->usrc,
		    r->len);
		r->phase = 1;
		r->cur = r->s0;
		issuing_add(t, r);
		return;
	}
	req_complete(e, r, r->rc, now);
}

/* f reads or writes scnt sectors from lba (f->kind, write, dst/src set). */
static int
rw_frame_build(struct frame *f, const struct target *t, uint64_t lba,
    unsigned scnt)
{
	struct aoe_ata a;

	if (ata_rw_build(&a, f->write, t->ident.lba48, lba, scnt) < 0)
		return -1;
	f->lba = lba;
	f->scnt = scnt;
	f->datalen = (size_t)scnt * ATA_SECTOR_SIZE;
	ata_frame_build(f, &a);
	return 0;
}

/*
 * Build and send r's next frame: 1 when sent, 0 when no frame is free now
 * (retry later), -1 when r failed.
 */
static int
req_issue_one(struct engine *e, struct target *t, struct req *r, uint64_t now)
{
	struct aoe_ata a;
	struct frame *f;
	uint64_t lba;
	unsigned scnt, maxs;
	bool write;
	uint8_t *io;

	f = frame_alloc(e);
	if (f == NULL)
		return 0;
	f->t = t;
	f->req = r;
	io = r->bounce ? r->bounce : r->ubuf;
	switch (r->kind) {
	case RQ_FLUSH:
		f->kind = FK_FLUSH;
		ata_flush_build(&a, t->ident.flush_ext && !t->no_flush_ext);
		r->flush_issued = true;
		ata_frame_build(f, &a);
		goto send;
	case RQ_WRITE:
		if (r->phase == 0) {
			lba = r->rmw[r->rmw_issued++];
			scnt = 1;
			write = false;
			f->dst = r->bounce + (lba - r->s0) * ATA_SECTOR_SIZE;
			break;
		}
		/* FALLTHROUGH */
	case RQ_READ:
		/*
		 * Every path capped for lost jumbo frames: a full-size frame
		 * when a path's probe is due (path_pick sends it there).
		 */
		maxs = t->spf;
		for (unsigned i = 0; t->jumbo_capped && i < t->npaths; i++)
			if (jumbo_probe_due(t, i, now))
				maxs = t->spf_full;
		if (r->nredo > 0) {
			struct redo *d = &r->redo[r->nredo - 1];

			lba = d->lba;
			scnt = MIN(maxs, d->n);
			d->lba += scnt;
			d->n -= scnt;
			if (d->n == 0)
				r->nredo--;
		} else {
			lba = r->cur;
			scnt = (unsigned)MIN((uint64_t)maxs, r->s1 - r->cur);
			r->cur += scnt;
		}
		write = r->kind == RQ_WRITE;
		if (write)
			f->src = (r->bounce ? r->bounce : r->usrc) +
			    (lba - r->s0) * ATA_SECTOR_SIZE;
		else
			f->dst = io + (lba - r->s0) * ATA_SECTOR_SIZE;
		break;
	default:
		frame_release(e, f);
		r->rc = -EINVAL;
		return -1;
	}
	f->kind = FK_RW;
	f->write = write;
	if (rw_frame_build(f, t, lba, scnt) < 0) {
		/* Cannot be addressed (checked at submit; defensive). */
		r->rc = -EINVAL;
		frame_release(e, f);
		return -1;
	}
send:
	r->outstanding++;
	t->inflight++;
	e->inflight++;
	frame_send(e, f, now);
	return 1;
}

static void identify_send(struct engine *e, struct target *t, uint64_t now);

/* Send frames while the window has room. */
static void
target_pump(struct engine *e, struct target *t, uint64_t now)
{
	struct req *r;

	if (t->state != TARGET_UP)
		return;
	if (t->reident && t->inflight < t->cwnd) {
		t->reident = false;
		identify_send(e, t, now);
	}
	/* An IDENTIFY in flight takes one of the window's frames. */
	while (t->inflight + (t->ident_frame != NULL) < t->cwnd &&
	    (r = TAILQ_FIRST(&t->issuing)) != NULL) {
		int rc = req_issue_one(e, t, r, now);

		if (rc == 0)
			break; /* frame pool exhausted: a completion resumes */
		if (!req_can_issue(r))
			issuing_del(t, r);
		if (rc < 0)
			req_progress(e, r, now);
	}
}

static int
req_submit(struct engine *e, struct target *t, enum req_kind kind,
    uint8_t *dst, const uint8_t *src, uint64_t off, size_t len, bool zc,
    engine_done_fn done, void *arg, uint64_t now)
{
	struct req *r;
	uint64_t size;

	if (t == NULL || done == NULL)
		return -EINVAL;
	if (t->state == TARGET_DEAD)
		return -EIO;
	if (t->state != TARGET_UP)
		return -EAGAIN;
	if (kind == RQ_WRITE && t->read_only)
		return -EROFS;
	size = target_size(t);
	if (kind != RQ_FLUSH) {
		if (len == 0 || (dst == NULL && src == NULL))
			return -EINVAL;
		if (off > size || len > size - off)
			return kind == RQ_WRITE ? -ENOSPC : -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->kind = kind;
	r->t = t;
	r->ubuf = dst;
	r->usrc = src;
	r->off = off;
	r->len = len;
	r->done = done;
	r->arg = arg;
	r->phase = 1;
	if (kind != RQ_FLUSH) {
		r->s0 = off / ATA_SECTOR_SIZE;
		r->s1 = (off + len + ATA_SECTOR_SIZE - 1) / ATA_SECTOR_SIZE;
		r->cur = r->s0;
		if (off % ATA_SECTOR_SIZE || len % ATA_SECTOR_SIZE) {
			r->bounce = malloc((r->s1 - r->s0) * ATA_SECTOR_SIZE);
			if (r->bounce == NULL) {
				free(r);
				return -ENOMEM;
			}
		}
		if (kind == RQ_WRITE && r->bounce) {
			/* Read-modify-write of the partial edge sectors. */
			if (off % ATA_SECTOR_SIZE)
				r->rmw[r->nrmw++] = r->s0;
			if ((off + len) % ATA_SECTOR_SIZE &&
			    (r->nrmw == 0 || r->s1 - 1 != r->s0))
				r->rmw[r->nrmw++] = r->s1 - 1;
			r->phase = r->nrmw ? 0 : 1;
			if (r->phase == 1)
				memcpy(r->bounce, src, len);
		}
		if (zc && kind == RQ_READ && r->bounce == NULL)
			r->zc = rdata_wanted(e, r);
	}
	/* FIFO among conflicting requests only: others go ahead. */
	if (req_blocked(t, r, now))
		rl_append(&t->queued, r);
	else
		req_activate(t, r);
	target_pump(e, t, now);
	if (e->plugged == 0)
		ops_flush(e);
	return 0;
}

void
engine_plug(struct engine *e)
{
	e->plugged++;
}

void
engine_unplug(struct engine *e)
{
	if (e->plugged > 0 && --e->plugged == 0)
		ops_flush(e);
}

int
engine_read(struct engine *e, struct target *t, void *buf, uint64_t offset,
    size_t len, engine_done_fn done, void *arg, uint64_t now)
{
	if (buf == NULL)
		return -EINVAL;
	return req_submit(e, t, RQ_READ, buf, NULL, offset, len, false, done,
	    arg, now);
}

int
engine_read_zc(struct engine *e, struct target *t, void *buf,
    uint64_t offset, size_t len, engine_done_fn done, void *arg,
    uint64_t now)
{
	if (buf == NULL)
		return -EINVAL;
	return req_submit(e, t, RQ_READ, buf, NULL, offset, len, true, done,
	    arg, now);
}

int
engine_write(struct engine *e, struct target *t, const void *buf,
    uint64_t offset, size_t len, engine_done_fn done, void *arg, uint64_t now)
{
	if (buf == NULL)
		return -EINVAL;
	return req_submit(e, t, RQ_WRITE, NULL, buf, offset, len, false, done,
	    arg, now);
}

int
engine_flush(struct engine *e, struct target *t, engine_done_fn done,
    void *arg, uint64_t now)
{
	struct req *r;

	if (t == NULL || done == NULL)
		return -EINVAL;
	if (t->state == TARGET_DEAD)
		return -EIO;
	if (t->state != TARGET_UP)
		return -EAGAIN;
	if (t->ident.flush || t->ident.flush_ext)
		return req_submit(e, t, RQ_FLUSH, NULL, NULL, 0, 0, false, done,
		    arg, now);
	/* No volatile cache to flush: complete at the next input or tick. */
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->kind = RQ_FLUSH;
	r->t = t;
	r->done = done;
	r->arg = arg;
	t->reqs_done++;
	rl_append(&e->done, r);
	return 0;
}

unsigned
engine_cancel(struct engine *e, struct target *t,
    bool (*match)(void *arg, void *ctx), void *ctx, uint64_t now)
{
	struct reqlist gone = TAILQ_HEAD_INITIALIZER(gone);
	struct req *r, *next;
	unsigned n = 0;

	if (t == NULL || match == NULL)
		return 0;
	/* Take them out first: completing one may let others through. */
	for (r = TAILQ_FIRST(&t->queued); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (match(r->arg, ctx)) {
			rl_remove(&t->queued, r);
			rl_append(&gone, r);
		}
	}
	while ((r = TAILQ_FIRST(&gone)) != NULL) {
		rl_remove(&gone, r);
		rl_append(&t->active, r);
		req_complete(e, r, -ECANCELED, now);
		n++;
	}
	for (r = TAILQ_FIRST(&t->active); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (!match(r->arg, ctx))
			continue;
		if (r->rc == 0)
			r->rc = -ECANCELED;
		issuing_del(t, r);
		n++;
		/* Completes now when no frame of it is on the wire. */
		req_progress(e, r, now);
	}
	/* Waiting requests may have been let through. */
	target_pump(e, t, now);
	ops_flush(e);
	return n;
}

/* ------------------------------------------------------------ admin */

static void
admin_finish(struct engine *e, struct admin *a, int rc)
{
	a->rc = rc;
	a->next = NULL;
	if (e->adone_tail)
		e->adone_tail->next = a;
	else
		e->adone_head = a;
	e->adone_tail = a;
}

static int
admin_submit(struct engine *e, struct target *t, struct admin *a,
    uint8_t *pkt, size_t len, uint64_t timeout_ns, int pin, uint64_t now)
{
	struct frame *f;

	if (e->freeing) {
		free(pkt);
		free(a);
		return -EIO;
	}
	if (t->npaths == 0) {
		free(pkt);
		free(a);
		return -ENETUNREACH;
	}
	f = frame_alloc(e);
	if (f == NULL) {
		free(pkt);
		free(a);
		return -ENOMEM;
	}
	f->kind = FK_ADMIN;
	f->t = t;
	f->adm = a;
	if (pin >= 0) {
		f->pinned = true;
		f->path = (unsigned)pin;
	}
	f->big = pkt;
	f->biglen = aoe_pad(pkt, len);
	a->timeout_at = now + timeout_ns;
	frame_send(e, f, now);
	ops_flush(e);
	return 0;
}

/*
 * An admin record and a zeroed frame of at least need bytes (and the
 * Ethernet minimum) with the AoE header for cmd filled in.  0 or -ENOMEM.
 */
static int
admin_prepare(const struct target *t, uint8_t cmd, size_t need, void *arg,
    struct admin **ap, uint8_t **pktp)
{
	struct admin *a = calloc(1, sizeof(*a));
	uint8_t *p = calloc(1, MAX(need, (size_t)AOE_MIN_FRAME));

	if (a == NULL || p == NULL) {
		free(a);
		free(p);
		return -ENOMEM;
	}
	hdr_fill(p, t, cmd);
	a->cmd = cmd;
	a->arg = arg;
	*ap = a;
	*pktp = p;
	return 0;
}

/*
 * Send what admin_prepare made, encoded into n bytes (or n < 0: give up),
 * on any path, or on path pin only (>= 0).
 */
static int
admin_go(struct engine *e, struct target *t, struct admin *a, uint8_t *pkt,
    int n, uint64_t timeout_ns, int pin, uint64_t now)
{
	if (n < 0) {
		free(a);
		free(pkt);
		return n;
	}
	return admin_submit(e, t, a, pkt, (size_t)n, timeout_ns, pin, now);
}

int
engine_config(struct engine *e, struct target *t, uint8_t ccmd,
    const void *str, size_t len, uint64_t timeout_ns, engine_cfg_fn done,
    void *arg, uint64_t now)
{
	struct aoe_cfg *c;
	struct admin *a;
	uint8_t *pkt;
	int n;

	if (t == NULL || done == NULL || ccmd > AOE_CCMD_FSET ||
	    len > AOE_CFG_STR_MAX || (len && str == NULL))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	if (admin_prepare(t, AOE_CMD_CFG, AOE_CFG_HDR_LEN + len, arg, &a,
	    &pkt) < 0) {
		free(c);
		return -ENOMEM;
	}
	a->fn.cfg = done;
	c->aoever = AOE_VERSION;
	c->ccmd = ccmd;
	c->len = (uint16_t)len;
	if (len)
		memcpy(c->str, str, len);
	n = aoe_cfg_encode(pkt, AOE_CFG_HDR_LEN + len, c);
	free(c);
	return admin_go(e, t, a, pkt, n, timeout_ns, -1, now);
}

int
engine_mask(struct engine *e, struct target *t, const struct aoe_mask *req,
    uint64_t timeout_ns, engine_mask_fn done, void *arg, uint64_t now)
{
	struct admin *a;
	uint8_t *pkt;
	size_t need;

	if (t == NULL || req == NULL || done == NULL)
		return -EINVAL;
	need = AOE_MASK_HDR_LEN + 8 * (size_t)req->ndir;
	if (admin_prepare(t, AOE_CMD_MASK, need, arg, &a, &pkt) < 0)
		return -ENOMEM;
	a->fn.mask = done;
	return admin_go(e, t, a, pkt, aoe_mask_encode(pkt, need, req),
	    timeout_ns, -1, now);
}

/* engine_reserve on any path, or on path pin only (>= 0). */
static int
resv_submit(struct engine *e, struct target *t, const struct aoe_resv *req,
    uint64_t timeout_ns, engine_resv_fn done, void *arg, int pin,
    uint64_t now)
{
	struct admin *a;
	uint8_t *pkt;
	size_t need;

	if (t == NULL || req == NULL || done == NULL)
		return -EINVAL;
	need = AOE_RESV_HDR_LEN + 6 * (size_t)req->nmacs;
	if (admin_prepare(t, AOE_CMD_RESV, need, arg, &a, &pkt) < 0)
		return -ENOMEM;
	a->fn.resv = done;
	return admin_go(e, t, a, pkt, aoe_resv_encode(pkt, need, req),
	    timeout_ns, pin, now);
}

int
engine_reserve(struct engine *e, struct target *t, const struct aoe_resv *req,
    uint64_t timeout_ns, engine_resv_fn done, void *arg, uint64_t now)
{
	return resv_submit(e, t, req, timeout_ns, done, arg, -1, now);
}

/* ------------------------------------------------------------ reservation */

/* The reserve list an answer carried: the first TARGET_RESV_SHOW MACs. */
static void
resv_note(struct target *t, const struct aoe_resv *r)
{
	t->resv_total = r != NULL ? r->nmacs : 0;
	t->resv_nmacs = MIN(t->resv_total, (unsigned)TARGET_RESV_SHOW);
	for (unsigned i = 0; i < t->resv_nmacs; i++)
		memcpy(t->resv_macs[i], r->macs[i], 6);
}

static void
resv_set_state(struct engine *e, struct target *t, enum target_resv st,
    int rc)
{
	bool changed = st != t->resv || rc != t->resv_rc;

	t->resv = st;
	t->resv_rc = rc;
	if (changed)
		ev(e, t, ENGINE_EV_RESERVE);
}

/*
 * One target port's answer to a claim; when all have answered, the
 * target's state: held if every port took it, else another host's if one
 * refused it (its list kept), else failed.
 */
static void
resv_claim_done(void *arg, int rc, const struct aoe_resv *r)
{
	struct target *t = arg;
	struct engine *e = t->e;

	t->resv_pending--;
	if (e->freeing || !t->resv_want)
		return;
	if (rc == -EACCES || (rc == 0 && t->resv_agg == 0))
		resv_note(t, r);
	if (rc == -EACCES || (rc != 0 && t->resv_agg == 0))
		t->resv_agg = rc;
	if (t->resv_pending > 0)
		return;
	rc = t->resv_agg;
	if (rc != 0)
		t->resv_next = t->resv_sent + RESV_RETRY_NS;
	if (rc == 0)
		resv_set_state(e, t, TARGET_RESV_HELD, 0);
	else if (rc == -EACCES)
		resv_set_state(e, t, TARGET_RESV_OTHER, rc);
	else
		resv_set_state(e, t, TARGET_RESV_FAILED, rc);
}

/*
 * The paths a reservation goes through: one to each target port (MAC)
 * that carries the disk.  Two vblades serving one file on two LANs keep
 * a list each; two local interfaces to one port share its list.
 */
static bool
resv_path(const struct target *t, unsigned i)
{
	if (!path_carries(t, i) || t->paths[i].conflict)
		return false;
	for (unsigned j = 0; j < i; j++)
		if (path_carries(t, j) && !t->paths[j].conflict &&
		    memcmp(t->paths[j].mac, t->paths[i].mac, 6) == 0)
			return false;
	return true;
}

/* Why a claim: see engine_reserve_hold. */
enum resv_why {
	RESV_AT_ONCE,   /* held anew, identified afresh, it announced itself */
	RESV_REFUSED,   /* an I/O refused as reserved: news if held, else
			   at most once a second */
	RESV_ROUTINE,   /* a config answer: when resv_next has come */
};

/* Reserve t for every local MAC (see engine_reserve_hold). */
static void
resv_claim(struct engine *e, struct target *t, enum resv_why why,
    uint64_t now)
{
	struct aoe_resv *r;

	if (!t->resv_want || t->resv_pending > 0 || e->freeing ||
	    t->state != TARGET_UP ||
	    (why == RESV_REFUSED && t->resv != TARGET_RESV_HELD &&
	    now < t->resv_sent + RESV_RETRY_NS) ||
	    (why == RESV_ROUTINE && now < t->resv_next))
		return;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return;
	r->rcmd = AOE_RCMD_SET;
	for (unsigned i = 0; i < e->nifs && r->nmacs < AOE_RESV_MAX; i++) {
		bool dup = false;

		for (unsigned j = 0; j < r->nmacs; j++)
			dup |= memcmp(r->macs[j], e->ifs[i].mac, 6) == 0;
		if (!dup)
			memcpy(r->macs[r->nmacs++], e->ifs[i].mac, 6);
	}
	t->resv_sent = now;
	t->resv_next = now + RESV_RENEW_NS;
	t->resv_agg = 0;
	for (unsigned i = 0; i < t->npaths; i++)
		if (resv_path(t, i) && resv_submit(e, t, r, RESV_TIMEOUT_NS,
		    resv_claim_done, t, (int)i, now) == 0)
			t->resv_pending++;
	if (t->resv_pending == 0)
		t->resv_next = now + RESV_RETRY_NS;
	free(r);
}

/* Interfaces changed: claim the held targets again at the next chance. */
static void
resv_renew_all(struct engine *e)
{
	for (unsigned i = 0; i < e->ntargets; i++)
		if (e->targets[i]->resv_want)
			e->targets[i]->resv_next = 0;
}

void
engine_reserve_hold(struct engine *e, struct target *t, uint64_t now)
{
	if (t == NULL || t->resv_want)
		return;
	t->resv_want = true;
	t->resv_next = 0;
	resv_claim(e, t, RESV_AT_ONCE, now);
}

static void
resv_release_done(void *arg, int rc, const struct aoe_resv *r)
{
	struct target *t = arg;
	struct engine *e = t->e;

	e->releasing--;
	if (e->freeing)
		return;
	resv_note(t, r);
	if (rc == -EACCES) {
		/* Another host's, not ours to release: nothing to say. */
		t->resv = TARGET_RESV_OTHER;
		return;
	}
	resv_set_state(e, t, rc == 0 ? TARGET_RESV_NONE : TARGET_RESV_FAILED,
	    rc);
}

unsigned
engine_reserve_release(struct engine *e, uint64_t now)
{
	struct aoe_resv r;

	memset(&r, 0, sizeof(r));
	r.rcmd = AOE_RCMD_SET;
	for (unsigned i = 0; i < e->ntargets; i++) {
		struct target *t = e->targets[i];

		if (!t->resv_want)
			continue;
		t->resv_want = false;
		/*
		 * Whatever we last heard (an admin may have given it to
		 * this host since it was refused; a claim in flight is
		 * answered first): released unless another host holds it.
		 */
		if (t->state != TARGET_UP)
			continue;
		for (unsigned p = 0; p < t->npaths; p++)
			if (resv_path(t, p) && resv_submit(e, t, &r,
			    RESV_TIMEOUT_NS, resv_release_done, t, (int)p,
			    now) == 0)
				e->releasing++;
	}
	return e->releasing;
}

unsigned
engine_releasing(const struct engine *e)
{
	return e->releasing;
}

/* ------------------------------------------------------------ discovery */

void
engine_discover(struct engine *e, uint16_t shelf, uint8_t slot, uint64_t now)
{
	uint8_t pkt[AOE_MIN_FRAME];
	struct aoe_hdr h;
	struct aoe_cfg c;
	struct iovec iov;
	unsigned i;

	memset(&h, 0, sizeof(h));
	memset(&c, 0, sizeof(c));
	memset(h.dst, 0xff, 6);
	h.version = AOE_VERSION;
	h.shelf = shelf;
	h.slot = slot;
	h.cmd = AOE_CMD_CFG;
	h.tag = TAG_DISCOVER;
	c.aoever = AOE_VERSION;
	c.ccmd = AOE_CCMD_READ;
	for (i = 0; i < e->nifs; i++) {
		memset(pkt, 0, sizeof(pkt));
		memcpy(h.src, e->ifs[i].mac, 6);
		aoe_hdr_encode(pkt, sizeof(pkt), &h);
		aoe_cfg_encode(pkt, sizeof(pkt), &c);
		iov.iov_base = pkt;
		iov.iov_len = aoe_pad(pkt, AOE_CFG_HDR_LEN);
		e->stats.tx_frames++;
		e->ops.send(e->ctx, i, &iov, 1);
		/* pkt is on our stack: push it out before it goes away. */
		ops_flush(e);
	}
	if (e->cfg.discover_ns) {
		/*
		 * A lost broadcast (or answer) must not leave a target unseen
		 * for a whole interval: retry soon at start, then back off.
		 */
		uint64_t step = e->discover_step ? e->discover_step :
		    DISCOVER_FIRST_NS;

		step = MIN(step, e->cfg.discover_ns);
		e->next_discover = now + step;
		if (e->discover_fast < DISCOVER_FAST_TRIES)
			e->discover_fast++;
		else
			e->discover_step = MIN(step * 2, e->cfg.discover_ns);
		e->discover_armed = true;
	}
}

void
engine_set_mtu(struct engine *e, unsigned ifidx, unsigned mtu)
{
	if (ifidx >= e->nifs)
		return;
	e->ifs[ifidx].mtu = mtu;
	for (unsigned i = 0; i < e->ntargets; i++) {
		struct target *t = e->targets[i];

		/* Jumbo frames lost: the way may have changed too, look. */
		for (unsigned k = 0; k < t->npaths; k++) {
			struct path_jumbo *j = &t->pj[k];

			if (t->paths[k].ifidx == ifidx && j->capped &&
			    j->probe_at != UINT64_MAX) {
				j->probe_at = 0;
				j->delay = JUMBO_DELAY_MIN_NS;
			}
		}
		target_recompute(e, t);
	}
}

void
engine_update_interface(struct engine *e, unsigned ifidx,
    const uint8_t mac[6], unsigned mtu)
{
	if (ifidx >= e->nifs)
		return;
	if (memcmp(e->ifs[ifidx].mac, mac, 6) != 0)
		resv_renew_all(e);
	memcpy(e->ifs[ifidx].mac, mac, 6);
	engine_set_mtu(e, ifidx, mtu);
}

/*
 * Send IDENTIFY DEVICE (one sector in) to t: on path pi only, or on any path
 * when pi is -1. The frame goes in *slot; nothing is sent (and *slot stays
 * as it was) when no frame is free.
 */
static void
identify_frame_send(struct engine *e, struct target *t, int pi,
    struct frame **slot, uint64_t now)
{
	struct aoe_ata a;
	struct frame *f;

	f = frame_alloc(e);
	if (f == NULL)
		return;
	f->kind = FK_IDENTIFY;
	f->t = t;
	if (pi >= 0) {
		f->pinned = true;
		f->path = (unsigned)pi;
	}
	f->scnt = 1;
	f->datalen = ATA_SECTOR_SIZE;
	ata_identify_build(&a);
	ata_frame_build(f, &a);
	*slot = f;
	frame_send(e, f, now);
}

static void
identify_send(struct engine *e, struct target *t, uint64_t now)
{
	if (t->ident_frame || t->npaths == 0)
		return;
	identify_frame_send(e, t, -1, &t->ident_frame, now);
}

/*
 * Ask the disk behind path pi who it is, on that path only, before the
 * path carries I/O (path_carries).
 */
static void
path_check_send(struct engine *e, struct target *t, unsigned pi,
    uint64_t now)
{
	if (t->path_ident[pi] != NULL)
		return;
	identify_frame_send(e, t, (int)pi, &t->path_ident[pi], now);
}

/* Check every path not checked yet (a conflict waits for its advert). */
static void
paths_check(struct engine *e, struct target *t, uint64_t now)
{
	for (unsigned i = 0; i < t->npaths; i++)
		if (!t->paths[i].checked && !t->paths[i].conflict)
			path_check_send(e, t, i, now);
}

/* A config response that is not the answer to one of our admin commands. */
static void
cfg_advert(struct engine *e, unsigned ifidx, const struct aoe_hdr *h,
    const struct aoe_cfg *c, uint64_t now)
{
	struct target *t;
	bool created = false, changed = false;
	int pi;

	if (h->shelf == AOE_SHELF_ANY || h->slot == AOE_SLOT_ANY ||
	    mac_is_broadcast(h->src) || (h->src[0] & 1)) {
		e->stats.rx_bad_cfg++;
		return;
	}
	t = engine_target_find(e, h->shelf, h->slot);
	if (t == NULL) {
		if (e->ntargets >= MAX_TARGETS) {
			e->stats.rx_bad_cfg++;
			return;
		}
		t = target_create(e, h->shelf, h->slot);
		if (t == NULL)
			return;
		created = true;
	}
	pi = target_path_find(t, ifidx, h->src);
	if (pi < 0 && t->npaths < ENGINE_MAX_PATHS) {
		struct target_path *p = &t->paths[t->npaths];

		pi = (int)t->npaths++;
		memset(p, 0, sizeof(*p));
		p->ifidx = ifidx;
		memcpy(p->mac, h->src, 6);
		p->mtu = e->ifs[ifidx].mtu;
		changed = true;
	} else if (pi >= 0) {
		t->paths[pi].rx++;
		t->paths[pi].lost = 0;
		jumbo_answered(e, t, (unsigned)pi, false, now);
	}
	if (t->bufcnt != c->bufcnt || t->scnt != aoe_cfg_scnt(c) ||
	    t->cfg_len != c->len || memcmp(t->cfg, c->str, c->len) != 0)
		changed = true;
	t->bufcnt = c->bufcnt;
	t->fwver = c->fwver;
	t->scnt = (uint8_t)aoe_cfg_scnt(c);
	t->cfg_len = c->len;
	memcpy(t->cfg, c->str, c->len);
	target_recompute(e, t);
	if (created)
		ev(e, t, ENGINE_EV_NEW);
	if (t->state == TARGET_DEAD) {
		/*
		 * Back from the dead: start afresh and identify again; a
		 * read-only state learnt from refused writes is forgotten.
		 */
		t->state = TARGET_NEW;
		t->identified = false;
		t->reident = false;
		ro_forget(e, t);
		t->cwnd = 0;
		target_reset_timing(e, t);
		target_recompute(e, t);
		for (unsigned i = 0; i < t->npaths; i++) {
			t->paths[i].lost = 0;
			t->paths[i].checked = false;
			t->paths[i].conflict = false;
		}
		t->dupthresh = FAST_REXMIT_THRESH;
	} else if (changed && !created && t->state == TARGET_UP) {
		ev(e, t, ENGINE_EV_CHANGED);
	}
	if (t->state == TARGET_NEW && t->ident_frame != NULL &&
	    now - t->ident_frame->sent_ns >= t->rto) {
		/*
		 * It answers now, its IDENTIFY (or the answer) was lost:
		 * ask again at once instead of after the backed-off timer,
		 * so that discovery's quick rounds also pace IDENTIFY on a
		 * lossy network.
		 */
		t->retransmits++;
		e->stats.retransmits++;
		frame_send(e, t->ident_frame, now);
	} else if (t->state == TARGET_NEW) {
		identify_send(e, t, now);
	} else if (t->state == TARGET_UP && t->ident_frame == NULL &&
	    now - t->ident_ns >= REIDENTIFY_NS) {
		/*
		 * It may have restarted with another size or writable again:
		 * identify it again, as one of the window's frames (at once
		 * when it is idle, else when a frame of the window is
		 * answered: target_pump).
		 */
		t->reident = true;
	}
	/*
	 * Not the answer to our broadcast: it announced itself (vblade
	 * does as it starts), so it may be writable again.
	 */
	if (t->state == TARGET_UP && h->tag != TAG_DISCOVER)
		t->restarted = true;
	/* Restarted, it forgot its reserve list: at once, else every 30 s. */
	resv_claim(e, t, h->tag != TAG_DISCOVER ? RESV_AT_ONCE : RESV_ROUTINE,
	    now);
	/* A path not known to reach this disk: new, or a conflict (gone?). */
	if (t->identified && pi >= 0 && !t->paths[pi].checked)
		path_check_send(e, t, (unsigned)pi, now);
	target_pump(e, t, now);
}

/* ------------------------------------------------------------ responses */

static void
frame_finish(struct engine *e, struct frame *f)
{
	struct target *t = f->t;

	if (f->kind == FK_RW || f->kind == FK_FLUSH) {
		t->inflight--;
		e->inflight--;
	}
	if (f->kind == FK_IDENTIFY && t->ident_frame == f)
		t->ident_frame = NULL;
	if (f->pinned && t->path_ident[f->path] == f)
		t->path_ident[f->path] = NULL;
	frame_release(e, f);
}

/*
 * f is larger than its target's frames may now be (an interface's MTU was
 * lowered: its sends fail): f keeps its first t->spf sectors and the rest
 * goes back to its request, issued again as the window allows.  Out of
 * memory, f stays whole and is split at its next resend.
 */
static void
frame_split(struct frame *f)
{
	struct target *t = f->t;
	struct req *r = f->req;
	struct redo *d;

	if (r->nredo == r->redo_cap) {
		unsigned cap = r->redo_cap ? 2 * r->redo_cap : 4;

		d = realloc(r->redo, cap * sizeof(*d));
		if (d == NULL)
			return;
		r->redo = d;
		r->redo_cap = cap;
	}
	d = &r->redo[r->nredo++];
	d->lba = f->lba + t->spf;
	d->n = f->scnt - t->spf;
	(void)rw_frame_build(f, t, f->lba, t->spf);
	issuing_add(t, r);
}

/* A path's jumbo state changed: say so. */
static void
jumbo_event(struct engine *e, struct target *t, unsigned pi, bool lost)
{
	if (t->paths[pi].jumbo_lost == lost)
		return;
	t->paths[pi].jumbo_lost = lost;
	t->jumbo_ev_path = pi;
	ev(e, t, ENGINE_EV_JUMBO);
}

/*
 * A jumbo frame sent on its path went unanswered (f is about to be
 * resent).  The path's probe lost: jumbo frames are still lost there while
 * smaller ones pass (the probe is sent only once something was answered
 * through it): say so once, try again later.  Else count; at
 * JUMBO_LOST_MAX the path is capped.
 */
static void
jumbo_frame_lost(struct engine *e, struct target *t, struct frame *f,
    uint64_t now)
{
	struct path_jumbo *j = &t->pj[f->path];

	if (f == j->probe) {
		j->probe = NULL;
		j->probe_at = now + j->delay;
		j->delay = MIN(j->delay * 2, JUMBO_DELAY_MAX_NS);
		/* (Unless the MTU has fallen below jumbo frames since.) */
		if (t->spf_full > JUMBO_SAFE_SECTORS)
			jumbo_event(e, t, f->path, true);
		return;
	}
	if (j->capped || ++j->timeouts < JUMBO_LOST_MAX ||
	    t->spf_full <= JUMBO_SAFE_SECTORS)
		return;
	j->capped = true;
	t->jumbo_caps++;
	j->delay = JUMBO_DELAY_MIN_NS;
	j->probe_at = UINT64_MAX; /* until something is answered through it */
	target_recompute(e, t);
}

/*
 * Something was answered through path pi: an ATA read or write (jumbo:
 * its copy was a jumbo frame) or a config advert.  A jumbo one lifts the
 * path's cap; another while capped starts the clock of its first probe.
 */
static void
jumbo_answered(struct engine *e, struct target *t, unsigned pi, bool jumbo,
    uint64_t now)
{
	struct path_jumbo *j = &t->pj[pi];

	if (!jumbo) {
		if (j->capped && j->probe_at == UINT64_MAX)
			j->probe_at = now + j->delay;
		return;
	}
	j->timeouts = 0;
	if (!j->capped)
		return;
	j->capped = false;
	j->probe = NULL;
	target_recompute(e, t);
	jumbo_event(e, t, pi, false);
}

/*
 * Lost (or slow): resend on another path and cut the window.  By the
 * timer (else a fast retransmit): the frame's and the target's timer
 * back off (until an unambiguous sample resets it, Karn).
 */
static void
frame_resend(struct engine *e, struct frame *f, bool by_timer, uint64_t now)
{
	struct target *t = f->t;

	t->paths[f->path].lost++;
	t->retransmits++;
	e->stats.retransmits++;
	if (by_timer) {
		t->timeouts++;
		e->stats.timeouts++;
	}
	if (f->kind == FK_RW || f->kind == FK_FLUSH)
		window_cut(e, t, now);
	if (f->jumbo && (by_timer || f == t->pj[f->path].probe))
		jumbo_frame_lost(e, t, f, now);
	if (f->kind == FK_RW && f->scnt > t->spf)
		frame_split(f);
	frame_send(e, f, now);
	if (by_timer)
		f->timed_out = true;
	else
		f->fast = true;
	if (f->req)
		f->req->retransmitted = true;
}

/*
 * A one-queue target such as vblade answers a path's frames in the order
 * they arrived: a frame still unanswered after FAST_REXMIT_THRESH frames
 * sent after it on the same path were answered is lost.  Resend it now
 * rather than at its timer (TCP's fast retransmit, RFC 5681 3.2).  The
 * scan stops at the first frame not yet due, so with several paths it is
 * conservative and the timer covers the rest.
 */
static void
fast_retransmit(struct engine *e, struct target *t, uint64_t now)
{
	struct frame *f, *next;

	for (f = TAILQ_FIRST(&t->tframes); f; f = next) {
		next = TAILQ_NEXT(f, tlink);
		if (f->seq + t->dupthresh > t->path_acked[f->path])
			break;
		frame_resend(e, f, false, now);
		if (next == f)
			break;
	}
}

/* The same disk: what tells targets apart in IDENTIFY. */
static bool
ident_same(const struct ata_ident *a, const struct ata_ident *b)
{
	return a->sectors == b->sectors &&
	    strcmp(a->serial, b->serial) == 0 &&
	    strcmp(a->model, b->model) == 0 &&
	    strcmp(a->firmware, b->firmware) == 0;
}

static bool
ident_usable(const uint8_t *data, size_t len, struct ata_ident *id)
{
	/* No LBA: unusable, as 9front refuses such units. */
	return ata_ident_parse(data, len, id) == 0 && id->sectors != 0 &&
	    (id->lba48 || id->sectors <= ATA_LBA28_MAX + 1);
}

/* Not the same disk: another serial number or model. */
static bool
ident_other_disk(const struct ata_ident *a, const struct ata_ident *b)
{
	return strcmp(a->serial, b->serial) != 0 ||
	    strcmp(a->model, b->model) != 0;
}

/* Some path that carries the target's I/O is not avoided after losses. */
static bool
carrier_alive(const struct target *t)
{
	for (unsigned i = 0; i < t->npaths; i++)
		if (t->paths[i].checked && path_usable(&t->paths[i]))
			return true;
	return false;
}

/*
 * Another disk (id, through path pi) is now the target: what its clients
 * wrote and cached was the old one's.  Its I/O fails as a dead target's
 * (aoe.ko goes on writing to the new disk; 9front fails the open files)
 * and it is found afresh, as the new disk, at once.
 */
static void
target_replaced(struct engine *e, struct target *t, unsigned pi,
    const struct ata_ident *id, uint64_t now)
{
	t->conflict_ev_path = pi;
	t->conflict_ident = *id;
	ev(e, t, ENGINE_EV_REPLACED);
	t->ident = *id; /* said once: not again as it comes back */
	if (t->state != TARGET_DEAD)
		target_dead(e, t, now);
	engine_discover(e, t->shelf, t->slot, now);
}

/*
 * The disk is silent on every path and path pi answers in its place as
 * another disk (serial or model) of the same size: taken as the disk moved
 * to another host, an HA failover (vblade started there on the same shared
 * storage; its serial names the host).  aoe.ko rides through that, so do
 * we: the new identity and path are the target's, the silent paths no
 * longer carry it (checked again: still answering, they are a conflict),
 * and what was in flight is sent again through the new path.  Said loudly
 * (ENGINE_EV_MOVED): a different disk of the same size is taken for it.
 */
static void
target_moved(struct engine *e, struct target *t, unsigned pi,
    const struct ata_ident *id, uint64_t now)
{
	struct frame *f;
	unsigned i, n = 0;
	bool was_ro;

	t->moved_ev_path = pi;
	for (i = 0; i < t->npaths; i++) {
		if (t->paths[i].checked) {
			t->moved_ev_path = i;
			break;
		}
	}
	t->conflict_ev_path = pi;
	t->conflict_ident = *id;
	ev(e, t, ENGINE_EV_MOVED);
	for (i = 0; i < t->npaths; i++)
		t->paths[i].checked = false;
	t->paths[pi].checked = true;
	t->paths[pi].conflict = false;
	t->paths[pi].lost = 0;
	t->ident_path = pi;
	t->ident = *id;
	t->ident_ns = now;
	t->probe = NULL;
	target_reset_timing(e, t);
	target_recompute(e, t);
	/* frame_send moves each to the tail: resend as many as there are */
	TAILQ_FOREACH(f, &t->tframes, tlink)
		n++;
	while (n-- > 0 && (f = TAILQ_FIRST(&t->tframes)) != NULL) {
		f->rto = t->rto / 2; /* frame_send doubles it */
		frame_send(e, f, now);
	}
	paths_check(e, t, now);
	/* Another host's vblade: reserved there too, at once. */
	resv_claim(e, t, RESV_AT_ONCE, now);
	/* Another host's vblade: writable until a write is refused. */
	was_ro = t->read_only;
	ro_forget(e, t);
	if (t->read_only != was_ro)
		ev(e, t, ENGINE_EV_CHANGED);
	target_pump(e, t, now);
}

/* Every path to the disk is silent: do the conflicting ones answer? */
static void
conflicts_check(struct engine *e, struct target *t, uint64_t now)
{
	for (unsigned i = 0; i < t->npaths; i++)
		if (t->paths[i].conflict)
			path_check_send(e, t, i, now);
}

/*
 * Path pi's own IDENTIFY answered: the same disk as the target's, or
 * another target that answers for the same shelf.slot.  aoe.ko takes
 * every MAC that answers as a path of the device and spreads I/O over
 * them; 9front and a careful admin tell them apart by what they identify.
 */
static void
path_check_done(struct engine *e, struct target *t, unsigned pi,
    const uint8_t *data, size_t len, uint64_t now)
{
	struct target_path *p = &t->paths[pi];
	struct ata_ident id;

	if (!ident_usable(data, len, &id)) {
		t->errors++;
		return;
	}
	if (!t->identified)
		return;
	if (ident_same(&id, &t->ident)) {
		/* A new port to the disk: reserved there too (resv_path). */
		if (!p->checked)
			t->resv_next = 0;
		p->checked = true;
		p->conflict = false;
	} else if (!carrier_alive(t)) {
		/*
		 * The disk is silent on every path and another answers in
		 * its place: the target moved to another host (vblade
		 * restarted there on shared storage), or the other target
		 * stayed.  Do not wait for the dead timeout: the same size
		 * is taken as the same disk moved, another as replaced.
		 */
		if (id.sectors == t->ident.sectors)
			target_moved(e, t, pi, &id, now);
		else
			target_replaced(e, t, pi, &id, now);
		return;
	} else {
		p->checked = false;
		if (!p->conflict) {
			p->conflict = true;
			t->conflict_ev_path = pi;
			t->conflict_ident = id;
			ev(e, t, ENGINE_EV_CONFLICT);
		}
	}
	target_recompute(e, t);
	resv_claim(e, t, RESV_ROUTINE, now);
	target_pump(e, t, now);
}

static void
identify_done(struct engine *e, struct target *t, unsigned pi,
    const uint8_t *data, size_t len, uint64_t now)
{
	struct ata_ident id;
	bool was_up = t->identified, was_ro = t->read_only;
	uint64_t old = t->sectors;

	if (!ident_usable(data, len, &id)) {
		t->errors++;
		return;
	}
	/* Another disk behind the address (see target_replaced). */
	if (was_up && ident_other_disk(&id, &t->ident)) {
		target_replaced(e, t, pi, &id, now);
		return;
	}
	/*
	 * Back from the dead as another disk: its clients are told as well
	 * (their I/O failed already).  Of the same size, at another MAC, it
	 * is taken as moved (see target_moved): a failover slower than the
	 * dead timeout.
	 */
	if (!was_up && t->ident.sectors != 0 &&
	    ident_other_disk(&id, &t->ident)) {
		t->conflict_ev_path = pi;
		t->conflict_ident = id;
		t->moved_ev_path = t->ident_path;
		if (id.sectors == t->ident.sectors &&
		    memcmp(t->paths[pi].mac, t->paths[t->ident_path].mac,
		    6) != 0)
			ev(e, t, ENGINE_EV_MOVED);
		else
			ev(e, t, ENGINE_EV_REPLACED);
	}
	/*
	 * Another size or firmware (restarted with another file): the
	 * other paths may still lead to the old one, check them again.
	 */
	if (!was_up || !ident_same(&id, &t->ident))
		for (unsigned i = 0; i < t->npaths; i++)
			t->paths[i].checked = false;
	t->paths[pi].checked = true;
	t->paths[pi].conflict = false;
	t->ident_path = pi;
	t->ident = id;
	t->sectors = id.sectors;
	t->identified = true;
	t->ident_ns = now;
	t->state = TARGET_UP;
	/*
	 * Restarted (announced itself) or resized: writable until a write
	 * is refused again.  Our own rediscovery's answers keep what was
	 * learnt: AoE cannot tell a read-only target, so forgetting it
	 * each time would make every new client's first write fail.
	 */
	if (!was_up || t->restarted || old != id.sectors)
		ro_forget(e, t);
	t->restarted = false;
	target_recompute(e, t);
	paths_check(e, t, now);
	/* Found afresh (after it died): reserved again first. */
	resv_claim(e, t, was_up ? RESV_ROUTINE : RESV_AT_ONCE, now);
	if (!was_up)
		ev(e, t, ENGINE_EV_UP);
	else if (old != t->sectors || was_ro != t->read_only)
		ev(e, t, ENGINE_EV_CHANGED);
	target_pump(e, t, now);
}

static void
ata_response(struct engine *e, struct frame *f, unsigned pi,
    const struct aoe_hdr *h, const uint8_t *p, size_t len, uint64_t now)
{
	struct target *t = f->t;
	struct req *r = f->req;
	struct aoe_ata a;
	uint64_t sent;
	int rc;

	if (h->flags & AOE_FLAG_ERR) {
		rc = aoe_error_errno(h->error);
		/* Reserved for another host since we claimed it? */
		if (rc == -EACCES)
			resv_claim(e, t, RESV_REFUSED, now);
	} else {
		if (aoe_ata_decode(p, len, &a) < 0) {
			e->stats.rx_short++;
			return;
		}
		rc = ata_status_errno(a.cmd_status, a.err_feature, f->write);
		if (rc == 0 && (f->dst || f->kind == FK_IDENTIFY) &&
		    len - AOE_ATA_HDR_LEN < f->datalen) {
			e->stats.rx_short++;
			return;
		}
	}
	/* Accepted: the frame is answered. */
	/* Karn: no sample from a resent frame, nor from one held in a stall. */
	if (f->nsent == 1 && h->tag == f->tag && !f->stalled)
		rtt_sample(e, t, now - f->sent_ns, now);
	if ((f->kind == FK_RW || f->kind == FK_FLUSH) && h->tag == f->tag &&
	    f->seq > t->path_acked[f->path])
		t->path_acked[f->path] = f->seq;
	if (f->fast && h->tag == f->prev_tag) {
		/*
		 * The first copy answered after all: the fast retransmit was
		 * spurious, the path reorders.  Undo the cut, wait longer.
		 */
		t->dupthresh = MIN(t->dupthresh * 2, 256u);
		window_undo(t);
	}
	if (f->timed_out && h->tag == f->prev_tag)
		spurious_timeout(e, t, now - f->prev_sent_ns, now);
	if (f->kind == FK_RW)
		jumbo_answered(e, t, pi, h->tag == f->tag ? f->jumbo :
		    f->prev_jumbo, now);
	sent = h->tag == f->tag ? f->sent_ns : f->prev_sent_ns;
	if (sent > t->answered_sent_ns)
		t->answered_sent_ns = sent;
	t->probe = NULL;
	if (t->nheld > 0)
		frames_unhold(e, t, f->nsent > 1 && h->tag == f->tag, now);
	t->rx_frames++;
	t->paths[pi].rx++;
	t->paths[pi].lost = 0;
	if (f->kind == FK_RW || f->kind == FK_FLUSH)
		window_grow(t);
	if (rc)
		t->errors++;

	if (f->kind == FK_IDENTIFY) {
		bool pinned = f->pinned;

		frame_finish(e, f);
		if (rc == 0 && pinned)
			path_check_done(e, t, pi, p + AOE_ATA_HDR_LEN,
			    ATA_SECTOR_SIZE, now);
		else if (rc == 0)
			identify_done(e, t, pi, p + AOE_ATA_HDR_LEN,
			    ATA_SECTOR_SIZE, now);
		return;
	}
	if (rc == 0 && f->dst && !rdata_hold(e, r, t->paths[pi].ifidx, p,
	    f->dst, p + AOE_ATA_HDR_LEN, f->datalen))
		memcpy(f->dst, p + AOE_ATA_HDR_LEN, f->datalen);
	if (f->kind == FK_FLUSH && rc == -EOPNOTSUPP &&
	    f->ata_cmd == ATA_CMD_FLUSH_EXT && t->ident.flush) {
		/* FLUSH CACHE EXT refused: fall back to FLUSH CACHE. */
		struct aoe_ata fa;

		t->no_flush_ext = true;
		ata_flush_build(&fa, false);
		ata_frame_build(f, &fa);
		f->nsent = 0;
		frame_send(e, f, now);
		return;
	}
	if (rc == 0 && f->write) {
		t->wrote = true;
		if (t->ro_learnt || t->ro_retry)
			ro_taken(e, t);
	} else if (rc == -EROFS && t->wrote) {
		/*
		 * ABRT on a write from a target that took writes before:
		 * vblade answers ABRT for any failed write to its backing
		 * file (ENOSPC on a thin image's full filesystem, EIO), and
		 * a target cannot turn read-only without a restart (which
		 * it announces).  An I/O error, not learnt: learning it
		 * would refuse every later write from every client until
		 * the target restarts, long after the space was freed.
		 */
		rc = -EIO;
	} else if (rc == -EROFS) {
		ro_learn(e, t, now);
	}
	if (f->nsent > 1)
		r->retransmitted = true;
	if (f->write) {
		struct recent_write *w = &e->recent[e->recent_next];

		e->recent_next = (e->recent_next + 1) % RECENT_WRITES;
		w->tag = f->tag;
		w->prev_tag = f->prev_tag;
		w->t = t;
		w->done_ns = now;
	}
	frame_finish(e, f);
	r->outstanding--;
	if (rc && r->rc == 0)
		r->rc = rc;
	if (r->rc)
		issuing_del(t, r);
	req_progress(e, r, now);
	fast_retransmit(e, t, now);
	target_pump(e, t, now);
}

static void
admin_response(struct engine *e, struct frame *f, unsigned pi,
    const struct aoe_hdr *h, const uint8_t *p, size_t len, uint64_t now)
{
	struct admin *a = f->adm;
	struct target *t = f->t;
	int rc = 0, n;

	switch (a->cmd) {
	case AOE_CMD_CFG:
		n = aoe_cfg_decode(p, len, &a->rsp.cfg);
		break;
	case AOE_CMD_MASK:
		n = aoe_mask_decode(p, len, &a->rsp.mask);
		if (n >= 0 && a->rsp.mask.merror)
			rc = a->rsp.mask.merror == AOE_MERR_FULL ? -ENOSPC :
			    -EINVAL;
		break;
	default:
		n = aoe_resv_decode(p, len, &a->rsp.resv);
		break;
	}
	if (h->flags & AOE_FLAG_ERR) {
		/* An error response may still carry the target's state. */
		rc = aoe_error_errno(h->error);
	} else if (n < 0) {
		e->stats.rx_short++;
		return;
	}
	a->has_rsp = n >= 0;
	if (f->nsent == 1 && h->tag == f->tag)
		rtt_sample(e, t, now - f->sent_ns, now);
	t->rx_frames++;
	t->paths[pi].rx++;
	t->paths[pi].lost = 0;
	if (a->cmd == AOE_CMD_CFG && a->has_rsp && rc == 0) {
		struct aoe_cfg *c = &a->rsp.cfg;

		/* Every config response carries the current state. */
		t->bufcnt = c->bufcnt;
		t->fwver = c->fwver;
		t->scnt = (uint8_t)aoe_cfg_scnt(c);
		t->cfg_len = c->len;
		memcpy(t->cfg, c->str, c->len);
		target_recompute(e, t);
	}
	f->adm = NULL;
	frame_finish(e, f);
	admin_finish(e, a, rc);
}

static void drain(struct engine *e);

/*
 * An answer to a write that already completed: the network duplicated the
 * request (or the answer) and delivered the copy late.  A late copy of a
 * write request would overwrite newer data, so from now on every write to
 * this target is fenced for twice the lateness seen (engine.c fence_add).
 */
static void
late_duplicate(struct engine *e, unsigned ifidx, const struct aoe_hdr *h,
    uint64_t now)
{
	for (unsigned i = 0; i < RECENT_WRITES; i++) {
		struct recent_write *w = &e->recent[i];
		struct target *t = w->t;
		uint64_t late;

		if (t == NULL || (h->tag != w->tag && h->tag != w->prev_tag))
			continue;
		if (h->shelf != t->shelf || h->slot != t->slot ||
		    target_path_find(t, ifidx, h->src) < 0)
			return;
		late = now - w->done_ns;
		t->dup_hold = MIN(MAX(t->dup_hold, 2 * late + 2 * t->srtt),
		    e->cfg.rto_max_ns);
		t->dup_until = now + DUP_MEMORY_NS;
		return;
	}
}

/* One received frame; the caller drains (flush, then callbacks). */
static void
input_one(struct engine *e, unsigned ifidx, const uint8_t *p, size_t len,
    uint64_t now)
{
	struct aoe_hdr h;
	struct frame *f;
	struct aoe_cfg *c;
	int pi;

	e->stats.rx_frames++;
	if (aoe_hdr_decode(p, len, &h) < 0) {
		e->stats.rx_short++;
		goto out;
	}
	if (!(h.flags & AOE_FLAG_RSP)) {
		e->stats.rx_request++;
		goto out;
	}
	/* vblade 25 sends its start-up advert with version 0: accept that. */
	if (h.version != AOE_VERSION &&
	    !(h.version == 0 && h.cmd == AOE_CMD_CFG && h.tag == 0)) {
		e->stats.rx_badver++;
		goto out;
	}
	if (ifidx >= e->nifs) {
		e->stats.rx_foreign++;
		goto out;
	}
	f = frame_lookup(e, h.tag);
	if (f == NULL) {
		if (h.cmd == AOE_CMD_CFG && !(h.flags & AOE_FLAG_ERR)) {
			/* Discovery answer or unsolicited advert. */
			c = malloc(sizeof(*c));
			if (c == NULL)
				goto out;
			if (aoe_cfg_decode(p, len, c) < 0)
				e->stats.rx_short++;
			else
				cfg_advert(e, ifidx, &h, c, now);
			free(c);
		} else {
			e->stats.rx_unknown++;
			if (h.cmd == AOE_CMD_ATA)
				late_duplicate(e, ifidx, &h, now);
		}
		goto out;
	}
	pi = target_path_find(f->t, ifidx, h.src);
	if (pi < 0) {
		e->stats.rx_foreign++;
		goto out;
	}
	/*
	 * From a path that does not carry the target's frames (another disk
	 * answers there, or it is not checked yet): vblade answers frames
	 * sent to any MAC, and a switch floods unicast it has not learnt.
	 * A path's check is answered through that path only.
	 */
	if (f->pinned ? (unsigned)pi != f->path :
	    !path_carries(f->t, (unsigned)pi)) {
		e->stats.rx_foreign++;
		goto out;
	}
	if (h.shelf != f->t->shelf || h.slot != f->t->slot) {
		e->stats.rx_mismatch++;
		goto out;
	}
	if (f->kind == FK_ADMIN) {
		if (h.cmd != f->adm->cmd) {
			e->stats.rx_mismatch++;
			goto out;
		}
		admin_response(e, f, (unsigned)pi, &h, p, len, now);
	} else {
		if (h.cmd != AOE_CMD_ATA) {
			e->stats.rx_mismatch++;
			goto out;
		}
		ata_response(e, f, (unsigned)pi, &h, p, len, now);
	}
out:
	return;
}

void
engine_input(struct engine *e, unsigned ifidx, const uint8_t *p, size_t len,
    uint64_t now)
{
	input_one(e, ifidx, p, len, now);
	drain(e);
}

void
engine_input_batch(struct engine *e, unsigned ifidx,
    const uint8_t *const *frames, const size_t *lens, unsigned n,
    uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		input_one(e, ifidx, frames[i], lens[i], now);
	drain(e);
}

/* ------------------------------------------------------------ timers */

static void
target_dead(struct engine *e, struct target *t, uint64_t now)
{
	struct frame *f, *next;
	struct req *r;
	struct fence *fc;

	t->state = TARGET_DEAD;
	for (f = TAILQ_FIRST(&e->frames); f; f = next) {
		next = TAILQ_NEXT(f, link);
		if (f->t != t || f->kind == FK_ADMIN)
			continue;
		frame_finish(e, f);
	}
	e->inflight -= t->inflight; /* none left: frame_finish counted */
	t->inflight = 0;
	while ((r = TAILQ_FIRST(&t->active)) != NULL) {
		r->outstanding = 0;
		req_complete(e, r, -EIO, now);
	}
	while ((r = TAILQ_FIRST(&t->queued)) != NULL) {
		rl_remove(&t->queued, r);
		rl_append(&t->active, r);
		req_complete(e, r, -EIO, now);
	}
	while ((fc = t->fences) != NULL) {
		t->fences = fc->next;
		free(fc);
	}
	t->nfences = 0;
	ev(e, t, ENGINE_EV_DEAD);
}

/*
 * The timer fired for f.  If a frame sent after f was answered, f alone
 * is lost: resend it.  If not, the target has been silent since (down,
 * its path cut, or stalled as a descheduled VM) and the other frames sent
 * in that time are no more likely to be answered: one frame, the probe,
 * asks for all of them, and the rest are held, unsent and without a
 * timer, until the target speaks again.  Otherwise a silence of a whole
 * window resends the whole window at every backoff, and a stall answers
 * each frame twice.  (aoe.ko keeps timed-out frames in a queue resent as
 * its window, cut to one, allows; TCP resends only the first segment.)
 * Returns true when f is held.
 */
static bool
frame_hold(struct target *t, struct frame *f)
{
	if (t->answered_sent_ns >= f->sent_ns)
		return false;
	if (t->probe == NULL || t->probe == f) {
		t->probe = f;
		return false;
	}
	f->held = true;
	f->stalled = true;
	f->deadline = UINT64_MAX;
	t->nheld++;
	t->held_total++;
	return true;
}

/*
 * The target answered after a silence.  An answer to a resent probe says
 * the held frames were lost too: resend them now.  An answer to a first
 * copy says the path was slow: their first copies are on the way, so
 * give them a timer again instead.
 */
static void
frames_unhold(struct engine *e, struct target *t, bool lost, uint64_t now)
{
	struct frame *f, *next;

	for (f = TAILQ_FIRST(&t->tframes); f && t->nheld > 0; f = next) {
		next = TAILQ_NEXT(f, tlink);
		if (!f->held)
			continue;
		if (lost) {
			frame_resend(e, f, true, now);  /* moves f to the tail */
		} else {
			f->held = false;
			t->nheld--;
			f->deadline = now + MAX(f->rto, t->rto);
		}
	}
}

void
engine_tick(struct engine *e, uint64_t now)
{
	struct frame *f, *next;
	struct target *t;
	unsigned i;

	if (e->discover_armed && now >= e->next_discover)
		engine_discover(e, AOE_SHELF_ANY, AOE_SLOT_ANY, now);
again:
	for (f = TAILQ_FIRST(&e->frames); f; f = next) {
		next = TAILQ_NEXT(f, link);
		t = f->t;
		if (f->kind == FK_ADMIN) {
			if (now >= f->adm->timeout_at) {
				struct admin *a = f->adm;

				f->adm = NULL;
				frame_finish(e, f);
				admin_finish(e, a, -ETIMEDOUT);
				continue;
			}
		} else if (f->pinned) {
			/* A path's check is no I/O: given up, not fatal. */
			if (now >= f->deadline && f->nsent >= PATH_CHECK_TRIES) {
				frame_finish(e, f);
				continue;
			}
		} else if (e->cfg.dead_ns && now >= f->first_ns + e->cfg.dead_ns) {
			target_dead(e, t, now);
			goto again;
		}
		if (now < f->deadline)
			continue;
		if ((f->kind == FK_RW || f->kind == FK_FLUSH) &&
		    frame_hold(t, f))
			continue;
		frame_resend(e, f, true, now);
	}
	for (i = 0; i < e->ntargets; i++) {
		t = e->targets[i];
		if (t->fences) {
			fences_expire(t, now);
			admit_queued(t, now);
		}
		if (t->state == TARGET_UP && !carrier_alive(t))
			conflicts_check(e, t, now);
		if (t->ro_learnt && now >= t->ro_until)
			ro_expire(e, t);
		target_pump(e, t, now);
	}
	drain(e);
}

uint64_t
engine_next_timeout(const struct engine *e)
{
	uint64_t next = UINT64_MAX;
	const struct frame *f;

	if (TAILQ_FIRST(&e->done) || e->adone_head)
		return 0;
	if (e->discover_armed)
		next = e->next_discover;
	TAILQ_FOREACH(f, &e->frames, link) {
		next = MIN(next, f->deadline);
		if (f->kind == FK_ADMIN)
			next = MIN(next, f->adm->timeout_at);
		else if (e->cfg.dead_ns && !f->pinned)
			next = MIN(next, f->first_ns + e->cfg.dead_ns);
	}
	for (unsigned i = 0; i < e->ntargets; i++) {
		const struct target *t = e->targets[i];

		if (TAILQ_FIRST(&t->queued))
			for (const struct fence *fc = t->fences; fc;
			    fc = fc->next)
				next = MIN(next, fc->until);
		if (t->ro_learnt)
			next = MIN(next, t->ro_until);
	}
	return next;
}

/* ------------------------------------------------------------ completions */

static void
drain(struct engine *e)
{
	struct req *r;
	struct admin *a;

	for (;;) {
		r = TAILQ_FIRST(&e->done);
		a = r == NULL ? e->adone_head : NULL;
		if (r == NULL && a == NULL)
			break;
		/*
		 * Nothing queued may point at memory the callback frees (a
		 * write's buffer, resent by a fast retransmit whose original
		 * was answered in this batch): push it out first, plugged or
		 * not.
		 */
		ops_flush(e);
		if (r != NULL) {
			rl_remove(&e->done, r);
			if (r->rc == 0) {
				e->cur_rd = r->rd;
				r->rd = NULL;
			}
			r->done(r->arg, r->rc);
			engine_rdata_free(e->cur_rd);
			e->cur_rd = NULL;
			req_free(r);
			continue;
		}
		e->adone_head = a->next;
		if (e->adone_head == NULL)
			e->adone_tail = NULL;
		switch (a->cmd) {
		case AOE_CMD_CFG:
			a->fn.cfg(a->arg, a->rc,
			    a->has_rsp ? &a->rsp.cfg : NULL);
			break;
		case AOE_CMD_MASK:
			a->fn.mask(a->arg, a->rc,
			    a->has_rsp ? &a->rsp.mask : NULL);
			break;
		default:
			a->fn.resv(a->arg, a->rc,
			    a->has_rsp ? &a->rsp.resv : NULL);
			break;
		}
		free(a);
	}
	/* What the input and the callbacks sent: now, or at the unplug. */
	if (e->plugged == 0)
		ops_flush(e);
}

void
engine_free(struct engine *e)
{
	struct frame *f, *next;
	unsigned i;

	if (e == NULL)
		return;
	e->freeing = true;
	for (f = TAILQ_FIRST(&e->frames); f; f = next) {
		next = TAILQ_NEXT(f, link);
		if (f->kind == FK_ADMIN) {
			struct admin *a = f->adm;

			f->adm = NULL;
			frame_finish(e, f);
			admin_finish(e, a, -ECANCELED);
		} else {
			frame_finish(e, f);
		}
	}
	for (i = 0; i < e->ntargets; i++) {
		struct target *t = e->targets[i];
		struct req *r;

		while ((r = TAILQ_FIRST(&t->active)) != NULL) {
			rl_remove(&t->active, r);
			issuing_del(t, r);
			r->rc = -ECANCELED;
			rl_append(&e->done, r);
		}
		while ((r = TAILQ_FIRST(&t->queued)) != NULL) {
			rl_remove(&t->queued, r);
			r->rc = -ECANCELED;
			rl_append(&e->done, r);
		}
		/* Already finished ones keep their own status. */
		t->state = TARGET_DEAD;
	}
	/* Run every callback once; submissions from them fail with -EIO. */
	drain(e);
	for (i = 0; i < e->ntargets; i++) {
		struct target *t = e->targets[i];
		struct fence *fc;

		while ((fc = t->fences) != NULL) {
			t->fences = fc->next;
			free(fc);
		}
		free(t);
	}
	for (i = 0; i < e->npool; i++) {
		free(e->pool[i]->big);
		free(e->pool[i]);
	}
	free(e->pool);
	free(e->targets);
	free(e);
}
