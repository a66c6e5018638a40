/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AoE initiator engine: discovery, targets and their paths, IDENTIFY,
 * the per-target window (AIMD), RTT estimate and retransmission, the dead
 * timeout, and byte-range reads/writes/flushes split into ATA frames.
 *
 * The engine owns no socket and reads no clock: frames come in through
 * engine_input(), time through the `now` argument (CLOCK_MONOTONIC
 * nanoseconds, never decreasing), and frames go out through ops->send().
 * Single-threaded.  It does not log; it keeps counters (engine_stats,
 * target_info) for the status tool.
 *
 * Completion callbacks run only from engine_input() and engine_tick(),
 * never from the call that submitted the request (errors found at submit
 * time are returned instead, and then no callback ever runs).  A callback
 * may submit new requests.  Each accepted request's callback runs exactly
 * once, including from engine_free() (with -ECANCELED).
 */
#ifndef AOE_ENGINE_H
#define AOE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "aoe.h"
#include "ata.h"

#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL

#define ENGINE_MAX_IFS 32      /* local interfaces */
#define ENGINE_MAX_PATHS 16    /* (interface, target MAC) pairs per target */

struct engine;
struct target;

struct engine_ops {
	/*
	 * Send one frame, the concatenation of iov[0..iovcnt), on local
	 * interface ifidx.  The engine keeps the memory valid until it calls
	 * flush(); a batching implementation may hold the pointers until then.
	 * Requests are already padded to 60 bytes.  Return 0 or -errno (the
	 * engine treats a failed send as a lost frame).
	 */
	int (*send)(void *ctx, unsigned ifidx, const struct iovec *iov,
	    unsigned iovcnt);
	/*
	 * Push every frame queued by send().  Called before each engine
	 * entry point returns and before any completion callback runs.
	 * May be NULL.
	 */
	void (*flush)(void *ctx);
	/* Target state changes (may be NULL); see enum engine_event. */
	void (*event)(void *ctx, struct target *t, int event);
	/*
	 * Zero-copy reads (both or neither; may be NULL): keep the frame
	 * engine_input() is handling valid past that call.  Returns a handle
	 * (>= 0), or -1 and the engine copies.  Until release(ifidx, handle)
	 * the bytes stay, unless the link wants them back first: it calls
	 * evict(owner, idx) (from within its receive, resize or close) and
	 * the handle is gone.  See link_ops.hold.
	 */
	int (*hold)(void *ctx, unsigned ifidx, const uint8_t *frame,
	    void (*evict)(void *owner, unsigned idx), void *owner,
	    unsigned idx);
	void (*release)(void *ctx, unsigned ifidx, int handle);
};

enum engine_event {
	ENGINE_EV_NEW = 1,  /* first config response: target exists, not yet usable */
	ENGINE_EV_UP,       /* IDENTIFY done: I/O may be submitted */
	ENGINE_EV_CHANGED,  /* capacity, config string or paths changed */
	ENGINE_EV_DEAD,     /* dead timeout passed: pending and new I/O fail -EIO */
	ENGINE_EV_JUMBO,    /* a path found to lose jumbo frames, or passing them again */
	ENGINE_EV_CONFLICT, /* a path answers as another disk: unused (conflict_path) */
	/*
	 * It is another disk now (serial or model differ) when identified
	 * again (a shelf's slot given a new disk, vblade restarted on another
	 * host's file), when found again after it was dead (at the same MAC
	 * or with another size), or when every path to it is silent and a
	 * conflicting path answers with another size (of the same size:
	 * ENGINE_EV_MOVED): its I/O fails as a dead target's, and it is found
	 * afresh as the new disk (conflict_ident, conflict_path).  Clients
	 * opened on the old disk should be dropped; ENGINE_EV_DEAD follows
	 * unless it was dead already.
	 */
	ENGINE_EV_REPLACED,
	/*
	 * Every path to it was silent and another MAC answered as another
	 * disk (serial or model) of the same size, or it was found so again
	 * after it was dead: taken as the disk moved to another host (an HA
	 * failover).  Said before the new identity is taken: ident and paths
	 * are still the old ones, moved_path the old path; conflict_path and
	 * conflict_ident the new.  Its I/O goes on through the new path (if
	 * it was not dead); it was another disk if the admin says so.
	 */
	ENGINE_EV_MOVED,
	/*
	 * Read-only learnt or given up (not configured read-only; see
	 * target_info ro_learnt, ro_retry, ro_refusals): a write refused
	 * (ATA ABRT) by a target that took none since it was identified
	 * made it read-only; that expired (ro_retry_ns), so writes go to the
	 * target again; or it took a write while read-only was learnt or
	 * being retried: writable.
	 */
	ENGINE_EV_READ_ONLY,
	/*
	 * The reservation engine_reserve_hold() asked for changed (see
	 * target_info resv): held for our MACs, refused (reserved for another
	 * host), failed (no answer, or the target does not do Reserve/
	 * Release), or released by engine_reserve_release().
	 */
	ENGINE_EV_RESERVE,
};

/* A target's reservation for this host (engine_reserve_hold). */
enum target_resv {
	TARGET_RESV_NONE = 0, /* not asked for, or released */
	TARGET_RESV_HELD,     /* reserved for our MACs (resv_macs) */
	TARGET_RESV_OTHER,    /* reserved for another host: I/O fails -EACCES */
	TARGET_RESV_FAILED,   /* the latest claim or release failed: resv_rc */
};
#define TARGET_RESV_SHOW 4 /* MACs of a reserve list in target_info */

enum target_state {
	TARGET_NEW = 0,     /* config seen, IDENTIFY outstanding */
	TARGET_UP,
	TARGET_DEAD,
};

struct engine_config {
	/*
	 * A frame unanswered this long (from its first send, across all
	 * retransmissions) marks its target dead.  0 = never.  Default 180 s
	 * as the Linux aoe driver's aoe_deadsecs.
	 */
	uint64_t dead_ns;
	/*
	 * Broadcast Query Config again (engine_tick does it): 8 times 250 ms
	 * apart after the first engine_discover() (a lost broadcast or answer
	 * must not hide a target for a whole interval), then after twice as
	 * long each time up to this interval, then every interval; 0 = off.
	 * Default 60 s (aoe.ko's discover timer).
	 */
	uint64_t discover_ns;
	/* Retransmit timeout bounds and the value before any RTT sample.
	 * Defaults 10 ms, 2 s, 200 ms. */
	uint64_t rto_min_ns, rto_max_ns, rto_init_ns;
	/* Cap on a target's window, 0 = the target's buffer count. */
	unsigned max_window;
	/* Cap on sectors per frame (0 = as the target and MTU allow). */
	unsigned max_sectors;
	/* Treat every target as read-only (writes fail -EROFS). */
	bool read_only;
	/*
	 * AoE has no read-only flag: a write refused (ATA ABRT) by a target
	 * that took no write since it was identified makes it read-only, as
	 * vblade -r answers so.  vblade also answers ABRT to any write its
	 * backing file refuses (a thin image's full filesystem, EIO), so
	 * that lasts this long only: then writes go to the target again (a
	 * write taken: writable; refused: read-only again for as long).
	 * 0 = until the target restarts.  Default 10 s.
	 */
	uint64_t ro_retry_ns;
	/*
	 * 0 to AOE_TAG_INSTANCES - 1, carried in every tag: initiators
	 * on one host share the interface's MAC address and see each
	 * other's answers, which only a different instance tells apart
	 * (rt.c claims a free one per network namespace).  Default 0.
	 */
	unsigned tag_instance;
	/*
	 * Where every frame's tag generation (see engine.c) starts.  rt.c
	 * draws it at random: an initiator started again takes the same
	 * tag instance (the first free one) and would otherwise issue its
	 * predecessor's tags, taking late answers to the old requests (old
	 * data, writes that never happened) for answers to its own; from
	 * a random start, a late answer matches with odds of 1 in 4096.
	 * Default 0.
	 */
	uint16_t tag_seed;
};

/* Fill *c with the defaults above. */
void engine_config_default(struct engine_config *c);

struct engine_stats {
	uint64_t tx_frames, rx_frames, retransmits, timeouts;
	/* received frames dropped, by reason */
	uint64_t rx_short;      /* shorter than its header or announced data */
	uint64_t rx_request;    /* R flag clear (another initiator's request) */
	uint64_t rx_badver;     /* AoE version != 1 */
	uint64_t rx_unknown;    /* tag not outstanding (late or duplicate) */
	uint64_t rx_foreign;    /* not from a path (MAC, interface) carrying its target */
	uint64_t rx_mismatch;   /* shelf.slot, command or length disagree with the request */
	uint64_t rx_bad_cfg;    /* unusable config response (shelf 0xffff, slot 0xff, ...) */
};

struct target_path {
	unsigned ifidx;
	uint8_t mac[6];
	unsigned mtu;          /* local interface MTU when last seen */
	uint64_t tx, rx, lost;
	/*
	 * Frames above 1500 bytes are lost on this path (a switch without
	 * jumbo frames?) while smaller ones pass: it carries small frames
	 * only, and a full-size frame tries it again now and then.
	 */
	bool jumbo_lost;
	/*
	 * Once the target is identified, a path carries its I/O only after
	 * an IDENTIFY answered through it showed the same disk (serial,
	 * model, firmware, size): checked.  A path that showed another is
	 * a conflict, another target answering for the same shelf.slot (two
	 * vblades given the same address): never used, asked again at its
	 * adverts, and forgotten when the target dies and is found afresh.
	 */
	bool checked;
	bool conflict;
};

struct target_info {
	uint16_t shelf;
	uint8_t slot;
	char name[16];         /* "e1.0" */
	enum target_state state;
	/* from the latest config response */
	uint16_t bufcnt, fwver;
	uint8_t scnt;          /* as advertised (aoe_cfg_scnt applied) */
	uint16_t cfg_len;
	uint8_t cfg[AOE_CFG_STR_MAX];
	/* from IDENTIFY (valid when identified) */
	bool identified;
	struct ata_ident ident;
	uint64_t size;         /* bytes */
	bool read_only;        /* writes refused: configured, or ro_learnt */
	/* learnt from a write ABRT, until ro_until_ns (UINT64_MAX: restart) */
	bool ro_learnt;
	uint64_t ro_until_ns;
	/* ro_learnt expired: writes go to the target, none taken yet */
	bool ro_retry;
	/* times learnt since a write was taken (or it was identified) */
	unsigned ro_refusals;
	/*
	 * Reservation: resv_want while held by engine_reserve_hold (until
	 * engine_reserve_release); the latest answer's list (ours when held,
	 * the other host's when refused): its first resv_nmacs (up to
	 * TARGET_RESV_SHOW) MACs of resv_total.
	 */
	bool resv_want;
	enum target_resv resv;
	int resv_rc;
	unsigned resv_total, resv_nmacs;
	uint8_t resv_macs[TARGET_RESV_SHOW][6];
	unsigned npaths;
	struct target_path paths[ENGINE_MAX_PATHS];
	/* engine state */
	unsigned sectors_per_frame; /* sectors in one ATA frame now */
	unsigned sectors_per_frame_full; /* what the MTUs and scnt allow */
	/* some path has jumbo_lost */
	bool jumbo_lost;
	/* the path whose jumbo_lost changed at the latest ENGINE_EV_JUMBO */
	unsigned jumbo_path;
	/* the path found to conflict at the latest ENGINE_EV_CONFLICT */
	unsigned conflict_path;
	struct ata_ident conflict_ident; /* what that path answered */
	/* the silent path left at the latest ENGINE_EV_MOVED */
	unsigned moved_path;
	uint64_t jumbo_caps;   /* times a path was capped to 2-sector frames */
	unsigned window;       /* frames allowed in flight now */
	unsigned window_max;   /* bound: min(bufcnt, config max_window) */
	unsigned inflight;     /* frames in flight now */
	uint64_t srtt_ns, rttvar_ns, rto_ns;
	uint64_t tx_frames, rx_frames, retransmits, timeouts, errors;
	/* timeouts whose first copy was answered after all (a slow path) */
	uint64_t spurious_timeouts;
	/* frames whose timer fired while the target was silent: not resent */
	uint64_t held;
	uint64_t reqs_done, reqs_failed, bytes_read, bytes_written;
};

struct engine *engine_new(const struct engine_config *cfg,
    const struct engine_ops *ops, void *ctx);
/* Fails every pending request (-ECANCELED) and frees.  NULL-safe. */
void engine_free(struct engine *e);

/*
 * Add a local interface; returns its index (0, 1, ...) used by send() and
 * engine_input(), or -ENOSPC / -EINVAL.
 */
int engine_add_interface(struct engine *e, const char *name,
    const uint8_t mac[6], unsigned mtu);
/* The interface MTU changed: frame sizes follow. */
void engine_set_mtu(struct engine *e, unsigned ifidx, unsigned mtu);
/*
 * The interface came back with this MAC and MTU (removed and created
 * again): frames go out from the new MAC, sizes follow the MTU.
 */
void engine_update_interface(struct engine *e, unsigned ifidx,
    const uint8_t mac[6], unsigned mtu);
const char *engine_interface_name(const struct engine *e, unsigned ifidx);

/*
 * A received frame on ifidx.  Anything malformed, unsolicited or
 * unmatched is counted and dropped.  Config responses (solicited or not,
 * tag 0 adverts included) create targets and paths.
 */
void engine_input(struct engine *e, unsigned ifidx, const uint8_t *frame,
    size_t len, uint64_t now);
/*
 * Several frames received together on ifidx, as engine_input() each, but
 * the frames they cause are sent in one flush (one sendmmsg) and the
 * callbacks run once, after it.
 */
void engine_input_batch(struct engine *e, unsigned ifidx,
    const uint8_t *const *frames, const size_t *lens, unsigned n,
    uint64_t now);
/* Run timers: retransmissions, dead timeouts, periodic discovery. */
void engine_tick(struct engine *e, uint64_t now);
/* Absolute time of the next timer (for poll), or UINT64_MAX. */
uint64_t engine_next_timeout(const struct engine *e);

/*
 * Broadcast a Query Config read on every interface (all shelves and
 * slots, or the one given; AOE_SHELF_ANY/AOE_SLOT_ANY for all).
 */
void engine_discover(struct engine *e, uint16_t shelf, uint8_t slot,
    uint64_t now);

/* Targets, in shelf.slot order. */
struct target *engine_target_find(struct engine *e, uint16_t shelf,
    uint8_t slot);
struct target *engine_target_next(struct engine *e, struct target *prev);
void engine_target_info(const struct target *t, struct target_info *out);
enum target_state target_state(const struct target *t);
uint64_t target_size(const struct target *t); /* bytes, 0 until identified */
const char *target_name(const struct target *t);
/* Writes fail -EROFS now: configured, or learnt (ENGINE_EV_READ_ONLY). */
bool target_read_only(const struct target *t);
/* Front ends may hang their own per-target data here. */
void target_set_user(struct target *t, void *user);
void *target_user(const struct target *t);
const struct engine_stats *engine_stats(const struct engine *e);
/* ATA frames (reads, writes, flushes) in flight now, every target. */
unsigned engine_inflight(const struct engine *e);

/* Completion: rc is 0 or a negative errno. */
typedef void (*engine_done_fn)(void *arg, int rc);

/*
 * Read or write len bytes at any byte offset.  Requests are split into
 * frames of sectors_per_frame sectors; unaligned writes read the partial
 * head/tail sectors first and merge (read-modify-write).  Two requests
 * whose sector ranges overlap and of which one writes are never in flight
 * at once: the later waits (FIFO).  buf must stay valid until the callback.
 *
 * Returns 0 (callback pending) or, with no callback:
 * -EINVAL for len 0 or a read past the end, -ENOSPC for a write past the
 * end, -EROFS for a write to a read-only target, -EIO for a dead target,
 * -EAGAIN for a target not yet identified, -ENOMEM.
 * Completion errors: -EIO (dead timeout, ATA UNC/DF), -EROFS (write
 * aborted: the target becomes read-only for cfg.ro_retry_ns, unless it
 * took a write before: then -EIO), -ENOSPC (IDNF), -EINVAL (AoE
 * bad argument), -EACCES (target reserved by another host).
 */
int engine_read(struct engine *e, struct target *t, void *buf,
    uint64_t offset, size_t len, engine_done_fn done, void *arg,
    uint64_t now);
/*
 * As engine_read(), but the data may be left in the received frames
 * (ops->hold) instead of copied to buf: the callback takes them with
 * engine_take_rdata() and sends them from there.  Parts not held, and
 * held parts the link wants back, are in buf.
 */
int engine_read_zc(struct engine *e, struct target *t, void *buf,
    uint64_t offset, size_t len, engine_done_fn done, void *arg,
    uint64_t now);
/*
 * In the callback of a successful engine_read_zc(): its data, or NULL
 * when all of it is in buf.  The caller owns it: engine_rdata_iov() for
 * the bytes, engine_rdata_free() when done (buf must stay valid until
 * then: an evicted frame is copied into it).  Not taken: freed after the
 * callback.
 */
struct engine_rdata;
struct engine_rdata *engine_take_rdata(struct engine *e);
/*
 * The request's bytes from off on as up to max iovecs, in order (each
 * pointing into a held frame or into buf).  Returns the count; more than
 * max are needed when it returns max and they do not reach the end
 * (ENGINE_RDATA_IOV_MAX are always enough).  Valid until the link runs
 * again (a receive may evict a frame).
 */
#define ENGINE_RDATA_MAX_FRAMES 256 /* a longer read is copied to buf */
#define ENGINE_RDATA_IOV_MAX (2 * ENGINE_RDATA_MAX_FRAMES + 1)
unsigned engine_rdata_iov(const struct engine_rdata *d, size_t off,
    struct iovec *iov, unsigned max);
/* Frames held now (for tests and counters). */
unsigned engine_rdata_held(const struct engine_rdata *d);
/* Give the frames back.  NULL-safe. */
void engine_rdata_free(struct engine_rdata *d);

int engine_write(struct engine *e, struct target *t, const void *buf,
    uint64_t offset, size_t len, engine_done_fn done, void *arg,
    uint64_t now);
/*
 * Make every write whose callback already ran stable: ATA FLUSH CACHE EXT
 * when IDENTIFY word 83 bit 13 says so, else FLUSH CACHE (bit 12), else
 * complete at once (the target has no cache to flush).  Same returns.
 */
int engine_flush(struct engine *e, struct target *t, engine_done_fn done,
    void *arg, uint64_t now);

/*
 * Plug: while plugged (calls nest), submitting a request does not push
 * its frames out; engine_unplug() of the outermost plug does, in one
 * batch with everything submitted meanwhile.  For a front end that takes
 * several requests from one read (NBD pipelining, FUSE), and for the
 * caller of engine_input_batch() with several batches at hand: what the
 * input and the completions it runs make the engine send waits for the
 * unplug too.  Timers and admin commands still flush at once.
 */
void engine_plug(struct engine *e);
void engine_unplug(struct engine *e);

/*
 * Cancel the requests on t whose callback argument `match` accepts (the
 * front end's client went away, or the kernel interrupted a FUSE request
 * that was answered EINTR): those not yet started, and what is not
 * yet sent of those started, are dropped; frames already on the wire are
 * waited for.  Each cancelled request's callback still runs exactly once,
 * from the next engine_input() or engine_tick(), with -ECANCELED (or the
 * error one of its frames got).  A write may be left partly done, as after
 * any failed write.  Returns how many requests were cancelled.
 */
unsigned engine_cancel(struct engine *e, struct target *t,
    bool (*match)(void *arg, void *ctx), void *ctx, uint64_t now);

/*
 * Administrative commands to one target (unicast to its paths, retried
 * at the RTO until timeout_ns passes).  The callback gets rc 0 and the
 * decoded response, -ETIMEDOUT (no answer: also what a config test or
 * prefix that does not match gives), or the AoE error as -errno with the
 * response (e.g. -EEXIST for a config set refused with error 4, the mask
 * response carries merror).
 */
typedef void (*engine_cfg_fn)(void *arg, int rc, const struct aoe_cfg *c);
typedef void (*engine_mask_fn)(void *arg, int rc, const struct aoe_mask *m);
typedef void (*engine_resv_fn)(void *arg, int rc, const struct aoe_resv *r);

int engine_config(struct engine *e, struct target *t, uint8_t ccmd,
    const void *str, size_t len, uint64_t timeout_ns, engine_cfg_fn done,
    void *arg, uint64_t now);
int engine_mask(struct engine *e, struct target *t,
    const struct aoe_mask *req, uint64_t timeout_ns, engine_mask_fn done,
    void *arg, uint64_t now);
int engine_reserve(struct engine *e, struct target *t,
    const struct aoe_resv *req, uint64_t timeout_ns, engine_resv_fn done,
    void *arg, uint64_t now);

/*
 * Keep t reserved for this host (AoEr11 Reserve/Release, set): a front
 * end's --reserve, from when a client first opens the target.  The list
 * is every local interface's MAC (each may carry its I/O).  Claimed now
 * if t is up, again when it is identified afresh or announces itself (a
 * restarted vblade forgot it), when an interface is added or changes its
 * MAC, when an I/O is refused as reserved (at most once a second), and at
 * a config answer every 30 s (an admin may have cleared it).  Refused
 * (another host holds it: its I/O fails -EACCES) or failed: said with
 * ENGINE_EV_RESERVE, claimed again at those same moments.  Idempotent.
 */
void engine_reserve_hold(struct engine *e, struct target *t, uint64_t now);
/*
 * Stop holding every target held, and release those reserved (a set of
 * no MACs: allowed to a host in the list): for the front end's exit.
 * Returns how many releases are in flight; engine_releasing() counts
 * them down as they are answered or time out (within 2 s).
 */
unsigned engine_reserve_release(struct engine *e, uint64_t now);
unsigned engine_releasing(const struct engine *e);

#endif
