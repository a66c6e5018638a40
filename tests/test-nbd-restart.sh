#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A target restarted while aoe-nbd and aoe-fuse run idle, as an admin
# would: read-only (vblade -r) first, so a write is refused and the export
# turns read-only; then writable and twice the size, then half: within
# seconds (vblade's start-up advert, then IDENTIFY again) new NBD clients
# see the new size and a writable export that writes reach, and the FUSE
# file shows the new size and mode.  Before, the first size and the learnt
# read-only state stayed until aoe-nbd was restarted.  Our own periodic
# rediscovery keeps the read-only state learnt.  Last, the same
# while a reader keeps the target busy (it was identified again only when
# idle).
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fuse-functions.sh"

requires aoe-nbd aoe-fuse nbdinfo truncate stat
requires_root
requires_nbdsh
requires_fuse

setup_lan
make_image "$tmpdir/disk.img" 8
start_vblade 1 0 "$tmpdir/disk.img" -r
start_aoe_nbd -I "$lan_if" -w 5 --discover-interval 1 e1.0
file=$tmpdir/file
: >"$file"
start_fuse "$file" -I "$lan_if" -w 5 -o mode=0644 e1.0 "$file"

# size_is BYTES: a new NBD client sees this size, and so does the file.
size_is()
{
	[ "$(nbdinfo --size "$(nbd_uri)" 2>/dev/null)" = "$1" ] &&
	    [ "$(stat -c %s "$file")" = "$1" ]
}

# try_write: write 512 bytes at 4096 through a new NBD client; prints
# "ok", or the error and whether the export said it was read-only.
try_write()
{
	nbdsh_run -u "$(nbd_uri)" -c - <<'PY'
try:
    h.pwrite(b"\x5a" * 512, 4096)
    print("ok", h.is_read_only())
except nbd.Error as e:
    print("error", e.errnum, h.is_read_only())
PY
}

# restart_at MIB [WHY]: vblade restarted on the image grown or shrunk to
# MIB MiB; new clients and the file see the new size within 15 s.
restart_at()
{
	local bytes=$(($1 * 1048576)) t0

	stop_vblade "$vblade_pid"
	truncate -s "${1}M" "$tmpdir/disk.img"
	start_vblade 1 0 "$tmpdir/disk.img"
	t0=$(now_s)
	wait_for -t 15 size_is "$bytes" ||
	    fail "size $(nbdinfo --size "$(nbd_uri)") / $(stat -c %s "$file")," \
	    "expected $bytes${2:+ ($2)}"
	say "new size seen after $(elapsed_since "$t0") s"
}

say "read-only target: the write is refused, the export turns read-only"
try_write >"$tmpdir/out" || fail "nbdsh failed"
sed 's/^/  out| /' "$tmpdir/out"
expect_grep "$tmpdir/out" "error 1 False"
try_write >"$tmpdir/out" || fail "nbdsh failed"
sed 's/^/  out| /' "$tmpdir/out"
expect_grep "$tmpdir/out" "error 1 True"
# Rediscovery (every second here) identifies it again, the same size:
# the read-only state learnt stays (it was forgotten each time).
sleep 2.5
try_write >"$tmpdir/out" || fail "nbdsh failed"
sed 's/^/  out| /' "$tmpdir/out"
expect_grep "$tmpdir/out" "error 1 True"
# aoe-fuse learns it for itself from its own refused write.
! dd if=/dev/zero of="$file" bs=512 count=1 conv=notrunc status=none \
    2>/dev/null || fail "a write through FUSE to a read-only target worked"
[ "$(stat -c %a "$file")" = 444 ] || {
	sleep 1.5   # the kernel's cached attributes
	[ "$(stat -c %a "$file")" = 444 ] ||
	    fail "FUSE file mode $(stat -c %a "$file"), expected 444"
}

say "restarted writable and twice the size"
restart_at 16
try_write >"$tmpdir/out" || fail "nbdsh failed"
sed 's/^/  out| /' "$tmpdir/out"
expect_grep "$tmpdir/out" "ok False"
cmp -n 512 -i 0:4096 <(head -c 512 /dev/zero | tr '\0' '\132') \
    "$tmpdir/disk.img" || fail "the write did not reach the backing file"
wait_for -t 5 eval '[ "$(stat -c %a "$file")" = 644 ]' ||
    fail "FUSE file mode $(stat -c %a "$file"), expected 644"
dd if=/dev/zero of="$file" bs=4096 seek=4000 count=1 conv=notrunc \
    status=none || fail "cannot write past the old end through FUSE"

say "restarted at half the size"
restart_at 4

# A reader keeps the target busy (frames always in flight) while it is
# restarted at twice the size: it is identified again all the same (as
# one of its window's frames), and the reader sees no error.
say "restarted at twice the size while a reader keeps it busy"
nbdsh_run -u "$(nbd_uri)" -c - >"$tmpdir/reader" 2>&1 <<PY &
import os
n = 0
while not os.path.exists("$tmpdir/stop"):
    h.pread(65536, (n % 64) * 65536)
    n += 1
print("reads", n)
PY
reader=$!
cleanup_fn kill "$reader"
sleep 0.5
kill -0 "$reader" 2>/dev/null || fail "the reader stopped: $(cat "$tmpdir/reader")"
restart_at 8 "reader: $(cat "$tmpdir/reader")"
kill -0 "$reader" 2>/dev/null ||
    fail "the reader stopped early: $(cat "$tmpdir/reader")"
touch "$tmpdir/stop"
wait "$reader" || fail "the reader failed: $(cat "$tmpdir/reader")"
sed 's/^/  reader| /' "$tmpdir/reader"
expect_grep "$tmpdir/reader" "reads "
nbd_alive
say "ok"
