/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Interface changes from rtnetlink (see ifwatch.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ifwatch.h"

#ifdef __linux__
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

int
ifwatch_open(void)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK,
	};
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* The attributes of one link message (len bytes of payload at p). */
static int
parse_link(const uint8_t *p, size_t len, bool gone, struct ifwatch_event *ev)
{
	struct ifinfomsg ifi;
	size_t off;

	if (len < sizeof(ifi))
		return -EBADMSG;
	memcpy(&ifi, p, sizeof(ifi));
	memset(ev, 0, sizeof(*ev));
	ev->ifindex = ifi.ifi_index;
	ev->flags = ifi.ifi_flags;
	ev->gone = gone;
	off = NLMSG_ALIGN(sizeof(ifi));
	while (off + sizeof(struct rtattr) <= len) {
		struct rtattr rta;
		size_t alen;
		const uint8_t *d;

		memcpy(&rta, p + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > len - off)
			return -EBADMSG;
		d = p + off + RTA_LENGTH(0);
		alen = rta.rta_len - RTA_LENGTH(0);
		switch (rta.rta_type) {
		case IFLA_MTU:
			if (alen >= sizeof(uint32_t)) {
				uint32_t mtu;

				memcpy(&mtu, d, sizeof(mtu));
				ev->mtu = mtu;
				ev->has_mtu = true;
			}
			break;
		case IFLA_ADDRESS:
			if (alen == sizeof(ev->mac)) {
				memcpy(ev->mac, d, sizeof(ev->mac));
				ev->has_mac = true;
			}
			break;
		case IFLA_IFNAME: {
			size_t n = strnlen((const char *)d, alen);

			if (n > 0 && n < sizeof(ev->name)) {
				memcpy(ev->name, d, n);
				ev->name[n] = '\0';
				ev->has_name = true;
			}
			break;
		}
		default:
			break;
		}
		off += RTA_ALIGN(rta.rta_len);
	}
	return 0;
}

unsigned
ifwatch_parse(const void *buf, size_t len, struct ifwatch_event *ev,
    unsigned max, bool *bad)
{
	const uint8_t *p = buf;
	size_t off = 0;
	unsigned n = 0;

	while (len - off >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr nh;

		memcpy(&nh, p + off, sizeof(nh));
		if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > len - off) {
			*bad = true;
			return n;
		}
		if (nh.nlmsg_type == RTM_NEWLINK ||
		    nh.nlmsg_type == RTM_DELLINK) {
			if (n == max || parse_link(p + off + NLMSG_HDRLEN,
			    nh.nlmsg_len - NLMSG_HDRLEN,
			    nh.nlmsg_type == RTM_DELLINK, &ev[n]) < 0) {
				*bad = true;
				return n;
			}
			n++;
		}
		off += NLMSG_ALIGN(nh.nlmsg_len);
		if (off >= len)
			return n; /* the last one may come without padding */
	}
	if (off < len)
		*bad = true; /* the start of a header */
	return n;
}

#else /* !__linux__ */

int
ifwatch_open(void)
{
	return -EPROTONOSUPPORT;
}

unsigned
ifwatch_parse(const void *buf, size_t len, struct ifwatch_event *ev,
    unsigned max, bool *bad)
{
	(void)buf;
	(void)len;
	(void)ev;
	(void)max;
	(void)bad;
	return 0;
}

#endif
