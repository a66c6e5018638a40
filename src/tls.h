/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server's transport: a connection reads and writes through a
 * struct tls_io, of which there are two instances with the same ops (as
 * libnbd's socket_ops): plain fds, and a GnuTLS session on the same fds
 * after NBD_OPT_STARTTLS.  Also the server's TLS credentials (X.509 in
 * nbdkit's directory layout, or PSK in psktool's file format), loaded
 * once at start-up.  Everything is non-blocking: a call that would block
 * returns -EAGAIN and tls_io_want_write() tells which way to poll.
 */
#ifndef AOE_TLS_H
#define AOE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

enum tls_mode {
	TLS_OFF,      /* STARTTLS refused (ERR_POLICY) */
	TLS_ON,       /* STARTTLS offered; plaintext allowed too */
	TLS_REQUIRE,  /* nothing but STARTTLS and ABORT before TLS */
};

struct tls_config {
	enum tls_mode mode;
	/* X.509: ca-cert.pem, server-cert.pem, server-key.pem [ca-crl.pem]. */
	const char *cert_dir;
	/* PSK: "username:hexkey" lines (psktool); wins over cert_dir. */
	const char *psk_file;
	/* X.509: require a client certificate signed by ca-cert.pem. */
	bool verify_peer;
};

/* "off", "on" or "require" (also "no", "yes" ...).  0 or -EINVAL. */
int tls_mode_parse(const char *s, enum tls_mode *out);
/* True when built with GnuTLS. */
bool tls_supported(void);

struct tls_creds;

/*
 * Load the credentials cfg names (files are read now, so that they can
 * stay unreadable to the user the server later runs as).  0 or -errno;
 * msg gets one line saying what failed.
 */
int tls_creds_new(struct tls_creds **out, const struct tls_config *cfg,
    char *msg, size_t msglen);
void tls_creds_free(struct tls_creds *cr); /* NULL-safe */
/* "X.509" or "PSK". */
const char *tls_creds_kind(const struct tls_creds *cr);

struct tls_io;

struct tls_io_ops {
	const char *name;
	/* Up to len bytes: > 0, 0 at the end of input, -EAGAIN, -errno. */
	ssize_t (*recv)(struct tls_io *io, void *buf, size_t len);
	/*
	 * Bytes taken from the front of iov (> 0), -EAGAIN or -errno.  After
	 * -EAGAIN the caller must offer the same bytes again.
	 */
	ssize_t (*send)(struct tls_io *io, const struct iovec *iov,
	    unsigned iovcnt);
	/* 1 when the handshake is done, 0 to be called again, -errno. */
	int (*handshake)(struct tls_io *io, char *msg, size_t msglen);
	/* Input already read from the fd and waiting in the layer. */
	bool (*pending)(const struct tls_io *io);
	/* The last -EAGAIN (or handshake 0) waits for the fd to be writable. */
	bool (*want_write)(const struct tls_io *io);
	/* A best-effort, non-blocking close_notify (gnutls_bye). */
	void (*shutdown)(struct tls_io *io);
	/* Describe the session ("TLS1.3 ..."), or "" when plain. */
	void (*describe)(const struct tls_io *io, char *buf, size_t len);
	/* Free; the fds stay open (the caller owns them). */
	void (*free)(struct tls_io *io);
};

struct tls_io {
	const struct tls_io_ops *ops;
	int rfd, wfd;
	bool wsock;   /* wfd is a socket: send with MSG_NOSIGNAL */
};

/* Plain reads and writes on rfd / wfd (the same fd for a socket). */
int tls_io_plain_new(struct tls_io **out, int rfd, int wfd);
/*
 * A server TLS session on rfd / wfd, ready for handshake().  0 or -errno
 * (-ENOTSUP without GnuTLS).
 */
int tls_io_tls_new(struct tls_io **out, struct tls_creds *cr, int rfd,
    int wfd);

static inline bool
tls_io_is_tls(const struct tls_io *io)
{
	return io != NULL && io->ops->handshake != NULL;
}

#endif
