/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper: load hex vectors of captured frames.  Only for tests; it
 * reads files and reports errors as negative errno, never exits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "hexvec.h"
#include "util.h"

int
hexvec_load(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f;
	size_t n = 0;
	int c, hi = -1, rc = 0;

	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	while ((c = getc(f)) != EOF) {
		int d;

		if (c == '#') {
			while ((c = getc(f)) != EOF && c != '\n')
				;
			c = ' ';
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (hi >= 0) {
				rc = -EINVAL; /* odd digit count in a word */
				goto out;
			}
			continue;
		}
		d = hex_value(c);
		if (d < 0) {
			rc = -EINVAL;
			goto out;
		}
		if (hi < 0) {
			hi = d;
			continue;
		}
		if (n == cap) {
			rc = -ENOBUFS;
			goto out;
		}
		buf[n++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	if (ferror(f))
		rc = -EIO;
	else if (hi >= 0)
		rc = -EINVAL;
out:
	fclose(f);
	if (rc == 0)
		*len = n;
	return rc;
}

int
hexvec_load_name(const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	const char *srcdir = getenv("srcdir");
	char path[PATH_MAX];
	int n;

	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	n = snprintf(path, sizeof(path), "%s/tests/vectors/%s.hex", srcdir,
	    name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return hexvec_load(path, buf, cap, len);
}
