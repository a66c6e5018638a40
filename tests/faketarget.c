/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An in-memory AoE target for the engine's unit tests that behaves like
 * vblade 25 (aoe.c doaoe/aoeata/confcmd/aoemask/aoesrr, ata.c atacmd).  It
 * parses raw bytes itself rather than through src/aoe.c, so it is an
 * independent oracle for the codec too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faketarget.h"
#include "util.h"

#define FT_CHUNK_SECTORS 512ULL
#define FT_CHUNK_BYTES (FT_CHUNK_SECTORS * 512)
#define FT_CFG_MAX 1024

/* Header lengths including Ethernet, as vblade's dat.h. */
#define FT_HDR 24
#define FT_ATA_HDR 36
#define FT_CFG_HDR 32
#define FT_MASK_HDR 28
#define FT_RESV_HDR 26

/* Ethernet + AoE header offsets. */
#define O_DST 0
#define O_SRC 6
#define O_TYPE 12
#define O_VERFL 14
#define O_ERR 15
#define O_SHELF 16
#define O_SLOT 18
#define O_CMD 19
#define O_TAG 20
#define O_ARG 24

#define F_RSP 0x08
#define F_ERR 0x04

enum {
	E_BADCMD = 1,
	E_BADARG = 2,
	E_CFGSET = 4,
	E_RES = 6,
};

struct faketarget {
	uint16_t shelf;
	uint8_t slot;
	uint8_t mac[6];
	uint64_t sectors;
	uint8_t **chunks;
	size_t nchunks;

	uint16_t bufcnt, fwver;
	uint8_t scnt, accept_scnt;
	bool read_only;
	bool flush_ext;
	uint16_t w83;
	uint64_t ident_sectors;
	char serial[21];
	uint8_t cfg[FT_CFG_MAX];
	size_t cfg_len;
	unsigned silent;
	bool fail_on;
	uint64_t fail_lba;
	uint8_t fail_err;

	uint8_t masks[FT_MASK_MAX][6];
	unsigned nmasks;
	uint8_t resv[FT_RESV_MAX][6];
	unsigned nresv;

	struct ft_stats st;
	struct ft_write_rec *wlog;
	size_t wlog_n, wlog_cap;
};

struct faketarget *
ft_new(uint16_t shelf, uint8_t slot, const uint8_t mac[6], uint64_t sectors)
{
	struct faketarget *ft;

	if ((ft = calloc(1, sizeof(*ft))) == NULL)
		return NULL;
	ft->shelf = shelf;
	ft->slot = slot;
	memcpy(ft->mac, mac, 6);
	ft->sectors = sectors;
	ft->nchunks = (size_t)((sectors + FT_CHUNK_SECTORS - 1) /
	    FT_CHUNK_SECTORS);
	if (ft->nchunks &&
	    (ft->chunks = calloc(ft->nchunks, sizeof(*ft->chunks))) == NULL) {
		free(ft);
		return NULL;
	}
	ft->bufcnt = 16;
	ft->fwver = 0x4000 + 25;
	ft->scnt = ft->accept_scnt = 2;
	ft->w83 = 0x5400;
	snprintf(ft->serial, sizeof(ft->serial), "%u.%u:fakehost",
	    (unsigned)shelf, (unsigned)slot);
	return ft;
}

void
ft_free(struct faketarget *ft)
{
	if (ft == NULL)
		return;
	for (size_t i = 0; i < ft->nchunks; i++)
		free(ft->chunks[i]);
	free(ft->chunks);
	free(ft->wlog);
	free(ft);
}

/* ---------------------------------------------------------------- image */

int
ft_pread(const struct faketarget *ft, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	if (off > ft->sectors * 512 || len > ft->sectors * 512 - off)
		return -EINVAL;
	while (len > 0) {
		size_t ci = (size_t)(off / FT_CHUNK_BYTES);
		size_t co = (size_t)(off % FT_CHUNK_BYTES);
		size_t n = MIN(len, (size_t)FT_CHUNK_BYTES - co);

		if (ft->chunks[ci] != NULL)
			memcpy(p, ft->chunks[ci] + co, n);
		else
			memset(p, 0, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int
ft_pwrite(struct faketarget *ft, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	if (off > ft->sectors * 512 || len > ft->sectors * 512 - off)
		return -EINVAL;
	while (len > 0) {
		size_t ci = (size_t)(off / FT_CHUNK_BYTES);
		size_t co = (size_t)(off % FT_CHUNK_BYTES);
		size_t n = MIN(len, (size_t)FT_CHUNK_BYTES - co);

		if (ft->chunks[ci] == NULL &&
		    (ft->chunks[ci] = calloc(1, FT_CHUNK_BYTES)) == NULL)
			return -ENOMEM;
		memcpy(ft->chunks[ci] + co, p, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---------------------------------------------------------------- knobs */

void
ft_set_bufcnt(struct faketarget *ft, uint16_t bufcnt)
{
	ft->bufcnt = bufcnt;
}

void
ft_set_fwver(struct faketarget *ft, uint16_t fwver)
{
	ft->fwver = fwver;
}

void
ft_set_scnt(struct faketarget *ft, uint8_t scnt)
{
	ft->scnt = ft->accept_scnt = scnt;
}

void
ft_set_mtu(struct faketarget *ft, unsigned mtu)
{
	ft_set_scnt(ft, (uint8_t)MIN((mtu - 36) / 512, 255));
}

void
ft_set_accept_scnt(struct faketarget *ft, uint8_t scnt)
{
	ft->accept_scnt = scnt;
}

void
ft_set_read_only(struct faketarget *ft, bool ro)
{
	ft->read_only = ro;
}

void
ft_set_flush_ext(struct faketarget *ft, bool on)
{
	ft->flush_ext = on;
	if (on)
		ft->w83 |= 1u << 13;
	else
		ft->w83 &= (uint16_t)~(1u << 13);
}

void
ft_set_w83(struct faketarget *ft, uint16_t w83)
{
	ft->w83 = w83;
}

void
ft_set_ident_sectors(struct faketarget *ft, uint64_t sectors)
{
	ft->ident_sectors = sectors;
}

void
ft_set_serial(struct faketarget *ft, const char *serial)
{
	snprintf(ft->serial, sizeof(ft->serial), "%s", serial);
}

int
ft_set_config(struct faketarget *ft, const void *str, size_t len)
{
	if (len > FT_CFG_MAX)
		return -EINVAL;
	if (len)
		memcpy(ft->cfg, str, len);
	ft->cfg_len = len;
	return 0;
}

const uint8_t *
ft_config(const struct faketarget *ft, size_t *len)
{
	*len = ft->cfg_len;
	return ft->cfg;
}

void
ft_set_silent(struct faketarget *ft, unsigned cmd_mask)
{
	ft->silent = cmd_mask;
}

void
ft_fail_lba(struct faketarget *ft, uint64_t lba, uint8_t err)
{
	ft->fail_on = true;
	ft->fail_lba = lba;
	ft->fail_err = err;
}

void
ft_fail_clear(struct faketarget *ft)
{
	ft->fail_on = false;
}

unsigned
ft_mask_count(const struct faketarget *ft)
{
	return ft->nmasks;
}

const uint8_t *
ft_mask_mac(const struct faketarget *ft, unsigned i)
{
	return i < ft->nmasks ? ft->masks[i] : NULL;
}

/* vblade addmask: 2 already present, 1 added, 0 list full. */
int
ft_mask_add(struct faketarget *ft, const uint8_t mac[6])
{
	for (unsigned i = 0; i < ft->nmasks; i++)
		if (memcmp(ft->masks[i], mac, 6) == 0)
			return 2;
	if (ft->nmasks >= FT_MASK_MAX)
		return 0;
	memcpy(ft->masks[ft->nmasks++], mac, 6);
	return 1;
}

static void
ft_mask_del(struct faketarget *ft, const uint8_t mac[6])
{
	for (unsigned i = 0; i < ft->nmasks; i++) {
		if (memcmp(ft->masks[i], mac, 6) == 0) {
			memmove(ft->masks[i], ft->masks[i + 1],
			    (ft->nmasks - i - 1) * 6);
			ft->nmasks--;
			return;
		}
	}
}

unsigned
ft_resv_count(const struct faketarget *ft)
{
	return ft->nresv;
}

const uint8_t *
ft_resv_mac(const struct faketarget *ft, unsigned i)
{
	return i < ft->nresv ? ft->resv[i] : NULL;
}

void
ft_resv_set(struct faketarget *ft, const uint8_t (*macs)[6], unsigned n)
{
	if (n > FT_RESV_MAX)
		n = FT_RESV_MAX;
	if (n)
		memcpy(ft->resv, macs, (size_t)n * 6);
	ft->nresv = n;
}

uint16_t
ft_shelf(const struct faketarget *ft)
{
	return ft->shelf;
}

uint8_t
ft_slot(const struct faketarget *ft)
{
	return ft->slot;
}

const uint8_t *
ft_mac(const struct faketarget *ft)
{
	return ft->mac;
}

uint64_t
ft_sectors(const struct faketarget *ft)
{
	return ft->sectors;
}

const struct ft_stats *
ft_stats(const struct faketarget *ft)
{
	return &ft->st;
}

const struct ft_write_rec *
ft_write_log(const struct faketarget *ft, size_t *n)
{
	*n = ft->wlog_n;
	return ft->wlog;
}

/* ---------------------------------------------------------------- ATA */

/* vblade setfld: two characters per word, the first in the high byte. */
static void
ident_str(uint8_t *id, unsigned word, unsigned nbytes, const char *s)
{
	uint8_t *p = id + 2 * word;
	size_t sl = strlen(s);

	for (unsigned i = 0; i < nbytes; i++) {
		uint8_t c = i < sl ? (uint8_t)s[i] : ' ';

		p[i ^ 1] = c;
	}
}

static void
ident_build(const struct faketarget *ft, uint8_t *id)
{
	uint64_t n = ft->ident_sectors ? ft->ident_sectors : ft->sectors;
	uint64_t n28 = MIN(n, 0x0fffffffULL);

	memset(id, 0, 512);
	put_le16(id + 2 * 47, 0x8000);
	put_le16(id + 2 * 49, 0x0200);
	put_le16(id + 2 * 50, 0x4000);
	put_le16(id + 2 * 83, ft->w83);
	put_le16(id + 2 * 84, 0x4000);
	put_le16(id + 2 * 86, 0x1400);
	put_le16(id + 2 * 87, 0x4000);
	put_le16(id + 2 * 93, 0x400b);
	ident_str(id, 27, 40, "Coraid EtherDrive vblade");
	ident_str(id, 23, 8, "V25");
	ident_str(id, 10, 20, ft->serial);
	put_le16(id + 2 * 60, (uint16_t)n28);
	put_le16(id + 2 * 61, (uint16_t)(n28 >> 16));
	put_le48(id + 2 * 100, n);
}

static bool
rr_ok(const struct faketarget *ft, const uint8_t *src)
{
	if (ft->nresv == 0)
		return true;
	for (unsigned i = 0; i < ft->nresv; i++)
		if (memcmp(ft->resv[i], src, 6) == 0)
			return true;
	return false;
}

static void
wlog_add(struct faketarget *ft, uint64_t lba, unsigned count, uint32_t tag)
{
	if (ft->wlog_n == ft->wlog_cap) {
		size_t cap = ft->wlog_cap ? 2 * ft->wlog_cap : 256;
		struct ft_write_rec *w = realloc(ft->wlog, cap * sizeof(*w));

		if (w == NULL)
			return;
		ft->wlog = w;
		ft->wlog_cap = cap;
	}
	ft->wlog[ft->wlog_n++] = (struct ft_write_rec){
		.seq = ft->st.frames, .lba = lba, .count = count, .tag = tag,
	};
}

/*
 * vblade atacmd: returns -1 for a bad argument (AoE error 2), else fills
 * status/err/remaining sectors.  rsp holds the request copied in.
 */
static int
ata_cmd(struct faketarget *ft, uint8_t *rsp, size_t cap, size_t reqlen,
    uint8_t *status, uint8_t *err, uint8_t *left)
{
	uint8_t cmd = rsp[O_ARG + 3];
	uint8_t cnt = rsp[O_ARG + 2];
	uint64_t lba = get_le48(rsp + O_ARG + 4);
	size_t ndp = (size_t)ft->accept_scnt * 512;
	size_t payload = reqlen - FT_ATA_HDR;
	uint8_t *dp = rsp + FT_ATA_HDR;
	bool write;

	*status = 0;
	*err = 0;
	*left = cnt;
	switch (cmd) {
	case 0xe7:
		ft->st.flushes++;
		return 0;
	case 0xea:
		if (!ft->flush_ext)
			goto abort;
		ft->st.flush_exts++;
		*status = 0x40;
		return 0;
	case 0xec:
		if (cnt != 1 || ndp < 512 || cap < FT_ATA_HDR + 512)
			return -1;
		ident_build(ft, dp);
		ft->st.identifies++;
		*status = 0x40;
		*left = 0;
		return 0;
	case 0xe5:
		*left = 0xff;
		*status = 0x40;
		return 0;
	case 0x20:
	case 0x30:
		lba &= 0x0fffffffULL;
		break;
	case 0x24:
	case 0x34:
		break;
	default:
		goto abort;
	}
	write = cmd == 0x30 || cmd == 0x34;
	if (cnt > ft->accept_scnt || (size_t)cnt * 512 > ndp)
		return -1;
	if (!write && cap < FT_ATA_HDR + (size_t)cnt * 512)
		return -1;
	if (lba + cnt > ft->sectors) {
		*err = 0x10;
		*status = 0x41;
		return 0;
	}
	if (ft->fail_on && ft->fail_lba >= lba && ft->fail_lba < lba + cnt) {
		*err = ft->fail_err;
		*status = 0x41;
		return 0;
	}
	if (!write) {
		ft_pread(ft, dp, (size_t)cnt * 512, lba * 512);
		ft->st.reads++;
		ft->st.sectors_read += cnt;
	} else {
		if (payload < (size_t)cnt * 512)
			return -1;
		if (ft->read_only) {
			/* pwrite on an O_RDONLY fd fails: ABRT, nothing done */
			*err = 0x04;
			*status = 0x41;
			return 0;
		}
		if (ft_pwrite(ft, dp, (size_t)cnt * 512, lba * 512) < 0)
			return -1;
		ft->st.writes++;
		ft->st.sectors_written += cnt;
		wlog_add(ft, lba, cnt, get_be32(rsp + O_TAG));
	}
	*status = 0x40;
	*left = 0;
	return 0;
abort:
	*status = 0x41;
	*err = 0x04;
	return 0;
}

/* vblade aoeata: the reply is 60 bytes, or 36 + data for a read. */
static size_t
do_ata(struct faketarget *ft, uint8_t *rsp, size_t cap, size_t reqlen)
{
	uint8_t status, err, left, cnt = rsp[O_ARG + 2];
	size_t len = 60;

	if (rsp[O_ARG + 3] != 0xec && !rr_ok(ft, rsp + O_SRC)) {
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_RES;
		return len;
	}
	if (ata_cmd(ft, rsp, cap, reqlen, &status, &err, &left) < 0) {
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_BADARG;
		return len;
	}
	if (!(rsp[O_ARG] & 0x01) && cnt)
		len = FT_ATA_HDR + (size_t)(cnt - left) * 512;
	rsp[O_ARG + 1] = err;
	rsp[O_ARG + 2] = left;
	rsp[O_ARG + 3] = status;
	if (status & 0x01)
		ft->st.ata_errors++;
	return len;
}

/* ---------------------------------------------------------------- config */

static size_t
cfg_fill(const struct faketarget *ft, uint8_t *p, uint8_t ccmd)
{
	put_be16(p + O_ARG, ft->bufcnt);
	put_be16(p + O_ARG + 2, ft->fwver);
	p[O_ARG + 4] = ft->scnt;
	p[O_ARG + 5] = (uint8_t)(0x10 | (ccmd & 0x0f));
	put_be16(p + O_ARG + 6, (uint16_t)ft->cfg_len);
	if (ft->cfg_len)
		memcpy(p + FT_CFG_HDR, ft->cfg, ft->cfg_len);
	return FT_CFG_HDR + ft->cfg_len;
}

/* vblade confcmd: test and prefix stay silent on mismatch. */
static size_t
do_cfg(struct faketarget *ft, uint8_t *rsp, size_t cap, size_t reqlen)
{
	uint8_t ccmd = rsp[O_ARG + 5] & 0x0f;
	size_t len = get_be16(rsp + O_ARG + 6);
	const uint8_t *str = rsp + FT_CFG_HDR;

	if (cap < FT_CFG_HDR + FT_CFG_MAX)
		return 0;
	if (ccmd != 0 && (len > FT_CFG_MAX || len > reqlen - FT_CFG_HDR))
		return 0;
	ft->st.cfgs++;
	switch (ccmd) {
	case 0:
		break;
	case 1:
		if (len != ft->cfg_len || memcmp(ft->cfg, str, len) != 0)
			return 0;
		break;
	case 2:
		if (len > ft->cfg_len || memcmp(ft->cfg, str, len) != 0)
			return 0;
		break;
	case 3:
		if (ft->cfg_len && (ft->cfg_len != len ||
		    memcmp(ft->cfg, str, len) != 0)) {
			rsp[O_VERFL] |= F_ERR;
			rsp[O_ERR] = E_CFGSET;
			break;
		}
		/* FALLTHROUGH */
	case 4:
		memmove(ft->cfg, str, len);
		ft->cfg_len = len;
		break;
	default:
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_BADARG;
		break;
	}
	return cfg_fill(ft, rsp, ccmd);
}

/* ---------------------------------------------------------------- mask */

static size_t
do_mask(struct faketarget *ft, uint8_t *rsp, size_t cap, size_t reqlen)
{
	uint8_t mcmd = rsp[O_ARG + 1];
	unsigned ndir = rsp[O_ARG + 3];
	uint8_t *d = rsp + FT_MASK_HDR;

	ft->st.masks++;
	if (cap < FT_MASK_HDR + FT_MASK_MAX * 8)
		return 0;
	switch (mcmd) {
	case 1:
		if ((size_t)ndir * 8 > reqlen - FT_MASK_HDR) {
			rsp[O_VERFL] |= F_ERR;
			rsp[O_ERR] = E_BADARG;
			return FT_MASK_HDR;
		}
		for (unsigned i = 0; i < ndir; i++) {
			const uint8_t *md = d + 8 * i;

			switch (md[1]) {
			case 0:
				continue;
			case 1:
				if (ft_mask_add(ft, md + 2))
					continue;
				rsp[O_ARG + 2] = 3;
				rsp[O_ARG + 3] = (uint8_t)i;
				return FT_MASK_HDR;
			case 2:
				ft_mask_del(ft, md + 2);
				continue;
			default:
				rsp[O_ARG + 2] = 2;
				rsp[O_ARG + 3] = (uint8_t)i;
				return FT_MASK_HDR;
			}
		}
		/* FALLTHROUGH */
	case 0:
		for (unsigned i = 0; i < ft->nmasks; i++) {
			d[8 * i] = 0;
			d[8 * i + 1] = 0;
			memcpy(d + 8 * i + 2, ft->masks[i], 6);
		}
		rsp[O_ARG + 2] = 0;
		rsp[O_ARG + 3] = (uint8_t)ft->nmasks;
		return FT_MASK_HDR + 8 * (size_t)ft->nmasks;
	default:
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_BADARG;
		return FT_MASK_HDR;
	}
}

/* ---------------------------------------------------------------- reserve */

static size_t
do_resv(struct faketarget *ft, uint8_t *rsp, size_t cap, size_t reqlen)
{
	uint8_t rcmd = rsp[O_ARG];
	unsigned n = rsp[O_ARG + 1];

	ft->st.resvs++;
	if (cap < FT_RESV_HDR + FT_RESV_MAX * 6)
		return 0;
	switch (rcmd) {
	case 1:
		if (!rr_ok(ft, rsp + O_SRC)) {
			rsp[O_VERFL] |= F_ERR;
			rsp[O_ERR] = E_RES;
			break;
		}
		/* FALLTHROUGH */
	case 2:
		if ((size_t)n * 6 > reqlen - FT_RESV_HDR) {
			rsp[O_VERFL] |= F_ERR;
			rsp[O_ERR] = E_BADARG;
			break;
		}
		ft_resv_set(ft, (const uint8_t (*)[6])(rsp + FT_RESV_HDR), n);
		break;
	case 0:
		break;
	default:
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_BADARG;
		break;
	}
	rsp[O_ARG + 1] = (uint8_t)ft->nresv;
	if (ft->nresv)
		memcpy(rsp + FT_RESV_HDR, ft->resv, (size_t)ft->nresv * 6);
	return FT_RESV_HDR + (size_t)ft->nresv * 6;
}

/* ---------------------------------------------------------------- frames */

static bool
mask_ok(const struct faketarget *ft, const uint8_t *src)
{
	for (unsigned i = 0; i < ft->nmasks; i++)
		if (memcmp(ft->masks[i], src, 6) == 0)
			return true;
	return false;
}

size_t
ft_handle(struct faketarget *ft, const uint8_t *req, size_t len,
    uint8_t *rsp, size_t cap)
{
	static const unsigned min_len[] = {
		FT_ATA_HDR, FT_CFG_HDR, FT_MASK_HDR, FT_RESV_HDR,
	};
	uint16_t shelf;
	uint8_t slot, cmd;
	size_t rlen;

	ft->st.frames++;
	/* vblade's BPF filter and aoe() loop */
	if (len < FT_HDR || get_be16(req + O_TYPE) != 0x88a2 ||
	    (req[O_VERFL] & F_RSP))
		goto ignore;
	shelf = get_be16(req + O_SHELF);
	slot = req[O_SLOT];
	cmd = req[O_CMD];
	if ((shelf != ft->shelf && shelf != 0xffff) ||
	    (slot != ft->slot && slot != 0xff))
		goto ignore;
	if (ft->nmasks && !mask_ok(ft, req + O_SRC))
		goto ignore;
	if (cmd < 4 && ((ft->silent >> cmd) & 1))
		goto ignore;
	if (cmd >= 4 && ft->silent == FT_SILENT_ALL)
		goto ignore;
	if (cmd < 4 && len < min_len[cmd])
		goto ignore;
	if (cap < 60 || cap < len)
		goto ignore;

	/* vblade answers in place: the reply starts as the request */
	memset(rsp, 0, MIN(cap, (size_t)FT_ATA_HDR + 17 * 512));
	memcpy(rsp, req, len);
	switch (cmd) {
	case 0:
		rlen = do_ata(ft, rsp, cap, len);
		break;
	case 1:
		rlen = do_cfg(ft, rsp, cap, len);
		break;
	case 2:
		rlen = do_mask(ft, rsp, cap, len);
		break;
	case 3:
		rlen = do_resv(ft, rsp, cap, len);
		break;
	default:
		rsp[O_VERFL] |= F_ERR;
		rsp[O_ERR] = E_BADCMD;
		rlen = len;
		break;
	}
	if (rlen == 0)
		return 0;
	memcpy(rsp + O_DST, req + O_SRC, 6);
	memcpy(rsp + O_SRC, ft->mac, 6);
	put_be16(rsp + O_SHELF, ft->shelf);
	rsp[O_SLOT] = ft->slot;
	rsp[O_VERFL] |= F_RSP;
	if (rsp[O_VERFL] & F_ERR)
		ft->st.aoe_errors++;
	ft->st.replies++;
	return rlen;
ignore:
	ft->st.ignored++;
	return 0;
}

size_t
ft_advert(struct faketarget *ft, uint8_t *buf, size_t cap)
{
	if (cap < FT_CFG_HDR + ft->cfg_len)
		return 0;
	memset(buf, 0, FT_CFG_HDR);
	memset(buf + O_DST, 0xff, 6);
	memcpy(buf + O_SRC, ft->mac, 6);
	put_be16(buf + O_TYPE, 0x88a2);
	/* vblade aoead sets the whole byte to Resp: version nibble 0 */
	buf[O_VERFL] = F_RSP;
	put_be16(buf + O_SHELF, ft->shelf);
	buf[O_SLOT] = ft->slot;
	buf[O_CMD] = 1;
	put_be32(buf + O_TAG, 0);
	return cfg_fill(ft, buf, 0);
}
