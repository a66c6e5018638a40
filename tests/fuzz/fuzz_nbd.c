/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the NBD wire codec (src/nbdproto.h).  The input is
 * read as a client's byte stream the way the server walks it (client flags,
 * options with their data, then transmission requests with write payloads)
 * and, from its start, by every other decoder.  What decodes is re-encoded
 * and must give the same bytes; the encoders also run with parameters and
 * buffer sizes taken from the input, writing into exact-size heap buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nbdproto.h"
#include "util.h"

/* An exact-size heap buffer: writing or reading past it is caught. */
static uint8_t *
xbuf(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	CHECK(b != NULL);
	return b;
}

/* ------------------------------------------------------------ options */

static void
check_info_req(const uint8_t *d, size_t len)
{
	struct nbdp_info_req r;
	uint16_t *infos;
	uint8_t *b;
	int n;

	n = nbdp_info_req_decode(d, len, &r);
	CHECK(n == (int)len || n == -EMSGSIZE || n == -EINVAL);
	if (n < 0)
		return;
	CHECK(r.name == d + 4 && r.namelen == get_be32(d));
	CHECK(r.infos == d + 4 + r.namelen + 2);
	CHECK(4 + (size_t)r.namelen + 2 + 2 * (size_t)r.ninfos == len);
	infos = malloc(sizeof(*infos) * (r.ninfos ? r.ninfos : 1));
	CHECK(infos != NULL);
	for (unsigned i = 0; i < r.ninfos; i++)
		infos[i] = nbdp_info_req_get(&r, i);
	CHECK(nbdp_info_req_get(&r, r.ninfos) == 0xffff);
	b = xbuf(len);
	n = nbdp_info_req_encode(b, len, (const char *)r.name, r.namelen,
	    infos, r.ninfos);
	if (r.namelen > NBDP_MAX_STRING) {
		CHECK(n == -EINVAL);
	} else {
		CHECK(n == (int)len);
		CHECK(memcmp(b, d, len) == 0);
		CHECK(nbdp_info_req_encode(b, len - 1, (const char *)r.name,
		    r.namelen, infos, r.ninfos) == -ENOSPC);
	}
	free(b);
	free(infos);
}

static void
check_meta_req(const uint8_t *d, size_t len)
{
	struct nbdp_meta_req r;
	const uint8_t *q;
	uint32_t qlen, count = 0;
	size_t cursor = 0, total = 0;
	char **queries;
	bool has_nul = false, too_long = false;
	uint8_t *b;
	int n;

	n = nbdp_meta_req_decode(d, len, &r);
	CHECK(n == (int)len || n == -EMSGSIZE || n == -EINVAL);
	if (n < 0)
		return;
	CHECK(r.name == d + 4 && r.namelen == get_be32(d));
	CHECK(r.queries == d + 4 + r.namelen + 4);
	CHECK(r.nqueries == get_be32(d + 4 + r.namelen));
	/* each query takes at least its 4-byte length */
	CHECK((size_t)r.nqueries <= r.querieslen / 4);
	queries = calloc(r.nqueries ? r.nqueries : 1, sizeof(*queries));
	CHECK(queries != NULL);
	while (nbdp_meta_req_next(&r, &cursor, &q, &qlen) == 1) {
		CHECK(count < r.nqueries);
		CHECK(q >= r.queries && q + qlen <= r.queries + r.querieslen);
		if (memchr(q, '\0', qlen) != NULL)
			has_nul = true;
		if (qlen > NBDP_MAX_STRING)
			too_long = true;
		queries[count] = malloc((size_t)qlen + 1);
		CHECK(queries[count] != NULL);
		memcpy(queries[count], q, qlen);
		queries[count][qlen] = '\0';
		total += 4 + (size_t)qlen;
		count++;
	}
	CHECK(count == r.nqueries && total == r.querieslen);
	CHECK(cursor == r.querieslen);

	/* Queries are C strings to the encoder: only those re-encode. */
	if (!has_nul) {
		b = xbuf(len);
		n = nbdp_meta_req_encode(b, len, (const char *)r.name,
		    r.namelen, (const char *const *)queries, r.nqueries);
		if (r.namelen > NBDP_MAX_STRING || too_long) {
			CHECK(n == -EINVAL);
		} else {
			CHECK(n == (int)len);
			CHECK(memcmp(b, d, len) == 0);
		}
		free(b);
	}
	for (uint32_t i = 0; i < count; i++)
		free(queries[i]);
	free(queries);
}

/* ------------------------------------------------------------ stream */

/*
 * The client side of a connection as the server reads it.  Returns the
 * offset where transmission starts, or len when it never does.
 */
static size_t
walk_handshake(const uint8_t *p, size_t len)
{
	struct nbdp_opt o;
	uint8_t hdr[NBDP_OPT_HDR_LEN];
	size_t off = 0, dlen;
	uint32_t cflags;
	int n;

	n = nbdp_client_flags_decode(p, len, &cflags);
	if (n < 0) {
		CHECK(n == -EMSGSIZE && len < NBDP_CLIENT_FLAGS_LEN);
		return len;
	}
	CHECK(n == NBDP_CLIENT_FLAGS_LEN && cflags == get_be32(p));
	off = (size_t)n;
	for (;;) {
		n = nbdp_opt_decode(p + off, len - off, &o);
		if (n == -EMSGSIZE) {
			CHECK(len - off < NBDP_OPT_HDR_LEN);
			return len;
		}
		if (n == -EBADMSG) {
			CHECK(get_be64(p + off) != NBDP_IHAVEOPT);
			return len;
		}
		CHECK(n == NBDP_OPT_HDR_LEN);
		CHECK(o.option == get_be32(p + off + 8) &&
		    o.len == get_be32(p + off + 12));
		CHECK(nbdp_opt_encode(hdr, sizeof(hdr) - 1, &o) == -ENOSPC);
		CHECK(nbdp_opt_encode(hdr, sizeof(hdr), &o) ==
		    NBDP_OPT_HDR_LEN);
		CHECK(memcmp(hdr, p + off, sizeof(hdr)) == 0);
		CHECK(nbdp_opt_name(o.option) != NULL);
		off += NBDP_OPT_HDR_LEN;
		/* the data, or as much of it as there is */
		dlen = o.len <= len - off ? o.len : len - off;
		switch (o.option) {
		case NBDP_OPT_INFO:
		case NBDP_OPT_GO:
			check_info_req(p + off, dlen);
			break;
		case NBDP_OPT_LIST_META_CONTEXT:
		case NBDP_OPT_SET_META_CONTEXT:
			check_meta_req(p + off, dlen);
			break;
		default:
			break;
		}
		off += dlen;
		if (o.option == NBDP_OPT_EXPORT_NAME ||
		    o.option == NBDP_OPT_GO)
			return off;
		if (o.option == NBDP_OPT_ABORT)
			return len;
	}
}

static void
walk_transmission(const uint8_t *p, size_t len)
{
	struct nbdp_request r;
	uint8_t b[NBDP_REQUEST_LEN];
	size_t off = 0;
	int n;

	while (off < len) {
		n = nbdp_request_decode(p + off, len - off, &r);
		if (n == -EMSGSIZE) {
			CHECK(len - off < NBDP_REQUEST_LEN);
			return;
		}
		if (n == -EBADMSG) {
			CHECK(get_be32(p + off) != NBDP_REQUEST_MAGIC);
			return;
		}
		CHECK(n == NBDP_REQUEST_LEN);
		CHECK(r.cookie == get_be64(p + off + 8));
		CHECK(r.offset == get_be64(p + off + 16));
		CHECK(r.len == get_be32(p + off + 24));
		CHECK(nbdp_request_encode(b, sizeof(b) - 1, &r) == -ENOSPC);
		CHECK(nbdp_request_encode(b, sizeof(b), &r) ==
		    NBDP_REQUEST_LEN);
		CHECK(memcmp(b, p + off, sizeof(b)) == 0);
		CHECK(nbdp_cmd_name(r.type) != NULL);
		off += NBDP_REQUEST_LEN;
		if (r.type == NBDP_CMD_WRITE)
			off += r.len <= len - off ? r.len : len - off;
		if (r.type == NBDP_CMD_DISC)
			return;
	}
}

/* ------------------------------------------------------------ replies */

/* The server's messages, decoded from the start of the input. */
static void
check_server_side(const uint8_t *p, size_t len)
{
	uint8_t b[NBDP_GREETING_LEN + NBDP_ZERO_PAD_LEN + NBDP_REP_HDR_LEN];
	struct nbdp_simple_reply s;
	struct nbdp_chunk c;
	struct nbdp_rep r;
	uint64_t size;
	uint16_t flags, tflags;
	int n;

	n = nbdp_greeting_decode(p, len, &flags);
	if (n > 0) {
		CHECK(n == NBDP_GREETING_LEN);
		CHECK(nbdp_greeting_encode(b, n, flags) == n);
		CHECK(memcmp(b, p, (size_t)n) == 0);
	} else {
		CHECK(n == -EMSGSIZE || n == -EBADMSG);
	}
	n = nbdp_rep_decode(p, len, &r);
	if (n > 0) {
		CHECK(nbdp_rep_encode(b, n, &r) == n);
		CHECK(memcmp(b, p, (size_t)n) == 0);
	} else {
		CHECK(n == -EMSGSIZE || n == -EBADMSG);
	}
	n = nbdp_export_reply_decode(p, len, &size, &tflags);
	if (n > 0) {
		CHECK(nbdp_export_reply_encode(b, n, size, tflags, true) == n);
		CHECK(memcmp(b, p, (size_t)n) == 0);
		CHECK(nbdp_export_reply_encode(b, sizeof(b), size, tflags,
		    false) == NBDP_EXPORT_REPLY_LEN + NBDP_ZERO_PAD_LEN);
	} else {
		CHECK(n == -EMSGSIZE);
	}
	n = nbdp_simple_reply_decode(p, len, &s);
	if (n > 0) {
		CHECK(nbdp_simple_reply_encode(b, n, &s) == n);
		CHECK(memcmp(b, p, (size_t)n) == 0);
	} else {
		CHECK(n == -EMSGSIZE || n == -EBADMSG);
	}
	n = nbdp_chunk_decode(p, len, &c);
	if (n > 0) {
		CHECK(nbdp_chunk_encode(b, n, &c) == n);
		CHECK(memcmp(b, p, (size_t)n) == 0);
	} else {
		CHECK(n == -EMSGSIZE || n == -EBADMSG);
	}
}

/* ------------------------------------------------------------ encoders */

struct cursor {
	const uint8_t *p;
	size_t len, pos;
};

static unsigned
take(struct cursor *c)
{
	return c->pos < c->len ? c->p[c->pos++] : 0;
}

static uint32_t
take32(struct cursor *c)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | take(c);
	return v;
}

/* An option reply of n bytes in b: its header announces the rest. */
static void
expect_rep(const uint8_t *b, int n, uint32_t option, uint32_t type)
{
	struct nbdp_rep r;

	CHECK(n >= NBDP_REP_HDR_LEN);
	CHECK(nbdp_rep_decode(b, (size_t)n, &r) == NBDP_REP_HDR_LEN);
	CHECK(r.option == option && r.type == type);
	CHECK(r.len == (uint32_t)n - NBDP_REP_HDR_LEN);
}

static void
expect_chunk(const uint8_t *b, int n, uint16_t type, uint32_t clen)
{
	struct nbdp_chunk c;

	CHECK(n >= NBDP_CHUNK_HDR_LEN);
	CHECK(nbdp_chunk_decode(b, (size_t)n, &c) == NBDP_CHUNK_HDR_LEN);
	CHECK(c.type == type && c.len == clen);
}

static void
check_encoders(const uint8_t *p, size_t len)
{
	static struct nbdp_extent ext[64];
	struct cursor c = { .p = p, .len = len };
	size_t cap = take(&c) | (take(&c) & 0x1f) << 8;
	size_t slen = take(&c) | (take(&c) & 0x1f) << 8;
	uint32_t option = take32(&c), u = take32(&c);
	const char *s;
	unsigned next;
	uint8_t *b = xbuf(cap);
	char *str = malloc(slen ? slen : 1);
	int n;

	CHECK(str != NULL);
	for (size_t i = 0; i < slen; i++)
		str[i] = (char)take(&c);
	s = str;

	n = nbdp_rep_data_encode(b, cap, option, u, s, slen);
	if (n >= 0)
		expect_rep(b, n, option, u);
	else
		CHECK(n == -ENOSPC && cap < NBDP_REP_HDR_LEN + slen);
	n = nbdp_rep_server_encode(b, cap, option, s, slen / 2, s + slen / 2,
	    slen - slen / 2);
	if (n >= 0) {
		expect_rep(b, n, option, NBDP_REP_SERVER);
		CHECK(n == (int)(NBDP_REP_HDR_LEN + 4 + slen));
		CHECK(get_be32(b + NBDP_REP_HDR_LEN) == slen / 2);
	} else {
		CHECK(n == -ENOSPC || n == -EINVAL);
	}
	n = nbdp_rep_info_export_encode(b, cap, option,
	    (uint64_t)u << 32 | option, (uint16_t)u);
	if (n >= 0)
		expect_rep(b, n, option, NBDP_REP_INFO);
	else
		CHECK(n == -ENOSPC && cap < NBDP_REP_HDR_LEN + 12);
	n = nbdp_rep_info_string_encode(b, cap, option, (uint16_t)u, s, slen);
	if (n >= 0)
		expect_rep(b, n, option, NBDP_REP_INFO);
	else
		CHECK(n == -ENOSPC || n == -EINVAL);
	n = nbdp_rep_info_block_size_encode(b, cap, option, u, u, u);
	if (n >= 0)
		expect_rep(b, n, option, NBDP_REP_INFO);
	else
		CHECK(n == -ENOSPC);
	n = nbdp_rep_meta_context_encode(b, cap, option, u, s, slen);
	if (n >= 0)
		expect_rep(b, n, option, NBDP_REP_META_CONTEXT);
	else
		CHECK(n == -ENOSPC || n == -EINVAL);

	n = nbdp_chunk_offset_data_encode(b, cap, (uint16_t)u, option, u,
	    option);
	if (n >= 0) {
		CHECK(n == NBDP_OFFSET_DATA_HDR_LEN);
		expect_chunk(b, n, NBDP_REPLY_TYPE_OFFSET_DATA, 8 + option);
	} else {
		CHECK(n == -ENOSPC || n == -EINVAL);
	}
	n = nbdp_chunk_error_encode(b, cap, (uint16_t)u, option, u, s, slen);
	if (n >= 0) {
		expect_chunk(b, n, NBDP_REPLY_TYPE_ERROR, (uint32_t)(6 + slen));
		CHECK(n == (int)(NBDP_CHUNK_HDR_LEN + 6 + slen));
	} else {
		CHECK(n == -ENOSPC || n == -EINVAL);
	}
	next = take(&c) % (sizeof(ext) / sizeof(ext[0]) + 1);
	for (unsigned i = 0; i < next; i++) {
		ext[i].len = take32(&c);
		ext[i].flags = take(&c);
	}
	n = nbdp_chunk_block_status_encode(b, cap, (uint16_t)u, option, u,
	    ext, next);
	if (n >= 0) {
		expect_chunk(b, n, NBDP_REPLY_TYPE_BLOCK_STATUS, 4 + 8 * next);
		CHECK(n == (int)(NBDP_CHUNK_HDR_LEN + 4 + 8 * next));
	} else {
		CHECK(n == -ENOSPC || n == -EINVAL);
	}

	/* errno to NBD error: one of the values proto.md defines */
	switch (nbdp_errno(-(int)(u & 0xffff))) {
	case 0:
		CHECK((u & 0xffff) == 0);
		break;
	case NBDP_EPERM:
	case NBDP_EIO:
	case NBDP_ENOMEM:
	case NBDP_EINVAL:
	case NBDP_ENOSPC:
	case NBDP_EOVERFLOW:
	case NBDP_ENOTSUP:
	case NBDP_ESHUTDOWN:
		break;
	default:
		CHECK(!"nbdp_errno: not an NBD error value");
	}
	free(str);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start;

	if (size < 1)
		return 0;
	/* first byte: where the stream starts */
	if (data[0] & 1)
		start = walk_handshake(data + 1, size - 1) + 1;
	else
		start = 1;
	walk_transmission(data + start, size - start);
	check_server_side(data + 1, size - 1);
	check_encoders(data + 1, size - 1);
	return 0;
}
