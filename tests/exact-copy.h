/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit test helper: a copy of the first n bytes of p in a buffer of exactly
 * n bytes (at least one allocated), so that ASan sees a decoder read one
 * byte past a short frame or table.  Free it with free().
 */
#ifndef AOE_EXACT_COPY_H
#define AOE_EXACT_COPY_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t *
exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	cr_assert_not_null(q);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

#endif
