/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Path checks (aoectl check, as aoetools' aoe-sancheck, both ways): which
 * frame sizes get through one path (local interface, target MAC).
 * Toward the target: IDENTIFY DEVICE requests padded with n sectors of
 * zeroes (the answer is small); back from it: READ SECTORS of n sectors at
 * LBA 0 (the request is small).  A probe's tag says its path, direction
 * and n.  Pure: frames in, frames out.
 */
#ifndef AOE_PATHCHECK_H
#define AOE_PATHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pc_dir {
	PC_TOWARD = 0, /* large requests, small answers */
	PC_BACK = 1,   /* small requests, large answers */
};

/* Sectors a probe carries at most (an ATA sector count byte). */
#define PC_MAX_SECTORS 255

/*
 * The tag instance of this process (0..7; rt_tag_instance), carried in
 * every probe's tag, so that another initiator on this host cannot take
 * the answers for its own.  Default 2.
 */
void pc_set_instance(unsigned instance);
/* The tag of the probe of n sectors on path, way d (bit 31 set). */
uint32_t pc_tag(unsigned path, enum pc_dir d, unsigned n);
/* Whether tag is a probe's; if so its path, way and n. */
bool pc_tag_decode(uint32_t tag, unsigned *path, enum pc_dir *d,
    unsigned *n);

/* The length of the Ethernet frame that carries n sectors of data. */
size_t pc_frame_len(unsigned n);

/*
 * Build the probe of n (1..PC_MAX_SECTORS) sectors for shelf.slot at MAC
 * dst, from src, on path, way d, into buf.  Returns the frame length, or 0
 * when cap is too small or n is out of range.
 */
size_t pc_build(uint8_t *buf, size_t cap, const uint8_t dst[6],
    const uint8_t src[6], uint16_t shelf, uint8_t slot, unsigned path,
    enum pc_dir d, unsigned n);

/*
 * Whether frame p (len bytes, Ethernet header first) is the successful
 * answer of shelf.slot to one of our probes, whole (a READ answer carries
 * its n sectors); if so, *tag is the probe's tag.
 */
bool pc_answer(const uint8_t *p, size_t len, uint16_t shelf, uint8_t slot,
    uint32_t *tag);

/* Why the target refused a probe. */
struct pc_refusal {
	bool aoe;              /* an AoE error (E flag set): its code */
	uint8_t aoe_error;
	uint8_t ata_status;    /* else an ATA error: status, error registers */
	uint8_t ata_error;
};

/*
 * Whether frame p (len bytes) is an error answer of shelf.slot to one of
 * our probes: an AoE error (E flag), or an ATA status that reports one.
 * If so, *tag is the probe's tag and *why says which.  Such an answer says
 * nothing of the frame sizes the path carries (pc_answer: false).
 */
bool pc_refused(const uint8_t *p, size_t len, uint16_t shelf, uint8_t slot,
    uint32_t *tag, struct pc_refusal *why);

#endif
