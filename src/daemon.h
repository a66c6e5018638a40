/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Going into the background as aoe-nbd and aoe-fuse do: the parent stays
 * until the child is ready (listening, mounted), so that a failure on the
 * way gets its message on the terminal and its exit status, and a
 * SIGINT, SIGTERM or SIGHUP meanwhile (Ctrl-C) reaches the child.
 */
#ifndef AOE_DAEMON_H
#define AOE_DAEMON_H

#include <signal.h>

/*
 * Fork: the parent waits for the child to say it is ready (daemon_ready)
 * and exits 0, exits with the child's status when it fails first, or
 * passes a SIGINT, SIGTERM or SIGHUP on; then it waits for the child's
 * end and dies of that signal.  Those signals and SIGCHLD are blocked from
 * before the fork, so that none is lost while the child has no handler
 * yet: it returns in the child, in a new session, with them still
 * blocked (*old_mask: the mask from before) and *ready_fd to pass to
 * daemon_ready.  Exits on failure.
 */
void daemon_fork(int *ready_fd, sigset_t *old_mask);

/*
 * Ready (listening, mounted): a service manager that waits for it is told
 * (READY=1 to $NOTIFY_SOCKET, systemd's Type=notify), forked or not.
 * Forked, the child then has stdin, stdout and stderr on /dev/null, the
 * working directory /, logging to syslog as progname (NULL: as before),
 * and the parent released; nothing more when ready_fd < 0 (not forked).
 */
void daemon_ready(int ready_fd, const char *progname);

#endif
