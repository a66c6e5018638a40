/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linux AF_PACKET backend: one SOCK_RAW socket bound to the interface and
 * the AoE ethertype receives from a PACKET_RX_RING shared with the kernel
 * (no system call per frame; recvmmsg into preallocated buffers where no
 * ring can be had, or with AOE_PACKET_RING=0).  A ring slot may be held
 * past the next receive (link_hold: read data sent on from where it landed)
 * and is copied out by its holder before the kernel could need it.  Frames
 * go out through a PACKET_TX_RING on a second socket, which the driver
 * sends from without copying them again (not on veth or tun/tap, which
 * copy anyway; AOE_PACKET_TX_RING=0 or 1 decides), or batched with
 * sendmmsg on the first.  Never blocks for long; never pads (the engine
 * pads requests; short frames are accepted as they come).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link.h"
#include "link_txq.h"
#include "util.h"

#if defined(__linux__) && defined(HAVE_LINUX_IF_PACKET_H) && \
    defined(HAVE_SENDMMSG) && defined(HAVE_RECVMMSG)

#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20 */
#endif

#define ETH_P_AOE_ 0x88A2
#define ETH_HLEN_ 14
#define ETH_MTU_STD 1500 /* standard Ethernet: the least a ring slot holds */
#define RX_BATCH 32      /* frames per recvmmsg */
#define SOCKBUF_BYTES (8 << 20)

/*
 * The receive ring (TPACKET_V2: one frame per slot, handed over as soon as
 * it is written, so no added latency): about RX_RING_SLOTS slots, at most
 * RX_RING_MAX_BYTES, in blocks of RX_RING_BLOCK.  A slot holds the
 * kernel's header, the sockaddr_ll and a frame of the interface MTU.
 */
#define RX_RING_SLOTS 2048
#define RX_RING_MAX_BYTES (8u << 20)
#define RX_RING_BLOCK (64u << 10)
#define RX_SLOT_HEAD 128 /* tpacket2_hdr + sockaddr_ll + alignment */

/*
 * The transmit ring (TPACKET_V2, on a socket of its own that is never bound,
 * so it receives nothing): a frame is copied into the next free slot and
 * the kernel sends it from there at the flush; the driver reads the slot's
 * pages where the kernel would otherwise copy the frame into new buffers,
 * and the slot is free again once the driver is done with it.  About
 * TX_RING_SLOTS slots of the MTU at open, at most TX_RING_MAX_BYTES.  A
 * frame that finds its slot still in use, or is larger than a slot (the MTU
 * was raised), goes out through sendmmsg instead.
 */
#define TX_RING_SLOTS 256
#define TX_RING_MAX_BYTES (4u << 20)
#define TX_RING_BLOCK (64u << 10)
/* Frame data starts here in a slot (no PACKET_TX_HAS_OFF). */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

/*
 * PACKET_QDISC_BYPASS hands frames straight to the driver: that skips the
 * qdisc (tc rate limits), the netdev egress hook (nftables loss rules the
 * tests use) and the taps (tcpdump would not see what we send).  Off.
 */
#define USE_QDISC_BYPASS 0

struct packet_link {
	struct link l; /* first: the ops get a struct link * */
	struct link_txq txq;
	/*
	 * tx ring (tx_map == NULL: sendmmsg only).  Slots from tx_head -
	 * tx_queued to tx_head are filled and not yet taken by the kernel;
	 * tx_drop of the first were given up (see tx_ring_give_up).
	 */
	int tx_fd;
	uint8_t *tx_map;
	size_t tx_map_len, tx_frame_max;
	unsigned tx_slot_size, tx_slots_per_block, tx_slots, tx_head;
	unsigned tx_queued, tx_drop;
	size_t tx_queued_max; /* the largest frame queued (0: none) */
	bool tx_too_large;    /* tx_ring_fit gave frames up: flush says so */
	unsigned tx_mtu_failed; /* no larger slots could be had for this */
	bool tx_congested; /* the last kick ran out of waits */
	/* rx ring (map == NULL: recvmmsg) */
	uint8_t *rx_map;
	size_t rx_map_len;
	unsigned rx_slot_size, rx_slots_per_block, rx_slots, rx_head;
	unsigned rx_held; /* slots before rx_head still owned by the caller */
	/*
	 * Slots kept past the next recv (link_hold), one entry per slot.
	 * rx_seq counts the slots taken since the ring was mapped; a hold
	 * older than half the ring is evicted (copied out by its owner and
	 * given back) before the kernel could need its slot.
	 */
	struct rx_hold {
		link_evict_fn evict;
		void *owner;
		unsigned idx;
		bool held;
		uint64_t seq;
	} *rx_holds;
	unsigned rx_nholds;
	uint64_t rx_seq, rx_evict_seq;
	bool rx_idle; /* the last recv found nothing */
	/* rx without a ring */
	struct mmsghdr rx_msgs[RX_BATCH];
	struct iovec rx_iov[RX_BATCH];
	struct sockaddr_ll rx_addr[RX_BATCH];
	uint8_t *rx_buf; /* RX_BATCH * LINK_FRAME_MAX */
};

static struct packet_link *
to_pl(struct link *l)
{
	return (struct packet_link *)l;
}

/* Slot i of a ring of blocks of block bytes, per_block slots of size each. */
static struct tpacket2_hdr *
ring_slot(uint8_t *map, size_t block, unsigned per_block, unsigned size,
    unsigned i)
{
	return (struct tpacket2_hdr *)(void *)(map + (size_t)(i / per_block) *
	    block + (size_t)(i % per_block) * size);
}

static struct tpacket2_hdr *
rx_slot(const struct packet_link *pl, unsigned i)
{
	return ring_slot(pl->rx_map, RX_RING_BLOCK, pl->rx_slots_per_block,
	    pl->rx_slot_size, i);
}

static struct tpacket2_hdr *
tx_slot(const struct packet_link *pl, unsigned i)
{
	return ring_slot(pl->tx_map, TX_RING_BLOCK, pl->tx_slots_per_block,
	    pl->tx_slot_size, i);
}

/* Still the kernel's: queued (by us), being sent, or refused. */
static bool
tx_slot_busy(const struct tpacket2_hdr *h)
{
	return (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) &
	    (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING |
	    TP_STATUS_WRONG_FORMAT)) != 0;
}

/* Index of the first queued slot (the kernel's next). */
static unsigned
tx_first(const struct packet_link *pl)
{
	return (pl->tx_head + pl->tx_slots - pl->tx_queued) % pl->tx_slots;
}

/*
 * The kernel takes queued slots in order: count those it took (sent, or
 * skipped as given up) and leave the rest queued.
 */
static void
tx_ring_taken(struct packet_link *pl)
{
	struct link *l = &pl->l;

	while (pl->tx_queued > 0) {
		const struct tpacket2_hdr *h = tx_slot(pl, tx_first(pl));

		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) &
		    TP_STATUS_SEND_REQUEST)
			break;
		pl->tx_queued--;
		if (pl->tx_queued == 0)
			pl->tx_queued_max = 0;
		if (pl->tx_drop > 0) {
			pl->tx_drop--; /* counted in tx_errors already */
			continue;
		}
		if (h->tp_len == 0)
			continue; /* too large for the MTU (tx_ring_fit) */
		l->tx_frames++;
		l->tx_ring++;
	}
}

/*
 * The first queued frame was refused (a qdisc or nftables rule dropped it:
 * lost, as on the wire) and the kernel queued it again: give it up.  A
 * frame shorter than an Ethernet header is one the kernel skips, and with
 * PACKET_LOSS it frees the slot and goes on to the next.
 */
static void
tx_ring_give_up(struct packet_link *pl)
{
	struct tpacket2_hdr *h = tx_slot(pl, tx_first(pl));

	h->tp_len = 0;
	pl->tx_drop++;
	pl->l.tx_errors++;
}

/*
 * Queued frames larger than the interface's MTU now (it was lowered and
 * the notice is not read yet): the kernel would skip each with a kernel
 * log line ("packet size is too long"), slowly on a slow console, and
 * say nothing.  Before a kick with frames of more than 1500 bytes queued,
 * the MTU is read (one ioctl); frames that no longer fit are given up
 * (length 0: skipped silently, lost as on the wire) and the next
 * packet_flush returns -EMSGSIZE, as a refused sendmmsg does (also when
 * the kick came from tx_ring_put).
 */
static void
tx_ring_fit(struct packet_link *pl)
{
	unsigned i, k, dropped = 0;
	size_t max;
	int mtu;

	if (pl->tx_queued_max <= ETH_HLEN_ + ETH_MTU_STD)
		return;
	mtu = link_if_mtu(pl->tx_fd, pl->l.ifname);
	if (mtu <= 0)
		return;
	max = (size_t)mtu + ETH_HLEN_;
	if (pl->tx_queued_max <= max)
		return;
	for (i = tx_first(pl), k = 0; k < pl->tx_queued;
	    k++, i = (i + 1) % pl->tx_slots) {
		struct tpacket2_hdr *h = tx_slot(pl, i);

		if (h->tp_len > max) {
			h->tp_len = 0;
			dropped++;
		}
	}
	pl->tx_queued_max = max;
	pl->l.tx_errors += dropped;
	if (dropped > 0)
		pl->tx_too_large = true;
}

/*
 * Hand the queued slots to the kernel, which sends them in order.  A full
 * send buffer is waited for a little (what is left stays queued for the
 * next flush); a frame refused first in its call is given up alone, as
 * link_txq_flush drops one.  Returns 0 or the first -errno.
 */
static int
tx_ring_kick(struct packet_link *pl)
{
	struct link *l = &pl->l;
	struct sockaddr_ll sll;
	int first_err = 0, retries = 0;

	tx_ring_fit(pl);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_AOE_);
	sll.sll_ifindex = l->ifindex;
	while (pl->tx_queued > 0) {
		unsigned before = pl->tx_queued;
		ssize_t r;
		int err;

		r = sendto(pl->tx_fd, NULL, 0, MSG_DONTWAIT,
		    (struct sockaddr *)&sll, sizeof(sll));
		err = r < 0 ? errno : 0;
		tx_ring_taken(pl);
		if (pl->tx_queued == 0)
			break;
		/*
		 * Progress: the rest are tried again, as sendmmsg does after
		 * a refused frame that was not the first.
		 */
		if (pl->tx_queued < before) {
			pl->tx_congested = false;
			retries = 0;
			continue;
		}
		if (err == EINTR)
			continue;
		/* Stopped early with no error: the send buffer filled. */
		if (err == 0 || link_txq_full(err)) {
			if (link_txq_wait_room(pl->tx_fd, &pl->tx_congested,
			    &retries))
				continue;
			return first_err != 0 ? first_err : -EAGAIN;
		}
		if (first_err == 0)
			first_err = -err;
		/* No interface (gone or down): kept for when it is back. */
		if (err == ENXIO || err == ENETDOWN || err == ENODEV)
			return first_err;
		if (pl->tx_drop > 0)
			return first_err; /* not skipped: not expected */
		tx_ring_give_up(pl);
	}
	return first_err;
}

/*
 * Map len bytes of fd's rings, not inherited by a child (aoe-fuse's
 * unmounter, a --run command before its exec): a ring mapped in another
 * process could not be replaced (EBUSY) when the MTU is raised.  A child
 * that carries on in our place (aoe-nbd daemonising) asks for them
 * (packet_fork_inherit).
 */
static void *
ring_map(int fd, size_t len)
{
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (map != MAP_FAILED)
		(void)madvise(map, len, MADV_DONTFORK);
	return map;
}

static void
packet_fork_inherit(struct link *l, bool on)
{
	struct packet_link *pl = to_pl(l);
	int advice = on ? MADV_DOFORK : MADV_DONTFORK;

	if (pl->rx_map != NULL)
		(void)madvise(pl->rx_map, pl->rx_map_len, advice);
	if (pl->tx_map != NULL)
		(void)madvise(pl->tx_map, pl->tx_map_len, advice);
}

/*
 * Set a ring (opt: PACKET_RX_RING or PACKET_TX_RING) on fd: about nslots
 * slots of slot bytes, in blocks of block bytes, at most max bytes.
 * Returns the number of blocks, with *per_block, or -errno (-EMSGSIZE: a
 * slot larger than a block).
 */
static int
ring_request(int fd, int opt, unsigned slot, unsigned nslots,
    unsigned block, unsigned max, unsigned *per_block)
{
	struct tpacket_req req;
	unsigned blocks;

	if (slot > block)
		return -EMSGSIZE;
	*per_block = block / slot;
	blocks = (nslots + *per_block - 1) / *per_block;
	if (blocks > max / block)
		blocks = max / block;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = block;
	req.tp_block_nr = blocks;
	req.tp_frame_size = slot;
	req.tp_frame_nr = blocks * *per_block;
	if (setsockopt(fd, SOL_PACKET, opt, &req, sizeof(req)) < 0)
		return -errno;
	return (int)blocks;
}

/* Unmap the transmit ring and take it off its socket.  0 or -errno. */
static int
tx_ring_drop(struct packet_link *pl)
{
	struct tpacket_req req;

	if (pl->tx_map != NULL)
		munmap(pl->tx_map, pl->tx_map_len);
	pl->tx_map = NULL;
	pl->tx_queued = 0;
	pl->tx_queued_max = 0;
	pl->tx_drop = 0;
	memset(&req, 0, sizeof(req));
	return setsockopt(pl->tx_fd, SOL_PACKET, PACKET_TX_RING, &req,
	    sizeof(req)) < 0 ? -errno : 0;
}

/*
 * Map a transmit ring with slots for frames of mtu (at least 1500) on
 * pl->tx_fd.  Returns 0, or -errno with no ring.
 */
static int
tx_ring_setup(struct packet_link *pl, unsigned mtu)
{
	unsigned slot, per_block;
	int v = TPACKET_V2, one = 1, blocks;
	void *map;

	if (mtu < ETH_MTU_STD)
		mtu = ETH_MTU_STD;
	slot = TPACKET_ALIGN(TX_DATA_OFF + ETH_HLEN_ + mtu);
	/* The version cannot change while a ring is set (a resize). */
	(void)setsockopt(pl->tx_fd, SOL_PACKET, PACKET_VERSION, &v,
	    sizeof(v));
	/* A frame the kernel cannot send is skipped, not left in the way. */
	if (setsockopt(pl->tx_fd, SOL_PACKET, PACKET_LOSS, &one,
	    sizeof(one)) < 0)
		return -errno;
	blocks = ring_request(pl->tx_fd, PACKET_TX_RING, slot, TX_RING_SLOTS,
	    TX_RING_BLOCK, TX_RING_MAX_BYTES, &per_block);
	if (blocks < 0)
		return blocks;
	map = ring_map(pl->tx_fd, (size_t)blocks * TX_RING_BLOCK);
	if (map == MAP_FAILED) {
		int rc = -errno;

		(void)tx_ring_drop(pl);
		return rc;
	}
	pl->tx_map = map;
	pl->tx_map_len = (size_t)blocks * TX_RING_BLOCK;
	pl->tx_slot_size = slot;
	pl->tx_slots_per_block = per_block;
	pl->tx_slots = (unsigned)blocks * per_block;
	pl->tx_frame_max = slot - TX_DATA_OFF;
	pl->tx_head = 0;
	pl->tx_queued = 0;
	pl->tx_queued_max = 0;
	pl->tx_drop = 0;
	pl->tx_congested = false;
	return 0;
}

/* No transmit ring from now on: sendmmsg only. */
static void
tx_ring_close(struct packet_link *pl)
{
	if (pl->tx_map != NULL)
		munmap(pl->tx_map, pl->tx_map_len);
	pl->tx_map = NULL;
	if (pl->tx_fd >= 0)
		close(pl->tx_fd);
	pl->tx_fd = -1;
}

/*
 * Larger slots for a raised MTU, once the kernel is done with every slot
 * (a ring cannot change while frames are in it).  Returns 0 when the ring
 * has them, -EBUSY to try again later, other -errno when it stays as it
 * was (or, failing that too, is gone).
 */
static int
tx_ring_resize(struct packet_link *pl, unsigned mtu)
{
	unsigned old = (unsigned)pl->tx_frame_max - ETH_HLEN_;
	int rc;

	if (mtu == pl->tx_mtu_failed)
		return -EMSGSIZE;
	if (pl->tx_queued > 0)
		return -EBUSY;
	/* The latest slots first: those are the ones still being sent. */
	for (unsigned k = 1; k <= pl->tx_slots; k++)
		if (tx_slot_busy(tx_slot(pl, (pl->tx_head + pl->tx_slots - k) %
		    pl->tx_slots)))
			return -EBUSY;
	rc = tx_ring_drop(pl);
	if (rc == 0)
		rc = tx_ring_setup(pl, mtu);
	if (rc < 0) {
		pl->tx_mtu_failed = mtu;
		if (tx_ring_setup(pl, old) < 0)
			tx_ring_close(pl);
	}
	return rc;
}

/*
 * Copy the frame into the next slot if it fits and the slot is free (the
 * ring came round to frames not handed over yet: hand them over first).
 * Returns true when the frame is queued in the ring.
 */
static bool
tx_ring_put(struct packet_link *pl, const struct iovec *iov, unsigned iovcnt)
{
	struct tpacket2_hdr *h = tx_slot(pl, pl->tx_head);
	size_t len = link_iov_len(iov, iovcnt);
	uint8_t *p;

	if (len > pl->tx_frame_max) {
		/* The MTU was raised (the engine sends no larger frames). */
		if (tx_ring_resize(pl, pl->l.if_mtu) < 0 ||
		    len > pl->tx_frame_max)
			return false;
		h = tx_slot(pl, pl->tx_head);
	}
	if (tx_slot_busy(h)) {
		if (pl->tx_queued < pl->tx_slots)
			return false; /* the driver still has it */
		(void)tx_ring_kick(pl);
		if (tx_slot_busy(h))
			return false;
	}
	p = (uint8_t *)h + TX_DATA_OFF;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	h->tp_len = (uint32_t)len;
	if (len > pl->tx_queued_max)
		pl->tx_queued_max = len;
	__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST,
	    __ATOMIC_RELEASE);
	pl->tx_head = (pl->tx_head + 1) % pl->tx_slots;
	pl->tx_queued++;
	return true;
}

static int
packet_send(struct link *l, const struct iovec *iov, unsigned iovcnt)
{
	struct packet_link *pl = to_pl(l);

	if (pl->tx_map != NULL && tx_ring_put(pl, iov, iovcnt))
		return 0;
	return link_txq_send(l, &pl->txq, iov, iovcnt);
}

static int
packet_flush(struct link *l)
{
	struct packet_link *pl = to_pl(l);
	int rc = 0, rc2;

	if (pl->tx_queued > 0)
		rc = tx_ring_kick(pl);
	rc2 = link_txq_flush(l, &pl->txq);
	if (pl->tx_too_large) {
		pl->tx_too_large = false;
		return -EMSGSIZE;
	}
	return rc < 0 ? rc : rc2;
}

static void
rx_slot_give(struct packet_link *pl, unsigned i)
{
	__atomic_store_n(&rx_slot(pl, i)->tp_status, TP_STATUS_KERNEL,
	    __ATOMIC_RELEASE);
}

/* Give the slots the last recv returned back to the kernel, but held ones. */
static void
rx_ring_release(struct packet_link *pl)
{
	unsigned i = (pl->rx_head + pl->rx_slots - pl->rx_held) % pl->rx_slots;

	for (; pl->rx_held > 0; pl->rx_held--) {
		if (!pl->rx_holds[i].held)
			rx_slot_give(pl, i);
		i = (i + 1) % pl->rx_slots;
	}
}

/* Held slot i is free again: the kernel's, unless the batch gives it back. */
static void
rx_unhold(struct packet_link *pl, unsigned i)
{
	struct rx_hold *h = &pl->rx_holds[i];

	h->held = false;
	pl->rx_nholds--;
	/* Slots of the latest batch go back with it (rx_ring_release). */
	if (h->seq < pl->rx_seq - pl->rx_held)
		rx_slot_give(pl, i);
}

/* Slot i is held: its owner copies what it needs, then the kernel has it. */
static void
rx_evict(struct packet_link *pl, unsigned i)
{
	struct rx_hold *h = &pl->rx_holds[i];

	pl->l.rx_evicted++;
	h->evict(h->owner, h->idx);
	rx_unhold(pl, i);
}

/* Evict every hold taken half a ring ago or more. */
static void
rx_evict_old(struct packet_link *pl)
{
	uint64_t half = pl->rx_slots / 2;

	if (pl->rx_nholds == 0) {
		pl->rx_evict_seq = pl->rx_seq;
		return;
	}
	for (; pl->rx_evict_seq + half <= pl->rx_seq; pl->rx_evict_seq++) {
		unsigned i = (unsigned)(pl->rx_evict_seq % pl->rx_slots);

		if (pl->rx_holds[i].held &&
		    pl->rx_holds[i].seq == pl->rx_evict_seq)
			rx_evict(pl, i);
	}
}

/* Every hold, before the ring goes. */
static void
rx_evict_all(struct packet_link *pl)
{
	for (unsigned i = 0; pl->rx_nholds > 0 && i < pl->rx_slots; i++)
		if (pl->rx_holds[i].held)
			rx_evict(pl, i);
}

/* Every hold evicted first, the ring unmapped (still on the socket). */
static void
rx_ring_unmap(struct packet_link *pl)
{
	if (pl->rx_map != NULL) {
		rx_evict_all(pl);
		munmap(pl->rx_map, pl->rx_map_len);
	}
	pl->rx_map = NULL;
	pl->rx_held = 0;
	free(pl->rx_holds);
	pl->rx_holds = NULL;
}

static int
packet_hold(struct link *l, const uint8_t *p, link_evict_fn evict,
    void *owner, unsigned idx)
{
	struct packet_link *pl = to_pl(l);
	unsigned first, i, k;
	size_t off;

	if (pl->rx_map == NULL || p < pl->rx_map)
		return -1;
	off = (size_t)(p - pl->rx_map);
	if (off >= pl->rx_map_len)
		return -1;
	k = (unsigned)(off % RX_RING_BLOCK / pl->rx_slot_size);
	if (k >= pl->rx_slots_per_block)
		return -1;
	i = (unsigned)(off / RX_RING_BLOCK) * pl->rx_slots_per_block + k;
	/* Only a slot of the latest batch, once. */
	first = (pl->rx_head + pl->rx_slots - pl->rx_held) % pl->rx_slots;
	k = (i + pl->rx_slots - first) % pl->rx_slots;
	if (i >= pl->rx_slots || k >= pl->rx_held || pl->rx_holds[i].held)
		return -1;
	pl->rx_holds[i] = (struct rx_hold){
		.evict = evict,
		.owner = owner,
		.idx = idx,
		.held = true,
		.seq = pl->rx_seq - pl->rx_held + k,
	};
	pl->rx_nholds++;
	return (int)i;
}

static void
packet_release(struct link *l, int handle)
{
	struct packet_link *pl = to_pl(l);

	if (pl->rx_map == NULL || (unsigned)handle >= pl->rx_slots ||
	    !pl->rx_holds[handle].held)
		return;
	rx_unhold(pl, (unsigned)handle);
}

/*
 * Frames straight from the ring: the kernel wrote them in order; each slot
 * stays ours (its bytes valid) until the next call releases it.  What the
 * kernel wrote is checked like any received frame.
 */
static int
ring_recv(struct packet_link *pl, const uint8_t **frames, size_t *lens,
    unsigned max)
{
	struct link *l = &pl->l;
	unsigned got = 0;

	rx_ring_release(pl);
	rx_evict_old(pl);
	while (got < max) {
		struct tpacket2_hdr *h = rx_slot(pl, pl->rx_head);
		const struct sockaddr_ll *sll;
		const uint8_t *p;
		uint32_t st;

		/* Not reached (evicted half a ring ago), but never a frame. */
		if (pl->rx_holds[pl->rx_head].held)
			rx_evict(pl, pl->rx_head);
		st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		if ((st & TP_STATUS_USER) == 0)
			break;
		pl->rx_head = (pl->rx_head + 1) % pl->rx_slots;
		pl->rx_held++;
		pl->rx_seq++;
		sll = (const struct sockaddr_ll *)(const void *)
		    ((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
		if ((size_t)h->tp_mac + h->tp_snaplen > pl->rx_slot_size ||
		    h->tp_snaplen < h->tp_len) {
			l->rx_errors++; /* larger than the slot: truncated */
			continue;
		}
		if (sll->sll_pkttype == PACKET_OUTGOING ||
		    sll->sll_pkttype == PACKET_OTHERHOST)
			continue;
		p = (const uint8_t *)h + h->tp_mac;
		if (h->tp_snaplen < ETH_HLEN_ ||
		    (p[12] << 8 | p[13]) != ETH_P_AOE_) {
			l->rx_errors++;
			continue;
		}
		frames[got] = p;
		lens[got] = h->tp_snaplen;
		got++;
	}
	if (got > 0) {
		pl->rx_idle = false;
		return (int)got;
	}
	/* Nothing for the caller: skipped slots go back now (poll). */
	rx_ring_release(pl);
	/*
	 * poll() calls the ring readable while the slot the kernel wrote last
	 * is not its own: held, that slot wakes the loop for nothing until the
	 * next frame comes (a core's worth while a target is silent and a read
	 * waits for its last frames).  Nothing twice in a row: the wake-up was
	 * for that slot, so it is copied out and given back.
	 */
	if (pl->rx_idle) {
		unsigned last = (pl->rx_head + pl->rx_slots - 1) % pl->rx_slots;

		if (pl->rx_holds[last].held)
			rx_evict(pl, last);
	}
	pl->rx_idle = true;
	return 0;
}

static int
packet_recv(struct link *l, const uint8_t **frames, size_t *lens,
    unsigned max)
{
	struct packet_link *pl = to_pl(l);
	unsigned want = max < RX_BATCH ? max : RX_BATCH;
	unsigned i;
	int got = 0, r;

	if (pl->rx_map != NULL)
		return ring_recv(pl, frames, lens, max);
	if (pl->rx_buf == NULL)
		return -ENOMEM; /* a resize found no memory for either */
	for (;;) {
		for (i = 0; i < want; i++) {
			struct msghdr *mh = &pl->rx_msgs[i].msg_hdr;

			memset(mh, 0, sizeof(*mh));
			mh->msg_name = &pl->rx_addr[i];
			mh->msg_namelen = sizeof(pl->rx_addr[i]);
			mh->msg_iov = &pl->rx_iov[i];
			mh->msg_iovlen = 1;
			pl->rx_msgs[i].msg_len = 0;
		}
		r = recvmmsg(l->fd, pl->rx_msgs, want, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		if (r == 0)
			return 0;
		for (i = 0; i < (unsigned)r; i++) {
			const struct msghdr *mh = &pl->rx_msgs[i].msg_hdr;
			const struct sockaddr_ll *sll = &pl->rx_addr[i];
			const uint8_t *p = pl->rx_iov[i].iov_base;
			size_t len = pl->rx_msgs[i].msg_len;

			if (mh->msg_flags & MSG_TRUNC) {
				l->rx_errors++;
				continue;
			}
			/*
			 * Sent from this host (if PACKET_IGNORE_OUTGOING is
			 * missing), or unicast to another host seen in
			 * promiscuous mode.
			 */
			if (mh->msg_namelen >
			    offsetof(struct sockaddr_ll, sll_pkttype) &&
			    (sll->sll_pkttype == PACKET_OUTGOING ||
			    sll->sll_pkttype == PACKET_OTHERHOST))
				continue;
			if (len < ETH_HLEN_ ||
			    (p[12] << 8 | p[13]) != ETH_P_AOE_) {
				l->rx_errors++;
				continue;
			}
			frames[got] = p;
			lens[got] = len;
			got++;
		}
		/*
		 * Return 0 only when nothing is waiting: if every frame of a
		 * batch was skipped, look again (the queue drains, so this
		 * ends).
		 */
		if (got > 0 || (unsigned)r < want)
			return got;
	}
}

static void
packet_close(struct link *l)
{
	struct packet_link *pl = to_pl(l);

	/* Queued frames point at caller memory that may be gone: drop. */
	link_txq_drop(l, &pl->txq);
	l->tx_errors += pl->tx_queued - pl->tx_drop;
	tx_ring_close(pl);
	rx_ring_unmap(pl);
	if (l->fd >= 0)
		close(l->fd);
	free(pl->rx_buf);
	free(pl);
}

/* Bind the socket to l->ifindex, AoE frames only. */
static int
packet_bind(struct link *l)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_AOE_);
	sll.sll_ifindex = l->ifindex;
	return bind(l->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ?
	    -errno : 0;
}

/*
 * The same socket, bound again (a bind needs no CAP_NET_RAW, so this works
 * after the programs dropped it).  The ring keeps its slot size: a larger
 * MTU than it holds (mtu_max) is used only up to that until rx_resize.
 */
static int
packet_reattach(struct link *l, char *errbuf, size_t errlen)
{
	struct link q = *l;
	int rc;

	rc = link_query_iface(&q, l->ifname, errbuf, errlen);
	if (rc < 0)
		return rc;
	l->ifindex = q.ifindex;
	rc = packet_bind(l);
	if (rc < 0) {
		link_set_err(errbuf, errlen, "%s: bind: %s", l->ifname,
		    strerror(-rc));
		return rc == -ENXIO ? -ENODEV : rc;
	}
	memcpy(l->mac, q.mac, sizeof(l->mac));
	l->if_mtu = q.if_mtu;
	l->mtu = link_mtu_usable(l, q.if_mtu);
	/* What the old binding left pending is of no use now. */
	(void)link_take_error(l);
	return 0;
}

static void
set_bufsize(int fd, int force_opt, int opt)
{
	int v = SOCKBUF_BYTES;

	/* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) == 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

/*
 * Unmap the receive ring, if any, and take it off the socket (recvmmsg
 * then, or a new ring).  0 or -errno.
 */
static int
rx_ring_drop(struct packet_link *pl)
{
	struct tpacket_req req;

	rx_ring_unmap(pl);
	memset(&req, 0, sizeof(req));
	return setsockopt(pl->l.fd, SOL_PACKET, PACKET_RX_RING, &req,
	    sizeof(req)) < 0 ? -errno : 0;
}

/*
 * Map a receive ring with slots for frames of mtu (at least 1500).  Returns
 * 0, or -errno with no ring (recvmmsg then).
 */
static int
rx_ring_setup(struct packet_link *pl, unsigned mtu)
{
	unsigned slot, per_block;
	int v = TPACKET_V2, rc, blocks;
	struct rx_hold *holds;
	void *map;

	if (mtu < ETH_MTU_STD)
		mtu = ETH_MTU_STD;
	slot = TPACKET_ALIGN(RX_SLOT_HEAD + mtu + ETH_HLEN_ + 4);
	if (setsockopt(pl->l.fd, SOL_PACKET, PACKET_VERSION, &v,
	    sizeof(v)) < 0)
		return -errno;
	/* -EMSGSIZE: an MTU near 64 KiB, recvmmsg. */
	blocks = ring_request(pl->l.fd, PACKET_RX_RING, slot, RX_RING_SLOTS,
	    RX_RING_BLOCK, RX_RING_MAX_BYTES, &per_block);
	if (blocks < 0)
		return blocks;
	holds = calloc((size_t)blocks * per_block, sizeof(*holds));
	map = ring_map(pl->l.fd, (size_t)blocks * RX_RING_BLOCK);
	if (map == MAP_FAILED || holds == NULL) {
		rc = map == MAP_FAILED ? -errno : -ENOMEM;
		if (map != MAP_FAILED)
			munmap(map, (size_t)blocks * RX_RING_BLOCK);
		free(holds);
		(void)rx_ring_drop(pl);
		return rc;
	}
	pl->rx_map = map;
	pl->rx_holds = holds;
	pl->rx_nholds = 0;
	pl->rx_seq = 0;
	pl->rx_evict_seq = 0;
	pl->rx_map_len = (size_t)blocks * RX_RING_BLOCK;
	pl->rx_slot_size = slot;
	pl->rx_slots_per_block = per_block;
	pl->rx_slots = (unsigned)blocks * per_block;
	pl->rx_head = 0;
	pl->rx_held = 0;
	pl->l.mtu_max = slot - RX_SLOT_HEAD - ETH_HLEN_ - 4;
	return 0;
}

/*
 * The ring rx_ring_unmap left on the socket, mapped again with the same
 * slots; the kernel's next slot is still rx_head (the ring was drained).
 * 0 or -errno (no ring mapped: frames would go unseen).
 */
static int
rx_ring_remap(struct packet_link *pl)
{
	void *map;

	pl->rx_holds = calloc(pl->rx_slots, sizeof(*pl->rx_holds));
	if (pl->rx_holds == NULL)
		return -ENOMEM;
	map = ring_map(pl->l.fd, pl->rx_map_len);
	if (map == MAP_FAILED) {
		free(pl->rx_holds);
		pl->rx_holds = NULL;
		return -errno;
	}
	pl->rx_map = map;
	pl->rx_nholds = 0;
	pl->rx_held = 0;
	pl->rx_evict_seq = pl->rx_seq;
	return 0;
}

/* recvmmsg: buffers for a batch of the largest frames.  0 or -ENOMEM. */
static int
rx_bufs_alloc(struct packet_link *pl)
{
	pl->rx_buf = malloc((size_t)RX_BATCH * LINK_FRAME_MAX);
	if (pl->rx_buf == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < RX_BATCH; i++) {
		pl->rx_iov[i].iov_base = pl->rx_buf + (size_t)i * LINK_FRAME_MAX;
		pl->rx_iov[i].iov_len = LINK_FRAME_MAX;
	}
	pl->l.mtu_max = 0;
	return 0;
}

/*
 * A ring with larger slots for a raised MTU.  A socket has one receive
 * ring, which cannot change while it is mapped or while frames may arrive:
 * unbind (nothing is queued then), unmap, drop the ring, set up the new
 * one, bind again.  Frames that arrive meanwhile are lost, as on a wire
 * being reconfigured; the engine resends.  No privilege is needed.  When
 * the larger ring cannot be had, the old size again, or recvmmsg.
 */
static int
packet_rx_resize(struct link *l, unsigned mtu)
{
	struct packet_link *pl = to_pl(l);
	struct sockaddr_ll sll;
	unsigned old = l->mtu_max;
	uint8_t junk[64];
	int rc, brc;

	if (pl->rx_map == NULL || mtu <= old)
		return 0; /* recvmmsg takes any size */
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0; /* receive nothing */
	sll.sll_ifindex = l->ifindex;
	if (bind(l->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	rc = rx_ring_drop(pl);
	if (rc == 0) {
		rc = rx_ring_setup(pl, mtu);
		/* Too large for a ring slot: recvmmsg, as at open. */
		if (rc < 0 && rc != -EMSGSIZE)
			(void)rx_ring_setup(pl, old);
	} else {
		/*
		 * Still on the socket (mapped elsewhere; not expected, the
		 * mapping is not inherited): the frames go on arriving there,
		 * so map it again as it was.
		 */
		(void)rx_ring_remap(pl);
	}
	if (pl->rx_map == NULL && rx_bufs_alloc(pl) < 0)
		rc = -ENOMEM; /* packet_recv says so for every call */
	/* Nothing should be queued outside the ring; drop it if it is. */
	while (recv(l->fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	brc = packet_bind(l);
	if (brc < 0)
		return brc;
	return l->mtu_max == 0 || l->mtu_max >= mtu ? 0 : rc;
}

static const struct link_ops packet_ops = {
	.name = "packet",
	.send = packet_send,
	.flush = packet_flush,
	.recv = packet_recv,
	.reattach = packet_reattach,
	.rx_resize = packet_rx_resize,
	.hold = packet_hold,
	.release = packet_release,
	.fork_inherit = packet_fork_inherit,
	.close = packet_close,
};

/* AOE_PACKET_RING=0 turns the receive ring off (recvmmsg). */
static bool
ring_wanted(void)
{
	return !env_is_zero("AOE_PACKET_RING");
}

/*
 * Whether the interface's driver copies what a transmit ring hands it:
 * veth and tun/tap pass frames to a receiver on this host and copy a
 * ring's pages to do so (skb_copy_ubufs), so a ring costs two copies
 * there (ours into the slot, then the kernel's) where sendmmsg costs one.
 * Other drivers read the slot itself.  ETHTOOL_GDRVINFO needs no privilege.
 */
static bool
driver_copies(int fd, const char *ifname)
{
	struct ethtool_drvinfo info;
	struct ifreq ifr;

	if (link_ifreq(&ifr, ifname) < 0)
		return false;
	memset(&info, 0, sizeof(info));
	info.cmd = ETHTOOL_GDRVINFO;
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return false;
	info.driver[sizeof(info.driver) - 1] = '\0';
	return strcmp(info.driver, "veth") == 0 ||
	    strcmp(info.driver, "tun") == 0;
}

/*
 * The transmit ring's own socket (it needs CAP_NET_RAW, so only at open):
 * AOE_PACKET_TX_RING=0 never, =1 always, else unless the driver copies
 * the ring's frames anyway.  Without one, frames go out with sendmmsg.
 */
static void
tx_ring_open(struct packet_link *pl)
{
	const char *want = getenv("AOE_PACKET_TX_RING");
	bool force = want != NULL && strcmp(want, "1") == 0;

	if (env_is_zero("AOE_PACKET_TX_RING"))
		return;
	pl->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (pl->tx_fd < 0)
		return;
	if (!force && driver_copies(pl->tx_fd, pl->l.ifname)) {
		tx_ring_close(pl);
		return;
	}
#ifdef SO_SNDBUFFORCE
	set_bufsize(pl->tx_fd, SO_SNDBUFFORCE, SO_SNDBUF);
#else
	set_bufsize(pl->tx_fd, SO_SNDBUF, SO_SNDBUF);
#endif
	if (tx_ring_setup(pl, pl->l.mtu) < 0)
		tx_ring_close(pl);
}

/*
 * A raw socket for AoE frames, of protocol 0 until its bind: it receives
 * nothing, so no frame of another interface or ethertype is queued before
 * the bind filters.  Returns the fd or -errno (-EPERM: no CAP_NET_RAW).
 */
static int
packet_socket(void)
{
	int one = 1, fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	/* Never see our own frames (else recv filters PACKET_OUTGOING). */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
	    sizeof(one));
#if USE_QDISC_BYPASS && defined(PACKET_QDISC_BYPASS)
	(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
	    sizeof(one));
#endif
#ifdef SO_RCVBUFFORCE
	set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF);
#else
	set_bufsize(fd, SO_RCVBUF, SO_RCVBUF);
	set_bufsize(fd, SO_SNDBUF, SO_SNDBUF);
#endif
	return fd;
}

/*
 * A link on the interface q describes (link_query_iface) over fd (from
 * packet_socket).  On failure fd is left as it came (no ring, unbound) and
 * stays the caller's.
 */
static int
packet_open_fd(struct link **out, const struct link *q, int fd, char *errbuf,
    size_t errlen)
{
	const char *ifname = q->ifname;
	struct packet_link *pl;
	struct link *l;
	int rc;

	*out = NULL;
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL) {
		link_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	l = &pl->l;
	*l = *q;
	l->ops = &packet_ops;
	l->fd = fd;
	pl->tx_fd = -1;
	/* Before the bind: no frame can be queued outside the ring. */
	if (ring_wanted())
		(void)rx_ring_setup(pl, l->mtu);
	if (pl->rx_map == NULL && rx_bufs_alloc(pl) < 0) {
		link_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_free;
	}
	rc = packet_bind(l);
	if (rc < 0) {
		link_set_err(errbuf, errlen, "%s: bind: %s", ifname,
		    strerror(-rc));
		if (rc == -ENXIO || rc == -ENODEV)
			rc = -ENODEV;
		goto err_free;
	}
	*out = l;
	return 0;

err_free:
	if (pl->rx_map != NULL)
		(void)rx_ring_drop(pl);
	free(pl->rx_buf);
	free(pl);
	return rc;
}

int
link_packet_open(struct link **out, const char *ifname, char *errbuf,
    size_t errlen)
{
	struct link q;
	int fd, rc;

	*out = NULL;
	/* An unknown, down or non-Ethernet interface says so first. */
	memset(&q, 0, sizeof(q));
	rc = link_query_iface(&q, ifname, errbuf, errlen);
	if (rc < 0)
		return rc;
	fd = packet_socket();
	if (fd < 0) {
		link_set_err(errbuf, errlen, "%s: AF_PACKET socket: %s%s",
		    ifname, strerror(-fd), fd == -EPERM ?
		    " (CAP_NET_RAW is needed)" : "");
		return fd;
	}
	rc = packet_open_fd(out, &q, fd, errbuf, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	/* Not for an adopted socket: a second needs the privilege. */
	tx_ring_open(to_pl(*out));
	return 0;
}

int
link_packet_spare(void)
{
	return packet_socket();
}

int
link_packet_adopt(struct link **out, const char *ifname, int fd,
    char *errbuf, size_t errlen)
{
	struct link q;
	int rc;

	*out = NULL;
	memset(&q, 0, sizeof(q));
	rc = link_query_iface(&q, ifname, errbuf, errlen);
	if (rc < 0)
		return rc;
	return packet_open_fd(out, &q, fd, errbuf, errlen);
}

#else /* no AF_PACKET */

int
link_packet_open(struct link **out, const char *ifname, char *errbuf,
    size_t errlen)
{
	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s: the packet backend needs Linux "
		    "AF_PACKET; use the pcap backend", ifname);
	return -EPROTONOSUPPORT;
}

int
link_packet_spare(void)
{
	return -EPROTONOSUPPORT;
}

int
link_packet_adopt(struct link **out, const char *ifname, int fd,
    char *errbuf, size_t errlen)
{
	(void)fd;
	return link_packet_open(out, ifname, errbuf, errlen);
}

#endif
