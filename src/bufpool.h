/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A cache of large I/O buffers for the front ends: a freed request buffer
 * is kept for the next request of its size class instead of going back
 * to the system, so steady I/O does not map, fault in and zero fresh pages
 * for every request.  One thread; at most BUFPOOL_KEEP_BYTES are kept.
 */
#ifndef AOE_BUFPOOL_H
#define AOE_BUFPOOL_H

#include <stddef.h>

/* Buffers of this size and up (to 64 MiB) are pooled; others are not. */
#define BUFPOOL_MIN ((size_t)64 * 1024)
#define BUFPOOL_MAX ((size_t)64 * 1024 * 1024)
#define BUFPOOL_KEEP_BYTES ((size_t)32 * 1024 * 1024)

/* size bytes (at least), uninitialised; NULL when out of memory. */
void *bufpool_get(size_t size);
/* Give back a buffer from bufpool_get(size), with that size.  NULL-safe. */
void bufpool_put(void *p, size_t size);
/* Free everything kept (at exit, so leak checkers see nothing). */
void bufpool_drain(void);
/* Bytes kept now. */
size_t bufpool_kept(void);

#endif
