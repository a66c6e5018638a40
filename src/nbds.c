/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server (see nbds.h): listening sockets, and per connection a state
 * machine for fixed-newstyle negotiation and the transmission phase over
 * non-blocking fds with buffered partial reads and writes.  Requests go to
 * the engine and complete in its callbacks, so replies leave out of order.
 * Wire encoding lives in nbdproto.c, the transport (plain or TLS after
 * NBD_OPT_STARTTLS) in tls.c; this file never touches AoE frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bufpool.h"
#include "log.h"
#include "nbdproto.h"
#include "nbds.h"
#include "util.h"

#define NBDS_IBUF (64u * 1024)           /* input buffer per connection */
#define NBDS_MAX_OPT_DATA (64u * 1024)   /* option data kept in memory */
#define NBDS_MAX_OPTIONS 1024            /* options per connection */
#define NBDS_MAX_REQS 256                /* requests alive per connection */
#define NBDS_MAX_BYTES (64u << 20)       /* request buffers per connection */
#define NBDS_MAX_OBYTES (16u << 20)      /* queued output before pausing */
#define NBDS_ZERO_CHUNK (1u << 20)       /* WRITE_ZEROES: bytes per write */
#define NBDS_ZERO_DEPTH 8                /* WRITE_ZEROES: writes in flight */
#define NBDS_META_ID 1                   /* base:allocation context id */
#define NBDS_IOV 256 /* a reply sent from the ring takes one per frame */
#define NBDS_DEFAULT_MAX_CONNS 1024
#define NBDS_META_ALLOC "base:allocation"

enum conn_state {
	CS_GREETING,  /* greeting sent; reading the client flags */
	CS_OPT_HDR,   /* reading an option header */
	CS_OPT_DATA,  /* reading option data (kept, or discarded if huge) */
	CS_OPT_WAIT,  /* the option waits for a target; input paused */
	CS_REQ_HDR,   /* transmission: reading a request header */
	CS_REQ_DATA,  /* reading (or discarding) a WRITE payload */
	CS_TLS_START, /* STARTTLS: the ACK is going out in plaintext */
	CS_TLS_HANDSHAKE, /* the TLS handshake runs (either direction) */
	CS_DONE,      /* no more input; close once replies are out */
};

struct conn;

/* A request in the transmission phase; holds a reference on its conn. */
struct req {
	struct conn *c;
	struct nbdp_request h;
	uint8_t *buf;          /* READ data / WRITE payload */
	size_t buflen;         /* counted in c->membytes */
	struct engine_rdata *rd; /* READ: data left in received frames */
	size_t got;            /* WRITE payload bytes read */
	int rc;                /* WRITE_ZEROES: first error */
	uint64_t znext, zend;  /* WRITE_ZEROES: next offset, end */
	unsigned zinflight;
};

/* One piece of output: hdr[0..hlen) then data[0..dlen). */
struct obuf {
	struct obuf *next;
	struct req *req;       /* freed once sent: owns data */
	const uint8_t *data;
	size_t dlen, hlen, off;
	uint8_t hdr[];
};

struct conn {
	struct nbds *s;
	struct conn *prev, *next;   /* s->conns */
	struct conn *dnext;         /* s->dirty */
	bool dirty, kick;
	unsigned refs;
	uint64_t id;
	char peer[80];

	int rfd, wfd;
	struct tls_io *io;          /* plain, or TLS after STARTTLS */
	bool tls;                   /* the TLS handshake is done */
	bool rreg, wreg;            /* fds registered with the loop */
	uint32_t rev, wev;          /* events registered */
	bool closed;                /* fds closed: fenced */
	bool paused;                /* input paused by the limits */
	bool idry;                  /* a short read drained the socket */
	bool oblocked;              /* the last send met a full socket */

	enum conn_state st;
	uint8_t *ibuf;
	size_t ihead, itail;

	/* negotiation */
	struct nbdp_opt opt;
	uint8_t *odata;             /* option data, or NULL when discarding */
	size_t ogot;
	uint64_t discard;           /* bytes left to throw away */
	uint64_t wait_until;        /* CS_OPT_WAIT deadline (0 = not set) */
	unsigned nopts;
	bool no_zeroes, sr, meta_alloc;
	char *meta_name;            /* export named in SET_META_CONTEXT */

	/* transmission */
	struct target *t;
	bool replaced;              /* t is another disk now: close */
	char name[16];
	uint64_t size;
	uint16_t tflags;
	struct req *cur;            /* WRITE whose payload is being read */
	struct nbdp_request drain;  /* rejected WRITE whose payload we drop */
	int drain_err;

	/* output */
	struct obuf *ohead, **otail;
	size_t obytes;
	unsigned nreqs;
	size_t membytes;
};

struct listener {
	struct listener *next;
	struct nbds *s;
	int fd;
	char *unix_path;            /* unlinked at exit */
};

struct nbds {
	struct nbds_config cfg;
	struct loop *loop;
	struct engine *e;
	struct listener *listeners;
	struct conn *conns;
	struct conn *dirty;
	unsigned nopen;
	uint64_t next_id;
	uint64_t start_ns;
	bool stopping;
	bool kick_waiters;
	bool hook_added;
	bool emfile_logged;
	int spare_fd;               /* given up to accept-and-close at EMFILE */
	unsigned tcp_port;
	uint8_t *zeros;
	struct nbds_stats stats;
};

static void conn_close(struct conn *c, const char *why);
static void conn_start_tls(struct conn *c);
static bool conn_over_limits(const struct conn *c);
static void conn_input(struct conn *c);
static void conn_update_events(struct conn *c);

/* ---------------------------------------------------------- references */

static void
conn_ref(struct conn *c)
{
	c->refs++;
}

static void
conn_free(struct conn *c)
{
	struct nbds *s = c->s;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->io != NULL)
		c->io->ops->free(c->io);
	free(c->ibuf);
	free(c->odata);
	free(c->meta_name);
	free(c);
}

static void
conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		conn_free(c);
}

/* Have the tick hook look at c (flush output; with kick, read input). */
static void
conn_mark(struct conn *c, bool kick)
{
	if (c->closed)
		return;
	if (kick)
		c->kick = true;
	if (c->dirty)
		return;
	c->dirty = true;
	conn_ref(c);
	c->dnext = c->s->dirty;
	c->s->dirty = c;
}

/* ---------------------------------------------------------- requests */

static struct req *
req_new(struct conn *c, const struct nbdp_request *h, size_t buflen)
{
	struct req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (buflen > 0) {
		r->buf = bufpool_get(buflen);
		if (r->buf == NULL) {
			free(r);
			return NULL;
		}
	}
	r->c = c;
	r->h = *h;
	r->buflen = buflen;
	c->nreqs++;
	c->membytes += buflen;
	conn_ref(c);
	return r;
}

static void
req_free(struct req *r)
{
	struct conn *c = r->c;

	c->nreqs--;
	c->membytes -= r->buflen;
	/* Before the buffer: a frame evicted meanwhile lands there. */
	engine_rdata_free(r->rd);
	bufpool_put(r->buf, r->buflen);
	free(r);
	/* Limits may allow input again; DISC may be able to finish. */
	conn_mark(c, false);
	conn_unref(c);
}

/* ---------------------------------------------------------- output */

static struct obuf *
obuf_new(size_t cap)
{
	return calloc(1, sizeof(struct obuf) + cap);
}

/* Queue o with hlen header bytes (and o->data / o->dlen). */
static void
out_queue(struct conn *c, struct obuf *o, size_t hlen)
{
	o->hlen = hlen;
	o->next = NULL;
	*c->otail = o;
	c->otail = &o->next;
	c->obytes += hlen + o->dlen;
	conn_mark(c, false);
}

static void
obuf_free(struct obuf *o)
{
	if (o->req != NULL)
		req_free(o->req);
	free(o);
}

static void
out_drop_all(struct conn *c)
{
	struct obuf *o;

	while ((o = c->ohead) != NULL) {
		c->ohead = o->next;
		obuf_free(o);
	}
	c->otail = &c->ohead;
	c->obytes = 0;
}

/* Send what we can.  May close c (the caller holds a reference). */
static void
conn_flush(struct conn *c)
{
	c->oblocked = false;
	while (c->ohead != NULL && !c->closed) {
		struct iovec iov[NBDS_IOV];
		struct obuf *o;
		unsigned n = 0;
		ssize_t w;
		size_t left;

		for (o = c->ohead; o != NULL && n + 2 <= NBDS_IOV;
		    o = o->next) {
			size_t off = o->off;

			if (off < o->hlen) {
				iov[n].iov_base = o->hdr + off;
				iov[n++].iov_len = o->hlen - off;
				off = o->hlen;
			}
			if (off - o->hlen >= o->dlen)
				continue;
			if (o->req != NULL && o->req->rd != NULL) {
				/* Straight from the received frames. */
				n += engine_rdata_iov(o->req->rd, off - o->hlen,
				    iov + n, NBDS_IOV - n);
				if (n == NBDS_IOV)
					break;
			} else {
				const uint8_t *d = o->data + (off - o->hlen);

				/* iovec is not const; sending only reads. */
				iov[n].iov_base = (void *)(uintptr_t)d;
				iov[n++].iov_len = o->dlen - (off - o->hlen);
			}
		}
		w = c->io->ops->send(c->io, iov, n);
		if (w == -EAGAIN) {
			c->oblocked = true;
			break;
		}
		if (w < 0) {
			log_debug("nbd %s: send: %s", c->peer,
			    strerror((int)-w));
			conn_close(c, NULL);
			return;
		}
		left = (size_t)w;
		c->obytes -= left;
		while (left > 0 && (o = c->ohead) != NULL) {
			size_t rem = o->hlen + o->dlen - o->off;

			if (left < rem) {
				o->off += left;
				break;
			}
			left -= rem;
			c->ohead = o->next;
			if (c->ohead == NULL)
				c->otail = &c->ohead;
			obuf_free(o);
		}
	}
	if (c->closed)
		return;
	if (c->st == CS_DONE && c->nreqs == 0 && c->ohead == NULL &&
	    c->cur == NULL) {
		conn_close(c, NULL);
		return;
	}
	/* The STARTTLS ACK is out: the handshake may begin. */
	if (c->st == CS_TLS_START && c->ohead == NULL) {
		conn_start_tls(c);
		return;
	}
	/* Output drained below the limit: read requests again. */
	if (c->paused && !conn_over_limits(c))
		conn_mark(c, true);
	conn_update_events(c);
}

/* ---------------------------------------------------------- option replies */

/* An option reply with optional message (ACK, errors). */
static void
rep_send(struct conn *c, uint32_t type, const char *msg)
{
	size_t len = msg != NULL ? strlen(msg) : 0;
	struct obuf *o;
	int n;

	if (len > NBDP_MAX_STRING)
		len = NBDP_MAX_STRING;
	o = obuf_new(NBDP_REP_HDR_LEN + len);
	if (o == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	n = nbdp_rep_data_encode(o->hdr, NBDP_REP_HDR_LEN + len,
	    c->opt.option, type, msg, len);
	if (n < 0) {
		free(o);
		conn_close(c, "cannot encode a reply");
		return;
	}
	out_queue(c, o, (size_t)n);
	if (type != NBDP_REP_ACK)
		log_debug("nbd %s: %s: error 0x%" PRIx32 "%s%s", c->peer,
		    nbdp_opt_name(c->opt.option), type, msg ? ": " : "",
		    msg ? msg : "");
}

/* Queue an already encoded reply of n bytes from a scratch buffer. */
static void
rep_copy(struct conn *c, const uint8_t *p, int n)
{
	struct obuf *o;

	if (n < 0) {
		conn_close(c, "cannot encode a reply");
		return;
	}
	o = obuf_new((size_t)n);
	if (o == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(o->hdr, p, (size_t)n);
	out_queue(c, o, (size_t)n);
}

/* ---------------------------------------------------------- exports */

size_t
nbds_describe(const struct target *t, char *buf, size_t len)
{
	struct target_info *ti;
	int n;

	if (len == 0)
		return 0;
	ti = malloc(sizeof(*ti));
	if (ti == NULL) {
		buf[0] = '\0';
		return 0;
	}
	engine_target_info(t, ti);
	n = snprintf(buf, len, "%s, serial %s, %" PRIu64 " bytes",
	    ti->ident.model[0] ? ti->ident.model : "AoE target",
	    ti->ident.serial[0] ? ti->ident.serial : "none", ti->size);
	free(ti);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return MIN((size_t)n, len - 1);
}

static bool
export_read_only(const struct nbds *s, const struct target *t)
{
	return s->cfg.read_only || target_read_only(t);
}

static uint16_t
export_flags(const struct conn *c, const struct target *t)
{
	struct target_info *ti;
	uint16_t f = NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_SEND_FLUSH |
	    NBDP_FLAG_SEND_CACHE;

	/*
	 * Every connection goes through the one engine, which has no cache
	 * of its own, so a FLUSH on any connection covers them all.
	 */
	f |= NBDP_FLAG_CAN_MULTI_CONN;
	if (export_read_only(c->s, t))
		f |= NBDP_FLAG_READ_ONLY;
	else
		f |= NBDP_FLAG_SEND_FUA | NBDP_FLAG_SEND_WRITE_ZEROES |
		    NBDP_FLAG_SEND_FAST_ZERO;
	/*
	 * No SEND_TRIM: the engine has no DATA SET MANAGEMENT request, and
	 * vblade does not do TRIM either.
	 */
	ti = malloc(sizeof(*ti));
	if (ti != NULL) {
		engine_target_info(t, ti);
		/* ACS-3 word 217: 1 = solid state, 0 = not reported. */
		if (ti->ident.rotation != 1)
			f |= NBDP_FLAG_ROTATIONAL;
		free(ti);
	}
	if (c->sr)
		f |= NBDP_FLAG_SEND_DF;
	return f;
}

static uint32_t
export_pref_block(const struct target *t)
{
	struct target_info *ti = malloc(sizeof(*ti));
	uint32_t pref = NBDS_BLOCK_PREF, ps;

	if (ti == NULL)
		return pref;
	engine_target_info(t, ti);
	ps = ti->ident.physical_sector;
	free(ti);
	/* A power of two above 4096 (e.g. 64 KiB RAID stripes) wins. */
	if (ps > pref && ps <= NBDS_BLOCK_MAX && (ps & (ps - 1)) == 0)
		pref = ps;
	return pref;
}

enum { EXP_OK, EXP_WAIT, EXP_FAIL };

/*
 * Find the target for an export name.  EXP_WAIT: not (yet) up and the
 * client may still wait (c->wait_until); EXP_FAIL: msg says why.
 */
static int
export_resolve(struct conn *c, const uint8_t *name, size_t len,
    struct target **tp, char *msg, size_t msglen)
{
	struct nbds *s = c->s;
	char buf[NBDP_MAX_STRING + 1];
	uint64_t now = loop_now();
	struct target *t = NULL, *it;
	uint16_t shelf;
	uint8_t slot;
	bool first = c->wait_until == 0;

	if (first)
		c->wait_until = now + s->cfg.wait_ns;
	if (s->e == NULL) {
		snprintf(msg, msglen, "server not ready");
		return EXP_FAIL;
	}
	if (len > NBDP_MAX_STRING) {
		snprintf(msg, msglen, "export name too long");
		return EXP_FAIL;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(msg, msglen, "export name contains NUL");
		return EXP_FAIL;
	}

	if (len == 0 && s->cfg.ntargets == 0) {
		/*
		 * Default export, all targets: the only one there is, once
		 * the discovery time after start-up has shown how many.
		 */
		uint64_t settled = s->start_ns + s->cfg.wait_ns;
		unsigned n = 0;

		if (now < settled) {
			c->wait_until = MAX(c->wait_until, settled);
			return EXP_WAIT;
		}
		for (it = engine_target_next(s->e, NULL); it != NULL;
		    it = engine_target_next(s->e, it)) {
			t = it;
			n++;
		}
		if (n > 1) {
			snprintf(msg, msglen, "several AoE targets are "
			    "exported: name one (e.g. %s); NBD_OPT_LIST "
			    "shows them", target_name(t));
			return EXP_FAIL;
		}
		if (n == 1 && target_state(t) == TARGET_UP) {
			*tp = t;
			return EXP_OK;
		}
		if (now < c->wait_until)
			return EXP_WAIT;
		snprintf(msg, msglen, "no AoE target is up");
		return EXP_FAIL;
	}

	if (len == 0) {
		shelf = s->cfg.shelves[0];
		slot = s->cfg.slots[0];
	} else {
		if (target_name_parse(buf, &shelf, &slot) < 0) {
			snprintf(msg, msglen, "no export '%.64s' (exports "
			    "are AoE targets named like e1.0)", buf);
			return EXP_FAIL;
		}
		if (s->cfg.ntargets > 0) {
			unsigned i;

			for (i = 0; i < s->cfg.ntargets; i++)
				if (s->cfg.shelves[i] == shelf &&
				    s->cfg.slots[i] == slot)
					break;
			if (i == s->cfg.ntargets) {
				snprintf(msg, msglen, "export 'e%u.%u' is not "
				    "offered by this server", shelf, slot);
				return EXP_FAIL;
			}
		}
	}
	t = engine_target_find(s->e, shelf, slot);
	if (t != NULL && target_state(t) == TARGET_UP) {
		*tp = t;
		return EXP_OK;
	}
	if (now < c->wait_until) {
		/* Ask right away rather than at the next periodic query. */
		if (first)
			engine_discover(s->e, shelf, slot, now);
		return EXP_WAIT;
	}
	if (t == NULL)
		snprintf(msg, msglen, "AoE target e%u.%u did not answer",
		    shelf, slot);
	else if (target_state(t) == TARGET_DEAD)
		snprintf(msg, msglen, "AoE target e%u.%u is not responding",
		    shelf, slot);
	else
		snprintf(msg, msglen, "AoE target e%u.%u did not answer "
		    "IDENTIFY", shelf, slot);
	return EXP_FAIL;
}

/* ---------------------------------------------------------- options */

static void
enter_transmission(struct conn *c, struct target *t, const uint8_t *name,
    size_t namelen, uint16_t tflags)
{
	c->t = t;
	c->size = target_size(t);
	c->tflags = tflags;
	if (c->s->cfg.reserve)
		engine_reserve_hold(c->s->e, t, loop_now());
	snprintf(c->name, sizeof(c->name), "%s", target_name(t));
	/* Contexts chosen for another export name do not apply. */
	if (c->meta_alloc && (c->meta_name == NULL ||
	    strlen(c->meta_name) != namelen ||
	    memcmp(c->meta_name, name, namelen) != 0))
		c->meta_alloc = false;
	c->st = CS_REQ_HDR;
	log_debug("nbd %s: serving %s (%" PRIu64 " bytes, flags 0x%04x%s)",
	    c->peer, c->name, c->size, tflags,
	    c->sr ? ", structured replies" : "");
}

static void
opt_export_name(struct conn *c)
{
	char msg[256];
	struct target *t = NULL;
	uint8_t buf[NBDP_EXPORT_REPLY_LEN + NBDP_ZERO_PAD_LEN];
	uint16_t tflags;
	int rc, n;

	if (c->odata == NULL) {
		conn_close(c, "NBD_OPT_EXPORT_NAME: name too long");
		return;
	}
	rc = export_resolve(c, c->odata, c->opt.len, &t, msg, sizeof(msg));
	if (rc == EXP_WAIT) {
		c->st = CS_OPT_WAIT;
		return;
	}
	if (rc == EXP_FAIL) {
		/* proto.md: no error reply exists, only a hard disconnect. */
		log_info("nbd %s: NBD_OPT_EXPORT_NAME: %s", c->peer, msg);
		conn_close(c, NULL);
		return;
	}
	tflags = export_flags(c, t);
	n = nbdp_export_reply_encode(buf, sizeof(buf), target_size(t), tflags,
	    c->no_zeroes);
	rep_copy(c, buf, n);
	if (!c->closed)
		enter_transmission(c, t, c->odata, c->opt.len, tflags);
}

/*
 * LIST: during the first --wait after start-up, wait for the named
 * targets (or, exporting all, for the whole discovery time: nothing else
 * tells how many targets will answer) so that a client started with the
 * server sees them all.
 */
static bool
list_should_wait(struct conn *c)
{
	struct nbds *s = c->s;
	uint64_t until = s->start_ns + s->cfg.wait_ns;
	struct target *t;

	if (s->e == NULL || loop_now() >= until)
		return false;
	c->wait_until = until;
	if (s->cfg.ntargets == 0)
		return true;
	for (unsigned i = 0; i < s->cfg.ntargets; i++) {
		t = engine_target_find(s->e, s->cfg.shelves[i],
		    s->cfg.slots[i]);
		if (t == NULL || target_state(t) != TARGET_UP)
			return true;
	}
	return false;
}

static void
list_one(struct conn *c, struct target *t)
{
	uint8_t buf[NBDP_REP_HDR_LEN + 4 + 16 + 256];
	char desc[200];
	const char *name = target_name(t);
	size_t dlen = nbds_describe(t, desc, sizeof(desc));

	rep_copy(c, buf, nbdp_rep_server_encode(buf, sizeof(buf),
	    NBDP_OPT_LIST, name, strlen(name), desc, dlen));
}

static void
opt_list(struct conn *c)
{
	struct nbds *s = c->s;
	struct target *t;

	if (c->opt.len != 0) {
		rep_send(c, NBDP_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
		return;
	}
	if (list_should_wait(c)) {
		c->st = CS_OPT_WAIT;
		return;
	}
	if (s->e != NULL && s->cfg.ntargets > 0) {
		for (unsigned i = 0; i < s->cfg.ntargets && !c->closed; i++) {
			t = engine_target_find(s->e, s->cfg.shelves[i],
			    s->cfg.slots[i]);
			if (t != NULL && target_state(t) == TARGET_UP)
				list_one(c, t);
		}
	} else if (s->e != NULL) {
		for (t = engine_target_next(s->e, NULL); t != NULL &&
		    !c->closed; t = engine_target_next(s->e, t))
			if (target_state(t) == TARGET_UP)
				list_one(c, t);
	}
	if (!c->closed)
		rep_send(c, NBDP_REP_ACK, NULL);
}

static void
opt_info_go(struct conn *c)
{
	struct nbdp_info_req ir;
	struct target *t = NULL;
	uint8_t buf[NBDP_REP_HDR_LEN + 2 + 256];
	char msg[256], desc[200];
	bool go = c->opt.option == NBDP_OPT_GO, sent_name = false,
	    sent_desc = false;
	uint16_t tflags;
	const char *name;
	size_t dlen;
	int rc;

	if (c->odata == NULL) {
		rep_send(c, NBDP_REP_ERR_TOO_BIG, "option data too long");
		return;
	}
	if (nbdp_info_req_decode(c->odata, c->opt.len, &ir) < 0) {
		rep_send(c, NBDP_REP_ERR_INVALID, "malformed request");
		return;
	}
	if (ir.namelen > NBDP_MAX_STRING) {
		rep_send(c, NBDP_REP_ERR_INVALID, "export name too long");
		return;
	}
	rc = export_resolve(c, ir.name, ir.namelen, &t, msg, sizeof(msg));
	if (rc == EXP_WAIT) {
		c->st = CS_OPT_WAIT;
		return;
	}
	if (rc == EXP_FAIL) {
		rep_send(c, NBDP_REP_ERR_UNKNOWN, msg);
		return;
	}
	tflags = export_flags(c, t);
	name = target_name(t);
	/* INFO_EXPORT always, first (qemu requires it; never asks). */
	rep_copy(c, buf, nbdp_rep_info_export_encode(buf, sizeof(buf),
	    c->opt.option, target_size(t), tflags));
	for (unsigned i = 0; i < ir.ninfos && !c->closed; i++) {
		switch (nbdp_info_req_get(&ir, i)) {
		case NBDP_INFO_NAME:
			if (sent_name)
				break;
			sent_name = true;
			rep_copy(c, buf, nbdp_rep_info_string_encode(buf,
			    sizeof(buf), c->opt.option, NBDP_INFO_NAME, name,
			    strlen(name)));
			break;
		case NBDP_INFO_DESCRIPTION:
			if (sent_desc)
				break;
			sent_desc = true;
			dlen = nbds_describe(t, desc, sizeof(desc));
			rep_copy(c, buf, nbdp_rep_info_string_encode(buf,
			    sizeof(buf), c->opt.option, NBDP_INFO_DESCRIPTION,
			    desc, dlen));
			break;
		default:
			/* BLOCK_SIZE goes out anyway; unknown: ignore. */
			break;
		}
	}
	/*
	 * Block sizes go out whether asked or not (proto.md allows it): any
	 * byte range, 4096 or the physical sector preferred (partial sectors
	 * cost a read-modify-write), requests above 32 MiB fail.
	 */
	if (!c->closed)
		rep_copy(c, buf, nbdp_rep_info_block_size_encode(buf,
		    sizeof(buf), c->opt.option, NBDS_BLOCK_MIN,
		    export_pref_block(t), NBDS_BLOCK_MAX));
	if (!c->closed)
		rep_send(c, NBDP_REP_ACK, NULL);
	if (!c->closed && go)
		enter_transmission(c, t, ir.name, ir.namelen, tflags);
}

static void
opt_meta(struct conn *c)
{
	bool set = c->opt.option == NBDP_OPT_SET_META_CONTEXT;
	uint8_t buf[NBDP_REP_HDR_LEN + 4 + sizeof(NBDS_META_ALLOC)];
	struct nbdp_meta_req mr;
	const uint8_t *q;
	uint32_t qlen;
	size_t cur = 0;
	bool match = false;

	if (!c->sr) {
		rep_send(c, NBDP_REP_ERR_INVALID,
		    "structured replies must be negotiated first");
		return;
	}
	if (c->odata == NULL) {
		rep_send(c, NBDP_REP_ERR_TOO_BIG, "option data too long");
		return;
	}
	if (nbdp_meta_req_decode(c->odata, c->opt.len, &mr) < 0 ||
	    mr.namelen > NBDP_MAX_STRING) {
		rep_send(c, NBDP_REP_ERR_INVALID, "malformed request");
		return;
	}
	if (set) {
		/* The new selection replaces the old one. */
		c->meta_alloc = false;
		free(c->meta_name);
		c->meta_name = NULL;
	}
	if (mr.nqueries == 0 && !set)
		match = true;  /* LIST with no query: everything */
	while (nbdp_meta_req_next(&mr, &cur, &q, &qlen) == 1) {
		if (qlen == strlen(NBDS_META_ALLOC) &&
		    memcmp(q, NBDS_META_ALLOC, qlen) == 0)
			match = true;
		else if (!set && qlen == 5 && memcmp(q, "base:", 5) == 0)
			match = true;
		/* Other namespaces: not ours, ignored (proto.md). */
	}
	if (match && set) {
		c->meta_name = malloc((size_t)mr.namelen + 1);
		if (c->meta_name == NULL) {
			rep_send(c, NBDP_REP_ERR_INVALID, "out of memory");
			return;
		}
		memcpy(c->meta_name, mr.name, mr.namelen);
		c->meta_name[mr.namelen] = '\0';
		c->meta_alloc = true;
	}
	if (match)
		rep_copy(c, buf, nbdp_rep_meta_context_encode(buf,
		    sizeof(buf), c->opt.option, set ? NBDS_META_ID : 0,
		    NBDS_META_ALLOC, strlen(NBDS_META_ALLOC)));
	if (!c->closed)
		rep_send(c, NBDP_REP_ACK, NULL);
}

/* STARTTLS (proto.md "TLS support"). */
static void
opt_starttls(struct conn *c)
{
	if (c->opt.len != 0) {
		rep_send(c, NBDP_REP_ERR_INVALID,
		    "NBD_OPT_STARTTLS takes no data");
	} else if (c->s->cfg.tls == TLS_OFF || c->s->cfg.tls_creds == NULL) {
		rep_send(c, NBDP_REP_ERR_POLICY,
		    "TLS is not enabled on this server");
	} else if (c->tls) {
		rep_send(c, NBDP_REP_ERR_INVALID, "TLS is already active");
	} else {
		/* The ACK goes out in plaintext, then the handshake. */
		rep_send(c, NBDP_REP_ACK, NULL);
		if (!c->closed)
			c->st = CS_TLS_START;
	}
}

/*
 * --tls=require before TLS: everything but STARTTLS and ABORT is refused
 * with ERR_TLS_REQD; EXPORT_NAME has no error reply: disconnect.  Returns
 * true when the option was dealt with here.
 */
static bool
tls_refused(struct conn *c)
{
	if (c->s->cfg.tls != TLS_REQUIRE || c->tls)
		return false;
	switch (c->opt.option) {
	case NBDP_OPT_STARTTLS:
	case NBDP_OPT_ABORT:
		return false;
	case NBDP_OPT_EXPORT_NAME:
		conn_close(c, "NBD_OPT_EXPORT_NAME before TLS, which this "
		    "server requires");
		return true;
	default:
		rep_send(c, NBDP_REP_ERR_TLS_REQD,
		    "this server requires TLS: use NBD_OPT_STARTTLS first");
		return true;
	}
}

/* The option in c->opt / c->odata is complete (or waited for). */
static void
handle_option(struct conn *c)
{
	c->st = CS_OPT_HDR;
	if (tls_refused(c))
		goto done;
	switch (c->opt.option) {
	case NBDP_OPT_EXPORT_NAME:
		opt_export_name(c);
		break;
	case NBDP_OPT_ABORT:
		/* Data, if any, is ignored (proto.md). */
		rep_send(c, NBDP_REP_ACK, NULL);
		c->st = CS_DONE;
		break;
	case NBDP_OPT_LIST:
		opt_list(c);
		break;
	case NBDP_OPT_STARTTLS:
		opt_starttls(c);
		break;
	case NBDP_OPT_INFO:
	case NBDP_OPT_GO:
		opt_info_go(c);
		break;
	case NBDP_OPT_STRUCTURED_REPLY:
		if (c->opt.len != 0) {
			rep_send(c, NBDP_REP_ERR_INVALID,
			    "NBD_OPT_STRUCTURED_REPLY takes no data");
			break;
		}
		c->sr = true;
		rep_send(c, NBDP_REP_ACK, NULL);
		break;
	case NBDP_OPT_LIST_META_CONTEXT:
	case NBDP_OPT_SET_META_CONTEXT:
		opt_meta(c);
		break;
	default:
		/* Unknown (EXTENDED_HEADERS included): MUST go on. */
		rep_send(c, NBDP_REP_ERR_UNSUP, "option not supported");
		break;
	}
done:
	if (c->closed || c->st == CS_OPT_WAIT)
		return;
	free(c->odata);
	c->odata = NULL;
	c->wait_until = 0;
}

/* ---------------------------------------------------------- transmission */

static void
count_result(struct conn *c, const struct nbdp_request *h, int rc)
{
	if (rc != 0) {
		c->s->stats.errors++;
		return;
	}
	if (h->type == NBDP_CMD_READ)
		c->s->stats.bytes_read += h->len;
	else if (h->type == NBDP_CMD_WRITE)
		c->s->stats.bytes_written += h->len;
}

/* Reply rc (0 / -errno) for h; r (if not NULL) is consumed. */
static void
reply(struct conn *c, const struct nbdp_request *h, int rc, struct req *r)
{
	uint32_t err = nbdp_errno(rc);
	bool chunked = c->sr && (h->type == NBDP_CMD_READ ||
	    h->type == NBDP_CMD_BLOCK_STATUS);
	size_t cap = NBDP_CHUNK_HDR_LEN + 6 + 128;
	struct obuf *o;
	int n;

	if (rc != 0 && err == 0)
		err = NBDP_EIO;
	count_result(c, h, rc);
	if (rc != 0)
		log_debug("nbd %s: %s %" PRIu64 "+%" PRIu32 ": %s", c->peer,
		    nbdp_cmd_name(h->type), h->offset, h->len,
		    strerror(rc < 0 ? -rc : rc));
	o = obuf_new(cap);
	if (o == NULL) {
		if (r != NULL)
			req_free(r);
		conn_close(c, "out of memory");
		return;
	}
	if (rc == 0 && h->type == NBDP_CMD_READ && h->len > 0 && r != NULL) {
		/* The data goes straight from the request's buffer. */
		if (chunked) {
			n = nbdp_chunk_offset_data_encode(o->hdr, cap,
			    NBDP_REPLY_FLAG_DONE, h->cookie, h->offset,
			    h->len);
		} else {
			struct nbdp_simple_reply sr = { .cookie = h->cookie };

			n = nbdp_simple_reply_encode(o->hdr, cap, &sr);
		}
		o->req = r;
		o->data = r->buf;
		o->dlen = h->len;
		r = NULL;
	} else if (chunked && rc != 0) {
		char msg[128];
		int ml = snprintf(msg, sizeof(msg), "%s",
		    strerror(rc < 0 ? -rc : rc));

		n = nbdp_chunk_error_encode(o->hdr, cap, NBDP_REPLY_FLAG_DONE,
		    h->cookie, err, msg, ml > 0 ? (size_t)ml : 0);
	} else if (chunked) {
		/* A successful zero-length READ: nothing but DONE. */
		struct nbdp_chunk ch = {
			.flags = NBDP_REPLY_FLAG_DONE,
			.type = NBDP_REPLY_TYPE_NONE,
			.cookie = h->cookie,
		};

		n = nbdp_chunk_encode(o->hdr, cap, &ch);
	} else {
		struct nbdp_simple_reply sr = {
			.error = err,
			.cookie = h->cookie,
		};

		n = nbdp_simple_reply_encode(o->hdr, cap, &sr);
	}
	if (r != NULL)
		req_free(r);
	if (n < 0) {
		obuf_free(o);
		conn_close(c, "cannot encode a reply");
		return;
	}
	out_queue(c, o, (size_t)n);
}

/* An engine request is over: reply, or drop the reply when fenced. */
static void
req_finish(struct req *r, int rc)
{
	struct conn *c = r->c;

	conn_ref(c);
	if (c->closed) {
		c->s->stats.fenced++;
		req_free(r);
	} else {
		reply(c, &r->h, rc, r);
	}
	conn_unref(c);
}

static void
req_done(void *arg, int rc)
{
	req_finish(arg, rc);
}

/* A READ: its data may still be in the received frames; keep them. */
static void
read_done(void *arg, int rc)
{
	struct req *r = arg;

	if (rc == 0)
		r->rd = engine_take_rdata(r->c->s->e);
	req_finish(r, rc);
}

/* FUA: the write is done; flush before replying. */
static void
req_flush_then_finish(struct req *r, int rc)
{
	struct conn *c = r->c;

	if (rc == 0 && (r->h.flags & NBDP_CMD_FLAG_FUA) && !c->closed) {
		rc = engine_flush(c->s->e, c->t, req_done, r, loop_now());
		if (rc == 0)
			return;
	}
	req_finish(r, rc);
}

static void
write_done(void *arg, int rc)
{
	req_flush_then_finish(arg, rc);
}

static void zero_done(void *arg, int rc);

/* WRITE_ZEROES: keep a few zero writes in flight until the range is done. */
static void
zero_pump(struct req *r)
{
	struct conn *c = r->c;

	while (r->rc == 0 && !c->closed && r->zinflight < NBDS_ZERO_DEPTH &&
	    r->znext < r->zend) {
		size_t n = (size_t)MIN((uint64_t)NBDS_ZERO_CHUNK,
		    r->zend - r->znext);
		int rc = engine_write(c->s->e, c->t, c->s->zeros, r->znext, n,
		    zero_done, r, loop_now());

		if (rc < 0) {
			r->rc = rc;
			break;
		}
		r->znext += n;
		r->zinflight++;
	}
	if (r->zinflight > 0)
		return;
	req_flush_then_finish(r, r->rc);
}

static void
zero_done(void *arg, int rc)
{
	struct req *r = arg;

	r->zinflight--;
	if (rc < 0 && r->rc == 0)
		r->rc = rc;
	zero_pump(r);
}

/* BLOCK_STATUS for base:allocation: everything is allocated data. */
static void
reply_block_status(struct conn *c, const struct nbdp_request *h)
{
	uint8_t buf[NBDP_CHUNK_HDR_LEN + 4 + 8];
	struct nbdp_extent ext = {
		.len = (uint32_t)MIN((uint64_t)h->len, c->size - h->offset),
		.flags = 0,
	};

	count_result(c, h, 0);
	rep_copy(c, buf, nbdp_chunk_block_status_encode(buf, sizeof(buf),
	    NBDP_REPLY_FLAG_DONE, h->cookie, NBDS_META_ID, &ext, 1));
}

/*
 * Check a request against the protocol and the export.  Returns 0 or the
 * -errno to reply (proto.md "Error values": unknown command or flag, read
 * past the end, oversized -> EINVAL; write past the end -> ENOSPC; write
 * on a read-only export -> EPERM).  Any alignment is fine (minimum block
 * size 1).
 */
static int
req_check(const struct conn *c, const struct nbdp_request *h)
{
	uint16_t allowed = NBDP_CMD_FLAG_FUA;
	bool write = false, range = true;

	switch (h->type) {
	case NBDP_CMD_READ:
		if (c->sr)
			allowed |= NBDP_CMD_FLAG_DF;
		break;
	case NBDP_CMD_WRITE:
		write = true;
		break;
	case NBDP_CMD_DISC:
	case NBDP_CMD_FLUSH:
		/* proto.md: offset and length 0; not worth failing. */
		range = false;
		break;
	case NBDP_CMD_CACHE:
		break;
	case NBDP_CMD_WRITE_ZEROES:
		allowed |= NBDP_CMD_FLAG_NO_HOLE | NBDP_CMD_FLAG_FAST_ZERO;
		write = true;
		break;
	case NBDP_CMD_BLOCK_STATUS:
		if (!c->meta_alloc)
			return -EINVAL;  /* no context negotiated */
		allowed |= NBDP_CMD_FLAG_REQ_ONE;
		if (h->len == 0)
			return -EINVAL;
		break;
	default:
		/* TRIM (not advertised), RESIZE, unknown. */
		return -EINVAL;
	}
	if (h->flags & ~allowed)
		return -EINVAL;
	if (write && (c->tflags & NBDP_FLAG_READ_ONLY))
		return -EPERM;
	if ((h->type == NBDP_CMD_READ || h->type == NBDP_CMD_WRITE) &&
	    h->len > NBDS_BLOCK_MAX)
		return -EINVAL;
	if (range && (h->offset > c->size || h->len > c->size - h->offset))
		return write ? -ENOSPC : -EINVAL;
	return 0;
}

/* Start a checked request (a WRITE's payload has been read into r). */
static void
req_start(struct conn *c, const struct nbdp_request *h, struct req *r)
{
	struct engine *e = c->s->e;
	uint64_t now = loop_now();
	int rc = 0;

	switch (h->type) {
	case NBDP_CMD_READ:
		if (h->len == 0)
			break;
		r = req_new(c, h, h->len);
		if (r == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = engine_read_zc(e, c->t, r->buf, h->offset, h->len,
		    read_done, r, now);
		if (rc == 0)
			return;
		break;
	case NBDP_CMD_WRITE:
		if (r == NULL)
			break;  /* zero length */
		rc = engine_write(e, c->t, r->buf, h->offset, h->len,
		    write_done, r, now);
		if (rc == 0)
			return;
		break;
	case NBDP_CMD_FLUSH:
		r = req_new(c, h, 0);
		if (r == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = engine_flush(e, c->t, req_done, r, now);
		if (rc == 0)
			return;
		break;
	case NBDP_CMD_CACHE:
		/* A prefetch hint; the engine keeps no cache to fill. */
		break;
	case NBDP_CMD_WRITE_ZEROES:
		/*
		 * Zeroes are written like any data, so "fast" is never
		 * true: fail at once and change nothing (proto.md).
		 */
		if (h->flags & NBDP_CMD_FLAG_FAST_ZERO) {
			rc = -ENOTSUP;
			break;
		}
		if (h->len == 0)
			break;
		r = req_new(c, h, 0);
		if (r == NULL) {
			rc = -ENOMEM;
			break;
		}
		r->znext = h->offset;
		r->zend = h->offset + h->len;
		zero_pump(r);
		return;
	case NBDP_CMD_BLOCK_STATUS:
		reply_block_status(c, h);
		return;
	case NBDP_CMD_DISC:
		log_debug("nbd %s: NBD_CMD_DISC", c->peer);
		c->st = CS_DONE;
		conn_mark(c, false);
		return;
	default:
		rc = -EINVAL;
		break;
	}
	reply(c, h, rc, r);
}

/* A request header arrived. */
static void
handle_request(struct conn *c, const struct nbdp_request *h)
{
	int rc;

	c->s->stats.requests++;
	rc = req_check(c, h);
	if (h->type == NBDP_CMD_WRITE) {
		struct req *r = NULL;

		if (rc == 0 && h->len > 0) {
			r = req_new(c, h, h->len);
			if (r == NULL)
				rc = -ENOMEM;
		}
		if (rc == 0 && r != NULL) {
			c->cur = r;
			c->st = CS_REQ_DATA;
			return;
		}
		if (rc != 0 && h->len > 0) {
			/* Keep the stream in step: read and drop the data. */
			if (h->len > NBDS_MAX_DRAIN) {
				c->s->stats.protocol_errors++;
				conn_close(c, "WRITE payload too large");
				return;
			}
			c->drain = *h;
			c->drain_err = rc;
			c->discard = h->len;
			c->st = CS_REQ_DATA;
			return;
		}
	}
	if (rc != 0)
		reply(c, h, rc, NULL);
	else
		req_start(c, h, NULL);
}

/* ---------------------------------------------------------- input */

static size_t
iavail(const struct conn *c)
{
	return c->itail - c->ihead;
}

/*
 * Up to len bytes from the transport: the count (> 0), 0 (would block) or
 * -1 (end of input: *eof tells EOF from an error).
 */
static ssize_t
conn_recv(struct conn *c, void *buf, size_t len, bool *eof)
{
	ssize_t n;

	/*
	 * A plain socket that gave less than asked for is empty: the next
	 * read would fail with EAGAIN, so wait for the loop to say there is
	 * more (level-triggered, so nothing that came since is missed).
	 */
	if (c->idry)
		return 0;
	n = c->io->ops->recv(c->io, buf, len);
	if (n > 0) {
		if ((size_t)n < len && !c->tls)
			c->idry = true;
		return n;
	}
	if (n == 0) {
		*eof = true;
		return -1;
	}
	if (n == -EAGAIN)
		return 0;
	log_debug("nbd %s: receive: %s", c->peer, strerror((int)-n));
	*eof = false;
	return -1;
}

/*
 * Read more into ibuf.  Returns 1 (got bytes), 0 (would block), -1 (end
 * of input: *eof tells EOF from an error).
 */
static int
conn_fill(struct conn *c, bool *eof)
{
	ssize_t n;

	if (c->ihead == c->itail) {
		c->ihead = c->itail = 0;
	} else if (c->itail == NBDS_IBUF) {
		memmove(c->ibuf, c->ibuf + c->ihead, iavail(c));
		c->itail -= c->ihead;
		c->ihead = 0;
	}
	n = conn_recv(c, c->ibuf + c->itail, NBDS_IBUF - c->itail, eof);
	if (n <= 0)
		return (int)n;
	c->itail += (size_t)n;
	return 1;
}

/*
 * Payload bytes: move up to want bytes of input to dst (NULL: drop them).
 * Returns the count (> 0), 0 (would block) or -1 (end of input).
 */
static ssize_t
conn_take(struct conn *c, uint8_t *dst, size_t want, bool *eof)
{
	size_t n = iavail(c);
	int rc;

	if (n == 0 && dst != NULL && want >= NBDS_IBUF) {
		/* Big payloads go straight into their buffer. */
		return conn_recv(c, dst, want, eof);
	}
	if (n == 0) {
		rc = conn_fill(c, eof);
		if (rc <= 0)
			return rc;
		n = iavail(c);
	}
	n = MIN(n, want);
	if (dst != NULL)
		memcpy(dst, c->ibuf + c->ihead, n);
	c->ihead += n;
	return (ssize_t)n;
}

/* Make n (<= NBDS_IBUF) bytes available at ibuf + ihead. */
static int
conn_need(struct conn *c, size_t n, bool *eof)
{
	while (iavail(c) < n) {
		int rc = conn_fill(c, eof);

		if (rc <= 0)
			return rc;
	}
	return 1;
}

static bool
conn_over_limits(const struct conn *c)
{
	return c->nreqs >= NBDS_MAX_REQS || c->membytes >= NBDS_MAX_BYTES ||
	    c->obytes >= NBDS_MAX_OBYTES;
}

/* Input ended (EOF or error) in state st. */
static void
conn_input_ended(struct conn *c, bool eof)
{
	bool boundary = iavail(c) == 0 &&
	    (c->st == CS_OPT_HDR || c->st == CS_REQ_HDR ||
	    c->st == CS_GREETING);

	if (eof && boundary && c->st == CS_REQ_HDR) {
		/* Hung up between requests: finish what is in flight. */
		log_debug("nbd %s: end of input", c->peer);
		c->st = CS_DONE;
		conn_mark(c, false);
		return;
	}
	if (!boundary)
		c->s->stats.protocol_errors++;
	conn_close(c, boundary || !eof ? NULL :
	    "client disconnected in the middle of a message");
}

/* One step of the input state machine: 1 = go on, 0 = wait, -1 = stop. */
static int
conn_step(struct conn *c)
{
	struct nbds *s = c->s;
	bool eof = false;
	uint8_t *p;
	int rc;

	switch (c->st) {
	case CS_GREETING: {
		uint32_t flags;

		rc = conn_need(c, NBDP_CLIENT_FLAGS_LEN, &eof);
		if (rc <= 0)
			break;
		nbdp_client_flags_decode(c->ibuf + c->ihead, iavail(c), &flags);
		c->ihead += NBDP_CLIENT_FLAGS_LEN;
		/* proto.md: unknown or unoffered flags MUST end it. */
		if (flags & ~(NBDP_FLAG_C_FIXED_NEWSTYLE |
		    NBDP_FLAG_C_NO_ZEROES)) {
			s->stats.protocol_errors++;
			conn_close(c, "unknown client flags");
			return -1;
		}
		c->no_zeroes = (flags & NBDP_FLAG_C_NO_ZEROES) != 0;
		c->st = CS_OPT_HDR;
		return 1;
	}
	case CS_OPT_HDR:
		if (conn_over_limits(c)) {
			c->paused = true;
			return 0;
		}
		rc = conn_need(c, NBDP_OPT_HDR_LEN, &eof);
		if (rc <= 0)
			break;
		rc = nbdp_opt_decode(c->ibuf + c->ihead, iavail(c), &c->opt);
		c->ihead += NBDP_OPT_HDR_LEN;
		if (rc < 0) {
			s->stats.protocol_errors++;
			conn_close(c, "bad option magic");
			return -1;
		}
		if (++c->nopts > NBDS_MAX_OPTIONS) {
			s->stats.protocol_errors++;
			conn_close(c, "too many options");
			return -1;
		}
		if (c->opt.len > NBDS_MAX_DRAIN) {
			s->stats.protocol_errors++;
			conn_close(c, "option data too long");
			return -1;
		}
		free(c->odata);
		c->odata = NULL;
		c->ogot = 0;
		c->discard = 0;
		c->wait_until = 0;
		if (c->opt.len <= NBDS_MAX_OPT_DATA) {
			c->odata = malloc(c->opt.len + 1);
			if (c->odata == NULL) {
				conn_close(c, "out of memory");
				return -1;
			}
		} else {
			c->discard = c->opt.len;
		}
		c->st = CS_OPT_DATA;
		return 1;
	case CS_OPT_DATA: {
		ssize_t n;

		if (c->odata != NULL && c->ogot < c->opt.len) {
			n = conn_take(c, c->odata + c->ogot,
			    c->opt.len - c->ogot, &eof);
			if (n <= 0) {
				rc = (int)n;
				break;
			}
			c->ogot += (size_t)n;
			return 1;
		}
		if (c->odata == NULL && c->discard > 0) {
			n = conn_take(c, NULL, (size_t)MIN(c->discard,
			    (uint64_t)SIZE_MAX), &eof);
			if (n <= 0) {
				rc = (int)n;
				break;
			}
			c->discard -= (uint64_t)n;
			return 1;
		}
		log_debug("nbd %s: %s (%" PRIu32 " bytes)", c->peer,
		    nbdp_opt_name(c->opt.option), c->opt.len);
		handle_option(c);
		return c->closed ? -1 : 1;
	}
	case CS_OPT_WAIT:
		/* A kick: a target event or the deadline. */
		handle_option(c);
		if (c->closed)
			return -1;
		return c->st == CS_OPT_WAIT ? 0 : 1;
	case CS_REQ_HDR: {
		struct nbdp_request h;

		if (s->stopping) {
			c->st = CS_DONE;
			conn_mark(c, false);
			return 0;
		}
		if (conn_over_limits(c)) {
			c->paused = true;
			return 0;
		}
		rc = conn_need(c, NBDP_REQUEST_LEN, &eof);
		if (rc <= 0)
			break;
		rc = nbdp_request_decode(c->ibuf + c->ihead, iavail(c), &h);
		c->ihead += NBDP_REQUEST_LEN;
		if (rc < 0) {
			s->stats.protocol_errors++;
			conn_close(c, "bad request magic");
			return -1;
		}
		handle_request(c, &h);
		return c->closed ? -1 : 1;
	}
	case CS_REQ_DATA: {
		struct req *r = c->cur;
		ssize_t n;

		if (r != NULL && r->got < r->h.len) {
			p = r->buf + r->got;
			n = conn_take(c, p, r->h.len - r->got, &eof);
			if (n <= 0) {
				rc = (int)n;
				break;
			}
			r->got += (size_t)n;
			return 1;
		}
		if (r == NULL && c->discard > 0) {
			n = conn_take(c, NULL, (size_t)c->discard, &eof);
			if (n <= 0) {
				rc = (int)n;
				break;
			}
			c->discard -= (uint64_t)n;
			return 1;
		}
		c->st = CS_REQ_HDR;
		if (r != NULL) {
			c->cur = NULL;
			req_start(c, &r->h, r);
		} else {
			reply(c, &c->drain, c->drain_err, NULL);
		}
		return c->closed ? -1 : 1;
	}
	case CS_TLS_START:
	case CS_TLS_HANDSHAKE:
	case CS_DONE:
	default:
		return 0;
	}
	if (rc < 0) {
		conn_input_ended(c, eof);
		return -1;
	}
	return 0;
}

static void
conn_input(struct conn *c)
{
	conn_ref(c);
	c->paused = false;
	c->kick = false;
	c->idry = false;
	while (!c->closed && conn_step(c) > 0)
		;
	if (!c->closed)
		conn_update_events(c);
	conn_unref(c);
}

/* ---------------------------------------------------------- fds */

static bool
conn_wants_read(const struct conn *c)
{
	return !c->closed && !c->paused && c->st != CS_OPT_WAIT &&
	    c->st != CS_DONE && c->st != CS_TLS_START &&
	    c->st != CS_TLS_HANDSHAKE;
}

static void conn_io(void *arg, uint32_t events);
static void conn_handshake(struct conn *c);
static void conn_rio(void *arg, uint32_t events);
static void conn_wio(void *arg, uint32_t events);

/* Register what we want to hear about. */
static void
conn_update_events(struct conn *c)
{
	struct loop *l = c->s->loop;
	uint32_t rev = conn_wants_read(c) ? EPOLLIN : 0;
	/*
	 * Queued output is flushed by the tick hook; the loop only needs to
	 * say when a full socket has room again.
	 */
	uint32_t wev = c->ohead != NULL && c->oblocked ? EPOLLOUT : 0;

	if (c->closed)
		return;
	if (c->st == CS_TLS_HANDSHAKE) {
		/* gnutls_record_get_direction: the way the handshake waits. */
		bool w = c->io->ops->want_write(c->io);

		rev = w ? 0 : EPOLLIN;
		wev = w ? EPOLLOUT : 0;
	} else if (rev != 0 && c->io->ops->pending(c->io)) {
		/* Decrypted input the fd will not announce again. */
		conn_mark(c, true);
	}
	if (c->rfd == c->wfd) {
		if ((rev | wev) != c->rev) {
			if (loop_mod_fd(l, c->rfd, rev | wev) == 0)
				c->rev = rev | wev;
		}
		return;
	}
	/*
	 * Separate fds (-s on pipes): a hung-up read side we do not want to
	 * read would report EPOLLHUP for ever, so take it out of the loop.
	 */
	if (rev && !c->rreg) {
		if (loop_add_fd(l, c->rfd, rev, conn_rio, c) == 0) {
			c->rreg = true;
			c->rev = rev;
		}
	} else if (!rev && c->rreg) {
		loop_del_fd(l, c->rfd);
		c->rreg = false;
		c->rev = 0;
	}
	if (wev != c->wev) {
		if (loop_mod_fd(l, c->wfd, wev) == 0)
			c->wev = wev;
	}
}

/*
 * Every request of one read goes out in one batch of frames (a pipelining
 * client sends many at once), not one system call each.
 */
static void
conn_input_plugged(struct conn *c)
{
	struct engine *e = c->s->e;

	engine_plug(e);
	conn_input(c);
	engine_unplug(e);
}

static void
conn_io(void *arg, uint32_t events)
{
	struct conn *c = arg;

	conn_ref(c);
	if (events & EPOLLERR) {
		conn_close(c, NULL);
	} else if (c->st == CS_TLS_HANDSHAKE) {
		conn_handshake(c);
	} else {
		if (events & (EPOLLIN | EPOLLHUP) && conn_wants_read(c))
			conn_input_plugged(c);
		if (!c->closed && (events & EPOLLOUT))
			conn_flush(c);
		/* Both directions gone while we were not reading. */
		if (!c->closed && (events & EPOLLHUP) && !conn_wants_read(c))
			conn_close(c, NULL);
	}
	conn_unref(c);
}

static void
conn_rio(void *arg, uint32_t events)
{
	struct conn *c = arg;

	(void)events;
	conn_ref(c);
	if (c->st == CS_TLS_HANDSHAKE)
		conn_handshake(c);
	else if (conn_wants_read(c))
		conn_input_plugged(c);
	else
		conn_update_events(c);
	conn_unref(c);
}

static void
conn_wio(void *arg, uint32_t events)
{
	struct conn *c = arg;

	conn_ref(c);
	if (events & (EPOLLERR | EPOLLHUP))
		conn_close(c, NULL);
	else if (c->st == CS_TLS_HANDSHAKE)
		conn_handshake(c);
	else if (events & EPOLLOUT)
		conn_flush(c);
	conn_unref(c);
}

/* engine_cancel: the engine requests of connection ctx. */
static bool
req_of_conn(void *arg, void *ctx)
{
	return ((const struct req *)arg)->c == ctx;
}

static void
conn_close(struct conn *c, const char *why)
{
	struct nbds *s = c->s;

	if (c->closed)
		return;
	conn_ref(c);
	c->closed = true;
	if (why != NULL)
		log_info("nbd %s: %s; closing", c->peer, why);
	else
		log_debug("nbd %s: closed", c->peer);
	if (c->rreg)
		loop_del_fd(s->loop, c->rfd);
	if (c->wreg && c->wfd != c->rfd)
		loop_del_fd(s->loop, c->wfd);
	c->rreg = c->wreg = false;
	/* TLS: close_notify, best effort (gnutls_bye). */
	c->io->ops->shutdown(c->io);
	close(c->rfd);
	if (c->wfd != c->rfd)
		close(c->wfd);
	c->rfd = c->wfd = -1;
	out_drop_all(c);
	if (c->cur != NULL) {
		struct req *r = c->cur;

		c->cur = NULL;
		req_free(r);
	}
	/*
	 * Nobody will read the replies: what the engine has not sent yet for
	 * this client is dropped, so it does not hold up the other clients.
	 */
	if (c->t != NULL)
		engine_cancel(s->e, c->t, req_of_conn, c, loop_now());
	s->nopen--;
	s->stats.conns_open = s->nopen;
	if (s->cfg.conn_closed != NULL)
		s->cfg.conn_closed(s->cfg.arg, s->nopen);
	/* In-flight requests keep c alive; their callbacks see closed. */
	conn_unref(c);  /* the open connection's reference */
	conn_unref(c);
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* ---------------------------------------------------------- TLS */

/* The STARTTLS ACK has gone out: switch the transport to TLS. */
static void
conn_start_tls(struct conn *c)
{
	struct tls_io *io;
	int rc;

	/*
	 * Anything the client sent after STARTTLS before the handshake
	 * would be plaintext injected into the TLS session (the STARTTLS
	 * injection attacks): refuse it.
	 */
	if (iavail(c) > 0) {
		c->s->stats.protocol_errors++;
		conn_close(c, "plaintext after NBD_OPT_STARTTLS");
		return;
	}
	rc = tls_io_tls_new(&io, c->s->cfg.tls_creds, c->rfd, c->wfd);
	if (rc < 0) {
		log_warnx("nbd %s: cannot start TLS: %s", c->peer,
		    strerror(-rc));
		conn_close(c, NULL);
		return;
	}
	c->io->ops->free(c->io);
	c->io = io;
	c->st = CS_TLS_HANDSHAKE;
	conn_handshake(c);
}

/* One step of the handshake, whenever the fd is ready its way. */
static void
conn_handshake(struct conn *c)
{
	char msg[256], desc[160];
	int rc;

	rc = c->io->ops->handshake(c->io, msg, sizeof(msg));
	if (rc < 0) {
		c->s->stats.tls_failures++;
		log_info("nbd %s: %s; closing", c->peer, msg);
		conn_close(c, NULL);
		return;
	}
	if (rc == 0) {
		conn_update_events(c);
		return;
	}
	c->s->stats.tls_sessions++;
	c->tls = true;
	c->io->ops->describe(c->io, desc, sizeof(desc));
	log_debug("nbd %s: TLS (%s): %s", c->peer,
	    tls_creds_kind(c->s->cfg.tls_creds), desc);
	/* proto.md: everything negotiated before STARTTLS is forgotten. */
	c->sr = false;
	c->meta_alloc = false;
	free(c->meta_name);
	c->meta_name = NULL;
	c->st = CS_OPT_HDR;
	/* The client's next option may already be decrypted and waiting. */
	conn_mark(c, true);
	conn_update_events(c);
}

static int
conn_new(struct nbds *s, int rfd, int wfd, const char *peer)
{
	uint8_t greet[NBDP_GREETING_LEN];
	struct conn *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->ibuf = malloc(NBDS_IBUF);
	if (c->ibuf == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->s = s;
	c->refs = 1;
	c->id = ++s->next_id;
	snprintf(c->peer, sizeof(c->peer), "#%" PRIu64 " (%s)", c->id, peer);
	c->rfd = rfd;
	c->wfd = wfd;
	rc = tls_io_plain_new(&c->io, rfd, wfd);
	if (rc < 0) {
		free(c->ibuf);
		free(c);
		return rc;
	}
	c->otail = &c->ohead;
	c->st = CS_GREETING;
	set_nonblock(rfd);
	if (wfd != rfd)
		set_nonblock(wfd);

	if (rfd == wfd) {
		rc = loop_add_fd(s->loop, rfd, EPOLLIN, conn_io, c);
		if (rc < 0)
			goto fail;
		c->rreg = c->wreg = true;
		c->rev = EPOLLIN;
	} else {
		rc = loop_add_fd(s->loop, rfd, EPOLLIN, conn_rio, c);
		if (rc < 0)
			goto fail;
		c->rreg = true;
		c->rev = EPOLLIN;
		rc = loop_add_fd(s->loop, wfd, 0, conn_wio, c);
		if (rc < 0) {
			loop_del_fd(s->loop, rfd);
			goto fail;
		}
		c->wreg = true;
	}
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nopen++;
	s->stats.conns_accepted++;
	s->stats.conns_open = s->nopen;
	log_debug("nbd %s: connected", c->peer);

	/* Fixed newstyle only; no zeroes if the client agrees. */
	nbdp_greeting_encode(greet, sizeof(greet),
	    NBDP_FLAG_FIXED_NEWSTYLE | NBDP_FLAG_NO_ZEROES);
	rep_copy(c, greet, NBDP_GREETING_LEN);
	return 0;

fail:
	c->io->ops->free(c->io);
	free(c->ibuf);
	free(c);
	return rc;
}

/* ---------------------------------------------------------- listening */

static void
listener_ready(void *arg, uint32_t events)
{
	struct listener *ls = arg;
	struct nbds *s = ls->s;

	(void)events;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[NI_MAXHOST], serv[NI_MAXSERV], peer[80];
		int fd, one = 1;

		fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				continue;
			if ((errno == EMFILE || errno == ENFILE) &&
			    s->spare_fd >= 0) {
				/*
				 * Out of fds: the pending connection would
				 * wake us for ever.  Accept it with the spare
				 * fd and close it.
				 */
				if (!s->emfile_logged)
					log_warn("accept");
				s->emfile_logged = true;
				close(s->spare_fd);
				fd = accept(ls->fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				s->stats.conns_refused++;
				s->spare_fd = open("/dev/null",
				    O_RDONLY | O_CLOEXEC);
				continue;
			}
			log_warn("accept");
			return;
		}
		s->emfile_logged = false;
		if (s->stopping || s->nopen >= s->cfg.max_conns) {
			s->stats.conns_refused++;
			log_info("nbd: too many connections; refusing one");
			close(fd);
			continue;
		}
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			if (getnameinfo((struct sockaddr *)&ss, sl, host,
			    sizeof(host), serv, sizeof(serv),
			    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
				snprintf(peer, sizeof(peer), "%.46s port %.8s",
				    host, serv);
			else
				snprintf(peer, sizeof(peer), "tcp");
		} else {
			snprintf(peer, sizeof(peer), "unix");
		}
		if (conn_new(s, fd, fd, peer) < 0) {
			log_warnx("nbd: cannot set up a connection");
			close(fd);
		}
	}
}

static int
listener_add(struct nbds *s, int fd, const char *unix_path)
{
	struct listener *ls = calloc(1, sizeof(*ls));
	int rc;

	if (ls == NULL)
		return -ENOMEM;
	ls->s = s;
	ls->fd = fd;
	if (unix_path != NULL) {
		ls->unix_path = strdup(unix_path);
		if (ls->unix_path == NULL) {
			free(ls);
			return -ENOMEM;
		}
	}
	rc = loop_add_fd(s->loop, fd, EPOLLIN, listener_ready, ls);
	if (rc < 0) {
		free(ls->unix_path);
		free(ls);
		return rc;
	}
	ls->next = s->listeners;
	s->listeners = ls;
	return 0;
}

static void
listener_free(struct nbds *s, struct listener *ls)
{
	loop_del_fd(s->loop, ls->fd);
	close(ls->fd);
	if (ls->unix_path != NULL)
		unlink(ls->unix_path);
	free(ls->unix_path);
	free(ls);
}

/* The port field of an IPv4 or IPv6 address (network order), or NULL. */
static in_port_t *
sockaddr_port(struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return &((struct sockaddr_in *)(void *)sa)->sin_port;
	if (sa->sa_family == AF_INET6)
		return &((struct sockaddr_in6 *)(void *)sa)->sin6_port;
	return NULL;
}

int
nbds_listen_tcp(struct nbds *s, const char *addr, const char *port,
    const char **err)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE, /* no AI_ADDRCONFIG: loopback-only namespaces */
	};
	struct addrinfo *res, *ai;
	const char *step = "getaddrinfo";
	int rc, last = -EADDRNOTAVAIL, n = 0;

	if (addr == NULL)
		addr = "127.0.0.1";
	rc = getaddrinfo(addr, port, &hints, &res);
	if (rc != 0) {
		if (err != NULL)
			*err = rc == EAI_SYSTEM ? step : gai_strerror(rc);
		return rc == EAI_SYSTEM ? -errno : -ENOENT;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		in_port_t *pp;
		int fd, one = 1;

		/*
		 * Port 0 (any): every address of the name gets the port the
		 * first one got, the one a --run command is told.
		 */
		pp = sockaddr_port(ai->ai_addr);
		if (s->tcp_port != 0 && pp != NULL && *pp == 0)
			*pp = htons((uint16_t)s->tcp_port);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = -errno;
			step = "socket";
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			last = -errno;
			step = "bind";
			close(fd);
			continue;
		}
		if (listen(fd, SOMAXCONN) < 0) {
			last = -errno;
			step = "listen";
			close(fd);
			continue;
		}
		if (s->tcp_port == 0) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);

			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
			    (pp = sockaddr_port((struct sockaddr *)&ss)) != NULL)
				s->tcp_port = ntohs(*pp);
		}
		rc = listener_add(s, fd, NULL);
		if (rc < 0) {
			close(fd);
			last = rc;
			step = "poll";
			continue;
		}
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		if (err != NULL)
			*err = step;
		return last;
	}
	return 0;
}

unsigned
nbds_tcp_port(const struct nbds *s)
{
	return s->tcp_port;
}

int
nbds_listen_unix(struct nbds *s, const char *path, const char **err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc, tries = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		if (err != NULL)
			*err = "socket path too long";
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (err != NULL)
			*err = "socket";
		return -errno;
	}
again:
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 && errno == EADDRINUSE && tries++ == 0) {
		/*
		 * A socket nobody listens on (stale) is ours to replace;
		 * anything else there (a file, a FIFO, a device, a symlink)
		 * is not: refused with EEXIST.
		 */
		struct stat st;
		int probe;
		bool stale = false;

		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			if (err != NULL)
				*err = "not a socket, so not replaced";
			close(fd);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0) {
			stale = connect(probe, (struct sockaddr *)&sun,
			    sizeof(sun)) < 0 && errno == ECONNREFUSED;
			close(probe);
		}
		if (stale && unlink(path) == 0)
			goto again;
		errno = EADDRINUSE;
	}
	if (rc < 0) {
		rc = -errno;
		if (err != NULL)
			*err = "bind";
		close(fd);
		return rc;
	}
	chmod(path, 0600);
	if (listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		if (err != NULL)
			*err = "listen";
		close(fd);
		unlink(path);
		return rc;
	}
	rc = listener_add(s, fd, path);
	if (rc < 0) {
		if (err != NULL)
			*err = "poll";
		close(fd);
		unlink(path);
	}
	return rc;
}

int
nbds_listen_fd(struct nbds *s, int fd)
{
	set_nonblock(fd);
	return listener_add(s, fd, NULL);
}

int
nbds_serve_fds(struct nbds *s, int rfd, int wfd)
{
	return conn_new(s, rfd, wfd, rfd == wfd ? "socket" : "stdin/stdout");
}

/* ---------------------------------------------------------- hook */

static uint64_t
nbds_deadline(void *arg)
{
	struct nbds *s = arg;
	uint64_t next = UINT64_MAX;

	if (s->dirty != NULL || s->kick_waiters)
		return 0;
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		if (!c->closed && c->st == CS_OPT_WAIT)
			next = MIN(next, c->wait_until);
	return next;
}

static void
nbds_tick(void *arg, uint64_t now)
{
	struct nbds *s = arg;
	bool all = s->kick_waiters;

	s->kick_waiters = false;
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		if (!c->closed && c->st == CS_OPT_WAIT &&
		    (all || now >= c->wait_until))
			conn_mark(c, true);
	while (s->dirty != NULL) {
		struct conn *list = s->dirty, *c;

		s->dirty = NULL;
		while ((c = list) != NULL) {
			list = c->dnext;
			c->dirty = false;
			if (!c->closed && c->replaced)
				conn_close(c, "its target is another disk now");
			if (!c->closed)
				conn_flush(c);
			if (!c->closed && (c->kick ||
			    (c->paused && !conn_over_limits(c))))
				conn_input(c);
			if (!c->closed && c->ohead != NULL)
				conn_flush(c);
			conn_unref(c);
		}
	}
}

/* ---------------------------------------------------------- life */

int
nbds_new(struct nbds **out, const struct nbds_config *cfg, struct loop *loop)
{
	struct nbds *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	if (s->cfg.max_conns == 0)
		s->cfg.max_conns = NBDS_DEFAULT_MAX_CONNS;
	if (s->cfg.ntargets > NBDS_MAX_TARGETS)
		s->cfg.ntargets = NBDS_MAX_TARGETS;
	s->loop = loop;
	s->start_ns = loop_now();
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->zeros = calloc(1, NBDS_ZERO_CHUNK);
	if (s->zeros == NULL) {
		if (s->spare_fd >= 0)
			close(s->spare_fd);
		free(s);
		return -ENOMEM;
	}
	rc = loop_add_hook(loop, nbds_deadline, nbds_tick, s);
	if (rc < 0) {
		if (s->spare_fd >= 0)
			close(s->spare_fd);
		free(s->zeros);
		free(s);
		return rc;
	}
	s->hook_added = true;
	*out = s;
	return 0;
}

void
nbds_set_engine(struct nbds *s, struct engine *e)
{
	s->e = e;
	s->start_ns = loop_now();
}

void
nbds_target_event(struct nbds *s, struct target *t, int event)
{
	if (s == NULL)
		return;
	switch (event) {
	case ENGINE_EV_UP:
		log_debug("%s is up: %" PRIu64 " bytes", target_name(t),
		    target_size(t));
		break;
	case ENGINE_EV_DEAD:
		log_warnx("%s is not responding: its I/O fails",
		    target_name(t));
		break;
	case ENGINE_EV_REPLACED:
		/*
		 * Its clients' caches (a mounted filesystem's) are of the old
		 * disk: drop them rather than let them write on the new one.
		 */
		for (struct conn *c = s->conns; c != NULL; c = c->next) {
			if (!c->closed && c->t == t) {
				c->replaced = true;
				conn_mark(c, false);
			}
		}
		break;
	default:
		break;
	}
	/* Clients waiting for an export look again. */
	s->kick_waiters = true;
}

void
nbds_shutdown(struct nbds *s)
{
	struct listener *ls;

	if (s->stopping)
		return;
	s->stopping = true;
	while ((ls = s->listeners) != NULL) {
		s->listeners = ls->next;
		listener_free(s, ls);
	}
	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		if (c->closed)
			continue;
		switch (c->st) {
		case CS_OPT_WAIT:
			if (c->opt.option != NBDP_OPT_EXPORT_NAME)
				rep_send(c, NBDP_REP_ERR_SHUTDOWN,
				    "server is shutting down");
			c->st = CS_DONE;
			break;
		case CS_GREETING:
		case CS_OPT_HDR:
		case CS_OPT_DATA:
		case CS_REQ_HDR:
		case CS_TLS_START:
		case CS_TLS_HANDSHAKE:
			c->st = CS_DONE;
			break;
		default:
			/* CS_REQ_DATA: take the payload, then stop. */
			break;
		}
		conn_mark(c, false);
	}
}

void
nbds_close_all(struct nbds *s)
{
	struct conn *c, *next;

	for (c = s->conns; c != NULL; c = next) {
		conn_ref(c);
		conn_close(c, NULL);
		next = c->next;
		conn_unref(c);
	}
}

unsigned
nbds_open_conns(const struct nbds *s)
{
	return s->nopen;
}

const struct nbds_stats *
nbds_stats(const struct nbds *s)
{
	return &s->stats;
}

void
nbds_free(struct nbds *s)
{
	struct listener *ls;
	struct conn *c;

	if (s == NULL)
		return;
	while ((ls = s->listeners) != NULL) {
		s->listeners = ls->next;
		listener_free(s, ls);
	}
	nbds_close_all(s);
	/* Dirty-list references. */
	while ((c = s->dirty) != NULL) {
		s->dirty = c->dnext;
		c->dirty = false;
		conn_unref(c);
	}
	/*
	 * Whatever is left is referenced by engine requests that can no
	 * longer complete (the engine is gone): free it.
	 */
	while ((c = s->conns) != NULL) {
		log_debug("nbd %s: freed with %u references left", c->peer,
		    c->refs);
		conn_free(c);
	}
	if (s->hook_added)
		loop_del_hook(s->loop, nbds_deadline, nbds_tick, s);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	free(s->zeros);
	free(s);
}
