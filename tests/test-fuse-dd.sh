#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse single-file form: a 256 MiB pattern written and read back through
# the FUSE file with O_DIRECT and through the page cache (the second mount
# with --busy-poll and 4 MiB of readahead); every time the bytes must equal
# vblade's backing file.  The mount's readahead is 1 MiB by default.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 600

requires_root
requires_fuse
requires dd cmp timeout
MIB=256

setup_lan 9000
backing=$tmpdir/backing.img
truncate -s ${MIB}M "$backing"
start_vblade 1 0 "$backing"

make_pattern "$tmpdir/p1" $MIB
make_pattern "$tmpdir/p2" $MIB
# p2 differs from p1: a different key stream would be nicer, so flip p2.
dd if="$tmpdir/p1" of="$tmpdir/p2" bs=1M count=1 seek=7 skip=3 \
    conv=notrunc status=none
cmp -s "$tmpdir/p1" "$tmpdir/p2" && fail "patterns are equal"

file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$lan_if" e1.0 "$file"
# The mount's readahead: ours (1 MiB), not the kernel's 128 KiB.
ra=$(cat "/sys/class/bdi/$(fuse_dev "$file")/read_ahead_kb")
say "read_ahead_kb $ra"
[ "$ra" = 1024 ] || fail "read_ahead_kb $ra, expected 1024"

set -- $(stat -c '%s %a %o %F' "$file")
say "size $1 mode $2 blksize $3 type $4 $5"
[ "$1" = $((MIB * 1048576)) ] || fail "size $1, expected $((MIB * 1048576))"
[ "$2" = 600 ] || fail "mode $2, expected 600"
[ "$3" -ge 4096 ] || fail "st_blksize $3 < 4096"

# dd_timed LABEL dd-args...: run dd (bounded), print its speed line.
dd_timed()
{
	local label=$1 st=0
	shift
	timeout 300 dd "$@" 2>"$tmpdir/dd.err" || st=$?
	say "$label: $(tail -n 1 "$tmpdir/dd.err")"
	if [ "$st" != 0 ]; then
		cat "$tmpdir/dd.err" >&2
		fail "$label: dd exited $st"
	fi
}

dd_timed "O_DIRECT write" if="$tmpdir/p1" of="$file" bs=1M oflag=direct \
    conv=notrunc,fsync
cmp "$tmpdir/p1" "$backing" || fail "backing differs after O_DIRECT write"
dd_timed "O_DIRECT read" if="$file" of="$tmpdir/out" bs=1M iflag=direct
cmp "$tmpdir/p1" "$tmpdir/out" || fail "O_DIRECT read differs"

dd_timed "buffered write" if="$tmpdir/p2" of="$file" bs=1M conv=notrunc,fsync
cmp "$tmpdir/p2" "$backing" || fail "backing differs after buffered write"

# A fresh mount so the buffered read comes through FUSE, not the cache;
# this one busy-polls (--busy-poll): the same bytes must come and go.
stop_fuse "$file" "$fuse_pid"
start_fuse "$file" -I "$lan_if" --busy-poll=100 -o read_ahead_kb=4096 \
    e1.0 "$file"
ra=$(cat "/sys/class/bdi/$(fuse_dev "$file")/read_ahead_kb")
[ "$ra" = 4096 ] || fail "read_ahead_kb $ra, expected 4096 (-o read_ahead_kb)"
dd_timed "buffered read" if="$file" of="$tmpdir/out" bs=1M
cmp "$tmpdir/p2" "$tmpdir/out" || fail "buffered read differs"

# Odd sizes at odd offsets through the cache (read-modify-write below).
dd_timed "unaligned write" if="$tmpdir/p1" of="$file" bs=4097 count=300 \
    skip=11 seek=13 conv=notrunc,fsync
dd if="$tmpdir/p1" of="$tmpdir/p2" bs=4097 count=300 skip=11 seek=13 \
    conv=notrunc status=none
cmp "$tmpdir/p2" "$backing" || fail "backing differs after unaligned write"
dd_timed "O_DIRECT read after" if="$file" of="$tmpdir/out" bs=4M iflag=direct
cmp "$tmpdir/p2" "$tmpdir/out" || fail "read differs after unaligned write"

stop_fuse "$file" "$fuse_pid"
say "ok"
