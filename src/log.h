/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the programs and the runtime glue (not for the codec or the
 * engine, which return codes and keep counters).  Modelled on OpenBSD's
 * log.h: stderr in the foreground, syslog when daemonised.
 */
#ifndef AOE_LOG_H
#define AOE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Start logging as PROGNAME; to stderr when foreground, else syslog. */
void log_init(const char *progname, bool foreground);
/*
 * 0 = warnings and info, 1 = + debug (-v), 2 = + per-frame debug (-vv);
 * -1 = nothing but fatal()/fatalx().
 */
void log_setverbose(int level);
int log_getverbose(void);
const char *log_progname(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up only: log and exit(status). */
void fatal(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void fatalx(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
