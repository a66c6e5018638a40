/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD wire protocol (NetworkBlockDevice doc/proto.md): constants and pure
 * encoders/decoders for the fixed-newstyle handshake, option requests and
 * replies, transmission requests and simple/structured replies.  No I/O,
 * allocation, globals or clock.  Big-endian on the wire, host order here.
 *
 * Encoders write into p (capacity cap) and return the bytes written, or
 * -ENOSPC when cap is too small, -EINVAL for a field too long to encode.
 * Decoders return the bytes consumed, or -EMSGSIZE when len is too short
 * (the caller may wait for more), -EBADMSG for a wrong magic, -EINVAL for
 * inconsistent contents.
 */
#ifndef AOE_NBDPROTO_H
#define AOE_NBDPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Magics (proto.md "Handshake", "Transmission"). */
#define NBDP_MAGIC 0x4e42444d41474943ULL        /* "NBDMAGIC" */
#define NBDP_IHAVEOPT 0x49484156454f5054ULL     /* "IHAVEOPT" */
#define NBDP_REP_MAGIC 0x0003e889045565a9ULL
#define NBDP_REQUEST_MAGIC 0x25609513u
#define NBDP_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBDP_STRUCTURED_REPLY_MAGIC 0x668e33efu

/* Message sizes. */
#define NBDP_GREETING_LEN 18      /* NBDMAGIC, IHAVEOPT, u16 flags */
#define NBDP_CLIENT_FLAGS_LEN 4
#define NBDP_OPT_HDR_LEN 16       /* IHAVEOPT, u32 option, u32 length */
#define NBDP_REP_HDR_LEN 20       /* magic, u32 option, u32 type, u32 length */
#define NBDP_EXPORT_REPLY_LEN 10  /* u64 size, u16 flags (+ 124 zeroes) */
#define NBDP_ZERO_PAD_LEN 124
#define NBDP_REQUEST_LEN 28
#define NBDP_SIMPLE_REPLY_LEN 16
#define NBDP_CHUNK_HDR_LEN 20
#define NBDP_OFFSET_DATA_HDR_LEN (NBDP_CHUNK_HDR_LEN + 8)
#define NBDP_MAX_STRING 4096      /* names, messages: MUST be <= 4096 */

/* Handshake flags (server) and client flags. */
#define NBDP_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBDP_FLAG_NO_ZEROES (1u << 1)
#define NBDP_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBDP_FLAG_C_NO_ZEROES (1u << 1)

/* Options. */
#define NBDP_OPT_EXPORT_NAME 1
#define NBDP_OPT_ABORT 2
#define NBDP_OPT_LIST 3
#define NBDP_OPT_PEEK_EXPORT 4    /* withdrawn */
#define NBDP_OPT_STARTTLS 5
#define NBDP_OPT_INFO 6
#define NBDP_OPT_GO 7
#define NBDP_OPT_STRUCTURED_REPLY 8
#define NBDP_OPT_LIST_META_CONTEXT 9
#define NBDP_OPT_SET_META_CONTEXT 10
#define NBDP_OPT_EXTENDED_HEADERS 11

/* Option reply types. */
#define NBDP_REP_ACK 1
#define NBDP_REP_SERVER 2
#define NBDP_REP_INFO 3
#define NBDP_REP_META_CONTEXT 4
#define NBDP_REP_ERR(n) (0x80000000u | (n))
#define NBDP_REP_ERR_UNSUP NBDP_REP_ERR(1)
#define NBDP_REP_ERR_POLICY NBDP_REP_ERR(2)
#define NBDP_REP_ERR_INVALID NBDP_REP_ERR(3)
#define NBDP_REP_ERR_PLATFORM NBDP_REP_ERR(4)
#define NBDP_REP_ERR_TLS_REQD NBDP_REP_ERR(5)
#define NBDP_REP_ERR_UNKNOWN NBDP_REP_ERR(6)
#define NBDP_REP_ERR_SHUTDOWN NBDP_REP_ERR(7)
#define NBDP_REP_ERR_BLOCK_SIZE_REQD NBDP_REP_ERR(8)
#define NBDP_REP_ERR_TOO_BIG NBDP_REP_ERR(9)

/* NBD_OPT_INFO / NBD_OPT_GO information types. */
#define NBDP_INFO_EXPORT 0
#define NBDP_INFO_NAME 1
#define NBDP_INFO_DESCRIPTION 2
#define NBDP_INFO_BLOCK_SIZE 3

/* Transmission flags. */
#define NBDP_FLAG_HAS_FLAGS (1u << 0)
#define NBDP_FLAG_READ_ONLY (1u << 1)
#define NBDP_FLAG_SEND_FLUSH (1u << 2)
#define NBDP_FLAG_SEND_FUA (1u << 3)
#define NBDP_FLAG_ROTATIONAL (1u << 4)
#define NBDP_FLAG_SEND_TRIM (1u << 5)
#define NBDP_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBDP_FLAG_SEND_DF (1u << 7)
#define NBDP_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBDP_FLAG_SEND_RESIZE (1u << 9)
#define NBDP_FLAG_SEND_CACHE (1u << 10)
#define NBDP_FLAG_SEND_FAST_ZERO (1u << 11)

/* Commands. */
#define NBDP_CMD_READ 0
#define NBDP_CMD_WRITE 1
#define NBDP_CMD_DISC 2
#define NBDP_CMD_FLUSH 3
#define NBDP_CMD_TRIM 4
#define NBDP_CMD_CACHE 5
#define NBDP_CMD_WRITE_ZEROES 6
#define NBDP_CMD_BLOCK_STATUS 7
#define NBDP_CMD_RESIZE 8

/* Command flags. */
#define NBDP_CMD_FLAG_FUA (1u << 0)
#define NBDP_CMD_FLAG_NO_HOLE (1u << 1)
#define NBDP_CMD_FLAG_DF (1u << 2)
#define NBDP_CMD_FLAG_REQ_ONE (1u << 3)
#define NBDP_CMD_FLAG_FAST_ZERO (1u << 4)
#define NBDP_CMD_FLAG_PAYLOAD_LEN (1u << 5)

/* Structured reply flags and chunk types. */
#define NBDP_REPLY_FLAG_DONE (1u << 0)
#define NBDP_REPLY_TYPE_NONE 0
#define NBDP_REPLY_TYPE_OFFSET_DATA 1
#define NBDP_REPLY_TYPE_OFFSET_HOLE 2
#define NBDP_REPLY_TYPE_BLOCK_STATUS 5
#define NBDP_REPLY_TYPE_ERROR 0x8001
#define NBDP_REPLY_TYPE_ERROR_OFFSET 0x8002

/* base:allocation extent flags. */
#define NBDP_STATE_HOLE (1u << 0)
#define NBDP_STATE_ZERO (1u << 1)

/* Error values on the wire (proto.md "Error values"). */
#define NBDP_EPERM 1
#define NBDP_EIO 5
#define NBDP_ENOMEM 12
#define NBDP_EINVAL 22
#define NBDP_ENOSPC 28
#define NBDP_EOVERFLOW 75
#define NBDP_ENOTSUP 95
#define NBDP_ESHUTDOWN 108

/* ------------------------------------------------------------ handshake */

/* S->C greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
int nbdp_greeting_encode(uint8_t *p, size_t cap, uint16_t flags);
int nbdp_greeting_decode(const uint8_t *p, size_t len, uint16_t *flags);

/* C->S client flags (u32). */
int nbdp_client_flags_encode(uint8_t *p, size_t cap, uint32_t flags);
int nbdp_client_flags_decode(const uint8_t *p, size_t len, uint32_t *flags);

/* C->S option header; `len` bytes of option data follow it. */
struct nbdp_opt {
	uint32_t option;
	uint32_t len;
};

int nbdp_opt_encode(uint8_t *p, size_t cap, const struct nbdp_opt *o);
int nbdp_opt_decode(const uint8_t *p, size_t len, struct nbdp_opt *o);

/* S->C option reply header; `len` bytes of reply data follow it. */
struct nbdp_rep {
	uint32_t option;
	uint32_t type;
	uint32_t len;
};

int nbdp_rep_encode(uint8_t *p, size_t cap, const struct nbdp_rep *r);
int nbdp_rep_decode(const uint8_t *p, size_t len, struct nbdp_rep *r);

/*
 * A whole option reply with an opaque payload (ACK: dlen 0; an error with
 * its message).  data may be NULL when dlen is 0.
 */
int nbdp_rep_data_encode(uint8_t *p, size_t cap, uint32_t option,
    uint32_t type, const void *data, size_t dlen);
/* NBD_REP_SERVER: u32 name length, name, description (no NULs). */
int nbdp_rep_server_encode(uint8_t *p, size_t cap, uint32_t option,
    const char *name, size_t namelen, const char *desc, size_t desclen);
/* NBD_REP_INFO with NBD_INFO_EXPORT: u16 type, u64 size, u16 flags. */
int nbdp_rep_info_export_encode(uint8_t *p, size_t cap, uint32_t option,
    uint64_t size, uint16_t tflags);
/* NBD_REP_INFO with NBD_INFO_NAME or NBD_INFO_DESCRIPTION: u16, string. */
int nbdp_rep_info_string_encode(uint8_t *p, size_t cap, uint32_t option,
    uint16_t info, const char *s, size_t len);
/* NBD_REP_INFO with NBD_INFO_BLOCK_SIZE: u16, u32 min, pref, max. */
int nbdp_rep_info_block_size_encode(uint8_t *p, size_t cap, uint32_t option,
    uint32_t min, uint32_t pref, uint32_t max);
/* NBD_REP_META_CONTEXT: u32 context id, name. */
int nbdp_rep_meta_context_encode(uint8_t *p, size_t cap, uint32_t option,
    uint32_t id, const char *name, size_t len);

/*
 * Reply to NBD_OPT_EXPORT_NAME: u64 size, u16 transmission flags and, unless
 * no_zeroes, 124 zero bytes.
 */
int nbdp_export_reply_encode(uint8_t *p, size_t cap, uint64_t size,
    uint16_t tflags, bool no_zeroes);
int nbdp_export_reply_decode(const uint8_t *p, size_t len, uint64_t *size,
    uint16_t *tflags);

/*
 * NBD_OPT_INFO / NBD_OPT_GO data: u32 name length, name, u16 n, n x u16
 * information requests.  The decoded struct points into the buffer.  The
 * option data must be exactly that long (else -EINVAL; -EMSGSIZE when it
 * is shorter than the lengths inside announce).
 */
struct nbdp_info_req {
	const uint8_t *name;
	uint32_t namelen;
	uint16_t ninfos;
	const uint8_t *infos;   /* ninfos big-endian u16 */
};

int nbdp_info_req_decode(const uint8_t *p, size_t len,
    struct nbdp_info_req *r);
/* The i-th (0-based, < ninfos) information request. */
uint16_t nbdp_info_req_get(const struct nbdp_info_req *r, unsigned i);
int nbdp_info_req_encode(uint8_t *p, size_t cap, const char *name,
    size_t namelen, const uint16_t *infos, uint16_t ninfos);

/*
 * NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data: u32 name
 * length, name, u32 n, n x (u32 length, query).  The whole layout is
 * checked by the decoder; nbdp_meta_req_next walks the queries.
 */
struct nbdp_meta_req {
	const uint8_t *name;
	uint32_t namelen;
	uint32_t nqueries;
	const uint8_t *queries;  /* nqueries (u32 len, bytes) records */
	size_t querieslen;
};

int nbdp_meta_req_decode(const uint8_t *p, size_t len,
    struct nbdp_meta_req *r);
/*
 * Iterate over the queries: *cursor starts at 0.  Returns 1 with the next
 * query in *q / *qlen, 0 after the last one.
 */
int nbdp_meta_req_next(const struct nbdp_meta_req *r, size_t *cursor,
    const uint8_t **q, uint32_t *qlen);
int nbdp_meta_req_encode(uint8_t *p, size_t cap, const char *name,
    size_t namelen, const char *const *queries, uint32_t nqueries);

/* ------------------------------------------------------------ transmission */

struct nbdp_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t len;
};

int nbdp_request_encode(uint8_t *p, size_t cap, const struct nbdp_request *r);
int nbdp_request_decode(const uint8_t *p, size_t len, struct nbdp_request *r);

struct nbdp_simple_reply {
	uint32_t error;
	uint64_t cookie;
};

int nbdp_simple_reply_encode(uint8_t *p, size_t cap,
    const struct nbdp_simple_reply *r);
int nbdp_simple_reply_decode(const uint8_t *p, size_t len,
    struct nbdp_simple_reply *r);

/* Structured reply chunk header; `len` payload bytes follow it. */
struct nbdp_chunk {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint32_t len;
};

int nbdp_chunk_encode(uint8_t *p, size_t cap, const struct nbdp_chunk *c);
int nbdp_chunk_decode(const uint8_t *p, size_t len, struct nbdp_chunk *c);

/*
 * NBD_REPLY_TYPE_OFFSET_DATA: the chunk header and the u64 offset
 * (NBDP_OFFSET_DATA_HDR_LEN bytes); the dlen (>= 1) data bytes are sent
 * after it by the caller.
 */
int nbdp_chunk_offset_data_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint64_t offset, uint32_t dlen);
/* NBD_REPLY_TYPE_ERROR: u32 error (non-zero), u16 message length, message. */
int nbdp_chunk_error_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint32_t error, const char *msg, size_t msglen);

struct nbdp_extent {
	uint32_t len;    /* non-zero */
	uint32_t flags;  /* NBDP_STATE_* for base:allocation */
};

/* NBD_REPLY_TYPE_BLOCK_STATUS: u32 context id, n (>= 1) extents. */
int nbdp_chunk_block_status_encode(uint8_t *p, size_t cap, uint16_t flags,
    uint64_t cookie, uint32_t ctx_id, const struct nbdp_extent *e,
    unsigned n);

/* ------------------------------------------------------------ helpers */

/*
 * The NBD error for an errno (positive or negative): the only place where
 * errnos become NBD errors.  EPERM/EROFS/EACCES -> EPERM, ENOSPC/EDQUOT/
 * EFBIG -> ENOSPC, ENOTSUP -> ENOTSUP, ESHUTDOWN/ECANCELED -> ESHUTDOWN,
 * EINVAL, ENOMEM, EOVERFLOW as themselves, 0 -> 0, anything else -> EIO.
 */
uint32_t nbdp_errno(int err);

/* Names for log messages ("NBD_OPT_GO", "NBD_CMD_READ"...; "unknown"). */
const char *nbdp_opt_name(uint32_t option);
const char *nbdp_cmd_name(uint16_t type);

#endif
