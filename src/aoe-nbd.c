/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aoe-nbd: an NBD server exposing every AoE target as an export named after
 * it.  Command line, listening the nbdkit way (TCP, Unix socket, stdin,
 * socket activation, captive --run), TLS credentials, daemonising, the
 * privilege drop, signals and the exit status; the protocol lives in
 * nbds.c, TLS in tls.c, the AoE initiator in the core.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bufpool.h"
#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "loop.h"
#include "nbds.h"
#include "priv.h"
#include "rt.h"
#include "tls.h"
#include "util.h"

#define DEFAULT_PORT "10809"
#define GRACE_NS (10 * NSEC_PER_SEC)   /* in-flight requests at exit */
#define LISTEN_FDS_START 3

enum {
	OPT_RUN = 0x2000,
	OPT_EXIT_WITH_PARENT,
	OPT_TLS,
	OPT_TLS_CERTS,
	OPT_TLS_PSK,
	OPT_TLS_VERIFY,
	OPT_RESERVE,
};

struct app {
	struct loop *loop;
	struct nbds *s;
	struct rt *rt;
	int sigfd;
	bool single;
	bool stop;
	bool force;            /* a second signal: do not wait */
	pid_t run_pid;
	int run_status;        /* exit status of --run CMD */
	bool run_done;
};

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: aoe-nbd [OPTIONS] [TARGET...]\n"
"Serve AoE targets (e1.0 ...) as NBD exports: the TARGETs named, or every\n"
"target discovered (new ones appear without a restart).  The default\n"
"export \"\" is the first TARGET (or the only target when none is named).\n"
"\n"
"Listening (default TCP 127.0.0.1 port " DEFAULT_PORT "):\n"
"  -p, --port=PORT              TCP port (on 127.0.0.1 unless -i)\n"
"  -i, --ipaddr=ADDR            listen on ADDR (e.g. 0.0.0.0, ::)\n"
"  -U, --unix=PATH              listen on a Unix socket (mode 0600); \"-\" =\n"
"                               a private socket in a new temporary directory\n"
"  -s, --single                 serve one client on stdin/stdout, then exit\n"
"                               (LISTEN_PID/LISTEN_FDS socket activation is\n"
"                               detected by itself)\n"
"  -P, --pidfile=FILE           write the process id to FILE once listening\n"
"  -f, --foreground             do not daemonise (implied by -s, --run,\n"
"                               --exit-with-parent, socket activation)\n"
"      --exit-with-parent       exit when the parent process exits\n"
"      --run=CMD                run CMD with /bin/sh, $uri $nbd $unixsocket\n"
"                               $port $exportname set, and exit with its\n"
"                               status (a private Unix socket unless -p,\n"
"                               -i or -U)\n"
"  -e, --exportname=NAME        export named in $uri for --run (default \"\")\n"
"  -r, --readonly               every export read-only\n"
"      --reserve                reserve each target for this host (AoE\n"
"                               Reserve/Release) once a client opens it,\n"
"                               until exit\n"
"  -u, --user=USER              run as USER once everything is open (and\n"
"                               USER's group unless -g)\n"
"  -g, --group=GROUP            run as GROUP once everything is open\n"
"\n"
"TLS (GnuTLS; NBD_OPT_STARTTLS):\n"
"      --tls=off|on|require     off (default): refuse STARTTLS; on: offer it;\n"
"                               require: refuse clients that do not use it\n"
"      --tls-certificates=DIR   X.509: DIR/ca-cert.pem, server-cert.pem,\n"
"                               server-key.pem (default /etc/pki/aoe-nbd\n"
"                               as root, else $HOME/.pki/aoe-nbd)\n"
"      --tls-psk=FILE           PSK: username:hexkey lines (psktool)\n"
"      --tls-verify-peer        X.509: require a client certificate signed by\n"
"                               DIR/ca-cert.pem\n"
"\n"
"AoE (-w: how long a client waits for a target not yet up):\n");
	rt_usage_common(f,
"  -w, --wait=SECS              how long a client waits for a target that\n"
"                               has not answered yet (default 1)\n");
	fprintf(f,
"\n"
"  -h, --help                   this help\n"
"  -V, --version                print the version\n"
"\n"
"SIGUSR1 logs the counters that -v logs at exit.\n"
"Exit status: 0 ok (also after SIGTERM/SIGINT), 1 failure, 2 usage error,\n"
"4 no permission (CAP_NET_RAW); with --run the status of CMD.\n");
}

static void usage_error(const char *msg) __attribute__((noreturn));

/* EXIT_OK, or EXIT_FAIL with a message if stdout could not be written. */
static int
stdout_status(void)
{
	int rc = stream_flush(stdout);

	if (rc < 0) {
		fprintf(stderr, "%s: write error on standard output: %s\n",
		    log_progname(), strerror(-rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void
usage_error(const char *msg)
{
	fprintf(stderr, "%s: %s\n", log_progname(), msg);
	fprintf(stderr, "Try '%s --help' for more information.\n",
	    log_progname());
	exit(EXIT_USAGE);
}

/* ---------------------------------------------------------- helpers */

/*
 * -p: 0 to 65535 or a TCP service name (getaddrinfo would take 99999 as
 * 34463, and "abc" only to fail later with a muddled message).
 */
static bool
port_valid(const char *s)
{
	unsigned long long v;

	if (s[0] >= '0' && s[0] <= '9')
		return parse_uint(s, 0, 65535, &v) == 0;
	return s[0] != '\0' && getservbyname(s, "tcp") != NULL;
}

/* Percent-encode s for an NBD URI path or query (RFC 3986 unreserved). */
static void
uri_append(char *out, size_t len, const char *s, bool keep_slash)
{
	size_t o = strlen(out);

	for (; *s != '\0' && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~' || (keep_slash && ch == '/'))
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* ---------------------------------------------------------- events */

static void
on_target_event(void *ctx, struct target *t, int event)
{
	struct app *a = ctx;

	nbds_target_event(a->s, t, event);
}

static const struct engine_ops front_ops = {
	.event = on_target_event,
};

static void
on_conn_closed(void *arg, unsigned open_conns)
{
	struct app *a = arg;

	/* -s: the one client is gone. */
	if (a->single && open_conns == 0) {
		a->stop = true;
		loop_stop(a->loop);
	}
}

/* A shell's way: the exit status, or 128 plus the signal that killed it. */
static int
run_exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_FAIL;
}

static void
reap_run(struct app *a)
{
	int st;

	if (a->run_pid <= 0 || a->run_done)
		return;
	if (waitpid(a->run_pid, &st, WNOHANG) != a->run_pid)
		return;
	a->run_done = true;
	a->run_status = run_exit_status(st);
	log_debug("--run command exited with status %d", a->run_status);
	a->stop = true;
	loop_stop(a->loop);
}

static void
on_signal_fd(void *arg, uint32_t events)
{
	struct app *a = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_run(a);
			break;
		case SIGUSR1:
			if (a->rt != NULL)
				rt_log_counters(a->rt);
			break;
		default:
			if (a->stop)
				a->force = true;
			log_debug("signal %u: stopping", si.ssi_signo);
			a->stop = true;
			loop_stop(a->loop);
			break;
		}
	}
}

/* (Re)create the signalfd for mask and poll it. */
static int
open_signalfd(struct app *a, const sigset_t *mask)
{
	if (a->sigfd >= 0) {
		loop_del_fd(a->loop, a->sigfd);
		close(a->sigfd);
	}
	a->sigfd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0)
		return -1;
	if (loop_add_fd(a->loop, a->sigfd, EPOLLIN, on_signal_fd, a) < 0) {
		close(a->sigfd);
		a->sigfd = -1;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- --run */

static int
spawn_run(struct app *a, const char *cmd, const sigset_t *oldmask,
    const char *uri, const char *sock, unsigned port, const char *export,
    const char *tls)
{
	char portbuf[16];
	pid_t pid;

	snprintf(portbuf, sizeof(portbuf), "%u", port);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/*
		 * Its own process group, so that stopping it stops whatever
		 * it started too; not at a terminal, where it may be
		 * interactive (nbdsh) and must stay in the foreground.
		 */
		if (!isatty(STDIN_FILENO))
			(void)setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		setenv("uri", uri, 1);
		setenv("nbd", uri, 1);
		setenv("unixsocket", sock != NULL ? sock : "", 1);
		setenv("port", port != 0 ? portbuf : "", 1);
		setenv("exportname", export, 1);
		setenv("tls", tls, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		fprintf(stderr, "%s: /bin/sh: %s\n", log_progname(),
		    strerror(errno));
		_exit(127);
	}
	if (!isatty(STDIN_FILENO))
		(void)setpgid(pid, pid); /* (whichever of us runs first) */
	a->run_pid = pid;
	return 0;
}

/*
 * Stop the --run command (we were signalled): SIGTERM to its process
 * group, SIGKILL if it has not ended within GRACE_NS.
 */
static void
stop_run(struct app *a)
{
	pid_t who = getpgid(a->run_pid) == a->run_pid ? -a->run_pid :
	    a->run_pid;
	int st, rc;

	(void)kill(who, SIGTERM);
	rc = child_wait(a->run_pid, who, GRACE_NS, &st);
	if (rc == 1)
		log_warnx("--run command still running: killed it");
	a->run_status = rc < 0 ? EXIT_FAIL : run_exit_status(st);
	/* Whatever it left behind in its group. */
	if (who < 0)
		(void)kill(who, SIGTERM);
	a->run_done = true;
}

/* ---------------------------------------------------------- main */

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	static const struct option own[] = {
		{ "exportname", required_argument, NULL, 'e' },
		{ "export-name", required_argument, NULL, 'e' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "no-fork", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "ipaddr", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "single", no_argument, NULL, 's' },
		{ "unix", required_argument, NULL, 'U' },
		{ "version", no_argument, NULL, 'V' },
		{ "run", required_argument, NULL, OPT_RUN },
		{ "exit-with-parent", no_argument, NULL,
		    OPT_EXIT_WITH_PARENT },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "tls", required_argument, NULL, OPT_TLS },
		{ "tls-certificates", required_argument, NULL,
		    OPT_TLS_CERTS },
		{ "tls-psk", required_argument, NULL, OPT_TLS_PSK },
		{ "tls-verify-peer", no_argument, NULL, OPT_TLS_VERIFY },
		{ "reserve", no_argument, NULL, OPT_RESERVE },
	};
	struct option longopts[ARRAY_SIZE(own) + RT_LONG_OPTIONS_COUNT + 1];
	struct rt_options o;
	struct nbds_config cfg;
	struct app a;
	const char *port = NULL, *ipaddr = NULL, *unix_arg = NULL,
	    *pidfile_arg = NULL, *run_cmd = NULL, *export = "", *err = NULL;
	char *unix_path = NULL, *pidfile = NULL, *private_dir = NULL;
	char uri[PATH_MAX * 3 + 64], certdir[PATH_MAX], tlsmsg[512];
	const char *user_arg = NULL, *group_arg = NULL, *perr = NULL;
	struct tls_config tcfg = { .mode = TLS_OFF };
	struct tls_creds *creds = NULL;
	struct priv_ids ids = { .set_uid = false };
	struct priv_report prep;
	bool foreground = false, readonly = false, single = false,
	    exit_with_parent = false, socket_activation = false;
	unsigned listen_fds = 0;
	sigset_t mask, oldmask, daemon_mask;
	pid_t ppid = getppid();
	uint64_t deadline;
	int opt, rc, status = EXIT_OK, ready_fd = -1;

	log_init(argv[0], true);
	memset(&a, 0, sizeof(a));
	a.sigfd = -1;
	memset(&cfg, 0, sizeof(cfg));
	rt_options_init(&o);
	memcpy(longopts, own, sizeof(own));
	memcpy(longopts + ARRAY_SIZE(own), rt_long_options,
	    sizeof(struct option) * (RT_LONG_OPTIONS_COUNT + 1));

	while ((opt = getopt_long(argc, argv, "e:fg:hi:I:p:P:rsu:U:vVw:",
	    longopts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			user_arg = optarg;
			break;
		case 'g':
			group_arg = optarg;
			break;
		case OPT_TLS:
			if (tls_mode_parse(optarg, &tcfg.mode) < 0)
				usage_error("--tls: off, on or require");
			break;
		case OPT_TLS_CERTS:
			tcfg.cert_dir = optarg;
			break;
		case OPT_TLS_PSK:
			tcfg.psk_file = optarg;
			break;
		case OPT_TLS_VERIFY:
			tcfg.verify_peer = true;
			break;
		case 'e':
			export = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return stdout_status();
		case 'i':
			ipaddr = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'P':
			pidfile_arg = optarg;
			break;
		case 'r':
			readonly = true;
			break;
		case OPT_RESERVE:
			cfg.reserve = true;
			break;
		case 's':
			single = true;
			break;
		case 'U':
			unix_arg = optarg;
			break;
		case 'V':
			printf("aoe-nbd %s\n", PACKAGE_VERSION);
			return stdout_status();
		case OPT_RUN:
			run_cmd = optarg;
			break;
		case OPT_EXIT_WITH_PARENT:
			exit_with_parent = true;
			break;
		default:
			rc = rt_parse_option(&o, opt, optarg);
			if (rc == 1)
				break;
			if (rc == 0)
				fprintf(stderr, "Try '%s --help' for more "
				    "information.\n", log_progname());
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		uint16_t shelf;
		uint8_t slot;
		unsigned j;

		if (target_name_parse(argv[i], &shelf, &slot) < 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "'%.64s' is not a target "
			    "name (e.g. e1.0)", argv[i]);
			usage_error(msg);
		}
		for (j = 0; j < cfg.ntargets; j++)
			if (cfg.shelves[j] == shelf && cfg.slots[j] == slot)
				break;
		if (j < cfg.ntargets)
			continue;
		if (cfg.ntargets == NBDS_MAX_TARGETS)
			usage_error("too many targets (at most 256)");
		cfg.shelves[cfg.ntargets] = shelf;
		cfg.slots[cfg.ntargets] = slot;
		cfg.ntargets++;
	}

	/* systemd socket activation: fds 3.. are listening sockets. */
	{
		const char *lp = getenv("LISTEN_PID");
		const char *lf = getenv("LISTEN_FDS");
		unsigned long long v, n;

		if (lp != NULL && lf != NULL &&
		    parse_uint(lp, 1, INT_MAX, &v) == 0 &&
		    (pid_t)v == getpid() &&
		    parse_uint(lf, 1, 1024, &n) == 0) {
			socket_activation = true;
			listen_fds = (unsigned)n;
		}
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	if (socket_activation && (port || ipaddr || unix_arg || single ||
	    run_cmd))
		usage_error("-p, -i, -U, -s and --run cannot be used "
		    "with socket activation (LISTEN_FDS)");
	if (single && (port || ipaddr || unix_arg || run_cmd))
		usage_error("-s cannot be used with -p, -i, -U or --run");
	if (unix_arg && (port || ipaddr))
		usage_error("-U cannot be used with -p or -i");
	if (unix_arg != NULL && unix_arg[0] == '\0')
		usage_error("-U needs a path (or -)");
	if (pidfile_arg != NULL && pidfile_arg[0] == '\0')
		usage_error("-P needs a file name");
	if (ipaddr != NULL && ipaddr[0] == '\0')
		usage_error("-i needs an address (e.g. 0.0.0.0 or ::)");
	if (port != NULL && !port_valid(port))
		usage_error("-p: a port number 0 to 65535 or a service name "
		    "from /etc/services");
	if (single || socket_activation || run_cmd || exit_with_parent)
		foreground = true;
	a.single = single;

	/* -g first: -u takes the user's group only when -g is not given. */
	if (group_arg != NULL && priv_parse_group(group_arg, &ids) < 0) {
		fprintf(stderr, "%s: -g %s: no such group\n", log_progname(),
		    group_arg);
		return EXIT_USAGE;
	}
	if (user_arg != NULL && (rc = priv_parse_user(user_arg, &ids)) < 0) {
		fprintf(stderr, "%s: -u %s: %s\n", log_progname(), user_arg,
		    rc == -ESRCH ? "not in the passwd file: give its group "
		    "with -g" : "no such user");
		return EXIT_USAGE;
	}

	if (tcfg.mode == TLS_OFF && (tcfg.cert_dir || tcfg.psk_file ||
	    tcfg.verify_peer))
		usage_error("--tls-certificates, --tls-psk and "
		    "--tls-verify-peer need --tls=on or --tls=require");
	if (tcfg.psk_file != NULL && tcfg.verify_peer)
		usage_error("--tls-verify-peer is for X.509 certificates, "
		    "not --tls-psk");
	if (tcfg.mode != TLS_OFF && !tls_supported())
		usage_error("--tls: this aoe-nbd was built without GnuTLS");
	if (tcfg.mode != TLS_OFF && tcfg.psk_file == NULL &&
	    tcfg.cert_dir == NULL) {
		const char *home = getenv("HOME");

		/* nbdkit's defaults, under our own name. */
		if (geteuid() != 0 && home != NULL && home[0] != '\0')
			snprintf(certdir, sizeof(certdir), "%s/.pki/aoe-nbd",
			    home);
		else
			snprintf(certdir, sizeof(certdir), "/etc/pki/aoe-nbd");
		tcfg.cert_dir = certdir;
	}
	if (tcfg.mode != TLS_OFF) {
		/* Read now: the key files may be root's alone. */
		rc = tls_creds_new(&creds, &tcfg, tlsmsg, sizeof(tlsmsg));
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", log_progname(), tlsmsg);
			return EXIT_FAIL;
		}
	}

	if (exit_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			fatal(EXIT_FAIL, "prctl PR_SET_PDEATHSIG");
		if (getppid() != ppid)  /* the parent is already gone */
			return EXIT_OK;
	}

	/*
	 * Signals arrive through a signalfd in the loop: no handler races.
	 * A peer gone mid-send must not kill us: SIGPIPE is ignored (and
	 * sends use MSG_NOSIGNAL anyway).
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);

	cfg.read_only = readonly;
	cfg.wait_ns = o.wait_ns;
	cfg.tls = tcfg.mode;
	cfg.tls_creds = creds;
	cfg.conn_closed = on_conn_closed;
	cfg.arg = &a;
	o.ecfg.read_only = o.ecfg.read_only || readonly;

	rc = loop_new(&a.loop);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot create the event loop: %s\n",
		    log_progname(), strerror(-rc));
		tls_creds_free(creds);
		return EXIT_FAIL;
	}
	if (open_signalfd(&a, &mask) < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", log_progname(),
		    strerror(errno));
		status = EXIT_FAIL;
		goto out;
	}
	rc = nbds_new(&a.s, &cfg, a.loop);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", log_progname(), strerror(-rc));
		status = EXIT_FAIL;
		goto out;
	}
	status = rt_new(&a.rt, &o, a.loop, &front_ops, &a);
	if (status != EXIT_OK)
		goto out;
	nbds_set_engine(a.s, rt_engine(a.rt));

	/* ------------------------------------------------ listening */
	if (run_cmd != NULL && !port && !ipaddr && !unix_arg)
		unix_arg = "-";
	if (socket_activation) {
		for (unsigned i = 0; i < listen_fds; i++) {
			rc = nbds_listen_fd(a.s, LISTEN_FDS_START + (int)i);
			if (rc < 0) {
				fprintf(stderr, "%s: socket activation fd %u: "
				    "%s\n", log_progname(),
				    LISTEN_FDS_START + i, strerror(-rc));
				status = EXIT_FAIL;
				goto out;
			}
		}
	} else if (single) {
		rc = nbds_serve_fds(a.s, 0, 1);
		if (rc < 0) {
			fprintf(stderr, "%s: stdin/stdout: %s%s\n",
			    log_progname(), strerror(-rc), rc == -EPERM ?
			    " (-s serves a socket or a pipe, not a file or "
			    "a device)" : "");
			status = EXIT_FAIL;
			goto out;
		}
	} else if (unix_arg != NULL) {
		if (strcmp(unix_arg, "-") == 0) {
			char tmpl[] = "/tmp/aoe-nbdXXXXXX";

			if (mkdtemp(tmpl) == NULL) {
				fprintf(stderr, "%s: mkdtemp: %s\n",
				    log_progname(), strerror(errno));
				status = EXIT_FAIL;
				goto out;
			}
			private_dir = strdup(tmpl);
			if (private_dir != NULL &&
			    asprintf(&unix_path, "%s/socket", tmpl) < 0)
				unix_path = NULL;
		} else {
			unix_path = absolute_path(unix_arg);
		}
		if (unix_path == NULL) {
			fprintf(stderr, "%s: out of memory\n", log_progname());
			status = EXIT_FAIL;
			goto out;
		}
		rc = nbds_listen_unix(a.s, unix_path, &err);
		if (rc < 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s: %s\n",
			    log_progname(), unix_path, err ? err : "",
			    strerror(-rc));
			status = EXIT_FAIL;
			goto out;
		}
		/*
		 * -u/-g: the socket (mode 0600) and our private directory
		 * belong to who we become, so that user can connect and we
		 * can remove them at exit.
		 */
		if ((ids.set_uid || ids.set_gid) &&
		    (chown(unix_path, ids.set_uid ? ids.uid : (uid_t)-1,
		    ids.set_gid ? ids.gid : (gid_t)-1) < 0 ||
		    (private_dir != NULL && chown(private_dir,
		    ids.set_uid ? ids.uid : (uid_t)-1,
		    ids.set_gid ? ids.gid : (gid_t)-1) < 0))) {
			fprintf(stderr, "%s: chown %s: %s\n", log_progname(),
			    unix_path, strerror(errno));
			status = EXIT_FAIL;
			goto out;
		}
	} else {
		rc = nbds_listen_tcp(a.s, ipaddr, port ? port : DEFAULT_PORT,
		    &err);
		if (rc < 0) {
			fprintf(stderr, "%s: cannot listen on %s port %s: "
			    "%s%s%s\n", log_progname(),
			    ipaddr ? ipaddr : "127.0.0.1",
			    port ? port : DEFAULT_PORT, err ? err : "",
			    rc == -ENOENT ? "" : ": ",
			    rc == -ENOENT ? "" : strerror(-rc));
			status = EXIT_FAIL;
			goto out;
		}
	}

	/* Else nobody would know where to connect. */
	if (private_dir != NULL && run_cmd == NULL)
		fprintf(stderr, "%s: listening on %s\n", log_progname(),
		    unix_path);
	if (pidfile_arg != NULL) {
		pidfile = absolute_path(pidfile_arg);
		if (pidfile == NULL) {
			fprintf(stderr, "%s: out of memory\n", log_progname());
			status = EXIT_FAIL;
			goto out;
		}
	}
	if (!foreground) {
		/* The daemon carries on with the links' rings. */
		rt_fork_inherit(a.rt, true);
		daemon_fork(&ready_fd, &daemon_mask);
		rt_fork_inherit(a.rt, false);
		/*
		 * A signalfd polled through epoll waits on the signal queue
		 * of the process that added it: the parent's, now gone.
		 */
		if (open_signalfd(&a, &mask) < 0) {
			log_warn("signalfd");
			status = EXIT_FAIL;
			goto out;
		}
	}
	if (pidfile != NULL) {
		rc = pidfile_write(pidfile);
		if (rc < 0) {
			log_warnx("cannot write %s: %s", pidfile,
			    strerror(-rc));
			status = EXIT_FAIL;
			goto out;
		}
		close(rc); /* the file is left behind at exit */
	}

	if (run_cmd != NULL) {
		bool tls = tcfg.mode == TLS_REQUIRE;

		uri[0] = '\0';
		if (unix_path != NULL) {
			snprintf(uri, sizeof(uri), "%s:///",
			    tls ? "nbds+unix" : "nbd+unix");
			uri_append(uri, sizeof(uri), export, false);
			strncat(uri, "?socket=", sizeof(uri) - strlen(uri) - 1);
			uri_append(uri, sizeof(uri), unix_path, true);
		} else {
			const char *h = ipaddr ? ipaddr : "127.0.0.1";
			bool v6 = strchr(h, ':') != NULL;

			/* A wildcard address: reach it by its loopback. */
			if (strcmp(h, "0.0.0.0") == 0)
				h = "127.0.0.1";
			else if (strcmp(h, "::") == 0)
				h = "::1";
			snprintf(uri, sizeof(uri), "%s://%s%s%s:%u/",
			    tls ? "nbds" : "nbd", v6 ? "[" : "", h,
			    v6 ? "]" : "",
			    nbds_tcp_port(a.s));
			uri_append(uri, sizeof(uri), export, false);
		}
		rc = spawn_run(&a, run_cmd, &oldmask, uri, unix_path,
		    unix_path ? 0 : nbds_tcp_port(a.s), export,
		    tcfg.mode == TLS_REQUIRE ? "require" :
		    tcfg.mode == TLS_ON ? "on" : "off");
		if (rc < 0) {
			fprintf(stderr, "%s: --run: fork: %s\n",
			    log_progname(), strerror(-rc));
			status = EXIT_FAIL;
			goto out;
		}
	}

	/*
	 * The kernel's NBD client (a root or swap device) writes back
	 * through us: reclaim must not wait on our own I/O (needs
	 * CAP_SYS_RESOURCE, dropped below; best effort).
	 */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_debug("PR_SET_IO_FLUSHER: %s", strerror(errno));

	/*
	 * Everything is open (links, sockets, key files; the --run command
	 * started with our privileges): keep none of them (CAP_NET_RAW
	 * included), and become -u/-g.
	 */
	memset(&prep, 0, sizeof(prep));
	rc = priv_drop(&ids, PRIV_NO_NEW_PRIVS, &prep, &perr);
	if (rc < 0) {
		log_warnx("cannot drop privileges: %s: %s", perr,
		    strerror(-rc));
		status = EXIT_FAIL;
		a.stop = true;
	} else {
		log_debug("privileges dropped%s%s", prep.bounding_dropped ?
		    "" : " (bounding set kept: no CAP_SETPCAP)",
		    ids.set_uid || ids.set_gid ? "; user changed" : "");
		/* Serving: the parent may go (its failures came first). */
		daemon_ready(ready_fd, NULL);
		ready_fd = -1;
	}

	/* ------------------------------------------------ serve */
	while (!a.stop) {
		rc = loop_run(a.loop, UINT64_MAX);
		if (rc < 0) {
			log_warnx("event loop: %s", strerror(-rc));
			status = EXIT_FAIL;
			break;
		}
		if (loop_stopped(a.loop))
			break;
	}

	/*
	 * Signalled while the --run command runs: stop it first, or its
	 * connections would hold the grace period below to the end.
	 */
	if (run_cmd != NULL && !a.run_done && a.run_pid > 0)
		stop_run(&a);
	/* Stop accepting; let requests in flight finish, within reason. */
	nbds_shutdown(a.s);
	deadline = loop_now() + GRACE_NS;
	while (nbds_open_conns(a.s) > 0 && !a.force &&
	    loop_now() < deadline) {
		if (loop_run_once(a.loop, deadline) < 0)
			break;
	}
	if (run_cmd != NULL && status == EXIT_OK)
		status = a.run_status;

out:
	if (a.s != NULL)
		nbds_close_all(a.s);
	/* --reserve's reservations go. */
	rt_reserve_release(a.rt);
	/* Runs every engine callback left: their connections are fenced. */
	rt_free(a.rt);
	nbds_free(a.s);
	bufpool_drain();
	if (a.sigfd >= 0) {
		loop_del_fd(a.loop, a.sigfd);
		close(a.sigfd);
	}
	loop_free(a.loop);
	tls_creds_free(creds);
	if (private_dir != NULL)
		rmdir(private_dir);
	free(private_dir);
	free(unix_path);
	free(pidfile);
	return status;
}
