/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of src/ata.c: IDENTIFY DEVICE parsing (vblade's real block and
 * synthetic LBA28-only, no-LBA and sector-size blocks), the register values
 * of the commands we send, checked against the requests vblade answered,
 * and status/error to errno, checked against vblade's replies; the path
 * check probes of aoectl check (pathcheck.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aoe.h"
#include "ata.h"
#include "hexvec.h"
#include "util.h"

#define FRAME_MAX 2048

static uint8_t frame[FRAME_MAX];
static size_t frame_len;

static void
load(const char *name)
{
	int rc = hexvec_load_name(name, frame, sizeof(frame), &frame_len);

	cr_assert_eq(rc, 0, "%s: hexvec_load_name: %s", name, strerror(-rc));
}

/* ------------------------------------------------------------- IDENTIFY */

static void
put_word(uint8_t *id, unsigned w, uint16_t v)
{
	put_le16(id + 2 * w, v);
}

/* An ATA string: two characters per word, the first in the high byte. */
static void
put_string(uint8_t *id, unsigned w, unsigned nwords, const char *s)
{
	size_t len = strlen(s);

	for (unsigned i = 0; i < 2 * nwords; i++) {
		uint8_t c = i < len ? (uint8_t)s[i] : ' ';

		id[2 * w + (i ^ 1)] = c;
	}
}

Test(identify, vblade)
{
	struct ata_ident id;
	struct aoe_ata a;

	load("ata-identify.rsp");
	cr_assert_eq(aoe_ata_decode(frame, frame_len, &a), AOE_ATA_HDR_LEN);
	cr_assert_eq(ata_status_errno(a.cmd_status, a.err_feature, false), 0);
	cr_assert_eq(frame_len, AOE_ATA_HDR_LEN + 512);
	memset(&id, 0xee, sizeof(id));
	cr_assert_eq(ata_ident_parse(frame + AOE_ATA_HDR_LEN,
	    frame_len - AOE_ATA_HDR_LEN, &id), 0);
	cr_assert_eq(id.sectors, 131072); /* 64 MiB */
	cr_assert(id.lba);
	cr_assert(id.lba48);
	cr_assert(id.flush);       /* w83 0x5400 */
	cr_assert(!id.flush_ext);  /* so flush with 0xE7 */
	cr_assert(!id.wcache);
	cr_assert(!id.wcache_on);
	cr_assert(!id.fua);
	cr_assert(!id.trim);
	cr_assert(!id.smart);
	cr_assert_eq(id.rotation, 0);
	cr_assert_eq(id.logical_sector, 512);
	cr_assert_eq(id.physical_sector, 512);
	cr_assert_str_eq(id.model, "Coraid EtherDrive vblade");
	cr_assert_str_eq(id.firmware, "V25");
	/* "shelf.slot:hostname": the host name varies, so the prefix only. */
	cr_assert_eq(strncmp(id.serial, "3.7:", 4), 0, "serial '%s'",
	    id.serial);
	cr_assert_leq(strlen(id.serial), 20);
	cr_assert_neq(id.serial[strlen(id.serial) - 1], ' ');
	/* vblade also fills the LBA28 count, min(size, 0x0fffffff). */
	cr_assert_eq(get_le32(frame + AOE_ATA_HDR_LEN + 120), 131072);
}

/* Every truncation is refused, and nothing past it is read (ASan). */
Test(identify, truncated)
{
	struct ata_ident id;

	load("ata-identify.rsp");
	for (size_t n = 0; n < 512; n++) {
		uint8_t *q = malloc(n ? n : 1);

		cr_assert_not_null(q);
		memcpy(q, frame + AOE_ATA_HDR_LEN, n);
		cr_assert_eq(ata_ident_parse(q, n, &id), -EMSGSIZE, "len %zu",
		    n);
		free(q);
	}
	/* Longer than 512 is fine: only the first 512 bytes count. */
	cr_assert_eq(ata_ident_parse(frame, frame_len, &id), -EPROTO);
	cr_assert_eq(ata_ident_parse(frame + AOE_ATA_HDR_LEN, 512, &id), 0);
}

Test(identify, lba28_only)
{
	uint8_t *b = calloc(1, 512);
	struct ata_ident id;

	cr_assert_not_null(b);
	put_word(b, 49, 1u << 9);
	put_word(b, 60, 0xdef1);
	put_word(b, 61, 0x0abc);
	/* Without w83/w86 bit 10, words 100-103 are not looked at. */
	put_word(b, 100, 0x1111);
	put_word(b, 101, 0x2222);
	put_word(b, 82, 1u << 0 | 1u << 5);
	put_word(b, 83, 1u << 12 | 1u << 13);
	put_word(b, 84, 1u << 6);
	put_word(b, 85, 1u << 5);
	put_word(b, 169, 1);
	put_word(b, 217, 1);
	put_string(b, 10, 10, "SN-0001");
	put_string(b, 23, 4, "FW 1.0");
	put_string(b, 27, 20, "Synthetic Disk  Model 0123456789 ABCDEFG");
	memset(&id, 0xee, sizeof(id));
	cr_assert_eq(ata_ident_parse(b, 512, &id), 0);
	cr_assert(id.lba);
	cr_assert(!id.lba48);
	cr_assert_eq(id.sectors, 0x0abcdef1);
	cr_assert(id.flush);
	cr_assert(id.flush_ext);
	cr_assert(id.wcache);
	cr_assert(id.wcache_on);
	cr_assert(id.fua);
	cr_assert(id.trim);
	cr_assert(id.smart);
	cr_assert_eq(id.rotation, 1);
	cr_assert_eq(id.logical_sector, 512);
	cr_assert_eq(id.physical_sector, 512);
	cr_assert_str_eq(id.serial, "SN-0001");
	cr_assert_str_eq(id.firmware, "FW 1.0");
	/* All 40 characters; inner spaces stay. */
	cr_assert_str_eq(id.model, "Synthetic Disk  Model 0123456789 ABCDEFG");
	free(b);
}

Test(identify, lba48_from_w86)
{
	uint8_t *b = calloc(1, 512);
	struct ata_ident id;

	cr_assert_not_null(b);
	put_word(b, 49, 1u << 9);
	put_word(b, 86, 1u << 10);
	put_word(b, 60, 0xffff);
	put_word(b, 61, 0x0fff);
	put_word(b, 100, 0x5678);
	put_word(b, 101, 0x1234);
	put_word(b, 102, 0xbeef);
	put_word(b, 103, 0x0000);
	cr_assert_eq(ata_ident_parse(b, 512, &id), 0);
	cr_assert(id.lba48);
	cr_assert(!id.flush);
	cr_assert_eq(id.sectors, 0xbeef12345678ULL);
	/* Blank strings come out empty. */
	cr_assert_str_eq(id.model, "");
	cr_assert_str_eq(id.serial, "");
	cr_assert_str_eq(id.firmware, "");
	free(b);
}

Test(identify, no_lba)
{
	uint8_t *b = calloc(1, 512);
	struct ata_ident id;

	cr_assert_not_null(b);
	put_word(b, 1, 1024); /* CHS only */
	put_word(b, 60, 1000);
	put_string(b, 27, 20, "Old CHS Disk");
	memset(&id, 0xee, sizeof(id));
	cr_assert_eq(ata_ident_parse(b, 512, &id), -EPROTO);
	/* Still filled in, so the caller can say which unit it refuses. */
	cr_assert(!id.lba);
	cr_assert_str_eq(id.model, "Old CHS Disk");
	free(b);
}

Test(identify, strings)
{
	uint8_t *b = calloc(1, 512);
	struct ata_ident id;

	cr_assert_not_null(b);
	put_word(b, 49, 1u << 9);
	/* Control, DEL and non-ASCII bytes become '?'. */
	put_string(b, 27, 20, "Bad\tName\x7f\xe9X");
	/* A full-width serial of 20 characters, no padding. */
	put_string(b, 10, 10, "ABCDEFGHIJKLMNOPQRST");
	/* NUL padding is cut like space padding. */
	memset(b + 2 * 23, 0, 8);
	b[2 * 23 + 1] = 'V'; /* the high byte of word 23: first char */
	b[2 * 23] = '1';
	cr_assert_eq(ata_ident_parse(b, 512, &id), 0);
	cr_assert_str_eq(id.model, "Bad?Name??X");
	cr_assert_str_eq(id.serial, "ABCDEFGHIJKLMNOPQRST");
	cr_assert_str_eq(id.firmware, "V1");
	free(b);
}

Test(identify, sector_size)
{
	static const struct {
		uint16_t w106;
		uint32_t words; /* w117-118 */
		uint32_t logical, physical;
	} tab[] = {
		{ 0x0000, 0, 512, 512 },       /* not valid */
		{ 0x4000, 0, 512, 512 },       /* valid, nothing special */
		{ 0x6003, 0, 512, 4096 },      /* 8 logical per physical */
		{ 0x6001, 0, 512, 1024 },
		{ 0x5000, 2048, 4096, 4096 },  /* 4 KiB logical sectors */
		{ 0x7001, 2048, 4096, 8192 },
		{ 0x5000, 260, 520, 520 },     /* 520-byte sectors */
		{ 0x8000 | 0x6003, 0, 512, 512 }, /* bit 15 set: invalid */
		{ 0xc000 | 0x2003, 0, 512, 512 }, /* bit 15 set: invalid */
		{ 0x2003, 0, 512, 512 },       /* bit 14 clear: invalid */
		{ 0x5000, 0, 512, 512 },       /* zero words: ignored */
		{ 0x5000, 100, 512, 512 },     /* below 512 bytes: ignored */
		{ 0x500f, 0x80000000u, 512, 512 }, /* beyond 32 bits */
		{ 0x500f, 0x10000, 512, 512 },  /* physical beyond 32 bits */
		{ 0x400f, 0, 512, 512u << 15 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		uint8_t *b = calloc(1, 512);
		struct ata_ident id;

		cr_assert_not_null(b);
		put_word(b, 49, 1u << 9);
		put_word(b, 106, tab[i].w106);
		put_word(b, 117, (uint16_t)tab[i].words);
		put_word(b, 118, (uint16_t)(tab[i].words >> 16));
		cr_assert_eq(ata_ident_parse(b, 512, &id), 0);
		cr_assert_eq(id.logical_sector, tab[i].logical,
		    "w106 %#x: logical %u", tab[i].w106, id.logical_sector);
		cr_assert_eq(id.physical_sector, tab[i].physical,
		    "w106 %#x: physical %u", tab[i].w106, id.physical_sector);
		free(b);
	}
}

/* ------------------------------------------------------------- builders */

struct rw_vec {
	bool write, lba48;
	uint64_t lba;
	unsigned scnt;
	int rc;
	uint8_t aflags, cmd;
	uint64_t wire_lba;
};

static const struct rw_vec rw_vecs[] = {
	{ false, true, 100, 2, 0, 0x40, 0x24, 100 },
	{ true, true, 200, 2, 0, 0x41, 0x34, 200 },
	{ false, false, 5, 1, 0, 0x00, 0x20, 0xe0000005 },
	{ true, false, 6, 1, 0, 0x01, 0x30, 0xe0000006 },
	/* LBA 27:24 go to the low nibble of the device register. */
	{ false, false, 0x0abcdef1, 17, 0, 0x00, 0x20, 0xeabcdef1 },
	{ true, false, 0x0fffffff, 1, 0, 0x01, 0x30, 0xefffffff },
	{ false, false, 0x0ffffff0, 16, 0, 0x00, 0x20, 0xeffffff0 },
	{ false, true, 0xffffffffffffULL, 1, 0, 0x40, 0x24,
	    0xffffffffffffULL },
	{ true, true, 0xfffffffff00ULL, 255, 0, 0x41, 0x34, 0xfffffffff00ULL },
	{ false, true, 0, 255, 0, 0x40, 0x24, 0 },
	/* LBA28 overflow. */
	{ false, false, 0x0fffffff, 2, -ERANGE, 0, 0, 0 },
	{ false, false, 0x0ffffff0, 17, -ERANGE, 0, 0, 0 },
	{ true, false, 0x10000000, 1, -ERANGE, 0, 0, 0 },
	{ false, false, UINT64_MAX, 1, -ERANGE, 0, 0, 0 },
	/* LBA48 overflow. */
	{ false, true, 1ULL << 48, 1, -ERANGE, 0, 0, 0 },
	{ true, true, 0xffffffffffffULL, 2, -ERANGE, 0, 0, 0 },
	{ false, true, UINT64_MAX, 255, -ERANGE, 0, 0, 0 },
	/* Sector counts. */
	{ false, true, 0, 0, -EINVAL, 0, 0, 0 },
	{ true, false, 0, 0, -EINVAL, 0, 0, 0 },
	{ false, true, 0, 256, -EINVAL, 0, 0, 0 },
};

Test(build, rw)
{
	for (size_t i = 0; i < ARRAY_SIZE(rw_vecs); i++) {
		const struct rw_vec *v = &rw_vecs[i];
		struct aoe_ata a;
		int rc;

		memset(&a, 0xee, sizeof(a));
		rc = ata_rw_build(&a, v->write, v->lba48, v->lba, v->scnt);
		cr_assert_eq(rc, v->rc, "vec %zu: rc %d", i, rc);
		if (rc != 0) {
			continue;
		}
		cr_assert_eq(a.aflags, v->aflags, "vec %zu: aflags %#x", i,
		    a.aflags);
		cr_assert_eq(a.err_feature, 0, "vec %zu", i);
		cr_assert_eq(a.scnt, v->scnt, "vec %zu", i);
		cr_assert_eq(a.cmd_status, v->cmd, "vec %zu: cmd %#x", i,
		    a.cmd_status);
		cr_assert_eq(a.lba, v->wire_lba, "vec %zu: lba %#llx", i,
		    (unsigned long long)a.lba);
	}
}

Test(build, identify_flush)
{
	struct aoe_ata a;

	memset(&a, 0xee, sizeof(a));
	ata_identify_build(&a);
	cr_assert_eq(a.aflags, 0);
	cr_assert_eq(a.err_feature, 0);
	cr_assert_eq(a.scnt, 1);
	cr_assert_eq(a.cmd_status, ATA_CMD_IDENTIFY);
	cr_assert_eq(a.lba, 0xa0000000ULL);

	memset(&a, 0xee, sizeof(a));
	ata_flush_build(&a, false);
	cr_assert_eq(a.aflags, 0);
	cr_assert_eq(a.scnt, 0);
	cr_assert_eq(a.cmd_status, ATA_CMD_FLUSH);
	cr_assert_eq(a.lba, 0);

	memset(&a, 0xee, sizeof(a));
	ata_flush_build(&a, true);
	cr_assert_eq(a.aflags, AOE_AFLAG_EXT);
	cr_assert_eq(a.scnt, 0);
	cr_assert_eq(a.cmd_status, ATA_CMD_FLUSH_EXT);
	cr_assert_eq(a.lba, 0);
}

/*
 * Whole request frames built with aoe.c + ata.c equal, byte for byte, the
 * requests vblade answered (tests/vectors, captured with capture.sh).
 */
static void
check_request(const char *name, const struct aoe_ata *a, uint32_t tag,
    unsigned data_sector, unsigned nsect)
{
	static const uint8_t init[6] = { 0x02, 0x00, 0xc0, 0xde, 0x00, 0x01 };
	static const uint8_t target[6] = { 0x02, 0x00, 0xc0, 0xde, 0x00, 0x02 };
	struct aoe_hdr h = {
		.version = AOE_VERSION,
		.shelf = 3,
		.slot = 7,
		.cmd = AOE_CMD_ATA,
		.tag = tag,
	};
	uint8_t buf[FRAME_MAX];
	size_t len;

	memcpy(h.dst, target, 6);
	memcpy(h.src, init, 6);
	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(aoe_hdr_encode(buf, sizeof(buf), &h), AOE_HDR_LEN);
	cr_assert_eq(aoe_ata_encode(buf, sizeof(buf), a), AOE_ATA_HDR_LEN);
	len = AOE_ATA_HDR_LEN;
	/* Write data: sector n of the pattern holds (n + i) & 0xff. */
	for (unsigned s = 0; s < nsect; s++) {
		for (unsigned i = 0; i < 512; i++)
			buf[len++] = (uint8_t)(data_sector + s + i);
	}
	len = aoe_pad(buf, len);
	load(name);
	cr_assert_eq(len, frame_len, "%s: %zu bytes, want %zu", name, len,
	    frame_len);
	cr_assert_eq(memcmp(buf, frame, len), 0, "%s differs", name);
}

Test(build, captured_requests)
{
	struct aoe_ata a;

	ata_identify_build(&a);
	check_request("ata-identify.req", &a, 0x80000002, 0, 0);
	cr_assert_eq(ata_rw_build(&a, false, true, 100, 2), 0);
	check_request("ata-read48.req", &a, 0x80000003, 0, 0);
	cr_assert_eq(ata_rw_build(&a, false, false, 5, 1), 0);
	check_request("ata-read28.req", &a, 0x80000004, 0, 0);
	cr_assert_eq(ata_rw_build(&a, true, true, 200, 2), 0);
	check_request("ata-write48.req", &a, 0x80000005, 0x5a, 2);
	cr_assert_eq(ata_rw_build(&a, true, false, 6, 1), 0);
	check_request("ata-write28.req", &a, 0x80000006, 0xc3, 1);
	cr_assert_eq(ata_rw_build(&a, false, true, 131071, 2), 0);
	check_request("ata-read-idnf.req", &a, 0x80000007, 0, 0);
	ata_flush_build(&a, false);
	check_request("ata-flush.req", &a, 0x80000009, 0, 0);
	ata_flush_build(&a, true);
	check_request("ata-flush-ext.req", &a, 0x8000000a, 0, 0);
	cr_assert_eq(ata_rw_build(&a, true, true, 10, 1), 0);
	check_request("ata-write-ro.req", &a, 0x80000061, 0x11, 1);
}

/* ---------------------------------------------------------- status errno */

Test(status, table)
{
	static const struct {
		uint8_t status, error;
		bool write;
		int rc;
	} tab[] = {
		{ ATA_ST_DRDY, 0, false, 0 },
		{ ATA_ST_DRDY, 0, true, 0 },
		{ 0x00, 0, false, 0 },            /* vblade's FLUSH CACHE */
		{ 0x50, 0xff, false, 0 },         /* DRDY|DSC: error ignored */
		{ 0x41, ATA_ER_IDNF, false, -ENOSPC },
		{ 0x41, ATA_ER_IDNF, true, -ENOSPC },
		{ 0x41, ATA_ER_ABRT, true, -EROFS },
		{ 0x41, ATA_ER_ABRT, false, -EOPNOTSUPP },
		{ 0x01, ATA_ER_ABRT, true, -EROFS },
		{ 0x41, ATA_ER_UNC, false, -EIO },
		{ 0x41, 0, false, -EIO },
		{ 0x61, ATA_ER_ABRT, true, -EIO }, /* device fault */
		{ 0x60, 0, false, -EIO },
		{ 0x80, 0, false, -EIO },          /* busy */
		{ 0xc1, ATA_ER_IDNF, false, -EIO },
		{ 0x48, 0, false, -EIO },          /* DRQ left set */
		{ 0x49, ATA_ER_IDNF, false, -ENOSPC },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		int rc = ata_status_errno(tab[i].status, tab[i].error,
		    tab[i].write);

		cr_assert_eq(rc, tab[i].rc, "status %#x error %#x write %d: %d",
		    tab[i].status, tab[i].error, tab[i].write, rc);
	}
}

/* vblade's real replies map as an initiator needs them to. */
Test(status, captured)
{
	static const struct {
		const char *name;
		bool write;
		int rc;
	} tab[] = {
		{ "ata-read48.rsp", false, 0 },
		{ "ata-write48.rsp", true, 0 },
		{ "ata-flush.rsp", false, 0 },
		{ "ata-checkpower.rsp", false, 0 },
		{ "ata-read-idnf.rsp", false, -ENOSPC },  /* out of range */
		{ "ata-write-ro.rsp", true, -EROFS },     /* vblade -r */
		{ "ata-flush-ext.rsp", false, -EOPNOTSUPP },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		struct aoe_hdr h;
		struct aoe_ata a;

		load(tab[i].name);
		cr_assert_eq(aoe_hdr_decode(frame, frame_len, &h), AOE_HDR_LEN);
		cr_assert_eq(h.flags & AOE_FLAG_ERR, 0, "%s", tab[i].name);
		cr_assert_eq(aoe_ata_decode(frame, frame_len, &a),
		    AOE_ATA_HDR_LEN);
		cr_assert_eq(ata_status_errno(a.cmd_status, a.err_feature,
		    tab[i].write), tab[i].rc, "%s", tab[i].name);
	}
}

/* ------------------------------------------------ path check (pathcheck.c) */

#include "pathcheck.h"

static const uint8_t pc_dst[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t pc_src[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static uint8_t pc_buf[20000];

Test(pathcheck, tags)
{
	enum pc_dir d;
	unsigned path, n;

	cr_assert(pc_tag_decode(pc_tag(3, PC_BACK, 17), &path, &d, &n));
	cr_assert_eq(path, 3);
	cr_assert_eq(d, PC_BACK);
	cr_assert_eq(n, 17);
	cr_assert(pc_tag_decode(pc_tag(0, PC_TOWARD, 255), &path, &d, &n));
	cr_assert_eq(d, PC_TOWARD);
	cr_assert_eq(n, 255);
	cr_assert(pc_tag(0, PC_TOWARD, 1) & AOE_TAG_USER);
	/* The engine's tags (bit 31, generation, index), discovery, n 0 */
	cr_assert_not(pc_tag_decode(0x80010005u, &path, &d, &n));
	cr_assert_not(pc_tag_decode(0x8000ffffu, &path, &d, &n));
	cr_assert_not(pc_tag_decode(0xa5000100u, &path, &d, &n));
	cr_assert_not(pc_tag_decode(0xa5000211u, &path, &d, &n));
}

/* Another initiator's probes (another tag instance) are not ours. */
Test(pathcheck, instance)
{
	enum pc_dir d;
	unsigned path, n;
	uint32_t other = pc_tag(1, PC_BACK, 8);

	pc_set_instance(5);
	cr_assert_eq(pc_tag(1, PC_BACK, 8) & 0x70000000u, 5u << 28);
	cr_assert(pc_tag_decode(pc_tag(1, PC_BACK, 8), &path, &d, &n));
	cr_assert_eq(path, 1);
	cr_assert_eq(n, 8);
	cr_assert_not(pc_tag_decode(other, &path, &d, &n));
	pc_set_instance(2);
	cr_assert_eq(pc_tag(1, PC_BACK, 8), other);
	cr_assert(pc_tag_decode(other, &path, &d, &n));
}

Test(pathcheck, build)
{
	struct aoe_hdr h;
	struct aoe_ata a;
	size_t len;

	/* Toward: IDENTIFY padded with 17 sectors of zeroes */
	len = pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3, 1,
	    PC_TOWARD, 17);
	cr_assert_eq(len, (size_t)AOE_ATA_HDR_LEN + 17 * 512);
	cr_assert_eq(len, pc_frame_len(17));
	cr_assert_eq(aoe_hdr_decode(pc_buf, len, &h), AOE_HDR_LEN);
	cr_assert_eq(memcmp(h.dst, pc_dst, 6), 0);
	cr_assert_eq(memcmp(h.src, pc_src, 6), 0);
	cr_assert_eq(h.version, AOE_VERSION);
	cr_assert_eq(h.flags, 0);
	cr_assert_eq(h.shelf, 7);
	cr_assert_eq(h.slot, 3);
	cr_assert_eq(h.cmd, AOE_CMD_ATA);
	cr_assert_eq(h.tag, pc_tag(1, PC_TOWARD, 17));
	cr_assert_eq(aoe_ata_decode(pc_buf, len, &a), AOE_ATA_HDR_LEN);
	cr_assert_eq(a.cmd_status, ATA_CMD_IDENTIFY);
	cr_assert_eq(a.aflags & AOE_AFLAG_WRITE, 0);
	for (size_t i = AOE_ATA_HDR_LEN; i < len; i++)
		cr_assert_eq(pc_buf[i], 0);

	/* Back: READ SECTORS of 17 at LBA 0, a minimum frame */
	len = pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3, 1,
	    PC_BACK, 17);
	cr_assert_eq(len, (size_t)AOE_MIN_FRAME);
	cr_assert_eq(aoe_hdr_decode(pc_buf, len, &h), AOE_HDR_LEN);
	cr_assert_eq(h.tag, pc_tag(1, PC_BACK, 17));
	cr_assert_eq(aoe_ata_decode(pc_buf, len, &a), AOE_ATA_HDR_LEN);
	cr_assert_eq(a.cmd_status, ATA_CMD_READ);
	cr_assert_eq(a.scnt, 17);
	cr_assert_eq(a.lba & 0xffffff, 0); /* LBA28: device register above */

	/* Out of range, or no room */
	cr_assert_eq(pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3, 1,
	    PC_BACK, 0), 0);
	cr_assert_eq(pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3, 1,
	    PC_TOWARD, 256), 0);
	cr_assert_eq(pc_build(pc_buf, 1000, pc_dst, pc_src, 7, 3, 1,
	    PC_TOWARD, 2), 0);
	cr_assert_eq(pc_build(pc_buf, 59, pc_dst, pc_src, 7, 3, 1, PC_BACK, 1),
	    0);
}

/*
 * The target's answer to the probe in pc_buf (built: req_len bytes): R
 * set, the sectors read, or one IDENTIFY block.
 */
static size_t
pc_reply(size_t req_len, enum pc_dir d, unsigned n)
{
	size_t len = d == PC_BACK ? pc_frame_len(n) : pc_frame_len(1);
	uint8_t tmp[6];

	cr_assert_gt(req_len, 0);
	memcpy(tmp, pc_buf, 6);
	memcpy(pc_buf, pc_buf + 6, 6);
	memcpy(pc_buf + 6, tmp, 6);
	pc_buf[14] |= AOE_FLAG_RSP;
	pc_buf[27] = ATA_ST_DRDY; /* status: no error */
	memset(pc_buf + AOE_ATA_HDR_LEN, 0x5a, len - AOE_ATA_HDR_LEN);
	return len;
}

/* An error answer to a probe is a refusal, with its cause; others not. */
Test(pathcheck, refusals)
{
	struct pc_refusal why;
	uint32_t tag = 0;
	size_t len;

	len = pc_reply(pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3,
	    1, PC_BACK, 4), PC_BACK, 4);
	/* answered whole: not refused */
	cr_assert_not(pc_refused(pc_buf, len, 7, 3, &tag, &why));
	/* AoE error 6 (reserved), as vblade answers: only the header */
	pc_buf[14] |= AOE_FLAG_ERR;
	pc_buf[15] = 6;
	cr_assert(pc_refused(pc_buf, AOE_ATA_HDR_LEN, 7, 3, &tag, &why));
	cr_assert(why.aoe);
	cr_assert_eq(why.aoe_error, 6);
	cr_assert_eq(tag, pc_tag(1, PC_BACK, 4));
	/* ... of another target, or too short for a header: not ours */
	cr_assert_not(pc_refused(pc_buf, AOE_ATA_HDR_LEN, 7, 4, &tag, &why));
	cr_assert_not(pc_refused(pc_buf, 20, 7, 3, &tag, &why));
	pc_buf[14] &= (uint8_t)~AOE_FLAG_ERR;
	pc_buf[15] = 0;
	/* ATA error: status ERR, error ABRT */
	pc_buf[27] = ATA_ST_DRDY | ATA_ST_ERR;
	pc_buf[25] = 0x04;
	cr_assert(pc_refused(pc_buf, AOE_ATA_HDR_LEN, 7, 3, &tag, &why));
	cr_assert_not(why.aoe);
	cr_assert_eq(why.ata_status, ATA_ST_DRDY | ATA_ST_ERR);
	cr_assert_eq(why.ata_error, 0x04);
	pc_buf[27] = ATA_ST_DRDY;
	pc_buf[25] = 0;
	/* our own request (R clear): not an answer */
	pc_buf[14] &= (uint8_t)~AOE_FLAG_RSP;
	pc_buf[14] |= AOE_FLAG_ERR;
	cr_assert_not(pc_refused(pc_buf, len, 7, 3, &tag, &why));
}

Test(pathcheck, answers)
{
	uint32_t tag = 0;
	size_t len;

	len = pc_reply(pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3,
	    2, PC_BACK, 9), PC_BACK, 9);
	cr_assert(pc_answer(pc_buf, len, 7, 3, &tag));
	cr_assert_eq(tag, pc_tag(2, PC_BACK, 9));
	/* A read's answer short of its sectors: not whole */
	cr_assert_not(pc_answer(pc_buf, len - 1, 7, 3, &tag));
	/* Another target */
	cr_assert_not(pc_answer(pc_buf, len, 7, 4, &tag));
	/* An ATA error */
	pc_buf[27] = ATA_ST_DRDY | ATA_ST_ERR;
	cr_assert_not(pc_answer(pc_buf, len, 7, 3, &tag));
	pc_buf[27] = ATA_ST_DRDY;
	/* An AoE error */
	pc_buf[14] |= AOE_FLAG_ERR;
	cr_assert_not(pc_answer(pc_buf, len, 7, 3, &tag));
	pc_buf[14] &= (uint8_t)~AOE_FLAG_ERR;
	/* Our own request (R clear) */
	pc_buf[14] &= (uint8_t)~AOE_FLAG_RSP;
	cr_assert_not(pc_answer(pc_buf, len, 7, 3, &tag));
	pc_buf[14] |= AOE_FLAG_RSP;
	/* Not a probe's tag */
	put_be32(pc_buf + 20, 0x80010005u);
	cr_assert_not(pc_answer(pc_buf, len, 7, 3, &tag));

	/* Toward: the answer is one IDENTIFY block, however large the ask */
	len = pc_reply(pc_build(pc_buf, sizeof(pc_buf), pc_dst, pc_src, 7, 3,
	    0, PC_TOWARD, 17), PC_TOWARD, 17);
	cr_assert_eq(len, pc_frame_len(1));
	cr_assert(pc_answer(pc_buf, len, 7, 3, &tag));
	cr_assert_eq(tag, pc_tag(0, PC_TOWARD, 17));
}
