/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Link layer: one raw Ethernet interface carrying AoE frames (ethertype
 * 0x88A2 only), behind one ops table with two backends: Linux AF_PACKET
 * (bound to the AoE ethertype, batched with sendmmsg/recvmmsg) and libpcap
 * (portable).  A link optionally mirrors every frame to a pcap trace.
 * Links know nothing of AoE beyond the ethertype.
 */
#ifndef AOE_LINK_H
#define AOE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <net/if.h>

struct trace;

enum link_backend {
	LINK_BACKEND_DEFAULT = 0, /* AF_PACKET on Linux */
	LINK_BACKEND_PACKET,
	LINK_BACKEND_PCAP,
};

/* Largest frame a link handles (veth allows MTU 65535) + Ethernet header. */
#define LINK_FRAME_MAX (65535 + 14)

struct link;

/*
 * A held frame's memory is wanted back (link_hold): copy what is needed
 * from it now; the hold is gone when this returns.
 */
typedef void (*link_evict_fn)(void *owner, unsigned idx);

struct link_ops {
	const char *name; /* "packet" or "pcap" */
	/*
	 * Queue one frame (the concatenation of iov[0..iovcnt)) for sending.
	 * The bytes are copied or sent before the call returns, except that a
	 * batching backend may hold the iovec pointers until link_flush():
	 * the caller keeps them valid until then.  Returns 0 or -errno.
	 */
	int (*send)(struct link *l, const struct iovec *iov, unsigned iovcnt);
	/* Push queued frames to the wire.  Returns 0 or the first -errno. */
	int (*flush)(struct link *l);
	/*
	 * Receive up to max frames without blocking.  For each, frames[i]
	 * points into link-owned memory valid until the next recv or close,
	 * lens[i] its length.  Returns the count (0 when none is waiting)
	 * or -errno.  Only AoE frames (ethertype 0x88A2) are returned, and
	 * never the frames this host sent itself.
	 */
	int (*recv)(struct link *l, const uint8_t **frames, size_t *lens,
	    unsigned max);
	/*
	 * The interface was removed and may be back (same name, new index):
	 * bind to it again and refresh ifindex, mac and mtu.  Needs no
	 * privilege.  Returns 0 or -errno (-ENODEV: not back yet).  NULL when
	 * the backend cannot (pcap).
	 */
	int (*reattach)(struct link *l, char *errbuf, size_t errlen);
	/*
	 * The interface's MTU was raised above mtu_max: make the receive path
	 * hold frames of mtu.  Frames waiting to be received are lost (the
	 * caller takes them first).  Needs no privilege.  Returns 0 (mtu_max
	 * updated) or -errno with mtu_max as it was.  NULL when the backend
	 * has no such limit to lift.
	 */
	int (*rx_resize)(struct link *l, unsigned mtu);
	/*
	 * Keep the frame at p (one the latest recv returned) valid past the
	 * next recv, until release(handle).  The link may want the memory
	 * back before that (its receive ring would otherwise fill, it is
	 * resized or closed): it then calls evict(owner, idx) from inside
	 * recv, rx_resize or close, and the handle is gone.  Returns the
	 * handle (>= 0) or -1 (the caller copies).  NULL: never held.
	 */
	int (*hold)(struct link *l, const uint8_t *p, link_evict_fn evict,
	    void *owner, unsigned idx);
	void (*release)(struct link *l, int handle);
	/*
	 * Whether a child forked from now on gets the link's ring mappings:
	 * by default not (a ring mapped in a child could not be replaced when
	 * the MTU grows); on for a fork whose child carries on (daemonising),
	 * off again in that child.  NULL: nothing mapped of its own.
	 */
	void (*fork_inherit)(struct link *l, bool on);
	/* Close and free (held frames are evicted first). */
	void (*close)(struct link *l);
};

struct link {
	const struct link_ops *ops;
	char ifname[IF_NAMESIZE];
	int ifindex;
	int fd;            /* pollable: readable when frames may be waiting */
	uint8_t mac[6];
	unsigned mtu;      /* MTU in use (payload bytes, e.g. 1500) */
	unsigned if_mtu;   /* the interface's, as last read (mtu <= if_mtu) */
	unsigned mtu_max;  /* the most the receive path holds; 0: no limit */
	struct trace *trace; /* NULL or the shared pcap trace */
	/* counters */
	uint64_t tx_frames, rx_frames, tx_errors, rx_errors;
	/* frames held (link_hold), and of those evicted before release */
	uint64_t rx_holds, rx_evicted;
	/* of tx_frames, those the kernel sent from a transmit ring */
	uint64_t tx_ring;
};

/*
 * Open IFNAME with BACKEND.  Returns 0 and *out, or:
 * -EPERM when CAP_NET_RAW is missing, -ENODEV when there is no such
 * interface, -ENETDOWN when it is down, -EPROTONOSUPPORT when it is not
 * Ethernet, other -errno from the system.  errbuf (may be NULL) receives a
 * one-line reason of at most errlen bytes.
 */
int link_open(struct link **out, const char *ifname, enum link_backend backend,
    char *errbuf, size_t errlen);

/*
 * Zero ifr and put IFNAME in it: -ENODEV when the name is empty or too
 * long for an interface's.
 */
int link_ifreq(struct ifreq *ifr, const char *ifname);

/* The length of the frame iov[0..iovcnt) makes. */
static inline size_t
link_iov_len(const struct iovec *iov, unsigned iovcnt)
{
	size_t len = 0;

	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

/* Wrappers that also write to l->trace and count. */
int link_send(struct link *l, const struct iovec *iov, unsigned iovcnt);
int link_flush(struct link *l);
int link_recv(struct link *l, const uint8_t **frames, size_t *lens,
    unsigned max);
/* See link_ops.hold: -1 when the backend cannot. */
int link_hold(struct link *l, const uint8_t *p, link_evict_fn evict,
    void *owner, unsigned idx);
void link_release(struct link *l, int handle);
void link_fork_inherit(struct link *l, bool on);
/* NULL-safe. */
void link_close(struct link *l);

/*
 * The error the socket reports (EPOLLERR), cleared by reading it: 0 or
 * -errno (-ENETDOWN when the interface went down or away).
 */
int link_take_error(struct link *l);
/* Whether the interface the link is bound to still exists. */
bool link_present(const struct link *l);
/* See link_ops.reattach; -EOPNOTSUPP when the backend cannot. */
int link_reattach(struct link *l, char *errbuf, size_t errlen);

/* mtu, at most what l's receive path holds (mtu_max). */
unsigned link_mtu_usable(const struct link *l, unsigned mtu);
/* The MTU of interface ifname (SIOCGIFMTU on any socket fd), or -errno. */
int link_if_mtu(int fd, const char *ifname);
/*
 * Re-read the interface MTU (it may change at run time) into if_mtu and
 * mtu, the latter at most mtu_max; returns mtu.
 */
unsigned link_refresh_mtu(struct link *l);
/*
 * Re-read the interface's MAC address (ip link set address) into mac:
 * 1 when it changed, 0 when not, -errno when it cannot be read.
 */
int link_refresh_mac(struct link *l);
/*
 * if_mtu is more than the receive path holds: see link_ops.rx_resize;
 * -EOPNOTSUPP when the backend cannot.
 */
int link_rx_resize(struct link *l);

/* "packet" / "pcap" / "default" to a backend; returns 0 or -EINVAL. */
int link_backend_parse(const char *s, enum link_backend *out);
const char *link_backend_name(enum link_backend b);

/*
 * The names of all up, non-loopback Ethernet interfaces (the default
 * interface set, as aoe.ko uses all interfaces when aoe_iflist is empty).
 * Fills names[0..max) and returns the count, or -errno.
 */
int link_list_default(char names[][IF_NAMESIZE], unsigned max);

/* Backends (link_packet.c, link_pcap.c). */
int link_packet_open(struct link **out, const char *ifname, char *errbuf,
    size_t errlen);
int link_pcap_open(struct link **out, const char *ifname, char *errbuf,
    size_t errlen);
/*
 * A packet socket bound to nothing (it receives nothing), kept by a
 * program that drops CAP_NET_RAW for an interface that appears later:
 * the fd, or -errno (-EPERM without CAP_NET_RAW).  link_packet_adopt()
 * makes it a link on ifname (no privilege needed); on failure the fd stays
 * the caller's, as it was.
 */
int link_packet_spare(void);
int link_packet_adopt(struct link **out, const char *ifname, int fd,
    char *errbuf, size_t errlen);

/* printf into errbuf (may be NULL) for link_open's one-line reasons. */
void link_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Fill the common fields of l (ifname, ifindex, mac, mtu) from the system
 * for ifname and check it is an up Ethernet interface; used by backends.
 * Same return values as link_open.
 */
int link_query_iface(struct link *l, const char *ifname, char *errbuf,
    size_t errlen);

#endif
