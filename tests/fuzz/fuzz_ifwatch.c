/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for the rtnetlink link-message parser (src/ifwatch.h):
 * the input is one datagram as read from the socket.  The events must be
 * sane (names terminated, within IF_NAMESIZE), parsing must not depend on
 * how many events fit (a smaller max gives a prefix of the same events,
 * and says so), and the count of a datagram read whole must equal the
 * link messages found by walking it independently here.  Seeds: datagrams
 * captured from the kernel while a veth pair was created, its MTU
 * changed, set up and down, and deleted.
 */
#include <stdbool.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "fuzz.h"
#include "ifwatch.h"

#define MAX 64

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t
rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Link messages in a well-formed datagram, or -1 if it is not one. */
static int
count_links(const uint8_t *p, size_t len)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		uint32_t mlen;
		uint16_t type;

		if (len - off < 16)
			return -1;
		mlen = rd32(p + off);
		type = rd16(p + off + 4);
		if (mlen < 16 || mlen > len - off)
			return -1;
		if (type == RTM_NEWLINK || type == RTM_DELLINK) {
			size_t a = 16 + 16; /* nlmsghdr, ifinfomsg */

			if (mlen < a)
				return -1;
			while (a + 4 <= mlen) {
				uint16_t alen = rd16(p + off + a);

				if (alen < 4 || alen > mlen - a)
					return -1;
				a += (alen + 3u) & ~3u;
			}
			n++;
		}
		off += (mlen + 3u) & ~3u;
	}
	return n;
}

static void
check_event(const struct ifwatch_event *ev)
{
	size_t n = strnlen(ev->name, sizeof(ev->name));

	CHECK(n < sizeof(ev->name));
	CHECK(ev->has_name == (n > 0));
	CHECK(ev->has_mtu || ev->mtu == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ifwatch_event all[MAX], few[3];
	bool bad_all = false, bad_few = false;
	unsigned n_all, n_few;
	int want;

	n_all = ifwatch_parse(data, size, all, MAX, &bad_all);
	CHECK(n_all <= MAX);
	for (unsigned i = 0; i < n_all; i++)
		check_event(&all[i]);
	n_few = ifwatch_parse(data, size, few, 3, &bad_few);
	CHECK(n_few <= 3);
	CHECK(n_few == (n_all < 3 ? n_all : 3));
	CHECK(memcmp(few, all, n_few * sizeof(few[0])) == 0);
	if (n_all > 3)
		CHECK(bad_few);
	if (!bad_few)
		CHECK(!bad_all);
	want = count_links(data, size);
	if (!bad_all)
		CHECK(want >= 0 && (unsigned)want == n_all);
	else if (n_all < MAX)
		CHECK(want < 0);
	return 0;
}
