/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libpcap backend, the portable one: immediate mode, inbound only, a BPF
 * filter for the AoE ethertype, non-blocking reads of one frame at a time
 * left where libpcap has them, one pcap_inject per frame (on Linux, where
 * libpcap's fd is an AF_PACKET socket, batches of frames with sendmmsg on
 * it instead; AOE_PCAP_INJECT=1 keeps pcap_inject).  Never pads (the
 * engine pads requests; short frames are accepted as they come).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "link.h"
#include "link_txq.h"

#define ETH_P_AOE_ 0x88A2
#define ETH_HLEN_ 14
#define PCAP_BUFFER_BYTES (8 << 20)
#define SNAPLEN_MIN_MTU 9000
#define TX_RETRIES 8
#define TX_WAIT_MS 2

struct pcap_link {
	struct link l; /* first: the ops get a struct link * */
	pcap_t *p;
	bool skip_own;    /* pcap_setdirection failed: filter by source MAC */
	bool congested;   /* the last send ran out of retries */
	uint8_t *tx_buf;  /* LINK_FRAME_MAX */
#ifdef LINK_TXQ
	struct link_txq *txq; /* libpcap's fd is an AF_PACKET socket */
#endif
};

static struct pcap_link *
to_pl(struct link *l)
{
	return (struct pcap_link *)l;
}

static int
pcap_link_send(struct link *l, const struct iovec *iov, unsigned iovcnt)
{
	struct pcap_link *pl = to_pl(l);
	size_t len = 0;
	unsigned i;
	int retries = 0, err;

#ifdef LINK_TXQ
	if (pl->txq != NULL)
		return link_txq_send(l, pl->txq, iov, iovcnt);
#endif
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > LINK_FRAME_MAX - len)
			return -EINVAL;
		if (iov[i].iov_len > 0)
			memcpy(pl->tx_buf + len, iov[i].iov_base,
			    iov[i].iov_len);
		len += iov[i].iov_len;
	}
	for (;;) {
		errno = 0;
		if (pcap_inject(pl->p, pl->tx_buf, len) >= 0) {
			l->tx_frames++;
			pl->congested = false;
			return 0;
		}
		err = errno != 0 ? errno : EIO;
		if (err == EINTR)
			continue;
		/*
		 * Full queue: wait a little, but while it stays full fail
		 * fast, so a burst of sends costs one wait and not one each.
		 */
		if ((err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) &&
		    !pl->congested && retries < TX_RETRIES) {
			struct pollfd pfd = { .fd = l->fd, .events = POLLOUT };

			retries++;
			(void)poll(&pfd, err == ENOBUFS ? 0 : 1, TX_WAIT_MS);
			continue;
		}
		if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
			pl->congested = true;
		return -err;
	}
}

static int
pcap_link_flush(struct link *l)
{
#ifdef LINK_TXQ
	struct pcap_link *pl = to_pl(l);

	if (pl->txq != NULL)
		return link_txq_flush(l, pl->txq);
#else
	(void)l;
#endif
	return 0; /* send() injected already */
}

/*
 * One frame per call, where libpcap keeps it: pcap_next_ex's data is
 * valid until its next call, which is what the link contract asks (until
 * our next recv), so nothing is copied.  The caller loops for more.
 */
static int
pcap_link_recv(struct link *l, const uint8_t **frames, size_t *lens,
    unsigned max)
{
	struct pcap_link *pl = to_pl(l);

	if (max == 0)
		return 0;
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int r;

		r = pcap_next_ex(pl->p, &h, &data);
		if (r == 0)
			return 0;
		if (r < 0)
			return r == PCAP_ERROR_BREAK ? 0 : -EIO;
		/* Truncated by the snapshot length (see link_pcap_open). */
		if (h->caplen < h->len || h->caplen > LINK_FRAME_MAX) {
			l->rx_errors++;
			continue;
		}
		if (h->caplen < ETH_HLEN_ ||
		    (data[12] << 8 | data[13]) != ETH_P_AOE_) {
			l->rx_errors++;
			continue;
		}
		/* Unicast to another host (someone set promiscuous mode). */
		if (!(data[0] & 1) && memcmp(data, l->mac, 6) != 0)
			continue;
		if (pl->skip_own && memcmp(data + 6, l->mac, 6) == 0)
			continue;
		frames[0] = data;
		lens[0] = h->caplen;
		return 1;
	}
}

static void
pcap_link_close(struct link *l)
{
	struct pcap_link *pl = to_pl(l);

#ifdef LINK_TXQ
	if (pl->txq != NULL) {
		/* Queued frames point at caller memory that may be gone. */
		link_txq_drop(l, pl->txq);
		free(pl->txq);
	}
#endif
	if (pl->p != NULL)
		pcap_close(pl->p);
	free(pl->tx_buf);
	free(pl);
}

static const struct link_ops pcap_link_ops = {
	.name = "pcap",
	.send = pcap_link_send,
	.flush = pcap_link_flush,
	.recv = pcap_link_recv,
	.close = pcap_link_close,
};

static int
activate_rc(int status)
{
	switch (status) {
	case PCAP_ERROR_PERM_DENIED:
		return -EPERM;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
#ifdef PCAP_ERROR_IFACE_NOT_UP
	case PCAP_ERROR_IFACE_NOT_UP:
		return -ENETDOWN;
#endif
	default:
		return -EIO;
	}
}

int
link_pcap_open(struct link **out, const char *ifname, char *errbuf,
    size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_link *pl;
	struct link *l;
	struct bpf_program prog;
	unsigned snaplen;
	int rc, status;

	*out = NULL;
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL) {
		link_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	l = &pl->l;
	l->ops = &pcap_link_ops;
	l->fd = -1;
	rc = link_query_iface(l, ifname, errbuf, errlen);
	if (rc < 0)
		goto err;
	pl->tx_buf = malloc(LINK_FRAME_MAX);
	if (pl->tx_buf == NULL) {
		link_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err;
	}

	perr[0] = '\0';
	pl->p = pcap_create(l->ifname, perr);
	if (pl->p == NULL) {
		link_set_err(errbuf, errlen, "%s: pcap_create: %s", ifname, perr);
		rc = -ENODEV;
		goto err;
	}
	/*
	 * The snapshot length sizes every slot of libpcap's receive ring on
	 * Linux when the interface has offloads (veth, most NICs): with
	 * LINK_FRAME_MAX, 8 MiB held 128 frames and a burst of 200 replies
	 * lost 72.  AoE frames never exceed the MTU, so size for the MTU,
	 * at least jumbo (an MTU raised later up to 9000 still fits); a
	 * longer frame arrives truncated and is counted in rx_errors.
	 */
	snaplen = (l->mtu > SNAPLEN_MIN_MTU ? l->mtu : SNAPLEN_MIN_MTU) +
	    ETH_HLEN_ + 4;
	if (snaplen > LINK_FRAME_MAX)
		snaplen = LINK_FRAME_MAX;
	/* Set-up calls on a fresh handle fail only on misuse: unchecked. */
	(void)pcap_set_snaplen(pl->p, (int)snaplen);
	(void)pcap_set_promisc(pl->p, 0);
	(void)pcap_set_timeout(pl->p, 1);
	(void)pcap_set_immediate_mode(pl->p, 1);
	(void)pcap_set_buffer_size(pl->p, PCAP_BUFFER_BYTES);
	status = pcap_activate(pl->p);
	if (status < 0) {
		rc = activate_rc(status);
		link_set_err(errbuf, errlen, "%s: pcap: %s%s", ifname,
		    status == PCAP_ERROR || status == PCAP_ERROR_PERM_DENIED ||
		    status == PCAP_ERROR_NO_SUCH_DEVICE ? pcap_geterr(pl->p) :
		    pcap_statustostr(status),
		    rc == -EPERM ? " (CAP_NET_RAW is needed)" : "");
		goto err;
	}
	if (pcap_datalink(pl->p) != DLT_EN10MB) {
		link_set_err(errbuf, errlen, "%s: pcap link type %d is not Ethernet",
		    ifname, pcap_datalink(pl->p));
		rc = -EPROTONOSUPPORT;
		goto err;
	}
	/* Never see our own frames. */
	if (pcap_setdirection(pl->p, PCAP_D_IN) != 0)
		pl->skip_own = true;
	if (pcap_compile(pl->p, &prog, "ether proto 0x88a2", 1,
	    PCAP_NETMASK_UNKNOWN) != 0) {
		link_set_err(errbuf, errlen, "%s: pcap_compile: %s", ifname,
		    pcap_geterr(pl->p));
		rc = -EIO;
		goto err;
	}
	status = pcap_setfilter(pl->p, &prog);
	pcap_freecode(&prog);
	if (status != 0) {
		link_set_err(errbuf, errlen, "%s: pcap_setfilter: %s", ifname,
		    pcap_geterr(pl->p));
		rc = -EIO;
		goto err;
	}
	if (pcap_setnonblock(pl->p, 1, perr) != 0) {
		link_set_err(errbuf, errlen, "%s: pcap_setnonblock: %s", ifname,
		    perr);
		rc = -EIO;
		goto err;
	}
	l->fd = pcap_get_selectable_fd(pl->p);
	if (l->fd < 0) {
		link_set_err(errbuf, errlen, "%s: pcap has no selectable fd here",
		    ifname);
		rc = -EOPNOTSUPP;
		goto err;
	}
#ifdef SO_SNDBUFFORCE
	{
		/* Jumbo frames fill the default send buffer quickly. */
		int v = PCAP_BUFFER_BYTES;

		if (setsockopt(l->fd, SOL_SOCKET, SO_SNDBUFFORCE, &v,
		    sizeof(v)) != 0)
			(void)setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &v,
			    sizeof(v));
	}
#endif
#ifdef LINK_TXQ
	{
		/*
		 * On Linux, libpcap's fd is a raw AF_PACKET socket bound to
		 * the interface, and pcap_inject() is one send(2) on it: send
		 * on it too, but a batch of frames per sendmmsg(2).
		 */
		int dom = 0, type = 0;
		socklen_t len = sizeof(dom);

		if (getenv("AOE_PCAP_INJECT") == NULL &&
		    getsockopt(l->fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 &&
		    (len = sizeof(type), getsockopt(l->fd, SOL_SOCKET, SO_TYPE,
		    &type, &len) == 0) && dom == AF_PACKET &&
		    type == SOCK_RAW)
			pl->txq = calloc(1, sizeof(*pl->txq));
	}
#endif
	*out = l;
	return 0;

err:
	pcap_link_close(l);
	return rc;
}
