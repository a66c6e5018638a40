/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AoE Boot Firmware Table (aBFT): the ACPI table iPXE's sanboot leaves
 * for the booted OS, naming the AoE target it booted from and the MAC of
 * the NIC it used.  iPXE for UEFI installs it among the ACPI tables (Linux:
 * /sys/firmware/acpi/tables/aBFT); iPXE for BIOS leaves it in its base
 * memory, 16-byte aligned, for the OS to find by its signature, as the
 * iBFT.  Pure: bytes in, host-order fields out; no file I/O (aoectl reads).
 */
#ifndef AOE_ABFT_H
#define AOE_ABFT_H

#include <stddef.h>
#include <stdint.h>

/* The default place of the table on Linux. */
#define ABFT_SYSFS_PATH "/sys/firmware/acpi/tables/aBFT"

/* The ACPI description header (ACPI 6.5 section 5.2.6), 36 bytes. */
#define ABFT_ACPI_HDR_LEN 36
/* The header, shelf (le16), slot, a reserved byte and the MAC. */
#define ABFT_LEN 46
/* Larger than any aBFT: a reader may stop there. */
#define ABFT_MAX_LEN 4096
/*
 * Where iPXE for BIOS leaves it: in the base memory it takes from the top
 * of the first 640 KiB.  Linux looks for an iBFT in the same window
 * (drivers/firmware/iscsi_ibft_find.c), at 16-byte steps.
 */
#define ABFT_SCAN_START 0x80000
#define ABFT_SCAN_END 0x100000
#define ABFT_SCAN_ALIGN 16

struct abft {
	uint32_t length;        /* the header's table length */
	uint8_t revision;
	char oem_id[7];         /* NUL-terminated */
	char oem_table_id[9];   /* NUL-terminated */
	uint32_t oem_revision;
	uint16_t shelf;
	uint8_t slot;
	uint8_t mac[6];         /* of the NIC the firmware booted through */
};

/*
 * Decode the aBFT in p (len bytes: the table as read, which may run past
 * the header's length; bytes past it are ignored) into *out.  Returns 0 or
 *   -EMSGSIZE  len is less than the ACPI header, or than the length the
 *              header gives (a truncated table)
 *   -ENOMSG    the signature is not "aBFT"
 *   -EPROTO    the header's length is too short for the aBFT fields
 *   -EBADMSG   the bytes of the table do not sum to zero (ACPI checksum)
 *   -ERANGE    shelf 65535 or slot 255: broadcast values, no target
 * *out is written only on success.
 */
int abft_decode(const uint8_t *p, size_t len, struct abft *out);

/*
 * Find an aBFT in p (len bytes of memory from a 16-byte aligned address):
 * the first table at a multiple of 16 bytes that abft_decode takes; its
 * offset into *off, its fields into *out.  Returns 0, -ENOENT when no
 * "aBFT" signature is there, or abft_decode's error for the first
 * signature found when none is a valid table.
 */
int abft_find(const uint8_t *p, size_t len, struct abft *out, size_t *off);

/* A short description of an abft_decode error code. */
const char *abft_strerror(int rc);

#endif
