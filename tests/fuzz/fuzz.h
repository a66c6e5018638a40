/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every libFuzzer harness here shares: the entry point's prototype
 * and CHECK, which aborts (a finding) with the failed condition.  It writes
 * to file descriptor 2 itself: fuzz_cmdline points the stderr FILE at
 * /dev/null.
 */
#ifndef AOE_FUZZ_H
#define AOE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			dprintf(STDERR_FILENO,				\
			    "%s:%d: check failed: %s\n", __FILE__,	\
			    __LINE__, #cond);				\
			abort();					\
		}							\
	} while (0)

#endif
