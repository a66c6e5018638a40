/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NBD wire codec: byte buffers in, host-order structs out and back, with
 * every length checked before a byte is read or written.  Knows nothing of
 * sockets, exports or AoE; the server (nbds.c) drives it.
 */
#include <errno.h>
#include <string.h>

#include "nbdproto.h"
#include "util.h"

/* ------------------------------------------------------------ handshake */

int
nbdp_greeting_encode(uint8_t *p, size_t cap, uint16_t flags)
{
	if (cap < NBDP_GREETING_LEN)
		return -ENOSPC;
	put_be64(p, NBDP_MAGIC);
	put_be64(p + 8, NBDP_IHAVEOPT);
	put_be16(p + 16, flags);
	return NBDP_GREETING_LEN;
}

int
nbdp_greeting_decode(const uint8_t *p, size_t len, uint16_t *flags)
{
	if (len < NBDP_GREETING_LEN)
		return -EMSGSIZE;
	if (get_be64(p) != NBDP_MAGIC || get_be64(p + 8) != NBDP_IHAVEOPT)
		return -EBADMSG;
	*flags = get_be16(p + 16);
	return NBDP_GREETING_LEN;
}

int
nbdp_client_flags_encode(uint8_t *p, size_t cap, uint32_t flags)
{
	if (cap < NBDP_CLIENT_FLAGS_LEN)
		return -ENOSPC;
	put_be32(p, flags);
	return NBDP_CLIENT_FLAGS_LEN;
}

int
nbdp_client_flags_decode(const uint8_t *p, size_t len, uint32_t *flags)
{
	if (len < NBDP_CLIENT_FLAGS_LEN)
		return -EMSGSIZE;
	*flags = get_be32(p);
	return NBDP_CLIENT_FLAGS_LEN;
}

int
nbdp_opt_encode(uint8_t *p, size_t cap, const struct nbdp_opt *o)
{
	if (cap < NBDP_OPT_HDR_LEN)
		return -ENOSPC;
	put_be64(p, NBDP_IHAVEOPT);
	put_be32(p + 8, o->option);
	put_be32(p + 12, o->len);
	return NBDP_OPT_HDR_LEN;
}

int
nbdp_opt_decode(const uint8_t *p, size_t len, struct nbdp_opt *o)
{
	if (len < NBDP_OPT_HDR_LEN)
		return -EMSGSIZE;
	if (get_be64(p) != NBDP_IHAVEOPT)
		return -EBADMSG;
	o->option = get_be32(p + 8);
	o->len = get_be32(p + 12);
	return NBDP_OPT_HDR_LEN;
}

int
nbdp_rep_encode(uint8_t *p, size_t cap, const struct nbdp_rep *r)
{
	if (cap < NBDP_REP_HDR_LEN)
		return -ENOSPC;
	put_be64(p, NBDP_REP_MAGIC);
	put_be32(p + 8, r->option);
	put_be32(p + 12, r->type);
	put_be32(p + 16, r->len);
	return NBDP_REP_HDR_LEN;
}

int
nbdp_rep_decode(const uint8_t *p, size_t len, struct nbdp_rep *r)
{
	if (len < NBDP_REP_HDR_LEN)
		return -EMSGSIZE;
	if (get_be64(p) != NBDP_REP_MAGIC)
		return -EBADMSG;
	r->option = get_be32(p + 8);
	r->type = get_be32(p + 12);
	r->len = get_be32(p + 16);
	return NBDP_REP_HDR_LEN;
}

/* Reply header for a payload of dlen bytes; checks the room for both. */
static int
rep_start(uint8_t *p, size_t cap, uint32_t option, uint32_t type,
    size_t dlen)
{
	struct nbdp_rep r = { .option = option, .type = type };

	if (dlen > UINT32_MAX - NBDP_REP_HDR_LEN)
		return -EINVAL;
	if (cap < NBDP_REP_HDR_LEN || cap - NBDP_REP_HDR_LEN < dlen)
		return -ENOSPC;
	r.len = (uint32_t)dlen;
	return nbdp_rep_encode(p, cap, &r);
}

int
nbdp_rep_data_encode(uint8_t *p, size_t cap, uint32_t option, uint32_t type,
    const void *data, size_t dlen)
{
	int n = rep_start(p, cap, option, type, dlen);

	if (n < 0)
		return n;
	if (dlen > 0)
		memcpy(p + n, data, dlen);
	return n + (int)dlen;
}

int
nbdp_rep_server_encode(uint8_t *p, size_t cap, uint32_t option,
    const char *name, size_t namelen, const char *desc, size_t desclen)
{
	int n;

	if (namelen > NBDP_MAX_STRING || desclen > NBDP_MAX_STRING)
		return -EINVAL;
	n = rep_start(p, cap, option, NBDP_REP_SERVER, 4 + namelen + desclen);
	if (n < 0)
		return n;
	put_be32(p + n, (uint32_t)namelen);
	if (namelen > 0)
		memcpy(p + n + 4, name, namelen);
	if (desclen > 0)
		memcpy(p + n + 4 + namelen, desc, desclen);
	return n + 4 + (int)(namelen + desclen);
}

int
nbdp_rep_info_export_encode(uint8_t *p, size_t cap, uint32_t option,
    uint64_t size, uint16_t tflags)
{
	int n = rep_start(p, cap, option, NBDP_REP_INFO, 12);

	if (n < 0)
		return n;
	put_be16(p + n, NBDP_INFO_EXPORT);
	put_be64(p + n + 2, size);
	put_be16(p + n + 10, tflags);
	return n + 12;
}

int
nbdp_rep_info_string_encode(uint8_t *p, size_t cap, uint32_t option,
    uint16_t info, const char *s, size_t len)
{
	int n;

	if (len > NBDP_MAX_STRING)
		return -EINVAL;
	n = rep_start(p, cap, option, NBDP_REP_INFO, 2 + len);
	if (n < 0)
		return n;
	put_be16(p + n, info);
	if (len > 0)
		memcpy(p + n + 2, s, len);
	return n + 2 + (int)len;
}

int
nbdp_rep_info_block_size_encode(uint8_t *p, size_t cap, uint32_t option,
    uint32_t min, uint32_t pref, uint32_t max)
{
	int n = rep_start(p, cap, option, NBDP_REP_INFO, 14);

	if (n < 0)
		return n;
	put_be16(p + n, NBDP_INFO_BLOCK_SIZE);
	put_be32(p + n + 2, min);
	put_be32(p + n + 6, pref);
	put_be32(p + n + 10, max);
	return n + 14;
}

int
nbdp_rep_meta_context_encode(uint8_t *p, size_t cap, uint32_t option,
    uint32_t id, const char *name, size_t len)
{
	int n;

	if (len > NBDP_MAX_STRING)
		return -EINVAL;
	n = rep_start(p, cap, option, NBDP_REP_META_CONTEXT, 4 + len);
	if (n < 0)
		return n;
	put_be32(p + n, id);
	if (len > 0)
		memcpy(p + n + 4, name, len);
	return n + 4 + (int)len;
}

int
nbdp_export_reply_encode(uint8_t *p, size_t cap, uint64_t size,
    uint16_t tflags, bool no_zeroes)
{
	size_t len = NBDP_EXPORT_REPLY_LEN;

	if (!no_zeroes)
		len += NBDP_ZERO_PAD_LEN;
	if (cap < len)
		return -ENOSPC;
	put_be64(p, size);
	put_be16(p + 8, tflags);
	memset(p + NBDP_EXPORT_REPLY_LEN, 0, len - NBDP_EXPORT_REPLY_LEN);
	return (int)len;
}

int
nbdp_export_reply_decode(const uint8_t *p, size_t len, uint64_t *size,
    uint16_t *tflags)
{
	if (len < NBDP_EXPORT_REPLY_LEN)
		return -EMSGSIZE;
	*size = get_be64(p);
	*tflags = get_be16(p + 8);
	return NBDP_EXPORT_REPLY_LEN;
}

int
nbdp_info_req_decode(const uint8_t *p, size_t len, struct nbdp_info_req *r)
{
	size_t off;
	uint32_t namelen;
	uint16_t n;

	if (len < 4)
		return -EMSGSIZE;
	namelen = get_be32(p);
	if (namelen > len - 4)
		return -EMSGSIZE;
	off = 4 + (size_t)namelen;
	if (len - off < 2)
		return -EMSGSIZE;
	n = get_be16(p + off);
	off += 2;
	if (len - off < 2 * (size_t)n)
		return -EMSGSIZE;
	if (len - off != 2 * (size_t)n)
		return -EINVAL;  /* trailing bytes */
	r->name = p + 4;
	r->namelen = namelen;
	r->ninfos = n;
	r->infos = p + off;
	return (int)len;
}

uint16_t
nbdp_info_req_get(const struct nbdp_info_req *r, unsigned i)
{
	if (i >= r->ninfos)
		return 0xffff;
	return get_be16(r->infos + 2 * (size_t)i);
}

int
nbdp_info_req_encode(uint8_t *p, size_t cap, const char *name,
    size_t namelen, const uint16_t *infos, uint16_t ninfos)
{
	size_t len = 4 + namelen + 2 + 2 * (size_t)ninfos;

	if (namelen > NBDP_MAX_STRING)
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	put_be32(p, (uint32_t)namelen);
	if (namelen > 0)
		memcpy(p + 4, name, namelen);
	put_be16(p + 4 + namelen, ninfos);
	for (unsigned i = 0; i < ninfos; i++)
		put_be16(p + 6 + namelen + 2 * i, infos[i]);
	return (int)len;
}

int
nbdp_meta_req_decode(const uint8_t *p, size_t len, struct nbdp_meta_req *r)
{
	size_t off, qstart;
	uint32_t namelen, nq;

	if (len < 4)
		return -EMSGSIZE;
	namelen = get_be32(p);
	if (namelen > len - 4)
		return -EMSGSIZE;
	off = 4 + (size_t)namelen;
	if (len - off < 4)
		return -EMSGSIZE;
	nq = get_be32(p + off);
	off += 4;
	qstart = off;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t ql;

		if (len - off < 4)
			return -EMSGSIZE;
		ql = get_be32(p + off);
		off += 4;
		if (ql > len - off)
			return -EMSGSIZE;
		off += ql;
	}
	if (off != len)
		return -EINVAL;  /* trailing bytes */
	r->name = p + 4;
	r->namelen = namelen;
	r->nqueries = nq;
	r->queries = p + qstart;
	r->querieslen = len - qstart;
	return (int)len;
}

int
nbdp_meta_req_next(const struct nbdp_meta_req *r, size_t *cursor,
    const uint8_t **q, uint32_t *qlen)
{
	size_t off = *cursor;
	uint32_t ql;

	/* The decoder checked the layout; stay defensive anyway. */
	if (off > r->querieslen || r->querieslen - off < 4)
		return 0;
	ql = get_be32(r->queries + off);
	if (ql > r->querieslen - off - 4)
		return 0;
	*q = r->queries + off + 4;
	*qlen = ql;
	*cursor = off + 4 + ql;
	return 1;
}

int
nbdp_meta_req_encode(uint8_t *p, size_t cap, const char *name,
    size_t namelen, const char *const *queries, uint32_t nqueries)
{
	size_t len = 4 + namelen + 4, off;

	if (namelen > NBDP_MAX_STRING)
		return -EINVAL;
	for (uint32_t i = 0; i < nqueries; i++) {
		size_t ql = strlen(queries[i]);

		if (ql > NBDP_MAX_STRING)
			return -EINVAL;
		len += 4 + ql;
	}
	if (len > (size_t)INT32_MAX)
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	put_be32(p, (uint32_t)namelen);
	if (namelen > 0)
		memcpy(p + 4, name, namelen);
	off = 4 + namelen;
	put_be32(p + off, nqueries);
	off += 4;
	for (uint32_t i = 0; i < nqueries; i++) {
		size_t ql = strlen(queries[i]);

		put_be32(p + off, (uint32_t)ql);
		memcpy(p + off + 4, queries[i], ql);
		off += 4 + ql;
	}
	return (int)len;
}

/* ------------------------------------------------------------ transmission */

int
nbdp_request_encode(uint8_t *p, size_t cap, const struct nbdp_request *r)
{
	if (cap < NBDP_REQUEST_LEN)
		return -ENOSPC;
	put_be32(p, NBDP_REQUEST_MAGIC);
	put_be16(p + 4, r->flags);
	put_be16(p + 6, r->type);
	put_be64(p + 8, r->cookie);
	put_be64(p + 16, r->offset);
	put_be32(p + 24, r->len);
	return NBDP_REQUEST_LEN;
}

int
nbdp_request_decode(const uint8_t *p, size_t len, struct nbdp_request *r)
{
	if (len < NBDP_REQUEST_LEN)
		return -EMSGSIZE;
	if (get_be32(p) != NBDP_REQUEST_MAGIC)
		return -EBADMSG;
	r->flags = get_be16(p + 4);
	r->type = get_be16(p + 6);
	r->cookie = get_be64(p + 8);
	r->offset = get_be64(p + 16);
	r->len = get_be32(p + 24);
	return NBDP_REQUEST_LEN;
}

int
nbdp_simple_reply_encode(uint8_t *p, size_t cap,
    const struct nbdp_simple_reply *r)
{
	if (cap < NBDP_SIMPLE_REPLY_LEN)
		return -ENOSPC;
	put_be32(p, NBDP_SIMPLE_REPLY_MAGIC);
	put_be32(p + 4, r->error);
	put_be64(p + 8, r->cookie);
	return NBDP_SIMPLE_REPLY_LEN;
}

int
nbdp_simple_reply_decode(const uint8_t *p, size_t len,
    struct nbdp_simple_reply *r)
{
	if (len < NBDP_SIMPLE_REPLY_LEN)
		return -EMSGSIZE;
	if (get_be32(p) != NBDP_SIMPLE_REPLY_MAGIC)
		return -EBADMSG;
	r->error = get_be32(p + 4);
	r->cookie = get_be64(p + 8);
	return NBDP_SIMPLE_REPLY_LEN;
}

int
nbdp_chunk_encode(uint8_t *p, size_t cap, const struct nbdp_chunk *c)
{
	if (cap < NBDP_CHUNK_HDR_LEN)
		return -ENOSPC;
	put_be32(p, NBDP_STRUCTURED_REPLY_MAGIC);
	put_be16(p + 4, c->flags);
	put_be16(p + 6, c->type);
	put_be64(p + 8, c->cookie);
	put_be32(p + 16, c->len);
	return NBDP_CHUNK_HDR_LEN;
}

int
nbdp_chunk_decode(const uint8_t *p, size_t len, struct nbdp_chunk *c)
{
	if (len < NBDP_CHUNK_HDR_LEN)
		return -EMSGSIZE;
	if (get_be32(p) != NBDP_STRUCTURED_REPLY_MAGIC)
		return -EBADMSG;
	c->flags = get_be16(p + 4);
	c->type = get_be16(p + 6);
	c->cookie = get_be64(p + 8);
	c->len = get_be32(p + 16);
	return NBDP_CHUNK_HDR_LEN;
}

int
nbdp_chunk_offset_data_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint64_t offset, uint32_t dlen)
{
	struct nbdp_chunk c = {
		.flags = flags,
		.type = NBDP_REPLY_TYPE_OFFSET_DATA,
		.cookie = cookie,
	};

	/* proto.md: length >= 9, so at least one data byte. */
	if (dlen == 0 || dlen > UINT32_MAX - 8)
		return -EINVAL;
	if (cap < NBDP_OFFSET_DATA_HDR_LEN)
		return -ENOSPC;
	c.len = 8 + dlen;
	nbdp_chunk_encode(p, cap, &c);
	put_be64(p + NBDP_CHUNK_HDR_LEN, offset);
	return NBDP_OFFSET_DATA_HDR_LEN;
}

int
nbdp_chunk_error_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint32_t error, const char *msg, size_t msglen)
{
	struct nbdp_chunk c = {
		.flags = flags,
		.type = NBDP_REPLY_TYPE_ERROR,
		.cookie = cookie,
	};
	size_t len;

	if (error == 0 || msglen > NBDP_MAX_STRING)
		return -EINVAL;
	len = NBDP_CHUNK_HDR_LEN + 6 + msglen;
	if (cap < len)
		return -ENOSPC;
	c.len = (uint32_t)(6 + msglen);
	nbdp_chunk_encode(p, cap, &c);
	put_be32(p + NBDP_CHUNK_HDR_LEN, error);
	put_be16(p + NBDP_CHUNK_HDR_LEN + 4, (uint16_t)msglen);
	if (msglen > 0)
		memcpy(p + NBDP_CHUNK_HDR_LEN + 6, msg, msglen);
	return (int)len;
}

int
nbdp_chunk_block_status_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint32_t ctx_id, const struct nbdp_extent *e,
    unsigned n)
{
	struct nbdp_chunk c = {
		.flags = flags,
		.type = NBDP_REPLY_TYPE_BLOCK_STATUS,
		.cookie = cookie,
	};
	size_t len;

	/* At most 2^20 extents (proto.md); at least one. */
	if (n == 0 || n > (1u << 20))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (e[i].len == 0)
			return -EINVAL;
	len = NBDP_CHUNK_HDR_LEN + 4 + 8 * (size_t)n;
	if (cap < len)
		return -ENOSPC;
	c.len = (uint32_t)(4 + 8 * (size_t)n);
	nbdp_chunk_encode(p, cap, &c);
	put_be32(p + NBDP_CHUNK_HDR_LEN, ctx_id);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *q = p + NBDP_CHUNK_HDR_LEN + 4 + 8 * (size_t)i;

		put_be32(q, e[i].len);
		put_be32(q + 4, e[i].flags);
	}
	return (int)len;
}

/* ------------------------------------------------------------ helpers */

uint32_t
nbdp_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
	case EACCES:
		return NBDP_EPERM;
	case EINVAL:
		return NBDP_EINVAL;
	case ENOMEM:
		return NBDP_ENOMEM;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBDP_ENOSPC;
	case EOVERFLOW:
		return NBDP_EOVERFLOW;
	case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
	case EOPNOTSUPP:
#endif
		return NBDP_ENOTSUP;
	case ESHUTDOWN:
	case ECANCELED:
		return NBDP_ESHUTDOWN;
	default:
		/* EIO, ETIMEDOUT, EAGAIN (target re-identifying)... */
		return NBDP_EIO;
	}
}

const char *
nbdp_opt_name(uint32_t option)
{
	static const char *const names[] = {
		[NBDP_OPT_EXPORT_NAME] = "NBD_OPT_EXPORT_NAME",
		[NBDP_OPT_ABORT] = "NBD_OPT_ABORT",
		[NBDP_OPT_LIST] = "NBD_OPT_LIST",
		[NBDP_OPT_PEEK_EXPORT] = "NBD_OPT_PEEK_EXPORT",
		[NBDP_OPT_STARTTLS] = "NBD_OPT_STARTTLS",
		[NBDP_OPT_INFO] = "NBD_OPT_INFO",
		[NBDP_OPT_GO] = "NBD_OPT_GO",
		[NBDP_OPT_STRUCTURED_REPLY] = "NBD_OPT_STRUCTURED_REPLY",
		[NBDP_OPT_LIST_META_CONTEXT] = "NBD_OPT_LIST_META_CONTEXT",
		[NBDP_OPT_SET_META_CONTEXT] = "NBD_OPT_SET_META_CONTEXT",
		[NBDP_OPT_EXTENDED_HEADERS] = "NBD_OPT_EXTENDED_HEADERS",
	};

	if (option < ARRAY_SIZE(names) && names[option] != NULL)
		return names[option];
	return "unknown option";
}

const char *
nbdp_cmd_name(uint16_t type)
{
	static const char *const names[] = {
		[NBDP_CMD_READ] = "NBD_CMD_READ",
		[NBDP_CMD_WRITE] = "NBD_CMD_WRITE",
		[NBDP_CMD_DISC] = "NBD_CMD_DISC",
		[NBDP_CMD_FLUSH] = "NBD_CMD_FLUSH",
		[NBDP_CMD_TRIM] = "NBD_CMD_TRIM",
		[NBDP_CMD_CACHE] = "NBD_CMD_CACHE",
		[NBDP_CMD_WRITE_ZEROES] = "NBD_CMD_WRITE_ZEROES",
		[NBDP_CMD_BLOCK_STATUS] = "NBD_CMD_BLOCK_STATUS",
		[NBDP_CMD_RESIZE] = "NBD_CMD_RESIZE",
	};

	if (type < ARRAY_SIZE(names) && names[type] != NULL)
		return names[type];
	return "unknown command";
}
