/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoe-rtt: the bare AoE round trip on one interface, for the benchmark
 * (contrib/bench/aoe-bench.sh).  One AF_PACKET socket, one request at a
 * time, a blocking wait for its answer: Query Config, or an ATA read of N
 * sectors split into as many frames as the MTU needs (all sent, then all
 * awaited).  Prints min/p50/p99/mean/max in microseconds.  Not the engine:
 * the floor that any initiator's latency is compared with.  Not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"

#define ETHERTYPE_AOE 0x88a2
#define ETH_HDR 14
#define AOE_HDR 24              /* Ethernet + AoE common header */
#define ATA_HDR 36              /* + ATA argument */
#define CFG_HDR 32              /* + config argument */
#define MIN_FRAME 60
#define SECTOR 512
#define MAX_FRAMES 64
#define FLAG_RSP 0x08
#define FLAG_ERR 0x04

struct rtt {
	int fd;
	int ifindex;
	unsigned mtu;
	uint8_t mac[6];
	uint8_t peer[6];
	uint16_t shelf;
	uint8_t slot;
	uint32_t tag;
	unsigned scnt;          /* sectors per frame: target and MTU */
	uint64_t sectors;       /* capacity from IDENTIFY */
	unsigned timeout_ms;
	uint64_t lost;
};

/* The Ethernet and AoE common header of a request. */
static void
put_hdr(struct rtt *r, uint8_t *f, const uint8_t *dst, uint8_t cmd,
    uint32_t tag)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, r->mac, 6);
	put_be16(f + 12, ETHERTYPE_AOE);
	f[14] = 0x10;           /* version 1, no flags */
	f[15] = 0;
	put_be16(f + 16, r->shelf);
	f[18] = r->slot;
	f[19] = cmd;
	put_be32(f + 20, tag);
}

static int
rtt_open(struct rtt *r, const char *ifname)
{
	struct sockaddr_ll sll;
	struct ifreq ifr;

	r->fd = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_AOE));
	if (r->fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(r->fd, SIOCGIFINDEX, &ifr) < 0)
		return -errno;
	r->ifindex = ifr.ifr_ifindex;
	if (ioctl(r->fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	memcpy(r->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(r->fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	r->mtu = (unsigned)ifr.ifr_mtu;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_AOE);
	sll.sll_ifindex = r->ifindex;
	if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

static int
rtt_send(struct rtt *r, const uint8_t *f, size_t len)
{
	uint8_t pad[MIN_FRAME];
	ssize_t n;

	if (len < MIN_FRAME) {
		memset(pad, 0, sizeof(pad));
		memcpy(pad, f, len);
		f = pad;
		len = MIN_FRAME;
	}
	n = send(r->fd, f, len, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * Wait for a response with a tag in [tag0, tag0 + n) from our target;
 * returns its index, or -ETIMEDOUT.  *len is the frame length.
 */
static int
rtt_recv(struct rtt *r, uint8_t *buf, size_t cap, size_t *len,
    uint32_t tag0, unsigned n, uint64_t deadline)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	uint64_t t;
	ssize_t got;
	uint32_t tag;

	for (;;) {
		got = recv(r->fd, buf, cap, MSG_DONTWAIT);
		if (got < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			t = bench_now_ns();
			if (t >= deadline)
				return -ETIMEDOUT;
			if (poll(&pfd, 1, (int)((deadline - t) / 1000000 + 1))
			    < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if ((size_t)got < AOE_HDR ||
		    get_be16(buf + 12) != ETHERTYPE_AOE)
			continue;
		if (!(buf[14] & FLAG_RSP) || get_be16(buf + 16) != r->shelf ||
		    buf[18] != r->slot)
			continue;
		tag = get_be32(buf + 20);
		if (tag - tag0 >= n)
			continue;
		*len = (size_t)got;
		return (int)(tag - tag0);
	}
}

/* Broadcast Query Config; learn the target's MAC and sectors per frame. */
static int
rtt_discover(struct rtt *r)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[CFG_HDR], buf[16384];
	unsigned mtu_scnt;
	size_t len;
	int rc;

	memset(f, 0, sizeof(f));
	put_hdr(r, f, bcast, 1, ++r->tag);
	if ((rc = rtt_send(r, f, sizeof(f))) < 0)
		return rc;
	rc = rtt_recv(r, buf, sizeof(buf), &len, r->tag, 1,
	    bench_now_ns() + 2000000000u);
	if (rc < 0)
		return rc;
	if (len < CFG_HDR || (buf[14] & FLAG_ERR))
		return -EPROTO;
	memcpy(r->peer, buf + 6, 6);
	r->scnt = buf[28] ? buf[28] : 2;
	mtu_scnt = (r->mtu - (ATA_HDR - ETH_HDR)) / SECTOR;
	if (r->scnt > mtu_scnt)
		r->scnt = mtu_scnt;
	return 0;
}

/* ATA IDENTIFY DEVICE: the LBA48 capacity (words 100-103). */
static int
rtt_identify(struct rtt *r)
{
	uint8_t f[ATA_HDR], buf[16384];
	const uint8_t *w;
	size_t len;
	int rc, i;

	memset(f, 0, sizeof(f));
	put_hdr(r, f, r->peer, 0, ++r->tag);
	f[24] = 0;              /* aflags */
	f[26] = 1;              /* one sector */
	f[27] = 0xec;           /* IDENTIFY DEVICE */
	if ((rc = rtt_send(r, f, sizeof(f))) < 0)
		return rc;
	rc = rtt_recv(r, buf, sizeof(buf), &len, r->tag, 1,
	    bench_now_ns() + 2000000000u);
	if (rc < 0)
		return rc;
	if (len < ATA_HDR + SECTOR || (buf[14] & FLAG_ERR))
		return -EPROTO;
	w = buf + ATA_HDR + 200;
	r->sectors = 0;
	for (i = 7; i >= 0; i--)
		r->sectors = r->sectors << 8 | w[i];
	return r->sectors ? 0 : -EPROTO;
}

/*
 * One round trip: Query Config (nsect 0) or a read of nsect sectors at a
 * random aligned LBA, as ceil(nsect / scnt) frames.  Returns the time in
 * nanoseconds, or 0 when an answer did not come.
 */
static uint64_t
rtt_once(struct rtt *r, unsigned nsect, uint64_t *rng)
{
	uint8_t f[ATA_HDR], buf[16384];
	uint64_t t0, lba = 0, deadline;
	bool seen[MAX_FRAMES];
	unsigned nf, i, left, got = 0, per;
	uint32_t tag0;
	size_t len;
	int rc;

	nf = nsect ? (nsect + r->scnt - 1) / r->scnt : 1;
	if (nf > MAX_FRAMES)
		return 0;
	if (nsect && r->sectors > nsect)
		lba = splitmix64(rng) % (r->sectors / nsect) * nsect;
	tag0 = r->tag + 1;
	r->tag += nf;
	memset(seen, 0, sizeof(seen));
	t0 = bench_now_ns();
	for (i = 0, left = nsect; i < nf; i++) {
		memset(f, 0, sizeof(f));
		if (!nsect) {
			put_hdr(r, f, r->peer, 1, tag0);
			rc = rtt_send(r, f, CFG_HDR);
		} else {
			per = left < r->scnt ? left : r->scnt;
			put_hdr(r, f, r->peer, 0, tag0 + i);
			f[24] = 0x40;   /* LBA48 */
			f[26] = (uint8_t)per;
			f[27] = 0x24;   /* READ SECTORS EXT */
			for (int b = 0; b < 6; b++)
				f[28 + b] = (uint8_t)(lba >> (8 * b));
			rc = rtt_send(r, f, sizeof(f));
			lba += per;
			left -= per;
		}
		if (rc < 0)
			return 0;
	}
	deadline = t0 + (uint64_t)r->timeout_ms * 1000000u;
	while (got < nf) {
		rc = rtt_recv(r, buf, sizeof(buf), &len, tag0, nf, deadline);
		if (rc < 0) {
			r->lost++;
			return 0;
		}
		if (!seen[rc]) {
			seen[rc] = true;
			got++;
		}
	}
	return bench_now_ns() - t0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: aoe-rtt [-n COUNT] [-w WARMUP] [-r SECTORS] IF SHELF SLOT\n"
	    "Time COUNT bare round trips to eSHELF.SLOT on IF, one at a time:\n"
	    "Query Config, or with -r an ATA read of SECTORS sectors at a\n"
	    "random aligned LBA (as many frames as the MTU needs).\n");
}

int
main(int argc, char **argv)
{
	struct rtt r = { .fd = -1, .timeout_ms = 1000 };
	unsigned long count = 10000, warmup = 200, nsect = 0, i, n = 0;
	uint64_t *v, t, rng = 42;
	int c, rc;

	while ((c = getopt(argc, argv, "n:w:r:h")) != -1) {
		switch (c) {
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			warmup = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			nsect = strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 3 || count == 0 || nsect > 255) {
		usage(stderr);
		return 2;
	}
	r.shelf = (uint16_t)strtoul(argv[optind + 1], NULL, 0);
	r.slot = (uint8_t)strtoul(argv[optind + 2], NULL, 0);
	if ((rc = rtt_open(&r, argv[optind])) < 0) {
		fprintf(stderr, "aoe-rtt: %s: %s\n", argv[optind],
		    strerror(-rc));
		return rc == -EPERM ? 4 : 1;
	}
	if ((rc = rtt_discover(&r)) < 0 || (nsect && (rc = rtt_identify(&r))
	    < 0)) {
		fprintf(stderr, "aoe-rtt: e%u.%u: %s\n", r.shelf, r.slot,
		    strerror(-rc));
		return 3;
	}
	v = calloc(count, sizeof(*v));
	if (v == NULL)
		return 1;
	for (i = 0; i < warmup; i++)
		rtt_once(&r, (unsigned)nsect, &rng);
	r.lost = 0;
	for (i = 0; i < count; i++) {
		t = rtt_once(&r, (unsigned)nsect, &rng);
		if (t) {
			v[n++] = t;
		}
	}
	if (n == 0) {
		fprintf(stderr, "aoe-rtt: no answers\n");
		free(v);
		return 1;
	}
	printf("%s n %lu lost %" PRIu64 " frames %u ",
	    nsect ? "ata-read" : "query-config", n, r.lost,
	    nsect ? (unsigned)((nsect + r.scnt - 1) / r.scnt) : 1);
	bench_print_latency(v, n);
	free(v);
	close(r.fd);
	return 0;
}
