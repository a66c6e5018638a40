/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Link layer front: backend choice, the send/flush/recv wrappers that count
 * frames and mirror them to the trace, and interface queries (index, MAC,
 * MTU, state) shared by both backends.  The backends themselves live in
 * link_packet.c and link_pcap.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_arp.h>

#include "link.h"
#include "trace.h"

void
link_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

int
link_open(struct link **out, const char *ifname, enum link_backend backend,
    char *errbuf, size_t errlen)
{
	int rc;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (ifname == NULL || *ifname == '\0') {
		link_set_err(errbuf, errlen, "no interface name given");
		return -ENODEV;
	}
	switch (backend) {
	case LINK_BACKEND_DEFAULT:
#ifdef __linux__
		rc = link_packet_open(out, ifname, errbuf, errlen);
#else
		rc = link_pcap_open(out, ifname, errbuf, errlen);
#endif
		break;
	case LINK_BACKEND_PACKET:
		rc = link_packet_open(out, ifname, errbuf, errlen);
		break;
	case LINK_BACKEND_PCAP:
		rc = link_pcap_open(out, ifname, errbuf, errlen);
		break;
	default:
		link_set_err(errbuf, errlen, "unknown link backend %d",
		    (int)backend);
		return -EINVAL;
	}
	if (rc == 0) {
		(*out)->trace = NULL;
		(*out)->tx_frames = (*out)->rx_frames = 0;
		(*out)->tx_errors = (*out)->rx_errors = 0;
	}
	return rc;
}

/*
 * Counting: backends count tx_frames when the kernel accepts a frame,
 * tx_errors for frames they drop later (flush), and rx_errors for frames
 * they skip; the wrappers count rx_frames and the frames link_send refuses.
 */
int
link_send(struct link *l, const struct iovec *iov, unsigned iovcnt)
{
	size_t total = link_iov_len(iov, iovcnt);
	int rc;

	if (total < 14 || total > LINK_FRAME_MAX) {
		l->tx_errors++;
		return -EINVAL;
	}
	rc = l->ops->send(l, iov, iovcnt);
	if (rc < 0) {
		l->tx_errors++;
		return rc;
	}
	/* Traced when queued: the caller's buffers are valid now. */
	if (l->trace != NULL)
		trace_frame(l->trace, iov, iovcnt);
	return 0;
}

int
link_flush(struct link *l)
{
	return l->ops->flush(l);
}

int
link_recv(struct link *l, const uint8_t **frames, size_t *lens, unsigned max)
{
	int n, i;

	if (max == 0)
		return 0;
	n = l->ops->recv(l, frames, lens, max);
	if (n <= 0)
		return n;
	l->rx_frames += (uint64_t)n;
	if (l->trace != NULL) {
		for (i = 0; i < n; i++) {
			struct iovec v = {
				.iov_base = (void *)(uintptr_t)frames[i],
				.iov_len = lens[i],
			};

			trace_frame(l->trace, &v, 1);
		}
	}
	return n;
}

int
link_hold(struct link *l, const uint8_t *p, link_evict_fn evict, void *owner,
    unsigned idx)
{
	int h;

	if (l->ops->hold == NULL)
		return -1;
	h = l->ops->hold(l, p, evict, owner, idx);
	if (h >= 0)
		l->rx_holds++;
	return h;
}

void
link_release(struct link *l, int handle)
{
	if (l->ops->release != NULL && handle >= 0)
		l->ops->release(l, handle);
}

void
link_fork_inherit(struct link *l, bool on)
{
	if (l->ops->fork_inherit != NULL)
		l->ops->fork_inherit(l, on);
}

void
link_close(struct link *l)
{
	if (l == NULL)
		return;
	l->ops->close(l);
}

int
link_take_error(struct link *l)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

bool
link_present(const struct link *l)
{
	char name[IF_NAMESIZE];

	return l->ifindex > 0 && if_indextoname((unsigned)l->ifindex, name) !=
	    NULL && strcmp(name, l->ifname) == 0;
}

int
link_reattach(struct link *l, char *errbuf, size_t errlen)
{
	if (l->ops->reattach == NULL) {
		link_set_err(errbuf, errlen, "the %s backend cannot",
		    l->ops->name);
		return -EOPNOTSUPP;
	}
	return l->ops->reattach(l, errbuf, errlen);
}

/* A throwaway socket for interface ioctls; needs no privilege. */
static int
ioctl_socket(void)
{
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int
link_ifreq(struct ifreq *ifr, const char *ifname)
{
	size_t n = strlen(ifname);

	if (n == 0 || n >= sizeof(ifr->ifr_name))
		return -ENODEV;
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, ifname, n + 1);
	return 0;
}

unsigned
link_mtu_usable(const struct link *l, unsigned mtu)
{
	return l->mtu_max > 0 && mtu > l->mtu_max ? l->mtu_max : mtu;
}

int
link_if_mtu(int fd, const char *ifname)
{
	struct ifreq ifr;
	int rc = link_ifreq(&ifr, ifname);

	if (rc < 0)
		return rc;
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	return ifr.ifr_mtu > 0 ? ifr.ifr_mtu : -EPROTONOSUPPORT;
}

unsigned
link_refresh_mtu(struct link *l)
{
	int fd, mtu;

	fd = ioctl_socket();
	if (fd < 0)
		return l->mtu;
	mtu = link_if_mtu(fd, l->ifname);
	if (mtu > 0) {
		l->if_mtu = (unsigned)mtu;
		l->mtu = link_mtu_usable(l, l->if_mtu);
	}
	close(fd);
	return l->mtu;
}

int
link_refresh_mac(struct link *l)
{
	struct ifreq ifr;
	int fd, rc;

	if (link_ifreq(&ifr, l->ifname) < 0)
		return -ENODEV;
	fd = ioctl_socket();
	if (fd < 0)
		return fd;
	rc = ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER ||
	    memcmp(l->mac, ifr.ifr_hwaddr.sa_data, sizeof(l->mac)) == 0)
		return 0;
	memcpy(l->mac, ifr.ifr_hwaddr.sa_data, sizeof(l->mac));
	return 1;
}

int
link_rx_resize(struct link *l)
{
	int rc;

	if (l->ops->rx_resize == NULL)
		return -EOPNOTSUPP;
	rc = l->ops->rx_resize(l, l->if_mtu);
	if (rc == 0)
		l->mtu = link_mtu_usable(l, l->if_mtu);
	return rc;
}

int
link_backend_parse(const char *s, enum link_backend *out)
{
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "default") == 0)
		*out = LINK_BACKEND_DEFAULT;
	else if (strcmp(s, "packet") == 0)
		*out = LINK_BACKEND_PACKET;
	else if (strcmp(s, "pcap") == 0)
		*out = LINK_BACKEND_PCAP;
	else
		return -EINVAL;
	return 0;
}

const char *
link_backend_name(enum link_backend b)
{
	switch (b) {
	case LINK_BACKEND_DEFAULT:
		return "default";
	case LINK_BACKEND_PACKET:
		return "packet";
	case LINK_BACKEND_PCAP:
		return "pcap";
	}
	return "unknown";
}

/* The checks link_query_iface makes, on an open ioctl socket. */
static int
query_iface(int fd, struct link *l, const char *ifname, char *errbuf,
    size_t errlen)
{
	struct ifreq ifr;
	int rc;

	if (link_ifreq(&ifr, ifname) < 0) {
		if (*ifname == '\0')
			link_set_err(errbuf, errlen, "empty interface name");
		else
			link_set_err(errbuf, errlen,
			    "no such interface: %.*s... (name too long)",
			    IF_NAMESIZE, ifname);
		return -ENODEV;
	}
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		rc = -errno;
		if (rc == -ENODEV || rc == -ENXIO) {
			link_set_err(errbuf, errlen, "no such interface: %s",
			    ifname);
			return -ENODEV;
		}
		link_set_err(errbuf, errlen, "%s: SIOCGIFINDEX: %s", ifname,
		    strerror(-rc));
		return rc;
	}
	l->ifindex = ifr.ifr_ifindex;

	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		rc = -errno;
		link_set_err(errbuf, errlen, "%s: SIOCGIFHWADDR: %s", ifname,
		    strerror(-rc));
		return rc == -ENODEV ? -ENODEV : rc;
	}
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		link_set_err(errbuf, errlen,
		    "%s is not an Ethernet interface (ARP hardware type %u)",
		    ifname, (unsigned)ifr.ifr_hwaddr.sa_family);
		return -EPROTONOSUPPORT;
	}
	memcpy(l->mac, ifr.ifr_hwaddr.sa_data, sizeof(l->mac));

	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
		link_set_err(errbuf, errlen, "%s: SIOCGIFFLAGS: %s", ifname,
		    strerror(-rc));
		return rc;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		link_set_err(errbuf, errlen, "interface %s is down", ifname);
		return -ENETDOWN;
	}

	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		rc = -errno;
		link_set_err(errbuf, errlen, "%s: SIOCGIFMTU: %s", ifname,
		    strerror(-rc));
		return rc;
	}
	if (ifr.ifr_mtu <= 0) {
		link_set_err(errbuf, errlen, "%s: bad MTU %d", ifname, ifr.ifr_mtu);
		return -EPROTONOSUPPORT;
	}
	l->mtu = (unsigned)ifr.ifr_mtu;
	l->if_mtu = l->mtu;
	/* link_ifreq checked the length. */
	snprintf(l->ifname, sizeof(l->ifname), "%s", ifname);
	return 0;
}

int
link_query_iface(struct link *l, const char *ifname, char *errbuf,
    size_t errlen)
{
	int fd, rc;

	if (ifname == NULL) {
		link_set_err(errbuf, errlen, "no interface name given");
		return -ENODEV;
	}
	fd = ioctl_socket();
	if (fd < 0) {
		link_set_err(errbuf, errlen, "socket: %s", strerror(-fd));
		return fd;
	}
	rc = query_iface(fd, l, ifname, errbuf, errlen);
	close(fd);
	return rc;
}

int
link_list_default(char names[][IF_NAMESIZE], unsigned max)
{
	struct if_nameindex *ifs, *p;
	unsigned n = 0;
	int fd;

	fd = ioctl_socket();
	if (fd < 0)
		return fd;
	ifs = if_nameindex();
	if (ifs == NULL) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	for (p = ifs; p->if_index != 0 && p->if_name != NULL && n < max; p++) {
		struct ifreq ifr;

		if (link_ifreq(&ifr, p->if_name) < 0)
			continue;
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ||
		    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
			continue;
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
		    !(ifr.ifr_flags & IFF_UP) || (ifr.ifr_flags & IFF_LOOPBACK))
			continue;
		snprintf(names[n], IF_NAMESIZE, "%s", p->if_name);
		n++;
	}
	if_freenameindex(ifs);
	close(fd);
	return (int)n;
}
