/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --trace FILE: every AoE frame sent and received, written as a classic
 * pcap file (LINKTYPE_ETHERNET) readable by tcpdump and tshark.  One trace
 * may be shared by several links; records are written whole.
 */
#ifndef AOE_TRACE_H
#define AOE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct trace;

/* Create or truncate PATH and write the pcap file header.  0 or -errno. */
int trace_open(struct trace **out, const char *path);
/* Append one frame (concatenation of iov) with the current wall time. */
void trace_frame(struct trace *t, const struct iovec *iov, unsigned iovcnt);
/* Flush buffered records to the file (also done by trace_close). */
void trace_flush(struct trace *t);
/* NULL-safe. */
void trace_close(struct trace *t);

#endif
