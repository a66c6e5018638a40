/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for src/ifwatch: rtnetlink link messages built here byte by
 * byte (as the kernel lays them out), good and damaged, parsed into
 * events; what cannot be read must say so (bad), never be read past.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <criterion/criterion.h>

#include "ifwatch.h"

/* A datagram under construction. */
struct dgram {
	union {
		uint64_t align;
		uint8_t b[4096];
	} u;
	size_t len;   /* bytes so far */
	size_t msg;   /* offset of the message being built */
};

static void
msg_begin(struct dgram *d, uint16_t type, int ifindex, unsigned flags)
{
	struct nlmsghdr nh = { .nlmsg_type = type };
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = flags,
	};

	d->len = NLMSG_ALIGN(d->len);
	d->msg = d->len;
	memcpy(d->u.b + d->len, &nh, sizeof(nh));
	d->len += NLMSG_HDRLEN;
	memcpy(d->u.b + d->len, &ifi, sizeof(ifi));
	d->len += NLMSG_ALIGN(sizeof(ifi));
}

static void
attr(struct dgram *d, uint16_t type, const void *data, size_t n)
{
	struct rtattr rta = {
		.rta_len = (unsigned short)RTA_LENGTH(n),
		.rta_type = type,
	};

	memcpy(d->u.b + d->len, &rta, sizeof(rta));
	memcpy(d->u.b + d->len + RTA_LENGTH(0), data, n);
	d->len += RTA_SPACE(n);
}

static void
attr_u32(struct dgram *d, uint16_t type, uint32_t v)
{
	attr(d, type, &v, sizeof(v));
}

/* Ends the message: its length into its header (unpadded, as the kernel). */
static void
msg_end(struct dgram *d)
{
	uint32_t len = (uint32_t)(d->len - d->msg);

	memcpy(d->u.b + d->msg + offsetof(struct nlmsghdr, nlmsg_len), &len,
	    sizeof(len));
}

static void
link_msg(struct dgram *d, uint16_t type, int ifindex, unsigned flags,
    const char *name, uint32_t mtu)
{
	msg_begin(d, type, ifindex, flags);
	attr(d, IFLA_IFNAME, name, strlen(name) + 1);
	attr_u32(d, IFLA_MTU, mtu);
	msg_end(d);
}

static unsigned
parse(const struct dgram *d, size_t len, struct ifwatch_event *ev,
    unsigned max, bool *bad)
{
	*bad = false;
	memset(ev, 0x5a, max * sizeof(*ev));
	return ifwatch_parse(d->u.b, len, ev, max, bad);
}

Test(ifwatch, newlink)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[4];
	bool bad;

	link_msg(&d, RTM_NEWLINK, 7, IFF_UP | IFF_BROADCAST, "veth9", 1500);
	cr_assert_eq(parse(&d, d.len, ev, 4, &bad), 1);
	cr_expect(!bad);
	cr_expect_eq(ev[0].ifindex, 7);
	cr_expect(!ev[0].gone);
	cr_expect(ev[0].has_mtu);
	cr_expect_eq(ev[0].mtu, 1500u);
	cr_expect(ev[0].has_name);
	cr_expect_str_eq(ev[0].name, "veth9");
	cr_expect_eq(ev[0].flags, (unsigned)(IFF_UP | IFF_BROADCAST));
}

Test(ifwatch, dellink_and_others_in_one_datagram)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[4];
	bool bad;

	link_msg(&d, RTM_NEWLINK, 3, 0, "a", 9000);
	/* An address message: skipped. */
	msg_begin(&d, RTM_NEWADDR, 3, 0);
	attr_u32(&d, 1, 0x0a000001);
	msg_end(&d);
	link_msg(&d, RTM_DELLINK, 4, 0, "bb", 1500);
	/* No name, no MTU: still an event. */
	msg_begin(&d, RTM_NEWLINK, 5, IFF_UP);
	msg_end(&d);
	cr_assert_eq(parse(&d, d.len, ev, 4, &bad), 3);
	cr_expect(!bad);
	cr_expect_eq(ev[0].ifindex, 3);
	cr_expect_eq(ev[0].mtu, 9000u);
	cr_expect(ev[1].gone);
	cr_expect_eq(ev[1].ifindex, 4);
	cr_expect_str_eq(ev[1].name, "bb");
	cr_expect_eq(ev[2].ifindex, 5);
	cr_expect(!ev[2].has_mtu);
	cr_expect(!ev[2].has_name);
	cr_expect(!ev[2].gone);
}

Test(ifwatch, empty)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[1];
	bool bad;

	cr_expect_eq(parse(&d, 0, ev, 1, &bad), 0);
	cr_expect(!bad);
}

Test(ifwatch, message_cut_short)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[4];
	bool bad;
	size_t first;

	link_msg(&d, RTM_NEWLINK, 1, 0, "x", 1500);
	first = d.len;
	link_msg(&d, RTM_NEWLINK, 2, 0, "y", 1500);
	/* The second message's length runs past the datagram. */
	cr_expect_eq(parse(&d, d.len - 1, ev, 4, &bad), 1);
	cr_expect(bad);
	cr_expect_eq(ev[0].ifindex, 1);
	/* Only part of the second's header. */
	cr_expect_eq(parse(&d, NLMSG_ALIGN(first) + 6, ev, 4, &bad), 1);
	cr_expect(bad);
	/* Exactly the first. */
	cr_expect_eq(parse(&d, first, ev, 4, &bad), 1);
	cr_expect(!bad);
}

Test(ifwatch, bad_header_lengths)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[2];
	uint32_t len;
	bool bad;

	link_msg(&d, RTM_NEWLINK, 1, 0, "x", 1500);
	/* Shorter than its own header: never a loop. */
	len = 8;
	memcpy(d.u.b, &len, sizeof(len));
	cr_expect_eq(parse(&d, d.len, ev, 2, &bad), 0);
	cr_expect(bad);
	/* A header and no ifinfomsg. */
	len = NLMSG_HDRLEN + 4;
	memcpy(d.u.b, &len, sizeof(len));
	cr_expect_eq(parse(&d, d.len, ev, 2, &bad), 0);
	cr_expect(bad);
}

Test(ifwatch, attribute_overruns_message)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[2];
	struct rtattr rta;
	size_t at;
	bool bad;

	msg_begin(&d, RTM_NEWLINK, 1, 0);
	at = d.len;
	attr_u32(&d, IFLA_MTU, 1500);
	msg_end(&d);
	memcpy(&rta, d.u.b + at, sizeof(rta));
	rta.rta_len = 200;
	memcpy(d.u.b + at, &rta, sizeof(rta));
	cr_expect_eq(parse(&d, d.len, ev, 2, &bad), 0);
	cr_expect(bad);
	/* Shorter than an attribute header: never a loop either. */
	rta.rta_len = 2;
	memcpy(d.u.b + at, &rta, sizeof(rta));
	cr_expect_eq(parse(&d, d.len, ev, 2, &bad), 0);
	cr_expect(bad);
}

Test(ifwatch, odd_attributes)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[2];
	char longname[IF_NAMESIZE + 4];
	bool bad;

	/* An MTU too short to hold one, a name without its NUL that fills
	 * more than IF_NAMESIZE, an empty name: none of them taken. */
	memset(longname, 'n', sizeof(longname));
	msg_begin(&d, RTM_NEWLINK, 9, 0);
	attr(&d, IFLA_MTU, "\x01\x02", 2);
	attr(&d, IFLA_IFNAME, longname, sizeof(longname));
	msg_end(&d);
	msg_begin(&d, RTM_NEWLINK, 10, 0);
	attr(&d, IFLA_IFNAME, "", 1);
	msg_end(&d);
	cr_assert_eq(parse(&d, d.len, ev, 2, &bad), 2);
	cr_expect(!bad);
	cr_expect(!ev[0].has_mtu);
	cr_expect(!ev[0].has_name);
	cr_expect(!ev[1].has_name);
	/* A name of exactly IF_NAMESIZE - 1 characters, without its NUL. */
	d.len = 0;
	msg_begin(&d, RTM_NEWLINK, 11, 0);
	attr(&d, IFLA_IFNAME, "abcdefghijklmno", IF_NAMESIZE - 1);
	msg_end(&d);
	cr_assert_eq(parse(&d, d.len, ev, 2, &bad), 1);
	cr_expect(ev[0].has_name);
	cr_expect_str_eq(ev[0].name, "abcdefghijklmno");
}

Test(ifwatch, address)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[2];
	bool bad;

	/* ip link set address: IFLA_ADDRESS, 6 bytes for Ethernet. */
	msg_begin(&d, RTM_NEWLINK, 5, IFF_UP);
	attr(&d, IFLA_ADDRESS, "\x02\x00\x00\xae\x00\x03", 6);
	msg_end(&d);
	/* Another length (an InfiniBand address, a truncated one): not it. */
	msg_begin(&d, RTM_NEWLINK, 6, IFF_UP);
	attr(&d, IFLA_ADDRESS, "\x02\x00\x00\xae", 4);
	msg_end(&d);
	cr_assert_eq(parse(&d, d.len, ev, 2, &bad), 2);
	cr_expect(!bad);
	cr_expect(ev[0].has_mac);
	cr_expect_arr_eq(ev[0].mac, "\x02\x00\x00\xae\x00\x03", 6);
	cr_expect(!ev[1].has_mac);
}

Test(ifwatch, more_than_max)
{
	struct dgram d = { .len = 0 };
	struct ifwatch_event ev[2];
	bool bad;

	for (int i = 1; i <= 3; i++)
		link_msg(&d, RTM_NEWLINK, i, 0, "z", 1500);
	cr_expect_eq(parse(&d, d.len, ev, 2, &bad), 2);
	cr_expect(bad);
	cr_expect_eq(ev[1].ifindex, 2);
}
