/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ATA as carried by AoE: IDENTIFY DEVICE parsing and the register values of
 * the commands an initiator sends (READ/WRITE SECTORS (EXT), FLUSH CACHE
 * (EXT), IDENTIFY), plus status/error to errno.  Pure, like aoe.h.
 */
#ifndef AOE_ATA_H
#define AOE_ATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aoe.h"

#define ATA_SECTOR_SIZE 512
#define ATA_LBA28_MAX 0x0fffffffULL
#define ATA_LBA48_MAX 0xffffffffffffULL

/* Sectors of data one AoE ATA frame carries within an MTU of mtu bytes. */
static inline unsigned
ata_mtu_sectors(unsigned mtu)
{
	return mtu > AOE_ATA_HDR_LEN ?
	    (mtu - AOE_ATA_HDR_LEN) / ATA_SECTOR_SIZE : 0;
}

/* Commands (ACS-3). */
#define ATA_CMD_READ 0x20
#define ATA_CMD_READ_EXT 0x24
#define ATA_CMD_WRITE 0x30
#define ATA_CMD_WRITE_EXT 0x34
#define ATA_CMD_DSM 0x06
#define ATA_CMD_CHECK_POWER 0xe5
#define ATA_CMD_FLUSH 0xe7
#define ATA_CMD_FLUSH_EXT 0xea
#define ATA_CMD_IDENTIFY 0xec

/* Status and error register bits. */
#define ATA_ST_BSY 0x80
#define ATA_ST_DRDY 0x40
#define ATA_ST_DF 0x20
#define ATA_ST_DRQ 0x08
#define ATA_ST_ERR 0x01
#define ATA_ST_BAD (ATA_ST_BSY | ATA_ST_DF | ATA_ST_DRQ | ATA_ST_ERR) /* 0xa9 */
#define ATA_ER_UNC 0x40
#define ATA_ER_IDNF 0x10
#define ATA_ER_ABRT 0x04

struct ata_ident {
	uint64_t sectors;       /* capacity in 512-byte sectors */
	bool lba;               /* word 49 bit 9 */
	bool lba48;             /* (w83 | w86) bit 10 */
	bool flush;             /* w83 bit 12: FLUSH CACHE */
	bool flush_ext;         /* w83 bit 13: FLUSH CACHE EXT */
	bool wcache;            /* w82 bit 5 supported */
	bool wcache_on;         /* w85 bit 5 enabled */
	bool fua;               /* w84 bit 6 */
	bool trim;              /* w169 bit 0 */
	bool smart;             /* w82 bit 0 */
	uint16_t rotation;      /* w217: 0 unknown, 1 solid state, else rpm */
	uint32_t logical_sector; /* bytes, from w106/w117-118, default 512 */
	uint32_t physical_sector; /* bytes, from w106, default 512 */
	char serial[21];        /* words 10-19, byte-swapped, trailing spaces cut */
	char firmware[9];       /* words 23-26 */
	char model[41];         /* words 27-46 */
};

/*
 * Parse a 512-byte IDENTIFY DEVICE block.  Returns 0, -EMSGSIZE when
 * len < 512, -EPROTO when the device does not support LBA addressing
 * (9front refuses such units too).  Strings are made printable: control
 * and non-ASCII bytes become '?', trailing spaces are removed.
 */
int ata_ident_parse(const uint8_t *p, size_t len, struct ata_ident *id);

/*
 * Build the ATA argument for a read or write of scnt (1..255) sectors at
 * lba: LBA48 (E flag, READ/WRITE SECTORS EXT) when lba48 is set, else
 * LBA28 (device register 0xE0 | lba[27:24]).  Returns 0, -ERANGE when the
 * range does not fit the addressing mode, -EINVAL for scnt 0.
 */
int ata_rw_build(struct aoe_ata *a, bool write, bool lba48, uint64_t lba,
    unsigned scnt);
/* IDENTIFY DEVICE: count 1, device register 0xA0. */
void ata_identify_build(struct aoe_ata *a);
/* FLUSH CACHE EXT when ext, else FLUSH CACHE. */
void ata_flush_build(struct aoe_ata *a, bool ext);

/*
 * Errno for an ATA response: 0 when status & ATA_ST_BAD is clear; else
 * -ENOSPC for IDNF (address out of range), -EROFS for ABRT on a write,
 * -EOPNOTSUPP for ABRT on anything else, -EIO otherwise (UNC, DF...).
 */
int ata_status_errno(uint8_t status, uint8_t error, bool write);

#endif
