/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoectl: the one-shot status and admin tool.  Discovers AoE targets from
 * user space and lists them as aoe-stat does (or as key: value lines or
 * JSON), and reads or changes a target's config string, MAC mask list and
 * reserve list.  Installed also as aoe-stat and aoecfg, whose syntax it
 * takes when called by those names.  It needs no aoe kernel module.
 * aoectl abft prints the target an iPXE sanboot left in the ACPI aBFT
 * (no network needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "abft.h"
#include "aoe.h"
#include "ata.h"
#include "engine.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "pathcheck.h"
#include "priv.h"
#include "rt.h"
#include "util.h"

/* A target still without IDENTIFY this long after the wait shows "init". */
#define GRACE_NS (2 * NSEC_PER_SEC)
/* Past an admin command's own timeout, before we stop waiting for it. */
#define SLACK_NS (5 * NSEC_PER_SEC)

#define OPT_JSON 0x2000
#define MAX_LONGOPTS 64
#define IFLIST_LEN (RT_MAX_IFS * (IF_NAMESIZE + 1))

enum mode {
	MODE_CTL,      /* aoectl COMMAND ... */
	MODE_STAT,     /* aoe-stat [-a] [TARGET...] */
	MODE_CFG,      /* aoecfg [-c CMD] [-s STR] [SHELF SLOT] [NETIF] */
};

enum cmd {
	CMD_STAT,
	CMD_CONFIG,
	CMD_MASK,
	CMD_RESERVE,
	CMD_CHECK,
	CMD_ABFT,
};

enum wait_kind {
	WAIT_STAT,     /* named (or all) targets identified or dead */
	WAIT_FIND,     /* every named target seen */
	WAIT_ALL,      /* the whole discovery wait */
};

struct named {
	uint16_t shelf;
	uint8_t slot;
	char name[16];
};

struct ctl;

/* One admin command to one target, and its answer. */
struct req {
	struct ctl *c;
	struct target *t;
	char name[16];
	bool done;
	bool have;         /* u holds the decoded response */
	int rc;
	union {
		struct aoe_cfg cfg;
		struct aoe_mask mask;
		struct aoe_resv resv;
	} u;
};

struct ctl {
	enum mode mode;
	enum cmd cmd;
	struct rt_options opts;
	bool long_fmt;
	bool json;
	char **ops;        /* operands in command-line order */
	int nops;
	struct named *named;
	unsigned nnamed;
	/* the admin command */
	const char *action;
	uint8_t sub;       /* config: the ccmd */
	const char *str;   /* config string */
	size_t str_len;
	struct aoe_mask mreq;
	struct aoe_resv rreq;
	bool resv_self;    /* reserve set/fset without MACs: our own */
	const char *abft_file; /* abft: the table's file, or NULL */
	bool cfg_one;      /* aoecfg with SHELF SLOT, neither a wildcard */
	uint16_t cfg_shelf; /* aoecfg: the shelf, or AOE_SHELF_ANY */
	uint8_t cfg_slot;  /* and the slot, or AOE_SLOT_ANY */
	/* run time */
	struct loop *loop;
	struct rt *rt;
	struct engine *e;
	bool changed;      /* set by every engine event */
	uint64_t settle_until; /* named targets ready: other paths until */
	struct req *reqs;
	unsigned nreqs;
	unsigned pending;
	bool all_done;
};

static const char *prog = "aoectl";

static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
errmsg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------ usage */

static void
usage_synopsis(FILE *f, enum mode m)
{
	switch (m) {
	case MODE_STAT:
		fprintf(f, "usage: %s [-a] [-l | --long] [--json] [OPTIONS] "
		    "[TARGET...]\n", prog);
		break;
	case MODE_CFG:
		fprintf(f, "usage: %s [-c read|test|prefix|set|fset] [-s STR] "
		    "[-t SECS] [OPTIONS]\n"
		    "              [SHELF SLOT] [NETIF]\n", prog);
		break;
	case MODE_CTL:
		fprintf(f,
		    "usage: %s [OPTIONS] [stat] [-l | --long] [--json] "
		    "[TARGET...]\n"
		    "       %s [OPTIONS] config TARGET "
		    "[read | test|prefix|set|fset STR]\n"
		    "       %s [OPTIONS] mask TARGET "
		    "[read | add|del MAC... | edit {+|-}MAC...]\n"
		    "       %s [OPTIONS] reserve TARGET "
		    "[read | set|fset [MAC...] | release|frelease]\n"
		    "       %s [OPTIONS] check [TARGET...]\n"
		    "       %s abft [-l | --long] [--json] [FILE]\n",
		    prog, prog, prog, prog, prog, prog);
		break;
	}
}

static void
usage_help(enum mode m)
{
	FILE *f = stdout;

	usage_synopsis(f, m);
	fputs("\n", f);
	switch (m) {
	case MODE_STAT:
		fputs(
"List the ATA over Ethernet targets that answer, as aoetools' aoe-stat does,\n"
"from user space (no aoe kernel module), in its columns: name, size,\n"
"interfaces, payload (data bytes per frame), state.\n"
"TARGET is eSHELF.SLOT (e1.0) or SHELF.SLOT.\n\n"
"Options:\n"
"  -a                           accepted for aoe-stat compatibility (every\n"
"                               target is always shown)\n", f);
		break;
	case MODE_CFG:
		fputs(
"Send an AoE config string command to every target found (or to SHELF SLOT)\n"
"and print each answer, as aoetools' aoecfg does, from user space.\n"
"SHELF 65535 (0xffff) is any shelf, SLOT 255 (0xff) any slot.\n"
"NETIF is the same as -I NETIF; without it, every Ethernet interface is used.\n\n"
"Options:\n"
"  -c CMD                       read (default), test, prefix, set or fset\n"
"  -s STR                       the config string for the command\n"
"  -t SECS                      the same as --wait=SECS\n", f);
		break;
	case MODE_CTL:
		fputs(
"Show ATA over Ethernet targets and manage their config string, MAC mask\n"
"list and reservations, from user space (no aoe kernel module).\n"
"TARGET is eSHELF.SLOT (e1.0) or SHELF.SLOT; MAC is xx:xx:xx:xx:xx:xx.\n\n"
"Commands:\n"
"  stat [TARGET...]             list targets: name, size, interfaces, state\n"
"                               (the default command)\n"
"  config TARGET [read]         print the config string\n"
"  config TARGET test STR       print it if it equals STR, else exit 1\n"
"  config TARGET prefix STR     print it if it starts with STR, else exit 1\n"
"  config TARGET set STR        set it, unless another string is set\n"
"  config TARGET fset STR       set it unconditionally\n"
"  mask TARGET [read]           print the MAC mask list (the MACs allowed)\n"
"  mask TARGET add MAC...       add MACs to the list, print the list\n"
"  mask TARGET del MAC...       delete MACs from the list, print the list\n"
"  mask TARGET edit {+MAC|-MAC}...\n"
"                               add and delete in order, print the list\n"
"  reserve TARGET [read]        print the reserve list\n"
"  reserve TARGET set [MAC...]  reserve for the MACs (default: this host),\n"
"                               print the list\n"
"  reserve TARGET fset [MAC...] the same, even if reserved by another host\n"
"  reserve TARGET release       release the reservation\n"
"  reserve TARGET frelease      the same, even if reserved by another host\n"
"  check [TARGET...]            which frame sizes get through each path to\n"
"                               the targets, each way (as aoe-sancheck);\n"
"                               exit 1 when a path loses frames its MTUs\n"
"                               allow (a switch without jumbo frames?)\n"
"  abft [FILE]                  print the target and NIC that iPXE's sanboot\n"
"                               left in the aBFT, as eSHELF.SLOT@MAC (the\n"
"                               initramfs's aoe= syntax): from FILE (the\n"
"                               table, or a memory dump to search), else\n"
"                               from " ABFT_SYSFS_PATH "\n"
"                               (UEFI), else from base memory in /dev/mem\n"
"                               (BIOS); exit 3 when there is none\n\n"
"Options:\n", f);
		break;
	}
	if (m != MODE_CFG)
		fputs(
"  -l, --long                   stat, abft: also print every detail as\n"
"                               key: value lines\n"
"      --json                   stat, abft: print one JSON object\n", f);
	fputs(
"  -h, --help                   print this help and exit\n"
"  -V, --version                print the version and exit\n", f);
	rt_usage_common(f, NULL);
	fputs(
"\nExit status: 0 ok, 1 failure, 2 usage error, 3 no target found or no\n"
"answer, 4 no permission (CAP_NET_RAW missing).\n", f);
}

/* A usage error: the message and a pointer to --help; EXIT_USAGE. */
static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return EXIT_USAGE;
}

/* ------------------------------------------------------------ options */

static bool
longopt_has(const struct option *lo, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(lo[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The common options (rt_long_options) followed by ours, skipping any of
 * ours the common table already has.
 */
static void
build_longopts(struct option *lo, enum mode m)
{
	static const struct option own[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, OPT_JSON },
	};
	unsigned n = 0;

	for (unsigned i = 0; rt_long_options[i].name != NULL &&
	    n < MAX_LONGOPTS - ARRAY_SIZE(own) - 1; i++)
		lo[n++] = rt_long_options[i];
	for (unsigned i = 0; i < ARRAY_SIZE(own); i++) {
		if (m == MODE_CFG && (own[i].val == 'l' ||
		    own[i].val == OPT_JSON))
			continue;
		if (!longopt_has(lo, n, own[i].name))
			lo[n++] = own[i];
	}
	memset(&lo[n], 0, sizeof(lo[n]));
}

static bool
is_config_str_action(const char *s)
{
	return strcmp(s, "test") == 0 || strcmp(s, "prefix") == 0 ||
	    strcmp(s, "set") == 0 || strcmp(s, "fset") == 0;
}

/*
 * Operands that may start with '-' and are not options: the string after
 * config test/prefix/set/fset, and -MAC directives after mask edit.
 */
static bool
is_raw_operand(const struct ctl *c, const char *arg)
{
	uint8_t mac[6];

	if (c->mode != MODE_CTL || c->nops < 3 || strcmp(arg, "--") == 0)
		return false;
	if (strcmp(c->ops[0], "config") == 0)
		return c->nops == 3 && is_config_str_action(c->ops[2]);
	if (strcmp(c->ops[0], "mask") == 0 && strcmp(c->ops[2], "edit") == 0)
		return (arg[0] == '+' || arg[0] == '-') &&
		    mac_parse(arg + 1, mac) == 0;
	return false;
}

static int
parse_ccmd(const char *s, uint8_t *out)
{
	static const struct {
		const char *name;
		uint8_t ccmd;
	} tab[] = {
		{ "read", AOE_CCMD_READ },
		{ "test", AOE_CCMD_TEST },
		{ "prefix", AOE_CCMD_PREFIX },
		{ "set", AOE_CCMD_SET },
		{ "fset", AOE_CCMD_FSET },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(tab); i++) {
		if (strcmp(s, tab[i].name) == 0) {
			*out = tab[i].ccmd;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Options may come anywhere (before, between and after operands); operands
 * are collected in order into c->ops.  Returns -1 to go on, or the exit
 * status.
 */
static int
parse_args(struct ctl *c, int argc, char **argv)
{
	struct option lo[MAX_LONGOPTS];
	const char *shortopts;
	bool dashdash = false;
	int ch, before, r;

	switch (c->mode) {
	case MODE_STAT:
		shortopts = "+:ahVlI:w:v";
		break;
	case MODE_CFG:
		shortopts = "+:hVI:w:vc:s:t:";
		break;
	default:
		shortopts = "+:hVlI:w:v";
		break;
	}
	build_longopts(lo, c->mode);
	c->ops = calloc((size_t)argc + 1, sizeof(*c->ops));
	if (c->ops == NULL) {
		errmsg("out of memory");
		return EXIT_FAIL;
	}
	opterr = 0;
	while (optind < argc) {
		if (dashdash || is_raw_operand(c, argv[optind])) {
			c->ops[c->nops++] = argv[optind++];
			continue;
		}
		before = optind;
		ch = getopt_long(argc, argv, shortopts, lo, NULL);
		if (ch == -1) {
			if (optind > before &&
			    strcmp(argv[optind - 1], "--") == 0)
				dashdash = true;
			else if (optind < argc)
				c->ops[c->nops++] = argv[optind++];
			continue;
		}
		switch (ch) {
		case 'h':
			usage_help(c->mode);
			return EXIT_OK;
		case 'V':
			printf("%s (%s) %s\n", c->mode == MODE_STAT ?
			    "aoe-stat" : c->mode == MODE_CFG ? "aoecfg" :
			    "aoectl", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_OK;
		case 'l':
			c->long_fmt = true;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case 'a':
			/* aoe-stat -a: we always show every target. */
			break;
		case 'c':
			if (parse_ccmd(optarg, &c->sub) < 0)
				return usage_error("invalid config "
				    "command '%s' (read, test, prefix, set or "
				    "fset)", optarg);
			c->action = optarg;
			break;
		case 's':
			c->str = optarg;
			c->str_len = strlen(optarg);
			break;
		case 't':
			/* aoecfg -t SECS is --wait */
			if (rt_parse_option(&c->opts, RT_OPT_WAIT, optarg) <= 0)
				return EXIT_USAGE;
			break;
		case ':':
			return usage_error("option '%s' requires an argument",
			    argv[optind - 1]);
		case '?':
			/* glibc: optopt 0 for an unknown long option */
			if (optopt != 0 &&
			    strncmp(argv[optind - 1], "--", 2) == 0 &&
			    strchr(argv[optind - 1], '=') != NULL)
				return usage_error("option '%s' takes no "
				    "argument", argv[optind - 1]);
			if (optopt > 0 && optopt < 0x100)
				return usage_error("invalid option -- '%c'",
				    optopt);
			return usage_error("invalid option '%s'",
			    argv[optind - 1]);
		default:
			/* -I, -w, -v and the common long options */
			r = rt_parse_option(&c->opts, ch, optarg);
			if (r < 0)
				return EXIT_USAGE;
			if (r == 0)
				return usage_error("unhandled option '%s'",
				    argv[optind - 1]);
			break;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ operands */

static int
add_named(struct ctl *c, const char *s)
{
	struct named *n;

	n = &c->named[c->nnamed];
	if (target_name_parse(s, &n->shelf, &n->slot) < 0)
		return usage_error("invalid target '%s' (expected "
		    "eSHELF.SLOT such as e1.0, shelf 0-65534, slot 0-254)", s);
	target_name_fmt(n->name, sizeof(n->name), n->shelf, n->slot);
	c->nnamed++;
	return -1;
}

static int
parse_macs(struct ctl *c, char **args, int n, uint8_t (*macs)[6],
    unsigned max)
{
	if ((unsigned)n > max)
		return usage_error("too many MAC addresses (at most "
		    "%u)", max);
	for (int i = 0; i < n; i++)
		if (mac_parse(args[i], macs[i]) < 0)
			return usage_error("invalid MAC address '%s'",
			    args[i]);
	return -1;
}

static int
parse_config_args(struct ctl *c, char **args, int n)
{
	if (parse_ccmd(c->action, &c->sub) < 0)
		return usage_error("unknown config action '%s'",
		    c->action);
	if (c->sub == AOE_CCMD_READ) {
		if (n != 0)
			return usage_error("config read takes no "
			    "argument");
		return -1;
	}
	if (n != 1)
		return usage_error("config %s takes one string",
		    c->action);
	c->str = args[0];
	c->str_len = strlen(args[0]);
	if (c->str_len > AOE_CFG_STR_MAX)
		return usage_error("config string too long (%zu "
		    "bytes, at most %u)", c->str_len, AOE_CFG_STR_MAX);
	return -1;
}

static int
parse_mask_args(struct ctl *c, char **args, int n)
{
	uint8_t dcmd;

	c->mreq.mcmd = AOE_MCMD_EDIT;
	if (strcmp(c->action, "read") == 0) {
		c->mreq.mcmd = AOE_MCMD_READ;
		if (n != 0)
			return usage_error("mask read takes no "
			    "argument");
		return -1;
	}
	if (strcmp(c->action, "add") == 0)
		dcmd = AOE_DCMD_ADD;
	else if (strcmp(c->action, "del") == 0)
		dcmd = AOE_DCMD_DEL;
	else if (strcmp(c->action, "edit") == 0)
		dcmd = AOE_DCMD_NONE;
	else
		return usage_error("unknown mask action '%s'",
		    c->action);
	if (n == 0)
		return usage_error("mask %s needs at least one MAC",
		    c->action);
	if (n > AOE_MASK_MAX)
		return usage_error("too many MAC addresses (at most "
		    "%u)", AOE_MASK_MAX);
	for (int i = 0; i < n; i++) {
		struct aoe_mask_dir *d = &c->mreq.dir[i];
		const char *s = args[i];

		d->dcmd = dcmd;
		if (dcmd == AOE_DCMD_NONE) {
			if (s[0] != '+' && s[0] != '-')
				return usage_error("mask edit "
				    "directive '%s' must be +MAC or -MAC", s);
			d->dcmd = s[0] == '+' ? AOE_DCMD_ADD : AOE_DCMD_DEL;
			s++;
		}
		if (mac_parse(s, d->mac) < 0)
			return usage_error("invalid MAC address '%s'",
			    s);
	}
	c->mreq.ndir = (uint8_t)n;
	return -1;
}

static int
parse_reserve_args(struct ctl *c, char **args, int n)
{
	int st;

	if (strcmp(c->action, "read") == 0 ||
	    strcmp(c->action, "release") == 0 ||
	    strcmp(c->action, "frelease") == 0) {
		if (n != 0)
			return usage_error("reserve %s takes no "
			    "argument", c->action);
		/*
		 * release = set with an empty list (AoEr11 3.4), frelease
		 * = force set with one: another host's (dead?) too.
		 */
		c->rreq.rcmd = strcmp(c->action, "read") == 0 ?
		    AOE_RCMD_READ : c->action[0] == 'f' ? AOE_RCMD_FSET :
		    AOE_RCMD_SET;
		c->rreq.nmacs = 0;
		return -1;
	}
	if (strcmp(c->action, "set") == 0)
		c->rreq.rcmd = AOE_RCMD_SET;
	else if (strcmp(c->action, "fset") == 0)
		c->rreq.rcmd = AOE_RCMD_FSET;
	else
		return usage_error("unknown reserve action '%s'",
		    c->action);
	st = parse_macs(c, args, n, c->rreq.macs, AOE_RESV_MAX);
	if (st >= 0)
		return st;
	c->rreq.nmacs = (uint8_t)n;
	c->resv_self = n == 0;
	return -1;
}

/*
 * aoecfg's shelf or slot: decimal, or hexadecimal after 0x (aoetools reads
 * them with strtoul, so 0xffff works there), 0..max.
 */
static int
parse_cfg_num(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return parse_uint(s, 0, max, out);
	for (p = s + 2; *p != '\0'; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a') + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A') + 10;
		else
			return -EINVAL;
		v = v * 16 + d;
		if (v > max)
			return -ERANGE;
	}
	if (p == s + 2)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_aoecfg_operands(struct ctl *c)
{
	unsigned long long v;
	int n = c->nops, i = 0;

	if (c->action == NULL) {
		c->action = "read";
		c->sub = AOE_CCMD_READ;
	}
	if (c->str == NULL)
		c->str = "";
	c->str_len = strlen(c->str);
	if (c->str_len > AOE_CFG_STR_MAX)
		return usage_error("config string too long (%zu "
		    "bytes, at most %u)", c->str_len, AOE_CFG_STR_MAX);
	if (n > 3)
		return usage_error("too many arguments");
	c->cfg_shelf = AOE_SHELF_ANY;
	c->cfg_slot = AOE_SLOT_ANY;
	if (n >= 2) {
		struct named *t = &c->named[0];

		/* As aoetools: 0xffff and 0xff are the wildcards (any). */
		if (parse_cfg_num(c->ops[0], AOE_SHELF_ANY, &v) < 0)
			return usage_error("invalid shelf '%s' "
			    "(0-65535, 65535 any)", c->ops[0]);
		c->cfg_shelf = (uint16_t)v;
		if (parse_cfg_num(c->ops[1], AOE_SLOT_ANY, &v) < 0)
			return usage_error("invalid slot '%s' "
			    "(0-255, 255 any)", c->ops[1]);
		c->cfg_slot = (uint8_t)v;
		i = 2;
		if (c->cfg_shelf != AOE_SHELF_ANY &&
		    c->cfg_slot != AOE_SLOT_ANY) {
			t->shelf = c->cfg_shelf;
			t->slot = c->cfg_slot;
			target_name_fmt(t->name, sizeof(t->name), t->shelf,
			    t->slot);
			c->nnamed = 1;
			c->cfg_one = true;
		}
	}
	if (i < n) {
		const char *netif = c->ops[i];

		if (netif[0] >= '0' && netif[0] <= '9')
			return usage_error("\"%s\" is not a valid "
			    "network interface", netif);
		if (rt_parse_option(&c->opts, 'I', netif) <= 0)
			return EXIT_USAGE;
	}
	return -1;
}

/* Work out the command from the operands.  Returns -1 or an exit status. */
static int
parse_operands(struct ctl *c)
{
	char **ops = c->ops;
	int i = 0, st;

	c->named = calloc((size_t)c->nops + 1, sizeof(*c->named));
	if (c->named == NULL) {
		errmsg("out of memory");
		return EXIT_FAIL;
	}
	if (c->mode == MODE_CFG) {
		c->cmd = CMD_CONFIG;
		return parse_aoecfg_operands(c);
	}
	c->cmd = CMD_STAT;
	if (c->mode == MODE_CTL && c->nops > 0) {
		if (strcmp(ops[0], "stat") == 0) {
			i = 1;
		} else if (strcmp(ops[0], "config") == 0) {
			c->cmd = CMD_CONFIG;
		} else if (strcmp(ops[0], "mask") == 0) {
			c->cmd = CMD_MASK;
		} else if (strcmp(ops[0], "reserve") == 0) {
			c->cmd = CMD_RESERVE;
		} else if (strcmp(ops[0], "check") == 0) {
			c->cmd = CMD_CHECK;
			i = 1;
		} else if (strcmp(ops[0], "abft") == 0) {
			c->cmd = CMD_ABFT;
		} else {
			uint16_t sh;
			uint8_t sl;

			if (target_name_parse(ops[0], &sh, &sl) < 0)
				return usage_error("unknown command "
				    "'%s'", ops[0]);
		}
	}
	if (c->cmd == CMD_ABFT) {
		if (c->nops > 2)
			return usage_error("abft takes at most one FILE");
		c->abft_file = c->nops == 2 ? ops[1] : NULL;
		return -1;
	}
	if (c->cmd == CMD_CHECK && (c->long_fmt || c->json))
		return usage_error("-l and --json go with stat only");
	if (c->cmd == CMD_STAT || c->cmd == CMD_CHECK) {
		for (; i < c->nops; i++) {
			st = add_named(c, ops[i]);
			if (st >= 0)
				return st;
		}
		return -1;
	}
	if (c->long_fmt || c->json)
		return usage_error("-l and --json go with stat only");
	if (c->nops < 2)
		return usage_error("%s needs a TARGET", ops[0]);
	st = add_named(c, ops[1]);
	if (st >= 0)
		return st;
	c->action = c->nops >= 3 ? ops[2] : "read";
	i = c->nops >= 3 ? 3 : 2;
	switch (c->cmd) {
	case CMD_CONFIG:
		return parse_config_args(c, ops + i, c->nops - i);
	case CMD_MASK:
		return parse_mask_args(c, ops + i, c->nops - i);
	default:
		return parse_reserve_args(c, ops + i, c->nops - i);
	}
}

/* ------------------------------------------------------------ run time */

static void
on_event(void *arg, struct target *t, int event)
{
	struct ctl *c = arg;

	(void)t;
	(void)event;
	c->changed = true;
}

static const struct engine_ops front_ops = {
	.event = on_event,
};

/* The interfaces in use, "a,b". */
static char *
iflist(const struct ctl *c, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < rt_nlinks(c->rt) && off < len; i++) {
		const struct link *l = rt_link(c->rt, i);
		int n;

		n = snprintf(buf + off, len - off, "%s%s", i ? "," : "",
		    l->ifname);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/*
 * How long after the named targets are ready other paths may still be
 * answering discovery: 4 smoothed round trips of the slowest of them,
 * 5 ms at least, 100 ms at most.
 */
static uint64_t
path_settle_ns(struct ctl *c)
{
	struct target_info ti;
	uint64_t srtt = 0, d;

	for (unsigned i = 0; i < c->nnamed; i++) {
		struct target *t = engine_target_find(c->e, c->named[i].shelf,
		    c->named[i].slot);

		if (t == NULL)
			continue;
		engine_target_info(t, &ti);
		srtt = MAX(srtt, ti.srtt_ns);
	}
	d = 4 * srtt;
	return MIN(MAX(d, 5 * NSEC_PER_MSEC), 100 * NSEC_PER_MSEC);
}

static bool
settled(struct ctl *c, enum wait_kind k, uint64_t now, uint64_t deadline,
    uint64_t *next)
{
	unsigned nnew = 0, missing = 0;
	struct target *t;

	if (c->nnamed > 0 && k != WAIT_ALL) {
		for (unsigned i = 0; i < c->nnamed; i++) {
			t = engine_target_find(c->e, c->named[i].shelf,
			    c->named[i].slot);
			if (t == NULL)
				missing++;
			else if (k == WAIT_STAT &&
			    target_state(t) == TARGET_NEW)
				nnew++;
		}
		if (missing == 0 && nnew == 0) {
			if (k != WAIT_STAT)
				return true;
			/*
			 * Further paths answered the same broadcast: give
			 * them a few round trips to show up in the list.
			 */
			if (c->settle_until == 0)
				c->settle_until = now + path_settle_ns(c);
			if (now >= c->settle_until || now >= deadline)
				return true;
			*next = MIN(c->settle_until, deadline);
			return false;
		}
	} else if (k == WAIT_STAT) {
		for (t = engine_target_next(c->e, NULL); t != NULL;
		    t = engine_target_next(c->e, t))
			if (target_state(t) == TARGET_NEW)
				nnew++;
	}
	if (now < deadline) {
		*next = deadline;
		return false;
	}
	if (nnew == 0 || now >= deadline + GRACE_NS)
		return true;
	*next = deadline + GRACE_NS;
	return false;
}

/* Run the loop until discovery has settled as `k` asks. */
static int
wait_targets(struct ctl *c, enum wait_kind k)
{
	uint64_t deadline, next = 0;
	int r;

	deadline = loop_now() + c->opts.wait_ns;
	while (!settled(c, k, loop_now(), deadline, &next)) {
		c->changed = false;
		r = rt_run_until(c->rt, &c->changed, next);
		if (r < 0 && r != -ETIMEDOUT) {
			errmsg("event loop: %s", strerror(-r));
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

/*
 * The first answer to r: rc, and whether a response came with it (later
 * answers are dropped).  True when the caller is to keep the response in
 * r->u.
 */
static bool
req_answer(struct req *r, int rc, bool have)
{
	struct ctl *c = r->c;

	if (r->done)
		return false;
	r->rc = rc;
	r->done = true;
	if (have)
		r->have = true;
	if (c->pending > 0 && --c->pending == 0)
		c->all_done = true;
	return have;
}

static void
cfg_done(void *arg, int rc, const struct aoe_cfg *cfg)
{
	struct req *r = arg;

	if (req_answer(r, rc, cfg != NULL))
		r->u.cfg = *cfg;
}

static void
mask_done(void *arg, int rc, const struct aoe_mask *m)
{
	struct req *r = arg;

	if (req_answer(r, rc, m != NULL))
		r->u.mask = *m;
}

static void
resv_done(void *arg, int rc, const struct aoe_resv *rv)
{
	struct req *r = arg;

	if (req_answer(r, rc, rv != NULL))
		r->u.resv = *rv;
}

static int
req_submit(struct ctl *c, struct req *r, const struct aoe_resv *resv)
{
	uint64_t now = loop_now();
	int rc;

	switch (c->cmd) {
	case CMD_CONFIG:
		rc = engine_config(c->e, r->t, c->sub, c->str, c->str_len,
		    c->opts.wait_ns, cfg_done, r, now);
		break;
	case CMD_MASK:
		rc = engine_mask(c->e, r->t, &c->mreq, c->opts.wait_ns,
		    mask_done, r, now);
		break;
	default:
		rc = engine_reserve(c->e, r->t, resv, c->opts.wait_ns,
		    resv_done, r, now);
		break;
	}
	if (rc < 0) {
		r->rc = rc;
		r->done = true;
		return rc;
	}
	c->pending++;
	return 0;
}

/* Run the loop until every submitted request has its answer. */
static int
run_requests(struct ctl *c)
{
	uint64_t until;
	int r;

	c->all_done = c->pending == 0;
	until = loop_now() + c->opts.wait_ns + SLACK_NS;
	while (!c->all_done) {
		r = rt_run_until(c->rt, &c->all_done, until);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0) {
			errmsg("event loop: %s", strerror(-r));
			return EXIT_FAIL;
		}
	}
	/* The engine should have timed them out; make sure. */
	for (unsigned i = 0; i < c->nreqs; i++) {
		if (!c->reqs[i].done) {
			c->reqs[i].done = true;
			c->reqs[i].rc = -ETIMEDOUT;
		}
	}
	return EXIT_OK;
}

static bool
is_aoe_err(int rc, uint8_t code)
{
	return rc < 0 && rc == aoe_error_errno(code);
}

/* The AoE error behind rc, or 0. */
static uint8_t
aoe_err_of(int rc)
{
	for (uint8_t code = 1; code <= AOE_ERR_RESERVED; code++)
		if (is_aoe_err(rc, code))
			return code;
	return 0;
}

static const char *
rc_str(int rc)
{
	uint8_t code = aoe_err_of(rc);

	return code ? aoe_error_str(code) : strerror(-rc);
}

static double
wait_secs(const struct ctl *c)
{
	return (double)c->opts.wait_ns / (double)NSEC_PER_SEC;
}

/* ------------------------------------------------------------ output */

static const char *
state_str(enum target_state s)
{
	switch (s) {
	case TARGET_UP:
		return "up";
	case TARGET_DEAD:
		return "down";
	default:
		return "init";
	}
}

static const char *
path_ifname(const struct ctl *c, const struct target_path *p)
{
	const char *s = engine_interface_name(c->e, p->ifidx);

	return s != NULL ? s : "?";
}

/* Is path i the first one on its interface? */
static bool
path_first_if(const struct target_info *ti, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (ti->paths[j].ifidx == ti->paths[i].ifidx)
			return false;
	return true;
}

static bool
path_first_mac(const struct target_info *ti, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (memcmp(ti->paths[j].mac, ti->paths[i].mac, 6) == 0)
			return false;
	return true;
}

static unsigned
info_npaths(const struct target_info *ti)
{
	return MIN(ti->npaths, (unsigned)ENGINE_MAX_PATHS);
}

static char *
path_iflist(const struct ctl *c, const struct target_info *ti, char *buf,
    size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = '\0';
	for (unsigned i = 0; i < info_npaths(ti) && off < len; i++) {
		if (!path_first_if(ti, i))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
		    path_ifname(c, &ti->paths[i]));
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

static const char *
info_name(const struct target_info *ti, char *buf, size_t len)
{
	if (ti->name[0] != '\0' && memchr(ti->name, '\0', sizeof(ti->name)))
		return ti->name;
	return target_name_fmt(buf, len, ti->shelf, ti->slot);
}

static void
print_line(const struct ctl *c, const struct target_info *ti)
{
	char size[32], namebuf[16], ifs[IFLIST_LEN], payload[16];
	const char *name = info_name(ti, namebuf, sizeof(namebuf));

	if (ti->identified)
		size_fmt_gb(size, sizeof(size), ti->size);
	else
		snprintf(size, sizeof(size), "(NA)");
	path_iflist(c, ti, ifs, sizeof(ifs));
	if (c->mode != MODE_STAT) {
		printf("%10s %15s %-8s %s\n", name, size, ifs,
		    state_str(ti->state));
		return;
	}
	/*
	 * aoe-stat: aoetools' columns (aoe-stat 34 and later, on an aoe
	 * driver with a payload file: current kernels'), which scripts
	 * read by position; payload is the data bytes in one frame.
	 */
	if (ti->sectors_per_frame > 0)
		snprintf(payload, sizeof(payload), "%u",
		    ti->sectors_per_frame * ATA_SECTOR_SIZE);
	else
		snprintf(payload, sizeof(payload), "(NA)");
	printf("%10s %15s %10s %-5s %-14s\n", name, size, ifs, payload,
	    state_str(ti->state));
}

/* A byte string for a text line: unprintable bytes and '\' as \xNN. */
static void
put_escaped(FILE *f, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\\')
			fprintf(f, "\\x%02x", s[i]);
		else
			fputc(s[i], f);
	}
}

static const char *
yesno(bool b)
{
	return b ? "yes" : "no";
}

static void
print_long(const struct ctl *c, const struct target_info *ti)
{
	const struct ata_ident *id = &ti->ident;
	char mac[MAC_STRLEN], ifs[IFLIST_LEN];
	unsigned np = info_npaths(ti);
	bool first;

	printf("\tshelf: %u\n", ti->shelf);
	printf("\tslot: %u\n", ti->slot);
	printf("\tsize: %" PRIu64 "\n", ti->size);
	printf("\tsectors: %" PRIu64 "\n", ti->identified ? id->sectors : 0);
	printf("\tstate: %s\n", state_str(ti->state));
	printf("\tinterfaces: %s\n", path_iflist(c, ti, ifs, sizeof(ifs)));
	fputs("\tmacs: ", stdout);
	first = true;
	for (unsigned i = 0; i < np; i++) {
		if (!path_first_mac(ti, i))
			continue;
		printf("%s%s", first ? "" : ",",
		    mac_fmt(mac, ti->paths[i].mac));
		first = false;
	}
	fputs("\n\tpaths: ", stdout);
	for (unsigned i = 0; i < np; i++)
		printf("%s%s/%s", i ? "," : "", path_ifname(c, &ti->paths[i]),
		    mac_fmt(mac, ti->paths[i].mac));
	fputc('\n', stdout);
	fputs("\tconflicts: ", stdout);
	first = true;
	for (unsigned i = 0; i < np; i++) {
		if (!ti->paths[i].conflict)
			continue;
		printf("%s%s/%s", first ? "" : ",",
		    path_ifname(c, &ti->paths[i]),
		    mac_fmt(mac, ti->paths[i].mac));
		first = false;
	}
	fputc('\n', stdout);
	printf("\tbufcnt: %u\n", ti->bufcnt);
	printf("\tfwver: 0x%04x\n", ti->fwver);
	printf("\tscnt: %u\n", ti->scnt);
	printf("\tsectors_per_frame: %u\n", ti->sectors_per_frame);
	fputs("\tmodel: ", stdout);
	put_escaped(stdout, (const uint8_t *)id->model,
	    strnlen(id->model, sizeof(id->model)));
	fputs("\n\tserial: ", stdout);
	put_escaped(stdout, (const uint8_t *)id->serial,
	    strnlen(id->serial, sizeof(id->serial)));
	fputs("\n\tfirmware: ", stdout);
	put_escaped(stdout, (const uint8_t *)id->firmware,
	    strnlen(id->firmware, sizeof(id->firmware)));
	fputc('\n', stdout);
	printf("\tlba48: %s\n", yesno(id->lba48));
	printf("\tflush: %s\n", yesno(id->flush));
	printf("\tflush_ext: %s\n", yesno(id->flush_ext));
	printf("\trotation: %u\n", id->rotation);
	fputs("\tconfig: ", stdout);
	put_escaped(stdout, ti->cfg, MIN(ti->cfg_len, AOE_CFG_STR_MAX));
	fputc('\n', stdout);
	printf("\tread_only: %s\n", yesno(ti->read_only));
	printf("\tsrtt_us: %" PRIu64 "\n", ti->srtt_ns / 1000);
	printf("\trto_us: %" PRIu64 "\n", ti->rto_ns / 1000);
	printf("\twindow: %u\n", ti->window);
	printf("\tretransmits: %" PRIu64 "\n", ti->retransmits);
}

/*
 * A JSON string.  Bytes are taken as Latin-1: control bytes and bytes
 * from 0x7f up become \u00XX, so any input gives valid JSON.
 */
static void
json_str(FILE *f, const uint8_t *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fprintf(f, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			fprintf(f, "\\u%04x", s[i]);
		else
			fputc(s[i], f);
	}
	fputc('"', f);
}

static void
json_cstr(FILE *f, const char *s, size_t max)
{
	json_str(f, (const uint8_t *)s, strnlen(s, max));
}

static void
json_key(FILE *f, const char *key)
{
	fprintf(f, ",\"%s\":", key);
}

static void
print_json(const struct ctl *c, const struct target_info *ti)
{
	const struct ata_ident *id = &ti->ident;
	char mac[MAC_STRLEN], name[16];
	unsigned np = info_npaths(ti);
	bool first;
	FILE *f = stdout;

	fputs("{\"name\":", f);
	json_cstr(f, info_name(ti, name, sizeof(name)), sizeof(name));
	fprintf(f, ",\"shelf\":%u,\"slot\":%u", ti->shelf, ti->slot);
	fprintf(f, ",\"size\":%" PRIu64 ",\"sectors\":%" PRIu64, ti->size,
	    ti->identified ? id->sectors : 0);
	fprintf(f, ",\"state\":\"%s\"", state_str(ti->state));
	json_key(f, "interfaces");
	fputc('[', f);
	first = true;
	for (unsigned i = 0; i < np; i++) {
		if (!path_first_if(ti, i))
			continue;
		if (!first)
			fputc(',', f);
		json_cstr(f, path_ifname(c, &ti->paths[i]), IF_NAMESIZE);
		first = false;
	}
	fputc(']', f);
	json_key(f, "macs");
	fputc('[', f);
	first = true;
	for (unsigned i = 0; i < np; i++) {
		if (!path_first_mac(ti, i))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ",",
		    mac_fmt(mac, ti->paths[i].mac));
		first = false;
	}
	fputc(']', f);
	json_key(f, "paths");
	fputc('[', f);
	for (unsigned i = 0; i < np; i++) {
		fputs(i ? ",{\"interface\":" : "{\"interface\":", f);
		json_cstr(f, path_ifname(c, &ti->paths[i]), IF_NAMESIZE);
		fprintf(f, ",\"mac\":\"%s\",\"mtu\":%u}",
		    mac_fmt(mac, ti->paths[i].mac), ti->paths[i].mtu);
	}
	fputc(']', f);
	json_key(f, "conflicts");
	fputc('[', f);
	first = true;
	for (unsigned i = 0; i < np; i++) {
		if (!ti->paths[i].conflict)
			continue;
		fputs(first ? "{\"interface\":" : ",{\"interface\":", f);
		json_cstr(f, path_ifname(c, &ti->paths[i]), IF_NAMESIZE);
		fprintf(f, ",\"mac\":\"%s\"}", mac_fmt(mac, ti->paths[i].mac));
		first = false;
	}
	fputc(']', f);
	fprintf(f, ",\"bufcnt\":%u,\"fwver\":%u,\"scnt\":%u", ti->bufcnt,
	    ti->fwver, ti->scnt);
	fprintf(f, ",\"sectors_per_frame\":%u", ti->sectors_per_frame);
	json_key(f, "model");
	json_cstr(f, id->model, sizeof(id->model));
	json_key(f, "serial");
	json_cstr(f, id->serial, sizeof(id->serial));
	json_key(f, "firmware");
	json_cstr(f, id->firmware, sizeof(id->firmware));
	fprintf(f, ",\"lba48\":%s,\"flush\":%s,\"flush_ext\":%s",
	    id->lba48 ? "true" : "false", id->flush ? "true" : "false",
	    id->flush_ext ? "true" : "false");
	fprintf(f, ",\"rotation\":%u", id->rotation);
	json_key(f, "config");
	json_str(f, ti->cfg, MIN(ti->cfg_len, AOE_CFG_STR_MAX));
	fprintf(f, ",\"read_only\":%s", ti->read_only ? "true" : "false");
	fprintf(f, ",\"srtt_us\":%" PRIu64 ",\"rto_us\":%" PRIu64,
	    ti->srtt_ns / 1000, ti->rto_ns / 1000);
	fprintf(f, ",\"window\":%u,\"retransmits\":%" PRIu64 "}", ti->window,
	    ti->retransmits);
}

static bool
is_named(const struct ctl *c, const struct target_info *ti)
{
	if (c->nnamed == 0)
		return true;
	for (unsigned i = 0; i < c->nnamed; i++)
		if (c->named[i].shelf == ti->shelf &&
		    c->named[i].slot == ti->slot)
			return true;
	return false;
}

/* Order by interface name, then MAC: the same listing on every run. */
static int
path_cmp(const struct ctl *c, const struct target_path *a,
    const struct target_path *b)
{
	int d = strcmp(path_ifname(c, a), path_ifname(c, b));

	return d != 0 ? d : memcmp(a->mac, b->mac, 6);
}

/*
 * The engine keeps a target's paths in the order they answered first,
 * which varies from run to run; list them sorted (a few, insertion sort).
 */
static void
sort_paths(const struct ctl *c, struct target_info *ti)
{
	unsigned n = info_npaths(ti);

	for (unsigned i = 1; i < n; i++) {
		struct target_path p = ti->paths[i];
		unsigned j = i;

		for (; j > 0 && path_cmp(c, &ti->paths[j - 1], &p) > 0; j--)
			ti->paths[j] = ti->paths[j - 1];
		ti->paths[j] = p;
	}
}

/* The next target after prev that the command names (any when none). */
static struct target *
next_named(struct ctl *c, struct target *prev, struct target_info *ti)
{
	for (struct target *t = engine_target_next(c->e, prev); t != NULL;
	    t = engine_target_next(c->e, t)) {
		memset(ti, 0, sizeof(*ti));
		engine_target_info(t, ti);
		if (is_named(c, ti)) {
			sort_paths(c, ti);
			return t;
		}
	}
	return NULL;
}

/*
 * Say which named targets were not found (each once), or that none was
 * when none was named and none shown; EXIT_NOTFOUND then, else st.
 */
static int
report_missing(struct ctl *c, unsigned shown, int st)
{
	char ifs[IFLIST_LEN];

	iflist(c, ifs, sizeof(ifs));
	for (unsigned i = 0; i < c->nnamed; i++) {
		bool dup = false;

		if (engine_target_find(c->e, c->named[i].shelf,
		    c->named[i].slot) != NULL)
			continue;
		for (unsigned j = 0; j < i; j++)
			if (c->named[j].shelf == c->named[i].shelf &&
			    c->named[j].slot == c->named[i].slot)
				dup = true;
		if (!dup)
			errmsg("%s: target not found on %s", c->named[i].name,
			    ifs);
		st = EXIT_NOTFOUND;
	}
	if (c->nnamed == 0 && shown == 0) {
		errmsg("no AoE targets found on %s", ifs);
		st = EXIT_NOTFOUND;
	}
	return st;
}

static int
run_stat(struct ctl *c)
{
	struct target_info *ti;
	unsigned shown = 0;
	int st;

	st = wait_targets(c, WAIT_STAT);
	if (st != EXIT_OK)
		return st;
	ti = malloc(sizeof(*ti));
	if (ti == NULL) {
		errmsg("out of memory");
		return EXIT_FAIL;
	}
	if (c->json)
		fputs("{\"targets\":[", stdout);
	for (struct target *t = next_named(c, NULL, ti); t != NULL;
	    t = next_named(c, t, ti)) {
		if (c->json) {
			if (shown > 0)
				fputc(',', stdout);
			print_json(c, ti);
		} else {
			print_line(c, ti);
			if (c->long_fmt)
				print_long(c, ti);
		}
		shown++;
	}
	if (c->json)
		fputs("]}\n", stdout);
	free(ti);
	return report_missing(c, shown, st);
}

/* ------------------------------------------------------------ abft */

/* The name of the interface that has MAC, into buf; false: none. */
static bool
ifname_of_mac(const uint8_t mac[6], char buf[IF_NAMESIZE])
{
	struct if_nameindex *ifs;
	struct ifreq ifr;
	bool found = false;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ifs = if_nameindex();
	for (unsigned i = 0; ifs != NULL && ifs[i].if_index != 0; i++) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s",
		    ifs[i].if_name);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ||
		    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER ||
		    memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) != 0)
			continue;
		snprintf(buf, IF_NAMESIZE, "%s", ifs[i].if_name);
		found = true;
		break;
	}
	if (ifs != NULL)
		if_freenameindex(ifs);
	close(fd);
	return found;
}

/*
 * Read up to cap bytes of path, from offset off, into buf; the count or
 * -errno.
 */
static ssize_t
read_file_at(const char *path, off_t off, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < cap) {
		n = pread(fd, buf + got, cap - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

#define ABFT_SCAN_LEN (ABFT_SCAN_END - ABFT_SCAN_START)

/*
 * The aBFT from FILE (the table itself, or a dump of memory to search), or
 * else from the ACPI tables in sysfs (iPXE for UEFI), or else from base
 * memory through /dev/mem (iPXE for BIOS; x86 only: elsewhere a read of
 * that physical window may fault).  Says where into src.  Returns an exit
 * status, having printed why when it is not EXIT_OK.
 */
static int
abft_load(const struct ctl *c, struct abft *a, char *src, size_t srclen)
{
	static uint8_t buf[ABFT_SCAN_LEN];
	const char *path = c->abft_file != NULL ? c->abft_file :
	    ABFT_SYSFS_PATH;
	size_t off;
	ssize_t n;
	int rc;

	n = read_file_at(path, 0, buf, sizeof(buf));
	if (n >= 0) {
		rc = abft_decode(buf, (size_t)n, a);
		off = 0;
		if (rc == -ENOMSG && (size_t)n > ABFT_LEN) {
			rc = abft_find(buf, (size_t)n, a, &off);
			if (rc == -ENOENT)
				rc = -ENOMSG;
		}
		if (rc < 0) {
			errmsg("%s: %s (%zd bytes)", path, abft_strerror(rc),
			    n);
			return EXIT_FAIL;
		}
		if (off == 0)
			snprintf(src, srclen, "%s", path);
		else
			snprintf(src, srclen, "%s+0x%zx", path, off);
		return EXIT_OK;
	}
	if (n != -ENOENT || c->abft_file != NULL) {
		errmsg("%s: %s", path, strerror((int)-n));
		if (n == -ENOENT)
			return EXIT_NOTFOUND;
		return n == -EACCES || n == -EPERM ? EXIT_NOPERM : EXIT_FAIL;
	}
#if defined(__x86_64__) || defined(__i386__)
	path = "/dev/mem";
	n = read_file_at(path, ABFT_SCAN_START, buf, sizeof(buf));
	if (n < 0 && n != -ENOENT) {
		errmsg("no aBFT in the ACPI tables, and %s: %s (base memory, "
		    "where iPXE for BIOS leaves it, needs root)", path,
		    strerror((int)-n));
		return n == -EACCES || n == -EPERM ? EXIT_NOPERM : EXIT_FAIL;
	}
	rc = n < 0 ? -ENOENT : abft_find(buf, (size_t)n, a, &off);
	if (rc == 0) {
		snprintf(src, srclen, "%s@0x%zx", path,
		    (size_t)ABFT_SCAN_START + off);
		return EXIT_OK;
	}
	if (rc != -ENOENT) {
		errmsg("%s: base memory: %s", path, abft_strerror(rc));
		return EXIT_FAIL;
	}
#endif
	errmsg("no aBFT in the ACPI tables or in base memory (not booted by "
	    "iPXE sanboot from AoE?)");
	return EXIT_NOTFOUND;
}

/*
 * aoectl abft [FILE]: the target and the NIC of an iPXE sanboot, from the
 * aBFT, as eSHELF.SLOT@MAC (what the initramfs's aoe= takes), or every
 * field.  No network: start() is never called for it.
 */
static int
run_abft(struct ctl *c)
{
	char name[16], mac[MAC_STRLEN], ifname[IF_NAMESIZE], src[PATH_MAX];
	struct abft a;
	bool have_if;
	int st;

	st = abft_load(c, &a, src, sizeof(src));
	if (st != EXIT_OK)
		return st;
	target_name_fmt(name, sizeof(name), a.shelf, a.slot);
	mac_fmt(mac, a.mac);
	have_if = ifname_of_mac(a.mac, ifname);
	if (c->json) {
		fputs("{\"name\":", stdout);
		json_cstr(stdout, name, sizeof(name));
		printf(",\"shelf\":%u,\"slot\":%u", a.shelf, a.slot);
		json_key(stdout, "mac");
		json_cstr(stdout, mac, sizeof(mac));
		json_key(stdout, "interface");
		if (have_if)
			json_cstr(stdout, ifname, sizeof(ifname));
		else
			fputs("null", stdout);
		json_key(stdout, "oem_id");
		json_cstr(stdout, a.oem_id, sizeof(a.oem_id));
		json_key(stdout, "oem_table_id");
		json_cstr(stdout, a.oem_table_id, sizeof(a.oem_table_id));
		printf(",\"revision\":%u,\"length\":%" PRIu32, a.revision,
		    a.length);
		json_key(stdout, "source");
		json_cstr(stdout, src, sizeof(src));
		fputs("}\n", stdout);
		return EXIT_OK;
	}
	printf("%s@%s\n", name, mac);
	if (!c->long_fmt)
		return EXIT_OK;
	printf("\tshelf: %u\n", a.shelf);
	printf("\tslot: %u\n", a.slot);
	printf("\tmac: %s\n", mac);
	printf("\tinterface: %s\n", have_if ? ifname : "none");
	fputs("\toem_id: ", stdout);
	put_escaped(stdout, (const uint8_t *)a.oem_id, strlen(a.oem_id));
	fputs("\n\toem_table_id: ", stdout);
	put_escaped(stdout, (const uint8_t *)a.oem_table_id,
	    strlen(a.oem_table_id));
	printf("\n\trevision: %u\n", a.revision);
	printf("\tlength: %" PRIu32 "\n", a.length);
	printf("\tsource: %s\n", src);
	return EXIT_OK;
}

static void
print_macs(const uint8_t (*macs)[6], unsigned n)
{
	char buf[MAC_STRLEN];

	for (unsigned i = 0; i < n; i++)
		printf("%s\n", mac_fmt(buf, macs[i]));
}

static int
report_timeout(const struct ctl *c, const struct req *r, const char *what)
{
	errmsg("%s: no answer to %s %s within %g s", r->name, what,
	    c->action, wait_secs(c));
	return EXIT_NOTFOUND;
}

static int
report_config(const struct ctl *c, const struct req *r)
{
	if (r->rc == -ETIMEDOUT) {
		if (c->sub == AOE_CCMD_TEST || c->sub == AOE_CCMD_PREFIX) {
			errmsg("%s: config string does not match", r->name);
			return EXIT_FAIL;
		}
		return report_timeout(c, r, "config");
	}
	if (c->sub == AOE_CCMD_SET &&
	    (r->rc == -EEXIST || is_aoe_err(r->rc, AOE_ERR_CFG_SET))) {
		errmsg("%s: config string already set (use fset)", r->name);
		return EXIT_FAIL;
	}
	if (r->rc < 0) {
		errmsg("%s: config %s: %s", r->name, c->action, rc_str(r->rc));
		return EXIT_FAIL;
	}
	if (!r->have) {
		errmsg("%s: config %s: no response data", r->name, c->action);
		return EXIT_FAIL;
	}
	if (c->sub == AOE_CCMD_READ || c->sub == AOE_CCMD_TEST ||
	    c->sub == AOE_CCMD_PREFIX) {
		fwrite(r->u.cfg.str, 1, MIN(r->u.cfg.len, AOE_CFG_STR_MAX),
		    stdout);
		fputc('\n', stdout);
	}
	return EXIT_OK;
}

static const char *
merror_str(uint8_t merror)
{
	switch (merror) {
	case AOE_MERR_UNSPEC:
		return "unspecified error";
	case AOE_MERR_BADDIR:
		return "bad directive";
	case AOE_MERR_FULL:
		return "mask list full";
	default:
		return "unknown error";
	}
}

static int
report_mask(const struct ctl *c, const struct req *r)
{
	const struct aoe_mask *m = &r->u.mask;

	if (r->rc == -ETIMEDOUT)
		return report_timeout(c, r, "mask");
	if (r->have && m->merror != 0) {
		unsigned i = m->ndir;
		char mac[MAC_STRLEN];

		if (i < c->mreq.ndir)
			errmsg("%s: mask %s failed at directive %u (%c%s): %s",
			    r->name, c->action, i + 1,
			    c->mreq.dir[i].dcmd == AOE_DCMD_DEL ? '-' : '+',
			    mac_fmt(mac, c->mreq.dir[i].mac),
			    merror_str(m->merror));
		else
			errmsg("%s: mask %s failed: %s", r->name, c->action,
			    merror_str(m->merror));
		return EXIT_FAIL;
	}
	if (r->rc < 0) {
		errmsg("%s: mask %s: %s", r->name, c->action, rc_str(r->rc));
		return EXIT_FAIL;
	}
	if (!r->have) {
		errmsg("%s: mask %s: no response data", r->name, c->action);
		return EXIT_FAIL;
	}
	for (unsigned i = 0; i < m->ndir; i++) {
		char mac[MAC_STRLEN];

		printf("%s\n", mac_fmt(mac, m->dir[i].mac));
	}
	return EXIT_OK;
}

static int
report_reserve(const struct ctl *c, const struct req *r)
{
	if (r->rc == -ETIMEDOUT)
		return report_timeout(c, r, "reserve");
	if (is_aoe_err(r->rc, AOE_ERR_RESERVED)) {
		errmsg("%s: target reserved by another host", r->name);
		return EXIT_FAIL;
	}
	if (r->rc < 0) {
		errmsg("%s: reserve %s: %s", r->name, c->action,
		    rc_str(r->rc));
		return EXIT_FAIL;
	}
	if (!r->have) {
		errmsg("%s: reserve %s: no response data", r->name, c->action);
		return EXIT_FAIL;
	}
	print_macs((const uint8_t (*)[6])r->u.resv.macs, r->u.resv.nmacs);
	return EXIT_OK;
}

/*
 * Our own MACs for "reserve set" without MACs: those of the local
 * interfaces on which the target has a path (all interfaces if none).
 */
static void
own_macs(struct ctl *c, struct target *t, struct aoe_resv *rv)
{
	struct target_info *ti;
	unsigned n = 0;

	ti = calloc(1, sizeof(*ti));
	if (ti != NULL)
		engine_target_info(t, ti);
	for (unsigned i = 0; i < rt_nlinks(c->rt) && n < AOE_RESV_MAX; i++) {
		const struct link *l = rt_link(c->rt, i);
		bool on_path = ti == NULL, dup = false;

		for (unsigned p = 0; ti != NULL && p < info_npaths(ti); p++)
			if (strcmp(path_ifname(c, &ti->paths[p]),
			    l->ifname) == 0)
				on_path = true;
		for (unsigned j = 0; j < n; j++)
			if (memcmp(rv->macs[j], l->mac, 6) == 0)
				dup = true;
		if (on_path && !dup)
			memcpy(rv->macs[n++], l->mac, 6);
	}
	if (n == 0) {
		for (unsigned i = 0; i < rt_nlinks(c->rt) && n < AOE_RESV_MAX;
		    i++)
			memcpy(rv->macs[n++], rt_link(c->rt, i)->mac, 6);
	}
	rv->nmacs = (uint8_t)n;
	free(ti);
}

static const char *
cmd_str(enum cmd cmd)
{
	switch (cmd) {
	case CMD_CONFIG:
		return "config";
	case CMD_MASK:
		return "mask";
	case CMD_RESERVE:
		return "reserve";
	default:
		return "stat";
	}
}

static int
alloc_reqs(struct ctl *c, unsigned n)
{
	c->reqs = calloc(n ? n : 1, sizeof(*c->reqs));
	if (c->reqs == NULL) {
		errmsg("out of memory");
		return EXIT_FAIL;
	}
	c->nreqs = n;
	for (unsigned i = 0; i < n; i++)
		c->reqs[i].c = c;
	return EXIT_OK;
}

/*
 * The most mask directives or reserve MACs that one frame carries at mtu
 * (AoEr11 3.3: 8 bytes a directive; 3.4: 6 a MAC), at most 255.
 */
static unsigned
admin_max(enum cmd cmd, unsigned mtu)
{
	size_t room = (size_t)mtu + ETH_HLEN_, hdr, each, n;

	hdr = cmd == CMD_MASK ? AOE_MASK_HDR_LEN : AOE_RESV_HDR_LEN;
	each = cmd == CMD_MASK ? 8 : 6;
	n = room > hdr ? (room - hdr) / each : 0;
	return (unsigned)MIN(n, (size_t)(cmd == CMD_MASK ? AOE_MASK_MAX :
	    AOE_RESV_MAX));
}

/*
 * Whether the mask or reserve command fits in one frame at mtu on ifname
 * (the send fails with EMSGSIZE else); -1 if so, else EXIT_USAGE.
 */
static int
admin_fits(const struct ctl *c, const char *name, unsigned mtu,
    const char *ifname)
{
	unsigned n, max;

	if (c->cmd == CMD_MASK && c->mreq.mcmd == AOE_MCMD_EDIT)
		n = c->mreq.ndir;
	else if (c->cmd == CMD_RESERVE && c->rreq.rcmd != AOE_RCMD_READ)
		n = c->rreq.nmacs;
	else
		return -1;
	max = admin_max(c->cmd, mtu);
	if (n <= max)
		return -1;
	errmsg("%s: %s %s: %u %s do not fit in one frame at MTU %u (%s): "
	    "at most %u", name, cmd_str(c->cmd), c->action, n,
	    c->cmd == CMD_MASK ? "directives" : "MAC addresses", mtu, ifname,
	    max);
	return EXIT_USAGE;
}

/* admin_fits on each of r's target's paths. */
static int
path_fits(struct ctl *c, const struct req *r)
{
	struct target_info *ti = malloc(sizeof(*ti));
	int st = -1;

	if (ti == NULL) {
		errmsg("out of memory");
		return EXIT_FAIL;
	}
	engine_target_info(r->t, ti);
	for (unsigned p = 0; p < info_npaths(ti) && st < 0; p++) {
		const struct link *l = rt_link_of(c->rt, ti->paths[p].ifidx);

		if (l != NULL)
			st = admin_fits(c, r->name, l->mtu, l->ifname);
	}
	free(ti);
	return st;
}

/* config, mask, reserve: one command to one named target. */
static int
run_admin(struct ctl *c)
{
	const struct named *n = &c->named[0];
	const struct link *big = NULL;
	char ifs[IFLIST_LEN];
	struct req *r;
	int st, rc;

	/* Too large for every interface: say so before any wait. */
	for (unsigned i = 0; i < rt_nlinks(c->rt); i++) {
		const struct link *l = rt_link(c->rt, i);

		if (big == NULL || l->mtu > big->mtu)
			big = l;
	}
	st = big != NULL ? admin_fits(c, n->name, big->mtu, big->ifname) : -1;
	if (st >= 0)
		return st;
	st = wait_targets(c, WAIT_FIND);
	if (st != EXIT_OK)
		return st;
	st = alloc_reqs(c, 1);
	if (st != EXIT_OK)
		return st;
	r = &c->reqs[0];
	snprintf(r->name, sizeof(r->name), "%s", n->name);
	r->t = engine_target_find(c->e, n->shelf, n->slot);
	if (r->t == NULL) {
		errmsg("%s: target not found on %s", n->name,
		    iflist(c, ifs, sizeof(ifs)));
		return EXIT_NOTFOUND;
	}
	if (c->cmd == CMD_RESERVE && c->resv_self)
		own_macs(c, r->t, &c->rreq);
	/* The command may go out on any path: it must fit on each. */
	st = path_fits(c, r);
	if (st >= 0)
		return st;
	rc = req_submit(c, r, &c->rreq);
	if (rc < 0) {
		errmsg("%s: %s %s: %s", r->name, cmd_str(c->cmd), c->action,
		    strerror(-rc));
		return EXIT_FAIL;
	}
	st = run_requests(c);
	if (st != EXIT_OK)
		return st;
	switch (c->cmd) {
	case CMD_CONFIG:
		return report_config(c, r);
	case CMD_MASK:
		return report_mask(c, r);
	default:
		return report_reserve(c, r);
	}
}

/* aoetools' aoecfg text for AoE error codes 0-6. */
static const char *const aoecfg_errtab[] = {
	"*GOK*", "*badcmd*", "*badarg*", "*baddev*", "*badcfg*", "*badvers*",
	"*GOK*",
};

/* Whether t is one of aoecfg's SHELF SLOT (either may be a wildcard). */
static bool
cfg_match(const struct ctl *c, const struct target *t)
{
	uint16_t shelf;
	uint8_t slot;

	if (target_name_parse(target_name(t), &shelf, &slot) < 0)
		return false;
	return (c->cfg_shelf == AOE_SHELF_ANY || shelf == c->cfg_shelf) &&
	    (c->cfg_slot == AOE_SLOT_ANY || slot == c->cfg_slot);
}

/* A shelf or slot, or "*" for the wildcard. */
static const char *
cfg_part(char *buf, size_t len, unsigned v, unsigned any)
{
	if (v == any)
		snprintf(buf, len, "*");
	else
		snprintf(buf, len, "%u", v);
	return buf;
}

/* aoecfg: one config command to every target (or those of SHELF SLOT). */
static int
run_aoecfg(struct ctl *c)
{
	bool match_cmd = c->sub == AOE_CCMD_TEST || c->sub == AOE_CCMD_PREFIX;
	unsigned n = 0, ok = 0, failed = 0;
	char ifs[IFLIST_LEN], sh[8], sl[8];
	struct target *t;
	int st;

	iflist(c, ifs, sizeof(ifs));
	st = wait_targets(c, c->cfg_one ? WAIT_FIND : WAIT_ALL);
	if (st != EXIT_OK)
		return st;
	for (t = engine_target_next(c->e, NULL); t != NULL;
	    t = engine_target_next(c->e, t))
		if (cfg_match(c, t))
			n++;
	if (n == 0) {
		if (c->cfg_one)
			errmsg("%s: target not found on %s", c->named[0].name,
			    ifs);
		else if (c->cfg_shelf != AOE_SHELF_ANY ||
		    c->cfg_slot != AOE_SLOT_ANY)
			errmsg("no AoE targets e%s.%s found on %s",
			    cfg_part(sh, sizeof(sh), c->cfg_shelf,
			    AOE_SHELF_ANY), cfg_part(sl, sizeof(sl),
			    c->cfg_slot, AOE_SLOT_ANY), ifs);
		else
			errmsg("no AoE targets found on %s", ifs);
		return EXIT_NOTFOUND;
	}
	st = alloc_reqs(c, n);
	if (st != EXIT_OK)
		return st;
	for (t = engine_target_next(c->e, NULL), n = 0; t != NULL;
	    t = engine_target_next(c->e, t))
		if (cfg_match(c, t) && n < c->nreqs)
			c->reqs[n++].t = t;
	for (unsigned i = 0; i < n; i++) {
		struct req *r = &c->reqs[i];
		int rc;

		snprintf(r->name, sizeof(r->name), "%s", target_name(r->t));
		rc = req_submit(c, r, NULL);
		if (rc < 0)
			errmsg("%s: config %s: %s", r->name, c->action,
			    strerror(-rc));
	}
	st = run_requests(c);
	if (st != EXIT_OK)
		return st;
	for (unsigned i = 0; i < n; i++) {
		struct req *r = &c->reqs[i];
		struct target_info *ti = NULL;
		const char *s;
		size_t len;
		uint8_t code;

		if (r->rc == -ETIMEDOUT) {
			if (!match_cmd) {
				errmsg("%s: no answer to config %s within "
				    "%g s", r->name, c->action, wait_secs(c));
				failed++;
			}
			continue;
		}
		code = aoe_err_of(r->rc);
		if (r->rc < 0 && code == 0) {
			/* submit errors were reported above */
			failed++;
			continue;
		}
		if (code != 0) {
			s = aoecfg_errtab[code < ARRAY_SIZE(aoecfg_errtab) ?
			    code : 0];
			len = strlen(s);
			failed++;
		} else if (r->have) {
			s = (const char *)r->u.cfg.str;
			len = MIN(r->u.cfg.len, AOE_CFG_STR_MAX);
			ok++;
		} else {
			failed++;
			continue;
		}
		if (!c->cfg_one) {
			ti = calloc(1, sizeof(*ti));
			if (ti == NULL) {
				errmsg("out of memory");
				return EXIT_FAIL;
			}
			engine_target_info(r->t, ti);
			printf("%u.%u\t", ti->shelf, ti->slot);
			free(ti);
		}
		fwrite(s, 1, len, stdout);
		fputc('\n', stdout);
	}
	if (match_cmd)
		return ok > 0 ? EXIT_OK : EXIT_FAIL;
	return failed > 0 ? EXIT_FAIL : EXIT_OK;
}

static int
start(struct ctl *c)
{
	const char *err = NULL;
	int r, st;

	r = loop_new(&c->loop);
	if (r < 0) {
		errmsg("cannot create the event loop: %s", strerror(-r));
		return EXIT_FAIL;
	}
	st = rt_new(&c->rt, &c->opts, c->loop, &front_ops, c);
	if (st != 0) {
		c->rt = NULL;
		return st;
	}
	c->e = rt_engine(c->rt);
	pc_set_instance(rt_tag_instance(c->rt));
	/* The links are open: CAP_NET_RAW (and the rest) is not needed. */
	r = priv_drop(NULL, PRIV_NO_NEW_PRIVS, NULL, &err);
	if (r < 0) {
		errmsg("cannot drop privileges: %s: %s", err, strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static enum mode
mode_of(const char *name)
{
	if (strcmp(name, "aoe-stat") == 0)
		return MODE_STAT;
	if (strcmp(name, "aoecfg") == 0)
		return MODE_CFG;
	return MODE_CTL;
}

/* ------------------------------------------------------------ check */

#define CHECK_ROUNDS 3                        /* sends of each probe */
#define CHECK_ROUND_NS (300 * NSEC_PER_MSEC)  /* wait after each */

/* What became of one probe. */
enum probe_state {
	PROBE_WAIT = 0,    /* no answer yet */
	PROBE_OK,          /* answered, whole */
	PROBE_REFUSED,     /* answered with an error (pc_refused) */
};

/* The probes of one target's paths and what came back. */
struct check {
	uint16_t shelf;
	uint8_t slot;
	unsigned npaths;
	unsigned ifidx[ENGINE_MAX_PATHS];
	uint8_t mac[ENGINE_MAX_PATHS][6];
	unsigned want[ENGINE_MAX_PATHS][2];   /* sectors probed: 1..want */
	unsigned use[ENGINE_MAX_PATHS];       /* sectors a frame carries */
	unsigned disk[ENGINE_MAX_PATHS];      /* reads cut to the disk's */
	uint8_t got[ENGINE_MAX_PATHS][2][PC_MAX_SECTORS + 1];
	/* each way, the fewest sectors refused (0: none) and why */
	struct pc_refusal why[ENGINE_MAX_PATHS][2];
	unsigned refused[ENGINE_MAX_PATHS][2];
	unsigned left;                        /* probes unanswered */
	bool all;
};

/* The rt tap: answers to our probes, from the path probed. */
static bool
check_tap(void *arg, unsigned ifidx, const uint8_t *p, size_t len)
{
	struct check *k = arg;
	struct pc_refusal why;
	enum probe_state st;
	enum pc_dir d;
	unsigned path, n;
	uint32_t tag;

	if (pc_answer(p, len, k->shelf, k->slot, &tag))
		st = PROBE_OK;
	else if (pc_refused(p, len, k->shelf, k->slot, &tag, &why))
		st = PROBE_REFUSED;
	else
		return false;
	if (!pc_tag_decode(tag, &path, &d, &n))
		return false;
	if (path < k->npaths && ifidx == k->ifidx[path] &&
	    memcmp(p + 6, k->mac[path], 6) == 0 && n <= k->want[path][d] &&
	    k->got[path][d][n] == PROBE_WAIT) {
		k->got[path][d][n] = (uint8_t)st;
		if (st == PROBE_REFUSED && (k->refused[path][d] == 0 ||
		    n < k->refused[path][d])) {
			k->why[path][d] = why;
			k->refused[path][d] = n;
		}
		if (--k->left == 0)
			k->all = true;
	}
	return true;
}

/* Send every probe not yet answered. */
static void
check_send(struct ctl *c, struct check *k, uint8_t *buf, size_t cap)
{
	for (unsigned p = 0; p < k->npaths; p++) {
		struct link *l = rt_link_of(c->rt, k->ifidx[p]);

		for (unsigned d = 0; l != NULL && d < 2; d++) {
			for (unsigned n = 1; n <= k->want[p][d]; n++) {
				struct iovec v;

				if (k->got[p][d][n] != PROBE_WAIT)
					continue;
				v.iov_base = buf;
				v.iov_len = pc_build(buf, cap, k->mac[p], l->mac,
				    k->shelf, k->slot, p, (enum pc_dir)d, n);
				if (v.iov_len == 0)
					continue;
				/* buf is reused: out before the next one. */
				(void)link_send(l, &v, 1);
				(void)link_flush(l);
			}
		}
	}
}

/* The most sectors answered whole on path p, way d. */
static unsigned
check_max(const struct check *k, unsigned p, enum pc_dir d)
{
	unsigned m = 0;

	for (unsigned n = 1; n <= k->want[p][d]; n++)
		if (k->got[p][d][n] == PROBE_OK)
			m = n;
	return m;
}

/* What an ATA error status says, in a few words. */
static const char *
ata_err_str(uint8_t status, uint8_t error)
{
	if (status & ATA_ST_DF)
		return "device fault";
	if (!(status & ATA_ST_ERR))
		return "device busy";
	if (error & ATA_ER_IDNF)
		return "sector not found";
	if (error & ATA_ER_UNC)
		return "uncorrectable read error";
	if (error & ATA_ER_ABRT)
		return "command aborted";
	return "device error";
}

/* Why the target refused probes, as "AoE error 6: ..." */
static const char *
refusal_str(const struct pc_refusal *w, char *buf, size_t len)
{
	if (!w->aoe)
		snprintf(buf, len, "ATA error: %s, status 0x%02x, "
		    "error 0x%02x", ata_err_str(w->ata_status, w->ata_error),
		    w->ata_status, w->ata_error);
	else if (w->aoe_error == AOE_ERR_RESERVED)
		/* the target is reserved, and not for us */
		snprintf(buf, len, "AoE error %u: target reserved by another "
		    "initiator", w->aoe_error);
	else
		snprintf(buf, len, "AoE error %u: %s", w->aoe_error,
		    aoe_error_str(w->aoe_error));
	return buf;
}

/* "the reads", "the reads of 3 sectors or more" ... */
static void
print_refused(const struct check *k, unsigned p, enum pc_dir d)
{
	char why[96];

	printf("the target refused the %s", d == PC_BACK ? "reads" :
	    "padded IDENTIFY requests");
	if (k->refused[p][d] > 1)
		printf(" of %u sectors or more", k->refused[p][d]);
	printf(" (%s)", refusal_str(&k->why[p][d], why, sizeof(why)));
}

/*
 * Probe and report one target's paths; returns whether each carries the
 * frames the engine would use on it (the local MTU and the target's
 * sector count allow).
 */
static int
check_target(struct ctl *c, struct check *k, struct target *t,
    struct target_info *ti, uint8_t *buf, size_t cap)
{
	char mac[MAC_STRLEN];
	bool ok = true;
	int r;

	memset(k, 0, sizeof(*k));
	k->shelf = ti->shelf;
	k->slot = ti->slot;
	for (unsigned p = 0; p < ti->npaths && p < ENGINE_MAX_PATHS; p++) {
		const struct link *l = rt_link_of(c->rt, ti->paths[p].ifidx);
		unsigned n, tgt;
		uint64_t disk;

		if (l == NULL)
			continue;
		k->ifidx[p] = ti->paths[p].ifidx;
		memcpy(k->mac[p], ti->paths[p].mac, 6);
		n = MIN(MAX(ata_mtu_sectors(l->mtu), 1u),
		    (unsigned)PC_MAX_SECTORS);
		k->want[p][PC_TOWARD] = n;
		/* The most the target takes in one read, on this path. */
		tgt = MIN(n, MAX(ti->scnt, 1u));
		/*
		 * What the engine puts in a frame: every path's MTU, the
		 * target's sector count and --max-sectors allow it.
		 */
		k->use[p] = MIN(n, MAX(ti->sectors_per_frame_full, 1u));
		/* A read past the disk's end fails: no larger probe back. */
		disk = ti->identified ? MAX(ti->size / ATA_SECTOR_SIZE,
		    (uint64_t)1) : tgt;
		k->want[p][PC_BACK] = (unsigned)MIN((uint64_t)tgt, disk);
		k->disk[p] = disk < tgt ? (unsigned)disk : 0;
		k->left += k->want[p][PC_TOWARD] + k->want[p][PC_BACK];
		k->npaths = p + 1;
	}
	rt_set_tap(c->rt, check_tap, k);
	for (unsigned round = 0; round < CHECK_ROUNDS && !k->all; round++) {
		check_send(c, k, buf, cap);
		r = rt_run_until(c->rt, &k->all, loop_now() + CHECK_ROUND_NS);
		if (r < 0 && r != -ETIMEDOUT) {
			rt_set_tap(c->rt, NULL, NULL);
			errmsg("event loop: %s", strerror(-r));
			return EXIT_FAIL;
		}
	}
	rt_set_tap(c->rt, NULL, NULL);
	/* Its paths' own IDENTIFY answered meanwhile (conflicts). */
	engine_target_info(t, ti);
	sort_paths(c, ti);
	for (unsigned p = 0; p < k->npaths; p++) {
		const struct link *l = rt_link_of(c->rt, k->ifidx[p]);
		unsigned to = check_max(k, p, PC_TOWARD);
		unsigned back = check_max(k, p, PC_BACK);
		unsigned use = k->use[p];
		unsigned most = MIN(use, k->want[p][PC_BACK]);
		bool ref_to = k->refused[p][PC_TOWARD] != 0;
		bool ref_back = k->refused[p][PC_BACK] != 0;
		/* A refused probe says nothing of the frames that pass. */
		bool lost_to = to < use && !ref_to;
		bool lost_back = back < most && !ref_back;

		if (l == NULL)
			continue;
		printf("e%u.%u %s %s: ", ti->shelf, ti->slot, l->ifname,
		    mac_fmt(mac, k->mac[p]));
		if (ti->paths[p].conflict) {
			/* Its frames are another disk's: sizes do not matter. */
			printf("another disk answers here (its IDENTIFY differs "
			    "from e%u.%u's): two targets with the same "
			    "shelf.slot?\n", ti->shelf, ti->slot);
			ok = false;
			continue;
		}
		if (to == 0 && back == 0 && !ref_to && !ref_back) {
			printf("no answer\n");
			ok = false;
			continue;
		}
		printf("to the target %u sectors (%zu-byte frames), back %u "
		    "(%zu)", to, pc_frame_len(to), back, pc_frame_len(back));
		if (k->disk[p] != 0) /* the disk is smaller than a frame */
			printf(" of the disk's %u", k->disk[p]);
		printf(", %u used: ", use);
		if (!lost_to && !lost_back && !ref_to && !ref_back) {
			printf("ok\n");
			continue;
		}
		ok = false;
		if (lost_to || lost_back)
			printf("larger frames are lost %s (a switch or bridge "
			    "without jumbo frames?)%s", lost_to && lost_back ?
			    "both ways" : lost_to ? "on the way to the target" :
			    "on the way back", ref_to || ref_back ? "; " : "");
		if (ref_to)
			print_refused(k, p, PC_TOWARD);
		if (ref_to && ref_back)
			printf("; ");
		if (ref_back)
			print_refused(k, p, PC_BACK);
		printf("\n");
	}
	return ok ? EXIT_OK : EXIT_FAIL;
}

static int
run_check(struct ctl *c)
{
	struct target_info *ti = malloc(sizeof(*ti));
	struct check *k = malloc(sizeof(*k));
	size_t cap = LINK_FRAME_MAX;
	uint8_t *buf = malloc(cap);
	unsigned checked = 0;
	int st, worst = EXIT_OK;

	if (ti == NULL || k == NULL || buf == NULL) {
		errmsg("out of memory");
		st = EXIT_FAIL;
		goto out;
	}
	st = wait_targets(c, WAIT_STAT);
	if (st != EXIT_OK)
		goto out;
	for (struct target *t = next_named(c, NULL, ti); t != NULL;
	    t = next_named(c, t, ti)) {
		checked++;
		if (ti->state != TARGET_UP) {
			errmsg("e%u.%u: %s, not checked", ti->shelf, ti->slot,
			    state_str(ti->state));
			worst = EXIT_FAIL;
			continue;
		}
		if (check_target(c, k, t, ti, buf, cap) != EXIT_OK)
			worst = EXIT_FAIL;
	}
	st = report_missing(c, checked, worst);
out:
	free(ti);
	free(k);
	free(buf);
	return st;
}

int
main(int argc, char **argv)
{
	static struct ctl ctl;
	struct ctl *c = &ctl;
	const char *slash;
	int st, rc;

	if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0') {
		slash = strrchr(argv[0], '/');
		prog = slash != NULL && slash[1] != '\0' ? slash + 1 : argv[0];
	}
	c->mode = mode_of(prog);
	log_init(prog, true);
	rt_options_init(&c->opts);

	st = parse_args(c, argc, argv);
	if (st >= 0)
		goto out;
	st = parse_operands(c);
	if (st >= 0)
		goto out;
	if (c->cmd == CMD_ABFT) {
		st = run_abft(c);
		goto out;
	}
	st = start(c);
	if (st != EXIT_OK)
		goto out;
	if (c->mode == MODE_CFG)
		st = run_aoecfg(c);
	else if (c->cmd == CMD_STAT)
		st = run_stat(c);
	else if (c->cmd == CMD_CHECK)
		st = run_check(c);
	else
		st = run_admin(c);
out:
	/* The engine may still call back into c->reqs while freeing. */
	rt_free(c->rt);
	loop_free(c->loop);
	free(c->reqs);
	free(c->named);
	free(c->ops);
	rc = stream_flush(stdout);
	if (rc < 0) {
		errmsg("write error on standard output: %s", strerror(-rc));
		if (st == EXIT_OK)
			st = EXIT_FAIL;
	}
	return st;
}
