/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoe-fuse: AoE targets as files.  Either a directory with one file per
 * target (aoe-fuse MOUNTPOINT) or one target mounted over a regular file
 * (aoe-fuse e1.0 FILE).  Daemonises once the mount is ready unless -f.
 * Once mounted it keeps no capability (and with -u/-g becomes that user);
 * a root mount is unmounted at exit by a helper that keeps CAP_SYS_ADMIN.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bufpool.h"
#include "daemon.h"
#include "engine.h"
#include "fusefs.h"
#include "log.h"
#include "loop.h"
#include "priv.h"
#include "rt.h"
#include "util.h"

#define PROG "aoe-fuse"
#define DRAIN_NS (5 * NSEC_PER_SEC)     /* answer in-flight requests */
#define IDENT_GRACE_NS (3 * NSEC_PER_SEC) /* IDENTIFY after discovery */
#define READ_AHEAD_MAX_KB 65536u          /* -o read_ahead_kb: 64 MiB */
#define MAX_READ_MIN 4096u                /* -o max_read: a page ... */
#define MAX_READ_MAX (1024u * 1024)       /* ... to a whole request */

struct app {
	struct fusefs *fs;
	struct rt *rt;
	bool single;
	uint16_t shelf;
	uint8_t slot;
	bool wake;            /* a target event arrived */
	int usr1fd;           /* signalfd of SIGUSR1, or -1 */
};

/* What -o carries for us (the rest goes to libfuse). */
struct mount_opts {
	struct fusefs_config *cfg;
	bool read_only;
	bool no_auto_unmount;
	bool have_auto_unmount;
	bool have_default_perms;
	bool have_fsname;
	bool have_subtype;
	bool debug;
	bool bad;
};

enum {
	KEY_UID,
	KEY_GID,
	KEY_MODE,
	KEY_DIRECT_IO,
	KEY_ASYNC_DIO,
	KEY_RESERVE,
	KEY_NOAUTO,
	KEY_AUTO,
	KEY_RO,
	KEY_RW,
	KEY_DEFPERM,
	KEY_FSNAME,
	KEY_SUBTYPE,
	KEY_MAXBG,
	KEY_MAX_READ,
	KEY_READ_AHEAD,
	KEY_DEBUG,
};

static const struct fuse_opt mount_opt_specs[] = {
	FUSE_OPT_KEY("uid=", KEY_UID),
	FUSE_OPT_KEY("gid=", KEY_GID),
	FUSE_OPT_KEY("mode=", KEY_MODE),
	FUSE_OPT_KEY("direct_io", KEY_DIRECT_IO),
	FUSE_OPT_KEY("async_dio", KEY_ASYNC_DIO),
	FUSE_OPT_KEY("reserve", KEY_RESERVE),
	FUSE_OPT_KEY("noauto_unmount", KEY_NOAUTO),
	FUSE_OPT_KEY("auto_unmount", KEY_AUTO),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("default_permissions", KEY_DEFPERM),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("max_background=", KEY_MAXBG),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("read_ahead_kb=", KEY_READ_AHEAD),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_END
};

enum {
	OPT_PIDFILE = 0x2000,
	OPT_RESERVE,
};

static struct loop *g_loop;

/* -w as find_targets() does it (the defaults are set in main()). */
static const char wait_help[] =
"  -w, --wait=SECS              how long to look for targets before "
    "mounting:\n"
"                               the named TARGET until it answers, at most\n"
"                               SECS (default 5); in the directory form SECS\n"
"                               (default 1), then up to 3 s more for "
    "IDENTIFY\n";

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " [OPTIONS] MOUNTPOINT\n"
	    "       " PROG " [OPTIONS] TARGET FILE\n"
	    "Serve AoE targets as files: a directory with one file per "
	    "target (e1.0 ...),\nor TARGET (e.g. e1.0) mounted over the "
	    "regular file FILE.\n"
	    "\n"
	    "  -f, --foreground             stay in the foreground (default: "
	    "daemonise\n"
	    "                               once the mount is ready)\n"
	    "  -o OPT[,OPT...]              mount options: ro, rw, uid=N, "
	    "gid=N,\n"
	    "                               mode=OCTAL (default 0600), "
	    "allow_other,\n"
	    "                               default_permissions (always on), "
	    "auto_unmount\n"
	    "                               (default), noauto_unmount, "
	    "direct_io,\n"
	    "                               async_dio (O_DIRECT writes not "
	    "interruptible),\n"
	    "                               reserve (as --reserve), "
	    "max_background=N\n"
	    "                               (default 64), "
	    "max_read=BYTES\n"
	    "                               (default 1 MiB), read_ahead_kb=N "
	    "(default 1024),\n"
	    "                               fsname=, subtype=, other FUSE "
	    "mount options\n"
	    "  -r, --read-only              serve every target read-only "
	    "(as -o ro)\n"
	    "  -d, --debug                  print every FUSE request (implies "
	    "-f)\n"
	    "      --reserve                reserve each target for this host "
	    "(AoE Reserve/\n"
	    "                               Release) from its first open until "
	    "exit\n"
	    "                               (as -o reserve)\n"
	    "      --pidfile=FILE           write the daemon's pid to FILE "
	    "once mounted\n"
	    "  -u, --user=USER              run as USER once mounted (and "
	    "USER's group\n"
	    "                               unless -g)\n"
	    "  -g, --group=GROUP            run as GROUP once mounted\n"
	    "  -h, --help                   this help\n"
	    "  -V, --version                print the version\n"
	    "(SIGUSR1 logs the counters that -v logs at exit)\n");
	rt_usage_common(f, wait_help);
	fprintf(f, "\nExit status: 0 mounted (with -f: ended cleanly), 1 "
	    "failure, 2 usage error,\n3 the named TARGET did not answer, 4 "
	    "no permission (CAP_NET_RAW).\nInterrupted before the mount is "
	    "ready (SIGINT, SIGTERM, SIGHUP): nothing stays\nmounted and "
	    PROG " dies of that signal (a shell says 130, 143, 129).\n");
}

static void
usage_hint(void)
{
	fprintf(stderr, "Try '" PROG " --help' for more information.\n");
}

static void
on_signal(int sig)
{
	(void)sig;
	if (g_loop != NULL)
		loop_stop(g_loop);
}

/* SIGUSR1, through a signalfd in the loop: log the counters. */
static void
on_usr1(void *arg, uint32_t events)
{
	struct app *a = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(a->usr1fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (a->rt != NULL)
			rt_log_counters(a->rt);
}

static int
open_usr1(struct app *a, struct loop *loop)
{
	sigset_t mask;
	int rc;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a->usr1fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->usr1fd < 0)
		return -errno;
	rc = loop_add_fd(loop, a->usr1fd, EPOLLIN, on_usr1, a);
	if (rc < 0) {
		close(a->usr1fd);
		a->usr1fd = -1;
	}
	return rc;
}

/* A user or group: a number, or a name from the passwd/group files. */
static int
parse_id(const char *s, bool group, unsigned *out)
{
	unsigned long long v;

	if (parse_uint(s, 0, 0xfffffffeULL, &v) == 0) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(s);

		if (gr == NULL)
			return -EINVAL;
		*out = gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw == NULL)
			return -EINVAL;
		*out = pw->pw_uid;
	}
	return 0;
}

static int
mount_opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct mount_opts *mo = data;
	const char *val = strchr(arg, '=');
	unsigned long long v;
	unsigned id;
	char *end;

	(void)out;
	val = val != NULL ? val + 1 : "";
	switch (key) {
	case KEY_UID:
	case KEY_GID:
		if (parse_id(val, key == KEY_GID, &id) < 0) {
			fprintf(stderr, PROG ": -o %s: no such %s\n", arg,
			    key == KEY_GID ? "group" : "user");
			mo->bad = true;
			return -1;
		}
		if (key == KEY_UID)
			mo->cfg->uid = id;
		else
			mo->cfg->gid = id;
		return 0;
	case KEY_MODE:
		errno = 0;
		v = strtoull(val, &end, 8);
		if (*val == '\0' || *end != '\0' || errno != 0 ||
		    v > 0777) {
			fprintf(stderr, PROG ": -o %s: an octal mode such "
			    "as 0600\n", arg);
			mo->bad = true;
			return -1;
		}
		mo->cfg->mode = (mode_t)v;
		return 0;
	case KEY_MAXBG:
		if (parse_uint(val, 1, 65535, &v) < 0) {
			fprintf(stderr, PROG ": -o %s: 1 to 65535\n", arg);
			mo->bad = true;
			return -1;
		}
		mo->cfg->max_background = (unsigned)v;
		return 0;
	case KEY_MAX_READ:
		/* libfuse takes it too, and needs INIT to say the same. */
		if (parse_uint(val, MAX_READ_MIN, MAX_READ_MAX, &v) < 0) {
			fprintf(stderr, PROG ": -o %s: bytes, %u to %u\n", arg,
			    MAX_READ_MIN, MAX_READ_MAX);
			mo->bad = true;
			return -1;
		}
		mo->cfg->max_read = (unsigned)v;
		return 1;
	case KEY_READ_AHEAD:
		if (parse_uint(val, 0, READ_AHEAD_MAX_KB, &v) < 0) {
			fprintf(stderr, PROG ": -o %s: KiB, 0 to %u\n", arg,
			    READ_AHEAD_MAX_KB);
			mo->bad = true;
			return -1;
		}
		mo->cfg->read_ahead_kb = (int)v;
		mo->cfg->read_ahead_set = true;
		return 0;
	case KEY_DIRECT_IO:
		mo->cfg->direct_io = true;
		return 0;
	case KEY_ASYNC_DIO:
		mo->cfg->async_dio = true;
		return 0;
	case KEY_RESERVE:
		mo->cfg->reserve = true;
		return 0;
	case KEY_NOAUTO:
		mo->no_auto_unmount = true;
		return 0;
	case KEY_AUTO:
		mo->have_auto_unmount = true;
		return 1;
	case KEY_RO:
		mo->read_only = true;
		return 1;
	case KEY_RW:
		mo->read_only = false;
		return 1;
	case KEY_DEFPERM:
		mo->have_default_perms = true;
		return 1;
	case KEY_FSNAME:
		mo->have_fsname = true;
		return 1;
	case KEY_SUBTYPE:
		mo->have_subtype = true;
		return 1;
	case KEY_DEBUG:
		mo->debug = true;
		return 1;
	default:
		/* libfuse's own options; fuse_session_new checks them. */
		return 1;
	}
}

static int
add_opt(struct fuse_args *args, const char *opt)
{
	if (fuse_opt_add_arg(args, "-o") < 0 ||
	    fuse_opt_add_arg(args, opt) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	return 0;
}

static void
on_event(void *ctx, struct target *t, int event)
{
	struct app *app = ctx;

	app->wake = true;
	fusefs_engine_event(app->fs, t, event);
}

static const struct engine_ops front_ops = {
	.event = on_event,
};

static bool
any_new_target(struct engine *e)
{
	for (struct target *t = engine_target_next(e, NULL); t != NULL;
	    t = engine_target_next(e, t))
		if (target_state(t) == TARGET_NEW)
			return true;
	return false;
}

/*
 * Look for targets before mounting, so that a script finds the files as
 * soon as we return.  The directory form waits --wait for answers, then
 * a little longer for IDENTIFY; the single form asks for its target every
 * second until it is up or --wait passes.  0, -EINTR, or -ENOENT.
 */
static int
find_targets(struct app *app, uint64_t wait_ns)
{
	struct engine *e = rt_engine(app->rt);
	uint64_t now = loop_now(), deadline = now + wait_ns, next;
	struct target *t;
	int rc;

	if (!app->single) {
		rc = rt_run_until(app->rt, NULL, deadline);
		if (rc == -EINTR)
			return rc;
		deadline = loop_now() + IDENT_GRACE_NS;
		while (any_new_target(e) && loop_now() < deadline) {
			rc = rt_run_until(app->rt, NULL,
			    MIN(deadline, loop_now() + 50 * NSEC_PER_MSEC));
			if (rc == -EINTR)
				return rc;
		}
		return 0;
	}
	for (;;) {
		t = engine_target_find(e, app->shelf, app->slot);
		if (t != NULL && target_state(t) == TARGET_UP)
			return 0;
		now = loop_now();
		if (now >= deadline)
			return -ENOENT;
		engine_discover(e, app->shelf, app->slot, now);
		next = MIN(deadline, now + NSEC_PER_SEC);
		while (loop_now() < next) {
			app->wake = false;
			rc = rt_run_until(app->rt, &app->wake, next);
			if (rc == -EINTR)
				return rc;
			t = engine_target_find(e, app->shelf, app->slot);
			if (t != NULL && target_state(t) == TARGET_UP)
				return 0;
			if (rc == -ETIMEDOUT)
				break;
		}
	}
}

/*
 * Run as another user (-u), we may not remove the pid file at exit: then
 * it is emptied through fd (from pidfile_write), so no stale pid is left
 * to kill.
 */
static void
remove_pidfile(const char *path, int fd)
{
	if (unlink(path) < 0 && errno != ENOENT && ftruncate(fd, 0) < 0)
		log_warn("%s: neither removed nor emptied", path);
	close(fd);
}

/*
 * Whether our user namespace owns our mount namespace: 1, 0 (as after
 * `unshare --user --net` without --mount), -1 unknown.  The kernel
 * refuses (EPERM) to hand out an owner outside our own namespace.
 */
static int
mount_ns_ours(void)
{
	struct stat owner, us;
	int mfd, ofd, rc = -1;

	mfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return -1;
	ofd = ioctl(mfd, NS_GET_USERNS);
	if (ofd < 0)
		rc = errno == EPERM ? 0 : -1;
	close(mfd);
	if (ofd < 0)
		return rc;
	if (fstat(ofd, &owner) == 0 && stat("/proc/self/ns/user", &us) == 0)
		rc = owner.st_dev == us.st_dev && owner.st_ino == us.st_ino;
	close(ofd);
	return rc;
}

/*
 * After a failed mount: what was missing, where it can be told.  libfuse
 * and fusermount3 name the failing step ("mount failed: Operation not
 * permitted"), not what to do about it, and suggest modprobe in a
 * container that only lacks the device.
 */
static void
mount_hint(void)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		log_warnx("/dev/fuse: %s (load the fuse module; a container "
		    "needs the device: docker run --device /dev/fuse)",
		    strerror(errno));
		return;
	}
	close(fd);
	if (geteuid() == 0 && !priv_cap_effective(CAP_SYS_ADMIN)) {
		log_warnx("mounting needs CAP_SYS_ADMIN, which this process "
		    "lacks (a container: docker run --cap-add SYS_ADMIN; "
		    "aoe-nbd needs CAP_NET_RAW only)");
		return;
	}
	if (geteuid() == 0 && mount_ns_ours() == 0) {
		log_warnx("this user namespace does not own the mount "
		    "namespace: create both (unshare --user --map-root-user "
		    "--net --mount)");
		return;
	}
	if (geteuid() != 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		log_warnx("no_new_privs is set (NoNewPrivileges=, "
		    "--security-opt no-new-privileges): the setuid "
		    "fusermount3 cannot mount for an ordinary user");
}

static const struct option own_options[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "debug", no_argument, NULL, 'd' },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "reserve", no_argument, NULL, OPT_RESERVE },
	{ "user", required_argument, NULL, 'u' },
	{ "group", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};

int
main(int argc, char **argv)
{
	struct option longopts[ARRAY_SIZE(own_options) + RT_LONG_OPTIONS_COUNT
	    + 1];
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fusefs_config cfg;
	struct mount_opts mo;
	struct rt_options o;
	struct app app;
	struct loop *loop = NULL;
	struct sigaction sa;
	sigset_t old_mask;
	struct stat st;
	const char *mnt_arg;
	char *pidfile = NULL;
	int pidfd = -1;
	const char *user_arg = NULL, *group_arg = NULL, *perr = NULL;
	struct priv_ids ids = { .set_uid = false };
	struct priv_unmounter *unmounter = NULL;
	char mnt[PATH_MAX], name[16], opt[64];
	bool foreground = false, read_only = false, wait_given = false;
	int ready_fd = -1, opt_c, rc, status = EXIT_FAIL;
	size_t n = 0, i;

	log_init(PROG, true);
	memset(&app, 0, sizeof(app));
	app.usr1fd = -1;
	memset(&mo, 0, sizeof(mo));
	fusefs_config_default(&cfg);
	mo.cfg = &cfg;
	rt_options_init(&o);

	for (i = 0; i < ARRAY_SIZE(own_options); i++)
		longopts[n++] = own_options[i];
	for (i = 0; rt_long_options[i].name != NULL; i++)
		longopts[n++] = rt_long_options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	if (fuse_opt_add_arg(&args, PROG) < 0)
		goto nomem;
	while ((opt_c = getopt_long(argc, argv, "I:w:vfo:rdg:u:hV", longopts,
	    NULL)) != -1) {
		if (opt_c == 'w' || opt_c == RT_OPT_WAIT)
			wait_given = true;
		rc = rt_parse_option(&o, opt_c, optarg);
		if (rc < 0) {
			status = EXIT_USAGE;
			goto out_args;
		}
		if (rc > 0)
			continue;
		switch (opt_c) {
		case 'f':
			foreground = true;
			break;
		case 'o':
			if (add_opt(&args, optarg) < 0)
				goto out_args;
			break;
		case 'r':
			read_only = true;
			break;
		case 'd':
			mo.debug = true;
			break;
		case 'u':
			user_arg = optarg;
			break;
		case 'g':
			group_arg = optarg;
			break;
		case OPT_RESERVE:
			cfg.reserve = true;
			break;
		case OPT_PIDFILE:
			if (optarg[0] == '\0') {
				fprintf(stderr, PROG ": --pidfile needs a file "
				    "name\n");
				status = EXIT_USAGE;
				goto out_args;
			}
			free(pidfile);
			pidfile = absolute_path(optarg);
			if (pidfile == NULL) {
				fprintf(stderr, PROG ": --pidfile %s: %s\n",
				    optarg, strerror(errno));
				goto out_args;
			}
			break;
		case 'h':
			usage(stdout);
			status = EXIT_OK;
			goto out_args;
		case 'V':
			printf(PROG " %s (libfuse %s)\n", PACKAGE_VERSION,
			    fuse_pkgversion());
			status = EXIT_OK;
			goto out_args;
		default:
			usage_hint();
			status = EXIT_USAGE;
			goto out_args;
		}
	}
	status = EXIT_USAGE;
	/* -g first: -u takes the user's group only without -g. */
	if (group_arg != NULL && priv_parse_group(group_arg, &ids) < 0) {
		fprintf(stderr, PROG ": -g %s: no such group\n", group_arg);
		goto out_args;
	}
	if (user_arg != NULL && (rc = priv_parse_user(user_arg, &ids)) < 0) {
		fprintf(stderr, PROG ": -u %s: %s\n", user_arg, rc == -ESRCH ?
		    "not in the passwd file: give its group with -g" :
		    "no such user");
		goto out_args;
	}
	if (argc - optind == 2) {
		app.single = true;
		if (target_name_parse(argv[optind], &app.shelf,
		    &app.slot) < 0) {
			fprintf(stderr, PROG ": bad target name '%s' (e.g. "
			    "e1.0)\n", argv[optind]);
			goto out_args;
		}
		mnt_arg = argv[optind + 1];
	} else if (argc - optind == 1) {
		mnt_arg = argv[optind];
	} else {
		fprintf(stderr, PROG ": expected MOUNTPOINT, or TARGET and "
		    "FILE\n");
		usage_hint();
		goto out_args;
	}
	/* Absolute: the daemon leaves the working directory. */
	if (realpath(mnt_arg, mnt) == NULL || stat(mnt, &st) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", mnt_arg, strerror(errno));
		goto out_args;
	}
	if (app.single && !S_ISREG(st.st_mode)) {
		fprintf(stderr, PROG ": %s: not a regular file (the single "
		    "target form mounts over a file)\n", mnt_arg);
		goto out_args;
	}
	if (!app.single && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": %s: not a directory\n", mnt_arg);
		goto out_args;
	}

	if (fuse_opt_parse(&args, &mo, mount_opt_specs, mount_opt_proc) < 0) {
		if (!mo.bad)
			fprintf(stderr, PROG ": bad -o options\n");
		goto out_args;
	}
	if (mo.debug) {
		foreground = true;
		if (fuse_opt_add_arg(&args, "-d") < 0)
			goto nomem_args;
	}
	if (read_only && !mo.read_only && add_opt(&args, "ro") < 0)
		goto nomem_args;
	read_only = read_only || mo.read_only;
	cfg.read_only = read_only;
	o.ecfg.read_only = read_only;
	cfg.single = app.single;
	cfg.shelf = app.shelf;
	cfg.slot = app.slot;
	/* Our files carry no permission checks of their own. */
	if (!mo.have_default_perms && add_opt(&args, "default_permissions") < 0)
		goto nomem_args;
	/* fusermount3 unmounts for us if we die. */
	if (!mo.no_auto_unmount && !mo.have_auto_unmount &&
	    add_opt(&args, "auto_unmount") < 0)
		goto nomem_args;
	if (!mo.have_fsname) {
		if (app.single)
			snprintf(opt, sizeof(opt), "fsname=aoe:%s",
			    target_name_fmt(name, sizeof(name), app.shelf,
			    app.slot));
		else
			snprintf(opt, sizeof(opt), "fsname=aoe");
		if (add_opt(&args, opt) < 0)
			goto nomem_args;
	}
	if (!mo.have_subtype && add_opt(&args, "subtype=aoe") < 0)
		goto nomem_args;
	if (!wait_given && app.single)
		o.wait_ns = 5 * NSEC_PER_SEC;

	rc = loop_new(&loop);
	if (rc < 0) {
		fprintf(stderr, PROG ": event loop: %s\n", strerror(-rc));
		status = EXIT_FAIL;
		goto out_args;
	}
	/* Checks every libfuse option before anything starts. */
	rc = fusefs_new(&app.fs, &cfg, &args, loop);
	if (rc == -EINVAL) {
		fprintf(stderr, PROG ": bad mount options (see -h)\n");
		goto out;
	}
	status = EXIT_FAIL;
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", strerror(-rc));
		goto out;
	}

	/* The epoll instance is the child's alone: the parent only waits. */
	if (!foreground)
		daemon_fork(&ready_fd, &old_mask);

	g_loop = loop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* One that came since the fork (passed on by the parent) stops us. */
	if (!foreground)
		sigprocmask(SIG_SETMASK, &old_mask, NULL);

	status = rt_new(&app.rt, &o, loop, &front_ops, &app);
	if (status != EXIT_OK)
		goto out;
	status = EXIT_FAIL;
	rc = open_usr1(&app, loop);
	if (rc < 0) {
		log_warnx("signalfd: %s", strerror(-rc));
		goto out;
	}
	fusefs_set_engine(app.fs, rt_engine(app.rt));

	rc = find_targets(&app, o.wait_ns);
	if (rc == -EINTR)
		goto out;
	if (rc == -ENOENT) {
		log_warnx("%s did not answer within %.1f s",
		    target_name_fmt(name, sizeof(name), app.shelf, app.slot),
		    (double)o.wait_ns / 1e9);
		status = EXIT_NOTFOUND;
		goto out;
	}
	if (!app.single && engine_target_next(rt_engine(app.rt), NULL) ==
	    NULL)
		log_info("no AoE target answered yet; files appear as "
		    "targets do");

	/*
	 * A loop device on our file writes back through us: reclaim must
	 * not wait on our own I/O (needs CAP_SYS_RESOURCE; best effort).
	 */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_debug("PR_SET_IO_FLUSHER: %s", strerror(errno));

	/* fusermount3 (auto_unmount) keeps what it inherits: not stdout. */
	if (!foreground) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
	}
	rc = fusefs_mount(app.fs, mnt);
	if (rc < 0) {
		log_warnx("cannot mount on %s", mnt);
		mount_hint();
		goto out;
	}
	log_debug("mounted on %s", mnt);
	/* Before the privileges go: the sysfs file is root's. */
	fusefs_set_read_ahead(app.fs, mnt);
	if (pidfile != NULL) {
		pidfd = pidfile_write(pidfile);
		if (pidfd < 0) {
			log_warnx("%s: %s", pidfile, strerror(-pidfd));
			goto out;
		}
	}
	/*
	 * Mounted, links open: no capability is needed any more.  Root
	 * mounted with CAP_SYS_ADMIN, which unmounting needs again: a
	 * helper keeps that one alone.  (A user's mount was made by the
	 * setuid fusermount3, which unmounts it too: no NO_NEW_PRIVS.)
	 */
	if (geteuid() == 0) {
		rc = priv_unmounter_start(&unmounter, mnt);
		if (rc < 0)
			log_warnx("no unmount helper (%s): the mount may stay "
			    "after exit", strerror(-rc));
	} else if (!mo.no_auto_unmount) {
		/* fusermount3's auto_unmount misses a user's mount. */
		rc = priv_unmounter_start_user(&unmounter, mnt);
		if (rc < 0)
			log_warnx("no unmount helper (%s): the mount may stay "
			    "if aoe-fuse dies", strerror(-rc));
	}
	rc = priv_drop(&ids, 0, NULL, &perr);
	if (rc < 0) {
		log_warnx("cannot drop privileges: %s: %s", perr,
		    strerror(-rc));
		goto out;
	}
	/* Interrupted while mounting: the parent waits for our end. */
	if (loop_stopped(loop)) {
		log_info("interrupted: unmounting");
		goto out;
	}
	daemon_ready(ready_fd, PROG);
	ready_fd = -1;

	rc = loop_run(loop, UINT64_MAX);
	if (rc < 0)
		log_warnx("event loop: %s", strerror(-rc));
	status = rc < 0 || fusefs_failed(app.fs) ? EXIT_FAIL : EXIT_OK;
	log_debug("%s", fusefs_ended(app.fs) ? "unmounted" : "stopping");
out:
	/* Unmount first (we cannot); the drain below still answers. */
	if (priv_unmounter_finish(unmounter))
		fusefs_mount_gone(app.fs);
	fusefs_unmount(app.fs, DRAIN_NS);
	/* Its I/O is over: --reserve's reservations go. */
	rt_reserve_release(app.rt);
	/* Cancels what the engine still holds: answered into the void. */
	if (app.usr1fd >= 0) {
		loop_del_fd(loop, app.usr1fd);
		close(app.usr1fd);
	}
	rt_free(app.rt);
	fusefs_free(app.fs);
	bufpool_drain();
	g_loop = NULL;
	loop_free(loop);
	if (pidfd >= 0)
		remove_pidfile(pidfile, pidfd);
out_args:
	fuse_opt_free_args(&args);
	free(pidfile);
	/* --help and -V are all we print there: a lost line is a failure. */
	rc = stream_flush(stdout);
	if (rc < 0) {
		fprintf(stderr, PROG ": write error on standard output: %s\n",
		    strerror(-rc));
		if (status == EXIT_OK)
			status = EXIT_FAIL;
	}
	return status;
nomem_args:
	status = EXIT_FAIL;
nomem:
	fprintf(stderr, PROG ": out of memory\n");
	fuse_opt_free_args(&args);
	free(pidfile);
	return EXIT_FAIL;
}
