/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server: every AoE target is an export named after it ("e1.0").
 * Listening sockets (TCP, Unix, inherited), connections with non-blocking
 * buffered I/O, fixed-newstyle negotiation and the transmission phase with
 * many requests in flight, all driven by the one event loop.  Requests go
 * to the engine; replies go out when the engine's callbacks run, in any
 * order.  A connection that goes away is fenced: its object lives on
 * (reference counted) until every engine callback for it ran, and those
 * callbacks drop their replies.  Bytes go through a struct tls_io (tls.h):
 * plain, or TLS once a client sent NBD_OPT_STARTTLS (--tls=on|require).
 */
#ifndef AOE_NBDS_H
#define AOE_NBDS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "loop.h"
#include "tls.h"

#define NBDS_MAX_TARGETS 256

/*
 * Block size constraints advertised with NBD_INFO_BLOCK_SIZE.  Any byte
 * range can be read or written (the engine reads and rewrites the partial
 * sectors at the edges), so the minimum is 1, as for nbdkit's file plugin;
 * the preferred size tells clients what is cheap.
 */
#define NBDS_BLOCK_MIN 1u
#define NBDS_BLOCK_PREF 4096u
#define NBDS_BLOCK_MAX (32u * 1024 * 1024)
/* A rejected WRITE payload larger than this ends the connection. */
#define NBDS_MAX_DRAIN (64u * 1024 * 1024)

struct nbds;

struct nbds_config {
	/* Every export is read-only (-r). */
	bool read_only;
	/*
	 * The exports: these targets, or (ntargets == 0) every target the
	 * engine discovers, including ones that appear later.  The default
	 * export "" is the first of them; with ntargets == 0 it is the only
	 * target when exactly one is known.
	 */
	unsigned ntargets;
	uint16_t shelves[NBDS_MAX_TARGETS];
	uint8_t slots[NBDS_MAX_TARGETS];
	/*
	 * --reserve: a target is reserved for this host once a client
	 * enters transmission on it (engine_reserve_hold), until exit.
	 */
	bool reserve;
	/* How long a client asking for a target not yet up waits. */
	uint64_t wait_ns;
	/* Connections beyond this are closed at once (0 = 1024). */
	unsigned max_conns;
	/*
	 * TLS: TLS_OFF refuses STARTTLS (ERR_POLICY); TLS_ON offers it;
	 * TLS_REQUIRE answers every option but STARTTLS and ABORT with
	 * ERR_TLS_REQD before TLS (EXPORT_NAME: disconnect).  tls_creds
	 * (not owned) is needed unless TLS_OFF.
	 */
	enum tls_mode tls;
	struct tls_creds *tls_creds;
	/* Called whenever a connection closes (may be NULL). */
	void (*conn_closed)(void *arg, unsigned open_conns);
	void *arg;
};

struct nbds_stats {
	uint64_t conns_accepted, conns_refused, conns_open;
	uint64_t requests, errors, bytes_read, bytes_written;
	uint64_t protocol_errors;   /* hard disconnects for bad input */
	uint64_t fenced;            /* replies dropped: connection gone */
	uint64_t tls_sessions;      /* TLS handshakes completed */
	uint64_t tls_failures;      /* TLS handshakes failed */
};

/* Create the server (no socket yet).  0 or -errno. */
int nbds_new(struct nbds **out, const struct nbds_config *cfg,
    struct loop *loop);
/*
 * Free everything.  Call after engine_free(), so that every engine
 * callback for a request of ours has run.  NULL-safe.
 */
void nbds_free(struct nbds *s);

/* The engine serving the exports; set before the first connection. */
void nbds_set_engine(struct nbds *s, struct engine *e);
/* Forward engine events (engine_ops.event) here. */
void nbds_target_event(struct nbds *s, struct target *t, int event);

/*
 * Listen on TCP: addr (NULL = 127.0.0.1) and port (a number or service
 * name; "0" = any free port), every address getaddrinfo gives.  Returns 0
 * or -errno; *err (if not NULL) gets a static text naming the failing
 * step, or for -ENOENT (the address does not resolve) the resolver's
 * message.
 */
int nbds_listen_tcp(struct nbds *s, const char *addr, const char *port,
    const char **err);
/* The TCP port bound by nbds_listen_tcp (for port "0"), or 0. */
unsigned nbds_tcp_port(const struct nbds *s);
/*
 * Listen on a Unix socket at path, mode 0600.  A stale socket file (no
 * one listening) is replaced; a live one is -EADDRINUSE.
 */
int nbds_listen_unix(struct nbds *s, const char *path, const char **err);
/* Accept on an inherited listening socket (systemd socket activation). */
int nbds_listen_fd(struct nbds *s, int fd);
/*
 * Serve one already connected client reading rfd and writing wfd (the
 * same fd for a socket; 0 and 1 for -s).  Takes ownership of the fds.
 */
int nbds_serve_fds(struct nbds *s, int rfd, int wfd);

/*
 * Stop: close the listening sockets, end negotiations, stop reading new
 * requests; requests in flight finish and their replies are sent, then
 * each connection closes.  nbds_open_conns() tells when all are gone.
 */
void nbds_shutdown(struct nbds *s);
/* Close every connection now (fencing what is still in flight). */
void nbds_close_all(struct nbds *s);
unsigned nbds_open_conns(const struct nbds *s);
const struct nbds_stats *nbds_stats(const struct nbds *s);

/*
 * The description of an export as LIST and NBD_INFO_DESCRIPTION give it:
 * "MODEL, serial SERIAL, N bytes".  Returns the length written to buf.
 */
size_t nbds_describe(const struct target *t, char *buf, size_t len);

#endif
