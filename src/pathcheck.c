/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Path check probes: see pathcheck.h. */
#include <string.h>

#include "aoe.h"
#include "ata.h"
#include "pathcheck.h"

/*
 * bit 31 (ours, not aoe.ko's), the tag instance in bits 30..28
 * (AOE_TAG_INSTANCE: other initiators of this host, which see our answers,
 * have others), 5 in bits 27..24: a probe.
 */
#define PC_TAG_PROBE 0x85000000u
#define PC_TAG_MASK 0xff000000u

static uint32_t pc_mark = PC_TAG_PROBE | AOE_TAG_INSTANCE(2);

void
pc_set_instance(unsigned instance)
{
	pc_mark = PC_TAG_PROBE | AOE_TAG_INSTANCE(instance);
}

uint32_t
pc_tag(unsigned path, enum pc_dir d, unsigned n)
{
	return pc_mark | (uint32_t)(path & 0xff) << 16 |
	    (uint32_t)(d == PC_BACK) << 8 | (uint32_t)(n & 0xff);
}

bool
pc_tag_decode(uint32_t tag, unsigned *path, enum pc_dir *d, unsigned *n)
{
	if ((tag & PC_TAG_MASK) != pc_mark || (tag & 0xfe00u) != 0 ||
	    (tag & 0xff) == 0)
		return false;
	*path = (tag >> 16) & 0xff;
	*d = (tag >> 8) & 1 ? PC_BACK : PC_TOWARD;
	*n = tag & 0xff;
	return true;
}

size_t
pc_frame_len(unsigned n)
{
	return AOE_ATA_HDR_LEN + (size_t)n * ATA_SECTOR_SIZE;
}

size_t
pc_build(uint8_t *buf, size_t cap, const uint8_t dst[6],
    const uint8_t src[6], uint16_t shelf, uint8_t slot, unsigned path,
    enum pc_dir d, unsigned n)
{
	struct aoe_hdr h;
	struct aoe_ata a;
	size_t len;

	if (n == 0 || n > PC_MAX_SECTORS)
		return 0;
	len = d == PC_TOWARD ? pc_frame_len(n) : AOE_ATA_HDR_LEN;
	if (cap < len || cap < AOE_MIN_FRAME)
		return 0;
	memset(&h, 0, sizeof(h));
	memcpy(h.dst, dst, 6);
	memcpy(h.src, src, 6);
	h.version = AOE_VERSION;
	h.shelf = shelf;
	h.slot = slot;
	h.cmd = AOE_CMD_ATA;
	h.tag = pc_tag(path, d, n);
	if (d == PC_TOWARD)
		ata_identify_build(&a);
	else if (ata_rw_build(&a, false, false, 0, n) < 0)
		return 0;
	if (aoe_hdr_encode(buf, cap, &h) < 0 ||
	    aoe_ata_encode(buf, cap, &a) < 0)
		return 0;
	/* The padding that makes the request large, or the minimum. */
	memset(buf + AOE_ATA_HDR_LEN, 0, len - AOE_ATA_HDR_LEN);
	return aoe_pad(buf, len);
}

bool
pc_answer(const uint8_t *p, size_t len, uint16_t shelf, uint8_t slot,
    uint32_t *tag)
{
	struct aoe_hdr h;
	struct aoe_ata a;
	enum pc_dir d;
	unsigned path, n;

	if (aoe_hdr_decode(p, len, &h) < 0 || h.version != AOE_VERSION ||
	    !(h.flags & AOE_FLAG_RSP) || (h.flags & AOE_FLAG_ERR) ||
	    h.cmd != AOE_CMD_ATA || h.shelf != shelf || h.slot != slot ||
	    !pc_tag_decode(h.tag, &path, &d, &n))
		return false;
	if (aoe_ata_decode(p, len, &a) < 0 ||
	    ata_status_errno(a.cmd_status, a.err_feature, false) != 0)
		return false;
	if (d == PC_BACK && len < pc_frame_len(n))
		return false;
	*tag = h.tag;
	return true;
}

bool
pc_refused(const uint8_t *p, size_t len, uint16_t shelf, uint8_t slot,
    uint32_t *tag, struct pc_refusal *why)
{
	struct aoe_hdr h;
	struct aoe_ata a;
	enum pc_dir d;
	unsigned path, n;

	if (aoe_hdr_decode(p, len, &h) < 0 || h.version != AOE_VERSION ||
	    !(h.flags & AOE_FLAG_RSP) || h.cmd != AOE_CMD_ATA ||
	    h.shelf != shelf || h.slot != slot ||
	    !pc_tag_decode(h.tag, &path, &d, &n))
		return false;
	memset(why, 0, sizeof(*why));
	if (h.flags & AOE_FLAG_ERR) {
		why->aoe = true;
		why->aoe_error = h.error;
	} else {
		if (aoe_ata_decode(p, len, &a) < 0 ||
		    ata_status_errno(a.cmd_status, a.err_feature, false) == 0)
			return false;
		why->ata_status = a.cmd_status;
		why->ata_error = a.err_feature;
	}
	*tag = h.tag;
	return true;
}
