/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the aBFT decoder (src/abft.c): the table Debian's iPXE
 * left after a sanboot (tests/vectors/abft-ipxe-bios.hex) and one built
 * here decoded field by field, every truncation, bad signature, length
 * and checksum, broadcast shelf or slot, bytes past the table, and the
 * search of a memory dump.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abft.h"
#include "exact-copy.h"
#include "hexvec.h"
#include "util.h"

/*
 * iPXE's aBFT for e513.7 booted through NIC 52:54:00:a0:e0:02: header
 * "aBFT", length 46, revision 1, checksum, OEM "FENSYS" / "iPXE",
 * then shelf 513 (01 02 little-endian), slot 7, reserved, the MAC.
 */
static const uint8_t ipxe_abft[ABFT_LEN] = {
	'a', 'B', 'F', 'T', 46, 0, 0, 0, 1, 0x00,
	'F', 'E', 'N', 'S', 'Y', 'S',
	'i', 'P', 'X', 'E', 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0x01, 0x02, 7, 0,
	0x52, 0x54, 0x00, 0xa0, 0xe0, 0x02,
};

/* Set the checksum byte so that the first len bytes of p sum to zero. */
static void
fix_sum(uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	p[9] = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	p[9] = (uint8_t)(0x100 - sum);
}

static uint8_t tab[ABFT_MAX_LEN];

static void
set_len(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(v >> (8 * i));
}

static void
load_ipxe(void)
{
	memset(tab, 0, sizeof(tab));
	memcpy(tab, ipxe_abft, sizeof(ipxe_abft));
	fix_sum(tab, ABFT_LEN);
}

Test(abft, ipxe_table)
{
	struct abft a;
	char mac[MAC_STRLEN];

	load_ipxe();
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), 0);
	cr_assert_eq(a.length, 46);
	cr_assert_eq(a.revision, 1);
	cr_assert_str_eq(a.oem_id, "FENSYS");
	cr_assert_str_eq(a.oem_table_id, "iPXE");
	cr_assert_eq(a.oem_revision, 0);
	cr_assert_eq(a.shelf, 513);
	cr_assert_eq(a.slot, 7);
	cr_assert_str_eq(mac_fmt(mac, a.mac), "52:54:00:a0:e0:02");
}

Test(abft, ipxe_bios_vector)
{
	uint8_t buf[256];
	size_t len;
	struct abft a;
	char mac[MAC_STRLEN];
	int rc;

	rc = hexvec_load_name("abft-ipxe-bios", buf, sizeof(buf), &len);
	cr_assert_eq(rc, 0, "hexvec_load_name: %s", strerror(-rc));
	cr_assert_eq(len, ABFT_LEN);
	cr_assert_eq(abft_decode(buf, len, &a), 0);
	cr_assert_eq(a.shelf, 258);
	cr_assert_eq(a.slot, 7);
	cr_assert_str_eq(mac_fmt(mac, a.mac), "52:54:00:a0:e0:02");
	cr_assert_str_eq(a.oem_id, "FENSYS");
	cr_assert_str_eq(a.oem_table_id, "iPXE");
	cr_assert_eq(a.revision, 1);
	buf[36] ^= 0x03;        /* shelf 257: the checksum no longer holds */
	cr_assert_eq(abft_decode(buf, len, &a), -EBADMSG);
}

Test(abft, every_truncation)
{
	struct abft a;

	load_ipxe();
	memset(&a, 0x5a, sizeof(a));
	for (size_t n = 0; n < ABFT_LEN; n++) {
		uint8_t *q = exact_copy(tab, n);
		int rc = abft_decode(q, n, &a);

		cr_assert_eq(rc, -EMSGSIZE, "length %zu: %d", n, rc);
		cr_assert_eq(a.shelf, 0x5a5a, "length %zu: *out written", n);
		free(q);
	}
}

Test(abft, bytes_past_the_table)
{
	struct abft a;

	/* sysfs gives exactly the table; a file may have more: ignored. */
	load_ipxe();
	memset(tab + ABFT_LEN, 0xee, 64);
	cr_assert_eq(abft_decode(tab, ABFT_LEN + 64, &a), 0);
	cr_assert_eq(a.slot, 7);
}

Test(abft, longer_table)
{
	struct abft a;
	uint8_t *q;

	/* A later revision may add fields: the checksum covers them. */
	load_ipxe();
	set_len(tab, 64);
	tab[50] = 0x99;
	fix_sum(tab, 64);
	q = exact_copy(tab, 64);
	cr_assert_eq(abft_decode(q, 64, &a), 0);
	cr_assert_eq(a.length, 64);
	cr_assert_eq(a.shelf, 513);
	/* The header says 64 bytes, the file has 46: truncated. */
	cr_assert_eq(abft_decode(q, ABFT_LEN, &a), -EMSGSIZE);
	free(q);
}

Test(abft, bad_signature)
{
	struct abft a;
	static const char *sigs[] = { "ABFT", "iBFT", "abft", "aBF\0" };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		load_ipxe();
		memcpy(tab, sigs[i], 4);
		fix_sum(tab, ABFT_LEN);
		cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -ENOMSG,
		    "signature %zu", i);
	}
}

Test(abft, short_length_field)
{
	struct abft a;
	static const uint32_t lens[] = { 0, 1, 36, 40, 45 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		load_ipxe();
		set_len(tab, lens[i]);
		fix_sum(tab, ABFT_LEN);
		cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -EPROTO,
		    "length %u", lens[i]);
	}
	/* A huge length in a small buffer: truncated, nothing read past. */
	load_ipxe();
	set_len(tab, 0xffffffffu);
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -EMSGSIZE);
}

Test(abft, bad_checksum)
{
	struct abft a;

	/* Any one byte changed, the checksum byte included. */
	for (size_t i = 0; i < ABFT_LEN; i++) {
		if (i < 8)
			continue;       /* signature and length: other errors */
		load_ipxe();
		tab[i] ^= 0x01;
		cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -EBADMSG,
		    "byte %zu", i);
	}
}

Test(abft, broadcast_target)
{
	struct abft a;

	load_ipxe();
	tab[36] = 0xff;
	tab[37] = 0xff;
	fix_sum(tab, ABFT_LEN);
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -ERANGE);
	load_ipxe();
	tab[38] = 0xff;
	fix_sum(tab, ABFT_LEN);
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), -ERANGE);
	/* Shelf 65534 and slot 254 are targets. */
	load_ipxe();
	tab[36] = 0xfe;
	tab[37] = 0xff;
	tab[38] = 0xfe;
	fix_sum(tab, ABFT_LEN);
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), 0);
	cr_assert_eq(a.shelf, 65534);
	cr_assert_eq(a.slot, 254);
}

Test(abft, oem_strings)
{
	struct abft a;

	/* Space padding is dropped; eight characters fill the field. */
	load_ipxe();
	memcpy(tab + 10, "AB    ", 6);
	memcpy(tab + 16, "12345678", 8);
	fix_sum(tab, ABFT_LEN);
	cr_assert_eq(abft_decode(tab, ABFT_LEN, &a), 0);
	cr_assert_str_eq(a.oem_id, "AB");
	cr_assert_str_eq(a.oem_table_id, "12345678");
}

Test(abft, strerror)
{
	cr_assert_str_eq(abft_strerror(-EBADMSG), "bad checksum");
	cr_assert_str_eq(abft_strerror(-EMSGSIZE), "truncated table");
	cr_assert_str_eq(abft_strerror(-ENOMSG), "not an aBFT (signature)");
	cr_assert_str_eq(abft_strerror(-EIO), "invalid aBFT");
}

Test(abft, find_in_memory)
{
	static uint8_t mem[64 * 1024];
	struct abft a;
	size_t off = 1;

	/* A dump of base memory: the table at a 16-byte step. */
	load_ipxe();
	memset(mem, 0, sizeof(mem));
	memcpy(mem + 0xe620, tab, ABFT_LEN);
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), 0);
	cr_assert_eq(off, 0xe620);
	cr_assert_eq(a.shelf, 513);
	/* At the very end of the window, whole. */
	memset(mem, 0, sizeof(mem));
	memcpy(mem + sizeof(mem) - 48, tab, ABFT_LEN);
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), 0);
	cr_assert_eq(off, sizeof(mem) - 48);
}

Test(abft, find_none)
{
	static uint8_t mem[4096];
	struct abft a;
	size_t off = 7;

	memset(mem, 0, sizeof(mem));
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), -ENOENT);
	cr_assert_eq(off, 7);
	cr_assert_eq(abft_find(mem, 0, &a, &off), -ENOENT);
	cr_assert_eq(abft_find(mem, 3, &a, &off), -ENOENT);
	/* Not at a 16-byte step: not a table iPXE left. */
	load_ipxe();
	memcpy(mem + 8, tab, ABFT_LEN);
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), -ENOENT);
}

Test(abft, find_skips_bad_tables)
{
	static uint8_t mem[4096];
	struct abft a;
	size_t off = 0;
	uint8_t *q;

	/* A signature with a bad checksum first, then the real table. */
	load_ipxe();
	memset(mem, 0, sizeof(mem));
	memcpy(mem + 0x100, tab, ABFT_LEN);
	mem[0x100 + 40] ^= 0xff;
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), -EBADMSG);
	memcpy(mem + 0x200, tab, ABFT_LEN);
	cr_assert_eq(abft_find(mem, sizeof(mem), &a, &off), 0);
	cr_assert_eq(off, 0x200);
	/* Cut inside the only table: truncated, nothing read past. */
	memset(mem, 0, sizeof(mem));
	memcpy(mem + 4096 - 32, tab, 32);
	q = exact_copy(mem, sizeof(mem));
	cr_assert_eq(abft_find(q, sizeof(mem), &a, &off), -EMSGSIZE);
	free(q);
}
