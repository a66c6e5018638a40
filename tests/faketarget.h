/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An AoE target in memory that answers requests the way vblade 25 does
 * (its aoe.c and ata.c): ATA read/write/IDENTIFY/FLUSH, Query Config with
 * all five commands, MAC mask list and reserve/release.  For unit tests:
 * no I/O, frames in, frames out, plus knobs and counters.
 */
#ifndef AOE_FAKETARGET_H
#define AOE_FAKETARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct faketarget;

struct ft_stats {
	uint64_t frames;        /* handed to ft_handle() */
	uint64_t ignored;       /* not for us, R set, masked, silenced, short */
	uint64_t replies;
	uint64_t identifies, reads, writes, flushes, flush_exts;
	uint64_t sectors_read, sectors_written;
	uint64_t cfgs, masks, resvs;
	uint64_t ata_errors;    /* replies with ATA status ERR */
	uint64_t aoe_errors;    /* replies with the E flag */
};

/* One successful ATA write, in execution order. */
struct ft_write_rec {
	uint64_t seq;           /* frames counter when it ran */
	uint64_t lba;
	unsigned count;
	uint32_t tag;
};

/* Bits for ft_set_silent(): ignore these AoE commands. */
#define FT_SILENT_ATA (1u << 0)
#define FT_SILENT_CFG (1u << 1)
#define FT_SILENT_MASK (1u << 2)
#define FT_SILENT_RESV (1u << 3)
#define FT_SILENT_ALL 0xffffffffu

#define FT_MASK_MAX 32          /* vblade's Nmasks */
#define FT_RESV_MAX 255

/*
 * A target e<shelf>.<slot> with the given MAC and an all-zero image of
 * sectors 512-byte sectors (stored sparsely).  Defaults as vblade at MTU
 * 1500: bufcnt 16, scnt 2, fwver 0x4019, empty config string, read-write,
 * serial "shelf.slot:fakehost".  NULL on allocation failure.
 */
struct faketarget *ft_new(uint16_t shelf, uint8_t slot, const uint8_t mac[6],
    uint64_t sectors);
void ft_free(struct faketarget *ft);

/*
 * Handle one request frame (Ethernet header first).  Writes the reply to
 * rsp (at most cap bytes) and returns its length, unpadded as vblade sends
 * it, or 0 when the target stays silent.
 */
size_t ft_handle(struct faketarget *ft, const uint8_t *req, size_t len,
    uint8_t *rsp, size_t cap);

/*
 * The unsolicited advert vblade broadcasts at start-up: a Query Config
 * response with tag 0 to ff:ff:ff:ff:ff:ff and, as vblade's aoead() builds
 * it, version nibble 0 in byte 14.  Returns its length or 0 when cap is
 * too small.
 */
size_t ft_advert(struct faketarget *ft, uint8_t *buf, size_t cap);

/* Knobs. */
void ft_set_bufcnt(struct faketarget *ft, uint16_t bufcnt);
void ft_set_fwver(struct faketarget *ft, uint16_t fwver);
/* Advertised and accepted sectors per command (vblade: (mtu - 36) / 512). */
void ft_set_scnt(struct faketarget *ft, uint8_t scnt);
void ft_set_mtu(struct faketarget *ft, unsigned mtu);
/* Accept at most this many sectors while still advertising scnt. */
void ft_set_accept_scnt(struct faketarget *ft, uint8_t scnt);
void ft_set_read_only(struct faketarget *ft, bool ro);
/* Advertise FLUSH CACHE EXT (w83 bit 13) and execute 0xEA. */
void ft_set_flush_ext(struct faketarget *ft, bool on);
/* Override IDENTIFY word 83 (vblade: 0x5400). */
void ft_set_w83(struct faketarget *ft, uint16_t w83);
/* IDENTIFY reports this many sectors (0 = the real size). */
void ft_set_ident_sectors(struct faketarget *ft, uint64_t sectors);
void ft_set_serial(struct faketarget *ft, const char *serial);
int ft_set_config(struct faketarget *ft, const void *str, size_t len);
const uint8_t *ft_config(const struct faketarget *ft, size_t *len);
void ft_set_silent(struct faketarget *ft, unsigned cmd_mask);
/* Reads and writes touching lba fail with status 0x41 and error err. */
void ft_fail_lba(struct faketarget *ft, uint64_t lba, uint8_t err);
void ft_fail_clear(struct faketarget *ft);

/* Mask and reservation lists (as edited over the wire or set here). */
unsigned ft_mask_count(const struct faketarget *ft);
const uint8_t *ft_mask_mac(const struct faketarget *ft, unsigned i);
int ft_mask_add(struct faketarget *ft, const uint8_t mac[6]);
unsigned ft_resv_count(const struct faketarget *ft);
const uint8_t *ft_resv_mac(const struct faketarget *ft, unsigned i);
void ft_resv_set(struct faketarget *ft, const uint8_t (*macs)[6],
    unsigned n);

/* Accessors. */
uint16_t ft_shelf(const struct faketarget *ft);
uint8_t ft_slot(const struct faketarget *ft);
const uint8_t *ft_mac(const struct faketarget *ft);
uint64_t ft_sectors(const struct faketarget *ft);
const struct ft_stats *ft_stats(const struct faketarget *ft);
const struct ft_write_rec *ft_write_log(const struct faketarget *ft,
    size_t *n);

/* The image, bytes at any offset; 0 or -EINVAL past the end / -ENOMEM. */
int ft_pread(const struct faketarget *ft, void *buf, size_t len,
    uint64_t off);
int ft_pwrite(struct faketarget *ft, const void *buf, size_t len,
    uint64_t off);

#endif
