/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers shared by every layer: byte-order get/put on byte arrays,
 * MAC and target-name formatting and parsing, number parsing.  Pure: no I/O,
 * no allocation, no globals; but for the few helpers of the programs
 * (absolute_path, pidfile_write, stream_flush).
 */
#ifndef AOE_UTIL_H
#define AOE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define ETH_ALEN_ 6
#define MAC_STRLEN 18 /* "xx:xx:xx:xx:xx:xx" + NUL */

static inline uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
get_le48(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le16(p + 4) << 32;
}

static inline uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
put_le48(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 6; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Format a MAC as "xx:xx:xx:xx:xx:xx" into buf (MAC_STRLEN bytes); returns buf. */
char *mac_fmt(char *buf, const uint8_t mac[6]);

/*
 * Parse a MAC: six hex pairs separated by ':' or '-', or twelve hex digits
 * with no separator (as vblade -m accepts).  Returns 0 or -EINVAL.
 */
int mac_parse(const char *s, uint8_t mac[6]);
/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int hex_value(int c);

/* True for ff:ff:ff:ff:ff:ff. */
bool mac_is_broadcast(const uint8_t mac[6]);

/*
 * Parse a target name: "e1.0" or "1.0" (shelf 0..65534, slot 0..254).
 * Returns 0 or -EINVAL.
 */
int target_name_parse(const char *s, uint16_t *shelf, uint8_t *slot);

/* Format "eSHELF.SLOT" into buf (at least 16 bytes); returns buf. */
char *target_name_fmt(char *buf, size_t len, uint16_t shelf, uint8_t slot);

/*
 * Parse an unsigned decimal number in [min, max], the whole string.
 * Returns 0 or -EINVAL / -ERANGE.
 */
int parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out);

/*
 * Parse a duration in seconds with an optional fraction ("2", "0.5"),
 * result in milliseconds, in [0, max_ms].  Returns 0 or -EINVAL / -ERANGE.
 */
int parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms);

/*
 * An absolute copy of path, relative to the current directory (daemons
 * leave it); malloc'd, NULL with errno set on failure.
 */
char *absolute_path(const char *path);

/*
 * Write this process's id to path, whole: into a temporary file renamed
 * over path, so that a reader never sees half of it.  Returns the file,
 * still open (O_CLOEXEC) for a caller that may have to empty it at exit,
 * or -errno.
 */
int pidfile_write(const char *path);

/*
 * Flush f and say whether everything written to it got out: 0, or the
 * -errno of a failed write (-EIO where stdio kept no errno), now or
 * earlier (a full buffer written out during the printing).  For a
 * program's last look at stdout, so that `--help >/dev/full` fails.
 */
int stream_flush(FILE *f);

/* True when environment variable NAME is "0" (a feature turned off). */
bool env_is_zero(const char *name);

/* Format a byte count as aoe-stat does, in decimal GB with 3 decimals. */
char *size_fmt_gb(char *buf, size_t len, uint64_t bytes);

/*
 * splitmix64 (Steele, Lea, Flood 2014): the next number of a small seeded
 * generator whose whole state is *s.  The test drivers and benchmarks use
 * it for reproducible random streams; nothing here needs better.
 */
static inline uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif
