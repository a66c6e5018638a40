/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper: load a frame stored as hex text (tests/vectors/NAME.hex).
 * Bytes are hex pairs separated by white space or not; '#' starts a comment
 * that runs to the end of the line.
 */
#ifndef AOE_HEXVEC_H
#define AOE_HEXVEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the bytes of the hex file path into buf (cap bytes) and their number
 * into *len.  Returns 0, -errno when the file cannot be read, -EINVAL for a
 * character that is not hex (or an odd number of digits in a word),
 * -ENOBUFS when the file holds more than cap bytes.
 */
int hexvec_load(const char *path, uint8_t *buf, size_t cap, size_t *len);

/*
 * Load "$srcdir/tests/vectors/NAME.hex" (srcdir from the environment,
 * default ".").  Returns as hexvec_load, or -ENAMETOOLONG.
 */
int hexvec_load_name(const char *name, uint8_t *buf, size_t cap,
    size_t *len);

#endif
