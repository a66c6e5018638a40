/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AoE wire codec (AoEr11): the Ethernet + AoE common header and the
 * arguments of commands 0 (ATA), 1 (Query Config), 2 (MAC Mask List) and
 * 3 (Reserve/Release).  Pure: byte buffers in, host-order structs out; no
 * I/O, no allocation, no globals, no clock.  Decoders check the remaining
 * length before every read and never read past len.  Encoders write at most
 * cap bytes and return the length written (before padding), or a negative
 * errno when cap is too small or a field is out of range.
 */
#ifndef AOE_AOE_H
#define AOE_AOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AOE_ETHERTYPE 0x88a2
#define AOE_VERSION 1
#define ETH_HLEN_ 14
#define AOE_MIN_FRAME 60 /* Ethernet minimum without FCS: pad requests */

/* Lengths including the 14-byte Ethernet header (vblade dat.h). */
#define AOE_HDR_LEN 24
#define AOE_ATA_HDR_LEN 36 /* + 12 bytes ATA argument */
#define AOE_CFG_HDR_LEN 32 /* + 8 bytes config argument */
#define AOE_MASK_HDR_LEN 28 /* + 4 bytes mask argument */
#define AOE_RESV_HDR_LEN 26 /* + 2 bytes reserve argument */

/* Header flags (low nibble of byte 14). */
#define AOE_FLAG_RSP 0x08
#define AOE_FLAG_ERR 0x04

/* Commands. */
#define AOE_CMD_ATA 0
#define AOE_CMD_CFG 1
#define AOE_CMD_MASK 2
#define AOE_CMD_RESV 3

/* Errors in an E-flagged response (AoEr11 2.4). */
#define AOE_ERR_BADCMD 1
#define AOE_ERR_BADARG 2
#define AOE_ERR_DEVUNAVAIL 3
#define AOE_ERR_CFG_SET 4
#define AOE_ERR_BADVER 5
#define AOE_ERR_RESERVED 6

#define AOE_SHELF_ANY 0xffff
#define AOE_SLOT_ANY 0xff

/* Tags we issue have bit 31 set so a loaded aoe.ko ignores the replies. */
#define AOE_TAG_USER 0x80000000u
/*
 * Bits 30..28 of our tags: the instance of the process that issued it.
 * The initiators of one host share the interface's MAC address, so each
 * receives the answers to all of them; only the instance tells them apart
 * (rt.c claims a free one per network namespace).  engine.c and
 * pathcheck.c lay out the other bits.
 */
#define AOE_TAG_INSTANCES 8
#define AOE_TAG_INSTANCE_SHIFT 28
#define AOE_TAG_INSTANCE(i) \
	((uint32_t)((i) & (AOE_TAG_INSTANCES - 1)) << AOE_TAG_INSTANCE_SHIFT)

struct aoe_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint8_t version; /* high nibble of byte 14 */
	uint8_t flags;   /* low nibble of byte 14: AOE_FLAG_* */
	uint8_t error;
	uint16_t shelf;  /* "major" */
	uint8_t slot;    /* "minor" */
	uint8_t cmd;
	uint32_t tag;
};

/* ATA argument (AoEr11 3.1). */
#define AOE_AFLAG_EXT 0x40
#define AOE_AFLAG_DEV 0x10
#define AOE_AFLAG_ASYNC 0x02
#define AOE_AFLAG_WRITE 0x01

struct aoe_ata {
	uint8_t aflags;
	uint8_t err_feature;
	uint8_t scnt;
	uint8_t cmd_status;
	uint64_t lba; /* 48 bits, little-endian on the wire */
};

/* Query Config argument (AoEr11 3.2). */
#define AOE_CCMD_READ 0
#define AOE_CCMD_TEST 1
#define AOE_CCMD_PREFIX 2
#define AOE_CCMD_SET 3
#define AOE_CCMD_FSET 4
#define AOE_CFG_STR_MAX 1024

struct aoe_cfg {
	uint16_t bufcnt;
	uint16_t fwver;
	uint8_t scnt;    /* 0 means 2 for old targets: see aoe_cfg_scnt() */
	uint8_t aoever;  /* high nibble of the ver/ccmd byte */
	uint8_t ccmd;    /* low nibble */
	uint16_t len;    /* config string length, <= AOE_CFG_STR_MAX */
	uint8_t str[AOE_CFG_STR_MAX];
};

/* MAC Mask List (AoEr11 3.3). */
#define AOE_MCMD_READ 0
#define AOE_MCMD_EDIT 1
#define AOE_MERR_UNSPEC 1
#define AOE_MERR_BADDIR 2
#define AOE_MERR_FULL 3
#define AOE_DCMD_NONE 0
#define AOE_DCMD_ADD 1
#define AOE_DCMD_DEL 2
#define AOE_MASK_MAX 255

struct aoe_mask_dir {
	uint8_t dcmd;
	uint8_t mac[6];
};

struct aoe_mask {
	uint8_t mcmd;
	uint8_t merror;
	uint8_t ndir;
	struct aoe_mask_dir dir[AOE_MASK_MAX];
};

/* Reserve/Release (AoEr11 3.4). */
#define AOE_RCMD_READ 0
#define AOE_RCMD_SET 1
#define AOE_RCMD_FSET 2
#define AOE_RESV_MAX 255

struct aoe_resv {
	uint8_t rcmd;
	uint8_t nmacs;
	uint8_t macs[AOE_RESV_MAX][6];
};

/*
 * Decode the Ethernet + AoE header.  Returns AOE_HDR_LEN, or -EMSGSIZE when
 * len < AOE_HDR_LEN, -EPROTO when the ethertype is not AOE_ETHERTYPE.
 * The version is decoded, not checked: callers decide.
 */
int aoe_hdr_decode(const uint8_t *p, size_t len, struct aoe_hdr *h);
/* Encode; returns AOE_HDR_LEN or -ENOBUFS. */
int aoe_hdr_encode(uint8_t *p, size_t cap, const struct aoe_hdr *h);

/*
 * ATA argument at p[AOE_HDR_LEN..AOE_ATA_HDR_LEN) of a whole frame p.
 * Decode returns AOE_ATA_HDR_LEN or -EMSGSIZE; data (if any) follows at
 * p + AOE_ATA_HDR_LEN.  Encode writes the argument only (header separately),
 * rejects lba >= 2^48 with -ERANGE, returns AOE_ATA_HDR_LEN or -ENOBUFS.
 */
int aoe_ata_decode(const uint8_t *p, size_t len, struct aoe_ata *a);
int aoe_ata_encode(uint8_t *p, size_t cap, const struct aoe_ata *a);

/*
 * Config argument + string.  Decode returns AOE_CFG_HDR_LEN + c->len, or
 * -EMSGSIZE when the frame is shorter than the header or than the string
 * length it announces, -EOVERFLOW when the length exceeds AOE_CFG_STR_MAX.
 * Encode returns the bytes written or -ENOBUFS / -EOVERFLOW.
 */
int aoe_cfg_decode(const uint8_t *p, size_t len, struct aoe_cfg *c);
int aoe_cfg_encode(uint8_t *p, size_t cap, const struct aoe_cfg *c);
/* The usable sectors per command: scnt, or 2 when a target says 0. */
unsigned aoe_cfg_scnt(const struct aoe_cfg *c);

/*
 * Mask list.  Decode returns AOE_MASK_HDR_LEN + 8 * ndir or -EMSGSIZE;
 * encode likewise or -ENOBUFS.  Exception: a reply with merror set (a failed
 * edit) carries in ndir the index of the failing directive and, from vblade,
 * no directives; decode then keeps ndir, decodes only the directives present
 * (the rest are zeroed) and returns AOE_MASK_HDR_LEN + 8 * that number.
 */
int aoe_mask_decode(const uint8_t *p, size_t len, struct aoe_mask *m);
int aoe_mask_encode(uint8_t *p, size_t cap, const struct aoe_mask *m);

/* Reserve/release.  Decode returns AOE_RESV_HDR_LEN + 6 * nmacs or -EMSGSIZE. */
int aoe_resv_decode(const uint8_t *p, size_t len, struct aoe_resv *r);
int aoe_resv_encode(uint8_t *p, size_t cap, const struct aoe_resv *r);

/*
 * Pad a request of len bytes with zeroes to AOE_MIN_FRAME; returns the new
 * length (len when already long enough).  p must hold AOE_MIN_FRAME bytes.
 */
size_t aoe_pad(uint8_t *p, size_t len);

/* Map an AoE error code (E flag) to a negative errno. */
int aoe_error_errno(uint8_t error);
/* Human-readable text for an AoE error code, never NULL. */
const char *aoe_error_str(uint8_t error);
/* Names: "ATA", "config", "mask", "reserve" or "vendor"/"unknown". */
const char *aoe_cmd_str(uint8_t cmd);
const char *aoe_ccmd_str(uint8_t ccmd);

#endif
