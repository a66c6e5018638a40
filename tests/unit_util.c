/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for src/util: byte-order helpers, MAC and target-name
 * formatting and parsing, number and duration parsing, size formatting.
 * Table-driven, good and bad inputs side by side.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "util.h"

/* ---------------------------------------------------------------- bytes */

Test(bytes, get)
{
	static const uint8_t b[8] = { 0x01, 0x02, 0x03, 0x04,
		0x05, 0x06, 0x07, 0x88 };

	cr_expect_eq(get_be16(b), 0x0102);
	cr_expect_eq(get_be32(b), 0x01020304u);
	cr_expect_eq(get_le16(b), 0x0201);
	cr_expect_eq(get_le32(b), 0x04030201u);
	cr_expect_eq(get_le48(b), 0x060504030201ull);
	cr_expect_eq(get_le64(b), 0x8807060504030201ull);
	/* High bits must not sign-extend. */
	cr_expect_eq(get_be16(b + 6), 0x0788);
	cr_expect_eq(get_be32(b + 4), 0x05060788u);
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };
	cr_expect_eq(get_be16(ff), 0xffff);
	cr_expect_eq(get_be32(ff), 0xffffffffu);
	cr_expect_eq(get_le32(ff), 0xffffffffu);
	cr_expect_eq(get_le48(ff), 0xffffffffffffull);
	cr_expect_eq(get_le64(ff), UINT64_MAX);
}

Test(bytes, put_roundtrip)
{
	static const uint64_t v48[] = { 0, 1, 0x123456789abcull,
		0xffffffffffffull, 0x800000000000ull };
	static const uint32_t v32[] = { 0, 1, 0x80000000u, 0xdeadbeefu,
		0xffffffffu };
	uint8_t b[10];

	for (size_t i = 0; i < ARRAY_SIZE(v32); i++) {
		memset(b, 0xaa, sizeof(b));
		put_be32(b + 1, v32[i]);
		cr_expect_eq(get_be32(b + 1), v32[i]);
		cr_expect_eq(b[0], 0xaa);
		cr_expect_eq(b[5], 0xaa, "put_be32 wrote past 4 bytes");
		put_be16(b + 1, (uint16_t)v32[i]);
		cr_expect_eq(get_be16(b + 1), (uint16_t)v32[i]);
		put_le16(b + 1, (uint16_t)v32[i]);
		cr_expect_eq(get_le16(b + 1), (uint16_t)v32[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(v48); i++) {
		memset(b, 0xaa, sizeof(b));
		put_le48(b + 1, v48[i]);
		cr_expect_eq(get_le48(b + 1), v48[i]);
		cr_expect_eq(b[0], 0xaa);
		cr_expect_eq(b[7], 0xaa, "put_le48 wrote past 6 bytes");
	}
	/* put_le48 keeps only the low 48 bits. */
	put_le48(b, 0xabcd123456789abcull);
	cr_expect_eq(get_le48(b), 0x123456789abcull);

	put_be16(b, 0x1234);
	cr_expect(b[0] == 0x12 && b[1] == 0x34);
	put_le16(b, 0x1234);
	cr_expect(b[0] == 0x34 && b[1] == 0x12);
	put_be32(b, 0x01020304u);
	cr_expect(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4);

	/* 64-bit big-endian (NBD): byte order, all 64 bits, no overrun. */
	memset(b, 0xaa, sizeof(b));
	put_be64(b + 1, 0x0102030405060788ull);
	cr_expect(b[1] == 1 && b[2] == 2 && b[7] == 7 && b[8] == 0x88);
	cr_expect(b[0] == 0xaa && b[9] == 0xaa, "put_be64 wrote outside");
	cr_expect_eq(get_be64(b + 1), 0x0102030405060788ull);
	put_be64(b, UINT64_MAX);
	cr_expect_eq(get_be64(b), UINT64_MAX);
	put_be64(b, 0x8000000000000001ull);
	cr_expect_eq(get_be64(b), 0x8000000000000001ull);
}

Test(hex, value)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	static const int want[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
		10, 11, 12, 13, 14, 15, 10, 11, 12, 13, 14, 15 };

	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		cr_expect_eq(hex_value(digits[i]), want[i], "'%c'", digits[i]);
	for (const char *p = "gG/:@`xz -"; *p != '\0'; p++)
		cr_expect_eq(hex_value(*p), -1, "'%c'", *p);
	cr_expect_eq(hex_value(0), -1);
	cr_expect_eq(hex_value(0xff), -1);
	cr_expect_eq(hex_value(-1), -1);
}

/* ---------------------------------------------------------------- mac */

Test(mac, fmt)
{
	static const uint8_t m[6] = { 0x02, 0x00, 0xab, 0xCD, 0x0f, 0xff };
	char buf[MAC_STRLEN];

	cr_expect_str_eq(mac_fmt(buf, m), "02:00:ab:cd:0f:ff");
	cr_expect_eq(strlen(buf), MAC_STRLEN - 1);
}

Test(mac, parse)
{
	static const struct {
		const char *s;
		int rc;
		uint8_t mac[6];
	} v[] = {
		{ "02:00:ab:cd:0f:ff", 0, { 2, 0, 0xab, 0xcd, 0x0f, 0xff } },
		{ "02-00-AB-CD-0F-FF", 0, { 2, 0, 0xab, 0xcd, 0x0f, 0xff } },
		{ "0200abCD0fff", 0, { 2, 0, 0xab, 0xcd, 0x0f, 0xff } },
		{ "ff:ff:ff:ff:ff:ff", 0, { 255, 255, 255, 255, 255, 255 } },
		{ "00:00:00:00:00:00", 0, { 0 } },
		{ "", -EINVAL, { 0 } },
		{ "02:00:ab:cd:0f", -EINVAL, { 0 } },
		{ "02:00:ab:cd:0f:ff:", -EINVAL, { 0 } },
		{ "02:00:ab:cd:0f:fff", -EINVAL, { 0 } },
		{ "02:00-ab:cd:0f:ff", -EINVAL, { 0 } },   /* mixed */
		{ "02.00.ab.cd.0f.ff", -EINVAL, { 0 } },
		{ "2:0:ab:cd:f:ff:", -EINVAL, { 0 } },
		{ "02:00:ab:cd:0g:ff", -EINVAL, { 0 } },
		{ " 2:00:ab:cd:0f:ff", -EINVAL, { 0 } },
		{ "02:00:ab:cd:0f:f ", -EINVAL, { 0 } },
		{ "0200abcd0ff", -EINVAL, { 0 } },
		{ "0200abcd0fff0", -EINVAL, { 0 } },
		{ "0200abcd0ffx", -EINVAL, { 0 } },
		{ "+200abcd0fff", -EINVAL, { 0 } },
		{ "02::00:ab:cd:0f", -EINVAL, { 0 } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint8_t m[6] = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11 };
		int rc = mac_parse(v[i].s, m);

		cr_expect_eq(rc, v[i].rc, "mac_parse(\"%s\") = %d", v[i].s, rc);
		if (v[i].rc == 0)
			cr_expect(memcmp(m, v[i].mac, 6) == 0,
			    "mac_parse(\"%s\") value", v[i].s);
		else
			cr_expect(m[0] == 0x11 && m[5] == 0x11,
			    "mac_parse(\"%s\") wrote on failure", v[i].s);
	}
}

Test(mac, roundtrip)
{
	uint8_t m[6], back[6];
	char buf[MAC_STRLEN];

	for (int i = 0; i < 256; i++) {
		for (int j = 0; j < 6; j++)
			m[j] = (uint8_t)(i * 37 + j * 101);
		cr_assert_eq(mac_parse(mac_fmt(buf, m), back), 0);
		cr_expect(memcmp(m, back, 6) == 0);
	}
}

Test(mac, broadcast)
{
	static const struct {
		uint8_t mac[6];
		bool bcast;
	} v[] = {
		{ { 255, 255, 255, 255, 255, 255 }, true },
		{ { 255, 255, 255, 255, 255, 254 }, false },
		{ { 254, 255, 255, 255, 255, 255 }, false },
		{ { 0, 0, 0, 0, 0, 0 }, false },
		{ { 1, 0, 0x5e, 0, 0, 1 }, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		cr_expect_eq(mac_is_broadcast(v[i].mac), v[i].bcast,
		    "entry %zu", i);
}

/* ---------------------------------------------------------------- target */

Test(target, parse)
{
	static const struct {
		const char *s;
		int rc;
		uint16_t shelf;
		uint8_t slot;
	} v[] = {
		{ "e1.0", 0, 1, 0 },
		{ "1.0", 0, 1, 0 },
		{ "e0.0", 0, 0, 0 },
		{ "e65534.254", 0, 65534, 254 },
		{ "65534.254", 0, 65534, 254 },
		{ "e007.09", 0, 7, 9 },
		{ "e12.3", 0, 12, 3 },
		{ "e65535.0", -EINVAL, 0, 0 },     /* broadcast shelf */
		{ "e1.255", -EINVAL, 0, 0 },       /* broadcast slot */
		{ "e99999999999999999999.0", -EINVAL, 0, 0 },
		{ "e1.99999999999999999999", -EINVAL, 0, 0 },
		{ "e4294967297.1", -EINVAL, 0, 0 }, /* wraps to 1 in 32 bits */
		{ "", -EINVAL, 0, 0 },
		{ "e", -EINVAL, 0, 0 },
		{ "e.", -EINVAL, 0, 0 },
		{ "e1.", -EINVAL, 0, 0 },
		{ "e.0", -EINVAL, 0, 0 },
		{ ".0", -EINVAL, 0, 0 },
		{ "1", -EINVAL, 0, 0 },
		{ "e1", -EINVAL, 0, 0 },
		{ "e1.0x", -EINVAL, 0, 0 },
		{ "e1.0 ", -EINVAL, 0, 0 },
		{ " e1.0", -EINVAL, 0, 0 },
		{ "e 1.0", -EINVAL, 0, 0 },
		{ "e1 .0", -EINVAL, 0, 0 },
		{ "e1. 0", -EINVAL, 0, 0 },
		{ "e+1.0", -EINVAL, 0, 0 },
		{ "e-1.0", -EINVAL, 0, 0 },
		{ "e1.-0", -EINVAL, 0, 0 },
		{ "e1.+0", -EINVAL, 0, 0 },
		{ "ee1.0", -EINVAL, 0, 0 },
		{ "E1.0", -EINVAL, 0, 0 },
		{ "e1.0.0", -EINVAL, 0, 0 },
		{ "e1..0", -EINVAL, 0, 0 },
		{ "e0x1.0", -EINVAL, 0, 0 },
		{ "e1,0", -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint16_t shelf = 0x5555;
		uint8_t slot = 0x55;
		int rc = target_name_parse(v[i].s, &shelf, &slot);

		cr_expect_eq(rc, v[i].rc, "target_name_parse(\"%s\") = %d",
		    v[i].s, rc);
		if (v[i].rc == 0) {
			cr_expect_eq(shelf, v[i].shelf, "\"%s\" shelf %u",
			    v[i].s, shelf);
			cr_expect_eq(slot, v[i].slot, "\"%s\" slot %u",
			    v[i].s, slot);
		} else {
			cr_expect(shelf == 0x5555 && slot == 0x55,
			    "\"%s\" wrote on failure", v[i].s);
		}
	}
}

Test(target, fmt)
{
	static const struct {
		uint16_t shelf;
		uint8_t slot;
		const char *s;
	} v[] = {
		{ 0, 0, "e0.0" },
		{ 1, 0, "e1.0" },
		{ 65534, 254, "e65534.254" },
		{ 65535, 255, "e65535.255" },
	};
	char buf[16];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint16_t shelf;
		uint8_t slot;

		cr_expect_str_eq(target_name_fmt(buf, sizeof(buf), v[i].shelf,
		    v[i].slot), v[i].s);
		if (v[i].shelf != 65535) {
			cr_expect_eq(target_name_parse(buf, &shelf, &slot), 0);
			cr_expect(shelf == v[i].shelf && slot == v[i].slot);
		}
	}
	/* A short buffer truncates and stays terminated. */
	cr_expect_str_eq(target_name_fmt(buf, 4, 65534, 254), "e65");
}

/* ---------------------------------------------------------------- numbers */

Test(number, parse_uint)
{
	static const struct {
		const char *s;
		unsigned long long min, max;
		int rc;
		unsigned long long v;
	} v[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "007", 0, 10, 0, 7 },
		{ "1", 1, 255, 0, 1 },
		{ "255", 1, 255, 0, 255 },
		{ "18446744073709551615", 0, ULLONG_MAX, 0, ULLONG_MAX },
		{ "18446744073709551616", 0, ULLONG_MAX, -ERANGE, 0 },
		{ "99999999999999999999999", 0, ULLONG_MAX, -ERANGE, 0 },
		{ "0", 1, 255, -ERANGE, 0 },
		{ "256", 1, 255, -ERANGE, 0 },
		{ "11", 0, 10, -ERANGE, 0 },
		{ "", 0, 10, -EINVAL, 0 },
		{ " 1", 0, 10, -EINVAL, 0 },
		{ "1 ", 0, 10, -EINVAL, 0 },
		{ "+1", 0, 10, -EINVAL, 0 },
		{ "-1", 0, 10, -EINVAL, 0 },
		{ "-0", 0, 10, -EINVAL, 0 },
		{ "0x1", 0, 10, -EINVAL, 0 },
		{ "1.0", 0, 10, -EINVAL, 0 },
		{ "1e3", 0, 10000, -EINVAL, 0 },
		{ "abc", 0, 10, -EINVAL, 0 },
		{ "99999999999999999999999x", 0, ULLONG_MAX, -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		unsigned long long out = 12345;
		int rc = parse_uint(v[i].s, v[i].min, v[i].max, &out);

		cr_expect_eq(rc, v[i].rc, "parse_uint(\"%s\") = %d", v[i].s,
		    rc);
		if (v[i].rc == 0)
			cr_expect_eq(out, v[i].v, "parse_uint(\"%s\") -> %llu",
			    v[i].s, out);
		else
			cr_expect_eq(out, 12345, "\"%s\" wrote on failure",
			    v[i].s);
	}
}

Test(number, parse_seconds_ms)
{
	static const struct {
		const char *s;
		uint64_t max;
		int rc;
		uint64_t ms;
	} v[] = {
		{ "0", 1000000, 0, 0 },
		{ "2", 1000000, 0, 2000 },
		{ "0.5", 1000000, 0, 500 },
		{ "1.25", 1000000, 0, 1250 },
		{ "1.250", 1000000, 0, 1250 },
		{ "0.001", 1000000, 0, 1 },
		{ "0.0001", 1000000, 0, 1 },     /* rounded up, not 0 */
		{ "0.0010", 1000000, 0, 1 },
		{ "0.0011", 1000000, 0, 2 },
		{ "0.000", 1000000, 0, 0 },
		{ "180", 1000000, 0, 180000 },
		{ "1000", 1000000, 0, 1000000 },
		{ "1000.001", 1000000, -ERANGE, 0 },
		{ "1001", 1000000, -ERANGE, 0 },
		{ "18446744073709550.999", UINT64_MAX, 0,
		    18446744073709550999u },
		{ "18446744073709551", UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999", UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999.5", UINT64_MAX, -ERANGE, 0 },
		{ "", 1000, -EINVAL, 0 },
		{ ".", 1000, -EINVAL, 0 },
		{ ".5", 1000, -EINVAL, 0 },
		{ "1.", 1000, -EINVAL, 0 },
		{ "-1", 1000, -EINVAL, 0 },
		{ "-0.5", 1000, -EINVAL, 0 },
		{ "+1", 1000, -EINVAL, 0 },
		{ " 1", 1000, -EINVAL, 0 },
		{ "1 ", 1000, -EINVAL, 0 },
		{ "1s", 1000, -EINVAL, 0 },
		{ "1.5s", 1000, -EINVAL, 0 },
		{ "1..5", 1000, -EINVAL, 0 },
		{ "1.5.", 1000, -EINVAL, 0 },
		{ "1,5", 1000, -EINVAL, 0 },
		{ "1e3", 1000000, -EINVAL, 0 },
		{ "0x10", 1000000, -EINVAL, 0 },
		{ "inf", 1000000, -EINVAL, 0 },
		{ "nan", 1000000, -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint64_t out = 12345;
		int rc = parse_seconds_ms(v[i].s, v[i].max, &out);

		cr_expect_eq(rc, v[i].rc, "parse_seconds_ms(\"%s\") = %d",
		    v[i].s, rc);
		if (v[i].rc == 0)
			cr_expect_eq(out, v[i].ms,
			    "parse_seconds_ms(\"%s\") -> %llu", v[i].s,
			    (unsigned long long)out);
		else
			cr_expect_eq(out, 12345, "\"%s\" wrote on failure",
			    v[i].s);
	}
}

/* ---------------------------------------------------------------- size */

Test(size, fmt_gb)
{
	static const struct {
		uint64_t bytes;
		const char *s;
	} v[] = {
		{ 0, "0.000GB" },
		{ 268435456, "0.268GB" },        /* 256 MiB, aoe-stat's way */
		{ 499999, "0.000GB" },
		{ 500000, "0.001GB" },           /* half up */
		{ 1000000000, "1.000GB" },
		{ 1073741824, "1.074GB" },
		{ 999500000, "1.000GB" },        /* carry into the integer */
		{ 999499999, "0.999GB" },
		{ 2000398934016ull, "2000.399GB" },
		{ UINT64_MAX, "18446744073.710GB" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		cr_expect_str_eq(size_fmt_gb(buf, sizeof(buf), v[i].bytes),
		    v[i].s, "size_fmt_gb(%llu)",
		    (unsigned long long)v[i].bytes);
	/* Truncates safely. */
	cr_expect_str_eq(size_fmt_gb(buf, 4, 268435456), "0.2");
}

/* ---------------------------------------------------------- bufpool */

Test(env, is_zero)
{
	const char *name = "AOE_UNIT_ENV_IS_ZERO";
	const char *on[] = { "1", "", "00", "0 ", "no" };

	cr_assert_eq(unsetenv(name), 0);
	cr_assert_not(env_is_zero(name), "unset");
	cr_assert_eq(setenv(name, "0", 1), 0);
	cr_assert(env_is_zero(name));
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		cr_assert_eq(setenv(name, on[i], 1), 0);
		cr_assert_not(env_is_zero(name), "\"%s\" taken for 0", on[i]);
	}
	cr_assert_eq(unsetenv(name), 0);
}

#include "bufpool.h"

/* A kept buffer comes back for the next request of its class. */
Test(bufpool, reuse_by_class)
{
	uint8_t *a;

	bufpool_drain();
	a = bufpool_get(100 * 1024);
	cr_assert_not_null(a);
	memset(a, 0xa5, 100 * 1024);
	bufpool_put(a, 100 * 1024);
#if defined(__SANITIZE_ADDRESS__)
	cr_assert_eq(bufpool_kept(), 0, "ASan builds keep nothing");
#else
	uint8_t *b, *c;

	cr_assert_eq(bufpool_kept(), 128 * 1024);
	b = bufpool_get(128 * 1024);
	cr_assert_eq(b, a, "same class: the kept buffer again");
	memset(b, 0x5a, 128 * 1024); /* the whole class is usable */
	cr_assert_eq(bufpool_kept(), 0);
	bufpool_put(b, 128 * 1024);
	/* Another class does not take it. */
	c = bufpool_get(200 * 1024);
	cr_assert_neq(c, a);
	bufpool_put(c, 200 * 1024);
	cr_assert_eq(bufpool_kept(), 128 * 1024 + 256 * 1024);
#endif
	bufpool_drain();
	cr_assert_eq(bufpool_kept(), 0);
}

/* Small and huge buffers are plain malloc/free; the keep cap holds. */
Test(bufpool, limits)
{
	void *p[40];
	size_t n = sizeof(p) / sizeof(p[0]);

	bufpool_drain();
	p[0] = bufpool_get(4096);
	cr_assert_not_null(p[0]);
	bufpool_put(p[0], 4096);
	cr_assert_eq(bufpool_kept(), 0, "a small buffer was kept");
	bufpool_put(NULL, 1 << 20);
	cr_assert_eq(bufpool_kept(), 0);
	for (size_t i = 0; i < n; i++) {
		p[i] = bufpool_get(1 << 20);
		cr_assert_not_null(p[i]);
	}
	for (size_t i = 0; i < n; i++)
		bufpool_put(p[i], 1 << 20);
	cr_assert_leq(bufpool_kept(), BUFPOOL_KEEP_BYTES);
#if !defined(__SANITIZE_ADDRESS__)
	cr_assert_eq(bufpool_kept(), BUFPOOL_KEEP_BYTES, "the pool kept %zu",
	    bufpool_kept());
#endif
	bufpool_drain();
	cr_assert_eq(bufpool_kept(), 0);
}

Test(util, absolute_path)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16], *p;

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	p = absolute_path("/run/x.pid");
	cr_assert_str_eq(p, "/run/x.pid");
	free(p);
	p = absolute_path("x.pid");
	snprintf(want, sizeof(want), "%s/x.pid", cwd);
	cr_assert_str_eq(p, want);
	free(p);
	p = absolute_path("../y/x.sock");
	snprintf(want, sizeof(want), "%s/../y/x.sock", cwd);
	cr_assert_str_eq(p, want);
	free(p);
}

/* The pid, whole, renamed into place; the file stays open for the caller. */
Test(pidfile, write)
{
	char dir[] = "/tmp/unit-pidfile.XXXXXX", path[64], text[32];
	struct dirent *de;
	unsigned files = 0;
	FILE *f;
	DIR *d;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.pid", dir);
	fd = pidfile_write(path);
	cr_assert_geq(fd, 0, "pidfile_write: %s", strerror(-fd));
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(text, sizeof(text), f));
	fclose(f);
	cr_assert_eq(atol(text), (long)getpid());
	/* emptied through the descriptor, as aoe-fuse does at exit */
	cr_assert_eq(ftruncate(fd, 0), 0);
	close(fd);
	f = fopen(path, "r");
	cr_assert_null(fgets(text, sizeof(text), f));
	fclose(f);
	/* no temporary file left */
	d = opendir(dir);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			files++;
	closedir(d);
	cr_assert_eq(files, 1);
	unlink(path);
	snprintf(path, sizeof(path), "%s/no/such/dir.pid", dir);
	cr_assert_eq(pidfile_write(path), -ENOENT);
	rmdir(dir);
}

/* A failed write is reported, whether fflush or an earlier write met it. */
Test(util, stream_flush)
{
	char big[2 * BUFSIZ];
	FILE *f;

	f = fopen("/dev/null", "w");
	cr_assert_not_null(f);
	fputs("help\n", f);
	cr_assert_eq(stream_flush(f), 0);
	cr_assert_eq(stream_flush(f), 0);
	fclose(f);

	f = fopen("/dev/full", "w");
	cr_assert_not_null(f);
	cr_assert_eq(stream_flush(f), 0, "nothing written: nothing lost");
	fputs("help\n", f);
	cr_assert_eq(stream_flush(f), -ENOSPC);
	/* the buffer was dropped, the error stays */
	cr_assert_lt(stream_flush(f), 0);
	fclose(f);

	/* more than a buffer: the write fails while printing */
	f = fopen("/dev/full", "w");
	cr_assert_not_null(f);
	memset(big, 'x', sizeof(big));
	fwrite(big, 1, sizeof(big), f);
	cr_assert_lt(stream_flush(f), 0);
	fclose(f);
}
