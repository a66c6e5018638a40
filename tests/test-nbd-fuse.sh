#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nbdfuse over an aoe-nbd export: the FUSE file reads back as vblade's
# backing file, writes through it (then fsync = NBD_CMD_FLUSH) land in the
# backing file; and nbdfuse starting aoe-nbd itself on stdin/stdout (-s).
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdfuse fusermount3 cmp dd
requires_root
[ -c /dev/fuse ] || skip_or_fail "/dev/fuse is missing"

setup_lan
make_image "$tmpdir/disk.img" 32
start_vblade 1 0 "$tmpdir/disk.img"
start_aoe_nbd -I "$lan_if" -w 5

mnt=$tmpdir/mnt
mkdir -p "$mnt"

# mount_fuse FILE-IN-MOUNT ARGS...: nbdfuse in the background, wait for
# its pidfile (written once mounted).
mount_fuse()
{
	local pidf=$tmpdir/fuse.pid

	rm -f "$pidf"
	printf '+ nbdfuse -P %s %s\n' "$pidf" "$*"
	nbdfuse -P "$pidf" "$@" >>"$tmpdir/nbdfuse.log" 2>&1 &
	fuse_pid=$!
	cleanup_fn fusermount3 -u -z "$mnt"
	cleanup_fn _kill_wait "$fuse_pid"
	if ! wait_for -t 15 test -s "$pidf"; then
		cat "$tmpdir/nbdfuse.log" >&2
		fail "nbdfuse did not mount"
	fi
}

umount_fuse()
{
	fusermount3 -u "$mnt" || fail "fusermount3 -u failed"
	wait "$fuse_pid" || fail "nbdfuse exited with an error"
}

mount_fuse "$mnt" "$(nbd_uri e1.0)"
[ "$(stat -c %s "$mnt/nbd")" = 33554432 ] || fail "wrong size in FUSE"
cmp "$mnt/nbd" "$tmpdir/disk.img" || fail "FUSE read differs"
say "read through FUSE: identical"
make_image "$tmpdir/new.img" 32
dd if="$tmpdir/new.img" of="$mnt/nbd" bs=1M conv=notrunc,fsync \
    status=none || fail "dd into FUSE failed"
cmp "$tmpdir/new.img" "$tmpdir/disk.img" || fail "backing file differs"
say "write through FUSE: backing file identical"
# Scattered small writes: whole sectors, and byte ranges that are not
# (nbdfuse hands those to libnbd as they come; we advertise a minimum
# block size of 1, so libnbd sends them and aoe-nbd reads and rewrites
# the partial sectors).
head -c 512 /dev/urandom >"$tmpdir/sector"
for sec in 0 7 1000 4095 65535; do
	dd if="$tmpdir/sector" of="$mnt/nbd" bs=512 seek="$sec" count=1 \
	    conv=notrunc,fsync status=none || fail "sector write failed"
	dd if="$tmpdir/sector" of="$tmpdir/new.img" bs=512 seek="$sec" \
	    count=1 conv=notrunc status=none
done
for off in 1 513 4097 100000 33554431; do
	n=$(( (off * 7) % 700 + 1 ))
	[ $((off + n)) -le 33554432 ] || n=$((33554432 - off))
	head -c "$n" /dev/urandom >"$tmpdir/bytes"
	dd if="$tmpdir/bytes" of="$mnt/nbd" bs=1 seek="$off" \
	    conv=notrunc,fsync status=none || fail "byte write at $off failed"
	dd if="$tmpdir/bytes" of="$tmpdir/new.img" bs=1 seek="$off" \
	    conv=notrunc status=none
done
cmp "$tmpdir/new.img" "$tmpdir/disk.img" || fail "small writes differ"
say "sector and byte writes through FUSE: backing file identical"
umount_fuse
stop_aoe_nbd

# nbdfuse starts the server itself: aoe-nbd -s on stdin/stdout.
mount_fuse "$mnt/disk.img" --command aoe-nbd -s -I "$lan_if" -w 5 e1.0
cmp "$mnt/disk.img" "$tmpdir/disk.img" || fail "FUSE over -s differs"
say "nbdfuse --command aoe-nbd -s: identical"
umount_fuse
say "PASS"
