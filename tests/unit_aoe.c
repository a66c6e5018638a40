/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the AoE codec (src/aoe.c): frames captured from a real
 * vblade (tests/vectors) decoded field by field and re-encoded byte for
 * byte, every decoder fed every truncation, round trips and bad values.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aoe.h"
#include "exact-copy.h"
#include "hexvec.h"
#include "util.h"

#define FRAME_MAX 9100

static const uint8_t mac_init[6] = { 0x02, 0x00, 0xc0, 0xde, 0x00, 0x01 };
static const uint8_t mac_target[6] = { 0x02, 0x00, 0xc0, 0xde, 0x00, 0x02 };
static const uint8_t mac_fake[6] = { 0x02, 0x00, 0xc0, 0xde, 0x00, 0x99 };
static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint8_t frame[FRAME_MAX];
static size_t frame_len;

/* Load tests/vectors/NAME.hex into frame/frame_len. */
static void
load(const char *name)
{
	int rc = hexvec_load_name(name, frame, sizeof(frame), &frame_len);

	cr_assert_eq(rc, 0, "%s: hexvec_load_name: %s", name, strerror(-rc));
}

/* ---------------------------------------------------------------- helpers */

typedef int (*decode_fn)(const uint8_t *p, size_t len, void *out);

static int
dec_hdr(const uint8_t *p, size_t len, void *out)
{
	return aoe_hdr_decode(p, len, out);
}

static int
dec_ata(const uint8_t *p, size_t len, void *out)
{
	return aoe_ata_decode(p, len, out);
}

static int
dec_cfg(const uint8_t *p, size_t len, void *out)
{
	return aoe_cfg_decode(p, len, out);
}

static int
dec_mask(const uint8_t *p, size_t len, void *out)
{
	return aoe_mask_decode(p, len, out);
}

static int
dec_resv(const uint8_t *p, size_t len, void *out)
{
	return aoe_resv_decode(p, len, out);
}

/*
 * Feed dec the frame truncated at every length 0..len (each in a buffer of
 * exactly that size).  Below need bytes it must answer -EMSGSIZE and leave
 * nothing read past the end; from need on it must return need and decode
 * exactly what the whole frame decodes to.
 */
static void
check_truncations(const char *what, const uint8_t *p, size_t len,
    decode_fn dec, size_t outsize)
{
	void *full = calloc(1, outsize), *out = calloc(1, outsize);
	int need;

	cr_assert(full && out);
	need = dec(p, len, full);
	cr_assert_gt(need, 0, "%s: whole frame: %d", what, need);
	for (size_t n = 0; n <= len; n++) {
		uint8_t *q = exact_copy(p, n);
		int rc;

		memset(out, 0, outsize);
		rc = dec(q, n, out);
		if (n < (size_t)need) {
			cr_assert_eq(rc, -EMSGSIZE, "%s: len %zu: rc %d", what,
			    n, rc);
		} else {
			cr_assert_eq(rc, need, "%s: len %zu: rc %d", what, n,
			    rc);
			cr_assert_eq(memcmp(out, full, outsize), 0,
			    "%s: len %zu decodes differently", what, n);
		}
		free(q);
	}
	free(full);
	free(out);
}

/* --------------------------------------------------------- header vectors */

struct hdr_vec {
	const char *name;
	const uint8_t *dst, *src;
	uint8_t version, flags, error, cmd;
	uint16_t shelf;
	uint8_t slot;
	uint32_t tag;
	size_t len;
};

#define REQ(n, d, s, c, sh, sl, t, l) \
	{ n ".req", d, s, 1, 0, 0, c, sh, sl, t, l }
#define RSP(n, d, f, e, c, t, l) \
	{ n ".rsp", d, mac_target, 1, f, e, c, 3, 7, t, l }
#define R AOE_FLAG_RSP
#define RE (AOE_FLAG_RSP | AOE_FLAG_ERR)

static const struct hdr_vec hdr_vecs[] = {
	/* vblade's start-up advert (aoead) leaves the version nibble 0. */
	{ "cfg-advert.rsp", mac_bcast, mac_target, 0, R, 0, 1, 3, 7, 0, 32 },
	REQ("cfg-read-bcast", mac_bcast, mac_init, 1, 0xffff, 0xff,
	    0x80000001, 60),
	RSP("cfg-read-bcast", mac_init, R, 0, 1, 0x80000001, 32),
	REQ("ata-identify", mac_target, mac_init, 0, 3, 7, 0x80000002, 60),
	RSP("ata-identify", mac_init, R, 0, 0, 0x80000002, 548),
	REQ("ata-read48", mac_target, mac_init, 0, 3, 7, 0x80000003, 60),
	RSP("ata-read48", mac_init, R, 0, 0, 0x80000003, 1060),
	REQ("ata-read28", mac_target, mac_init, 0, 3, 7, 0x80000004, 60),
	RSP("ata-read28", mac_init, R, 0, 0, 0x80000004, 548),
	REQ("ata-write48", mac_target, mac_init, 0, 3, 7, 0x80000005, 1060),
	RSP("ata-write48", mac_init, R, 0, 0, 0x80000005, 60),
	REQ("ata-write28", mac_target, mac_init, 0, 3, 7, 0x80000006, 548),
	RSP("ata-write28", mac_init, R, 0, 0, 0x80000006, 60),
	RSP("ata-read-idnf", mac_init, R, 0, 0, 0x80000007, 36),
	RSP("ata-read-toomany", mac_init, RE, AOE_ERR_BADARG, 0,
	    0x80000008, 60),
	RSP("ata-flush", mac_init, R, 0, 0, 0x80000009, 60),
	RSP("ata-flush-ext", mac_init, R, 0, 0, 0x8000000a, 60),
	RSP("ata-checkpower", mac_init, R, 0, 0, 0x8000000b, 60),
	RSP("cfg-set", mac_init, R, 0, 1, 0x80000010, 45),
	RSP("cfg-set-conflict", mac_init, RE, AOE_ERR_CFG_SET, 1,
	    0x80000011, 45),
	RSP("cfg-test", mac_init, R, 0, 1, 0x80000012, 45),
	RSP("cfg-prefix", mac_init, R, 0, 1, 0x80000013, 45),
	RSP("cfg-read-str", mac_init, R, 0, 1, 0x80000014, 45),
	RSP("cfg-fset-empty", mac_init, R, 0, 1, 0x80000015, 32),
	RSP("mask-read", mac_init, R, 0, 2, 0x80000020, 28),
	RSP("mask-add", mac_init, R, 0, 2, 0x80000021, 44),
	RSP("mask-baddir", mac_init, R, 0, 2, 0x80000022, 28),
	RSP("resv-read", mac_init, R, 0, 3, 0x80000030, 26),
	RSP("resv-set", mac_init, R, 0, 3, 0x80000031, 32),
	REQ("ata-reserved", mac_target, mac_fake, 0, 3, 7, 0x80000032, 60),
	RSP("ata-reserved", mac_fake, RE, AOE_ERR_RESERVED, 0, 0x80000032,
	    60),
	RSP("resv-set-other", mac_fake, RE, AOE_ERR_RESERVED, 3, 0x80000033,
	    32),
	RSP("resv-release", mac_init, R, 0, 3, 0x80000034, 26),
	REQ("badcmd", mac_target, mac_init, 0xf0, 3, 7, 0x80000040, 60),
	RSP("badcmd", mac_init, RE, AOE_ERR_BADCMD, 0xf0, 0x80000040, 60),
	RSP("cfg-read-9000", mac_init, R, 0, 1, 0x80000050, 32),
	RSP("cfg-read-ro", mac_init, R, 0, 1, 0x80000060, 32),
	RSP("ata-write-ro", mac_init, R, 0, 0, 0x80000061, 60),
};

Test(vectors, headers)
{
	for (size_t i = 0; i < ARRAY_SIZE(hdr_vecs); i++) {
		const struct hdr_vec *v = &hdr_vecs[i];
		struct aoe_hdr h;
		uint8_t enc[AOE_HDR_LEN];

		load(v->name);
		cr_assert_eq(frame_len, v->len, "%s: %zu bytes", v->name,
		    frame_len);
		cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN,
		    "%s", v->name);
		cr_assert_eq(memcmp(h.dst, v->dst, 6), 0, "%s: dst", v->name);
		cr_assert_eq(memcmp(h.src, v->src, 6), 0, "%s: src", v->name);
		cr_assert_eq(h.version, v->version, "%s", v->name);
		cr_assert_eq(h.flags, v->flags, "%s: flags %#x", v->name,
		    h.flags);
		cr_assert_eq(h.error, v->error, "%s: error %u", v->name,
		    h.error);
		cr_assert_eq(h.shelf, v->shelf, "%s: shelf", v->name);
		cr_assert_eq(h.slot, v->slot, "%s: slot", v->name);
		cr_assert_eq(h.cmd, v->cmd, "%s: cmd", v->name);
		cr_assert_eq(h.tag, v->tag, "%s: tag %#x", v->name, h.tag);
		/* Re-encoding gives the captured bytes back. */
		cr_assert_eq(aoe_hdr_encode(enc, sizeof(enc), &h), AOE_HDR_LEN);
		cr_assert_eq(memcmp(enc, frame, AOE_HDR_LEN), 0, "%s",
		    v->name);
		check_truncations(v->name, frame, frame_len, dec_hdr,
		    sizeof(struct aoe_hdr));
	}
}

/* ---------------------------------------------------------- ATA vectors */

struct ata_vec {
	const char *name;
	struct aoe_ata a;
	bool err_any; /* vblade leaves the error register uninitialised */
};

static const struct ata_vec ata_vecs[] = {
	{ "ata-identify.req", { 0x00, 0, 1, 0xec, 0xa0000000 }, false },
	{ "ata-identify.rsp", { 0x00, 0, 0, 0x40, 0xa0000000 }, false },
	{ "ata-read48.req", { 0x40, 0, 2, 0x24, 100 }, false },
	{ "ata-read48.rsp", { 0x40, 0, 0, 0x40, 100 }, false },
	{ "ata-read28.req", { 0x00, 0, 1, 0x20, 0xe0000005 }, false },
	{ "ata-read28.rsp", { 0x00, 0, 0, 0x40, 0xe0000005 }, false },
	{ "ata-write48.req", { 0x41, 0, 2, 0x34, 200 }, false },
	/* vblade does not advance the LBA in its replies (aoe.c aoeata). */
	{ "ata-write48.rsp", { 0x41, 0, 0, 0x40, 200 }, false },
	{ "ata-write28.req", { 0x01, 0, 1, 0x30, 0xe0000006 }, false },
	{ "ata-write28.rsp", { 0x01, 0, 0, 0x40, 0xe0000006 }, false },
	/* Out of range: DRDY|ERR, IDNF, nothing transferred. */
	{ "ata-read-idnf.req", { 0x40, 0, 2, 0x24, 131071 }, false },
	{ "ata-read-idnf.rsp", { 0x40, 0x10, 2, 0x41, 131071 }, false },
	/* AoE error 2: the argument comes back unchanged. */
	{ "ata-read-toomany.rsp", { 0x40, 0, 3, 0x24, 0 }, false },
	/* FLUSH CACHE answers status 0; FLUSH CACHE EXT is aborted. */
	{ "ata-flush.rsp", { 0x00, 0, 0, 0x00, 0 }, true },
	{ "ata-flush-ext.rsp", { 0x40, 0x04, 0, 0x41, 0 }, false },
	{ "ata-checkpower.rsp", { 0x00, 0, 0xff, 0x40, 0 }, false },
	{ "ata-reserved.rsp", { 0x40, 0, 1, 0x24, 0 }, false },
	/* Read-only: the write fails with DRDY|ERR and ABRT. */
	{ "ata-write-ro.req", { 0x41, 0, 1, 0x34, 10 }, false },
	{ "ata-write-ro.rsp", { 0x41, 0x04, 1, 0x41, 10 }, false },
};

Test(vectors, ata)
{
	for (size_t i = 0; i < ARRAY_SIZE(ata_vecs); i++) {
		const struct ata_vec *v = &ata_vecs[i];
		struct aoe_ata a;
		uint8_t enc[AOE_ATA_HDR_LEN];

		load(v->name);
		memset(&a, 0xee, sizeof(a));
		cr_assert_eq(aoe_ata_decode(frame, frame_len, &a),
		    AOE_ATA_HDR_LEN, "%s", v->name);
		cr_assert_eq(a.aflags, v->a.aflags, "%s: aflags %#x", v->name,
		    a.aflags);
		cr_assert(v->err_any || a.err_feature == v->a.err_feature,
		    "%s: err %#x", v->name, a.err_feature);
		cr_assert_eq(a.scnt, v->a.scnt, "%s: scnt %u", v->name, a.scnt);
		cr_assert_eq(a.cmd_status, v->a.cmd_status, "%s: cmd %#x",
		    v->name, a.cmd_status);
		cr_assert_eq(a.lba, v->a.lba, "%s: lba %#llx", v->name,
		    (unsigned long long)a.lba);
		/* Header + argument re-encode to the captured 36 bytes. */
		memset(enc, 0x55, sizeof(enc));
		memcpy(enc, frame, AOE_HDR_LEN);
		cr_assert_eq(aoe_ata_encode(enc, sizeof(enc), &a),
		    AOE_ATA_HDR_LEN);
		cr_assert_eq(memcmp(enc, frame, AOE_ATA_HDR_LEN), 0, "%s",
		    v->name);
		check_truncations(v->name, frame, frame_len, dec_ata,
		    sizeof(struct aoe_ata));
	}
}

/* The data of the 2-sector read: sector n holds bytes (n + i) & 0xff. */
Test(vectors, ata_read_data)
{
	load("ata-read48.rsp");
	cr_assert_eq(frame_len, AOE_ATA_HDR_LEN + 2 * 512);
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < 512; i++) {
			cr_assert_eq(frame[AOE_ATA_HDR_LEN + s * 512 + i],
			    (uint8_t)(100 + s + i));
		}
	}
	load("ata-read28.rsp");
	cr_assert_eq(frame_len, AOE_ATA_HDR_LEN + 512);
	for (size_t i = 0; i < 512; i++) {
		cr_assert_eq(frame[AOE_ATA_HDR_LEN + i], (uint8_t)(5 + i));
	}
}

/* ------------------------------------------------------- config vectors */

struct cfg_vec {
	const char *name;
	uint16_t bufcnt, fwver;
	uint8_t scnt, ccmd;
	const char *str;
};

static const struct cfg_vec cfg_vecs[] = {
	{ "cfg-advert.rsp", 16, 0x4019, 2, AOE_CCMD_READ, "" },
	{ "cfg-read-bcast.req", 0, 0, 0, AOE_CCMD_READ, "" },
	{ "cfg-read-bcast.rsp", 16, 0x4019, 2, AOE_CCMD_READ, "" },
	{ "cfg-set.req", 0, 0, 0, AOE_CCMD_SET, "codec-vectors" },
	{ "cfg-set.rsp", 16, 0x4019, 2, AOE_CCMD_SET, "codec-vectors" },
	{ "cfg-set-conflict.req", 0, 0, 0, AOE_CCMD_SET, "other" },
	/* Refused (error 4): the reply carries the string already set. */
	{ "cfg-set-conflict.rsp", 16, 0x4019, 2, AOE_CCMD_SET,
	    "codec-vectors" },
	{ "cfg-test.rsp", 16, 0x4019, 2, AOE_CCMD_TEST, "codec-vectors" },
	{ "cfg-prefix.req", 0, 0, 0, AOE_CCMD_PREFIX, "codec" },
	{ "cfg-prefix.rsp", 16, 0x4019, 2, AOE_CCMD_PREFIX,
	    "codec-vectors" },
	{ "cfg-read-str.rsp", 16, 0x4019, 2, AOE_CCMD_READ,
	    "codec-vectors" },
	{ "cfg-fset-empty.rsp", 16, 0x4019, 2, AOE_CCMD_FSET, "" },
	/* (9000 - 36) / 512 = 17 sectors at MTU 9000. */
	{ "cfg-read-9000.rsp", 16, 0x4019, 17, AOE_CCMD_READ, "" },
	{ "cfg-read-ro.rsp", 16, 0x4019, 2, AOE_CCMD_READ, "" },
};

Test(vectors, cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(cfg_vecs); i++) {
		const struct cfg_vec *v = &cfg_vecs[i];
		size_t slen = strlen(v->str);
		struct aoe_cfg *c = calloc(1, sizeof(*c));
		uint8_t enc[AOE_CFG_HDR_LEN + AOE_CFG_STR_MAX];

		cr_assert_not_null(c);
		load(v->name);
		cr_assert_eq(aoe_cfg_decode(frame, frame_len, c),
		    (int)(AOE_CFG_HDR_LEN + slen), "%s", v->name);
		cr_assert_eq(c->bufcnt, v->bufcnt, "%s: bufcnt", v->name);
		cr_assert_eq(c->fwver, v->fwver, "%s: fwver", v->name);
		cr_assert_eq(c->scnt, v->scnt, "%s: scnt", v->name);
		cr_assert_eq(c->aoever, AOE_VERSION, "%s: aoever", v->name);
		cr_assert_eq(c->ccmd, v->ccmd, "%s: ccmd", v->name);
		cr_assert_eq(c->len, slen, "%s: len", v->name);
		cr_assert_eq(memcmp(c->str, v->str, slen), 0, "%s", v->name);
		if (v->scnt != 0) {
			cr_assert_eq(aoe_cfg_scnt(c), v->scnt);
		}
		memcpy(enc, frame, AOE_HDR_LEN);
		cr_assert_eq(aoe_cfg_encode(enc, sizeof(enc), c),
		    (int)(AOE_CFG_HDR_LEN + slen));
		cr_assert_eq(memcmp(enc, frame, AOE_CFG_HDR_LEN + slen), 0,
		    "%s", v->name);
		check_truncations(v->name, frame, frame_len, dec_cfg,
		    sizeof(struct aoe_cfg));
		free(c);
	}
}

/* --------------------------------------------------- mask and reserve */

Test(vectors, mask)
{
	struct aoe_mask *m = calloc(1, sizeof(*m));
	uint8_t enc[64];

	cr_assert_not_null(m);
	load("mask-read.rsp");
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m), AOE_MASK_HDR_LEN);
	cr_assert_eq(m->mcmd, AOE_MCMD_READ);
	cr_assert_eq(m->merror, 0);
	cr_assert_eq(m->ndir, 0);
	check_truncations("mask-read.rsp", frame, frame_len, dec_mask,
	    sizeof(*m));

	load("mask-add.req");
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m),
	    AOE_MASK_HDR_LEN + 16);
	cr_assert_eq(m->mcmd, AOE_MCMD_EDIT);
	cr_assert_eq(m->ndir, 2);
	cr_assert_eq(m->dir[0].dcmd, AOE_DCMD_ADD);
	cr_assert_eq(memcmp(m->dir[0].mac, mac_init, 6), 0);
	cr_assert_eq(m->dir[1].dcmd, AOE_DCMD_ADD);
	cr_assert_eq(memcmp(m->dir[1].mac, mac_fake, 6), 0);
	memcpy(enc, frame, AOE_HDR_LEN);
	cr_assert_eq(aoe_mask_encode(enc, sizeof(enc), m),
	    AOE_MASK_HDR_LEN + 16);
	cr_assert_eq(aoe_pad(enc, AOE_MASK_HDR_LEN + 16), frame_len);
	cr_assert_eq(memcmp(enc, frame, frame_len), 0);
	check_truncations("mask-add.req", frame, frame_len, dec_mask,
	    sizeof(*m));

	/* Success returns the whole list, directives with dcmd 0. */
	load("mask-add.rsp");
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m),
	    AOE_MASK_HDR_LEN + 16);
	cr_assert_eq(m->mcmd, AOE_MCMD_EDIT);
	cr_assert_eq(m->merror, 0);
	cr_assert_eq(m->ndir, 2);
	cr_assert_eq(m->dir[0].dcmd, AOE_DCMD_NONE);
	cr_assert_eq(memcmp(m->dir[0].mac, mac_init, 6), 0);
	cr_assert_eq(m->dir[1].dcmd, AOE_DCMD_NONE);
	cr_assert_eq(memcmp(m->dir[1].mac, mac_fake, 6), 0);
	memcpy(enc, frame, AOE_HDR_LEN);
	cr_assert_eq(aoe_mask_encode(enc, sizeof(enc), m), (int)frame_len);
	cr_assert_eq(memcmp(enc, frame, frame_len), 0);
	check_truncations("mask-add.rsp", frame, frame_len, dec_mask,
	    sizeof(*m));

	/*
	 * A bad directive (dcmd 7 at index 1): merror 2, dircount = the
	 * index, and no directives in the 28-byte reply.
	 */
	load("mask-baddir.rsp");
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m), AOE_MASK_HDR_LEN);
	cr_assert_eq(m->mcmd, AOE_MCMD_EDIT);
	cr_assert_eq(m->merror, AOE_MERR_BADDIR);
	cr_assert_eq(m->ndir, 1);
	cr_assert_eq(m->dir[0].dcmd, 0);
	cr_assert_eq(memcmp(m->dir[0].mac, "\0\0\0\0\0\0", 6), 0);
	check_truncations("mask-baddir.rsp", frame, frame_len, dec_mask,
	    sizeof(*m));
	free(m);
}

Test(vectors, resv)
{
	struct resv_vec {
		const char *name;
		uint8_t rcmd, nmacs;
		const uint8_t *mac;
	} vecs[] = {
		{ "resv-read.req", AOE_RCMD_READ, 0, NULL },
		{ "resv-read.rsp", AOE_RCMD_READ, 0, NULL },
		{ "resv-set.req", AOE_RCMD_SET, 1, mac_init },
		{ "resv-set.rsp", AOE_RCMD_SET, 1, mac_init },
		/* Refused with error 6: the reply carries the current list. */
		{ "resv-set-other.req", AOE_RCMD_SET, 1, mac_fake },
		{ "resv-set-other.rsp", AOE_RCMD_SET, 1, mac_init },
		{ "resv-release.req", AOE_RCMD_SET, 0, NULL },
		{ "resv-release.rsp", AOE_RCMD_SET, 0, NULL },
	};
	struct aoe_resv *r = calloc(1, sizeof(*r));
	uint8_t enc[64];

	cr_assert_not_null(r);
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		const struct resv_vec *v = &vecs[i];
		int want = AOE_RESV_HDR_LEN + 6 * v->nmacs;

		load(v->name);
		cr_assert_eq(aoe_resv_decode(frame, frame_len, r), want, "%s",
		    v->name);
		cr_assert_eq(r->rcmd, v->rcmd, "%s", v->name);
		cr_assert_eq(r->nmacs, v->nmacs, "%s", v->name);
		if (v->mac) {
			cr_assert_eq(memcmp(r->macs[0], v->mac, 6), 0, "%s",
			    v->name);
		}
		memcpy(enc, frame, AOE_HDR_LEN);
		cr_assert_eq(aoe_resv_encode(enc, sizeof(enc), r), want);
		cr_assert_eq(memcmp(enc, frame, (size_t)want), 0, "%s",
		    v->name);
		check_truncations(v->name, frame, frame_len, dec_resv,
		    sizeof(*r));
	}
	free(r);
}

/* Error replies and their errno; an unknown command echoes the frame. */
Test(vectors, errors)
{
	struct aoe_hdr h;
	uint8_t req[FRAME_MAX];
	size_t req_len;

	load("ata-read-toomany.rsp");
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN);
	cr_assert_eq(aoe_error_errno(h.error), -EINVAL);
	load("cfg-set-conflict.rsp");
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN);
	cr_assert_eq(aoe_error_errno(h.error), -EEXIST);
	load("ata-reserved.rsp");
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN);
	cr_assert_eq(aoe_error_errno(h.error), -EACCES);

	cr_assert_eq(hexvec_load_name("badcmd.req", req, sizeof(req),
	    &req_len), 0);
	load("badcmd.rsp");
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN);
	cr_assert_eq(aoe_error_errno(h.error), -EOPNOTSUPP);
	cr_assert_str_eq(aoe_cmd_str(h.cmd), "vendor");
	cr_assert_eq(frame_len, req_len);
	cr_assert_eq(memcmp(frame + AOE_HDR_LEN, req + AOE_HDR_LEN,
	    req_len - AOE_HDR_LEN), 0);
}

/* Requests we build from scratch equal the ones vblade answered. */
Test(vectors, build_requests)
{
	struct aoe_hdr h = {
		.version = AOE_VERSION,
		.shelf = AOE_SHELF_ANY,
		.slot = AOE_SLOT_ANY,
		.cmd = AOE_CMD_CFG,
		.tag = AOE_TAG_USER | 1,
	};
	struct aoe_cfg *c = calloc(1, sizeof(*c));
	struct aoe_resv *r = calloc(1, sizeof(*r));
	uint8_t buf[AOE_MIN_FRAME];
	int n;

	cr_assert(c && r);
	memcpy(h.dst, mac_bcast, 6);
	memcpy(h.src, mac_init, 6);
	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_hdr_encode(buf, sizeof(buf), &h), AOE_HDR_LEN);
	c->aoever = AOE_VERSION;
	c->ccmd = AOE_CCMD_READ;
	n = aoe_cfg_encode(buf, sizeof(buf), c);
	cr_assert_eq(n, AOE_CFG_HDR_LEN);
	cr_assert_eq(aoe_pad(buf, (size_t)n), AOE_MIN_FRAME);
	load("cfg-read-bcast.req");
	cr_assert_eq(frame_len, AOE_MIN_FRAME);
	cr_assert_eq(memcmp(buf, frame, AOE_MIN_FRAME), 0);

	memcpy(h.dst, mac_target, 6);
	h.shelf = 3;
	h.slot = 7;
	h.cmd = AOE_CMD_RESV;
	h.tag = 0x80000031;
	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_hdr_encode(buf, sizeof(buf), &h), AOE_HDR_LEN);
	r->rcmd = AOE_RCMD_SET;
	r->nmacs = 1;
	memcpy(r->macs[0], mac_init, 6);
	n = aoe_resv_encode(buf, sizeof(buf), r);
	cr_assert_eq(n, AOE_RESV_HDR_LEN + 6);
	cr_assert_eq(aoe_pad(buf, (size_t)n), AOE_MIN_FRAME);
	load("resv-set.req");
	cr_assert_eq(memcmp(buf, frame, AOE_MIN_FRAME), 0);
	free(c);
	free(r);
}

/* ----------------------------------------------------------- round trips */

Test(roundtrip, hdr)
{
	/* Static, so that padding compares equal too. */
	static const struct aoe_hdr in = {
		.dst = { 1, 2, 3, 4, 5, 6 },
		.src = { 0xa, 0xb, 0xc, 0xd, 0xe, 0xf },
		.version = 1,
		.flags = AOE_FLAG_RSP | AOE_FLAG_ERR,
		.error = 6,
		.shelf = 0xfffe,
		.slot = 0xfe,
		.cmd = 0xf3,
		.tag = 0xdeadbeef,
	};
	struct aoe_hdr out;
	uint8_t *buf = malloc(AOE_HDR_LEN);

	cr_assert_not_null(buf);
	cr_assert_eq(aoe_hdr_encode(buf, AOE_HDR_LEN, &in), AOE_HDR_LEN);
	cr_assert_eq(buf[12], 0x88);
	cr_assert_eq(buf[13], 0xa2);
	cr_assert_eq(buf[14], 0x1c);
	memset(&out, 0, sizeof(out));
	cr_assert_eq(aoe_hdr_decode(buf, AOE_HDR_LEN, &out), AOE_HDR_LEN);
	cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
	free(buf);
}

Test(roundtrip, ata)
{
	static const struct aoe_ata vals[] = {
		{ 0, 0, 0, 0, 0 },
		{ 0x41, 0x12, 255, 0x34, 0xffffffffffffULL },
		{ 0x13, 0xff, 1, 0xec, 0x0000a0000000ULL },
		{ 0x40, 0x00, 17, 0x24, 0x123456789abcULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		uint8_t *buf = malloc(AOE_ATA_HDR_LEN);
		struct aoe_ata out;

		cr_assert_not_null(buf);
		memset(buf, 0xee, AOE_ATA_HDR_LEN);
		cr_assert_eq(aoe_ata_encode(buf, AOE_ATA_HDR_LEN, &vals[i]),
		    AOE_ATA_HDR_LEN);
		/* Reserved bytes are zero; the LBA is little-endian. */
		cr_assert_eq(buf[34], 0);
		cr_assert_eq(buf[35], 0);
		cr_assert_eq(buf[28], (uint8_t)vals[i].lba);
		cr_assert_eq(buf[33], (uint8_t)(vals[i].lba >> 40));
		memset(&out, 0, sizeof(out));
		cr_assert_eq(aoe_ata_decode(buf, AOE_ATA_HDR_LEN, &out),
		    AOE_ATA_HDR_LEN);
		cr_assert_eq(memcmp(&out, &vals[i], sizeof(out)), 0);
		free(buf);
	}
}

Test(roundtrip, cfg)
{
	static const uint16_t lens[] = { 0, 1, 28, 1023, AOE_CFG_STR_MAX };
	struct aoe_cfg *in = calloc(1, sizeof(*in));
	struct aoe_cfg *out = calloc(1, sizeof(*out));

	cr_assert(in && out);
	in->bufcnt = 0x1234;
	in->fwver = 0x4019;
	in->scnt = 17;
	in->aoever = 1;
	in->ccmd = AOE_CCMD_FSET;
	for (size_t i = 0; i < AOE_CFG_STR_MAX; i++)
		in->str[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		size_t n = AOE_CFG_HDR_LEN + lens[i];
		uint8_t *buf = malloc(n);

		cr_assert_not_null(buf);
		in->len = lens[i];
		cr_assert_eq(aoe_cfg_encode(buf, n, in), (int)n);
		memset(out, 0, sizeof(*out));
		cr_assert_eq(aoe_cfg_decode(buf, n, out), (int)n);
		cr_assert_eq(out->bufcnt, in->bufcnt);
		cr_assert_eq(out->fwver, in->fwver);
		cr_assert_eq(out->scnt, in->scnt);
		cr_assert_eq(out->aoever, in->aoever);
		cr_assert_eq(out->ccmd, in->ccmd);
		cr_assert_eq(out->len, in->len);
		cr_assert_eq(memcmp(out->str, in->str, in->len), 0);
		/* One byte short of room: refused, nothing written past. */
		cr_assert_eq(aoe_cfg_encode(buf, n - 1, in), -ENOBUFS);
		free(buf);
	}
	free(in);
	free(out);
}

Test(roundtrip, mask)
{
	struct aoe_mask *in = calloc(1, sizeof(*in));
	struct aoe_mask *out = calloc(1, sizeof(*out));
	size_t n = AOE_MASK_HDR_LEN + 8 * AOE_MASK_MAX;
	uint8_t *buf = malloc(n);

	cr_assert(in && out && buf);
	in->mcmd = AOE_MCMD_EDIT;
	in->merror = 0;
	in->ndir = AOE_MASK_MAX;
	for (size_t i = 0; i < AOE_MASK_MAX; i++) {
		in->dir[i].dcmd = (uint8_t)(i % 3);
		for (size_t j = 0; j < 6; j++)
			in->dir[i].mac[j] = (uint8_t)(i + j);
	}
	cr_assert_eq(aoe_mask_encode(buf, n, in), (int)n);
	cr_assert_eq(aoe_mask_decode(buf, n, out), (int)n);
	cr_assert_eq(memcmp(in, out, sizeof(*in)), 0);
	cr_assert_eq(aoe_mask_encode(buf, n - 1, in), -ENOBUFS);
	check_truncations("mask 255", buf, n, dec_mask, sizeof(*in));
	free(in);
	free(out);
	free(buf);
}

Test(roundtrip, resv)
{
	struct aoe_resv *in = calloc(1, sizeof(*in));
	struct aoe_resv *out = calloc(1, sizeof(*out));
	size_t n = AOE_RESV_HDR_LEN + 6 * AOE_RESV_MAX;
	uint8_t *buf = malloc(n);

	cr_assert(in && out && buf);
	in->rcmd = AOE_RCMD_FSET;
	in->nmacs = AOE_RESV_MAX;
	for (size_t i = 0; i < AOE_RESV_MAX; i++) {
		for (size_t j = 0; j < 6; j++)
			in->macs[i][j] = (uint8_t)(i * j + 1);
	}
	cr_assert_eq(aoe_resv_encode(buf, n, in), (int)n);
	cr_assert_eq(aoe_resv_decode(buf, n, out), (int)n);
	cr_assert_eq(memcmp(in, out, sizeof(*in)), 0);
	cr_assert_eq(aoe_resv_encode(buf, n - 1, in), -ENOBUFS);
	check_truncations("resv 255", buf, n, dec_resv, sizeof(*in));
	free(in);
	free(out);
	free(buf);
}

/* ------------------------------------------------------------ bad values */

Test(bad, ethertype)
{
	struct aoe_hdr h;

	load("cfg-read-bcast.rsp");
	frame[13] = 0x00; /* 0x8800 */
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), -EPROTO);
	frame[12] = 0x08; /* IPv4 */
	cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), -EPROTO);
	/* Too short wins over a wrong type. */
	cr_assert_eq(aoe_hdr_decode(frame, AOE_HDR_LEN - 1, &h), -EMSGSIZE);
}

Test(bad, cfg_len)
{
	size_t n = AOE_CFG_HDR_LEN + 2000;
	uint8_t *buf = calloc(1, n);
	struct aoe_cfg *c = calloc(1, sizeof(*c));

	cr_assert(buf && c);
	load("cfg-read-bcast.rsp");
	memcpy(buf, frame, AOE_CFG_HDR_LEN);
	/* 1024 is the largest string; 1025 overflows however long the frame. */
	put_be16(buf + 30, AOE_CFG_STR_MAX);
	cr_assert_eq(aoe_cfg_decode(buf, n, c), AOE_CFG_HDR_LEN + 1024);
	cr_assert_eq(aoe_cfg_decode(buf, AOE_CFG_HDR_LEN + 1023, c),
	    -EMSGSIZE);
	put_be16(buf + 30, AOE_CFG_STR_MAX + 1);
	cr_assert_eq(aoe_cfg_decode(buf, n, c), -EOVERFLOW);
	put_be16(buf + 30, 0xffff);
	cr_assert_eq(aoe_cfg_decode(buf, n, c), -EOVERFLOW);
	/* A length beyond the frame, in a frame as short as vblade's. */
	put_be16(buf + 30, 1);
	cr_assert_eq(aoe_cfg_decode(buf, AOE_CFG_HDR_LEN, c), -EMSGSIZE);

	c->len = AOE_CFG_STR_MAX + 1;
	cr_assert_eq(aoe_cfg_encode(buf, n, c), -EOVERFLOW);
	c->len = 0xffff;
	cr_assert_eq(aoe_cfg_encode(buf, n, c), -EOVERFLOW);
	c->len = 0;
	cr_assert_eq(aoe_cfg_encode(buf, AOE_CFG_HDR_LEN - 1, c), -ENOBUFS);
	free(buf);
	free(c);
}

Test(bad, ata_lba)
{
	struct aoe_ata a = { .lba = 1ULL << 48 };
	uint8_t buf[AOE_ATA_HDR_LEN];

	cr_assert_eq(aoe_ata_encode(buf, sizeof(buf), &a), -ERANGE);
	a.lba = UINT64_MAX;
	cr_assert_eq(aoe_ata_encode(buf, sizeof(buf), &a), -ERANGE);
	a.lba = (1ULL << 48) - 1;
	cr_assert_eq(aoe_ata_encode(buf, sizeof(buf), &a), AOE_ATA_HDR_LEN);
	cr_assert_eq(aoe_ata_encode(buf, sizeof(buf) - 1, &a), -ENOBUFS);
}

Test(bad, small_caps)
{
	struct aoe_hdr h = { .version = 1 };
	struct aoe_mask *m = calloc(1, sizeof(*m));
	struct aoe_resv *r = calloc(1, sizeof(*r));
	uint8_t buf[AOE_MIN_FRAME];

	cr_assert(m && r);
	cr_assert_eq(aoe_hdr_encode(buf, AOE_HDR_LEN - 1, &h), -ENOBUFS);
	cr_assert_eq(aoe_hdr_encode(buf, 0, &h), -ENOBUFS);
	cr_assert_eq(aoe_mask_encode(buf, AOE_MASK_HDR_LEN - 1, m), -ENOBUFS);
	m->ndir = 4;
	cr_assert_eq(aoe_mask_encode(buf, AOE_MASK_HDR_LEN + 31, m),
	    -ENOBUFS);
	cr_assert_eq(aoe_resv_encode(buf, AOE_RESV_HDR_LEN - 1, r), -ENOBUFS);
	r->nmacs = 3;
	cr_assert_eq(aoe_resv_encode(buf, AOE_RESV_HDR_LEN + 17, r),
	    -ENOBUFS);
	free(m);
	free(r);
}

/* Without merror, a dircount beyond the frame is a short frame. */
Test(bad, mask_short)
{
	struct aoe_mask *m = calloc(1, sizeof(*m));

	cr_assert_not_null(m);
	load("mask-add.rsp");
	frame[27] = 3;
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m), -EMSGSIZE);
	/* With merror set, only the directives present are decoded. */
	frame[26] = AOE_MERR_FULL;
	cr_assert_eq(aoe_mask_decode(frame, frame_len, m),
	    AOE_MASK_HDR_LEN + 16);
	cr_assert_eq(m->ndir, 3);
	cr_assert_eq(memcmp(m->dir[1].mac, mac_fake, 6), 0);
	cr_assert_eq(memcmp(m->dir[2].mac, "\0\0\0\0\0\0", 6), 0);
	/* Truncated, it decodes fewer directives, never reads past. */
	for (size_t n = 0; n <= frame_len; n++) {
		uint8_t *q = exact_copy(frame, n);
		int want = n < AOE_MASK_HDR_LEN ? -EMSGSIZE :
		    (int)(AOE_MASK_HDR_LEN + (n - AOE_MASK_HDR_LEN) / 8 * 8);

		memset(m, 0xee, sizeof(*m));
		cr_assert_eq(aoe_mask_decode(q, n, m), want, "len %zu", n);
		if (want > 0) {
			cr_assert_eq(m->ndir, 3);
			cr_assert_eq(m->merror, AOE_MERR_FULL);
			cr_assert_eq(m->dir[2].dcmd, 0);
		}
		free(q);
	}
	free(m);
}

Test(bad, resv_short)
{
	struct aoe_resv *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	load("resv-set.rsp");
	frame[25] = 2;
	cr_assert_eq(aoe_resv_decode(frame, frame_len, r), -EMSGSIZE);
	frame[25] = 255;
	cr_assert_eq(aoe_resv_decode(frame, frame_len, r), -EMSGSIZE);
	free(r);
}

/* ------------------------------------------------------------ small ones */

Test(misc, pad)
{
	uint8_t buf[100];

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_pad(buf, 32), AOE_MIN_FRAME);
	for (size_t i = 32; i < AOE_MIN_FRAME; i++)
		cr_assert_eq(buf[i], 0);
	cr_assert_eq(buf[31], 0xee);
	cr_assert_eq(buf[AOE_MIN_FRAME], 0xee);
	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_pad(buf, 0), AOE_MIN_FRAME);
	cr_assert_eq(buf[0], 0);
	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_pad(buf, AOE_MIN_FRAME), AOE_MIN_FRAME);
	cr_assert_eq(aoe_pad(buf, 100), 100);
	cr_assert_eq(buf[59], 0xee);
}

Test(misc, error_errno)
{
	static const struct {
		uint8_t error;
		int err;
	} tab[] = {
		{ 0, -EIO },
		{ AOE_ERR_BADCMD, -EOPNOTSUPP },
		{ AOE_ERR_BADARG, -EINVAL },
		{ AOE_ERR_DEVUNAVAIL, -ENXIO },
		{ AOE_ERR_CFG_SET, -EEXIST },
		{ AOE_ERR_BADVER, -EPROTONOSUPPORT },
		{ AOE_ERR_RESERVED, -EACCES },
		{ 7, -EIO },
		{ 255, -EIO },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		cr_assert_eq(aoe_error_errno(tab[i].error), tab[i].err,
		    "error %u", tab[i].error);
	}
	for (unsigned e = 0; e < 256; e++) {
		const char *s = aoe_error_str((uint8_t)e);

		cr_assert(s != NULL && *s != '\0');
	}
	cr_assert_str_eq(aoe_error_str(AOE_ERR_RESERVED),
	    "target is reserved");
	cr_assert_str_eq(aoe_error_str(AOE_ERR_CFG_SET),
	    "config string present");
}

Test(misc, names)
{
	cr_assert_str_eq(aoe_cmd_str(AOE_CMD_ATA), "ATA");
	cr_assert_str_eq(aoe_cmd_str(AOE_CMD_CFG), "config");
	cr_assert_str_eq(aoe_cmd_str(AOE_CMD_MASK), "mask");
	cr_assert_str_eq(aoe_cmd_str(AOE_CMD_RESV), "reserve");
	cr_assert_str_eq(aoe_cmd_str(4), "unknown");
	cr_assert_str_eq(aoe_cmd_str(0xef), "unknown");
	cr_assert_str_eq(aoe_cmd_str(0xf0), "vendor");
	cr_assert_str_eq(aoe_cmd_str(0xff), "vendor");
	cr_assert_str_eq(aoe_ccmd_str(AOE_CCMD_READ), "read");
	cr_assert_str_eq(aoe_ccmd_str(AOE_CCMD_TEST), "test");
	cr_assert_str_eq(aoe_ccmd_str(AOE_CCMD_PREFIX), "prefix");
	cr_assert_str_eq(aoe_ccmd_str(AOE_CCMD_SET), "set");
	cr_assert_str_eq(aoe_ccmd_str(AOE_CCMD_FSET), "fset");
	cr_assert_str_eq(aoe_ccmd_str(5), "unknown");
}

Test(misc, cfg_scnt)
{
	struct aoe_cfg *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	cr_assert_eq(aoe_cfg_scnt(c), 2);
	c->scnt = 1;
	cr_assert_eq(aoe_cfg_scnt(c), 1);
	c->scnt = 17;
	cr_assert_eq(aoe_cfg_scnt(c), 17);
	free(c);
}

/* ------------------------------------------------------------- hexvec */

static void
write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

Test(hexvec, load)
{
	char path[] = "/tmp/unit_aoe.XXXXXX";
	uint8_t buf[8];
	size_t n = 99;

	write_tmp(path, "# comment 0x12 zz\n0a Bc\tdEf0 # more\r\n  01\n");
	cr_assert_eq(hexvec_load(path, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(buf, "\x0a\xbc\xde\xf0\x01", 5), 0);
	cr_assert_eq(hexvec_load(path, buf, 4, &n), -ENOBUFS);
	unlink(path);

	strcpy(path, "/tmp/unit_aoe.XXXXXX");
	write_tmp(path, "0a b\n");
	cr_assert_eq(hexvec_load(path, buf, sizeof(buf), &n), -EINVAL);
	unlink(path);
	strcpy(path, "/tmp/unit_aoe.XXXXXX");
	write_tmp(path, "0g\n");
	cr_assert_eq(hexvec_load(path, buf, sizeof(buf), &n), -EINVAL);
	unlink(path);
	strcpy(path, "/tmp/unit_aoe.XXXXXX");
	write_tmp(path, "");
	cr_assert_eq(hexvec_load(path, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 0);
	unlink(path);
	cr_assert_eq(hexvec_load("/nonexistent/x.hex", buf, sizeof(buf), &n),
	    -ENOENT);
	cr_assert_eq(hexvec_load_name("no-such-vector", buf, sizeof(buf), &n),
	    -ENOENT);
}
