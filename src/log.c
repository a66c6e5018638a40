/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging after OpenBSD's log.c: "PROGNAME: message" on stderr in the
 * foreground, syslog(3) when daemonised.  log_warn appends strerror(errno);
 * debug lines appear only at verbosity 1 and up.  Every call keeps errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_name;
static bool log_foreground = true;
static int log_verbose;

void
log_init(const char *progname, bool foreground)
{
	const char *slash;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		log_name = slash != NULL ? slash + 1 : progname;
	}
	log_foreground = foreground;
	if (!foreground)
		openlog(log_progname(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setverbose(int level)
{
	log_verbose = level;
}

int
log_getverbose(void)
{
	return log_verbose;
}

const char *
log_progname(void)
{
	if (log_name != NULL && log_name[0] != '\0')
		return log_name;
	return program_invocation_short_name;
}

/* One record; err >= 0 appends ": strerror(err)". */
static void vlog(int pri, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int pri, int err, const char *fmt, va_list ap)
{
	int saved = errno;

	/* Quiet (-1, the fuzz harnesses): only what ends the program. */
	if (log_verbose < 0 && pri != LOG_CRIT)
		return;
	if (log_foreground) {
		flockfile(stderr);
		fprintf(stderr, "%s: ", log_progname());
		vfprintf(stderr, fmt, ap);
		if (err >= 0)
			fprintf(stderr, ": %s", strerror(err));
		fputc('\n', stderr);
		funlockfile(stderr);
	} else {
		char buf[1024];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		if (err >= 0)
			syslog(pri, "%s: %s", buf, strerror(err));
		else
			syslog(pri, "%s", buf);
	}
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, err, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, -1, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, -1, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, -1, fmt, ap);
	va_end(ap);
}

void
fatal(int status, const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, err, fmt, ap);
	va_end(ap);
	exit(status);
}

void
fatalx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, -1, fmt, ap);
	va_end(ap);
	exit(status);
}
