/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the AoE and ATA codec (src/aoe.h, src/ata.h): the
 * input is one received frame, handed to every decoder.  Results are checked
 * against the byte layout read independently here, and whatever decodes is
 * re-encoded and must decode to the same struct.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "aoe.h"
#include "ata.h"

/* Reference readers, independent of util.h. */
static unsigned
rd16be(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint64_t
rdle(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

static unsigned
word(const uint8_t *p, unsigned w)
{
	return (unsigned)rdle(p + 2 * w, 2);
}

/* ------------------------------------------------------------ header */

static void
hdr_expect_eq(const struct aoe_hdr *a, const struct aoe_hdr *b)
{
	CHECK(memcmp(a->dst, b->dst, 6) == 0);
	CHECK(memcmp(a->src, b->src, 6) == 0);
	CHECK(a->version == b->version);
	CHECK(a->flags == b->flags);
	CHECK(a->error == b->error);
	CHECK(a->shelf == b->shelf);
	CHECK(a->slot == b->slot);
	CHECK(a->cmd == b->cmd);
	CHECK(a->tag == b->tag);
}

static void
check_hdr(const uint8_t *p, size_t len)
{
	struct aoe_hdr h, h2;
	uint8_t buf[AOE_HDR_LEN];
	int n;

	n = aoe_hdr_decode(p, len, &h);
	if (len < AOE_HDR_LEN) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	if (rd16be(p + 12) != AOE_ETHERTYPE) {
		CHECK(n == -EPROTO);
		return;
	}
	CHECK(n == AOE_HDR_LEN);
	CHECK(memcmp(h.dst, p, 6) == 0 && memcmp(h.src, p + 6, 6) == 0);
	CHECK(h.version == p[14] >> 4 && h.flags == (p[14] & 0x0f));
	CHECK(h.error == p[15] && h.shelf == rd16be(p + 16));
	CHECK(h.slot == p[18] && h.cmd == p[19]);
	CHECK(h.tag == ((uint32_t)rd16be(p + 20) << 16 | rd16be(p + 22)));

	CHECK(aoe_hdr_encode(buf, sizeof(buf) - 1, &h) == -ENOBUFS);
	CHECK(aoe_hdr_encode(buf, sizeof(buf), &h) == AOE_HDR_LEN);
	CHECK(memcmp(buf, p, AOE_HDR_LEN) == 0);
	CHECK(aoe_hdr_decode(buf, sizeof(buf), &h2) == AOE_HDR_LEN);
	hdr_expect_eq(&h, &h2);

	CHECK(aoe_cmd_str(h.cmd) != NULL);
	CHECK(aoe_error_str(h.error) != NULL);
	CHECK(aoe_error_errno(h.error) < 0);
}

/* ------------------------------------------------------------ ATA */

static void
check_ata(const uint8_t *p, size_t len)
{
	struct aoe_ata a, a2;
	uint8_t buf[AOE_ATA_HDR_LEN];
	int n, rc;

	n = aoe_ata_decode(p, len, &a);
	if (len < AOE_ATA_HDR_LEN) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	CHECK(n == AOE_ATA_HDR_LEN);
	CHECK(a.aflags == p[24] && a.err_feature == p[25]);
	CHECK(a.scnt == p[26] && a.cmd_status == p[27]);
	CHECK(a.lba == rdle(p + 28, 6));

	memcpy(buf, p, AOE_HDR_LEN);
	CHECK(aoe_ata_encode(buf, sizeof(buf) - 1, &a) == -ENOBUFS);
	CHECK(aoe_ata_encode(buf, sizeof(buf), &a) == AOE_ATA_HDR_LEN);
	CHECK(memcmp(buf, p, 34) == 0);
	CHECK(buf[34] == 0 && buf[35] == 0);
	CHECK(aoe_ata_decode(buf, sizeof(buf), &a2) == AOE_ATA_HDR_LEN);
	CHECK(a2.aflags == a.aflags && a2.err_feature == a.err_feature);
	CHECK(a2.scnt == a.scnt && a2.cmd_status == a.cmd_status);
	CHECK(a2.lba == a.lba);
	a2.lba |= 1ULL << 48;
	CHECK(aoe_ata_encode(buf, sizeof(buf), &a2) == -ERANGE);

	/* The status mapping of ata.h, as a table. */
	rc = ata_status_errno(a.cmd_status, a.err_feature,
	    a.aflags & AOE_AFLAG_WRITE);
	if (!(a.cmd_status & ATA_ST_BAD))
		CHECK(rc == 0);
	else
		CHECK(rc == -EIO || rc == -ENOSPC || rc == -EROFS ||
		    rc == -EOPNOTSUPP);
	if (len >= AOE_ATA_HDR_LEN + 512) {
		struct ata_ident id;

		rc = ata_ident_parse(p + AOE_ATA_HDR_LEN,
		    len - AOE_ATA_HDR_LEN, &id);
		CHECK(rc == 0 || rc == -EPROTO);
	}
}

/* ------------------------------------------------------------ config */

static struct aoe_cfg cfg1, cfg2;
static uint8_t cbuf[AOE_CFG_HDR_LEN + AOE_CFG_STR_MAX];

static void
check_cfg(const uint8_t *p, size_t len)
{
	size_t slen;
	int n;

	n = aoe_cfg_decode(p, len, &cfg1);
	if (len < AOE_CFG_HDR_LEN) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	slen = rd16be(p + 30);
	if (slen > AOE_CFG_STR_MAX) {
		CHECK(n == -EOVERFLOW);
		return;
	}
	if (len - AOE_CFG_HDR_LEN < slen) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	CHECK(n == (int)(AOE_CFG_HDR_LEN + slen));
	CHECK(cfg1.bufcnt == rd16be(p + 24) && cfg1.fwver == rd16be(p + 26));
	CHECK(cfg1.scnt == p[28]);
	CHECK(cfg1.aoever == p[29] >> 4 && cfg1.ccmd == (p[29] & 0x0f));
	CHECK(cfg1.len == slen);
	CHECK(memcmp(cfg1.str, p + AOE_CFG_HDR_LEN, slen) == 0);
	CHECK(aoe_cfg_scnt(&cfg1) >= 1 && aoe_cfg_scnt(&cfg1) <= 255);
	CHECK(aoe_ccmd_str(cfg1.ccmd) != NULL);

	memcpy(cbuf, p, AOE_HDR_LEN);
	CHECK(aoe_cfg_encode(cbuf, (size_t)n - 1, &cfg1) == -ENOBUFS);
	CHECK(aoe_cfg_encode(cbuf, (size_t)n, &cfg1) == n);
	CHECK(memcmp(cbuf, p, (size_t)n) == 0);
	CHECK(aoe_cfg_decode(cbuf, (size_t)n, &cfg2) == n);
	CHECK(cfg2.bufcnt == cfg1.bufcnt && cfg2.fwver == cfg1.fwver);
	CHECK(cfg2.scnt == cfg1.scnt && cfg2.aoever == cfg1.aoever);
	CHECK(cfg2.ccmd == cfg1.ccmd && cfg2.len == cfg1.len);
	CHECK(memcmp(cfg2.str, cfg1.str, cfg1.len) == 0);
	cfg2.len = AOE_CFG_STR_MAX + 1;
	CHECK(aoe_cfg_encode(cbuf, sizeof(cbuf), &cfg2) == -EOVERFLOW);
}

/* ------------------------------------------------------------ mask */

static struct aoe_mask mask1, mask2;
static uint8_t mbuf[AOE_MASK_HDR_LEN + 8 * AOE_MASK_MAX];

static void
check_mask(const uint8_t *p, size_t len)
{
	size_t ndir, avail, present, need;
	int n;

	n = aoe_mask_decode(p, len, &mask1);
	if (len < AOE_MASK_HDR_LEN) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	ndir = p[27];
	avail = (len - AOE_MASK_HDR_LEN) / 8;
	present = ndir;
	if (avail < ndir) {
		/* Only a failed edit may announce more than it carries. */
		if (p[26] == 0) {
			CHECK(n == -EMSGSIZE);
			return;
		}
		present = avail;
	}
	CHECK(n == (int)(AOE_MASK_HDR_LEN + 8 * present));
	CHECK(mask1.mcmd == p[25] && mask1.merror == p[26]);
	CHECK(mask1.ndir == ndir);
	for (size_t i = 0; i < AOE_MASK_MAX; i++) {
		const uint8_t *d = p + AOE_MASK_HDR_LEN + 8 * i;

		if (i < present) {
			CHECK(mask1.dir[i].dcmd == d[1]);
			CHECK(memcmp(mask1.dir[i].mac, d + 2, 6) == 0);
		} else {
			static const uint8_t zero[6];

			CHECK(mask1.dir[i].dcmd == 0);
			CHECK(memcmp(mask1.dir[i].mac, zero, 6) == 0);
		}
	}

	need = AOE_MASK_HDR_LEN + 8 * ndir;
	memcpy(mbuf, p, AOE_HDR_LEN);
	CHECK(aoe_mask_encode(mbuf, need - 1, &mask1) == -ENOBUFS);
	CHECK(aoe_mask_encode(mbuf, need, &mask1) == (int)need);
	CHECK(mbuf[24] == 0 && memcmp(mbuf + 25, p + 25, 3) == 0);
	for (size_t i = 0; i < ndir; i++) {
		const uint8_t *e = mbuf + AOE_MASK_HDR_LEN + 8 * i;

		CHECK(e[0] == 0);
		if (i < present)
			CHECK(memcmp(e + 1, p + AOE_MASK_HDR_LEN + 8 * i + 1,
			    7) == 0);
		else
			CHECK(e[1] == 0);
	}
	CHECK(aoe_mask_decode(mbuf, need, &mask2) == (int)need);
	CHECK(mask2.mcmd == mask1.mcmd && mask2.merror == mask1.merror);
	CHECK(mask2.ndir == mask1.ndir);
	for (size_t i = 0; i < AOE_MASK_MAX; i++) {
		CHECK(mask2.dir[i].dcmd == mask1.dir[i].dcmd);
		CHECK(memcmp(mask2.dir[i].mac, mask1.dir[i].mac, 6) == 0);
	}
}

/* ------------------------------------------------------------ reserve */

static struct aoe_resv resv1, resv2;
static uint8_t rbuf[AOE_RESV_HDR_LEN + 6 * AOE_RESV_MAX];

static void
check_resv(const uint8_t *p, size_t len)
{
	size_t nmacs;
	int n;

	n = aoe_resv_decode(p, len, &resv1);
	if (len < AOE_RESV_HDR_LEN) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	nmacs = p[25];
	if ((len - AOE_RESV_HDR_LEN) / 6 < nmacs) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	CHECK(n == (int)(AOE_RESV_HDR_LEN + 6 * nmacs));
	CHECK(resv1.rcmd == p[24] && resv1.nmacs == nmacs);
	CHECK(memcmp(resv1.macs, p + AOE_RESV_HDR_LEN, 6 * nmacs) == 0);

	memcpy(rbuf, p, AOE_HDR_LEN);
	CHECK(aoe_resv_encode(rbuf, (size_t)n - 1, &resv1) == -ENOBUFS);
	CHECK(aoe_resv_encode(rbuf, (size_t)n, &resv1) == n);
	CHECK(memcmp(rbuf, p, (size_t)n) == 0);
	CHECK(aoe_resv_decode(rbuf, (size_t)n, &resv2) == n);
	CHECK(resv2.rcmd == resv1.rcmd && resv2.nmacs == resv1.nmacs);
	CHECK(memcmp(resv2.macs, resv1.macs, 6 * nmacs) == 0);
}

/* ------------------------------------------------------------ IDENTIFY */

static void
check_string(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	CHECK(n == 0 || s[n - 1] != ' ');
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

static void
check_ident(const uint8_t *p, size_t len)
{
	struct ata_ident id;
	unsigned w83, w86, w106;
	int rc;

	memset(&id, 0xa5, sizeof(id));
	rc = ata_ident_parse(p, len, &id);
	if (len < 512) {
		CHECK(rc == -EMSGSIZE);
		return;
	}
	if (!(word(p, 49) & 0x200))
		CHECK(rc == -EPROTO);
	else
		CHECK(rc == 0);
	/* Filled in either way. */
	CHECK(id.lba == ((word(p, 49) & 0x200) != 0));
	w83 = word(p, 83);
	w86 = word(p, 86);
	CHECK(id.lba48 == (((w83 | w86) & 0x400) != 0));
	if (id.lba48)
		CHECK(id.sectors == rdle(p + 200, 8));
	else
		CHECK(id.sectors == rdle(p + 120, 4));
	CHECK(id.flush == ((w83 & 0x1000) != 0));
	CHECK(id.flush_ext == ((w83 & 0x2000) != 0));
	CHECK(id.wcache == ((word(p, 82) & 0x20) != 0));
	CHECK(id.wcache_on == ((word(p, 85) & 0x20) != 0));
	CHECK(id.fua == ((word(p, 84) & 0x40) != 0));
	CHECK(id.trim == ((word(p, 169) & 1) != 0));
	CHECK(id.smart == ((word(p, 82) & 1) != 0));
	CHECK(id.rotation == word(p, 217));
	CHECK(id.logical_sector >= 512);
	CHECK(id.physical_sector >= id.logical_sector);
	CHECK(id.physical_sector % id.logical_sector == 0);
	w106 = word(p, 106);
	if ((w106 & 0xc000) != 0x4000)
		CHECK(id.logical_sector == 512 && id.physical_sector == 512);
	check_string(id.serial, sizeof(id.serial));
	check_string(id.firmware, sizeof(id.firmware));
	check_string(id.model, sizeof(id.model));
}

/* ------------------------------------------------------------ builders */

/* The request builders with parameters from the input; must round-trip. */
static void
check_builders(const uint8_t *p, size_t len)
{
	struct aoe_ata a, a2;
	uint8_t buf[AOE_ATA_HDR_LEN];
	bool write, lba48;
	uint64_t lba, limit, addr;
	unsigned scnt;
	int rc;

	if (len < 11)
		return;
	write = p[0] & 1;
	lba48 = p[0] & 2;
	lba = rdle(p + 1, 8) >> (p[9] & 63);
	scnt = p[10] | (p[0] & 4 ? 0x100u : 0);
	limit = lba48 ? ATA_LBA48_MAX : ATA_LBA28_MAX;

	memset(&a, 0x5a, sizeof(a));
	rc = ata_rw_build(&a, write, lba48, lba, scnt);
	if (scnt == 0 || scnt > 255) {
		CHECK(rc == -EINVAL);
		return;
	}
	if (lba > limit || lba + scnt - 1 > limit) {
		CHECK(rc == -ERANGE);
		return;
	}
	CHECK(rc == 0);
	CHECK(a.scnt == scnt);
	CHECK(!!(a.aflags & AOE_AFLAG_WRITE) == write);
	CHECK(!!(a.aflags & AOE_AFLAG_EXT) == lba48);
	if (lba48) {
		CHECK(a.cmd_status == (write ? ATA_CMD_WRITE_EXT :
		    ATA_CMD_READ_EXT));
		addr = a.lba;
	} else {
		CHECK(a.cmd_status == (write ? ATA_CMD_WRITE : ATA_CMD_READ));
		/* Device register: LBA mode, bits 27:24 of the address. */
		CHECK((a.lba >> 24 & 0xf0) == 0xe0);
		CHECK(a.lba >> 32 == 0);
		addr = (a.lba & 0xffffff) | (a.lba >> 24 & 0x0f) << 24;
	}
	CHECK(addr == lba);

	memset(buf, 0, sizeof(buf));
	CHECK(aoe_ata_encode(buf, sizeof(buf), &a) == AOE_ATA_HDR_LEN);
	CHECK(aoe_ata_decode(buf, sizeof(buf), &a2) == AOE_ATA_HDR_LEN);
	CHECK(a2.aflags == a.aflags && a2.err_feature == a.err_feature);
	CHECK(a2.scnt == a.scnt && a2.cmd_status == a.cmd_status);
	CHECK(a2.lba == a.lba);

	ata_identify_build(&a);
	CHECK(a.cmd_status == ATA_CMD_IDENTIFY && a.scnt == 1);
	ata_flush_build(&a, p[0] & 8);
	CHECK(a.cmd_status == (p[0] & 8 ? ATA_CMD_FLUSH_EXT : ATA_CMD_FLUSH));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_hdr(data, size);
	check_ata(data, size);
	check_cfg(data, size);
	check_mask(data, size);
	check_resv(data, size);
	check_ident(data, size);
	check_builders(data, size);
	return 0;
}
