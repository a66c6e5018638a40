/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE front end: AoE targets as regular files, either a directory with
 * one file per identified target (e1.0, ...) or one target as the mount's
 * root, mounted over a regular file.  libfuse's low-level API on the
 * project's event loop: requests are read from the session fd and answered
 * from engine completions, so one thread keeps many requests in flight.
 */
#ifndef AOE_FUSEFS_H
#define AOE_FUSEFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct engine;
struct fuse_args;
struct loop;
struct target;

struct fusefs_config {
	bool single;           /* one target as the root file */
	uint16_t shelf;        /* that target, when single */
	uint8_t slot;
	uid_t uid;             /* owner of the files (default: getuid()) */
	gid_t gid;
	mode_t mode;           /* permission bits (default 0600); write bits
				  are dropped for read-only targets */
	bool read_only;        /* every write fails EROFS */
	bool reserve;          /* --reserve: a target opened is reserved for
				  this host (engine_reserve_hold) */
	bool direct_io;        /* FOPEN_DIRECT_IO: bypass the page cache */
	bool async_dio;        /* the kernel's async direct I/O: libaio and
				  io_uring O_DIRECT queued deep, but waited
				  for uninterruptibly */
	unsigned max_write;    /* bytes per WRITE request (default 1 MiB) */
	unsigned max_read;     /* bytes per READ request, as given to libfuse
				  with -o max_read (0: max_write's) */
	unsigned max_background; /* kernel async requests (default 64) */
	double attr_timeout;   /* seconds the kernel caches attributes (1) */
	int read_ahead_kb;     /* the mount's readahead (default 1024 KiB);
				  -1: leave the kernel's (128 KiB) */
	bool read_ahead_set;   /* given by the user: say why it failed */
};

struct fusefs;

/* Fill *c with the defaults above. */
void fusefs_config_default(struct fusefs_config *c);

/*
 * Create the front end and its FUSE session.  args holds libfuse's mount
 * options (argv[0] first, "-o" options after); fuse_session_new takes them
 * over.  Returns 0, -EINVAL for options libfuse refuses (it has printed
 * why), or -ENOMEM.
 */
int fusefs_new(struct fusefs **out, const struct fusefs_config *c,
    struct fuse_args *args, struct loop *loop);

/* The engine the requests go to; set before fusefs_mount. */
void fusefs_set_engine(struct fusefs *fs, struct engine *e);

/*
 * The engine's event callback (struct engine_ops .event, ctx = the
 * fusefs): logs targets coming up and going dead, and makes the kernel
 * drop its cached attributes when a target changes.
 */
void fusefs_engine_event(void *ctx, struct target *t, int event);

/*
 * Mount on MOUNTPOINT (an absolute path: a directory, or a regular file
 * when single) and register the session fd with the loop.  Returns 0 or
 * -errno (libfuse or fusermount3 has printed why).
 */
int fusefs_mount(struct fusefs *fs, const char *mountpoint);

/*
 * Set the mount's readahead (cfg.read_ahead_kb) in its backing device
 * info, /sys/class/bdi/MAJOR:MINOR/read_ahead_kb, right after the kernel
 * took our answer to FUSE_INIT (which may only lower it): the file is
 * opened now, with the privileges the write needs, and written then.
 * Call after fusefs_mount(), with MOUNTPOINT as given to it.  Best effort:
 * without root only logged.
 */
void fusefs_set_read_ahead(struct fusefs *fs, const char *mountpoint);

/*
 * True once the session ended from outside (fusermount3 -u, umount, a
 * connection abort).  The front end then also calls loop_stop().
 */
bool fusefs_ended(const struct fusefs *fs);
/* The kernel's INIT was refused (libfuse said why): the mount is dead. */
bool fusefs_failed(const struct fusefs *fs);

/* FUSE requests waiting for the engine now. */
unsigned fusefs_inflight(const struct fusefs *fs);

/*
 * Stop reading requests, run the loop up to drain_ns (relative) while
 * requests are still waiting for the engine, then unmount.  Requests still
 * pending after that are answered when the engine is freed.  Idempotent.
 */
void fusefs_unmount(struct fusefs *fs, uint64_t drain_ns);
/*
 * The mount was removed by other means (the unmount helper): the
 * unmount above only has libfuse free what it holds (libfuse also tries
 * to unmount again, and fails; that is not said).
 */
void fusefs_mount_gone(struct fusefs *fs);

/*
 * Free the session and the front end.  Call after fusefs_unmount and after
 * the engine is freed (its cancelled requests answer through the session).
 * NULL-safe.
 */
void fusefs_free(struct fusefs *fs);

#endif
