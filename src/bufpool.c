/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Large buffers in power-of-two classes, each class a free list threaded
 * through the buffers themselves.  Built with AddressSanitizer the pool
 * keeps nothing, so a use after bufpool_put() is still caught.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bufpool.h"

#if defined(__SANITIZE_ADDRESS__)
#define BUFPOOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUFPOOL_OFF 1
#endif
#endif
#ifndef BUFPOOL_OFF
#define BUFPOOL_OFF 0
#endif

#define CLASS_MIN 16 /* 64 KiB */
#define CLASS_MAX 26 /* 64 MiB */
#define NCLASS (CLASS_MAX - CLASS_MIN + 1)

struct free_buf {
	struct free_buf *next;
};

static struct free_buf *lists[NCLASS];
static size_t kept;

/* The class of a pooled size: the smallest power of two holding it. */
static unsigned
class_of(size_t size)
{
	unsigned c = CLASS_MIN;

	while (((size_t)1 << c) < size)
		c++;
	return c;
}

static int
pooled(size_t size)
{
	return !BUFPOOL_OFF && size >= BUFPOOL_MIN && size <= BUFPOOL_MAX;
}

void *
bufpool_get(size_t size)
{
	struct free_buf *b;
	unsigned c;

	if (!pooled(size))
		return malloc(size > 0 ? size : 1);
	c = class_of(size);
	b = lists[c - CLASS_MIN];
	if (b != NULL) {
		lists[c - CLASS_MIN] = b->next;
		kept -= (size_t)1 << c;
		return b;
	}
	return malloc((size_t)1 << c);
}

void
bufpool_put(void *p, size_t size)
{
	struct free_buf *b = p;
	unsigned c;

	if (p == NULL)
		return;
	if (!pooled(size)) {
		free(p);
		return;
	}
	c = class_of(size);
	if (kept + ((size_t)1 << c) > BUFPOOL_KEEP_BYTES) {
		free(p);
		return;
	}
	b->next = lists[c - CLASS_MIN];
	lists[c - CLASS_MIN] = b;
	kept += (size_t)1 << c;
}

void
bufpool_drain(void)
{
	for (unsigned i = 0; i < NCLASS; i++) {
		while (lists[i] != NULL) {
			struct free_buf *b = lists[i];

			lists[i] = b->next;
			free(b);
		}
	}
	kept = 0;
}

size_t
bufpool_kept(void)
{
	return kept;
}
