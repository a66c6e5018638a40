/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A send queue for link backends whose frames leave through a Linux
 * AF_PACKET socket: frames are queued as iovec arrays (the bytes they point
 * to are not copied; the caller keeps them valid until the flush) and
 * flushed with one sendmmsg(2) per batch.  Used by the packet backend, and
 * by the pcap backend on Linux, where libpcap's own socket is one.
 */
#ifndef AOE_LINK_TXQ_H
#define AOE_LINK_TXQ_H

#include <stdbool.h>

#include "link.h"

#if defined(__linux__) && defined(HAVE_SENDMMSG)
#define LINK_TXQ 1
#include <sys/socket.h>

#define LINK_TXQ_BATCH 64      /* frames queued before a forced flush */
#define LINK_TXQ_IOV_POOL 512  /* iovec slots shared by the queued frames */

struct link_txq {
	unsigned n, iov_used;
	bool congested; /* the last flush ran out of retries */
	struct mmsghdr msgs[LINK_TXQ_BATCH];
	struct iovec iov[LINK_TXQ_IOV_POOL];
};

/*
 * Queue one frame for l->fd (bound: no address), flushing first when the
 * queue is full.  0 or -EINVAL (too many iovecs).
 */
int link_txq_send(struct link *l, struct link_txq *q, const struct iovec *iov,
    unsigned iovcnt);
/*
 * Send what is queued: frames the socket takes are counted in
 * l->tx_frames, the others in l->tx_errors.  A full socket buffer is
 * waited for a little (then dropped, as lost on the wire); a frame the
 * kernel refuses (ENOBUFS, EMSGSIZE ...) is dropped alone.  Returns 0 or
 * the first -errno.
 */
int link_txq_flush(struct link *l, struct link_txq *q);
/*
 * A send on fd stopped at a full socket buffer (err: EAGAIN, EWOULDBLOCK;
 * link_txq_full): wait a little for room.  True: try again.  False: out
 * of waits without progress (*retries, reset by the caller on progress),
 * or still *congested from the last time; *congested is then set, so a
 * run of flushes into a full buffer costs one wait and not one each.
 */
bool link_txq_full(int err);
bool link_txq_wait_room(int fd, bool *congested, int *retries);
/* Drop what is queued (the memory it points to may be gone), counted. */
void link_txq_drop(struct link *l, struct link_txq *q);

#endif
#endif
