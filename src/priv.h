/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Least privilege for every program: once the raw links (and listening
 * sockets, mounts, key files) are open, give up every capability for good
 * and, with -u/-g, become an ordinary user.  Raw capset/prctl calls, no
 * libcap.  Also a small helper process that keeps nothing but
 * CAP_SYS_ADMIN to unmount a root FUSE mount at exit.
 */
#ifndef AOE_PRIV_H
#define AOE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

/* For a program the kernel writes back through (prctl; Linux 5.6). */
#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#include <sys/types.h>

struct priv_ids {
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
};

/*
 * -u USER: a name or a number.  Without -g (parsed first) the user's
 * primary group is used too; a number with no passwd entry has none, so
 * needs -g (-ESRCH).  0, -EINVAL (no such user) or -ESRCH.
 */
int priv_parse_user(const char *s, struct priv_ids *ids);
/* -g GROUP: a name or a number.  0 or -EINVAL. */
int priv_parse_group(const char *s, struct priv_ids *ids);

/* priv_drop flags */
#define PRIV_NO_NEW_PRIVS 0x1   /* no setuid/file-capability gain on exec */

struct priv_report {
	bool bounding_dropped;   /* false: not allowed (no CAP_SETPCAP) */
};

/*
 * Give up every privilege for good: the capability bounding set (when
 * CAP_SETPCAP allows; it does as root), the ambient set, then with ids
 * setgroups/setresgid/setresuid, then the effective, permitted and
 * inheritable sets; then check that none of it can come back (setuid(0)
 * must fail after a change of user).  ids may be NULL.  0 or -errno with
 * *err naming the failing step; the report (may be NULL) says what was
 * possible.
 */
int priv_drop(const struct priv_ids *ids, unsigned flags,
    struct priv_report *rep, const char **err);

/* Whether capability cap (CAP_SYS_ADMIN ...) is in our effective set. */
bool priv_cap_effective(unsigned cap);

struct priv_unmounter;

/*
 * Before dropping privileges as root: start a helper process that keeps
 * only CAP_SYS_ADMIN and waits; priv_unmounter_finish() (or our death)
 * makes it unmount mountpoint (lazily, and only if the FUSE mount found
 * now is still there).  0, or -errno (nothing started).
 */
/*
 * The device ("MAJOR:MINOR") of the top FUSE mount on path, from
 * /proc/self/mountinfo (the mount itself is not touched: it may be ours
 * and not answering yet).  0 or -ENOENT.
 */
int priv_fuse_mount_dev(const char *path, char *dev, size_t devlen);
int priv_unmounter_start(struct priv_unmounter **out, const char *mountpoint);
/*
 * The same for an ordinary user's mount (no privilege needed, none kept):
 * a helper that unmounts with fusermount3 -u -z if we die (the mount still
 * there), which fusermount3's own auto_unmount fails to do for a mount
 * without allow_other (libfuse 3.14: it opens the mount point as root and
 * gets EACCES, not ENOTCONN).  priv_unmounter_finish() then just ends it
 * (false: libfuse unmounts).
 */
int priv_unmounter_start_user(struct priv_unmounter **out,
    const char *mountpoint);
/*
 * Unmount now and wait (at most a few seconds) for the helper; true when
 * the mount is gone (unmounted, or found unmounted already).  NULL-safe
 * (false).
 */
bool priv_unmounter_finish(struct priv_unmounter *u);

/*
 * Wait for child pid to end, at most timeout_ns (polling); then SIGKILL
 * kill_who (the child, or -its process group) and wait for it.  *st gets
 * its wait status.  Returns 0 when it ended by itself, 1 when it was
 * killed, -errno when it cannot be waited for.
 */
int child_wait(pid_t pid, pid_t kill_who, uint64_t timeout_ns, int *st);

#endif
