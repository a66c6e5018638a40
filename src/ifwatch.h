/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface changes as they happen: a NETLINK_ROUTE socket subscribed to
 * the link group tells of every interface created, changed (MTU, MAC
 * address, up or down) or deleted, so a lowered MTU is used before frames
 * are refused for it (a transmit ring's are dropped with a kernel log line
 * each), a new MAC address at once, and a recreated interface is taken up
 * again at once.  Needs no privilege; the
 * periodic re-reads stay for where no such socket can be had.
 */
#ifndef AOE_IFWATCH_H
#define AOE_IFWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

struct ifwatch_event {
	int ifindex;
	bool gone;        /* RTM_DELLINK */
	bool has_mtu;     /* IFLA_MTU came with it */
	bool has_name;    /* IFLA_IFNAME came with it */
	bool has_mac;     /* IFLA_ADDRESS came with it, 6 bytes */
	unsigned mtu;
	unsigned flags;   /* IFF_* */
	uint8_t mac[6];
	char name[IF_NAMESIZE];
};

/* A non-blocking, close-on-exec socket for link changes: fd or -errno. */
int ifwatch_open(void);

/*
 * The link messages in one datagram read from that socket (len bytes at
 * buf), at most max of them into ev: how many.  *bad is set when the rest
 * could not be read (a message cut short or with a length past the end,
 * an attribute that overruns its message, more than max messages): the
 * caller should then look at every interface itself.  Other messages
 * (errors, addresses) are skipped.
 */
unsigned ifwatch_parse(const void *buf, size_t len, struct ifwatch_event *ev,
    unsigned max, bool *bad);

#endif
