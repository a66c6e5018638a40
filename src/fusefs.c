/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE front end on libfuse's low-level API: inodes, attributes and
 * directory listing for the targets, and read/write/flush/fallocate turned
 * into engine requests answered from their completions.  The session fd is
 * read from the event loop; nothing here blocks or starts a thread.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_MALLOC_USABLE_SIZE
#include <malloc.h>
#endif

#include "bufpool.h"
#include "engine.h"
#include "fusefs.h"
#include "log.h"
#include "loop.h"
#include "priv.h"
#include "util.h"

/*
 * Inode numbers: 1 is the root (the directory, or the one file); target
 * eSHELF.SLOT is FUSEFS_INO_BASE + (SHELF << 8 | SLOT), so inode order is
 * shelf.slot order and a readdir offset can simply be the last inode sent
 * ("." and ".." take offsets 1 and 2).
 */
#define FUSEFS_INO_BASE 3u
#define FUSEFS_RECV_BATCH 32      /* requests read per wakeup */
#define FUSEFS_STEAL_MIN (256u * 1024) /* payloads kept, not copied */
#define FUSEFS_ZERO_CHUNK (1024u * 1024)
#define FUSEFS_ZERO_DEPTH 4       /* zeroing writes in flight per request */
#define FUSEFS_BLKSIZE 4096u
/*
 * An interrupted request still waiting this long after the interrupt is
 * answered EINTR.  Not at once: a program with a signal handler (Go's
 * runtime preempts with SIGURG every 10 ms) would see EINTR for reads and
 * writes that a target answering normally finishes in milliseconds.
 */
#define FUSEFS_INTR_GRACE_NS (200 * NSEC_PER_MSEC)
/*
 * A read still waiting this long, and then as often, has its caller's
 * pending signals looked at (readahead is never interrupted, see
 * watch_tick).
 */
#define FUSEFS_WATCH_NS FUSEFS_INTR_GRACE_NS
/*
 * The kernel gives a FUSE mount 128 KiB of readahead: buffered sequential
 * reads then arrive 128 KiB at a time, two in flight, with the target idle
 * between them.  1 MiB is one request of max_write (4 MiB measured no
 * faster); aoe.ko's disks get 4 MiB (twice io_opt).
 */
#define FUSEFS_READ_AHEAD_KB 1024

/* A file's times once written to or touched (kept while we run). */
struct file_times {
	fuse_ino_t ino;
	struct timespec atime, mtime, ctime;
};

struct fusefs {
	struct fusefs_config cfg;
	struct loop *loop;
	struct engine *e;
	struct fuse_session *se;
	struct fuse_buf fbuf;     /* the receive buffer, reused */
	size_t fbuf_pooled;       /* fbuf.mem is from bufpool_get(this) */
	size_t fbuf_cap;          /* what libfuse reads into fbuf.mem at most */
	bool stolen;              /* a write kept fbuf.mem: allocate anew */
	bool fd_added;
	bool hook_added;
	bool mounted;
	bool mount_gone;          /* removed by the unmount helper */
	bool ended;               /* session over (unmounted from outside) */
	bool unmounted;
	bool init_done;           /* FUSE_INIT answered */
	bool init_failed;         /* ... and libfuse refused it */
	bool first_done;          /* a request was processed */
	int fd;
	int ra_fd;                /* read_ahead_kb to write after INIT, or -1 */
	unsigned inflight;
	struct fusefs_io *intr;   /* interrupted, waiting for their grace */
	struct fusefs_io *watch, *watch_tail; /* reads, oldest first */
	uint64_t watched_at;      /* the last look at their callers */
	struct fusefs_file *files; /* open; freed at the end if not released */
	uint8_t *zeroes;          /* FUSEFS_ZERO_CHUNK zero bytes, lazily */
	struct timespec start;    /* every timestamp not in times */
	struct file_times *times; /* files written to or touched */
	unsigned ntimes, times_cap;
};

/* An open file description: fi->fh points at it. */
struct fusefs_file {
	int flags;                /* open(2)'s: the access mode for flush */
	/*
	 * Its last request was interrupted and answered EINTR: a program
	 * that catches the signal (dd) closes it next, and that close's
	 * FLUSH is interrupted too (see start_flush).
	 */
	bool interrupted;
	struct fusefs_file *prev, *next; /* fs->files */
};

/* One request waiting for the engine. */
struct fusefs_io {
	struct fusefs *fs;
	fuse_req_t req;
	struct fusefs_file *file; /* NULL: none (a write from writeback) */
	void *buf;                /* read data / write payload */
	void *base;               /* what to free (a stolen fbuf.mem) */
	size_t base_pooled;       /* base is from bufpool_get(this), 0: malloc */
	size_t len;
	fuse_ino_t ino;
	/* fallocate: zero [next, end) in chunks */
	struct target *t;
	uint64_t next, end;
	unsigned pending;
	int err;
	bool sync;                /* write: FLUSH CACHE before the answer */
	/*
	 * The kernel interrupted it (its caller got a signal) and was
	 * answered EINTR: req is gone; what the engine still has of it ends
	 * without an answer (its buffer stays until then).
	 */
	bool answered;
	bool intr_queued;         /* on fs->intr */
	uint64_t intr_at;         /* when the interrupt came */
	struct fusefs_io *intr_next;
	/* A read, on fs->watch until answered or interrupted. */
	bool watched;
	pid_t pid;                /* its caller, as the kernel says */
	uint64_t started;
	struct fusefs_io *watch_prev, *watch_next;
};

void
fusefs_config_default(struct fusefs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->uid = getuid();
	c->gid = getgid();
	c->mode = 0600;
	c->max_write = 1024 * 1024;
	c->max_background = 64;
	c->attr_timeout = 1.0;
	c->read_ahead_kb = FUSEFS_READ_AHEAD_KB;
}

/* ---------------------------------------------------------------- inodes */

/* ino's index in fs->times, or fs->ntimes. */
static unsigned
times_index(const struct fusefs *fs, fuse_ino_t ino)
{
	unsigned i;

	for (i = 0; i < fs->ntimes; i++)
		if (fs->times[i].ino == ino)
			break;
	return i;
}

static const struct file_times *
times_find(const struct fusefs *fs, fuse_ino_t ino)
{
	unsigned i = times_index(fs, ino);

	return i < fs->ntimes ? &fs->times[i] : NULL;
}

/* ino's times, added (at the mount's time) if new; NULL: out of memory. */
static struct file_times *
times_get(struct fusefs *fs, fuse_ino_t ino)
{
	struct file_times *ft;
	unsigned i = times_index(fs, ino);

	if (i < fs->ntimes)
		return &fs->times[i];
	if (fs->ntimes == fs->times_cap) {
		unsigned cap = fs->times_cap > 0 ? 2 * fs->times_cap : 8;

		ft = reallocarray(fs->times, cap, sizeof(*ft));
		if (ft == NULL)
			return NULL;
		fs->times = ft;
		fs->times_cap = cap;
	}
	ft = &fs->times[fs->ntimes++];
	ft->ino = ino;
	ft->atime = ft->mtime = ft->ctime = fs->start;
	return ft;
}

/* Data written: mtime and ctime are now (kept as they were without memory). */
static void
file_modified(struct fusefs *fs, fuse_ino_t ino)
{
	struct file_times *ft = times_get(fs, ino);

	if (ft != NULL) {
		clock_gettime(CLOCK_REALTIME, &ft->mtime);
		ft->ctime = ft->mtime;
	}
}

static fuse_ino_t
ino_of(uint16_t shelf, uint8_t slot)
{
	return FUSEFS_INO_BASE + ((fuse_ino_t)shelf << 8 | slot);
}

/* The target behind an inode, or NULL. */
static struct target *
target_of(struct fusefs *fs, fuse_ino_t ino)
{
	uint64_t v;

	if (fs->e == NULL)
		return NULL;
	if (fs->cfg.single)
		return ino == FUSE_ROOT_ID ?
		    engine_target_find(fs->e, fs->cfg.shelf, fs->cfg.slot) :
		    NULL;
	if (ino < FUSEFS_INO_BASE)
		return NULL;
	v = ino - FUSEFS_INO_BASE;
	if (v > 0xffffu)
		return NULL;
	return engine_target_find(fs->e, (uint16_t)(v >> 8),
	    (uint8_t)(v & 0xff));
}

/* Identified once (up now, or dead after being up): it has a file. */
static bool
target_visible(const struct target *t)
{
	return t != NULL && target_state(t) != TARGET_NEW &&
	    target_size(t) > 0;
}

static bool
target_ino(const struct target *t, fuse_ino_t *ino)
{
	uint16_t shelf;
	uint8_t slot;

	if (target_name_parse(target_name(t), &shelf, &slot) < 0)
		return false;
	*ino = ino_of(shelf, slot);
	return true;
}

static bool
is_read_only(const struct fusefs *fs, const struct target *t)
{
	return fs->cfg.read_only || target_read_only(t);
}

static void
file_attr(const struct fusefs *fs, const struct target *t, fuse_ino_t ino,
    struct stat *st)
{
	const struct file_times *ft;
	struct target_info info;
	mode_t mode = fs->cfg.mode & 0777;
	uint64_t size = target_size(t);
	unsigned blksize = FUSEFS_BLKSIZE;

	engine_target_info(t, &info);
	if (info.identified && info.ident.physical_sector > blksize &&
	    info.ident.physical_sector <= 1024 * 1024)
		blksize = info.ident.physical_sector;
	if (is_read_only(fs, t))
		mode &= ~(mode_t)0222;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_uid = fs->cfg.uid;
	st->st_gid = fs->cfg.gid;
	st->st_size = (off_t)size;
	st->st_blksize = blksize;
	st->st_blocks = (blkcnt_t)(size / 512);
	ft = times_find(fs, ino);
	st->st_atim = ft != NULL ? ft->atime : fs->start;
	st->st_mtim = ft != NULL ? ft->mtime : fs->start;
	st->st_ctim = ft != NULL ? ft->ctime : fs->start;
}

/*
 * The directory: each read bit of the file mode gives r-x; never writable,
 * as files come and go with the targets only.
 */
static void
dir_attr(const struct fusefs *fs, struct stat *st)
{
	mode_t m = fs->cfg.mode, d = 0;

	if (m & 0400)
		d |= 0500;
	if (m & 0040)
		d |= 0050;
	if (m & 0004)
		d |= 0005;
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | d;
	st->st_nlink = 2;
	st->st_uid = fs->cfg.uid;
	st->st_gid = fs->cfg.gid;
	st->st_blksize = FUSEFS_BLKSIZE;
	st->st_atim = st->st_mtim = st->st_ctim = fs->start;
}

/* ---------------------------------------------------------------- helpers */

/*
 * Engine errors as the errno a file user expects: cancelled (shutdown),
 * not yet identified or an unsupported command all read as EIO.
 */
static int
io_errno(int rc)
{
	switch (rc) {
	case -ENOSPC:
	case -EROFS:
	case -EINVAL:
	case -EACCES:
	case -ENOMEM:
	case -EIO:
		return -rc;
	default:
		return EIO;
	}
}

static struct fusefs_io *
io_new(struct fusefs *fs, fuse_req_t req)
{
	struct fusefs_io *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return NULL;
	io->fs = fs;
	io->req = req;
	fs->inflight++;
	return io;
}

static void intr_dequeue(struct fusefs_io *io);
static void watch_del(struct fusefs_io *io);

static void
io_free(struct fusefs_io *io)
{
	intr_dequeue(io);
	watch_del(io);
	io->fs->inflight--;
	if (io->base_pooled > 0)
		bufpool_put(io->base, io->base_pooled);
	else
		free(io->base);
	free(io);
}

/*
 * FUSE_INTERRUPT for io's request (its caller got a signal; the kernel
 * waits for our answer even after SIGKILL).  libfuse calls this from
 * within fuse_session_process_buf, or from fuse_req_interrupt_func when
 * the interrupt came first, and then still holds the request's lock: an
 * answer here would free it under libfuse.  So only note it; intr_tick()
 * answers it if it is still waiting FUSEFS_INTR_GRACE_NS later.
 */
static void
io_interrupted(fuse_req_t req, void *data)
{
	struct fusefs_io *io = data;
	struct fusefs *fs = io->fs;

	(void)req;
	if (io->answered || io->intr_queued)
		return;
	watch_del(io);
	io->intr_queued = true;
	io->intr_at = loop_now();
	io->intr_next = fs->intr;
	fs->intr = io;
}

/* Take io out of the interrupt queue (it is answered some other way). */
static void
intr_dequeue(struct fusefs_io *io)
{
	struct fusefs_io **pp;

	if (!io->intr_queued)
		return;
	for (pp = &io->fs->intr; *pp != NULL; pp = &(*pp)->intr_next)
		if (*pp == io) {
			*pp = io->intr_next;
			break;
		}
	io->intr_queued = false;
}

static bool
io_match(void *arg, void *ctx)
{
	return arg == ctx;
}

/*
 * Answer io EINTR, so that its caller (a dd on a target that stopped
 * answering) gets its signal now rather than at the dead timeout.  The
 * engine drops what it has not sent of it; frames on the wire are waited
 * for (the buffers stay io's) and their answers dropped.  An interrupted
 * write may have reached the target in part, as any failed write; later
 * requests overlapping it still wait for its frames.
 */
static void
intr_answer(struct fusefs *fs, struct fusefs_io *io)
{
	watch_del(io);
	io->answered = true;
	fuse_reply_err(io->req, EINTR);
	io->req = NULL;
	if (io->file != NULL)
		io->file->interrupted = true;
	/* Its file may be released once answered. */
	io->file = NULL;
	/* fallocate: issue no further chunk. */
	if (io->err == 0)
		io->err = EINTR;
	if (io->t != NULL && fs->e != NULL)
		(void)engine_cancel(fs->e, io->t, io_match, io, loop_now());
}

/* ---------------------------------------------------------------- reads */

/*
 * Readahead is a background request: the kernel never interrupts it, and
 * a reader that waits for its pages does so killably, so a signal the
 * reader catches (dd's SIGINT) left it there until the target answered or
 * died.  Reads are watched instead: one waiting FUSEFS_WATCH_NS whose
 * caller has a signal pending that it does not block is answered EINTR as
 * if interrupted.  A failed readahead only leaves the pages unread: the
 * reader then reads them itself, in a request that the kernel interrupts
 * (the signal is still pending), answered EINTR after the grace.  Reads
 * that the target answers in time never get looked at.
 */
static void
watch_add(struct fusefs_io *io, fuse_req_t req)
{
	struct fusefs *fs = io->fs;

	io->pid = fuse_req_ctx(req)->pid;
	if (io->pid <= 0)
		return;
	io->started = loop_now();
	io->watched = true;
	io->watch_next = NULL;
	io->watch_prev = fs->watch_tail;
	if (fs->watch_tail != NULL)
		fs->watch_tail->watch_next = io;
	else
		fs->watch = io;
	fs->watch_tail = io;
}

static void
watch_del(struct fusefs_io *io)
{
	struct fusefs *fs = io->fs;

	if (!io->watched)
		return;
	if (io->watch_prev != NULL)
		io->watch_prev->watch_next = io->watch_next;
	else
		fs->watch = io->watch_next;
	if (io->watch_next != NULL)
		io->watch_next->watch_prev = io->watch_prev;
	else
		fs->watch_tail = io->watch_prev;
	io->watched = false;
}

/* The "Name:\thex" mask in a /proc status text, or 0. */
static uint64_t
status_mask(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	if (p == NULL)
		return 0;
	return strtoull(p + strlen(name), NULL, 16);
}

/*
 * Thread pid has a signal pending that it does not block (SigPnd: its
 * own, ShdPnd: its process's).  Not knowable (gone, hidepid): false.
 */
static bool
caller_signalled(pid_t pid)
{
	char path[32], text[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	return ((status_mask(text, "\nSigPnd:") |
	    status_mask(text, "\nShdPnd:")) &
	    ~status_mask(text, "\nSigBlk:") &
	    ~status_mask(text, "\nSigIgn:")) != 0;
}

static uint64_t
watch_deadline(const struct fusefs *fs)
{
	if (fs->watch == NULL)
		return UINT64_MAX;
	return MAX(fs->watch->started, fs->watched_at) + FUSEFS_WATCH_NS;
}

static void
watch_tick(struct fusefs *fs, uint64_t now)
{
	struct fusefs_io *io, *next;

	if (now < watch_deadline(fs))
		return;
	fs->watched_at = now;
	for (io = fs->watch; io != NULL; io = next) {
		next = io->watch_next;
		/* Oldest first: the rest are younger still. */
		if (now < io->started + FUSEFS_WATCH_NS)
			break;
		if (caller_signalled(io->pid))
			intr_answer(fs, io);
	}
}

/* ---------------------------------------------------------------- timer */

/*
 * The loop's timer: when the oldest interrupt's grace ends, or the next
 * look at the callers of reads that wait.
 */
static uint64_t
intr_deadline(void *arg)
{
	const struct fusefs *fs = arg;
	const struct fusefs_io *io;
	uint64_t next = watch_deadline(fs);

	for (io = fs->intr; io != NULL; io = io->intr_next)
		next = MIN(next, io->intr_at + FUSEFS_INTR_GRACE_NS);
	return next;
}

static void
intr_tick(void *arg, uint64_t now)
{
	struct fusefs *fs = arg;
	struct fusefs_io **pp = &fs->intr, *io;

	watch_tick(fs, now);

	while ((io = *pp) != NULL) {
		if (now < io->intr_at + FUSEFS_INTR_GRACE_NS) {
			pp = &io->intr_next;
			continue;
		}
		*pp = io->intr_next;
		io->intr_queued = false;
		intr_answer(fs, io);
	}
}

/*
 * The open file behind a request (NULL for writeback's writes, which
 * nobody waits for), which has now gone on after any interrupted request.
 */
static struct fusefs_file *
file_of(const struct fuse_file_info *fi)
{
	struct fusefs_file *f;

	if (fi == NULL || fi->writepage || fi->fh == 0)
		return NULL;
	f = (struct fusefs_file *)(uintptr_t)fi->fh;
	f->interrupted = false;
	return f;
}

/* Let the kernel interrupt io's request (after it went to the engine). */
static void
io_interruptible(struct fusefs_io *io)
{
	fuse_req_interrupt_func(io->req, io_interrupted, io);
}

/* ---------------------------------------------------------------- ops */

static void
fusefs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fusefs *fs = userdata;

	/*
	 * Large requests (conn->max_write is capped by libfuse's buffer,
	 * 1 MiB + header; FUSE_BIG_WRITES is always on in libfuse 3) and a
	 * deeper kernel queue for readahead and async direct I/O.
	 */
	if (fs->cfg.max_write < conn->max_write)
		conn->max_write = fs->cfg.max_write;
	conn->max_background = fs->cfg.max_background;
	/* libfuse refuses INIT unless this says what -o max_read said. */
	if (fs->cfg.max_read > 0)
		conn->max_read = fs->cfg.max_read;
	conn->congestion_threshold = fs->cfg.max_background * 3 / 4;
	/* Writes go through at once: errors reach the writer. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * A synchronous O_DIRECT read or write as one request its caller
	 * waits for interruptibly (FUSE_INTERRUPT, see intr_answer): with
	 * async_dio the kernel sends it as background requests, which are
	 * never interrupted, and waits for them in D state, even on SIGKILL.
	 * The price: asynchronous O_DIRECT (libaio, io_uring) is done one
	 * request at a time, and an O_DIRECT read or write larger than
	 * max_read/max_write one piece after another: -o async_dio.
	 */
	if (!fs->cfg.async_dio)
		conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
	fs->init_done = true;
	log_debug("fuse: protocol %u.%u, max_write %u, max_read %u, "
	    "max_readahead %u, max_background %u", conn->proto_major,
	    conn->proto_minor, conn->max_write, conn->max_read,
	    conn->max_readahead, conn->max_background);
}

/*
 * The file NAME in the directory: its entry in *ep, or an errno (ENOTDIR
 * in the single form, ENOENT for a name that is no target's or a target
 * not identified yet).
 */
static int
dir_entry(struct fusefs *fs, fuse_ino_t parent, const char *name,
    struct target **tp, struct fuse_entry_param *ep)
{
	struct target *t = NULL;
	char canon[16];
	uint16_t shelf;
	uint8_t slot;

	if (fs->cfg.single)
		return ENOTDIR;
	if (parent != FUSE_ROOT_ID)
		return ENOENT;
	/* Only the canonical name: "e1.0", not "1.0". */
	if (target_name_parse(name, &shelf, &slot) == 0 &&
	    strcmp(target_name_fmt(canon, sizeof(canon), shelf, slot),
	    name) == 0 && fs->e != NULL)
		t = engine_target_find(fs->e, shelf, slot);
	if (!target_visible(t))
		return ENOENT;
	memset(ep, 0, sizeof(*ep));
	ep->ino = ino_of(shelf, slot);
	ep->attr_timeout = fs->cfg.attr_timeout;
	ep->entry_timeout = fs->cfg.attr_timeout;
	file_attr(fs, t, ep->ino, &ep->attr);
	*tp = t;
	return 0;
}

static void
fusefs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fuse_entry_param ep;
	struct target *t;
	int err;

	err = dir_entry(fs, parent, name, &t, &ep);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &ep);
}

static void
fusefs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct target *t;
	struct stat st;

	(void)fi;
	if (ino == FUSE_ROOT_ID && !fs->cfg.single) {
		dir_attr(fs, &st);
		fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
		return;
	}
	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	file_attr(fs, t, ino, &st);
	fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
}

/*
 * The size is the target's capacity: truncating to it is a no-op, any
 * other size is refused.  Owner and mode come from the mount options;
 * timestamps are accepted and ignored (touch works).
 */
static void
fusefs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct target *t;
	struct stat st;

	(void)fi;
	if (ino == FUSE_ROOT_ID && !fs->cfg.single) {
		if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		    FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		dir_attr(fs, &st);
		fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
		return;
	}
	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* Mode and owner are the mount's: only "changes" to what they are. */
	file_attr(fs, t, ino, &st);
	if (((to_set & FUSE_SET_ATTR_MODE) &&
	    (attr->st_mode & 07777) != (st.st_mode & 07777)) ||
	    ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid) ||
	    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) &&
	    (uint64_t)attr->st_size != target_size(t)) {
		fuse_reply_err(req, is_read_only(fs, t) ? EROFS : EINVAL);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
	    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct file_times *ft = times_get(fs, ino);
		struct timespec now;

		if (ft == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ft->atime = now;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ft->atime = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ft->mtime = now;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ft->mtime = attr->st_mtim;
		ft->ctime = now;
		file_attr(fs, t, ino, &st);
	}
	fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
}

/* A new open file description of t in *fp (fi filled in), or an errno. */
static int
file_new(struct fusefs *fs, struct target *t, struct fuse_file_info *fi,
    struct fusefs_file **fp)
{
	struct fusefs_file *f;

	if ((fi->flags & O_ACCMODE) != O_RDONLY && is_read_only(fs, t))
		return EROFS;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return ENOMEM;
	/*
	 * O_TRUNC is ignored as a block device ignores it; O_DIRECT is
	 * served by the kernel's FUSE direct I/O path.
	 */
	f->flags = fi->flags;
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->direct_io = fs->cfg.direct_io;
	fi->keep_cache = 0;
	*fp = f;
	/* Before the reply: the claim goes out ahead of any I/O. */
	if (fs->cfg.reserve)
		engine_reserve_hold(fs->e, t, loop_now());
	return 0;
}

/* f was handed to the kernel: a RELEASE comes for it. */
static void
file_link(struct fusefs *fs, struct fusefs_file *f)
{
	f->next = fs->files;
	if (f->next != NULL)
		f->next->prev = f;
	fs->files = f;
}

static void
fusefs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fusefs_file *f;
	struct target *t;
	int err;

	if (ino == FUSE_ROOT_ID && !fs->cfg.single) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	err = file_new(fs, t, fi, &f);
	if (err != 0) {
		fuse_reply_err(req, err);
		return;
	}
	/* Refused: the open was interrupted, no RELEASE comes for it. */
	if (fuse_reply_open(req, fi) != 0) {
		free(f);
		return;
	}
	file_link(fs, f);
}

/*
 * open(2) with O_CREAT of a name the lookup did not find: files come and
 * go with the targets only, so nothing is created.  A target not
 * identified yet (right after a mount with a short --wait, or one that
 * just started) is ENOENT, as without O_CREAT; without this operation
 * libfuse answered ENOSYS, and the writer saw "Function not implemented".
 * A target identified since the lookup is opened, as if it had been found.
 */
static void
fusefs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fuse_entry_param ep;
	struct fusefs_file *f;
	struct target *t;
	int err;

	(void)mode;
	err = dir_entry(fs, parent, name, &t, &ep);
	if (err == 0 && (fi->flags & O_EXCL))
		err = EEXIST;
	if (err == 0)
		err = file_new(fs, t, fi, &f);
	if (err != 0) {
		fuse_reply_err(req, err);
		return;
	}
	if (fuse_reply_create(req, &ep, fi) != 0) {
		free(f);
		return;
	}
	file_link(fs, f);
}

static void
read_done(void *arg, int rc)
{
	struct fusefs_io *io = arg;
	struct engine_rdata *d;

	if (io->answered) {
		/* Interrupted, answered EINTR: the data (held frames too)
		 * is freed unread. */
	} else if (rc < 0) {
		fuse_reply_err(io->req, io_errno(rc));
	} else if ((d = engine_take_rdata(io->fs->e)) != NULL) {
		/* Straight from the received frames into the kernel. */
		struct iovec iov[ENGINE_RDATA_IOV_MAX];

		fuse_reply_iov(io->req, iov, (int)engine_rdata_iov(d, 0, iov,
		    ENGINE_RDATA_IOV_MAX));
		engine_rdata_free(d);
	} else {
		fuse_reply_buf(io->req, io->buf, io->len);
	}
	io_free(io);
}

static void
fusefs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fusefs_io *io;
	struct target *t;
	uint64_t tsize;
	int rc;

	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	tsize = target_size(t);
	/* Clipped at the end: past it a read returns 0 bytes. */
	if ((uint64_t)off >= tsize || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > tsize - (uint64_t)off)
		size = (size_t)(tsize - (uint64_t)off);
	io = io_new(fs, req);
	if (io != NULL && (io->base = bufpool_get(size)) != NULL)
		io->base_pooled = size;
	if (io == NULL || io->base == NULL) {
		if (io != NULL)
			io_free(io);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	io->buf = io->base;
	io->len = size;
	io->t = t;
	io->file = file_of(fi);
	rc = engine_read_zc(fs->e, t, io->buf, (uint64_t)off, size, read_done,
	    io, loop_now());
	if (rc < 0) {
		fuse_reply_err(req, io_errno(rc));
		io_free(io);
		return;
	}
	watch_add(io, req);
	io_interruptible(io);
}

static void
write_done(void *arg, int rc)
{
	struct fusefs_io *io = arg;

	if (rc == 0 && io->sync && !io->answered) {
		/* O_DSYNC: stable on the target before the answer, which
		 * the flush's end gives (back here, io->sync cleared). */
		io->sync = false;
		rc = engine_flush(io->fs->e, io->t, write_done, io,
		    loop_now());
		if (rc == 0)
			return;
	}
	/* (Written even when interrupted and answered EINTR.) */
	if (rc == 0)
		file_modified(io->fs, io->ino);
	if (!io->answered) {
		if (rc < 0)
			fuse_reply_err(io->req, io_errno(rc));
		else
			fuse_reply_write(io->req, io->len);
	}
	io_free(io);
}

static void
fusefs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	const char *fb = fs->fbuf.mem;
	struct fusefs_io *io;
	struct target *t;
	uint64_t tsize;
	int rc;

	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (is_read_only(fs, t)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	tsize = target_size(t);
	/*
	 * Past the end: ENOSPC as a block device; across it: short.  Not
	 * with O_DIRECT: the kernel's FUSE direct I/O turns a short write
	 * into EIO (with the part written), so that fails with ENOSPC and
	 * writes nothing.
	 */
	if ((uint64_t)off >= tsize || (size > tsize - (uint64_t)off &&
	    (fi->flags & O_DIRECT) != 0 && !fi->writepage)) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size > tsize - (uint64_t)off)
		size = (size_t)(tsize - (uint64_t)off);
	io = io_new(fs, req);
	if (io == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	io->len = size;
	io->ino = ino;
	io->t = t;
	io->file = file_of(fi);
	/*
	 * O_DSYNC (and O_SYNC) writes must be stable when answered.  The
	 * kernel follows a synchronous buffered or O_DIRECT one with FSYNC,
	 * but neither an asynchronous O_DIRECT one (libaio, io_uring) nor
	 * any with -o direct_io: those are flushed here.
	 */
	io->sync = (fi->flags & O_DSYNC) != 0 && !fi->writepage &&
	    ((fi->flags & O_DIRECT) != 0 || fs->cfg.direct_io);
	/*
	 * The payload lies in the receive buffer, reused by the next read
	 * from the session fd.  A large one keeps that buffer (the next
	 * receive allocates another); a small one is copied.
	 */
	if (size >= FUSEFS_STEAL_MIN && fb != NULL && buf >= fb &&
	    buf + size <= fb + fs->fbuf.size) {
		io->base = fs->fbuf.mem;
		io->base_pooled = fs->fbuf_pooled;
		io->buf = (void *)(uintptr_t)buf;
		fs->stolen = true;
	} else {
		io->base = bufpool_get(size);
		io->base_pooled = size;
		if (io->base == NULL) {
			io_free(io);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(io->base, buf, size);
		io->buf = io->base;
	}
	rc = engine_write(fs->e, t, io->buf, (uint64_t)off, size, write_done,
	    io, loop_now());
	if (rc < 0) {
		if (io->base == fs->fbuf.mem)
			io->base = NULL; /* still the receive buffer */
		io->base_pooled = 0;
		fs->stolen = false;
		fuse_reply_err(req, io_errno(rc));
		io_free(io);
		return;
	}
	io_interruptible(io);
}

static void
flush_done(void *arg, int rc)
{
	struct fusefs_io *io = arg;

	if (!io->answered)
		fuse_reply_err(io->req, rc < 0 ? io_errno(rc) : 0);
	io_free(io);
}

/*
 * FLUSH CACHE for fsync, and for close(2) so that it reports errors.
 * The kernel interrupts a FLUSH only on a signal that comes while it
 * waits; a program that catches SIGINT (dd) takes the signal in its
 * interrupted write and then closes, with no signal left to interrupt
 * that close.  So a close after an interrupted request on the file is
 * taken as interrupted from the start: if the target has not answered it
 * in the grace, it fails with EINTR (not flushed, so never 0) and the
 * program ends on that one signal.  The FLUSH of a process that dies of
 * a signal is interrupted by the kernel itself (the signal is still
 * pending while it exits).
 */
static void
start_flush(fuse_req_t req, fuse_ino_t ino, struct fusefs_file *f,
    bool on_close)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fusefs_io *io;
	struct target *t;
	int rc;

	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (is_read_only(fs, t)) {
		fuse_reply_err(req, 0);
		return;
	}
	io = io_new(fs, req);
	if (io == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	io->t = t;
	io->file = f;
	rc = engine_flush(fs->e, t, flush_done, io, loop_now());
	if (rc < 0) {
		fuse_reply_err(req, io_errno(rc));
		io_free(io);
		return;
	}
	io_interruptible(io);
	if (on_close && f != NULL && f->interrupted)
		io_interrupted(io->req, io);
}

static void
fusefs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fusefs_file *f = (struct fusefs_file *)(uintptr_t)fi->fh;

	/* A descriptor opened for reading has nothing to flush. */
	if (f != NULL && (f->flags & O_ACCMODE) == O_RDONLY) {
		fuse_reply_err(req, 0);
		return;
	}
	start_flush(req, ino, f, true);
}

static void
fusefs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)datasync;
	start_flush(req, ino, file_of(fi), false);
}

static void
fusefs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fusefs_file *f = (struct fusefs_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (f != NULL) {
		if (f->prev != NULL)
			f->prev->next = f->next;
		else
			fs->files = f->next;
		if (f->next != NULL)
			f->next->prev = f->prev;
		free(f);
	}
	fuse_reply_err(req, 0);
}

static bool zero_next(struct fusefs_io *io);

static void
zero_done(void *arg, int rc)
{
	struct fusefs_io *io = arg;

	io->pending--;
	if (rc < 0 && io->err == 0)
		io->err = io_errno(rc);
	(void)zero_next(io);
}

/*
 * Keep up to FUSEFS_ZERO_DEPTH zeroing writes going; answer at the end.
 * Returns true while some are (false: io is answered and freed).
 */
static bool
zero_next(struct fusefs_io *io)
{
	struct fusefs *fs = io->fs;
	size_t len;
	int rc;

	while (io->err == 0 && io->next < io->end &&
	    io->pending < FUSEFS_ZERO_DEPTH) {
		len = (size_t)MIN(io->end - io->next, FUSEFS_ZERO_CHUNK);
		rc = engine_write(fs->e, io->t, fs->zeroes, io->next, len,
		    zero_done, io, loop_now());
		if (rc < 0) {
			io->err = io_errno(rc);
			break;
		}
		io->next += len;
		io->pending++;
	}
	if (io->pending > 0)
		return true;
	if (io->err == 0)
		file_modified(fs, io->ino);
	if (!io->answered)
		fuse_reply_err(io->req, io->err);
	io_free(io);
	return false;
}

/*
 * ZERO_RANGE writes zeroes (AoE has no write-same); the range is clipped
 * at the end of the target.  Other modes, plain allocation included, are
 * EOPNOTSUPP as on a block device.  PUNCH_HOLE too: AoE has no trim, and
 * the callers that punch (mke2fs and a loop device's discard, over the
 * whole disk) mean to save work, not to have every byte written.
 */
static void
fusefs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
    off_t len, struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct fusefs_io *io;
	struct target *t;
	uint64_t tsize, end;

	t = target_of(fs, ino);
	if (t == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (mode != FALLOC_FL_ZERO_RANGE &&
	    mode != (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (is_read_only(fs, t)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	tsize = target_size(t);
	end = (uint64_t)off + (uint64_t)len;
	if (end < (uint64_t)off)
		end = UINT64_MAX;
	if (end > tsize) {
		/* The file cannot grow. */
		if (!(mode & FALLOC_FL_KEEP_SIZE)) {
			fuse_reply_err(req, ENOSPC);
			return;
		}
		end = tsize;
	}
	if ((uint64_t)off >= end) {
		fuse_reply_err(req, 0);
		return;
	}
	if (fs->zeroes == NULL) {
		fs->zeroes = calloc(1, FUSEFS_ZERO_CHUNK);
		if (fs->zeroes == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	io = io_new(fs, req);
	if (io == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	io->t = t;
	io->ino = ino;
	io->file = file_of(fi);
	io->next = (uint64_t)off;
	io->end = end;
	if (zero_next(io))
		io_interruptible(io);
}

static void
fusefs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct statvfs st;
	struct target *t;
	uint64_t bytes = 0, files = 0;

	(void)ino;
	memset(&st, 0, sizeof(st));
	if (fs->e != NULL) {
		if (fs->cfg.single) {
			t = target_of(fs, FUSE_ROOT_ID);
			if (t != NULL) {
				bytes = target_size(t);
				files = 1;
			}
		} else {
			for (t = engine_target_next(fs->e, NULL); t != NULL;
			    t = engine_target_next(fs->e, t)) {
				if (!target_visible(t))
					continue;
				bytes += target_size(t);
				files++;
			}
		}
	}
	st.f_bsize = FUSEFS_BLKSIZE;
	st.f_frsize = FUSEFS_BLKSIZE;
	st.f_blocks = (fsblkcnt_t)(bytes / FUSEFS_BLKSIZE);
	st.f_files = (fsfilcnt_t)files;
	st.f_namemax = 255;
	if (fs->cfg.read_only)
		st.f_flag |= ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

static void
fusefs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fusefs *fs = fuse_req_userdata(req);
	struct target *t;
	struct stat st;
	fuse_ino_t tino;
	size_t pos = 0, n;
	char *buf;

	(void)fi;
	if (fs->cfg.single || ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > 64 * 1024)
		size = 64 * 1024;
	buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.st_ino = FUSE_ROOT_ID;
	st.st_mode = S_IFDIR;
	if (off < 1) {
		n = fuse_add_direntry(req, buf + pos, size - pos, ".", &st, 1);
		if (n > size - pos)
			goto reply;
		pos += n;
	}
	if (off < 2) {
		n = fuse_add_direntry(req, buf + pos, size - pos, "..", &st,
		    2);
		if (n > size - pos)
			goto reply;
		pos += n;
	}
	st.st_mode = S_IFREG;
	for (t = fs->e != NULL ? engine_target_next(fs->e, NULL) : NULL;
	    t != NULL; t = engine_target_next(fs->e, t)) {
		if (!target_visible(t) || !target_ino(t, &tino) ||
		    tino <= (fuse_ino_t)off)
			continue;
		st.st_ino = tino;
		n = fuse_add_direntry(req, buf + pos, size - pos,
		    target_name(t), &st, (off_t)tino);
		if (n > size - pos)
			break;
		pos += n;
	}
reply:
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static const struct fuse_lowlevel_ops fusefs_ops = {
	.init = fusefs_init,
	.lookup = fusefs_lookup,
	.getattr = fusefs_getattr,
	.setattr = fusefs_setattr,
	.open = fusefs_open,
	.create = fusefs_create,
	.read = fusefs_read,
	.write = fusefs_write,
	.flush = fusefs_flush,
	.release = fusefs_release,
	.fsync = fusefs_fsync,
	.readdir = fusefs_readdir,
	.statfs = fusefs_statfs,
	.fallocate = fusefs_fallocate,
};

/* ---------------------------------------------------------------- events */

void
fusefs_engine_event(void *ctx, struct target *t, int event)
{
	struct fusefs *fs = ctx;
	fuse_ino_t ino = 0;

	if (fs->cfg.single) {
		uint16_t shelf;
		uint8_t slot;

		if (target_name_parse(target_name(t), &shelf, &slot) < 0 ||
		    shelf != fs->cfg.shelf || slot != fs->cfg.slot)
			return;
		ino = FUSE_ROOT_ID;
	} else if (!target_ino(t, &ino)) {
		return;
	}
	switch (event) {
	case ENGINE_EV_UP:
		/* Quiet while starting: the caller's terminal is still ours. */
		(fs->mounted ? log_info : log_debug)("%s: up, %llu bytes%s",
		    target_name(t), (unsigned long long)target_size(t),
		    target_read_only(t) ? ", read-only" : "");
		break;
	case ENGINE_EV_DEAD:
		log_warnx("%s: no answer: target dead, its I/O fails",
		    target_name(t));
		break;
	default:
		break;
	}
	/*
	 * New size or state: drop the kernel's cached attributes (offset
	 * -1: attributes only, so this never waits on page locks held by
	 * a request we have yet to answer).
	 */
	if (fs->mounted && !fs->unmounted && event != ENGINE_EV_NEW &&
	    event != ENGINE_EV_JUMBO && event != ENGINE_EV_CONFLICT &&
	    event != ENGINE_EV_RESERVE)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* ---------------------------------------------------------------- session */

static void
session_ended(struct fusefs *fs)
{
	if (fs->ended)
		return;
	fs->ended = true;
	log_debug("fuse: session ended");
	loop_stop(fs->loop);
}

/* After INIT: what fusefs_set_read_ahead() prepared. */
static void
read_ahead_write(struct fusefs *fs)
{
	char v[16];
	int n = snprintf(v, sizeof(v), "%d\n", fs->cfg.read_ahead_kb);

	if (write(fs->ra_fd, v, (size_t)n) != n) {
		if (fs->cfg.read_ahead_set)
			log_warn("fuse: cannot set read_ahead_kb");
		else
			log_debug("fuse: cannot set read_ahead_kb: %s",
			    strerror(errno));
	} else {
		log_debug("fuse: read_ahead_kb %d", fs->cfg.read_ahead_kb);
	}
	close(fs->ra_fd);
	fs->ra_fd = -1;
}

void
fusefs_set_read_ahead(struct fusefs *fs, const char *mountpoint)
{
	char dev[32], path[96];
	int rc;

	if (fs->cfg.read_ahead_kb < 0 || fs->ra_fd >= 0)
		return;
	rc = priv_fuse_mount_dev(mountpoint, dev, sizeof(dev));
	if (rc == 0) {
		snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb",
		    dev);
		fs->ra_fd = open(path, O_WRONLY | O_CLOEXEC);
		rc = fs->ra_fd < 0 ? -errno : 0;
	}
	if (rc == 0)
		return;
	if (fs->cfg.read_ahead_set)
		log_warnx("fuse: cannot set read_ahead_kb=%d: %s%s",
		    fs->cfg.read_ahead_kb, strerror(-rc),
		    rc == -EACCES || rc == -EPERM ? " (root's to set)" : "");
	else
		log_debug("fuse: readahead stays the kernel's: %s",
		    strerror(-rc));
}

static void
fuse_readable(void *arg, uint32_t events)
{
	struct fusefs *fs = arg;
	int rc;

	(void)events;
	/* The requests of this batch go out in one batch of frames. */
	engine_plug(fs->e);
	for (unsigned i = 0; i < FUSEFS_RECV_BATCH && !fs->ended; i++) {
		rc = fuse_session_receive_buf(fs->se, &fs->fbuf);
		if (rc == -EAGAIN)
			break;
		if (rc == -EINTR)
			continue;
		if (rc <= 0 || fuse_session_exited(fs->se)) {
			if (rc < 0)
				log_warnx("fuse: reading requests: %s",
				    strerror(-rc));
			session_ended(fs);
			break;
		}
		fs->stolen = false;
#ifdef HAVE_MALLOC_USABLE_SIZE
		/*
		 * libfuse allocated the first buffer with its own (private)
		 * size: at most what malloc gave it, so a pooled buffer that
		 * large is large enough.  fbuf.size is the message, not that.
		 */
		if (fs->fbuf_cap == 0 && fs->fbuf_pooled == 0 &&
		    fs->fbuf.mem != NULL)
			fs->fbuf_cap = malloc_usable_size(fs->fbuf.mem);
#endif
		fuse_session_process_buf(fs->se, &fs->fbuf);
		if (fs->stolen) {
			/*
			 * A write owns it now: the next receive gets one of
			 * the same capacity from the pool, where libfuse
			 * would allocate (fault in, zero) fresh pages.
			 */
			fs->fbuf.mem = fs->fbuf_cap > 0 ?
			    bufpool_get(fs->fbuf_cap) : NULL;
			fs->fbuf_pooled = fs->fbuf.mem != NULL ?
			    fs->fbuf_cap : 0;
			fs->stolen = false;
		}
		if (fs->ra_fd >= 0 && fs->init_done)
			read_ahead_write(fs);
		if (fuse_session_exited(fs->se)) {
			/* Right after the first request, INIT: refused. */
			if (!fs->first_done) {
				fs->init_failed = true;
				log_warnx("fuse: the kernel's INIT was refused: "
				    "nothing is served");
			}
			session_ended(fs);
		}
		fs->first_done = true;
	}
	engine_unplug(fs->e);
}

int
fusefs_new(struct fusefs **out, const struct fusefs_config *c,
    struct fuse_args *args, struct loop *loop)
{
	struct fusefs *fs;

	*out = NULL;
	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return -ENOMEM;
	fs->cfg = *c;
	if (fs->cfg.max_write < 4096)
		fs->cfg.max_write = 4096;
	if (fs->cfg.max_background == 0)
		fs->cfg.max_background = 64;
	fs->loop = loop;
	fs->fd = -1;
	fs->ra_fd = -1;
	clock_gettime(CLOCK_REALTIME, &fs->start);
	fs->se = fuse_session_new(args, &fusefs_ops, sizeof(fusefs_ops), fs);
	if (fs->se == NULL) {
		free(fs);
		return -EINVAL;
	}
	*out = fs;
	return 0;
}

void
fusefs_set_engine(struct fusefs *fs, struct engine *e)
{
	fs->e = e;
}

int
fusefs_mount(struct fusefs *fs, const char *mountpoint)
{
	int fd, flags, rc;

	if (fuse_session_mount(fs->se, mountpoint) != 0)
		return -EIO;
	fs->mounted = true;
	fd = fuse_session_fd(fs->se);
	/* Read requests only when there are some: never block the loop. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		log_warn("fuse: cannot make the session fd non-blocking");
		return rc;
	}
	rc = loop_add_fd(fs->loop, fd, EPOLLIN, fuse_readable, fs);
	if (rc < 0) {
		log_warnx("fuse: cannot poll the session fd: %s",
		    strerror(-rc));
		return rc;
	}
	fs->fd = fd;
	fs->fd_added = true;
	rc = loop_add_hook(fs->loop, intr_deadline, intr_tick, fs);
	if (rc < 0) {
		log_warnx("fuse: cannot add a timer: %s", strerror(-rc));
		return rc;
	}
	fs->hook_added = true;
	return 0;
}

bool
fusefs_ended(const struct fusefs *fs)
{
	return fs->ended;
}

bool
fusefs_failed(const struct fusefs *fs)
{
	return fs->init_failed;
}

unsigned
fusefs_inflight(const struct fusefs *fs)
{
	return fs->inflight;
}

/*
 * The mount is gone already (the unmount helper removed it), but libfuse
 * still holds its name and the session's fd and frees them only in
 * fuse_session_unmount, which tries to unmount again first: refused (we
 * hold no capability), and said on stderr while a file is still open.
 * That attempt's message goes to /dev/null.
 */
static void
unmount_quietly(struct fuse_session *se)
{
	int err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

	fflush(stderr);
	if (err >= 0 && nul >= 0 && dup2(nul, STDERR_FILENO) >= 0) {
		fuse_session_unmount(se);
		fflush(stderr);
		(void)dup2(err, STDERR_FILENO);
	} else {
		fuse_session_unmount(se);
	}
	if (nul >= 0)
		close(nul);
	if (err >= 0)
		close(err);
}

void
fusefs_unmount(struct fusefs *fs, uint64_t drain_ns)
{
	uint64_t until;

	if (fs == NULL || fs->unmounted)
		return;
	fs->unmounted = true;
	if (fs->fd_added) {
		loop_del_fd(fs->loop, fs->fd);
		fs->fd_added = false;
	}
	/*
	 * Let requests already handed to the engine finish (writes in
	 * flight reach the target); new ones stay in the kernel and fail
	 * when the connection closes.
	 */
	until = loop_now() + drain_ns;
	while (fs->inflight > 0 && !fs->ended && loop_now() < until)
		if (loop_run_once(fs->loop, until) < 0)
			break;
	if (fs->inflight > 0)
		log_warnx("fuse: unmounting with %u requests unanswered",
		    fs->inflight);
	/* From here replies go nowhere, quietly. */
	fuse_session_exit(fs->se);
	if (fs->mounted && fs->mount_gone)
		unmount_quietly(fs->se);
	else if (fs->mounted)
		fuse_session_unmount(fs->se);
}

void
fusefs_mount_gone(struct fusefs *fs)
{
	if (fs != NULL)
		fs->mount_gone = true;
}

void
fusefs_free(struct fusefs *fs)
{
	if (fs == NULL)
		return;
	if (fs->fd_added)
		loop_del_fd(fs->loop, fs->fd);
	if (fs->hook_added)
		loop_del_hook(fs->loop, intr_deadline, intr_tick, fs);
	if (fs->se != NULL) {
		if (fs->mounted && !fs->unmounted)
			fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se);
	}
	if (fs->fbuf_pooled > 0)
		bufpool_put(fs->fbuf.mem, fs->fbuf_pooled);
	else
		free(fs->fbuf.mem);
	if (fs->ra_fd >= 0)
		close(fs->ra_fd);
	while (fs->files != NULL) {
		struct fusefs_file *f = fs->files;

		fs->files = f->next;
		free(f);
	}
	free(fs->zeroes);
	free(fs->times);
	free(fs);
}
