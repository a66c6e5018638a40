/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dropping privileges (see priv.h) with the raw capget/capset system calls
 * and prctl, so no libcap is needed: bounding set, ambient set, user and
 * groups, then the process sets, each checked afterwards.  Also the root
 * FUSE unmount helper.  Nothing here knows about AoE.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "priv.h"
#include "util.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x8
#endif

#define UNMOUNT_WAIT_NS (5ULL * 1000 * 1000 * 1000)

/* ---------------------------------------------------------- ids */

static int
parse_number(const char *s, unsigned *out)
{
	unsigned long long v;

	if (parse_uint(s, 0, 0xfffffffeULL, &v) < 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int
priv_parse_user(const char *s, struct priv_ids *ids)
{
	struct passwd *pw;
	unsigned v;

	if (s[0] == '\0')
		return -EINVAL;
	pw = getpwnam(s);
	if (pw == NULL && parse_number(s, &v) == 0)
		pw = getpwuid((uid_t)v);
	if (pw != NULL) {
		ids->uid = pw->pw_uid;
		if (!ids->set_gid) {
			ids->gid = pw->pw_gid;
			ids->set_gid = true;
		}
	} else if (parse_number(s, &v) == 0) {
		/* A bare number with no passwd entry: no group of its own. */
		if (!ids->set_gid)
			return -ESRCH;
		ids->uid = (uid_t)v;
	} else {
		return -EINVAL;
	}
	ids->set_uid = true;
	return 0;
}

int
priv_parse_group(const char *s, struct priv_ids *ids)
{
	struct group *gr;
	unsigned v;

	if (s[0] == '\0')
		return -EINVAL;
	gr = getgrnam(s);
	if (gr != NULL)
		ids->gid = gr->gr_gid;
	else if (parse_number(s, &v) == 0)
		ids->gid = (gid_t)v;
	else
		return -EINVAL;
	ids->set_gid = true;
	return 0;
}

/* ---------------------------------------------------------- capabilities */

static unsigned
cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	unsigned v = CAP_LAST_CAP;

	if (f != NULL) {
		if (fscanf(f, "%u", &v) != 1 || v > 63)
			v = CAP_LAST_CAP;
		fclose(f);
	}
	return v;
}

/* Effective = permitted = keep (a capability bit mask), inheritable = 0. */
static int
caps_set(uint64_t keep)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		d[i].effective = (uint32_t)(keep >> (32 * i));
		d[i].permitted = (uint32_t)(keep >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, d) < 0)
		return -errno;
	return 0;
}

/* Our capability sets, as capget(2) gives them.  Returns 0 or -errno. */
static int
caps_read(struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3])
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};

	memset(d, 0, sizeof(*d) * _LINUX_CAPABILITY_U32S_3);
	if (syscall(SYS_capget, &hdr, d) < 0)
		return -errno;
	return 0;
}

/* The effective, permitted and inheritable sets ORed together. */
static int
caps_get(uint64_t *any)
{
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int rc = caps_read(d);

	if (rc < 0)
		return rc;
	*any = 0;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		*any |= (uint64_t)(d[i].effective | d[i].permitted |
		    d[i].inheritable) << (32 * i);
	return 0;
}

bool
priv_cap_effective(unsigned cap)
{
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (cap >= 32 * _LINUX_CAPABILITY_U32S_3 || caps_read(d) < 0)
		return false;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/*
 * Drop every capability not in keep from the bounding set.  Returns 1 when
 * done, 0 when not allowed (no CAP_SETPCAP), -errno.
 */
static int
bounding_drop(uint64_t keep, unsigned last)
{
	bool any = false;

	for (unsigned c = 0; c <= last; c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
			continue;  /* not there already */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;  /* beyond what the kernel knows */
			if (errno == EPERM && !any)
				return 0;
			return -errno;
		}
		any = true;
	}
	return 1;
}

static int
drop_to(uint64_t keep, const struct priv_ids *ids, unsigned flags,
    struct priv_report *rep, const char **err)
{
	unsigned last = cap_last();
	uint64_t have = 0;
	int rc;

	/* While CAP_SETPCAP is still ours (it is as root). */
	rc = bounding_drop(keep, last);
	if (rc < 0) {
		*err = "PR_CAPBSET_DROP";
		return rc;
	}
	if (rep != NULL)
		rep->bounding_dropped = rc == 1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL) {
		*err = "PR_CAP_AMBIENT_CLEAR_ALL";
		return -errno;
	}
	if (ids != NULL && (ids->set_gid || ids->set_uid)) {
		if (setgroups(0, NULL) < 0) {
			*err = "setgroups";
			return -errno;
		}
	}
	if (ids != NULL && ids->set_gid &&
	    setresgid(ids->gid, ids->gid, ids->gid) < 0) {
		*err = "setgid";
		return -errno;
	}
	if (ids != NULL && ids->set_uid &&
	    setresuid(ids->uid, ids->uid, ids->uid) < 0) {
		*err = "setuid";
		return -errno;
	}
	rc = caps_set(keep);
	if (rc < 0) {
		*err = "capset";
		return rc;
	}
	if ((flags & PRIV_NO_NEW_PRIVS) &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*err = "PR_SET_NO_NEW_PRIVS";
		return -errno;
	}

	/* ------------------------------------------ no way back */
	*err = "check";
	rc = caps_get(&have);
	if (rc < 0)
		return rc;
	if (have & ~keep)
		return -EPERM;
	for (unsigned c = 0; c <= last; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0)
			return -EPERM;
	if (ids != NULL && ids->set_uid) {
		uid_t r, e, s;

		if (getresuid(&r, &e, &s) < 0 || r != ids->uid ||
		    e != ids->uid || s != ids->uid)
			return -EPERM;
		if (ids->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
			return -EPERM;
	}
	if (ids != NULL && ids->set_gid) {
		gid_t r, e, s;

		if (getresgid(&r, &e, &s) < 0 || r != ids->gid ||
		    e != ids->gid || s != ids->gid)
			return -EPERM;
		if (ids->gid != 0 && (setgid(0) == 0 || setegid(0) == 0))
			return -EPERM;
	}
	if (ids != NULL && (ids->set_gid || ids->set_uid) &&
	    getgroups(0, NULL) != 0)
		return -EPERM;
	*err = NULL;
	return 0;
}

int
priv_drop(const struct priv_ids *ids, unsigned flags,
    struct priv_report *rep, const char **err)
{
	const char *dummy;

	if (err == NULL)
		err = &dummy;
	return drop_to(0, ids, flags, rep, err);
}

/* ---------------------------------------------------------- unmounter */

struct priv_unmounter {
	pid_t pid;
	int wfd;
	bool user;    /* an ordinary user's: only at our death, fusermount3 */
};

/* mountinfo escapes blanks and backslashes as \ooo. */
static void
unescape(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
			    (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* Never stats the mount: it may be ours, not answering yet. */
int
priv_fuse_mount_dev(const char *path, char *dev, size_t devlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (f == NULL)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *fld[5], *p, *type;
		unsigned n = 0;

		for (p = strtok_r(line, " \n", &save); p != NULL && n < 5;
		    p = strtok_r(NULL, " \n", &save))
			fld[n++] = p;
		if (n < 5)
			continue;
		/* Optional fields end at "-"; the type comes next. */
		type = NULL;
		for (p = strtok_r(NULL, " \n", &save); p != NULL;
		    p = strtok_r(NULL, " \n", &save)) {
			if (strcmp(p, "-") == 0) {
				type = strtok_r(NULL, " \n", &save);
				break;
			}
		}
		if (type == NULL || strncmp(type, "fuse", 4) != 0)
			continue;
		unescape(fld[4]);
		if (strcmp(fld[4], path) != 0)
			continue;
		/* The last one listed is the one on top. */
		snprintf(dev, devlen, "%s", fld[2]);
		rc = 0;
	}
	free(line);
	fclose(f);
	return rc;
}

static void unmounter_main(int rfd, const char *path, const char *dev,
    bool user) __attribute__((noreturn));

/*
 * An ordinary user's mount, still there after its daemon died: unmounted
 * with the set-user-ID fusermount3 -u, which needs no privilege of ours.
 */
static void
unmount_user(const char *path)
{
	static const char *const dirs[] = { "/usr/bin/", "/bin/",
	    "/usr/local/bin/" };
	char prog[64];
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
			snprintf(prog, sizeof(prog), "%sfusermount3", dirs[i]);
			execl(prog, "fusermount3", "-u", "-q", "-z", "--", path,
			    (char *)NULL);
		}
		execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--",
		    path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	_exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
}

static void
unmounter_main(int rfd, const char *path, const char *dev, bool user)
{
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	    SIGPIPE, SIGUSR1, SIGUSR2 };
	char now[32], c;
	const char *err;
	sigset_t none;
	ssize_t n;
	int fd;

	/* Nothing of the parent's: not its FUSE fd, sockets or terminal. */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (dup2(rfd, 3) < 0)
		_exit(1);
	if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
		for (int i = 4; i < 1024; i++)
			close(i);
	/* A signal to the whole group must not stop the unmount. */
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "aoe-umount", 0, 0, 0);
	/* A user's: no capability at all, and fusermount3 may run (setuid). */
	if (drop_to(user ? 0 : 1ULL << CAP_SYS_ADMIN, NULL,
	    user ? 0 : PRIV_NO_NEW_PRIVS, NULL, &err) < 0)
		_exit(1);
	/* A byte: unmount now; end of file: the parent is gone. */
	do {
		n = read(3, &c, 1);
	} while (n < 0 && errno == EINTR);
	if (user) {
		/* A clean exit: libfuse unmounts through fusermount3. */
		if (n == 1)
			_exit(0);
		if (priv_fuse_mount_dev(path, now, sizeof(now)) == 0 &&
		    strcmp(now, dev) == 0)
			unmount_user(path);
		_exit(0);
	}
	if (priv_fuse_mount_dev(path, now, sizeof(now)) == 0 &&
	    strcmp(now, dev) == 0 &&
	    umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		_exit(1);
	_exit(0);
}

static int
unmounter_start(struct priv_unmounter **out, const char *mountpoint,
    bool user)
{
	struct priv_unmounter *u;
	char dev[32];
	int p[2], rc;

	*out = NULL;
	rc = priv_fuse_mount_dev(mountpoint, dev, sizeof(dev));
	if (rc < 0)
		return rc;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		free(u);
		return rc;
	}
	u->pid = fork();
	if (u->pid < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		free(u);
		return rc;
	}
	if (u->pid == 0) {
		close(p[1]);
		unmounter_main(p[0], mountpoint, dev, user);
	}
	close(p[0]);
	u->wfd = p[1];
	u->user = user;
	*out = u;
	return 0;
}

int
priv_unmounter_start(struct priv_unmounter **out, const char *mountpoint)
{
	return unmounter_start(out, mountpoint, false);
}

int
priv_unmounter_start_user(struct priv_unmounter **out, const char *mountpoint)
{
	return unmounter_start(out, mountpoint, true);
}

int
child_wait(pid_t pid, pid_t kill_who, uint64_t timeout_ns, int *st)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	uint64_t until = loop_now() + timeout_ns;

	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (loop_now() >= until)
			break;
		nanosleep(&ts, NULL);
	}
	kill(kill_who, SIGKILL);
	while (waitpid(pid, st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 1;
}

bool
priv_unmounter_finish(struct priv_unmounter *u)
{
	bool gone = false;
	int st, rc;

	if (u == NULL)
		return false;
	if (write(u->wfd, "u", 1) != 1)
		log_debug("unmount helper: %s", strerror(errno));
	close(u->wfd);
	rc = child_wait(u->pid, u->pid, UNMOUNT_WAIT_NS, &st);
	if (rc == 1) {
		log_warnx("the unmount helper did not finish: killed it");
	} else if (rc == 0) {
		gone = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!gone)
			log_warnx("the unmount helper failed");
	}
	/* A user's helper leaves a clean exit's unmount to libfuse. */
	if (u->user)
		gone = false;
	free(u);
	return gone;
}
