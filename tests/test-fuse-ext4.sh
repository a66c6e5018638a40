#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A file system on an AoE target through aoe-fuse: mkfs.ext4 on the FUSE
# file, mount -o loop, write and read files, umount, e2fsck clean; then
# vblade's backing file is fsck-clean too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 600

requires_root
requires_fuse
requires mkfs.ext4 e2fsck losetup mount umount unshare md5sum timeout
[ -e /dev/loop-control ] || skip_or_fail "no /dev/loop-control (loop devices)"

setup_lan
backing=$tmpdir/backing.img
truncate -s 256M "$backing"
start_vblade 1 0 "$backing"

file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$lan_if" e1.0 "$file"

# mke2fs tries to discard the whole file first (fallocate PUNCH_HOLE,
# refused), then zeroes and writes its tables.
timeout 300 mkfs.ext4 -q -F -L aoefuse "$file" || fail "mkfs.ext4 failed"
timeout 120 e2fsck -fn "$file" >"$tmpdir/fsck0" 2>&1 ||
    { cat "$tmpdir/fsck0" >&2; fail "fresh file system not clean"; }

ext=$tmpdir/ext
mkdir "$ext"
make_pattern "$tmpdir/big" 48

# The loop mounts live in a private mount namespace of their own: a
# namespace that a concurrent job creates meanwhile (unshare -m) would
# otherwise keep a copy of the ext4 mount, and the umount here would not
# release the loop device and the file system.
in_private_ns()
{
	timeout 300 unshare -m --propagation private -- bash -euc "$@"
}

# A large file, a tree of small ones, a rename and a delete.
in_private_ns '
	file=$1 ext=$2 tmp=$3
	mount -o loop "$file" "$ext"
	findmnt -n -o SOURCE,FSTYPE "$ext" || true
	cp "$tmp/big" "$ext/big"
	mkdir -p "$ext/d/e"
	for i in $(seq 1 200); do
		printf "file %s\n" "$i" >"$ext/d/e/f$i"
	done
	head -c 1000003 "$ext/big" >"$ext/d/odd"
	mv "$ext/d/e/f7" "$ext/d/f7"
	rm "$ext/d/e/f8"
	(cd "$ext" && find . -type f -exec md5sum {} + | sort -k 2) \
	    >"$tmp/sums"
	sync -f "$ext/big"
	umount "$ext"
' _ "$file" "$ext" "$tmpdir" || fail "loop mount, write or umount failed"

timeout 120 e2fsck -fn "$file" >"$tmpdir/fsck1" 2>&1 ||
    { cat "$tmpdir/fsck1" >&2; fail "e2fsck on the FUSE file: not clean"; }
say "e2fsck (FUSE file): $(tail -n 1 "$tmpdir/fsck1")"

# Read back through a fresh loop mount, read-only.
in_private_ns '
	file=$1 ext=$2 tmp=$3
	mount -o loop,ro "$file" "$ext"
	(cd "$ext" && md5sum -c --quiet "$tmp/sums")
	[ ! -e "$ext/d/e/f8" ] && [ -e "$ext/d/f7" ]
	umount "$ext"
' _ "$file" "$ext" "$tmpdir" || fail "files differ after remount"
say "$(wc -l <"$tmpdir/sums") files read back through a new loop mount"

stop_fuse "$file" "$fuse_pid"
timeout 120 e2fsck -fn "$backing" >"$tmpdir/fsck2" 2>&1 ||
    { cat "$tmpdir/fsck2" >&2; fail "e2fsck on vblade's file: not clean"; }
say "e2fsck (backing file): $(tail -n 1 "$tmpdir/fsck2")"
say "ok"
