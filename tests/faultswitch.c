/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultswitch: a "faulty switch" for the fault-tolerance tests.  Bridges two
 * interfaces (veth ends in a network namespace the test creates) with
 * AF_PACKET, AoE frames (ethertype 0x88A2) only, and delays, reorders, drops
 * and duplicates them per direction by a seeded random schedule.  Runs for a
 * bounded time and prints its counters at exit.  Not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20 */
#endif

#define ETH_P_AOE_ 0x88A2
#define FRAME_MAX 65536
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL
#define SOCKBUF (8 << 20)

enum { A2B, B2A, NDIR };

static const char *const dir_name[NDIR] = { "a>b", "b>a" };

/* The fault schedule of one direction. */
struct fault {
	uint64_t delay_ns, jitter_ns, reorder_ns, dup_delay_ns;
	double loss, dup, reorder; /* probabilities, 0..1 */
};

struct dir_stats {
	uint64_t rx, tx, lost, duplicated, held, overtaken, send_err;
	uint64_t overflow, truncated, left_at_exit;
	uint64_t max_seq_sent; /* highest arrival number sent so far */
	uint64_t bytes;
};

/* A frame waiting for its send time. */
struct pend {
	uint64_t due, seq;   /* seq: arrival number, orders equal times */
	uint64_t arrival;    /* arrival number of the original frame */
	int dir;
	size_t len;
	uint8_t *data;
};

struct sw {
	int fd[NDIR];          /* fd[A2B] receives on A, sends on B... */
	char ifname[NDIR][IF_NAMESIZE];
	struct fault f[NDIR];
	struct dir_stats st[NDIR];
	uint64_t rng[NDIR];
	struct pend *heap;
	size_t nheap, cap, max_queue, peak;
	uint64_t seq;
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_dump;

/* ---------------------------------------------------------- PRNG */

/* splitmix64 (util.h): one stream per direction, from the seed. */

/* Uniform in [0, 1). */
static double
rng_unit(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) / 9007199254740992.0;
}

static uint64_t
rng_upto(uint64_t *s, uint64_t max)
{
	return max ? splitmix64(s) % (max + 1) : 0;
}

/* ---------------------------------------------------------- heap */

static bool
pend_before(const struct pend *a, const struct pend *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static int
heap_push(struct sw *s, const struct pend *p)
{
	size_t i;

	if (s->nheap == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 1024;
		struct pend *nh = realloc(s->heap, ncap * sizeof(*nh));

		if (nh == NULL)
			return -ENOMEM;
		s->heap = nh;
		s->cap = ncap;
	}
	i = s->nheap++;
	s->heap[i] = *p;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		struct pend t;

		if (!pend_before(&s->heap[i], &s->heap[up]))
			break;
		t = s->heap[up];
		s->heap[up] = s->heap[i];
		s->heap[i] = t;
		i = up;
	}
	if (s->nheap > s->peak)
		s->peak = s->nheap;
	return 0;
}

static void
heap_pop(struct sw *s)
{
	size_t i = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct pend t;

		if (l < s->nheap && pend_before(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->nheap && pend_before(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		t = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = t;
		i = m;
	}
}

/* ---------------------------------------------------------- I/O */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* An AF_PACKET socket for AoE frames on IF, promiscuous. */
static int
open_port(const char *ifname)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	unsigned idx;
	int fd, one = 1, sz = SOCKBUF;

	idx = if_nametoindex(ifname);
	if (idx == 0) {
		fprintf(stderr, "faultswitch: %s: %s\n", ifname,
		    strerror(errno));
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    htons(ETH_P_AOE_));
	if (fd < 0) {
		fprintf(stderr, "faultswitch: socket: %s\n", strerror(errno));
		return -1;
	}
	/* Our own sends must not come back to us as received frames. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
	    sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_AOE_);
	sll.sll_ifindex = (int)idx;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "faultswitch: bind %s: %s\n", ifname,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Frames for the far end's MAC are not addressed to this port. */
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)idx;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
	    sizeof(mr)) < 0) {
		fprintf(stderr, "faultswitch: promiscuous %s: %s\n", ifname,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Schedule a received frame (copy false) at now + delay + jitter (+ the
 * reorder hold), or its duplicate (copy true) at the original's time plus
 * 0..dup-delay.  Returns the time chosen.
 */
static uint64_t
schedule(struct sw *s, int d, const uint8_t *buf, size_t len, uint64_t now,
    uint64_t arrival, bool copy)
{
	struct fault *f = &s->f[d];
	struct pend p;

	memset(&p, 0, sizeof(p));
	p.dir = d;
	p.len = len;
	p.arrival = arrival;
	p.seq = s->seq++;
	if (copy) {
		p.due = now + rng_upto(&s->rng[d], f->dup_delay_ns);
	} else {
		p.due = now + f->delay_ns + rng_upto(&s->rng[d], f->jitter_ns);
		if (f->reorder > 0 && rng_unit(&s->rng[d]) < f->reorder) {
			/* Held back: frames behind it overtake it. */
			p.due += 1 + rng_upto(&s->rng[d], f->reorder_ns);
			s->st[d].held++;
		}
	}
	if (s->nheap >= s->max_queue) {
		s->st[d].overflow++;
		return p.due;
	}
	p.data = malloc(len);
	if (p.data == NULL || heap_push(s, &p) < 0) {
		free(p.data);
		s->st[d].overflow++;
		return p.due;
	}
	memcpy(p.data, buf, len);
	if (copy)
		s->st[d].duplicated++;
	return p.due;
}

/* Read what port d has and schedule it; returns -1 on a fatal error. */
static int
receive(struct sw *s, int d, uint8_t *buf)
{
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t n;
	uint64_t now, arrival, due;
	int i;

	for (i = 0; i < 256; i++) {
		fl = sizeof(from);
		n = recvfrom(s->fd[d], buf, FRAME_MAX, MSG_TRUNC,
		    (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			if (errno == ENETDOWN)
				continue; /* the link went down: not fatal */
			fprintf(stderr, "faultswitch: receive on %s: %s\n",
			    s->ifname[d], strerror(errno));
			return -1;
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue; /* kernels without PACKET_IGNORE_OUTGOING */
		if ((size_t)n > FRAME_MAX) {
			s->st[d].truncated++;
			continue;
		}
		now = now_ns();
		arrival = ++s->st[d].rx;
		s->st[d].bytes += (uint64_t)n;
		if (s->f[d].loss > 0 && rng_unit(&s->rng[d]) < s->f[d].loss) {
			s->st[d].lost++;
			continue;
		}
		due = schedule(s, d, buf, (size_t)n, now, arrival, false);
		if (s->f[d].dup > 0 && rng_unit(&s->rng[d]) < s->f[d].dup)
			(void)schedule(s, d, buf, (size_t)n, due, arrival,
			    true);
	}
	return 0;
}

/* Send every frame that is due. */
static void
send_due(struct sw *s, uint64_t now)
{
	while (s->nheap > 0 && s->heap[0].due <= now) {
		struct pend p = s->heap[0];
		struct dir_stats *st = &s->st[p.dir];
		ssize_t n;

		heap_pop(s);
		/* Received on one port, sent out of the other. */
		n = send(s->fd[1 - p.dir], p.data, p.len, MSG_DONTWAIT);
		if (n < 0) {
			st->send_err++;
		} else {
			st->tx++;
			if (p.arrival < st->max_seq_sent)
				st->overtaken++;
			else
				st->max_seq_sent = p.arrival;
		}
		free(p.data);
	}
}

/* ---------------------------------------------------------- report */

static void
report(const struct sw *s, FILE *f)
{
	for (int d = 0; d < NDIR; d++) {
		const struct dir_stats *st = &s->st[d];

		fprintf(f, "faultswitch: %s (%s -> %s): rx %" PRIu64 " tx %"
		    PRIu64 " lost %" PRIu64 " duplicated %" PRIu64 " held %"
		    PRIu64 " reordered %" PRIu64 " send_errors %" PRIu64
		    " overflow %" PRIu64 " truncated %" PRIu64 " left %"
		    PRIu64 "\n", dir_name[d], s->ifname[d], s->ifname[1 - d],
		    st->rx, st->tx, st->lost, st->duplicated, st->held,
		    st->overtaken, st->send_err, st->overflow, st->truncated,
		    st->left_at_exit);
	}
	fprintf(f, "faultswitch: queue peak %zu\n", s->peak);
	fflush(f);
}

/* ---------------------------------------------------------- options */

/* "X" or "X/Y": X for a>b, Y (default X) for b>a; non-negative reals. */
static int
parse_pair(const char *arg, double max, double out[NDIR])
{
	char *end;
	double v;

	for (int d = 0; d < NDIR; d++) {
		errno = 0;
		v = strtod(arg, &end);
		if (errno || end == arg || !(v >= 0) || v > max)
			return -1;
		out[d] = v;
		if (*end == '\0') {
			if (d == A2B)
				out[B2A] = v;
			return 0;
		}
		if (*end != '/' || d == B2A)
			return -1;
		arg = end + 1;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: faultswitch [OPTIONS] IF_A IF_B\n"
	    "Forward AoE frames between IF_A and IF_B, delaying, "
	    "reordering, dropping\nand duplicating them by a seeded random "
	    "schedule.  Each fault option takes\nX (both directions) or X/Y "
	    "(X for A to B, Y for B to A).\n"
	    "\n"
	    "  -s, --seed=N            PRNG seed (default 1)\n"
	    "  -t, --duration=SECS     exit after SECS (default 120)\n"
	    "  -d, --delay=MS          fixed delay (default 0)\n"
	    "  -j, --jitter=MS         plus a uniform random 0..MS\n"
	    "  -r, --reorder=PCT       percent of frames held back a "
	    "further\n"
	    "                          random 0..--reorder-delay ms\n"
	    "  -R, --reorder-delay=MS  (default 5)\n"
	    "  -l, --loss=PCT          percent of frames dropped\n"
	    "  -D, --dup=PCT           percent of frames sent twice\n"
	    "  -P, --dup-delay=MS      the copy follows the original after "
	    "a\n"
	    "                          random 0..MS (default 0)\n"
	    "  -q, --max-queue=N       frames held at once (default "
	    "100000)\n"
	    "  -h, --help\n"
	    "Prints \"faultswitch: ready\" once forwarding, its counters at "
	    "exit (after\n--duration, SIGTERM or SIGINT) and on SIGUSR1.\n");
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		g_dump = 1;
	else
		g_stop = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 't' },
		{ "delay", required_argument, NULL, 'd' },
		{ "jitter", required_argument, NULL, 'j' },
		{ "reorder", required_argument, NULL, 'r' },
		{ "reorder-delay", required_argument, NULL, 'R' },
		{ "loss", required_argument, NULL, 'l' },
		{ "dup", required_argument, NULL, 'D' },
		{ "dup-delay", required_argument, NULL, 'P' },
		{ "max-queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double delay[NDIR] = { 0, 0 }, jitter[NDIR] = { 0, 0 };
	double reorder[NDIR] = { 0, 0 }, rdelay[NDIR] = { 5, 5 };
	double loss[NDIR] = { 0, 0 }, dup[NDIR] = { 0, 0 };
	double ddelay[NDIR] = { 0, 0 };
	double duration = 120;
	unsigned long long seed = 1, maxq = 100000;
	struct sigaction sa;
	struct sw s;
	uint8_t *buf = NULL;
	uint64_t end, now;
	char *ep;
	int opt, status = 1;

	memset(&s, 0, sizeof(s));
	s.fd[A2B] = s.fd[B2A] = -1;
	while ((opt = getopt_long(argc, argv, "s:t:d:j:r:R:l:D:P:q:h", longopts,
	    NULL)) != -1) {
		int rc = 0;

		switch (opt) {
		case 's':
			errno = 0;
			seed = strtoull(optarg, &ep, 0);
			rc = errno || *ep || ep == optarg ? -1 : 0;
			break;
		case 't':
			errno = 0;
			duration = strtod(optarg, &ep);
			rc = errno || *ep || !(duration > 0) ? -1 : 0;
			break;
		case 'd':
			rc = parse_pair(optarg, 60000, delay);
			break;
		case 'j':
			rc = parse_pair(optarg, 60000, jitter);
			break;
		case 'r':
			rc = parse_pair(optarg, 100, reorder);
			break;
		case 'R':
			rc = parse_pair(optarg, 60000, rdelay);
			break;
		case 'l':
			rc = parse_pair(optarg, 100, loss);
			break;
		case 'D':
			rc = parse_pair(optarg, 100, dup);
			break;
		case 'P':
			rc = parse_pair(optarg, 60000, ddelay);
			break;
		case 'q':
			errno = 0;
			maxq = strtoull(optarg, &ep, 0);
			rc = errno || *ep || maxq == 0 || maxq > 10000000 ?
			    -1 : 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc < 0) {
			fprintf(stderr, "faultswitch: bad value '%s'\n",
			    optarg);
			return 2;
		}
	}
	if (optind != argc - 2) {
		usage(stderr);
		return 2;
	}
	for (int d = 0; d < NDIR; d++) {
		s.f[d].delay_ns = (uint64_t)(delay[d] * 1e6 + 0.5);
		s.f[d].jitter_ns = (uint64_t)(jitter[d] * 1e6 + 0.5);
		s.f[d].reorder_ns = (uint64_t)(rdelay[d] * 1e6 + 0.5);
		s.f[d].dup_delay_ns = (uint64_t)(ddelay[d] * 1e6 + 0.5);
		s.f[d].reorder = reorder[d] / 100;
		s.f[d].loss = loss[d] / 100;
		s.f[d].dup = dup[d] / 100;
		/* Independent streams: one direction's traffic does not
		 * shift the other's schedule. */
		s.rng[d] = seed * 2 + (uint64_t)d;
		snprintf(s.ifname[d], sizeof(s.ifname[d]), "%s",
		    argv[optind + d]);
	}
	s.max_queue = (size_t)maxq;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	buf = malloc(FRAME_MAX + 1);
	if (buf == NULL)
		goto out;
	for (int d = 0; d < NDIR; d++) {
		s.fd[d] = open_port(s.ifname[d]);
		if (s.fd[d] < 0)
			goto out;
	}
	printf("faultswitch: ready: %s <-> %s, seed %llu, %.1f s\n",
	    s.ifname[A2B], s.ifname[B2A], seed, duration);
	for (int d = 0; d < NDIR; d++)
		printf("faultswitch: %s: delay %.3f ms jitter %.3f ms reorder "
		    "%.2f%% (+0..%.3f ms) loss %.2f%% dup %.2f%% (+0..%.3f "
		    "ms)\n", dir_name[d], delay[d], jitter[d], reorder[d],
		    rdelay[d], loss[d], dup[d], ddelay[d]);
	fflush(stdout);

	end = now_ns() + (uint64_t)(duration * 1e9);
	status = 0;
	while (!g_stop) {
		struct pollfd pfd[NDIR];
		struct timespec ts;
		uint64_t wake;

		now = now_ns();
		if (now >= end)
			break;
		if (g_dump) {
			g_dump = 0;
			report(&s, stdout);
		}
		send_due(&s, now);
		wake = end;
		if (s.nheap > 0 && s.heap[0].due < wake)
			wake = s.heap[0].due;
		now = now_ns();
		wake = wake > now ? wake - now : 0;
		ts.tv_sec = (time_t)(wake / NSEC_PER_SEC);
		ts.tv_nsec = (long)(wake % NSEC_PER_SEC);
		for (int d = 0; d < NDIR; d++) {
			pfd[d].fd = s.fd[d];
			pfd[d].events = POLLIN;
			pfd[d].revents = 0;
		}
		if (ppoll(pfd, NDIR, &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "faultswitch: poll: %s\n",
			    strerror(errno));
			status = 1;
			break;
		}
		for (int d = 0; d < NDIR; d++) {
			if (!(pfd[d].revents & (POLLIN | POLLERR)))
				continue;
			if (receive(&s, d, buf) < 0) {
				status = 1;
				g_stop = 1;
			}
		}
	}
	while (s.nheap > 0) {
		s.st[s.heap[0].dir].left_at_exit++;
		free(s.heap[0].data);
		heap_pop(&s);
	}
	report(&s, stdout);
out:
	for (int d = 0; d < NDIR; d++)
		if (s.fd[d] >= 0)
			close(s.fd[d]);
	free(s.heap);
	free(buf);
	return status;
}
