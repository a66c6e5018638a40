/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AoE wire codec (AoEr11): decode whole frames into host-order structs and
 * encode them back.  Every decoder checks the length before it reads; no
 * I/O, allocation, globals or clock here.
 */
#include <errno.h>
#include <string.h>

#include "aoe.h"
#include "util.h"

/* Offsets inside a whole frame (aoe.md "Frame layout"). */
#define OFF_DST 0
#define OFF_SRC 6
#define OFF_TYPE 12
#define OFF_VERFL 14
#define OFF_ERROR 15
#define OFF_SHELF 16
#define OFF_SLOT 18
#define OFF_CMD 19
#define OFF_TAG 20
#define OFF_ARG AOE_HDR_LEN

#define MASK_DIR_LEN 8
#define RESV_MAC_LEN 6

int
aoe_hdr_decode(const uint8_t *p, size_t len, struct aoe_hdr *h)
{
	if (len < AOE_HDR_LEN)
		return -EMSGSIZE;
	if (get_be16(p + OFF_TYPE) != AOE_ETHERTYPE)
		return -EPROTO;
	memcpy(h->dst, p + OFF_DST, 6);
	memcpy(h->src, p + OFF_SRC, 6);
	h->version = p[OFF_VERFL] >> 4;
	h->flags = p[OFF_VERFL] & 0x0f;
	h->error = p[OFF_ERROR];
	h->shelf = get_be16(p + OFF_SHELF);
	h->slot = p[OFF_SLOT];
	h->cmd = p[OFF_CMD];
	h->tag = get_be32(p + OFF_TAG);
	return AOE_HDR_LEN;
}

int
aoe_hdr_encode(uint8_t *p, size_t cap, const struct aoe_hdr *h)
{
	if (cap < AOE_HDR_LEN)
		return -ENOBUFS;
	memcpy(p + OFF_DST, h->dst, 6);
	memcpy(p + OFF_SRC, h->src, 6);
	put_be16(p + OFF_TYPE, AOE_ETHERTYPE);
	p[OFF_VERFL] = (uint8_t)((h->version & 0x0f) << 4 | (h->flags & 0x0f));
	p[OFF_ERROR] = h->error;
	put_be16(p + OFF_SHELF, h->shelf);
	p[OFF_SLOT] = h->slot;
	p[OFF_CMD] = h->cmd;
	put_be32(p + OFF_TAG, h->tag);
	return AOE_HDR_LEN;
}

/* AoEr11 3.1: aflags, err/feature, count, cmd/status, lba0..5, 2 reserved. */
int
aoe_ata_decode(const uint8_t *p, size_t len, struct aoe_ata *a)
{
	const uint8_t *q = p + OFF_ARG;

	if (len < AOE_ATA_HDR_LEN)
		return -EMSGSIZE;
	a->aflags = q[0];
	a->err_feature = q[1];
	a->scnt = q[2];
	a->cmd_status = q[3];
	a->lba = get_le48(q + 4);
	return AOE_ATA_HDR_LEN;
}

int
aoe_ata_encode(uint8_t *p, size_t cap, const struct aoe_ata *a)
{
	uint8_t *q = p + OFF_ARG;

	if (a->lba > 0xffffffffffffULL)
		return -ERANGE;
	if (cap < AOE_ATA_HDR_LEN)
		return -ENOBUFS;
	q[0] = a->aflags;
	q[1] = a->err_feature;
	q[2] = a->scnt;
	q[3] = a->cmd_status;
	put_le48(q + 4, a->lba);
	q[10] = 0;
	q[11] = 0;
	return AOE_ATA_HDR_LEN;
}

/*
 * AoEr11 3.2: bufcnt, fwver, scnt, ver|ccmd, cslen, string.  The string is
 * sized by cslen, never by the frame length: vblade's replies are 32 + cslen
 * bytes and may arrive unpadded, or padded by a NIC.
 */
int
aoe_cfg_decode(const uint8_t *p, size_t len, struct aoe_cfg *c)
{
	const uint8_t *q = p + OFF_ARG;
	uint16_t slen;

	if (len < AOE_CFG_HDR_LEN)
		return -EMSGSIZE;
	slen = get_be16(q + 6);
	if (slen > AOE_CFG_STR_MAX)
		return -EOVERFLOW;
	if (len - AOE_CFG_HDR_LEN < slen)
		return -EMSGSIZE;
	c->bufcnt = get_be16(q);
	c->fwver = get_be16(q + 2);
	c->scnt = q[4];
	c->aoever = q[5] >> 4;
	c->ccmd = q[5] & 0x0f;
	c->len = slen;
	memcpy(c->str, p + AOE_CFG_HDR_LEN, slen);
	return AOE_CFG_HDR_LEN + slen;
}

int
aoe_cfg_encode(uint8_t *p, size_t cap, const struct aoe_cfg *c)
{
	uint8_t *q = p + OFF_ARG;

	if (c->len > AOE_CFG_STR_MAX)
		return -EOVERFLOW;
	if (cap < AOE_CFG_HDR_LEN || cap - AOE_CFG_HDR_LEN < c->len)
		return -ENOBUFS;
	put_be16(q, c->bufcnt);
	put_be16(q + 2, c->fwver);
	q[4] = c->scnt;
	q[5] = (uint8_t)((c->aoever & 0x0f) << 4 | (c->ccmd & 0x0f));
	put_be16(q + 6, c->len);
	memcpy(p + AOE_CFG_HDR_LEN, c->str, c->len);
	return AOE_CFG_HDR_LEN + c->len;
}

unsigned
aoe_cfg_scnt(const struct aoe_cfg *c)
{
	/* AoEr11 3.2: a zero sector count means 2, for old targets. */
	return c->scnt ? c->scnt : 2;
}

/*
 * AoEr11 3.3: reserved, mcmd, merror, dircount, then 8-byte directives
 * (reserved, dcmd, mac).  When an edit fails, vblade sets merror, puts the
 * index of the failing directive in dircount and sends no directives at all
 * (a 28-byte reply), so then only the directives present are decoded.
 */
int
aoe_mask_decode(const uint8_t *p, size_t len, struct aoe_mask *m)
{
	const uint8_t *q = p + OFF_ARG;
	size_t n, avail;

	if (len < AOE_MASK_HDR_LEN)
		return -EMSGSIZE;
	n = q[3];
	avail = (len - AOE_MASK_HDR_LEN) / MASK_DIR_LEN;
	if (avail < n) {
		if (q[2] == 0)
			return -EMSGSIZE;
		n = avail;
	}
	m->mcmd = q[1];
	m->merror = q[2];
	m->ndir = q[3];
	memset(m->dir, 0, sizeof(m->dir));
	for (size_t i = 0; i < n; i++) {
		const uint8_t *d = p + AOE_MASK_HDR_LEN + i * MASK_DIR_LEN;

		m->dir[i].dcmd = d[1];
		memcpy(m->dir[i].mac, d + 2, 6);
	}
	return (int)(AOE_MASK_HDR_LEN + n * MASK_DIR_LEN);
}

int
aoe_mask_encode(uint8_t *p, size_t cap, const struct aoe_mask *m)
{
	uint8_t *q = p + OFF_ARG;
	size_t need = AOE_MASK_HDR_LEN + (size_t)m->ndir * MASK_DIR_LEN;

	if (cap < need)
		return -ENOBUFS;
	q[0] = 0;
	q[1] = m->mcmd;
	q[2] = m->merror;
	q[3] = m->ndir;
	for (size_t i = 0; i < m->ndir; i++) {
		uint8_t *d = p + AOE_MASK_HDR_LEN + i * MASK_DIR_LEN;

		d[0] = 0;
		d[1] = m->dir[i].dcmd;
		memcpy(d + 2, m->dir[i].mac, 6);
	}
	return (int)need;
}

/* AoEr11 3.4: rcmd, nmacs, then 6-byte MACs. */
int
aoe_resv_decode(const uint8_t *p, size_t len, struct aoe_resv *r)
{
	const uint8_t *q = p + OFF_ARG;
	size_t n;

	if (len < AOE_RESV_HDR_LEN)
		return -EMSGSIZE;
	n = q[1];
	if ((len - AOE_RESV_HDR_LEN) / RESV_MAC_LEN < n)
		return -EMSGSIZE;
	r->rcmd = q[0];
	r->nmacs = q[1];
	memcpy(r->macs, p + AOE_RESV_HDR_LEN, n * RESV_MAC_LEN);
	return (int)(AOE_RESV_HDR_LEN + n * RESV_MAC_LEN);
}

int
aoe_resv_encode(uint8_t *p, size_t cap, const struct aoe_resv *r)
{
	uint8_t *q = p + OFF_ARG;
	size_t need = AOE_RESV_HDR_LEN + (size_t)r->nmacs * RESV_MAC_LEN;

	if (cap < need)
		return -ENOBUFS;
	q[0] = r->rcmd;
	q[1] = r->nmacs;
	memcpy(p + AOE_RESV_HDR_LEN, r->macs, (size_t)r->nmacs * RESV_MAC_LEN);
	return (int)need;
}

size_t
aoe_pad(uint8_t *p, size_t len)
{
	if (len >= AOE_MIN_FRAME)
		return len;
	memset(p + len, 0, AOE_MIN_FRAME - len);
	return AOE_MIN_FRAME;
}

int
aoe_error_errno(uint8_t error)
{
	switch (error) {
	case AOE_ERR_BADCMD:
		return -EOPNOTSUPP;
	case AOE_ERR_BADARG:
		return -EINVAL;
	case AOE_ERR_DEVUNAVAIL:
		return -ENXIO;
	case AOE_ERR_CFG_SET:
		return -EEXIST;
	case AOE_ERR_BADVER:
		return -EPROTONOSUPPORT;
	case AOE_ERR_RESERVED:
		return -EACCES;
	default:
		return -EIO;
	}
}

const char *
aoe_error_str(uint8_t error)
{
	switch (error) {
	case AOE_ERR_BADCMD:
		return "unrecognized command code";
	case AOE_ERR_BADARG:
		return "bad argument parameter";
	case AOE_ERR_DEVUNAVAIL:
		return "device unavailable";
	case AOE_ERR_CFG_SET:
		return "config string present";
	case AOE_ERR_BADVER:
		return "unsupported version";
	case AOE_ERR_RESERVED:
		return "target is reserved";
	default:
		return "unknown error";
	}
}

const char *
aoe_cmd_str(uint8_t cmd)
{
	switch (cmd) {
	case AOE_CMD_ATA:
		return "ATA";
	case AOE_CMD_CFG:
		return "config";
	case AOE_CMD_MASK:
		return "mask";
	case AOE_CMD_RESV:
		return "reserve";
	default:
		return cmd >= 0xf0 ? "vendor" : "unknown";
	}
}

const char *
aoe_ccmd_str(uint8_t ccmd)
{
	/* The names aoecfg -c takes. */
	switch (ccmd) {
	case AOE_CCMD_READ:
		return "read";
	case AOE_CCMD_TEST:
		return "test";
	case AOE_CCMD_PREFIX:
		return "prefix";
	case AOE_CCMD_SET:
		return "set";
	case AOE_CCMD_FSET:
		return "fset";
	default:
		return "unknown";
	}
}
