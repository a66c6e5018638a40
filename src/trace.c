/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Trace writer: frames appended to a classic pcap file (magic 0xa1b2c3d4 in
 * host order, version 2.4, LINKTYPE_ETHERNET) through buffered stdio, each
 * record header and its data written together.  It does no filtering and
 * knows nothing of AoE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
#define PCAP_SNAPLEN (65535u + 14u)
#define PCAP_LINKTYPE_ETHERNET 1u

struct trace {
	FILE *fp;
	int err; /* first write error: further records are dropped */
};

/* pcap's own structures, written field by field in host byte order. */
static void
put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

int
trace_open(struct trace **out, const char *path)
{
	struct trace *t;
	uint8_t hdr[24];
	int rc;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	/* "e": O_CLOEXEC (glibc), so spawned helpers do not inherit it. */
	t->fp = fopen(path, "wbe");
	if (t->fp == NULL) {
		rc = -errno;
		goto err_free;
	}
	/* Frames come in bursts: a large buffer keeps write(2) calls rare. */
	setvbuf(t->fp, NULL, _IOFBF, 1 << 16);

	put_u32(hdr, PCAP_MAGIC);
	put_u16(hdr + 4, PCAP_VERSION_MAJOR);
	put_u16(hdr + 6, PCAP_VERSION_MINOR);
	put_u32(hdr + 8, 0);  /* thiszone: timestamps are UTC */
	put_u32(hdr + 12, 0); /* sigfigs */
	put_u32(hdr + 16, PCAP_SNAPLEN);
	put_u32(hdr + 20, PCAP_LINKTYPE_ETHERNET);
	if (fwrite(hdr, sizeof(hdr), 1, t->fp) != 1 || fflush(t->fp) != 0) {
		rc = errno ? -errno : -EIO;
		goto err_close;
	}
	*out = t;
	return 0;

err_close:
	fclose(t->fp);
err_free:
	free(t);
	return rc;
}

void
trace_frame(struct trace *t, const struct iovec *iov, unsigned iovcnt)
{
	struct timespec ts;
	uint8_t rec[16];
	size_t total = 0, incl, left;
	unsigned i;

	if (t == NULL || t->err != 0)
		return;
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	incl = total < PCAP_SNAPLEN ? total : PCAP_SNAPLEN;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		memset(&ts, 0, sizeof(ts));

	put_u32(rec, (uint32_t)ts.tv_sec);
	put_u32(rec + 4, (uint32_t)(ts.tv_nsec / 1000));
	put_u32(rec + 8, (uint32_t)incl);
	put_u32(rec + 12, total > UINT32_MAX ? UINT32_MAX : (uint32_t)total);
	if (fwrite(rec, sizeof(rec), 1, t->fp) != 1)
		goto err;
	left = incl;
	for (i = 0; i < iovcnt && left > 0; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;

		if (n > 0 && fwrite(iov[i].iov_base, n, 1, t->fp) != 1)
			goto err;
		left -= n;
	}
	return;

err:
	/*
	 * A short write leaves a partial record; anything appended after it
	 * would be misparsed, so stop here and keep the file readable up to
	 * the damage.
	 */
	t->err = errno ? errno : EIO;
}

void
trace_flush(struct trace *t)
{
	if (t == NULL)
		return;
	if (fflush(t->fp) != 0 && t->err == 0)
		t->err = errno ? errno : EIO;
}

void
trace_close(struct trace *t)
{
	if (t == NULL)
		return;
	fclose(t->fp);
	free(t);
}
