/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * badtarget: a misbehaving AoE target for the fault-tolerance tests.  On the
 * LAN of a real vblade (sharing its interface) it answers the initiator's
 * requests for the real target with truncated, oversized, wrongly tagged,
 * foreign, error-flagged, mismatched and duplicated responses, sends
 * unsolicited frames and floods, or plays a broken target of its own.  Each
 * forged frame is one the initiator must drop (or, for oversized reads, one
 * that carries the true data), so the real target's data must come through
 * intact.  Runs for a bounded time, prints its counters at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "aoe.h"
#include "util.h"

#define FRAME_MAX 65536
#define NSEC_PER_SEC_ 1000000000ULL
#define SECTOR 512u
#define DUP_MAX 4096             /* replayed responses waiting */
#define ATA_READ28 0x20
#define ATA_READ48 0x24
#define ATA_IDENTIFY 0xec

/* What to do; several may be on at once. */
enum {
	M_TRUNCATED = 1 << 0,
	M_OVERSIZED = 1 << 1,
	M_WRONGTAG = 1 << 2,
	M_WRONGMAC = 1 << 3,
	M_ERROR = 1 << 4,
	M_MISMATCH = 1 << 5,
	M_DUP = 1 << 6,
	M_UNSOLICITED = 1 << 7,
	M_FLOOD = 1 << 8,
	M_OWN = 1 << 9,
	M_TARGETS = 1 << 10,
};

static const struct {
	const char *name;
	unsigned bit;
} mode_names[] = {
	{ "truncated", M_TRUNCATED },
	{ "oversized", M_OVERSIZED },
	{ "wrongtag", M_WRONGTAG },
	{ "wrongmac", M_WRONGMAC },
	{ "error", M_ERROR },
	{ "mismatch", M_MISMATCH },
	{ "dup", M_DUP },
	{ "unsolicited", M_UNSOLICITED },
	{ "flood", M_FLOOD },
	{ "own", M_OWN },
	{ "targets", M_TARGETS },
};

/* Counters of frames sent, by kind. */
enum {
	K_TRUNC_HDR, K_TRUNC_ATA, K_TRUNC_DATA, K_TRUNC_CFG,
	K_OVER_READ, K_OVER_TAG,
	K_TAG_NOUSER, K_TAG_GEN,
	K_FOREIGN,
	K_ERR_FOREIGN, K_ERR_CMD, K_ATAERR_FOREIGN,
	K_MIS_SLOT, K_MIS_SHELF, K_MIS_CMD,
	K_DUP,
	K_U_TAG, K_U_REQUEST, K_U_BADVER, K_U_RUNT, K_U_CFG_ANY,
	K_U_CFG_MCAST, K_U_ADVERT, K_U_GARBAGE,
	K_OWN_CFG, K_OWN_IDENT, K_OWN_ATA,
	K_NEW_TARGET,
	K_COUNT,
};

static const char *const kind_names[K_COUNT] = {
	"trunc_hdr", "trunc_ata", "trunc_data", "trunc_cfg",
	"over_read", "over_tag",
	"tag_nouser", "tag_gen",
	"foreign",
	"err_foreign", "err_cmd", "ataerr_foreign",
	"mis_slot", "mis_shelf", "mis_cmd",
	"dup",
	"u_tag", "u_request", "u_badver", "u_runt", "u_cfg_any",
	"u_cfg_mcast", "u_advert", "u_garbage",
	"own_cfg", "own_ident", "own_ata",
	"new_target",
};

struct replay {
	uint64_t due;
	size_t len;
	uint8_t *data;
};

struct bad {
	int fd;
	unsigned modes;
	unsigned mtu;
	uint8_t ifmac[6];
	uint8_t mac[6];          /* the real target's MAC (impersonated) */
	uint16_t shelf;
	uint8_t slot;
	uint16_t own_shelf;
	uint8_t own_slot;
	uint8_t own_mac[6];
	uint8_t initiator[6];    /* learnt from requests; broadcast before */
	bool have_initiator;
	uint8_t advert[FRAME_MAX]; /* the real target's config response */
	size_t advert_len;
	int file;                /* the real target's backing file, or -1 */
	uint64_t rng;
	double rate;             /* unsolicited frames per second */
	unsigned prob;           /* percent of requests answered */
	unsigned kind_rr;        /* cycles through the variants */
	uint64_t sent[K_COUNT];
	uint64_t seen_req, seen_rsp, send_err;
	struct replay rq[DUP_MAX];
	unsigned nrq;
	uint8_t out[FRAME_MAX];
};

static volatile sig_atomic_t g_stop;

/* ---------------------------------------------------------- helpers */

static uint64_t
rng_upto(uint64_t *s, uint64_t max)
{
	return splitmix64(s) % (max + 1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC_ + (uint64_t)ts.tv_nsec;
}

static void
fill_random(struct bad *b, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)splitmix64(&b->rng);
}

/* A random locally administered unicast MAC that is not one we know. */
static void
foreign_mac(struct bad *b, uint8_t mac[6])
{
	do {
		fill_random(b, mac, 6);
		mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
	} while (memcmp(mac, b->mac, 6) == 0 ||
	    memcmp(mac, b->initiator, 6) == 0);
}

static void
xmit(struct bad *b, const uint8_t *p, size_t len, int kind)
{
	if (len > b->mtu + ETH_HLEN_)
		len = b->mtu + ETH_HLEN_;
	if (send(b->fd, p, len, MSG_DONTWAIT) < 0) {
		b->send_err++;
		return;
	}
	if (kind >= 0)
		b->sent[kind]++;
}

/* Ethernet + AoE header of a frame to the initiator. */
static void
put_hdr(struct bad *b, uint8_t *p, const uint8_t src[6], uint8_t flags,
    uint8_t err, uint16_t shelf, uint8_t slot, uint8_t cmd, uint32_t tag)
{
	if (b->have_initiator)
		memcpy(p, b->initiator, 6);
	else
		memset(p, 0xff, 6);
	memcpy(p + 6, src, 6);
	put_be16(p + 12, AOE_ETHERTYPE);
	p[14] = (uint8_t)(AOE_VERSION << 4 | flags);
	p[15] = err;
	put_be16(p + 16, shelf);
	p[18] = slot;
	p[19] = cmd;
	put_be32(p + 20, tag);
}

/* A decoded ATA request. */
struct areq {
	uint32_t tag;
	uint8_t aflags, cmd, scnt;
	uint64_t lba;
	bool read, write;
	size_t datalen;         /* data a successful response carries */
};

/*
 * A successful-looking ATA response to q (status DRDY, data random) into
 * b->out; returns its length.
 */
static size_t
build_ata_rsp(struct bad *b, const struct areq *q, const uint8_t src[6],
    uint16_t shelf, uint8_t slot, uint8_t cmd, uint32_t tag)
{
	uint8_t *p = b->out;
	size_t len = AOE_ATA_HDR_LEN + q->datalen;

	put_hdr(b, p, src, AOE_FLAG_RSP, 0, shelf, slot, cmd, tag);
	p[24] = q->aflags;
	p[25] = 0;
	p[26] = 0;
	p[27] = 0x40; /* DRDY */
	put_le48(p + 28, q->lba + q->scnt);
	p[34] = p[35] = 0;
	fill_random(b, p + AOE_ATA_HDR_LEN, q->datalen);
	if (len < AOE_MIN_FRAME) {
		memset(p + len, 0, AOE_MIN_FRAME - len);
		len = AOE_MIN_FRAME;
	}
	return len;
}

/* ---------------------------------------------------------- replies */

/* Answer one ATA request for the impersonated target, per mode. */
static void
answer_ata(struct bad *b, const struct areq *q)
{
	uint8_t fmac[6];
	size_t len, cut;
	uint8_t *p = b->out;

	if (b->modes & M_TRUNCATED) {
		/*
		 * Shorter than anything the request could be answered with:
		 * no whole AoE header, no whole ATA header, or (reads) less
		 * data than asked for.
		 */
		(void)build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
		    AOE_CMD_ATA, q->tag);
		switch (b->kind_rr++ % 3) {
		case 0:
			cut = 14 + rng_upto(&b->rng, AOE_HDR_LEN - 15);
			xmit(b, p, cut, K_TRUNC_HDR);
			break;
		case 1:
			cut = AOE_HDR_LEN + rng_upto(&b->rng,
			    AOE_ATA_HDR_LEN - AOE_HDR_LEN - 1);
			xmit(b, p, cut, K_TRUNC_ATA);
			break;
		default:
			if (q->datalen == 0) {
				cut = AOE_HDR_LEN + rng_upto(&b->rng,
				    AOE_ATA_HDR_LEN - AOE_HDR_LEN - 1);
				xmit(b, p, cut, K_TRUNC_ATA);
			} else {
				cut = AOE_ATA_HDR_LEN +
				    rng_upto(&b->rng, q->datalen - 1);
				xmit(b, p, cut, K_TRUNC_DATA);
			}
			break;
		}
	}
	if (b->modes & M_OVERSIZED) {
		/*
		 * A read answered with the true data from the backing file,
		 * padded to the MTU: a race with vblade that either answer
		 * may win.  Anything else: padded, with a wrong tag.
		 */
		if (q->read && q->cmd != ATA_IDENTIFY && b->file >= 0 &&
		    q->datalen > 0) {
			len = build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
			    AOE_CMD_ATA, q->tag);
			if (pread(b->file, p + AOE_ATA_HDR_LEN, q->datalen,
			    (off_t)(q->lba * SECTOR)) == (ssize_t)q->datalen) {
				memset(p + len, 0xee, b->mtu + ETH_HLEN_ - len);
				xmit(b, p, b->mtu + ETH_HLEN_, K_OVER_READ);
			}
		} else {
			len = build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
			    AOE_CMD_ATA, q->tag ^ 0x40000000u);
			memset(p + len, 0xee, b->mtu + ETH_HLEN_ - len);
			xmit(b, p, b->mtu + ETH_HLEN_, K_OVER_TAG);
		}
	}
	if (b->modes & M_WRONGTAG) {
		/*
		 * Bit 31 clear (never ours), or the generation moved half way
		 * round (the engine's tags: bit 31, 15-bit generation, 16-bit
		 * index; a retransmission's previous tag is one generation
		 * back, so half way round is safely foreign).
		 */
		if (b->kind_rr++ & 1) {
			len = build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
			    AOE_CMD_ATA, q->tag & ~AOE_TAG_USER);
			xmit(b, p, len, K_TAG_NOUSER);
		} else {
			len = build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
			    AOE_CMD_ATA, q->tag ^ 0x40000000u);
			xmit(b, p, len, K_TAG_GEN);
		}
	}
	if (b->modes & M_WRONGMAC) {
		foreign_mac(b, fmac);
		len = build_ata_rsp(b, q, fmac, b->shelf, b->slot, AOE_CMD_ATA,
		    q->tag);
		xmit(b, p, len, K_FOREIGN);
	}
	if (b->modes & M_ERROR) {
		switch (b->kind_rr++ % 3) {
		case 0:
			/* AoE error, every code in turn, from a stranger. */
			foreign_mac(b, fmac);
			put_hdr(b, p, fmac, AOE_FLAG_RSP | AOE_FLAG_ERR,
			    (uint8_t)(1 + b->sent[K_ERR_FOREIGN] % 6),
			    b->shelf, b->slot, AOE_CMD_ATA, q->tag);
			memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
			xmit(b, p, AOE_MIN_FRAME, K_ERR_FOREIGN);
			break;
		case 1:
			/* From the target with the right tag, but the
			 * command of a config response. */
			put_hdr(b, p, b->mac, AOE_FLAG_RSP | AOE_FLAG_ERR,
			    AOE_ERR_DEVUNAVAIL, b->shelf, b->slot, AOE_CMD_CFG,
			    q->tag);
			memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
			xmit(b, p, AOE_MIN_FRAME, K_ERR_CMD);
			break;
		default:
			/* ATA status ERR + ABRT from a stranger. */
			foreign_mac(b, fmac);
			len = build_ata_rsp(b, q, fmac, b->shelf, b->slot,
			    AOE_CMD_ATA, q->tag);
			p[25] = 0x04;
			p[27] = 0x41;
			xmit(b, p, len, K_ATAERR_FOREIGN);
			break;
		}
	}
	if (b->modes & M_MISMATCH) {
		switch (b->kind_rr++ % 3) {
		case 0:
			len = build_ata_rsp(b, q, b->mac, b->shelf,
			    (uint8_t)(b->slot + 1 == AOE_SLOT_ANY ? 0 :
			    b->slot + 1), AOE_CMD_ATA, q->tag);
			xmit(b, p, len, K_MIS_SLOT);
			break;
		case 1:
			len = build_ata_rsp(b, q, b->mac,
			    (uint16_t)(b->shelf ^ 0x100), b->slot,
			    AOE_CMD_ATA, q->tag);
			xmit(b, p, len, K_MIS_SHELF);
			break;
		default:
			len = build_ata_rsp(b, q, b->mac, b->shelf, b->slot,
			    AOE_CMD_MASK, q->tag);
			xmit(b, p, len, K_MIS_CMD);
			break;
		}
	}
}

/* A request for the impersonated target's config (or a broadcast one). */
static void
answer_cfg(struct bad *b, uint32_t tag)
{
	uint8_t *p = b->out;

	if (!(b->modes & M_TRUNCATED))
		return;
	/* Cut inside the config argument: unusable. */
	put_hdr(b, p, b->mac, AOE_FLAG_RSP, 0, b->shelf, b->slot, AOE_CMD_CFG,
	    tag);
	memset(p + AOE_HDR_LEN, 0, AOE_CFG_HDR_LEN - AOE_HDR_LEN);
	xmit(b, p, AOE_HDR_LEN + rng_upto(&b->rng, 7), K_TRUNC_CFG);
}

/* ---------------------------------------------------------- own target */

static void
own_cfg(struct bad *b, uint32_t tag)
{
	uint8_t *p = b->out;
	static const char str[] = "badtarget";

	put_hdr(b, p, b->own_mac, AOE_FLAG_RSP, 0, b->own_shelf, b->own_slot,
	    AOE_CMD_CFG, tag);
	put_be16(p + 24, 2);       /* buffer count */
	put_be16(p + 26, 0xbad);   /* firmware */
	p[28] = 0;                 /* sector count 0: "2" for old targets */
	p[29] = AOE_VERSION << 4;
	put_be16(p + 30, sizeof(str) - 1);
	memcpy(p + 32, str, sizeof(str) - 1);
	memset(p + 32 + sizeof(str) - 1, 0, AOE_MIN_FRAME - 32 -
	    (sizeof(str) - 1));
	xmit(b, p, AOE_MIN_FRAME, K_OWN_CFG);
}

/* IDENTIFY answered badly, in turn: truncated, no LBA, size 0, garbage. */
static void
own_ata(struct bad *b, const struct areq *q)
{
	uint8_t *p = b->out;
	uint8_t *id = p + AOE_ATA_HDR_LEN;
	size_t len;

	if (q->cmd != ATA_IDENTIFY) {
		/* Anything else: unavailable. */
		put_hdr(b, p, b->own_mac, AOE_FLAG_RSP | AOE_FLAG_ERR,
		    AOE_ERR_DEVUNAVAIL, b->own_shelf, b->own_slot,
		    AOE_CMD_ATA, q->tag);
		memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
		xmit(b, p, AOE_MIN_FRAME, K_OWN_ATA);
		return;
	}
	len = build_ata_rsp(b, q, b->own_mac, b->own_shelf, b->own_slot,
	    AOE_CMD_ATA, q->tag);
	switch (b->kind_rr++ % 4) {
	case 0:
		len = AOE_ATA_HDR_LEN + rng_upto(&b->rng, SECTOR - 1);
		break;
	case 1:
		memset(id, 0, SECTOR); /* no LBA, no size */
		break;
	case 2:
		memset(id, 0, SECTOR);
		id[83 * 2 + 1] = 0x54; /* LBA48 + FLUSH, but 0 sectors */
		break;
	default:
		break; /* random words */
	}
	xmit(b, p, len, K_OWN_IDENT);
}

/* ---------------------------------------------------------- unsolicited */

static void
unsolicited_one(struct bad *b)
{
	uint8_t *p = b->out, fmac[6];
	size_t len;
	struct areq q;

	memset(&q, 0, sizeof(q));
	q.scnt = 2;
	q.datalen = 2 * SECTOR;
	switch (b->kind_rr++ % 8) {
	case 0:
		/* A response to a tag nobody issued (bit 31 set). */
		len = build_ata_rsp(b, &q, b->mac, b->shelf, b->slot,
		    AOE_CMD_ATA, AOE_TAG_USER | (uint32_t)splitmix64(&b->rng));
		xmit(b, p, len, K_U_TAG);
		break;
	case 1:
		/* A request (R clear) to a shelf nobody serves. */
		foreign_mac(b, fmac);
		put_hdr(b, p, fmac, 0, 0, 4000, 9, AOE_CMD_CFG,
		    (uint32_t)splitmix64(&b->rng));
		memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
		xmit(b, p, AOE_MIN_FRAME, K_U_REQUEST);
		break;
	case 2:
		/* AoE version 2. */
		len = build_ata_rsp(b, &q, b->mac, b->shelf, b->slot,
		    AOE_CMD_ATA, AOE_TAG_USER | (uint32_t)splitmix64(&b->rng));
		p[14] = (uint8_t)(2 << 4 | AOE_FLAG_RSP);
		xmit(b, p, len, K_U_BADVER);
		break;
	case 3:
		/* A runt: Ethernet header and a few bytes. */
		put_hdr(b, p, b->mac, AOE_FLAG_RSP, 0, b->shelf, b->slot,
		    AOE_CMD_ATA, 0);
		xmit(b, p, 14 + rng_upto(&b->rng, 9), K_U_RUNT);
		break;
	case 4:
		/* A config response claiming shelf 0xffff slot 0xff. */
		put_hdr(b, p, b->mac, AOE_FLAG_RSP, 0, AOE_SHELF_ANY,
		    AOE_SLOT_ANY, AOE_CMD_CFG, 0);
		memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
		put_be16(p + 24, 16);
		p[29] = AOE_VERSION << 4;
		xmit(b, p, AOE_MIN_FRAME, K_U_CFG_ANY);
		break;
	case 5:
		/* A config response from a multicast address. */
		fmac[0] = 0x01;
		fmac[1] = 0x00;
		fmac[2] = 0x5e;
		fill_random(b, fmac + 3, 3);
		put_hdr(b, p, fmac, AOE_FLAG_RSP, 0, b->shelf, b->slot,
		    AOE_CMD_CFG, 0);
		memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
		put_be16(p + 24, 16);
		p[29] = AOE_VERSION << 4;
		xmit(b, p, AOE_MIN_FRAME, K_U_CFG_MCAST);
		break;
	case 6:
		/* The real target's own config answer again, as an advert. */
		if (b->advert_len == 0)
			break;
		memcpy(p, b->advert, b->advert_len);
		if (b->have_initiator)
			memcpy(p, b->initiator, 6);
		put_be32(p + 20, 0);
		xmit(b, p, b->advert_len, K_U_ADVERT);
		break;
	default:
		/* Garbage of any length with the AoE ethertype. */
		len = ETH_HLEN_ + rng_upto(&b->rng, b->mtu);
		put_hdr(b, p, b->mac, 0, 0, 0, 0, 0, 0);
		fill_random(b, p + ETH_HLEN_, len - ETH_HLEN_);
		xmit(b, p, len, K_U_GARBAGE);
		break;
	}
}

/*
 * An advert for a target nobody serves, from a random MAC: every one is a
 * new target (or path) to the initiator, which then tries to IDENTIFY it.
 */
static void
new_target(struct bad *b)
{
	uint8_t *p = b->out, fmac[6];
	uint16_t shelf;
	uint8_t slot;

	do {
		shelf = (uint16_t)rng_upto(&b->rng, AOE_SHELF_ANY - 1);
		slot = (uint8_t)rng_upto(&b->rng, AOE_SLOT_ANY - 1);
	} while ((shelf == b->shelf && slot == b->slot) ||
	    (shelf == b->own_shelf && slot == b->own_slot));
	foreign_mac(b, fmac);
	put_hdr(b, p, fmac, AOE_FLAG_RSP, 0, shelf, slot, AOE_CMD_CFG, 0);
	memset(p + AOE_HDR_LEN, 0, AOE_MIN_FRAME - AOE_HDR_LEN);
	put_be16(p + 24, 16);
	p[28] = 2;
	p[29] = AOE_VERSION << 4;
	xmit(b, p, AOE_MIN_FRAME, K_NEW_TARGET);
}

/* ---------------------------------------------------------- input */

static void
replay_add(struct bad *b, const uint8_t *p, size_t len, uint64_t now)
{
	struct replay *r;

	if (b->nrq >= DUP_MAX)
		return;
	r = &b->rq[b->nrq];
	r->data = malloc(len);
	if (r->data == NULL)
		return;
	memcpy(r->data, p, len);
	r->len = len;
	/* Half at once, half up to 20 ms later. */
	r->due = now + ((b->kind_rr++ & 1) ? rng_upto(&b->rng, 20000000) : 0);
	b->nrq++;
}

static void
replay_due(struct bad *b, uint64_t now)
{
	unsigned i = 0;

	while (i < b->nrq) {
		struct replay *r = &b->rq[i];

		if (r->due > now) {
			i++;
			continue;
		}
		xmit(b, r->data, r->len, K_DUP);
		free(r->data);
		b->rq[i] = b->rq[--b->nrq];
	}
}

static void
handle(struct bad *b, const uint8_t *p, size_t len, bool outgoing,
    uint64_t now)
{
	uint16_t shelf;
	uint8_t slot, cmd, flags;
	uint32_t tag;
	struct areq q;

	if (len < AOE_HDR_LEN || get_be16(p + 12) != AOE_ETHERTYPE)
		return;
	flags = p[14] & 0x0f;
	shelf = get_be16(p + 16);
	slot = p[18];
	cmd = p[19];
	tag = get_be32(p + 20);

	if (outgoing) {
		/* Someone on this interface (vblade) answering. */
		if (!(flags & AOE_FLAG_RSP) || memcmp(p + 6, b->mac, 6) != 0 ||
		    shelf != b->shelf || slot != b->slot)
			return;
		b->seen_rsp++;
		if (cmd == AOE_CMD_CFG && !(flags & AOE_FLAG_ERR) &&
		    len <= sizeof(b->advert) && len >= AOE_CFG_HDR_LEN) {
			memcpy(b->advert, p, len);
			b->advert_len = len;
		}
		if (b->modes & M_DUP) {
			replay_add(b, p, len, now);
			if (b->kind_rr % 4 == 0)
				replay_add(b, p, len, now);
		}
		return;
	}
	if (flags & AOE_FLAG_RSP)
		return;
	/* A request from the initiator. */
	memcpy(b->initiator, p + 6, 6);
	b->have_initiator = !(p[6] & 1);
	b->seen_req++;
	if (b->prob < 100 && rng_upto(&b->rng, 99) >= b->prob)
		return;

	if ((b->modes & M_OWN) && cmd == AOE_CMD_CFG &&
	    (shelf == AOE_SHELF_ANY || shelf == b->own_shelf) &&
	    (slot == AOE_SLOT_ANY || slot == b->own_slot))
		own_cfg(b, tag);
	if (cmd == AOE_CMD_CFG &&
	    (shelf == AOE_SHELF_ANY || shelf == b->shelf) &&
	    (slot == AOE_SLOT_ANY || slot == b->slot))
		answer_cfg(b, tag);
	if (cmd != AOE_CMD_ATA || len < AOE_ATA_HDR_LEN)
		return;
	memset(&q, 0, sizeof(q));
	q.tag = tag;
	q.aflags = p[24];
	q.scnt = p[26];
	q.cmd = p[27];
	q.lba = get_le48(p + 28);
	q.write = q.aflags & AOE_AFLAG_WRITE;
	q.read = !q.write && (q.cmd == ATA_READ28 || q.cmd == ATA_READ48 ||
	    q.cmd == ATA_IDENTIFY);
	q.datalen = q.read ? (size_t)q.scnt * SECTOR : 0;
	if ((b->modes & M_OWN) && shelf == b->own_shelf &&
	    slot == b->own_slot)
		own_ata(b, &q);
	if (shelf == b->shelf && slot == b->slot)
		answer_ata(b, &q);
}

/* ---------------------------------------------------------- setup */

static int
open_port(struct bad *b, const char *ifname)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	struct ifreq ifr;
	unsigned idx;
	int fd, sz = 8 << 20;

	idx = if_nametoindex(ifname);
	if (idx == 0) {
		fprintf(stderr, "badtarget: %s: %s\n", ifname, strerror(errno));
		return -1;
	}
	/*
	 * ETH_P_ALL: only such sockets see the frames other sockets send on
	 * the interface (vblade's responses, for dup); handle() keeps AoE.
	 */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "badtarget: socket: %s\n", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)idx;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "badtarget: bind %s: %s\n", ifname,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Requests to our own target's MAC are not for the interface's. */
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)idx;
	mr.mr_type = PACKET_MR_PROMISC;
	(void)setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
	    sizeof(mr));
	/* struct ifreq is a union: one query at a time. */
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		goto err;
	b->mtu = (unsigned)ifr.ifr_mtu;
	if (b->mtu < AOE_MIN_FRAME || b->mtu > FRAME_MAX - ETH_HLEN_)
		b->mtu = 1500;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		goto err;
	memcpy(b->ifmac, ifr.ifr_hwaddr.sa_data, 6);
	b->fd = fd;
	return 0;

err:
	fprintf(stderr, "badtarget: %s: %s\n", ifname, strerror(errno));
	close(fd);
	return -1;
}

static int
parse_modes(const char *arg, unsigned *out)
{
	char buf[256], *save = NULL, *tok;
	unsigned m = 0;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		if (strcmp(tok, "all") == 0) {
			m |= ~0u & ~(unsigned)(M_OWN | M_TARGETS);
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(mode_names); i++)
			if (strcmp(tok, mode_names[i].name) == 0)
				break;
		if (i == ARRAY_SIZE(mode_names))
			return -1;
		m |= mode_names[i].bit;
	}
	*out = m;
	return m ? 0 : -1;
}

static void
report(const struct bad *b)
{
	printf("badtarget: requests seen %" PRIu64 ", target responses seen %"
	    PRIu64 ", send errors %" PRIu64 "\n", b->seen_req, b->seen_rsp,
	    b->send_err);
	printf("badtarget: sent");
	for (int k = 0; k < K_COUNT; k++)
		if (b->sent[k])
			printf(" %s %" PRIu64, kind_names[k], b->sent[k]);
	printf("\n");
	fflush(stdout);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: badtarget [OPTIONS] -i IF\n"
	    "A misbehaving AoE target on IF (shared with a real vblade).\n"
	    "\n"
	    "  -i, --interface=IF      where to listen and send\n"
	    "  -m, --mode=MODE[,MODE]  truncated, oversized, wrongtag, "
	    "wrongmac, error,\n"
	    "                          mismatch, dup, unsolicited, flood, "
	    "own, targets\n"
	    "                          (adverts of ever new targets), all\n"
	    "  -t, --duration=SECS     exit after SECS (default 60)\n"
	    "  -T, --target=eS.S       the real target to impersonate "
	    "(default e1.0)\n"
	    "  -M, --mac=MAC           its MAC (default IF's)\n"
	    "  -f, --file=PATH         its backing file (oversized reads "
	    "carry true data)\n"
	    "  -o, --own=eS.S          own mode: our target (default "
	    "e7.7)\n"
	    "  -r, --rate=N            unsolicited frames per second "
	    "(default 1000,\n"
	    "                          flood 20000)\n"
	    "  -p, --percent=N         answer N %% of the requests (default "
	    "100)\n"
	    "  -s, --seed=N            PRNG seed (default 1)\n"
	    "Prints \"badtarget: ready\" once listening and its counters at "
	    "exit.\n");
}

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "mode", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 't' },
		{ "target", required_argument, NULL, 'T' },
		{ "mac", required_argument, NULL, 'M' },
		{ "file", required_argument, NULL, 'f' },
		{ "own", required_argument, NULL, 'o' },
		{ "rate", required_argument, NULL, 'r' },
		{ "percent", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bad b;
	const char *ifname = NULL, *file = NULL, *mac = NULL;
	unsigned long long v;
	double duration = 60, credit = 0;
	uint64_t end, now, last;
	struct sigaction sa;
	uint8_t *buf;
	char *ep;
	int opt, status = 1;

	b.fd = b.file = -1;
	b.shelf = 1;
	b.slot = 0;
	b.own_shelf = 7;
	b.own_slot = 7;
	b.rng = 1;
	b.rate = -1;
	b.prob = 100;
	while ((opt = getopt_long(argc, argv, "i:m:t:T:M:f:o:r:p:s:h",
	    longopts, NULL)) != -1) {
		int rc = 0;

		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'm':
			rc = parse_modes(optarg, &b.modes);
			break;
		case 't':
			errno = 0;
			duration = strtod(optarg, &ep);
			rc = errno || *ep || !(duration > 0) ? -1 : 0;
			break;
		case 'T':
			rc = target_name_parse(optarg, &b.shelf, &b.slot);
			break;
		case 'M':
			mac = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'o':
			rc = target_name_parse(optarg, &b.own_shelf,
			    &b.own_slot);
			break;
		case 'r':
			rc = parse_uint(optarg, 0, 1000000, &v);
			b.rate = (double)v;
			break;
		case 'p':
			rc = parse_uint(optarg, 0, 100, &v);
			b.prob = (unsigned)v;
			break;
		case 's':
			rc = parse_uint(optarg, 0, UINT64_MAX, &v);
			b.rng = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc < 0) {
			fprintf(stderr, "badtarget: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (ifname == NULL || b.modes == 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (b.rate < 0)
		b.rate = (b.modes & M_FLOOD) ? 20000 : 1000;
	/* A flood: unsolicited frames and every kind of bad answer. */
	if (b.modes & M_FLOOD)
		b.modes |= M_TRUNCATED | M_OVERSIZED | M_WRONGTAG |
		    M_WRONGMAC | M_ERROR | M_MISMATCH | M_DUP;
	if (open_port(&b, ifname) < 0)
		return 1;
	memcpy(b.mac, b.ifmac, 6);
	if (mac != NULL && mac_parse(mac, b.mac) < 0) {
		fprintf(stderr, "badtarget: bad MAC '%s'\n", mac);
		return 2;
	}
	memcpy(b.own_mac, b.ifmac, 6);
	b.own_mac[0] ^= 0x02;
	b.own_mac[5] ^= 0x5a;
	memset(b.initiator, 0xff, 6);
	if (file != NULL) {
		b.file = open(file, O_RDONLY | O_CLOEXEC);
		if (b.file < 0) {
			fprintf(stderr, "badtarget: %s: %s\n", file,
			    strerror(errno));
			return 1;
		}
	}
	buf = malloc(FRAME_MAX);
	if (buf == NULL)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("badtarget: ready on %s, modes %#x, %.1f s\n", ifname, b.modes,
	    duration);
	fflush(stdout);
	now = last = now_ns();
	end = now + (uint64_t)(duration * 1e9);
	status = 0;
	while (!g_stop && (now = now_ns()) < end) {
		struct pollfd pfd = { .fd = b.fd, .events = POLLIN };
		int timeout = 1;

		if (!(b.modes & (M_UNSOLICITED | M_FLOOD | M_TARGETS)) &&
		    b.nrq == 0)
			timeout = 50;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			fprintf(stderr, "badtarget: poll: %s\n",
			    strerror(errno));
			status = 1;
			break;
		}
		now = now_ns();
		for (int i = 0; i < 512 && (pfd.revents & POLLIN); i++) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t n;

			n = recvfrom(b.fd, buf, FRAME_MAX, 0,
			    (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			handle(&b, buf, (size_t)n,
			    from.sll_pkttype == PACKET_OUTGOING, now);
		}
		replay_due(&b, now);
		if (b.modes & (M_UNSOLICITED | M_FLOOD | M_TARGETS)) {
			credit += (double)(now - last) * b.rate / 1e9;
			if (credit > b.rate / 10 + 1)
				credit = b.rate / 10 + 1; /* no huge bursts */
			while (credit >= 1) {
				if (b.modes & M_TARGETS)
					new_target(&b);
				if (b.modes & (M_UNSOLICITED | M_FLOOD))
					unsolicited_one(&b);
				credit -= 1;
			}
		}
		last = now;
	}
	report(&b);
	while (b.nrq > 0)
		free(b.rq[--b.nrq].data);
	free(buf);
	if (b.file >= 0)
		close(b.file);
	close(b.fd);
	return status;
}
