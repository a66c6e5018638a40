/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ATA over AoE: parse IDENTIFY DEVICE data, fill in the ATA argument of the
 * commands an initiator sends, and map status/error registers to errno.
 * Pure: no I/O, allocation, globals or clock.
 */
#include <errno.h>
#include <string.h>

#include "ata.h"
#include "util.h"

#define IDENT_LEN 512

/* Device register values (lba byte 3 when the E flag is clear). */
#define ATA_DEV_LBA 0xe0      /* LBA mode + the two obsolete bits */
#define ATA_DEV_IDENTIFY 0xa0 /* obsolete bits only, as Linux sends it */

static uint16_t
ident_word(const uint8_t *p, unsigned w)
{
	return get_le16(p + 2 * w);
}

/*
 * ATA strings hold two characters per word, the first in the high byte
 * (ACS-3 3.4.9).  Trailing spaces (and NULs, which some devices pad with)
 * are cut; anything else outside printable ASCII becomes '?'.
 */
static void
ident_string(char *dst, const uint8_t *p, unsigned first, unsigned nwords)
{
	size_t n = 2 * (size_t)nwords;

	for (unsigned i = 0; i < nwords; i++) {
		dst[2 * i] = (char)p[2 * (first + i) + 1];
		dst[2 * i + 1] = (char)p[2 * (first + i)];
	}
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)dst[i];

		if (c < 0x20 || c > 0x7e)
			dst[i] = '?';
	}
}

/*
 * Word 106 (ACS-3 7.12.7.39): valid when bit 14 is set and bit 15 clear.
 * Bit 12: the logical sector is longer than 256 words and words 117-118
 * give its size in words.  Bits 3:0: 2^n logical sectors per physical one.
 * Implausible values (a logical size under 512 bytes, or sizes that do not
 * fit 32 bits) leave the 512-byte defaults.
 */
static void
ident_sector_size(const uint8_t *p, struct ata_ident *id)
{
	uint16_t w106 = ident_word(p, 106);
	uint64_t logical = ATA_SECTOR_SIZE, physical;

	id->logical_sector = ATA_SECTOR_SIZE;
	id->physical_sector = ATA_SECTOR_SIZE;
	if ((w106 & 0xc000) != 0x4000)
		return;
	if (w106 & 0x1000) {
		logical = 2 * (uint64_t)get_le32(p + 2 * 117);
		if (logical < ATA_SECTOR_SIZE || logical > UINT32_MAX)
			return;
	}
	physical = logical << (w106 & 0x0f);
	if (physical > UINT32_MAX)
		return;
	id->logical_sector = (uint32_t)logical;
	id->physical_sector = (uint32_t)physical;
}

int
ata_ident_parse(const uint8_t *p, size_t len, struct ata_ident *id)
{
	uint16_t w82, w83, w84, w85, w86;

	if (len < IDENT_LEN)
		return -EMSGSIZE;
	w82 = ident_word(p, 82);
	w83 = ident_word(p, 83);
	w84 = ident_word(p, 84);
	w85 = ident_word(p, 85);
	w86 = ident_word(p, 86);

	id->lba = ident_word(p, 49) & (1u << 9);
	/* Linux ataid_complete: 48-bit if supported (w83) or enabled (w86). */
	id->lba48 = (w83 | w86) & (1u << 10);
	if (id->lba48)
		id->sectors = get_le64(p + 2 * 100);
	else
		id->sectors = get_le32(p + 2 * 60);
	id->flush = w83 & (1u << 12);
	id->flush_ext = w83 & (1u << 13);
	id->wcache = w82 & (1u << 5);
	id->wcache_on = w85 & (1u << 5);
	id->fua = w84 & (1u << 6);
	id->trim = ident_word(p, 169) & 1u;
	id->smart = w82 & 1u;
	id->rotation = ident_word(p, 217);
	ident_sector_size(p, id);
	ident_string(id->serial, p, 10, 10);
	ident_string(id->firmware, p, 23, 4);
	ident_string(id->model, p, 27, 20);
	/* Everything is filled in even then, so callers can name the unit. */
	if (!id->lba)
		return -EPROTO;
	return 0;
}

int
ata_rw_build(struct aoe_ata *a, bool write, bool lba48, uint64_t lba,
    unsigned scnt)
{
	uint64_t limit = lba48 ? ATA_LBA48_MAX : ATA_LBA28_MAX;

	if (scnt == 0 || scnt > 255)
		return -EINVAL;
	/* The last sector, lba + scnt - 1, must be addressable. */
	if (lba > limit || scnt - 1 > limit - lba)
		return -ERANGE;
	memset(a, 0, sizeof(*a));
	a->scnt = (uint8_t)scnt;
	if (lba48) {
		a->aflags = AOE_AFLAG_EXT;
		a->cmd_status = write ? ATA_CMD_WRITE_EXT : ATA_CMD_READ_EXT;
		a->lba = lba;
	} else {
		/* lba3 is the device register: 0xE0 | LBA 27:24 (aoe.md). */
		a->cmd_status = write ? ATA_CMD_WRITE : ATA_CMD_READ;
		a->lba = (lba & 0x00ffffffULL) |
		    (uint64_t)(ATA_DEV_LBA | ((lba >> 24) & 0x0f)) << 24;
	}
	if (write)
		a->aflags |= AOE_AFLAG_WRITE;
	return 0;
}

void
ata_identify_build(struct aoe_ata *a)
{
	memset(a, 0, sizeof(*a));
	a->scnt = 1; /* vblade refuses any other count */
	a->cmd_status = ATA_CMD_IDENTIFY;
	a->lba = (uint64_t)ATA_DEV_IDENTIFY << 24;
}

void
ata_flush_build(struct aoe_ata *a, bool ext)
{
	memset(a, 0, sizeof(*a));
	if (ext) {
		/* A 48-bit command: use the extended register set. */
		a->aflags = AOE_AFLAG_EXT;
		a->cmd_status = ATA_CMD_FLUSH_EXT;
	} else {
		a->cmd_status = ATA_CMD_FLUSH;
	}
}

int
ata_status_errno(uint8_t status, uint8_t error, bool write)
{
	if (!(status & ATA_ST_BAD))
		return 0;
	/* The error register is meaningful only with ERR and no fault. */
	if ((status & (ATA_ST_BSY | ATA_ST_DF)) || !(status & ATA_ST_ERR))
		return -EIO;
	if (error & ATA_ER_IDNF)
		return -ENOSPC;
	if (error & ATA_ER_ABRT)
		return write ? -EROFS : -EOPNOTSUPP;
	return -EIO;
}
