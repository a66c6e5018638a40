/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runtime glue shared by the programs: the common options, opening the links
 * with one clear message per failure, and the wiring of links, engine and
 * loop (frames in through engine_input, sends out through link_send, the
 * engine's timers as a loop hook).  No AoE knowledge lives here.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ifwatch.h"
#include "log.h"
#include "rt.h"
#include "trace.h"
#include "util.h"

#define RT_RECV_BATCH 32
/*
 * Interface MTUs are read again this often (at the first wake-up after:
 * no timer of its own), so a raised MTU is used; a lowered one is seen at
 * once, by the frames it refuses.
 */
#define RT_MTU_REFRESH_NS (5 * NSEC_PER_SEC) /* also: look for new interfaces */
/*
 * Without -I, interfaces that come up later are used too (as aoe.ko
 * does).  The programs drop CAP_NET_RAW after start, so sockets for them
 * are opened at start, bound to nothing until then.
 */
#define RT_SPARES 4
/* A removed interface is looked for again this often. */
#define RT_REATTACH_NS NSEC_PER_SEC
/* Upper bound for every duration option: one year. */
#define RT_MAX_MS (365ULL * 24 * 3600 * 1000)
/* --busy-poll: one second of polling at most. */
#define RT_MAX_BUSY_POLL_US 1000000
/*
 * --coalesce: while 8 frames or more are in flight (the targets have that
 * much work queued: nothing waits for us but the answers piling up), nap
 * before each wait, so that answers are taken in batches and the target's
 * sends do not wake us one by one: this long from 16 frames in flight,
 * in proportion from 8 (half) to 16 (loop_nap_scaled), up to 4 times
 * that while the naps show the targets still have plenty queued when they
 * end (loop_nap_adapt).  A request or two in flight (latency matters)
 * never naps.
 */
#define RT_COALESCE_DEFAULT_US 100
#define RT_MAX_COALESCE_US 1000
/* At exit, how long releases (--reserve) may take: the engine's 2 s. */
#define RT_RELEASE_NS (3 * NSEC_PER_SEC)

struct rt_port {
	struct rt *rt;
	struct link *link;
	int ifidx;             /* engine interface index, -1 until added */
	bool pending;          /* frames queued since the last flush */
	bool fd_added;
	bool rx_err_logged;
	bool down;             /* the interface went down: said once */
	bool gone;             /* ... or away: not polled, retried */
	bool mtu_check;        /* a frame was too large: MTU lowered? */
	bool mac_check;        /* rtnetlink told of another MAC address */
	int send_err;          /* a send failed for want of the interface */
	unsigned resize_failed; /* the MTU the receive path could not take */
	uint64_t retry_at;     /* when gone: the next reattach attempt */
};

struct rt {
	struct loop *loop;
	struct engine *e;
	struct trace *trace;
	const struct engine_ops *front;
	void *front_ctx;
	bool hook_added;
	uint64_t coalesce_ns;  /* --coalesce */
	unsigned nap_gain;     /* loop_nap_adapt, 1/16ths */
	unsigned nap_inflight; /* frames in flight when the last nap began */
	uint64_t nap_rx;       /* the engine's rx_frames then */
	rt_tap_fn tap;         /* sees received frames before the engine */
	void *tap_arg;
	uint64_t mtu_refresh_at;
	int tag_fd;            /* holds our tag instance's name, or -1 */
	unsigned tag_instance;
	int nl_fd;             /* ifwatch: link changes as they come, or -1 */
	bool nl_added;
	bool auto_ifs;         /* no -I: every up Ethernet interface */
	bool spares_out_said;
	int spare[RT_SPARES];  /* packet sockets for later interfaces */
	unsigned nspare;
	unsigned nlinks;
	struct rt_port ports[RT_MAX_IFS];
	/* engine ifidx -> index into ports[] */
	int port_of[ENGINE_MAX_IFS];
};

const struct option rt_long_options[RT_LONG_OPTIONS_COUNT + 1] = {
	{ "interface", required_argument, NULL, 'I' },
	{ "backend", required_argument, NULL, RT_OPT_BACKEND },
	{ "trace", required_argument, NULL, RT_OPT_TRACE },
	{ "wait", required_argument, NULL, 'w' },
	{ "dead-timeout", required_argument, NULL, RT_OPT_DEAD },
	{ "discover-interval", required_argument, NULL, RT_OPT_DISCOVER },
	{ "max-window", required_argument, NULL, RT_OPT_MAXWIN },
	{ "max-sectors", required_argument, NULL, RT_OPT_MAXSECT },
	{ "busy-poll", required_argument, NULL, RT_OPT_BUSYPOLL },
	{ "coalesce", required_argument, NULL, RT_OPT_COALESCE },
	{ "ro-retry", required_argument, NULL, RT_OPT_RORETRY },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

void
rt_usage_common(FILE *f, const char *wait_help)
{
	fputs(
"  -I, --interface=IF[,IF...]   interfaces to use (repeatable; comma or space\n"
"                               separated).  Default: every up non-loopback\n"
"                               Ethernet interface, and ones that come up\n"
"                               later (as aoe.ko).\n"
"      --backend=packet|pcap    link backend (default packet = Linux "
	    "AF_PACKET)\n"
"      --trace=FILE             write every AoE frame sent/received as pcap\n",
	    f);
	fputs(wait_help != NULL ? wait_help :
"  -w, --wait=SECS              how long to wait for targets to answer\n"
"                               discovery (default 1)\n",
	    f);
	fputs(
"      --dead-timeout=SECS      fail I/O after a target is silent this long\n"
"                               (default 180; 0 = never, else >= 1)\n"
"      --discover-interval=SECS re-broadcast Query Config (default 60;\n"
"                               0 = off, else >= 1)\n"
"      --max-window=N           cap frames in flight per target\n"
"      --max-sectors=N          cap sectors per frame\n"
"      --busy-poll=USEC         after activity, poll this long before\n"
"                               sleeping (lower latency, more CPU; "
	    "default 0)\n"
"      --coalesce=USEC          with many frames in flight, wait this long\n"
"                               (up to 4x while the targets have plenty\n"
"                               queued) before taking answers, in batches\n"
"                               (less CPU; default 100, 0 = off; off with "
	    "--busy-poll)\n"
"      --ro-retry=SECS          a target that refused a write before taking\n"
"                               any is read-only (vblade -r, or its backing\n"
"                               store is full or failing) this long, then\n"
"                               writes go to it again (default 10; 0 = until\n"
"                               it restarts, else >= 1)\n"
"  -v, --verbose                more log output and counters at exit\n",
	    f);
}

void
rt_options_init(struct rt_options *o)
{
	memset(o, 0, sizeof(*o));
	o->backend = LINK_BACKEND_DEFAULT;
	o->trace_path = NULL;
	o->wait_ns = NSEC_PER_SEC;
	o->coalesce_ns = RT_COALESCE_DEFAULT_US * 1000u;
	engine_config_default(&o->ecfg);
}

static const char *
opt_name(int opt)
{
	for (unsigned i = 0; i < RT_LONG_OPTIONS_COUNT; i++)
		if (rt_long_options[i].val == opt)
			return rt_long_options[i].name;
	if (opt == RT_OPT_WAIT)
		return "wait";
	return "?";
}

static int
bad_value(int opt, const char *arg, const char *why)
{
	fprintf(stderr, "%s: --%s: invalid value '%s'%s%s%s\n", log_progname(),
	    opt_name(opt), arg, why ? " (" : "", why ? why : "",
	    why ? ")" : "");
	return -1;
}

static int
add_interfaces(struct rt_options *o, const char *arg)
{
	const char *sep = ", \t\n";
	const char *p = arg;
	bool any = false;

	while (*p != '\0') {
		size_t n;
		unsigned i;

		p += strspn(p, sep);
		n = strcspn(p, sep);
		if (n == 0)
			break;
		any = true;
		if (n >= IF_NAMESIZE)
			return bad_value('I', arg, "interface name too long");
		for (i = 0; i < o->nifaces; i++)
			if (strlen(o->ifaces[i]) == n &&
			    memcmp(o->ifaces[i], p, n) == 0)
				break;
		if (i == o->nifaces) {
			if (o->nifaces == RT_MAX_IFS)
				return bad_value('I', arg,
				    "too many interfaces");
			memcpy(o->ifaces[o->nifaces], p, n);
			o->ifaces[o->nifaces][n] = '\0';
			o->nifaces++;
		}
		p += n;
	}
	if (!any)
		return bad_value('I', arg, "no interface name");
	return 1;
}

static int
parse_duration(int opt, const char *arg, uint64_t *out_ns)
{
	uint64_t ms;
	int rc = parse_seconds_ms(arg, RT_MAX_MS, &ms);

	if (rc == -ERANGE)
		return bad_value(opt, arg, "at most one year");
	if (rc < 0)
		return bad_value(opt, arg, "seconds, e.g. 2 or 0.5");
	*out_ns = ms * NSEC_PER_MSEC;
	return 1;
}

/* 0 (off) or a duration of a second or more. */
static int
parse_duration_off(int opt, const char *arg, uint64_t *out_ns)
{
	uint64_t ns = 0;

	if (parse_duration(opt, arg, &ns) < 0)
		return -1;
	if (ns != 0 && ns < NSEC_PER_SEC)
		return bad_value(opt, arg, "0 (off) or 1 second or more");
	*out_ns = ns;
	return 1;
}

/* An integer in [min, max] ("what, min to max" when it is not). */
static int
parse_range(int opt, const char *arg, const char *what, unsigned min,
    unsigned max, unsigned long long *out)
{
	char why[64];

	if (parse_uint(arg, min, max, out) < 0) {
		snprintf(why, sizeof(why), "%s%s%u to %u", what, *what ? ", " : "",
		    min, max);
		return bad_value(opt, arg, why);
	}
	return 1;
}

static int
parse_count(int opt, const char *arg, unsigned max, unsigned *out)
{
	unsigned long long v;

	if (parse_range(opt, arg, "", 1, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 1;
}

/* Microseconds in [0, max], stored as nanoseconds. */
static int
parse_us(int opt, const char *arg, unsigned max, uint64_t *ns)
{
	unsigned long long us;

	if (parse_range(opt, arg, "microseconds", 0, max, &us) < 0)
		return -1;
	*ns = us * 1000u;
	return 1;
}

int
rt_parse_option(struct rt_options *o, int opt, const char *arg)
{
	switch (opt) {
	case 'I':
		return add_interfaces(o, arg);
	case RT_OPT_BACKEND:
		if (link_backend_parse(arg, &o->backend) < 0)
			return bad_value(opt, arg, "packet or pcap");
		return 1;
	case RT_OPT_TRACE:
		if (arg[0] == '\0')
			return bad_value(opt, arg, "a file name");
		o->trace_path = arg;
		return 1;
	case 'w':
	case RT_OPT_WAIT:
		return parse_duration(opt, arg, &o->wait_ns);
	case RT_OPT_DEAD:
		return parse_duration_off(opt, arg, &o->ecfg.dead_ns);
	case RT_OPT_DISCOVER:
		/* Every target on the LAN answers each broadcast. */
		return parse_duration_off(opt, arg, &o->ecfg.discover_ns);
	case RT_OPT_MAXWIN:
		/* The buffer count on the wire is 16 bits (AoEr11 3.2). */
		return parse_count(opt, arg, 65535, &o->ecfg.max_window);
	case RT_OPT_MAXSECT:
		/* The ATA sector count field is 8 bits. */
		return parse_count(opt, arg, 255, &o->ecfg.max_sectors);
	case RT_OPT_BUSYPOLL:
		return parse_us(opt, arg, RT_MAX_BUSY_POLL_US,
		    &o->busy_poll_ns);
	case RT_OPT_COALESCE:
		return parse_us(opt, arg, RT_MAX_COALESCE_US, &o->coalesce_ns);
	case RT_OPT_RORETRY:
		return parse_duration_off(opt, arg, &o->ecfg.ro_retry_ns);
	case 'v':
		log_setverbose(log_getverbose() + 1);
		return 1;
	default:
		return 0;
	}
}

/*
 * Why a file capability on exe was not granted, or NULL: exe has none,
 * or nothing we can see stood in its way.  (One the bounding set lacks
 * never gets here: the kernel refuses to execute a cap_net_raw+ep file
 * it cannot grant.)
 */
static const char *
filecap_refused(const char *exe)
{
	struct statvfs sv;

	if (getxattr(exe, "security.capability", NULL, 0) <= 0)
		return NULL;
	if (statvfs(exe, &sv) == 0 && (sv.f_flag & ST_NOSUID))
		return "its file system is mounted nosuid, which ignores file "
		    "capabilities\n  (install it elsewhere)";
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		return "no_new_privs is set (NoNewPrivileges=, --security-opt "
		    "no-new-privileges),\n  which ignores file capabilities";
	return NULL;
}

void
rt_print_noperm(const char *progname, const char *ifname)
{
	char exe[PATH_MAX];
	const char *why;
	ssize_t n;

	if (progname == NULL)
		progname = log_progname();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	else
		snprintf(exe, sizeof(exe), "%s", progname);
	fprintf(stderr,
	    "%s: cannot open %s: permission denied (raw Ethernet access needs "
	    "CAP_NET_RAW)\n", progname, ifname ? ifname : "a raw socket");
	/* Root without it: "run it as root" would not help. */
	if (geteuid() == 0) {
		fprintf(stderr,
		    "%s: this process runs as root but without CAP_NET_RAW: "
		    "whatever started it\n"
		    "  took it away; give it back (a container: docker or "
		    "podman run --cap-add\n"
		    "  NET_RAW; a systemd unit: AmbientCapabilities= and "
		    "CapabilityBoundingSet=\n"
		    "  CAP_NET_RAW).\n", progname);
		return;
	}
	why = n > 0 ? filecap_refused(exe) : NULL;
	if (why != NULL) {
		fprintf(stderr,
		    "%s: %s has a file capability, but it was not granted:\n"
		    "  %s.\n", progname, exe, why);
		return;
	}
	fprintf(stderr,
	    "%s: three ways out:\n"
	    "  - run it as root;\n"
	    "  - give the binary the capability: setcap cap_net_raw+ep %s\n"
	    "  - run it inside a user + network namespace (e.g. `unshare -rn`)"
	    " with one end\n"
	    "    of a veth pair moved in (`ip link set VETH netns PID`).\n",
	    progname, exe);
}

/* ---------------------------------------------------------------- engine */

static struct rt_port *
port_of_ifidx(struct rt *rt, unsigned ifidx)
{
	if (ifidx >= ENGINE_MAX_IFS || rt->port_of[ifidx] < 0)
		return NULL;
	return &rt->ports[rt->port_of[ifidx]];
}

/*
 * What a failed send says about the interface, looked into at the tick:
 * too large (its MTU was lowered), or no device (removed while down: the
 * socket then reports no error of its own) or down: is it gone?
 */
static void
send_error(struct rt_port *p, int rc)
{
	if (rc == -EMSGSIZE)
		p->mtu_check = true;
	if (rc == -ENXIO || rc == -ENODEV || rc == -ENETDOWN)
		p->send_err = rc;
}

static int
rt_send(void *ctx, unsigned ifidx, const struct iovec *iov, unsigned iovcnt)
{
	struct rt_port *p = port_of_ifidx(ctx, ifidx);
	int rc;

	if (p == NULL)
		return -ENXIO;
	if (p->gone) {
		/* Lost, as on a cut cable; the engine retransmits. */
		p->link->tx_errors++;
		return -ENETDOWN;
	}
	p->pending = true;
	/* A backend that sends at once (pcap_inject) fails here, not at flush. */
	rc = link_send(p->link, iov, iovcnt);
	send_error(p, rc);
	return rc;
}

static void
rt_flush(void *ctx)
{
	struct rt *rt = ctx;

	for (unsigned i = 0; i < rt->nlinks; i++) {
		struct rt_port *p = &rt->ports[i];
		int rc;

		if (!p->pending)
			continue;
		p->pending = false;
		rc = link_flush(p->link);
		send_error(p, rc);
		/* The engine sees a lost frame and retransmits. */
		if (rc < 0)
			log_debug("%s: send: %s", p->link->ifname,
			    strerror(-rc));
	}
}

/* "IF to MAC": a target's path, in the log. */
#define RT_PATH_NAMELEN (IF_NAMESIZE + 4 + MAC_STRLEN)

static const char *
rt_path_name(const struct rt *rt, const struct target_path *p,
    char buf[RT_PATH_NAMELEN])
{
	char mac[MAC_STRLEN];

	snprintf(buf, RT_PATH_NAMELEN, "%s to %s",
	    engine_interface_name(rt->e, p->ifidx), mac_fmt(mac, p->mac));
	return buf;
}

/* How long learnt read-only lasts, for the log: "for 9.8 s, then ...". */
static const char *
rt_ro_until(char *buf, size_t len, const struct target_info *ti)
{
	uint64_t now = loop_now();

	if (ti->ro_until_ns == UINT64_MAX)
		snprintf(buf, len, "until it restarts (--ro-retry 0)");
	else
		snprintf(buf, len, "for %.1f s, then go to it again "
		    "(--ro-retry)", ti->ro_until_ns > now ?
		    (double)(ti->ro_until_ns - now) / NSEC_PER_SEC : 0.0);
	return buf;
}

/*
 * Read-only learnt from a refused write, expired, or given up: the first
 * refusal is said loudly, as it may be no read-only target at all but a
 * full or failing disk behind vblade; a refusal again after a retry
 * quietly (said already; it may come every --ro-retry).
 */
static void
rt_read_only_event(struct target *t)
{
	struct target_info ti;
	char until[96];

	engine_target_info(t, &ti);
	if (ti.ro_learnt && ti.ro_refusals <= 1)
		log_warnx("%s refused a write (ATA ABRT) before taking any: "
		    "taken as read-only (vblade -r), but its backing store "
		    "may as well be full (a thin image on a full filesystem) "
		    "or failing; writes to it fail here %s", ti.name,
		    rt_ro_until(until, sizeof(until), &ti));
	else if (ti.ro_learnt)
		log_debug("%s refused a write again: writes fail here %s",
		    ti.name, rt_ro_until(until, sizeof(until), &ti));
	else if (ti.ro_retry)
		log_debug("%s: writes go to it again (read-only was learnt)",
		    ti.name);
	else
		log_info("%s takes writes again: writable", ti.name);
}

/* "02:00:5e:00:53:01, ... (and 3 more)": a reserve list in the log. */
static const char *
rt_resv_macs(char *buf, size_t len, const struct target_info *ti)
{
	char mac[MAC_STRLEN];
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < ti->resv_nmacs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? ", " : "", mac_fmt(mac, ti->resv_macs[i]));
	if (ti->resv_total > ti->resv_nmacs && off < len)
		snprintf(buf + off, len - off, " and %u more",
		    ti->resv_total - ti->resv_nmacs);
	return buf;
}

/* --reserve: a target's reservation taken, refused, failed, released. */
static void
rt_reserve_event(struct target *t)
{
	struct target_info ti;
	char macs[TARGET_RESV_SHOW * (MAC_STRLEN + 2) + 32];

	engine_target_info(t, &ti);
	rt_resv_macs(macs, sizeof(macs), &ti);
	switch (ti.resv) {
	case TARGET_RESV_HELD:
		log_info("%s reserved for this host (%s)", ti.name, macs);
		break;
	case TARGET_RESV_OTHER:
		log_warnx("%s is reserved for another host (%s): its I/O fails "
		    "here until that host releases it (to take it for this "
		    "host: aoectl reserve %s fset)", ti.name,
		    ti.resv_total ? macs : "not named", ti.name);
		break;
	case TARGET_RESV_FAILED:
		log_warnx("cannot %s %s: %s", ti.resv_want ? "reserve" :
		    "release", ti.name, ti.resv_rc == -ETIMEDOUT ? "no answer" :
		    ti.resv_rc == -EOPNOTSUPP ? "the target does not do "
		    "Reserve/Release" : strerror(-ti.resv_rc));
		break;
	case TARGET_RESV_NONE:
		log_info("%s released", ti.name);
		break;
	}
}

/*
 * A path event in the log: the engine names the path (jumbo_path for
 * ENGINE_EV_JUMBO, else conflict_path) in the target's info.
 */
static void
rt_log_path_event(const struct rt *rt, struct target *t, int event)
{
	struct target_info ti;
	const struct target_path *p;
	char via[RT_PATH_NAMELEN];
	char now_mac[MAC_STRLEN], was_mac[MAC_STRLEN];

	engine_target_info(t, &ti);
	p = &ti.paths[event == ENGINE_EV_JUMBO ? ti.jumbo_path :
	    ti.conflict_path];
	rt_path_name(rt, p, via);
	switch (event) {
	case ENGINE_EV_JUMBO:
		if (p->jumbo_lost && ti.sectors_per_frame <
		    ti.sectors_per_frame_full)
			log_warnx("%s via %s: frames of %u sectors go "
			    "unanswered, frames of %u do not: does a switch "
			    "or bridge on the way drop jumbo frames?  Using "
			    "%u-sector frames; larger ones are tried again now "
			    "and then", ti.name, via,
			    ti.sectors_per_frame_full, ti.sectors_per_frame,
			    ti.sectors_per_frame);
		else if (p->jumbo_lost)
			log_warnx("%s via %s: frames of %u sectors go "
			    "unanswered, smaller ones do not: does a switch "
			    "or bridge on the way drop jumbo frames?  That "
			    "path carries small frames only, the others "
			    "%u-sector frames; larger ones are tried on it "
			    "again now and then", ti.name, via,
			    ti.sectors_per_frame_full, ti.sectors_per_frame);
		else
			log_info("%s via %s: frames of %u sectors are answered "
			    "again", ti.name, via, ti.sectors_per_frame_full);
		break;
	case ENGINE_EV_CONFLICT:
		log_warnx("%s via %s: another disk answers for %s (serial "
		    "\"%s\", %" PRIu64 " sectors; %s has serial \"%s\", "
		    "%" PRIu64 "): two targets with the same shelf.slot?  "
		    "That path is not used", ti.name, via, ti.name,
		    ti.conflict_ident.serial, ti.conflict_ident.sectors,
		    ti.name, ti.ident.serial, ti.ident.sectors);
		break;
	case ENGINE_EV_REPLACED:
		/* Back from the dead as another disk: its I/O failed then. */
		log_warnx("%s via %s: another disk answers now (serial \"%s\", "
		    "%" PRIu64 " sectors; it was serial \"%s\"): its I/O "
		    "%s, and it is found again as the new disk", ti.name,
		    via, ti.conflict_ident.serial, ti.conflict_ident.sectors,
		    ti.ident.serial, ti.identified ? "fails" :
		    "failed when it died");
		break;
	case ENGINE_EV_MOVED:
		log_warnx("%s moved: now answers from MAC %s (serial \"%s\"), "
		    "was MAC %s (serial \"%s\"): taken as a failover of the "
		    "same disk (%" PRIu64 " sectors, as before); if it is "
		    "another disk, stop using it", ti.name,
		    mac_fmt(now_mac, p->mac), ti.conflict_ident.serial,
		    mac_fmt(was_mac, ti.paths[ti.moved_path].mac),
		    ti.ident.serial, ti.conflict_ident.sectors);
		break;
	}
}

static void
rt_event(void *ctx, struct target *t, int event)
{
	struct rt *rt = ctx;

	if (event == ENGINE_EV_JUMBO || event == ENGINE_EV_CONFLICT ||
	    event == ENGINE_EV_REPLACED || event == ENGINE_EV_MOVED)
		rt_log_path_event(rt, t, event);

	if (event == ENGINE_EV_READ_ONLY)
		rt_read_only_event(t);
	if (event == ENGINE_EV_RESERVE)
		rt_reserve_event(t);

	if (rt->front != NULL && rt->front->event != NULL)
		rt->front->event(rt->front_ctx, t, event);
}

/* Zero-copy reads: the engine keeps a received frame in the link's ring. */
static int
rt_hold(void *ctx, unsigned ifidx, const uint8_t *frame,
    void (*evict)(void *owner, unsigned idx), void *owner, unsigned idx)
{
	struct rt_port *p = port_of_ifidx(ctx, ifidx);

	if (p == NULL || p->link == NULL)
		return -1;
	return link_hold(p->link, frame, evict, owner, idx);
}

static void
rt_release(void *ctx, unsigned ifidx, int handle)
{
	struct rt_port *p = port_of_ifidx(ctx, ifidx);

	if (p != NULL && p->link != NULL)
		link_release(p->link, handle);
}

static const struct engine_ops rt_engine_ops = {
	.send = rt_send,
	.flush = rt_flush,
	.event = rt_event,
	.hold = rt_hold,
	.release = rt_release,
};

/* ---------------------------------------------------------------- loop */

static void rt_readable(void *arg, uint32_t events);

/*
 * The interface went down or away (the socket's error, or a receive error).
 * Down: the kernel binds the socket again when it comes up.  Away: the fd
 * leaves the loop (its error would wake it for ever) and the tick looks
 * for an interface of that name again.
 */
static void
rt_port_down(struct rt_port *p, int err)
{
	struct link *l = p->link;

	if (p->gone)
		return;
	if (link_present(l)) {
		if (err == -ENETDOWN && !p->down)
			log_warnx("%s: the interface went down; its targets "
			    "wait for it (up to --dead-timeout)", l->ifname);
		p->down = p->down || err == -ENETDOWN;
		return;
	}
	if (l->ops->reattach == NULL)
		log_warnx("%s: the interface is gone (the %s backend cannot "
		    "use it again: restart)", l->ifname, l->ops->name);
	else
		log_warnx("%s: the interface is gone; looking for it again "
		    "every %llu s", l->ifname,
		    (unsigned long long)(RT_REATTACH_NS / NSEC_PER_SEC));
	if (p->fd_added)
		loop_del_fd(p->rt->loop, l->fd);
	p->fd_added = false;
	p->down = p->gone = true;
	p->retry_at = loop_now() + RT_REATTACH_NS;
}

/* A removed interface: is it back?  Called from the tick, when due. */
static void
rt_port_retry(struct rt_port *p, uint64_t now)
{
	struct link *l = p->link;
	char errbuf[256];
	int rc;

	p->retry_at = now + RT_REATTACH_NS;
	if (l->ops->reattach == NULL) {
		p->retry_at = UINT64_MAX;
		return;
	}
	rc = link_reattach(l, errbuf, sizeof(errbuf));
	if (rc < 0) {
		log_debug("%s: not back: %s", l->ifname, errbuf[0] != '\0' ?
		    errbuf : strerror(-rc));
		return;
	}
	rc = loop_add_fd(p->rt->loop, l->fd, EPOLLIN, rt_readable, p);
	if (rc < 0) {
		log_warnx("%s: cannot poll: %s", l->ifname, strerror(-rc));
		return;
	}
	p->fd_added = true;
	p->gone = p->down = false;
	engine_update_interface(p->rt->e, (unsigned)p->ifidx, l->mac, l->mtu);
	log_info("%s: the interface is back (index %d, MTU %u)", l->ifname,
	    l->ifindex, l->mtu);
	/* Its targets answer a discovery at once (a new MAC is a new path). */
	rt_discover(p->rt);
}

static void
rt_readable(void *arg, uint32_t events)
{
	struct rt_port *p = arg;
	struct rt *rt = p->rt;
	const uint8_t *frames[RT_RECV_BATCH];
	size_t lens[RT_RECV_BATCH];
	int err;

	if ((events & EPOLLERR) && (err = link_take_error(p->link)) < 0) {
		rt_port_down(p, err);
		if (p->gone)
			return;
	}
	/*
	 * Drain fully: a pcap ring may hold frames the fd no longer shows.
	 * Plugged: what every batch makes the engine send goes out together.
	 */
	engine_plug(rt->e);
	for (;;) {
		int n = link_recv(p->link, frames, lens, RT_RECV_BATCH);

		if (n == 0 || n == -EAGAIN || n == -EINTR)
			break;
		if (n < 0) {
			rt_port_down(p, n);
			if (p->gone)
				break;
			if (!p->rx_err_logged)
				log_warnx("%s: receive: %s", p->link->ifname,
				    strerror(-n));
			else
				log_debug("%s: receive: %s", p->link->ifname,
				    strerror(-n));
			p->rx_err_logged = true;
			break;
		}
		if (p->down) {
			p->down = false;
			log_info("%s: frames arrive again", p->link->ifname);
		}
		if (rt->tap != NULL) {
			int k = 0;

			for (int i = 0; i < n; i++) {
				if (rt->tap(rt->tap_arg, (unsigned)p->ifidx,
				    frames[i], lens[i]))
					continue;
				frames[k] = frames[i];
				lens[k++] = lens[i];
			}
			n = k;
		}
		/* One flush for what the whole batch makes the engine send. */
		engine_input_batch(rt->e, (unsigned)p->ifidx, frames, lens,
		    (unsigned)n, loop_now());
	}
	engine_unplug(rt->e);
}

/*
 * The loop's nap hook: up to --coalesce while frames are in flight, up to
 * 4 times that while the last nap showed the targets still had plenty
 * queued (loop_nap_adapt: what came back during it, counted from the
 * engine's received frames at the next call).
 */
static uint64_t
rt_nap(void *arg)
{
	struct rt *rt = arg;
	unsigned inflight;
	uint64_t rx, ns;

	if (rt->e == NULL)
		return 0;
	inflight = engine_inflight(rt->e);
	rx = engine_stats(rt->e)->rx_frames;
	if (rt->nap_inflight > 0)
		rt->nap_gain = loop_nap_adapt(rt->nap_gain, rt->nap_inflight,
		    rx - rt->nap_rx);
	ns = loop_nap_scaled(rt->coalesce_ns, inflight) * rt->nap_gain /
	    LOOP_NAP_GAIN_MIN;
	if (ns > RT_MAX_COALESCE_US * 1000u)
		ns = RT_MAX_COALESCE_US * 1000u;
	rt->nap_inflight = ns > 0 ? inflight : 0;
	rt->nap_rx = rx;
	return ns;
}

static uint64_t
rt_deadline(void *arg)
{
	struct rt *rt = arg;
	uint64_t next = engine_next_timeout(rt->e);

	for (unsigned i = 0; i < rt->nlinks; i++)
		if (rt->ports[i].gone)
			next = MIN(next, rt->ports[i].retry_at);
	return next;
}

/*
 * The interface's MTU changed (lowered: a frame was refused as too large):
 * the engine sizes frames for the new one and splits those it resends.
 * Raised beyond what the receive ring holds: a larger ring first (the
 * frames waiting in the old one are taken before it goes).
 */
static void
rt_port_mtu(struct rt_port *p)
{
	struct link *l = p->link;
	unsigned old = l->mtu;
	uint64_t evicted;
	int rc;

	p->mtu_check = false;
	link_refresh_mtu(l);
	if (l->mtu < l->if_mtu && l->if_mtu != p->resize_failed) {
		rt_readable(p, 0);
		if (p->gone)
			return;
		evicted = l->rx_evicted;
		rc = link_rx_resize(l);
		if (l->rx_evicted > evicted)
			log_debug("%s: %llu frames kept for their reply copied "
			    "out of the old receive ring", l->ifname,
			    (unsigned long long)(l->rx_evicted - evicted));
		if (rc < 0) {
			p->resize_failed = l->if_mtu;
			log_warnx("%s: MTU %u, but frames of at most %u can be "
			    "received: %s", l->ifname, l->if_mtu, l->mtu,
			    strerror(-rc));
		}
	}
	if (l->mtu == old)
		return;
	log_info("%s: MTU %u, was %u", l->ifname, l->mtu, old);
	engine_set_mtu(p->rt->e, (unsigned)p->ifidx, l->mtu);
}

/*
 * The interface's MAC address changed (ip link set address): frames go out
 * from the new one, where the answers come back.  Sent from the old one,
 * the answers go to an address that a NIC's filter (or a macvlan's) drops
 * and the target was dead after the dead timeout.
 */
static void
rt_port_mac(struct rt_port *p)
{
	struct link *l = p->link;
	char mac[MAC_STRLEN];

	p->mac_check = false;
	if (link_refresh_mac(l) <= 0)
		return;
	log_info("%s: MAC address %s", l->ifname, mac_fmt(mac, l->mac));
	engine_update_interface(p->rt->e, (unsigned)p->ifidx, l->mac, l->mtu);
}

/* Use an interface that came up since start (no -I), if a socket is left. */
static void
rt_port_add(struct rt *rt, const char *name)
{
	struct rt_port *p = &rt->ports[rt->nlinks];
	struct link *l;
	char errbuf[256];
	int rc, ifidx;

	if (rt->nspare == 0) {
		if (!rt->spares_out_said)
			log_warnx("%s: a new interface, but no socket is left "
			    "for it (%u were kept): restart to use it", name,
			    RT_SPARES);
		rt->spares_out_said = true;
		return;
	}
	errbuf[0] = '\0';
	rc = link_packet_adopt(&l, name, rt->spare[rt->nspare - 1], errbuf,
	    sizeof(errbuf));
	if (rc < 0) {
		log_debug("%s: not used: %s", name, errbuf[0] != '\0' ?
		    errbuf : strerror(-rc));
		return;
	}
	ifidx = engine_add_interface(rt->e, l->ifname, l->mac, l->mtu);
	if (ifidx < 0 || ifidx >= ENGINE_MAX_IFS ||
	    loop_add_fd(rt->loop, l->fd, EPOLLIN, rt_readable, p) < 0) {
		/* Not expected; the engine keeps the name, unused. */
		log_warnx("%s: cannot use the new interface", name);
		rt->nspare--;
		link_close(l); /* and the spare with it */
		return;
	}
	rt->nspare--;
	memset(p, 0, sizeof(*p));
	p->rt = rt;
	p->link = l;
	p->ifidx = ifidx;
	p->fd_added = true;
	l->trace = rt->trace;
	rt->port_of[ifidx] = (int)rt->nlinks;
	rt->nlinks++;
	log_info("%s: a new interface (MTU %u): AoE on it too", name, l->mtu);
	rt_discover(rt);
}

/* Without -I: any up Ethernet interface not in use yet. */
static void
rt_scan(struct rt *rt)
{
	char names[RT_MAX_IFS][IF_NAMESIZE];
	int n = link_list_default(names, RT_MAX_IFS);

	for (int i = 0; i < n && rt->nlinks < RT_MAX_IFS; i++) {
		unsigned j;

		for (j = 0; j < rt->nlinks; j++)
			if (strcmp(rt->ports[j].link->ifname, names[i]) == 0)
				break;
		if (j == rt->nlinks)
			rt_port_add(rt, names[i]);
	}
}

/* One link change: what the next tick must look at. */
static void
rt_link_changed(struct rt *rt, const struct ifwatch_event *ev, uint64_t now)
{
	bool ours = false;

	for (unsigned i = 0; i < rt->nlinks; i++) {
		struct rt_port *p = &rt->ports[i];
		struct link *l = p->link;

		if (p->gone) {
			/* Created again under its name: bind to it now. */
			if (!ev->gone && ev->has_name &&
			    strcmp(ev->name, l->ifname) == 0) {
				p->retry_at = now;
				ours = true;
			}
			continue;
		}
		if (ev->ifindex != l->ifindex)
			continue;
		ours = true;
		if (!ev->gone && ev->has_mtu && ev->mtu != l->if_mtu)
			p->mtu_check = true;
		if (!ev->gone && ev->has_mac &&
		    memcmp(ev->mac, l->mac, sizeof(l->mac)) != 0)
			p->mac_check = true;
	}
	/* Without -I: a new interface that is up may be for us. */
	if (!ours && rt->auto_ifs && !ev->gone && (ev->flags & IFF_UP))
		rt->mtu_refresh_at = now;
}

/*
 * Link changes from rtnetlink (ifwatch): a new MTU is used at once, so
 * frames too large for a lowered one stop (refused, or dropped from the
 * transmit ring with a kernel log line each) and a raised one is used; a
 * recreated interface is bound again, and a new one (no -I) is used, at
 * the tick that follows, without waiting for the periodic looks.
 * Messages lost to a full socket buffer, or cut short: every interface is
 * looked at.
 */
static void
rt_netlink(void *arg, uint32_t events)
{
	struct rt *rt = arg;
	/* Single-threaded; a link message with all its attributes fits. */
	static union {
		uint64_t align;
		uint8_t b[32768];
	} buf;
	struct ifwatch_event ev[32];
	uint64_t now = loop_now();

	(void)events;
	for (int round = 0; round < 64; round++) {
		ssize_t len = recv(rt->nl_fd, buf.b, sizeof(buf.b), MSG_TRUNC);
		bool bad = false;

		if (len == 0)
			break;
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno != ENOBUFS)
			break; /* EAGAIN: all read */
		if (len > 0) {
			unsigned n;

			bad = (size_t)len > sizeof(buf.b);
			n = ifwatch_parse(buf.b, bad ? sizeof(buf.b) :
			    (size_t)len, ev, 32, &bad);
			for (unsigned i = 0; i < n; i++)
				rt_link_changed(rt, &ev[i], now);
		}
		if (len < 0 || bad) {
			log_debug("link changes lost or cut short: looking at "
			    "every interface");
			rt->mtu_refresh_at = now;
			for (unsigned i = 0; i < rt->nlinks; i++)
				rt->ports[i].retry_at = now;
		}
	}
	/* A new MTU or MAC now, not after what this wake-up's events send. */
	for (unsigned i = 0; i < rt->nlinks; i++) {
		if (!rt->ports[i].gone && rt->ports[i].mtu_check)
			rt_port_mtu(&rt->ports[i]);
		if (!rt->ports[i].gone && rt->ports[i].mac_check)
			rt_port_mac(&rt->ports[i]);
	}
}

/* Listen to link changes; without them the periodic looks still work. */
static void
rt_watch(struct rt *rt)
{
	int fd = ifwatch_open();

	if (fd < 0) {
		log_debug("no link change notices (%s): MTU changes and new "
		    "interfaces are looked for every %llu s", strerror(-fd),
		    (unsigned long long)(RT_MTU_REFRESH_NS / NSEC_PER_SEC));
		return;
	}
	if (loop_add_fd(rt->loop, fd, EPOLLIN, rt_netlink, rt) < 0) {
		close(fd);
		return;
	}
	rt->nl_fd = fd;
	rt->nl_added = true;
}

static void
rt_tick(void *arg, uint64_t now)
{
	struct rt *rt = arg;
	bool refresh = now >= rt->mtu_refresh_at;

	if (refresh) {
		rt->mtu_refresh_at = now + RT_MTU_REFRESH_NS;
		if (rt->auto_ifs)
			rt_scan(rt);
	}
	for (unsigned i = 0; i < rt->nlinks; i++) {
		struct rt_port *p = &rt->ports[i];

		if (p->send_err != 0) {
			rt_port_down(p, p->send_err);
			p->send_err = 0;
		}
		if (p->gone && now >= p->retry_at)
			rt_port_retry(p, now);
		if (!p->gone && (p->mtu_check || refresh))
			rt_port_mtu(p);
		if (!p->gone && (p->mac_check || refresh))
			rt_port_mac(p);
	}
	engine_tick(rt->e, now);
}

/* ---------------------------------------------------------------- rt */

/*
 * Where this process's tag generations start (engine_config.tag_seed):
 * random, or from the clock and pid where getrandom cannot say.
 */
static uint16_t
tag_seed(void)
{
	uint16_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return seed;
	return (uint16_t)(loop_now() ^ (uint64_t)getpid() << 4);
}

/*
 * The initiators of a host (aoe-nbd, aoe-fuse, aoectl, as many as run)
 * share each interface's MAC address, so every one of them receives the
 * answers to all: each needs a tag instance of its own (engine.h).  The
 * instance is claimed by binding an abstract Unix socket name, which is
 * per network namespace (where the interfaces are) and goes with the
 * process.  Returns the socket (to keep open), or -1 when none is free
 * (*inst is then a guess).
 */
static int
tag_instance_claim(unsigned *inst)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool busy = false;

	*inst = (unsigned)(getpid() ^ time(NULL)) % AOE_TAG_INSTANCES;
	for (unsigned i = 0; fd >= 0 && i < AOE_TAG_INSTANCES; i++) {
		int n;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		    "aoe-nbd/tag-instance/%u", i);
		if (bind(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		    (size_t)n)) == 0) {
			*inst = i;
			return fd;
		}
		if (errno != EADDRINUSE) {
			log_debug("tag instance: %s", strerror(errno));
			break;
		}
		busy = true;
	}
	if (busy)
		log_warnx("more than %u AoE initiators run in this network "
		    "namespace: two of them may take each other's answers",
		    AOE_TAG_INSTANCES);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One message for a failed link_open; returns the exit status. */
static int
open_error(const char *ifname, int rc, const char *errbuf)
{
	const char *prog = log_progname();

	switch (rc) {
	case -EPERM:
	case -EACCES:
		rt_print_noperm(prog, ifname);
		return EXIT_NOPERM;
	case -ENODEV:
		fprintf(stderr, "%s: %s: unknown interface\n", prog, ifname);
		return EXIT_USAGE;
	case -ENETDOWN:
		fprintf(stderr,
		    "%s: interface %s is down (ip link set %s up)\n", prog,
		    ifname, ifname);
		return EXIT_FAIL;
	case -EPROTONOSUPPORT:
		fprintf(stderr, "%s: %s: not an Ethernet interface\n", prog,
		    ifname);
		return EXIT_USAGE;
	default:
		fprintf(stderr, "%s: %s: %s\n", prog, ifname,
		    errbuf[0] != '\0' ? errbuf : strerror(-rc));
		return EXIT_FAIL;
	}
}

int
rt_new(struct rt **out, const struct rt_options *o, struct loop *loop,
    const struct engine_ops *front, void *front_ctx)
{
	const char *prog = log_progname();
	struct engine_ops ops;
	char names[RT_MAX_IFS][IF_NAMESIZE];
	char errbuf[256];
	unsigned nnames;
	struct rt *rt;
	int rc, status;

	*out = NULL;
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_FAIL;
	}
	rt->loop = loop;
	rt->nl_fd = -1;
	rt->tag_fd = -1;
	loop_set_busy_poll(loop, o->busy_poll_ns);
	rt->coalesce_ns = o->coalesce_ns;
	rt->nap_gain = LOOP_NAP_GAIN_MIN;
	if (rt->coalesce_ns > 0)
		loop_set_nap(loop, rt_nap, rt);
	rt->front = front;
	rt->front_ctx = front_ctx;
	for (unsigned i = 0; i < ENGINE_MAX_IFS; i++)
		rt->port_of[i] = -1;

	if (o->nifaces > 0) {
		nnames = MIN(o->nifaces, (unsigned)RT_MAX_IFS);
		memcpy(names, o->ifaces, sizeof(names[0]) * nnames);
	} else {
		rc = link_list_default(names, RT_MAX_IFS);
		if (rc < 0) {
			fprintf(stderr, "%s: cannot list interfaces: %s\n",
			    prog, strerror(-rc));
			status = EXIT_FAIL;
			goto fail;
		}
		if (rc == 0) {
			fprintf(stderr, "%s: no up Ethernet interface found "
			    "(name one with -I)\n", prog);
			status = EXIT_USAGE;
			goto fail;
		}
		nnames = (unsigned)rc;
	}

	for (unsigned i = 0; i < nnames; i++) {
		struct rt_port *p = &rt->ports[i];

		errbuf[0] = '\0';
		rc = link_open(&p->link, names[i], o->backend, errbuf,
		    sizeof(errbuf));
		if (rc < 0) {
			p->link = NULL;
			status = open_error(names[i], rc, errbuf);
			goto fail;
		}
		p->rt = rt;
		p->ifidx = -1;
		rt->nlinks++;
	}
	/* No -I: sockets for interfaces that come up later (packet only). */
	rt->auto_ifs = o->nifaces == 0 &&
	    strcmp(rt->ports[0].link->ops->name, "packet") == 0;
	while (rt->auto_ifs && rt->nspare < RT_SPARES) {
		int fd = link_packet_spare();

		if (fd < 0)
			break;
		rt->spare[rt->nspare++] = fd;
	}

	if (o->trace_path != NULL) {
		rc = trace_open(&rt->trace, o->trace_path);
		if (rc < 0) {
			rt->trace = NULL;
			fprintf(stderr, "%s: --trace %s: %s\n", prog,
			    o->trace_path, strerror(-rc));
			status = EXIT_FAIL;
			goto fail;
		}
		for (unsigned i = 0; i < rt->nlinks; i++)
			rt->ports[i].link->trace = rt->trace;
	}

	ops = rt_engine_ops;
	if (env_is_zero("AOE_ZERO_COPY")) {
		/* Every answer copied at once: the engine never asks. */
		ops.hold = NULL;
		ops.release = NULL;
	}
	{
		struct engine_config ecfg = o->ecfg;

		rt->tag_fd = tag_instance_claim(&ecfg.tag_instance);
		rt->tag_instance = ecfg.tag_instance;
		ecfg.tag_seed = tag_seed();
		log_debug("tag instance %u, generations from %u",
		    ecfg.tag_instance, (unsigned)ecfg.tag_seed);
		rt->e = engine_new(&ecfg, &ops, rt);
	}
	if (rt->e == NULL) {
		fprintf(stderr, "%s: cannot create the engine: %s\n", prog,
		    strerror(ENOMEM));
		status = EXIT_FAIL;
		goto fail;
	}
	for (unsigned i = 0; i < rt->nlinks; i++) {
		struct rt_port *p = &rt->ports[i];

		rc = engine_add_interface(rt->e, p->link->ifname, p->link->mac,
		    p->link->mtu);
		if (rc < 0 || rc >= ENGINE_MAX_IFS) {
			fprintf(stderr, "%s: %s: cannot add interface: %s\n",
			    prog, p->link->ifname,
			    strerror(rc < 0 ? -rc : ENOSPC));
			status = EXIT_FAIL;
			goto fail;
		}
		p->ifidx = rc;
		rt->port_of[rc] = (int)i;
	}
	for (unsigned i = 0; i < rt->nlinks; i++) {
		struct rt_port *p = &rt->ports[i];

		rc = loop_add_fd(loop, p->link->fd, EPOLLIN, rt_readable, p);
		if (rc < 0) {
			fprintf(stderr, "%s: %s: cannot poll: %s\n", prog,
			    p->link->ifname, strerror(-rc));
			status = EXIT_FAIL;
			goto fail;
		}
		p->fd_added = true;
	}
	rc = loop_add_hook(loop, rt_deadline, rt_tick, rt);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot add timer: %s\n", prog,
		    strerror(-rc));
		status = EXIT_FAIL;
		goto fail;
	}
	rt->hook_added = true;
	rt_watch(rt);

	rt_discover(rt);
	*out = rt;
	return EXIT_OK;

fail:
	rt_free(rt);
	return status;
}

/*
 * Each target's counters (window, RTT, losses, its paths), the links' and
 * the event loop's: at exit with -v, and on SIGUSR1.
 */
void
rt_log_counters(struct rt *rt)
{
	struct target_info ti;
	struct target *t = NULL;
	const struct engine_stats *es;
	struct loop_stats ls;
	char until[96];

	if (rt->e == NULL)
		return;
	loop_get_stats(rt->loop, &ls);
	log_info("event loop: %llu waits answered while busy polling, "
	    "%llu naps to take answers in batches (%llu us each on average, "
	    "%llu overslept, naps stopped %llu times for it), %llu sleeps, "
	    "longest turn %llu us",
	    (unsigned long long)ls.polled, (unsigned long long)ls.napped,
	    (unsigned long long)(ls.napped ? ls.nap_ns / ls.napped / 1000 : 0),
	    (unsigned long long)ls.nap_late, (unsigned long long)ls.nap_off,
	    (unsigned long long)ls.slept,
	    (unsigned long long)(ls.turn_max_ns / 1000));
	for (unsigned i = 0; i < rt->nlinks; i++) {
		const struct link *l = rt->ports[i].link;

		log_info("%s: %llu frames sent (%llu from the transmit ring), "
		    "%llu not sent (send errors), "
		    "%llu received, %llu receive errors, %llu kept in the "
		    "ring for their reply (%llu copied out early)", l->ifname,
		    (unsigned long long)l->tx_frames,
		    (unsigned long long)l->tx_ring,
		    (unsigned long long)l->tx_errors,
		    (unsigned long long)l->rx_frames,
		    (unsigned long long)l->rx_errors,
		    (unsigned long long)l->rx_holds,
		    (unsigned long long)l->rx_evicted);
	}
	es = engine_stats(rt->e);
	log_info("answers dropped: %llu late or duplicate, %llu short, "
	    "%llu mismatched, %llu from elsewhere",
	    (unsigned long long)es->rx_unknown,
	    (unsigned long long)es->rx_short,
	    (unsigned long long)es->rx_mismatch,
	    (unsigned long long)es->rx_foreign);
	while ((t = engine_target_next(rt->e, t)) != NULL) {
		engine_target_info(t, &ti);
		log_info("%s: %llu frames out, %llu in, %llu retransmitted, "
		    "%llu timed out (%llu spurious, %llu more held while "
		    "it was silent); window %u of %u, "
		    "srtt %llu us, rto %llu us, %llu MiB read, "
		    "%llu MiB written", ti.name,
		    (unsigned long long)ti.tx_frames,
		    (unsigned long long)ti.rx_frames,
		    (unsigned long long)ti.retransmits,
		    (unsigned long long)ti.timeouts,
		    (unsigned long long)ti.spurious_timeouts,
		    (unsigned long long)ti.held,
		    ti.window, ti.window_max,
		    (unsigned long long)(ti.srtt_ns / 1000),
		    (unsigned long long)(ti.rto_ns / 1000),
		    (unsigned long long)(ti.bytes_read >> 20),
		    (unsigned long long)(ti.bytes_written >> 20));
		for (unsigned i = 0; i < ti.npaths; i++) {
			const struct target_path *p = &ti.paths[i];
			char via[RT_PATH_NAMELEN];

			log_info("%s via %s: %llu frames sent, %llu answers, "
			    "%llu lost in a row%s", ti.name,
			    rt_path_name(rt, p, via), (unsigned long long)p->tx,
			    (unsigned long long)p->rx,
			    (unsigned long long)p->lost,
			    p->jumbo_lost ? "; loses jumbo frames" : "");
		}
		if (ti.ro_learnt)
			log_info("%s: read-only, learnt from %u refused "
			    "write%s: writes fail here %s", ti.name,
			    ti.ro_refusals, ti.ro_refusals == 1 ? "" : "s",
			    rt_ro_until(until, sizeof(until), &ti));
		else if (ti.ro_retry)
			log_info("%s: read-only was learnt (%u refused "
			    "write%s); writes go to it again, none taken yet",
			    ti.name, ti.ro_refusals,
			    ti.ro_refusals == 1 ? "" : "s");
		if (ti.resv_want)
			log_info("%s: reserve (--reserve): %s", ti.name,
			    ti.resv == TARGET_RESV_HELD ? "held" :
			    ti.resv == TARGET_RESV_OTHER ? "held by another "
			    "host" : ti.resv == TARGET_RESV_FAILED ? "failed" :
			    "asked for");
		if (ti.jumbo_caps > 0)
			log_info("%s: a path capped to 2-sector frames %llu "
			    "times for lost jumbo frames; %u of %u sectors now",
			    ti.name,
			    (unsigned long long)ti.jumbo_caps,
			    ti.sectors_per_frame, ti.sectors_per_frame_full);
	}
}

void
rt_free(struct rt *rt)
{
	if (rt == NULL)
		return;
	if (rt->hook_added)
		loop_del_hook(rt->loop, rt_deadline, rt_tick, rt);
	if (rt->coalesce_ns > 0)
		loop_set_nap(rt->loop, NULL, NULL);
	for (unsigned i = 0; i < rt->nlinks; i++)
		if (rt->ports[i].fd_added)
			loop_del_fd(rt->loop, rt->ports[i].link->fd);
	if (rt->nl_added)
		loop_del_fd(rt->loop, rt->nl_fd);
	if (rt->nl_fd >= 0)
		close(rt->nl_fd);
	if (log_getverbose() >= 1)
		rt_log_counters(rt);
	/* Pending requests complete with -ECANCELED; links are still open. */
	engine_free(rt->e);
	for (unsigned i = 0; i < rt->nlinks; i++)
		link_close(rt->ports[i].link);
	for (unsigned i = 0; i < rt->nspare; i++)
		close(rt->spare[i]);
	trace_close(rt->trace);
	if (rt->tag_fd >= 0)
		close(rt->tag_fd);
	free(rt);
}

void
rt_fork_inherit(struct rt *rt, bool on)
{
	for (unsigned i = 0; i < rt->nlinks; i++)
		if (rt->ports[i].link != NULL)
			link_fork_inherit(rt->ports[i].link, on);
}

unsigned
rt_tag_instance(const struct rt *rt)
{
	return rt->tag_instance;
}

struct engine *
rt_engine(struct rt *rt)
{
	return rt->e;
}

struct loop *
rt_loop(struct rt *rt)
{
	return rt->loop;
}

unsigned
rt_nlinks(const struct rt *rt)
{
	return rt->nlinks;
}

struct link *
rt_link(struct rt *rt, unsigned i)
{
	return i < rt->nlinks ? rt->ports[i].link : NULL;
}

struct link *
rt_link_of(struct rt *rt, unsigned ifidx)
{
	struct rt_port *p = port_of_ifidx(rt, ifidx);

	return p == NULL ? NULL : p->link;
}

void
rt_set_tap(struct rt *rt, rt_tap_fn tap, void *arg)
{
	rt->tap = tap;
	rt->tap_arg = arg;
}

void
rt_discover(struct rt *rt)
{
	engine_discover(rt->e, AOE_SHELF_ANY, AOE_SLOT_ANY, loop_now());
}

void
rt_reserve_release(struct rt *rt)
{
	uint64_t until = loop_now() + RT_RELEASE_NS;

	if (rt == NULL || rt->e == NULL ||
	    engine_reserve_release(rt->e, loop_now()) == 0)
		return;
	/* Stopped (signalled) or not: the loop runs until they answer. */
	while (engine_releasing(rt->e) > 0 && loop_now() < until)
		if (loop_run_once(rt->loop, until) < 0)
			break;
}

int
rt_run_until(struct rt *rt, const bool *flag, uint64_t until)
{
	for (;;) {
		int rc;

		if (flag != NULL && *flag)
			return 0;
		if (loop_stopped(rt->loop))
			return -EINTR;
		if (loop_now() >= until)
			return -ETIMEDOUT;
		rc = loop_run_once(rt->loop, until);
		if (rc < 0)
			return rc;
	}
}
