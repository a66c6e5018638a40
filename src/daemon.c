/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Going into the background (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "rt.h"

/*
 * The parent of daemon_fork(), until the child is ready or gone.  A
 * SIGINT, SIGTERM or SIGHUP is passed on to the child, which gives up
 * (unmounting, closing what it opened): a ready byte after one does not
 * count, the parent waits for the child's end and then dies of that
 * signal, as an interrupted command does (a shell says 128 + its number).
 * Without one it exits 0 on the ready byte, or with the child's status.
 */
static void __attribute__((noreturn))
parent_wait(pid_t pid, int ready_rd, int sfd)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2] = {
		{ .fd = ready_rd, .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
	};
	struct sigaction sa;
	sigset_t mask;
	int sig = 0, st = 0;
	char c;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(EXIT_FAIL);
		}
		/* Signals first: one that came with the ready byte counts. */
		if (pfd[1].revents != 0) {
			if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				sig = (int)si.ssi_signo;
				kill(pid, sig);
			} else if (waitpid(pid, &st, WNOHANG) == pid) {
				break;
			}
			continue;
		}
		if (pfd[0].revents != 0) {
			n = read(ready_rd, &c, 1);
			if (n == 1 && sig == 0)
				_exit(EXIT_OK);
			/* Interrupted, or the child failed: await its end. */
			if (n >= 0)
				pfd[0].fd = -1;
		}
	}
	if (sig == 0)
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_FAIL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	raise(sig);
	sigemptyset(&mask);
	sigaddset(&mask, sig);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	_exit(128 + sig);
}

void
daemon_fork(int *ready_fd, sigset_t *old_mask)
{
	struct sigaction sa;
	sigset_t mask;
	int p[2], sfd;
	pid_t pid;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	/* An inherited SIG_IGN would reap the child before we could. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigprocmask(SIG_BLOCK, &mask, old_mask);
	if (pipe2(p, O_CLOEXEC) < 0)
		fatal(EXIT_FAIL, "pipe");
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		fatal(EXIT_FAIL, "signalfd");
	pid = fork();
	if (pid < 0)
		fatal(EXIT_FAIL, "fork");
	if (pid > 0) {
		close(p[1]);
		parent_wait(pid, p[0], sfd);
	}
	close(sfd);
	close(p[0]);
	setsid();
	*ready_fd = p[1];
}

/*
 * Tell a service manager (systemd's Type=notify, $NOTIFY_SOCKET: a path,
 * or "@" for an abstract name) that we are ready, as sd_notify(3) does
 * without libsystemd.  Best effort: the manager times the start out if
 * it never hears.  Unset afterwards, so that no child speaks for us.
 */
static void
notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[64];
	size_t len;
	socklen_t salen;
	int fd, n;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path)) {
		log_warnx("NOTIFY_SOCKET too long");
		goto out;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\n",
	    (long)getpid());
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("NOTIFY_SOCKET: socket");
		goto out;
	}
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    salen) < 0)
		log_warn("NOTIFY_SOCKET %s", path);
	close(fd);
out:
	unsetenv("NOTIFY_SOCKET");
}

void
daemon_ready(int ready_fd, const char *progname)
{
	int fd;

	notify_ready();
	if (ready_fd < 0)
		return;
	if (chdir("/") < 0)
		log_warn("chdir /");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	log_init(progname, false);
	if (write(ready_fd, "", 1) != 1)
		log_warn("telling the parent");
	close(ready_fd);
}
