/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the NBD wire codec (src/nbdproto.c): byte vectors written
 * from NetworkBlockDevice doc/proto.md (and checked against what libnbd
 * 1.14 sends), encoded byte for byte and decoded field by field; every
 * decoder fed every truncation of its input in an exactly sized buffer,
 * every encoder every too-small capacity; bad magics; the errno mapping.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exact-copy.h"
#include "nbdproto.h"

#define BIG 8192

static uint8_t out[BIG];

static void
assert_bytes(const uint8_t *got, int n, const uint8_t *want, size_t wlen)
{
	cr_assert_eq(n, (int)wlen, "length %d, want %zu", n, wlen);
	for (size_t i = 0; i < wlen; i++)
		cr_assert_eq(got[i], want[i], "byte %zu: %02x, want %02x", i,
		    got[i], want[i]);
}

/* Decoders under one signature, for the truncation loops. */
typedef int (*decode_fn)(const uint8_t *p, size_t len, void *out);

static int
dec_greeting(const uint8_t *p, size_t len, void *o)
{
	return nbdp_greeting_decode(p, len, o);
}

static int
dec_cflags(const uint8_t *p, size_t len, void *o)
{
	return nbdp_client_flags_decode(p, len, o);
}

static int
dec_opt(const uint8_t *p, size_t len, void *o)
{
	return nbdp_opt_decode(p, len, o);
}

static int
dec_rep(const uint8_t *p, size_t len, void *o)
{
	return nbdp_rep_decode(p, len, o);
}

static int
dec_info(const uint8_t *p, size_t len, void *o)
{
	return nbdp_info_req_decode(p, len, o);
}

static int
dec_meta(const uint8_t *p, size_t len, void *o)
{
	return nbdp_meta_req_decode(p, len, o);
}

static int
dec_request(const uint8_t *p, size_t len, void *o)
{
	return nbdp_request_decode(p, len, o);
}

static int
dec_simple(const uint8_t *p, size_t len, void *o)
{
	return nbdp_simple_reply_decode(p, len, o);
}

static int
dec_chunk(const uint8_t *p, size_t len, void *o)
{
	return nbdp_chunk_decode(p, len, o);
}

static int
dec_export(const uint8_t *p, size_t len, void *o)
{
	uint64_t size;
	uint16_t fl;

	(void)o;
	return nbdp_export_reply_decode(p, len, &size, &fl);
}

/*
 * Feed every proper prefix of v (in an exactly sized buffer): each must be
 * -EMSGSIZE; the whole of it must decode to its length.
 */
static void
truncations(decode_fn fn, const uint8_t *v, size_t len)
{
	union {
		uint16_t u16;
		uint32_t u32;
		struct nbdp_opt opt;
		struct nbdp_rep rep;
		struct nbdp_info_req ir;
		struct nbdp_meta_req mr;
		struct nbdp_request rq;
		struct nbdp_simple_reply sr;
		struct nbdp_chunk ch;
	} o;

	for (size_t n = 0; n < len; n++) {
		uint8_t *q = exact_copy(v, n);
		int rc = fn(q, n, &o);

		cr_assert_eq(rc, -EMSGSIZE, "prefix of %zu/%zu bytes: %d", n,
		    len, rc);
		free(q);
	}
	{
		uint8_t *q = exact_copy(v, len);

		cr_assert_eq(fn(q, len, &o), (int)len);
		free(q);
	}
}

/* ---------------------------------------------------------------- vectors */

static const uint8_t v_greeting[] = {
	'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
	'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
	0x00, 0x03,
};

static const uint8_t v_cflags[] = { 0x00, 0x00, 0x00, 0x03 };

/* NBD_OPT_GO, 12 bytes of data (as libnbd sends for "e1.0"). */
static const uint8_t v_opt_go[] = {
	0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x0c,
};

/* GO data: name "e1.0", two info requests (NAME, BLOCK_SIZE). */
static const uint8_t v_go_data[] = {
	0x00, 0x00, 0x00, 0x04, 'e', '1', '.', '0',
	0x00, 0x02, 0x00, 0x01, 0x00, 0x03,
};

/* SET_META_CONTEXT data: name "e1.0", 1 query "base:allocation". */
static const uint8_t v_meta_data[] = {
	0x00, 0x00, 0x00, 0x04, 'e', '1', '.', '0',
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x0f, 'b', 'a', 's', 'e', ':', 'a', 'l', 'l',
	'o', 'c', 'a', 't', 'i', 'o', 'n',
};

/* ACK to NBD_OPT_STRUCTURED_REPLY. */
static const uint8_t v_rep_ack[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00,
};

/* REP_SERVER for LIST: "e1.0", description "d". */
static const uint8_t v_rep_server[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x09,
	0x00, 0x00, 0x00, 0x04, 'e', '1', '.', '0', 'd',
};

/* INFO_EXPORT for GO: 64 MiB, flags 0x0ddd. */
static const uint8_t v_rep_info_export[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x0c,
	0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
	0x0d, 0xdd,
};

/* INFO_BLOCK_SIZE: 512, 4096, 32 MiB. */
static const uint8_t v_rep_info_bs[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x0e,
	0x00, 0x03,
	0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00,
	0x02, 0x00, 0x00, 0x00,
};

/* INFO_NAME "e1.0". */
static const uint8_t v_rep_info_name[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x06,
	0x00, 0x01, 'e', '1', '.', '0',
};

/* META_CONTEXT id 1 "base:allocation" for SET_META_CONTEXT. */
static const uint8_t v_rep_meta[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x13,
	0x00, 0x00, 0x00, 0x01,
	'b', 'a', 's', 'e', ':', 'a', 'l', 'l',
	'o', 'c', 'a', 't', 'i', 'o', 'n',
};

/* ERR_UNSUP with message "no" for option 11. */
static const uint8_t v_rep_unsup[] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	0x00, 0x00, 0x00, 0x0b, 0x80, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x02, 'n', 'o',
};

/* WRITE, FUA, cookie 0x0102030405060708, offset 4096, 512 bytes. */
static const uint8_t v_request[] = {
	0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
	0x00, 0x00, 0x02, 0x00,
};

/* Simple reply: EINVAL, cookie 0x0102030405060708. */
static const uint8_t v_simple[] = {
	0x67, 0x44, 0x66, 0x98, 0x00, 0x00, 0x00, 0x16,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

/* OFFSET_DATA chunk header, DONE, cookie 7, offset 1 MiB, 4096 bytes. */
static const uint8_t v_offset_data[] = {
	0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x10, 0x08,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
};

/* ERROR chunk, DONE, cookie 7, EIO, message "x". */
static const uint8_t v_error_chunk[] = {
	0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x80, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x05, 0x00, 0x01, 'x',
};

/* BLOCK_STATUS chunk, DONE, cookie 9, context 1, one extent 64 KiB data. */
static const uint8_t v_block_status[] = {
	0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x05,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
	0x00, 0x00, 0x00, 0x0c,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* EXPORT_NAME reply: 1 GiB, flags 0x0003, no zeroes. */
static const uint8_t v_export[] = {
	0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
	0x00, 0x03,
};

/* ---------------------------------------------------------------- handshake */

Test(handshake, greeting)
{
	uint16_t flags = 0;

	assert_bytes(out, nbdp_greeting_encode(out, sizeof(out),
	    NBDP_FLAG_FIXED_NEWSTYLE | NBDP_FLAG_NO_ZEROES), v_greeting,
	    sizeof(v_greeting));
	cr_assert_eq(nbdp_greeting_decode(v_greeting, sizeof(v_greeting),
	    &flags), NBDP_GREETING_LEN);
	cr_assert_eq(flags, 3);
	truncations(dec_greeting, v_greeting, sizeof(v_greeting));
	for (size_t cap = 0; cap < sizeof(v_greeting); cap++)
		cr_assert_eq(nbdp_greeting_encode(out, cap, 3), -ENOSPC);
}

Test(handshake, greeting_bad_magic)
{
	uint8_t v[sizeof(v_greeting)];
	uint16_t flags;

	for (size_t i = 0; i < 16; i++) {
		memcpy(v, v_greeting, sizeof(v));
		v[i] ^= 0x20;
		cr_assert_eq(nbdp_greeting_decode(v, sizeof(v), &flags),
		    -EBADMSG, "byte %zu", i);
	}
}

Test(handshake, client_flags)
{
	uint32_t flags = 0;

	assert_bytes(out, nbdp_client_flags_encode(out, sizeof(out), 3),
	    v_cflags, sizeof(v_cflags));
	cr_assert_eq(nbdp_client_flags_decode(v_cflags, 4, &flags), 4);
	cr_assert_eq(flags, NBDP_FLAG_C_FIXED_NEWSTYLE | NBDP_FLAG_C_NO_ZEROES);
	truncations(dec_cflags, v_cflags, sizeof(v_cflags));
	cr_assert_eq(nbdp_client_flags_encode(out, 3, 3), -ENOSPC);
}

Test(handshake, option_header)
{
	struct nbdp_opt o = { .option = NBDP_OPT_GO, .len = 12 }, d;
	uint8_t v[sizeof(v_opt_go)];

	assert_bytes(out, nbdp_opt_encode(out, sizeof(out), &o), v_opt_go,
	    sizeof(v_opt_go));
	cr_assert_eq(nbdp_opt_decode(v_opt_go, sizeof(v_opt_go), &d), 16);
	cr_assert_eq(d.option, NBDP_OPT_GO);
	cr_assert_eq(d.len, 12);
	truncations(dec_opt, v_opt_go, sizeof(v_opt_go));
	memcpy(v, v_opt_go, sizeof(v));
	v[0] = 'X';
	cr_assert_eq(nbdp_opt_decode(v, sizeof(v), &d), -EBADMSG);
	for (size_t cap = 0; cap < sizeof(v_opt_go); cap++)
		cr_assert_eq(nbdp_opt_encode(out, cap, &o), -ENOSPC);
}

Test(handshake, option_reply_header)
{
	struct nbdp_rep r;
	uint8_t v[sizeof(v_rep_ack)];

	cr_assert_eq(nbdp_rep_decode(v_rep_ack, sizeof(v_rep_ack), &r), 20);
	cr_assert_eq(r.option, NBDP_OPT_STRUCTURED_REPLY);
	cr_assert_eq(r.type, NBDP_REP_ACK);
	cr_assert_eq(r.len, 0);
	assert_bytes(out, nbdp_rep_encode(out, sizeof(out), &r), v_rep_ack,
	    sizeof(v_rep_ack));
	truncations(dec_rep, v_rep_ack, sizeof(v_rep_ack));
	memcpy(v, v_rep_ack, sizeof(v));
	v[7] ^= 1;
	cr_assert_eq(nbdp_rep_decode(v, sizeof(v), &r), -EBADMSG);
}

/* Encoders given every capacity below the need answer -ENOSPC. */
#define CHECK_CAPS(want, call_with_cap)                                      \
	do {                                                                  \
		for (size_t cap = 0; cap < sizeof(want); cap++) {             \
			int rc_ = (call_with_cap);                            \
			cr_assert_eq(rc_, -ENOSPC, "cap %zu: %d", cap, rc_);  \
		}                                                             \
		{                                                             \
			size_t cap = sizeof(out);                             \
			assert_bytes(out, (call_with_cap), want,              \
			    sizeof(want));                                    \
		}                                                             \
	} while (0)

Test(replies, ack_and_error)
{
	CHECK_CAPS(v_rep_ack, nbdp_rep_data_encode(out, cap,
	    NBDP_OPT_STRUCTURED_REPLY, NBDP_REP_ACK, NULL, 0));
	CHECK_CAPS(v_rep_unsup, nbdp_rep_data_encode(out, cap,
	    NBDP_OPT_EXTENDED_HEADERS, NBDP_REP_ERR_UNSUP, "no", 2));
	cr_assert_eq(NBDP_REP_ERR_UNKNOWN, 0x80000006u);
	cr_assert_eq(NBDP_REP_ERR_POLICY, 0x80000002u);
	cr_assert_eq(NBDP_REP_ERR_TOO_BIG, 0x80000009u);
}

Test(replies, server)
{
	char longname[NBDP_MAX_STRING + 2];

	CHECK_CAPS(v_rep_server, nbdp_rep_server_encode(out, cap,
	    NBDP_OPT_LIST, "e1.0", 4, "d", 1));
	memset(longname, 'a', sizeof(longname));
	cr_assert_eq(nbdp_rep_server_encode(out, sizeof(out), NBDP_OPT_LIST,
	    longname, NBDP_MAX_STRING + 1, "", 0), -EINVAL);
}

Test(replies, info)
{
	CHECK_CAPS(v_rep_info_export, nbdp_rep_info_export_encode(out, cap,
	    NBDP_OPT_GO, 64u << 20, 0x0ddd));
	CHECK_CAPS(v_rep_info_bs, nbdp_rep_info_block_size_encode(out, cap,
	    NBDP_OPT_INFO, 512, 4096, 32u << 20));
	CHECK_CAPS(v_rep_info_name, nbdp_rep_info_string_encode(out, cap,
	    NBDP_OPT_GO, NBDP_INFO_NAME, "e1.0", 4));
}

Test(replies, meta_context)
{
	CHECK_CAPS(v_rep_meta, nbdp_rep_meta_context_encode(out, cap,
	    NBDP_OPT_SET_META_CONTEXT, 1, "base:allocation", 15));
}

Test(replies, export_name)
{
	uint64_t size;
	uint16_t fl;
	int n;

	CHECK_CAPS(v_export, nbdp_export_reply_encode(out, cap,
	    1ULL << 30, 3, true));
	memset(out, 0xff, sizeof(out));
	n = nbdp_export_reply_encode(out, sizeof(out), 1ULL << 30, 3, false);
	cr_assert_eq(n, NBDP_EXPORT_REPLY_LEN + NBDP_ZERO_PAD_LEN);
	for (int i = NBDP_EXPORT_REPLY_LEN; i < n; i++)
		cr_assert_eq(out[i], 0, "pad byte %d", i);
	cr_assert_eq(nbdp_export_reply_encode(out, 133, 1, 1, false),
	    -ENOSPC);
	cr_assert_eq(nbdp_export_reply_decode(v_export, sizeof(v_export),
	    &size, &fl), 10);
	cr_assert_eq(size, 1ULL << 30);
	cr_assert_eq(fl, 3);
	truncations(dec_export, v_export, sizeof(v_export));
}

/* ---------------------------------------------------------------- options */

Test(options, info_request)
{
	static const uint16_t infos[] = { NBDP_INFO_NAME,
	    NBDP_INFO_BLOCK_SIZE };
	struct nbdp_info_req r;
	uint8_t v[sizeof(v_go_data) + 1];

	cr_assert_eq(nbdp_info_req_decode(v_go_data, sizeof(v_go_data), &r),
	    (int)sizeof(v_go_data));
	cr_assert_eq(r.namelen, 4);
	cr_assert(memcmp(r.name, "e1.0", 4) == 0);
	cr_assert_eq(r.ninfos, 2);
	cr_assert_eq(nbdp_info_req_get(&r, 0), NBDP_INFO_NAME);
	cr_assert_eq(nbdp_info_req_get(&r, 1), NBDP_INFO_BLOCK_SIZE);
	cr_assert_eq(nbdp_info_req_get(&r, 2), 0xffff);
	truncations(dec_info, v_go_data, sizeof(v_go_data));
	/* One byte too many is a malformed request, not a short one. */
	memcpy(v, v_go_data, sizeof(v_go_data));
	v[sizeof(v_go_data)] = 0;
	cr_assert_eq(nbdp_info_req_decode(v, sizeof(v), &r), -EINVAL);
	/* A name length beyond the data. */
	memcpy(v, v_go_data, sizeof(v_go_data));
	v[3] = 0xff;
	cr_assert_eq(nbdp_info_req_decode(v, sizeof(v_go_data), &r),
	    -EMSGSIZE);
	v[0] = 0xff;
	cr_assert_eq(nbdp_info_req_decode(v, sizeof(v_go_data), &r),
	    -EMSGSIZE);
	CHECK_CAPS(v_go_data, nbdp_info_req_encode(out, cap, "e1.0", 4, infos,
	    2));
}

Test(options, info_request_empty_name)
{
	static const uint8_t v[] = { 0, 0, 0, 0, 0, 0 };
	struct nbdp_info_req r;

	cr_assert_eq(nbdp_info_req_decode(v, sizeof(v), &r), 6);
	cr_assert_eq(r.namelen, 0);
	cr_assert_eq(r.ninfos, 0);
	truncations(dec_info, v, sizeof(v));
}

Test(options, meta_request)
{
	static const char *const q[] = { "base:allocation" };
	struct nbdp_meta_req r;
	const uint8_t *qp;
	uint32_t ql;
	size_t cur = 0;
	uint8_t v[sizeof(v_meta_data) + 1];

	cr_assert_eq(nbdp_meta_req_decode(v_meta_data, sizeof(v_meta_data),
	    &r), (int)sizeof(v_meta_data));
	cr_assert_eq(r.namelen, 4);
	cr_assert_eq(r.nqueries, 1);
	cr_assert_eq(nbdp_meta_req_next(&r, &cur, &qp, &ql), 1);
	cr_assert_eq(ql, 15);
	cr_assert(memcmp(qp, "base:allocation", 15) == 0);
	cr_assert_eq(nbdp_meta_req_next(&r, &cur, &qp, &ql), 0);
	truncations(dec_meta, v_meta_data, sizeof(v_meta_data));
	memcpy(v, v_meta_data, sizeof(v_meta_data));
	v[sizeof(v_meta_data)] = 'x';
	cr_assert_eq(nbdp_meta_req_decode(v, sizeof(v), &r), -EINVAL);
	/* More queries announced than present. */
	memcpy(v, v_meta_data, sizeof(v_meta_data));
	v[11] = 2;
	cr_assert_eq(nbdp_meta_req_decode(v, sizeof(v_meta_data), &r),
	    -EMSGSIZE);
	/* A query longer than the data. */
	memcpy(v, v_meta_data, sizeof(v_meta_data));
	v[15] = 0x10;
	cr_assert_eq(nbdp_meta_req_decode(v, sizeof(v_meta_data), &r),
	    -EMSGSIZE);
	v[12] = 0xff;
	cr_assert_eq(nbdp_meta_req_decode(v, sizeof(v_meta_data), &r),
	    -EMSGSIZE);
	CHECK_CAPS(v_meta_data, nbdp_meta_req_encode(out, cap, "e1.0", 4, q,
	    1));
}

Test(options, meta_request_many)
{
	static const char *const q[] = { "base:", "x-foo:bar", "",
	    "base:allocation" };
	struct nbdp_meta_req r;
	const uint8_t *qp;
	uint32_t ql;
	size_t cur = 0;
	unsigned n = 0;
	int len;

	len = nbdp_meta_req_encode(out, sizeof(out), "", 0, q, 4);
	cr_assert_gt(len, 0);
	cr_assert_eq(nbdp_meta_req_decode(out, (size_t)len, &r), len);
	cr_assert_eq(r.nqueries, 4);
	while (nbdp_meta_req_next(&r, &cur, &qp, &ql) == 1) {
		cr_assert_eq(ql, strlen(q[n]));
		cr_assert(memcmp(qp, q[n], ql) == 0);
		n++;
	}
	cr_assert_eq(n, 4);
	truncations(dec_meta, out, (size_t)len);
}

/* ---------------------------------------------------------- transmission */

Test(transmission, request)
{
	struct nbdp_request r = {
		.flags = NBDP_CMD_FLAG_FUA,
		.type = NBDP_CMD_WRITE,
		.cookie = 0x0102030405060708ULL,
		.offset = 4096,
		.len = 512,
	}, d;
	uint8_t v[sizeof(v_request)];

	CHECK_CAPS(v_request, nbdp_request_encode(out, cap, &r));
	cr_assert_eq(nbdp_request_decode(v_request, sizeof(v_request), &d),
	    28);
	cr_assert_eq(d.flags, NBDP_CMD_FLAG_FUA);
	cr_assert_eq(d.type, NBDP_CMD_WRITE);
	cr_assert_eq(d.cookie, 0x0102030405060708ULL);
	cr_assert_eq(d.offset, 4096);
	cr_assert_eq(d.len, 512);
	truncations(dec_request, v_request, sizeof(v_request));
	memcpy(v, v_request, sizeof(v));
	v[3] = 0x14;
	cr_assert_eq(nbdp_request_decode(v, sizeof(v), &d), -EBADMSG);
}

Test(transmission, simple_reply)
{
	struct nbdp_simple_reply r = {
		.error = NBDP_EINVAL,
		.cookie = 0x0102030405060708ULL,
	}, d;
	uint8_t v[sizeof(v_simple)];

	CHECK_CAPS(v_simple, nbdp_simple_reply_encode(out, cap, &r));
	cr_assert_eq(nbdp_simple_reply_decode(v_simple, sizeof(v_simple),
	    &d), 16);
	cr_assert_eq(d.error, 22);
	cr_assert_eq(d.cookie, r.cookie);
	truncations(dec_simple, v_simple, sizeof(v_simple));
	memcpy(v, v_simple, sizeof(v));
	v[0] = 0;
	cr_assert_eq(nbdp_simple_reply_decode(v, sizeof(v), &d), -EBADMSG);
}

Test(transmission, chunks)
{
	static const struct nbdp_extent ext = { .len = 65536, .flags = 0 };
	static const struct nbdp_extent zero = { .len = 0, .flags = 0 };
	struct nbdp_chunk c;
	uint8_t v[sizeof(v_offset_data)];

	CHECK_CAPS(v_offset_data, nbdp_chunk_offset_data_encode(out, cap,
	    NBDP_REPLY_FLAG_DONE, 7, 1u << 20, 4096));
	CHECK_CAPS(v_error_chunk, nbdp_chunk_error_encode(out, cap,
	    NBDP_REPLY_FLAG_DONE, 7, NBDP_EIO, "x", 1));
	CHECK_CAPS(v_block_status, nbdp_chunk_block_status_encode(out, cap,
	    NBDP_REPLY_FLAG_DONE, 9, 1, &ext, 1));
	cr_assert_eq(nbdp_chunk_decode(v_offset_data, sizeof(v_offset_data),
	    &c), 20);
	cr_assert_eq(c.flags, NBDP_REPLY_FLAG_DONE);
	cr_assert_eq(c.type, NBDP_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(c.cookie, 7);
	cr_assert_eq(c.len, 4104);
	truncations(dec_chunk, v_offset_data, NBDP_CHUNK_HDR_LEN);
	memcpy(v, v_offset_data, sizeof(v));
	v[1] = 0;
	cr_assert_eq(nbdp_chunk_decode(v, sizeof(v), &c), -EBADMSG);
	/* Invalid contents the spec forbids. */
	cr_assert_eq(nbdp_chunk_offset_data_encode(out, sizeof(out), 0, 1, 0,
	    0), -EINVAL);
	cr_assert_eq(nbdp_chunk_error_encode(out, sizeof(out), 0, 1, 0, "", 0),
	    -EINVAL);
	cr_assert_eq(nbdp_chunk_block_status_encode(out, sizeof(out), 0, 1, 1,
	    &zero, 1), -EINVAL);
	cr_assert_eq(nbdp_chunk_block_status_encode(out, sizeof(out), 0, 1, 1,
	    &ext, 0), -EINVAL);
}

Test(transmission, none_chunk)
{
	static const uint8_t want[] = {
		0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x00, 0x00, 0x00, 0x00,
	};
	struct nbdp_chunk c = {
		.flags = NBDP_REPLY_FLAG_DONE,
		.type = NBDP_REPLY_TYPE_NONE,
		.cookie = UINT64_MAX,
	};

	CHECK_CAPS(want, nbdp_chunk_encode(out, cap, &c));
}

/* ---------------------------------------------------------------- helpers */

Test(helpers, errno_mapping)
{
	static const struct {
		int err;
		uint32_t nbd;
	} t[] = {
		{ 0, 0 },
		{ -EPERM, NBDP_EPERM }, { -EROFS, NBDP_EPERM },
		{ -EACCES, NBDP_EPERM }, { -EIO, NBDP_EIO },
		{ -ETIMEDOUT, NBDP_EIO }, { -EAGAIN, NBDP_EIO },
		{ -ENOMEM, NBDP_ENOMEM }, { -EINVAL, NBDP_EINVAL },
		{ -ENOSPC, NBDP_ENOSPC }, { -EDQUOT, NBDP_ENOSPC },
		{ -EFBIG, NBDP_ENOSPC }, { -EOVERFLOW, NBDP_EOVERFLOW },
		{ -ENOTSUP, NBDP_ENOTSUP }, { -EOPNOTSUPP, NBDP_ENOTSUP },
		{ -ESHUTDOWN, NBDP_ESHUTDOWN }, { -ECANCELED, NBDP_ESHUTDOWN },
		{ EINVAL, NBDP_EINVAL }, { -EBADMSG, NBDP_EIO },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(nbdp_errno(t[i].err), t[i].nbd, "errno %d",
		    t[i].err);
	/* The wire values are Linux's (proto.md "Error values"). */
	cr_assert_eq(NBDP_EPERM, EPERM);
	cr_assert_eq(NBDP_EIO, EIO);
	cr_assert_eq(NBDP_EINVAL, EINVAL);
	cr_assert_eq(NBDP_ENOSPC, ENOSPC);
	cr_assert_eq(NBDP_EOVERFLOW, EOVERFLOW);
	cr_assert_eq(NBDP_ENOTSUP, ENOTSUP);
	cr_assert_eq(NBDP_ESHUTDOWN, ESHUTDOWN);
}

Test(helpers, names)
{
	cr_assert_str_eq(nbdp_opt_name(NBDP_OPT_GO), "NBD_OPT_GO");
	cr_assert_str_eq(nbdp_opt_name(NBDP_OPT_EXTENDED_HEADERS),
	    "NBD_OPT_EXTENDED_HEADERS");
	cr_assert_str_eq(nbdp_opt_name(12345), "unknown option");
	cr_assert_str_eq(nbdp_cmd_name(NBDP_CMD_BLOCK_STATUS),
	    "NBD_CMD_BLOCK_STATUS");
	cr_assert_str_eq(nbdp_cmd_name(0xffff), "unknown command");
}

Test(helpers, flag_values)
{
	/* Transmission flags as proto.md numbers the bits. */
	cr_assert_eq(NBDP_FLAG_SEND_FLUSH, 0x0004);
	cr_assert_eq(NBDP_FLAG_CAN_MULTI_CONN, 0x0100);
	cr_assert_eq(NBDP_FLAG_SEND_CACHE, 0x0400);
	cr_assert_eq(NBDP_FLAG_SEND_FAST_ZERO, 0x0800);
	cr_assert_eq(NBDP_CMD_FLAG_FAST_ZERO, 0x10);
	cr_assert_eq(NBDP_OPT_SET_META_CONTEXT, 10);
}
