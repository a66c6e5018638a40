/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Batched sends on an AF_PACKET socket: see link_txq.h. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "link_txq.h"

#ifdef LINK_TXQ

#define TXQ_RETRIES 8     /* EAGAIN waits without progress */
#define TXQ_WAIT_MS 2     /* wait before each retry */

int
link_txq_send(struct link *l, struct link_txq *q, const struct iovec *iov,
    unsigned iovcnt)
{
	struct msghdr *mh;

	if (iovcnt == 0 || iovcnt > LINK_TXQ_IOV_POOL)
		return -EINVAL;
	if (q->n == LINK_TXQ_BATCH ||
	    q->iov_used + iovcnt > LINK_TXQ_IOV_POOL) {
		/*
		 * The earlier frames' errors are counted by flush; this frame
		 * is still queued, so the caller is not told about them.
		 */
		(void)link_txq_flush(l, q);
	}
	memcpy(&q->iov[q->iov_used], iov, iovcnt * sizeof(*iov));
	mh = &q->msgs[q->n].msg_hdr;
	memset(mh, 0, sizeof(*mh));
	/* Bound socket: no msg_name, the kernel uses the bound ifindex. */
	mh->msg_iov = &q->iov[q->iov_used];
	mh->msg_iovlen = iovcnt;
	q->msgs[q->n].msg_len = 0;
	q->iov_used += iovcnt;
	q->n++;
	return 0;
}

/*
 * Only a full socket buffer is worth waiting for.  ENOBUFS means the
 * device queue or a qdisc/nftables rule dropped the frame: it is lost, as
 * on the wire, and the engine's retransmission deals with it; sleeping in
 * the event loop would only stall every other frame.
 */
bool
link_txq_full(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

bool
link_txq_wait_room(int fd, bool *congested, int *retries)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (*congested || *retries >= TXQ_RETRIES) {
		*congested = true;
		return false;
	}
	(*retries)++;
	(void)poll(&pfd, 1, TXQ_WAIT_MS);
	return true;
}

int
link_txq_flush(struct link *l, struct link_txq *q)
{
	unsigned off = 0, n = q->n;
	int first_err = 0, retries = 0;

	while (off < n) {
		int r, err;

		r = sendmmsg(l->fd, &q->msgs[off], n - off, MSG_DONTWAIT);
		if (r > 0) {
			off += (unsigned)r;
			l->tx_frames += (uint64_t)r;
			q->congested = false;
			retries = 0; /* bound the waits without progress */
			continue;
		}
		err = r == 0 ? EIO : errno; /* 0 is not expected here */
		if (err == EINTR)
			continue;
		/*
		 * Queue full: wait a little, but while it stays full fail
		 * fast (link_txq_wait_room).
		 */
		if (link_txq_full(err) &&
		    link_txq_wait_room(l->fd, &q->congested, &retries))
			continue;
		if (first_err == 0)
			first_err = -err;
		if (link_txq_full(err)) {
			/* Out of retries: drop what is left. */
			l->tx_errors += n - off;
			break;
		}
		/* Lost or bad (ENOBUFS, EMSGSIZE ...): drop this frame alone. */
		l->tx_errors++;
		off++;
	}
	q->n = 0;
	q->iov_used = 0;
	return first_err;
}

void
link_txq_drop(struct link *l, struct link_txq *q)
{
	l->tx_errors += q->n;
	q->n = 0;
	q->iov_used = 0;
}

#endif
