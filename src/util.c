/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small pure helpers: MAC and target-name formatting and parsing, strict
 * number and duration parsing, and aoe-stat style size formatting.  No I/O,
 * no allocation, no globals; the parsers accept the whole string or nothing.
 * At the end, the few the programs share that do: absolute_path,
 * pidfile_write, stream_flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

char *
mac_fmt(char *buf, const uint8_t mac[6])
{
	snprintf(buf, MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
	    mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

int
mac_parse(const char *s, uint8_t mac[6])
{
	uint8_t tmp[6];
	size_t len = strlen(s);
	size_t step;
	char sep = 0;

	if (len == 17) {
		/* "xx:xx:..." or "xx-xx-...", one separator throughout. */
		sep = s[2];
		if (sep != ':' && sep != '-')
			return -EINVAL;
		step = 3;
	} else if (len == 12) {
		step = 2;
	} else {
		return -EINVAL;
	}
	for (size_t i = 0; i < 6; i++) {
		const char *p = s + i * step;
		int hi = hex_value((unsigned char)p[0]);
		int lo = hex_value((unsigned char)p[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (sep && i < 5 && p[2] != sep)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, tmp, 6);
	return 0;
}

bool
env_is_zero(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && strcmp(v, "0") == 0;
}

bool
mac_is_broadcast(const uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		if (mac[i] != 0xff)
			return false;
	return true;
}

/*
 * Parse one run of decimal digits at *pp, at least one, value <= max;
 * advance *pp past it.  Returns 0 or -EINVAL (no digit, too large).
 */
static int
parse_dec_part(const char **pp, unsigned long max, unsigned long *out)
{
	const char *p = *pp;
	unsigned long v = 0;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*pp = p;
	*out = v;
	return 0;
}

int
target_name_parse(const char *s, uint16_t *shelf, uint8_t *slot)
{
	const char *p = s;
	unsigned long sh, sl;

	if (*p == 'e')
		p++;
	if (parse_dec_part(&p, 65534, &sh) < 0)
		return -EINVAL;
	if (*p++ != '.')
		return -EINVAL;
	if (parse_dec_part(&p, 254, &sl) < 0)
		return -EINVAL;
	if (*p != '\0')
		return -EINVAL;
	*shelf = (uint16_t)sh;
	*slot = (uint8_t)sl;
	return 0;
}

char *
target_name_fmt(char *buf, size_t len, uint16_t shelf, uint8_t slot)
{
	snprintf(buf, len, "e%u.%u", (unsigned)shelf, (unsigned)slot);
	return buf;
}

int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v = 0;
	bool overflow = false;
	const char *p;

	if (!is_digit(*s))
		return -EINVAL;
	for (p = s; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (ULLONG_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (*p != '\0')
		return -EINVAL;
	if (overflow || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms)
{
	const char *p = s;
	uint64_t sec = 0, ms = 0;
	bool overflow = false, rest = false;
	unsigned n;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (sec > (UINT64_MAX / 1000 - 1 - d) / 10)
			overflow = true;
		else
			sec = sec * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		for (n = 0; is_digit(*p); p++, n++) {
			if (n < 3)
				ms = ms * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				rest = true;
		}
		for (; n < 3; n++)
			ms *= 10;
		/* Round a sub-millisecond remainder up: "0.0001" is not 0. */
		if (rest)
			ms++;
	}
	if (*p != '\0')
		return -EINVAL;
	if (overflow)
		return -ERANGE;
	ms += sec * 1000;
	if (ms > max_ms)
		return -ERANGE;
	*out_ms = ms;
	return 0;
}

char *
size_fmt_gb(char *buf, size_t len, uint64_t bytes)
{
	/* Integer arithmetic, rounded half up, so huge sizes stay exact. */
	uint64_t gb = bytes / 1000000000u;
	uint64_t milli = (bytes % 1000000000u + 500000u) / 1000000u;

	if (milli == 1000) {
		gb++;
		milli = 0;
	}
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 "GB", gb, milli);
	return buf;
}

char *
absolute_path(const char *path)
{
	char cwd[PATH_MAX], *out;
	size_t n;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	n = strlen(cwd) + 1 + strlen(path) + 1;
	out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s/%s", cwd, path);
	return out;
}

int
pidfile_write(const char *path)
{
	char tmp[PATH_MAX], buf[32];
	ssize_t w;
	int fd, n, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	w = write(fd, buf, (size_t)n);
	if (w != n) {
		rc = w < 0 ? -errno : -EIO;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(tmp);
	return rc;
}

int
stream_flush(FILE *f)
{
	errno = 0;
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	return errno != 0 ? -errno : -EIO;
}
