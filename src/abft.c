/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The aBFT decoder.  Layout as iPXE writes it (include/ipxe/aoe.h, struct
 * abft_table; src/net/aoe.c, aoedev_describe): the 36-byte ACPI header,
 * then shelf (16 bits, little-endian as every ACPI field), slot, one
 * reserved byte and the NIC's 6-byte MAC; 46 bytes.
 */
#include <errno.h>
#include <string.h>

#include "abft.h"
#include "util.h"

/* ACPI header fields (ACPI 6.5 table 5.4). */
#define OFF_SIGNATURE 0
#define OFF_LENGTH 4
#define OFF_REVISION 8
#define OFF_CHECKSUM 9
#define OFF_OEM_ID 10
#define OFF_OEM_TABLE_ID 16
#define OFF_OEM_REVISION 24
/* aBFT fields, after the header. */
#define OFF_SHELF 36
#define OFF_SLOT 38
#define OFF_MAC 40

/* A fixed-size, space-padded ACPI string as a C string. */
static void
acpi_str(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

int
abft_decode(const uint8_t *p, size_t len, struct abft *out)
{
	struct abft a;
	uint32_t tlen;
	uint8_t sum = 0;

	if (len < ABFT_ACPI_HDR_LEN)
		return -EMSGSIZE;
	if (memcmp(p + OFF_SIGNATURE, "aBFT", 4) != 0)
		return -ENOMSG;
	tlen = get_le32(p + OFF_LENGTH);
	if (tlen < ABFT_LEN)
		return -EPROTO;
	if (len < tlen)
		return -EMSGSIZE;
	/* ACPI 5.2.6: the whole table, checksum included, sums to zero. */
	for (uint32_t i = 0; i < tlen; i++)
		sum = (uint8_t)(sum + p[i]);
	if (sum != 0)
		return -EBADMSG;

	memset(&a, 0, sizeof(a));
	a.length = tlen;
	a.revision = p[OFF_REVISION];
	acpi_str(a.oem_id, p + OFF_OEM_ID, 6);
	acpi_str(a.oem_table_id, p + OFF_OEM_TABLE_ID, 8);
	a.oem_revision = get_le32(p + OFF_OEM_REVISION);
	a.shelf = get_le16(p + OFF_SHELF);
	a.slot = p[OFF_SLOT];
	memcpy(a.mac, p + OFF_MAC, 6);
	if (a.shelf == 0xffff || a.slot == 0xff)
		return -ERANGE;
	*out = a;
	return 0;
}

int
abft_find(const uint8_t *p, size_t len, struct abft *out, size_t *off)
{
	int first = -ENOENT, rc;

	for (size_t i = 0; i + 4 <= len; i += ABFT_SCAN_ALIGN) {
		if (memcmp(p + i, "aBFT", 4) != 0)
			continue;
		rc = abft_decode(p + i, len - i, out);
		if (rc == 0) {
			*off = i;
			return 0;
		}
		if (first == -ENOENT)
			first = rc;
	}
	return first;
}

const char *
abft_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "ok";
	case -ENOENT:
		return "no aBFT";
	case -EMSGSIZE:
		return "truncated table";
	case -ENOMSG:
		return "not an aBFT (signature)";
	case -EPROTO:
		return "table length too short for an aBFT";
	case -EBADMSG:
		return "bad checksum";
	case -ERANGE:
		return "broadcast shelf or slot";
	default:
		return "invalid aBFT";
	}
}
