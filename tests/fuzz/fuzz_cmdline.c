/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for what users type: the parsers in src/util.h (target
 * names, MACs, numbers, durations) checked against reference parsers written
 * here, every common option of rt_parse_option() (src/rt.h) with the input
 * as its argument, and the input as a config string through engine_config().
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "engine.h"
#include "log.h"
#include "rt.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
#define RT_MAX_MS_REF (365ULL * 24 * 3600 * 1000)
#define STR_MAX 1200

/* the argument, an exact-size heap copy so that overreads are caught */
static char *str;

/* ------------------------------------------------------------ references */

static bool
dig(char c)
{
	return c >= '0' && c <= '9';
}

static int
hex(char c)
{
	if (dig(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A run of digits at *pp as a saturating value (anything above `cap` is
 * cap + 1); false when there is no digit.
 */
static bool
ref_digits(const char **pp, unsigned __int128 cap, unsigned __int128 *out)
{
	const char *p = *pp;
	unsigned __int128 v = 0;

	if (!dig(*p))
		return false;
	for (; dig(*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > cap)
			v = cap + 1;
	}
	*pp = p;
	*out = v;
	return true;
}

static int
ref_target_name(const char *s, uint16_t *shelf, uint8_t *slot)
{
	unsigned __int128 sh, sl;

	if (*s == 'e')
		s++;
	if (!ref_digits(&s, 65534, &sh) || sh > 65534 || *s++ != '.')
		return -EINVAL;
	if (!ref_digits(&s, 254, &sl) || sl > 254 || *s != '\0')
		return -EINVAL;
	*shelf = (uint16_t)sh;
	*slot = (uint8_t)sl;
	return 0;
}

static int
ref_mac(const char *s, uint8_t mac[6])
{
	size_t len = strlen(s);
	char sep = 0;

	if (len == 17) {
		sep = s[2];
		if (sep != ':' && sep != '-')
			return -EINVAL;
		for (int i = 2; i < 17; i += 3)
			if (s[i] != sep)
				return -EINVAL;
	} else if (len != 12) {
		return -EINVAL;
	}
	for (int i = 0; i < 6; i++) {
		const char *p = s + i * (sep ? 3 : 2);

		if (hex(p[0]) < 0 || hex(p[1]) < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hex(p[0]) << 4 | hex(p[1]));
	}
	return 0;
}

static int
ref_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned __int128 v;

	if (!ref_digits(&s, (unsigned __int128)ULLONG_MAX, &v) || *s != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (unsigned long long)v;
	return 0;
}

/* Seconds with a fraction to milliseconds, rounded up (max_ms < 2^60). */
static int
ref_seconds(const char *s, uint64_t max_ms, uint64_t *out)
{
	unsigned __int128 sec, ms = 0;
	bool rest = false;
	unsigned n = 0;

	if (!ref_digits(&s, (unsigned __int128)1 << 64, &sec))
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (!dig(*s))
			return -EINVAL;
		for (; dig(*s); s++, n++) {
			if (n < 3)
				ms = ms * 10 + (unsigned)(*s - '0');
			else if (*s != '0')
				rest = true;
		}
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*s != '\0')
		return -EINVAL;
	ms += sec * 1000 + rest;
	if (ms > max_ms)
		return -ERANGE;
	*out = (uint64_t)ms;
	return 0;
}

/* ------------------------------------------------------------ util.h */

static void
check_util(unsigned sel)
{
	static const unsigned long long ranges[][2] = {
		{ 0, ULLONG_MAX }, { 1, 255 }, { 1, 65535 }, { 0, 0 },
		{ 10, 20 }, { 0, 18446744073709551614ULL },
	};
	static const uint64_t maxes[] = {
		RT_MAX_MS_REF, 0, 999, 1000, 60000, 1ULL << 59,
	};
	unsigned long long v1 = 0, v2 = 0, lo, hi;
	uint64_t ms1 = 0, ms2 = 0, max_ms;
	uint16_t sh1 = 0, sh2 = 0;
	uint8_t sl1 = 0, sl2 = 0, m1[6], m2[6];
	char buf[32];
	int rc1, rc2;

	rc1 = target_name_parse(str, &sh1, &sl1);
	rc2 = ref_target_name(str, &sh2, &sl2);
	CHECK(rc1 == rc2);
	if (rc1 == 0) {
		CHECK(sh1 == sh2 && sl1 == sl2);
		target_name_fmt(buf, sizeof(buf), sh1, sl1);
		CHECK(target_name_parse(buf, &sh2, &sl2) == 0);
		CHECK(sh1 == sh2 && sl1 == sl2);
	}

	rc1 = mac_parse(str, m1);
	rc2 = ref_mac(str, m2);
	CHECK(rc1 == rc2);
	if (rc1 == 0) {
		CHECK(memcmp(m1, m2, 6) == 0);
		mac_fmt(buf, m1);
		CHECK(strlen(buf) == MAC_STRLEN - 1);
		CHECK(mac_parse(buf, m2) == 0 && memcmp(m1, m2, 6) == 0);
	}

	lo = ranges[sel % ARRAY_SIZE(ranges)][0];
	hi = ranges[sel % ARRAY_SIZE(ranges)][1];
	rc1 = parse_uint(str, lo, hi, &v1);
	rc2 = ref_uint(str, lo, hi, &v2);
	CHECK(rc1 == rc2);
	if (rc1 == 0)
		CHECK(v1 == v2 && v1 >= lo && v1 <= hi);

	max_ms = maxes[sel / 8 % ARRAY_SIZE(maxes)];
	rc1 = parse_seconds_ms(str, max_ms, &ms1);
	rc2 = ref_seconds(str, max_ms, &ms2);
	CHECK(rc1 == rc2);
	if (rc1 == 0)
		CHECK(ms1 == ms2 && ms1 <= max_ms);
}

/* ------------------------------------------------------------ rt.h */

static void
check_iface_list(const struct rt_options *o)
{
	CHECK(o->nifaces >= 1 && o->nifaces <= RT_MAX_IFS);
	for (unsigned i = 0; i < o->nifaces; i++) {
		size_t n = strnlen(o->ifaces[i], IF_NAMESIZE);

		CHECK(n >= 1 && n < IF_NAMESIZE);
		CHECK(strcspn(o->ifaces[i], ", \t\n") == n);
		CHECK(strstr(str, o->ifaces[i]) != NULL);
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(o->ifaces[i], o->ifaces[j]) != 0);
	}
}

static void
check_rt(void)
{
	static const int opts[] = {
		'I', RT_OPT_BACKEND, RT_OPT_TRACE, 'w', RT_OPT_WAIT,
		RT_OPT_DEAD, RT_OPT_DISCOVER, RT_OPT_MAXWIN, RT_OPT_MAXSECT,
		RT_OPT_BUSYPOLL, 'v', 'Z', 0,
	};
	static struct rt_options o;
	unsigned long long v;
	uint64_t ms;
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		int opt = opts[i];

		rt_options_init(&o);
		rc = rt_parse_option(&o, opt, str);
		CHECK(rc == 1 || rc == 0 || rc == -1);
		if (opt == 'Z' || opt == 0) {
			CHECK(rc == 0);
			continue;
		}
		CHECK(rc != 0);
		switch (opt) {
		case 'I':
			if (rc == 1) {
				unsigned n;

				check_iface_list(&o);
				/* the same list again adds nothing */
				n = o.nifaces;
				CHECK(rt_parse_option(&o, opt, str) == 1);
				CHECK(o.nifaces == n);
			}
			break;
		case RT_OPT_BACKEND:
			CHECK((rc == 1) == (strcmp(str, "packet") == 0 ||
			    strcmp(str, "pcap") == 0 ||
			    strcmp(str, "default") == 0));
			break;
		case RT_OPT_TRACE:
			CHECK((rc == 1) == (str[0] != '\0'));
			if (rc == 1)
				CHECK(o.trace_path == str);
			break;
		case 'w':
		case RT_OPT_WAIT:
		case RT_OPT_DEAD:
		case RT_OPT_DISCOVER: {
			bool ok = ref_seconds(str, RT_MAX_MS_REF, &ms) == 0;

			/* 0 (off) or at least a second */
			if (opt != 'w' && opt != RT_OPT_WAIT && ok && ms != 0 &&
			    ms < 1000)
				ok = false;
			CHECK((rc == 1) == ok);
			if (rc != 1)
				break;
			if (opt == RT_OPT_DEAD)
				CHECK(o.ecfg.dead_ns == ms * NSEC_PER_MSEC);
			else if (opt == RT_OPT_DISCOVER)
				CHECK(o.ecfg.discover_ns == ms * NSEC_PER_MSEC);
			else
				CHECK(o.wait_ns == ms * NSEC_PER_MSEC);
			break;
		}
		case RT_OPT_MAXWIN:
			CHECK((rc == 1) == (ref_uint(str, 1, 65535, &v) == 0));
			if (rc == 1)
				CHECK(o.ecfg.max_window == v);
			break;
		case RT_OPT_MAXSECT:
			CHECK((rc == 1) == (ref_uint(str, 1, 255, &v) == 0));
			if (rc == 1)
				CHECK(o.ecfg.max_sectors == v);
			break;
		case RT_OPT_BUSYPOLL:
			CHECK((rc == 1) ==
			    (ref_uint(str, 0, 1000000, &v) == 0));
			if (rc == 1)
				CHECK(o.busy_poll_ns == v * 1000u);
			break;
		case 'v':
			CHECK(rc == 1);
			log_setverbose(0);
			break;
		}
	}
}

/* ------------------------------------------------------------ config */

static const uint8_t our_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x00 };
static const uint8_t tgt_mac[6] = { 0x02, 0xaa, 0x00, 0x00, 0x07, 0x03 };

struct cfg_ctx {
	uint8_t frame[AOE_CFG_HDR_LEN + AOE_CFG_STR_MAX + 64];
	size_t len;
	unsigned sends, calls;
	int rc;
};

static int
cfg_send(void *ctx, unsigned ifidx, const struct iovec *iov, unsigned iovcnt)
{
	struct cfg_ctx *c = ctx;

	CHECK(ifidx == 0);
	c->sends++;
	c->len = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		CHECK(iov[i].iov_len <= sizeof(c->frame) - c->len);
		memcpy(c->frame + c->len, iov[i].iov_base, iov[i].iov_len);
		c->len += iov[i].iov_len;
	}
	return 0;
}

static void
cfg_done(void *arg, int rc, const struct aoe_cfg *cfg)
{
	struct cfg_ctx *c = arg;

	c->calls++;
	c->rc = rc;
	CHECK(cfg == NULL);
}

static const struct engine_ops cfg_ops = {
	.send = cfg_send,
};

/* A target e7.3 as a config advert creates it (state NEW, one path). */
static struct target *
make_target(struct engine *e)
{
	uint8_t f[AOE_CFG_HDR_LEN];
	struct aoe_hdr h = { .version = AOE_VERSION, .flags = AOE_FLAG_RSP,
		.shelf = 7, .slot = 3, .cmd = AOE_CMD_CFG };
	struct aoe_cfg c = { .bufcnt = 4, .scnt = 2, .aoever = AOE_VERSION };

	memcpy(h.dst, our_mac, 6);
	memcpy(h.src, tgt_mac, 6);
	CHECK(aoe_hdr_encode(f, sizeof(f), &h) == AOE_HDR_LEN);
	CHECK(aoe_cfg_encode(f, sizeof(f), &c) == AOE_CFG_HDR_LEN);
	engine_input(e, 0, f, sizeof(f), 1);
	return engine_target_find(e, 7, 3);
}

static void
check_config(const uint8_t *data, size_t size, unsigned sel)
{
	static struct cfg_ctx c;
	static struct aoe_cfg dec;
	struct engine *e;
	struct target *t;
	uint8_t ccmd = (uint8_t)(sel % 7);
	/* the C string, or every byte (NULs and all) */
	const void *s = sel & 8 ? (const void *)data : str;
	size_t len = sel & 8 ? size : strlen(str);
	struct aoe_hdr h;
	int rc;

	memset(&c, 0, sizeof(c));
	e = engine_new(NULL, &cfg_ops, &c);
	CHECK(e != NULL);
	CHECK(engine_add_interface(e, "fz0", our_mac, 1500) == 0);
	t = make_target(e);
	CHECK(t != NULL);
	c.sends = 0;
	rc = engine_config(e, t, ccmd, s, len, NSEC_PER_SEC, cfg_done, &c, 2);
	if (ccmd > AOE_CCMD_FSET || len > AOE_CFG_STR_MAX) {
		CHECK(rc == -EINVAL);
		CHECK(c.sends == 0);
	} else {
		CHECK(rc == 0);
		CHECK(c.sends == 1);
		CHECK(c.len >= AOE_MIN_FRAME);
		CHECK(aoe_hdr_decode(c.frame, c.len, &h) == AOE_HDR_LEN);
		CHECK(memcmp(h.dst, tgt_mac, 6) == 0);
		CHECK(h.cmd == AOE_CMD_CFG && h.shelf == 7 && h.slot == 3);
		CHECK(h.version == AOE_VERSION && h.flags == 0);
		CHECK(aoe_cfg_decode(c.frame, c.len, &dec) ==
		    (int)(AOE_CFG_HDR_LEN + len));
		CHECK(dec.ccmd == ccmd && dec.len == len);
		CHECK(len == 0 || memcmp(dec.str, s, len) == 0);
	}
	CHECK(c.calls == 0);
	engine_free(e);
	CHECK(c.calls == (rc == 0 ? 1u : 0u));
	if (rc == 0)
		CHECK(c.rc == -ECANCELED);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *f;

	(void)argc;
	(void)argv;
	if (getenv("FUZZ_VERBOSE") == NULL &&
	    (f = fopen("/dev/null", "w")) != NULL)
		stderr = f;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned sel;

	if (size < 1 || size - 1 > STR_MAX)
		return 0;
	sel = data[0];
	str = malloc(size);
	CHECK(str != NULL);
	memcpy(str, data + 1, size - 1);
	str[size - 1] = '\0';
	check_util(sel);
	check_rt();
	check_config(data + 1, size - 1, sel);
	free(str);
	str = NULL;
	return 0;
}
