/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transports for the NBD server (see tls.h): plain non-blocking fds, and a
 * GnuTLS server session on the same fds with our own push/pull functions
 * (pipes for -s work too).  Credentials are loaded once: X.509 from
 * nbdkit's directory layout, PSK keys parsed from a psktool file into
 * memory.  No NBD knowledge lives here.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_GNUTLS
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#endif

#include "tls.h"
#include "util.h"

#define TLS_RECORD 16384u   /* the largest TLS plaintext record */

int
tls_mode_parse(const char *s, enum tls_mode *out)
{
	static const struct {
		const char *name;
		enum tls_mode mode;
	} names[] = {
		{ "off", TLS_OFF }, { "no", TLS_OFF }, { "false", TLS_OFF },
		{ "0", TLS_OFF },
		{ "on", TLS_ON }, { "yes", TLS_ON }, { "true", TLS_ON },
		{ "1", TLS_ON },
		{ "require", TLS_REQUIRE }, { "required", TLS_REQUIRE },
		{ "force", TLS_REQUIRE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---------------------------------------------------------- plain */

static ssize_t
plain_recv(struct tls_io *io, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(io->rfd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

/* writev, or sendmsg without SIGPIPE on a socket. */
static ssize_t
fd_writev(struct tls_io *io, const struct iovec *iov, unsigned iovcnt)
{
	for (;;) {
		ssize_t w;

		if (io->wsock) {
			struct msghdr msg = {
				/* msg_iov is not const; sendmsg only reads. */
				.msg_iov = (struct iovec *)(uintptr_t)iov,
				.msg_iovlen = iovcnt,
			};

			w = sendmsg(io->wfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			w = writev(io->wfd, iov, (int)iovcnt);
		}
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		if (errno == ENOTSOCK && io->wsock) {
			io->wsock = false;
			continue;
		}
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

static ssize_t
plain_send(struct tls_io *io, const struct iovec *iov, unsigned iovcnt)
{
	return fd_writev(io, iov, iovcnt);
}

static bool
plain_pending(const struct tls_io *io)
{
	(void)io;
	return false;
}

static bool
plain_want_write(const struct tls_io *io)
{
	(void)io;
	return false;
}

static void
plain_shutdown(struct tls_io *io)
{
	(void)io;
}

static void
plain_describe(const struct tls_io *io, char *buf, size_t len)
{
	(void)io;
	if (len > 0)
		buf[0] = '\0';
}

static void
plain_free(struct tls_io *io)
{
	free(io);
}

static const struct tls_io_ops plain_ops = {
	.name = "plain",
	.recv = plain_recv,
	.send = plain_send,
	.handshake = NULL,
	.pending = plain_pending,
	.want_write = plain_want_write,
	.shutdown = plain_shutdown,
	.describe = plain_describe,
	.free = plain_free,
};

static bool
is_socket(int fd)
{
	int type;
	socklen_t sl = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0;
}

int
tls_io_plain_new(struct tls_io **out, int rfd, int wfd)
{
	struct tls_io *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return -ENOMEM;
	io->ops = &plain_ops;
	io->rfd = rfd;
	io->wfd = wfd;
	io->wsock = is_socket(wfd);
	*out = io;
	return 0;
}

#ifdef HAVE_GNUTLS

/* ---------------------------------------------------------- credentials */

struct psk_key {
	char *user;
	uint8_t *key;
	size_t keylen;
};

struct tls_creds {
	bool psk;
	bool verify_peer;
	gnutls_certificate_credentials_t x509;
	gnutls_psk_server_credentials_t pskc;
	gnutls_priority_t prio;
	struct psk_key *keys;
	size_t nkeys;
};

bool
tls_supported(void)
{
	return true;
}

const char *
tls_creds_kind(const struct tls_creds *cr)
{
	return cr->psk ? "PSK" : "X.509";
}

/* psktool's format: one "username:hexkey" per line. */
static int
psk_load(struct tls_creds *cr, const char *path, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		snprintf(msg, msglen, "--tls-psk %s: %s", path, strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n"), ulen, hlen;
		struct psk_key *k, *nk;
		char *colon, first;

		lineno++;
		if (line[n] == '\0' && !feof(f)) {
			snprintf(msg, msglen, "--tls-psk %s:%u: line too long",
			    path, lineno);
			rc = -EINVAL;
			break;
		}
		line[n] = '\0';
		/* A UTF-8 byte order mark an editor put first is no user. */
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, n + 1 - 3);
		first = line[strspn(line, " \t")];
		if (first == '\0' || first == '#')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line) {
			snprintf(msg, msglen, "--tls-psk %s:%u: expected "
			    "username:hexkey", path, lineno);
			rc = -EINVAL;
			break;
		}
		ulen = (size_t)(colon - line);
		hlen = strlen(colon + 1);
		if (hlen == 0 || hlen % 2 != 0 || hlen > 2 * 512) {
			snprintf(msg, msglen, "--tls-psk %s:%u: the key must "
			    "be an even number of hex digits, 2 to 1024", path,
			    lineno);
			rc = -EINVAL;
			break;
		}
		for (size_t i = 0; i < cr->nkeys; i++) {
			if (strlen(cr->keys[i].user) == ulen &&
			    memcmp(cr->keys[i].user, line, ulen) == 0) {
				snprintf(msg, msglen, "--tls-psk %s:%u: user "
				    "%.*s given a second time", path, lineno,
				    (int)MIN(ulen, 64), line);
				rc = -EINVAL;
				break;
			}
		}
		if (rc < 0)
			break;
		nk = realloc(cr->keys, (cr->nkeys + 1) * sizeof(*nk));
		if (nk == NULL) {
			rc = -ENOMEM;
			break;
		}
		cr->keys = nk;
		k = &cr->keys[cr->nkeys];
		memset(k, 0, sizeof(*k));
		k->user = strndup(line, ulen);
		k->key = malloc(hlen / 2);
		if (k->user == NULL || k->key == NULL) {
			free(k->user);
			free(k->key);
			rc = -ENOMEM;
			break;
		}
		cr->nkeys++;
		k->keylen = hlen / 2;
		for (size_t i = 0; i < k->keylen; i++) {
			int hi = hex_value((unsigned char)colon[1 + 2 * i]);
			int lo = hex_value((unsigned char)colon[2 + 2 * i]);

			if (hi < 0 || lo < 0) {
				snprintf(msg, msglen, "--tls-psk %s:%u: the "
				    "key must be hex digits", path, lineno);
				rc = -EINVAL;
				break;
			}
			k->key[i] = (uint8_t)(hi << 4 | lo);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(msg, msglen, "--tls-psk %s: read error", path);
	}
	if (rc == 0 && cr->nkeys == 0) {
		rc = -EINVAL;
		snprintf(msg, msglen, "--tls-psk %s: no keys in the file",
		    path);
	}
	if (rc == -ENOMEM)
		snprintf(msg, msglen, "out of memory");
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return rc;
}

/* GnuTLS asks for the key of a user name (PSK handshakes). */
static int
psk_lookup(gnutls_session_t session, const char *user, gnutls_datum_t *key)
{
	const struct tls_creds *cr = gnutls_session_get_ptr(session);

	if (cr == NULL || user == NULL)
		return -1;
	for (size_t i = 0; i < cr->nkeys; i++) {
		if (strcmp(cr->keys[i].user, user) != 0)
			continue;
		key->data = gnutls_malloc(cr->keys[i].keylen);
		if (key->data == NULL)
			return -1;
		memcpy(key->data, cr->keys[i].key, cr->keys[i].keylen);
		key->size = (unsigned)cr->keys[i].keylen;
		return 0;
	}
	return -1;
}

static int
x509_load(struct tls_creds *cr, const char *dir, char *msg, size_t msglen)
{
	char ca[4096], crl[4096], cert[4096], key[4096];
	int r;

	if ((size_t)snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir) >=
	    sizeof(ca) ||
	    (size_t)snprintf(crl, sizeof(crl), "%s/ca-crl.pem", dir) >=
	    sizeof(crl) ||
	    (size_t)snprintf(cert, sizeof(cert), "%s/server-cert.pem", dir) >=
	    sizeof(cert) ||
	    (size_t)snprintf(key, sizeof(key), "%s/server-key.pem", dir) >=
	    sizeof(key)) {
		snprintf(msg, msglen, "--tls-certificates: path too long");
		return -ENAMETOOLONG;
	}
	r = gnutls_certificate_allocate_credentials(&cr->x509);
	if (r < 0)
		goto gnutls_fail;
	if (access(cert, R_OK) < 0 || access(key, R_OK) < 0) {
		int rc = -errno;

		snprintf(msg, msglen, "--tls-certificates %s: cannot read "
		    "server-cert.pem and server-key.pem: %s", dir,
		    strerror(-rc));
		return rc;
	}
	if (access(ca, R_OK) == 0) {
		/* It returns how many certificates it took: none is wrong. */
		r = gnutls_certificate_set_x509_trust_file(cr->x509, ca,
		    GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			snprintf(msg, msglen, "%s: %s", ca, gnutls_strerror(r));
			return -EINVAL;
		}
		if (r == 0) {
			snprintf(msg, msglen, "%s: no certificate in it", ca);
			return -EINVAL;
		}
	} else if (cr->verify_peer) {
		snprintf(msg, msglen, "--tls-verify-peer needs %s: %s", ca,
		    strerror(errno));
		return -ENOENT;
	}
	if (access(crl, R_OK) == 0) {
		r = gnutls_certificate_set_x509_crl_file(cr->x509, crl,
		    GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			snprintf(msg, msglen, "%s: %s", crl,
			    gnutls_strerror(r));
			return -EINVAL;
		}
	}
	r = gnutls_certificate_set_x509_key_file(cr->x509, cert, key,
	    GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		snprintf(msg, msglen, "%s, %s: %s", cert, key,
		    gnutls_strerror(r));
		return -EINVAL;
	}
	/* For the DHE suites (GnuTLS >= 3.5.6: RFC 7919 groups). */
	gnutls_certificate_set_known_dh_params(cr->x509,
	    GNUTLS_SEC_PARAM_MEDIUM);
	return 0;

gnutls_fail:
	snprintf(msg, msglen, "GnuTLS: %s", gnutls_strerror(r));
	return -ENOMEM;
}

int
tls_creds_new(struct tls_creds **out, const struct tls_config *cfg,
    char *msg, size_t msglen)
{
	/* NBD proto.md: TLS 1.2 or later. */
	static const char prio_x509[] = "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1";
	static const char prio_psk[] =
	    "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:+ECDHE-PSK:+DHE-PSK:+PSK";
	struct tls_creds *cr;
	const char *errpos = NULL;
	int r, rc;

	*out = NULL;
	if (msglen > 0)
		msg[0] = '\0';
	r = gnutls_global_init();
	if (r < 0) {
		snprintf(msg, msglen, "GnuTLS: %s", gnutls_strerror(r));
		return -EIO;
	}
	cr = calloc(1, sizeof(*cr));
	if (cr == NULL) {
		gnutls_global_deinit();
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	cr->verify_peer = cfg->verify_peer;
	if (cfg->psk_file != NULL) {
		cr->psk = true;
		rc = psk_load(cr, cfg->psk_file, msg, msglen);
		if (rc < 0)
			goto fail;
		r = gnutls_psk_allocate_server_credentials(&cr->pskc);
		if (r < 0) {
			snprintf(msg, msglen, "GnuTLS: %s", gnutls_strerror(r));
			rc = -ENOMEM;
			goto fail;
		}
		gnutls_psk_set_server_credentials_function(cr->pskc,
		    psk_lookup);
		gnutls_psk_set_server_known_dh_params(cr->pskc,
		    GNUTLS_SEC_PARAM_MEDIUM);
	} else if (cfg->cert_dir != NULL) {
		rc = x509_load(cr, cfg->cert_dir, msg, msglen);
		if (rc < 0)
			goto fail;
	} else {
		snprintf(msg, msglen, "TLS needs --tls-certificates or "
		    "--tls-psk");
		rc = -EINVAL;
		goto fail;
	}
	r = gnutls_priority_init(&cr->prio, cr->psk ? prio_psk : prio_x509,
	    &errpos);
	if (r < 0) {
		snprintf(msg, msglen, "GnuTLS priority at '%s': %s",
		    errpos ? errpos : "?", gnutls_strerror(r));
		rc = -EINVAL;
		goto fail;
	}
	*out = cr;
	return 0;

fail:
	tls_creds_free(cr);
	return rc;
}

void
tls_creds_free(struct tls_creds *cr)
{
	if (cr == NULL)
		return;
	for (size_t i = 0; i < cr->nkeys; i++) {
		explicit_bzero(cr->keys[i].key, cr->keys[i].keylen);
		free(cr->keys[i].key);
		free(cr->keys[i].user);
	}
	free(cr->keys);
	if (cr->x509 != NULL)
		gnutls_certificate_free_credentials(cr->x509);
	if (cr->pskc != NULL)
		gnutls_psk_free_server_credentials(cr->pskc);
	if (cr->prio != NULL)
		gnutls_priority_deinit(cr->prio);
	free(cr);
	gnutls_global_deinit();
}

/* ---------------------------------------------------------- sessions */

struct tls_sess {
	struct tls_io io;        /* first: the ops see a struct tls_io */
	gnutls_session_t s;
	struct tls_creds *cr;
	bool want_write;
	bool handshaken;
	bool bye_sent;
	const uint8_t *retry_p;  /* a record gnutls must be offered again */
	size_t retry_n;
	uint8_t wbuf[TLS_RECORD];
};

static struct tls_sess *
sess_of(struct tls_io *io)
{
	return (struct tls_sess *)io;
}

static const struct tls_sess *
csess_of(const struct tls_io *io)
{
	return (const struct tls_sess *)io;
}

/* GnuTLS transport functions: the fds, non-blocking, errno passed on. */
static ssize_t
sess_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_sess *t = ptr;
	ssize_t n = plain_recv(&t->io, buf, len);

	if (n >= 0)
		return n;
	gnutls_transport_set_errno(t->s, n == -EAGAIN ? EAGAIN : (int)-n);
	return -1;
}

static ssize_t
sess_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct tls_sess *t = ptr;
	ssize_t n;

	/* giovec_t has struct iovec's layout (gnutls.h says so). */
	n = fd_writev(&t->io, (const struct iovec *)iov, (unsigned)iovcnt);
	if (n >= 0)
		return n;
	gnutls_transport_set_errno(t->s, n == -EAGAIN ? EAGAIN : (int)-n);
	return -1;
}

static int
sess_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	struct tls_sess *t = ptr;
	struct pollfd pfd = { .fd = t->io.rfd, .events = POLLIN };
	int r;

	do {
		r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 :
		    (int)ms);
	} while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t
sess_recv(struct tls_io *io, void *buf, size_t len)
{
	struct tls_sess *t = sess_of(io);

	for (;;) {
		ssize_t r = gnutls_record_recv(t->s, buf, len);

		if (r >= 0)
			return r;
		switch (r) {
		case GNUTLS_E_INTERRUPTED:
			continue;
		case GNUTLS_E_AGAIN:
			t->want_write = gnutls_record_get_direction(t->s) == 1;
			return -EAGAIN;
		case GNUTLS_E_PREMATURE_TERMINATION:
			/*
			 * Closed without close_notify: NBD's framing shows a
			 * cut message anyway, so this is an end of input.
			 */
			return 0;
		case GNUTLS_E_REHANDSHAKE:
			return -EPROTO;  /* no renegotiation */
		default:
			if (!gnutls_error_is_fatal((int)r))
				continue;  /* a warning alert */
			return -ECONNRESET;
		}
	}
}

static ssize_t
sess_send(struct tls_io *io, const struct iovec *iov, unsigned iovcnt)
{
	struct tls_sess *t = sess_of(io);
	ssize_t r;

	if (t->retry_n == 0) {
		if (iovcnt == 0)
			return 0;
		if (iovcnt == 1 || iov[0].iov_len >= TLS_RECORD) {
			/* Big pieces go out from where they are. */
			t->retry_p = iov[0].iov_base;
			t->retry_n = MIN(iov[0].iov_len, (size_t)TLS_RECORD);
		} else {
			/* Small ones (reply headers + data) share a record. */
			size_t n = 0;

			for (unsigned i = 0; i < iovcnt && n < TLS_RECORD;
			    i++) {
				size_t k = MIN(iov[i].iov_len,
				    TLS_RECORD - n);

				memcpy(t->wbuf + n, iov[i].iov_base, k);
				n += k;
			}
			t->retry_p = t->wbuf;
			t->retry_n = n;
		}
		if (t->retry_n == 0)
			return 0;
	}
	/*
	 * After GNUTLS_E_AGAIN GnuTLS has the record encrypted and wants
	 * the very same call again; the caller's queue has not moved, so
	 * the bytes we report below are still the front of it.
	 */
	for (;;) {
		r = gnutls_record_send(t->s, t->retry_p, t->retry_n);
		if (r >= 0)
			break;
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r == GNUTLS_E_AGAIN) {
			t->want_write = gnutls_record_get_direction(t->s) == 1;
			return -EAGAIN;
		}
		t->retry_n = 0;
		return -ECONNRESET;
	}
	t->retry_n = 0;
	return r;
}

static int
sess_handshake(struct tls_io *io, char *msg, size_t msglen)
{
	struct tls_sess *t = sess_of(io);
	int r;

	for (;;) {
		r = gnutls_handshake(t->s);
		if (r == 0) {
			t->handshaken = true;
			return 1;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			t->want_write = gnutls_record_get_direction(t->s) == 1;
			return 0;
		}
		if (!gnutls_error_is_fatal(r))
			continue;
		break;
	}
	/* Tell the client why (one non-blocking try). */
	(void)gnutls_alert_send_appropriate(t->s, r);
	if (r == GNUTLS_E_WARNING_ALERT_RECEIVED ||
	    r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(msg, msglen, "TLS handshake: %s: %s",
		    gnutls_strerror(r),
		    gnutls_alert_get_name(gnutls_alert_get(t->s)));
	else
		snprintf(msg, msglen, "TLS handshake: %s", gnutls_strerror(r));
	return r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ||
	    r == GNUTLS_E_NO_CERTIFICATE_FOUND ? -EACCES : -EPROTO;
}

static bool
sess_pending(const struct tls_io *io)
{
	const struct tls_sess *t = csess_of(io);

	return t->handshaken && gnutls_record_check_pending(t->s) > 0;
}

static bool
sess_want_write(const struct tls_io *io)
{
	return csess_of(io)->want_write;
}

static void
sess_shutdown(struct tls_io *io)
{
	struct tls_sess *t = sess_of(io);

	if (!t->handshaken || t->bye_sent)
		return;
	t->bye_sent = true;
	/* One non-blocking try: the connection is closing anyway. */
	(void)gnutls_bye(t->s, GNUTLS_SHUT_WR);
}

static void
sess_describe(const struct tls_io *io, char *buf, size_t len)
{
	const struct tls_sess *t = csess_of(io);
	char *d;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (!t->handshaken)
		return;
	d = gnutls_session_get_desc(t->s);
	if (d != NULL) {
		snprintf(buf, len, "%s", d);
		gnutls_free(d);
	}
}

static void
sess_free(struct tls_io *io)
{
	struct tls_sess *t = sess_of(io);

	gnutls_deinit(t->s);
	explicit_bzero(t->wbuf, sizeof(t->wbuf));
	free(t);
}

static const struct tls_io_ops tls_ops = {
	.name = "tls",
	.recv = sess_recv,
	.send = sess_send,
	.handshake = sess_handshake,
	.pending = sess_pending,
	.want_write = sess_want_write,
	.shutdown = sess_shutdown,
	.describe = sess_describe,
	.free = sess_free,
};

int
tls_io_tls_new(struct tls_io **out, struct tls_creds *cr, int rfd, int wfd)
{
	struct tls_sess *t = calloc(1, sizeof(*t));
	int r;

	if (t == NULL)
		return -ENOMEM;
	t->io.ops = &tls_ops;
	t->io.rfd = rfd;
	t->io.wfd = wfd;
	t->io.wsock = is_socket(wfd);
	t->cr = cr;
	r = gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0) {
		free(t);
		return -ENOMEM;
	}
	gnutls_session_set_ptr(t->s, cr);
	r = gnutls_priority_set(t->s, cr->prio);
	if (r >= 0 && cr->psk)
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, cr->pskc);
	else if (r >= 0)
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
		    cr->x509);
	if (r < 0) {
		gnutls_deinit(t->s);
		free(t);
		return -EINVAL;
	}
	if (!cr->psk && cr->verify_peer) {
		gnutls_certificate_server_set_request(t->s,
		    GNUTLS_CERT_REQUIRE);
		/* The handshake fails unless the chain verifies. */
		gnutls_session_set_verify_cert(t->s, NULL, 0);
	}
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_pull_function(t->s, sess_pull);
	gnutls_transport_set_vec_push_function(t->s, sess_push);
	gnutls_transport_set_pull_timeout_function(t->s, sess_pull_timeout);
	*out = &t->io;
	return 0;
}

#else /* !HAVE_GNUTLS */

struct tls_creds {
	int unused;
};

bool
tls_supported(void)
{
	return false;
}

const char *
tls_creds_kind(const struct tls_creds *cr)
{
	(void)cr;
	return "none";
}

int
tls_creds_new(struct tls_creds **out, const struct tls_config *cfg,
    char *msg, size_t msglen)
{
	(void)cfg;
	*out = NULL;
	snprintf(msg, msglen, "this program was built without GnuTLS: "
	    "no TLS");
	return -ENOTSUP;
}

void
tls_creds_free(struct tls_creds *cr)
{
	(void)cr;
}

int
tls_io_tls_new(struct tls_io **out, struct tls_creds *cr, int rfd, int wfd)
{
	(void)cr;
	(void)rfd;
	(void)wfd;
	*out = NULL;
	return -ENOTSUP;
}

#endif /* HAVE_GNUTLS */
