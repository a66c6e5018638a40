#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Whole images through aoe-nbd with real clients: nbdcopy out of and into
# an export (bytes equal to vblade's backing file), qemu-img compare and
# qemu-img convert into the export, qemu-img info.
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires nbdcopy qemu-img cmp aoe-nbd
requires_root

setup_lan
make_image "$tmpdir/disk.img" 64
start_vblade 1 0 "$tmpdir/disk.img"
start_aoe_nbd -I "$lan_if" -w 5 e1.0
waits0=$(cpu_waits "$nbd_pid")
uri=$(nbd_uri e1.0)

# Out: the export read whole equals the backing file.
expect_status 0 nbdcopy "$uri" "$tmpdir/out.img"
cmp "$tmpdir/out.img" "$tmpdir/disk.img" || fail "nbdcopy out differs"
say "nbdcopy out: identical"

# In (multi-conn, 256 KiB requests, block status): the backing file then
# holds exactly the image.
make_image "$tmpdir/in.img" 64
expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$uri"
cmp "$tmpdir/in.img" "$tmpdir/disk.img" || fail "nbdcopy in differs"
say "nbdcopy in: backing file identical"

# That copy began with the whole image in flight (4 connections of 64
# requests of 256 KiB): no turn of aoe-nbd's loop may last long (measured:
# 2.4-4.9 ms; 6-8 ms under ASan).  A sanitizer build (ASAN_OPTIONS set)
# gets 250 ms: CI's ASan run once saw a 64 ms turn in wall-clock time,
# before the time aoe-nbd waited for a CPU was taken off.
kill -USR1 "$nbd_pid"
wait_for -t 5 grep -q "longest turn" "$nbd_log" ||
    fail "no event loop counters after SIGUSR1"
max_turn=50
[ -z "${ASAN_OPTIONS:-}" ] || max_turn=250
check_longest_turn $max_turn $(($(cpu_waits "$nbd_pid") - waits0))

# The default export "" is the target named on the command line.
expect_status 0 nbdcopy --synchronous "$(nbd_uri)" "$tmpdir/out2.img"
cmp "$tmpdir/out2.img" "$tmpdir/disk.img" || fail "nbdcopy of \"\" differs"

expect_status 0 qemu-img info "$uri"
expect_grep "$tmpdir/out" "virtual size: 64 MiB (67108864 bytes)"

expect_status 0 qemu-img compare -f raw -F raw "$tmpdir/disk.img" "$uri"
expect_grep "$tmpdir/out" "Images are identical."

# qemu-img convert into the export (qemu's NBD client: structured
# replies, base:allocation, 16 requests in flight).
make_image "$tmpdir/q.img" 64
expect_status 0 qemu-img convert -n -f raw -O raw "$tmpdir/q.img" "$uri"
cmp "$tmpdir/q.img" "$tmpdir/disk.img" || fail "qemu-img convert differs"
say "qemu-img convert: backing file identical"

# qemu-img compare notices a difference.
printf 'X' | dd of="$tmpdir/q.img" bs=1 seek=12345 conv=notrunc status=none
expect_status 1 qemu-img compare -f raw -F raw "$tmpdir/q.img" "$uri"

nbd_alive
stop_aoe_nbd

# --busy-poll: the same bytes both ways (pipelined and one request at a
# time), the loop answered some waits by polling (-v counters at exit),
# and an idle server sleeps: polling lasts 200 us after the last event,
# so two idle seconds cost no measurable CPU (ticks of 10 ms).
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 --busy-poll=200 -v e1.0
make_image "$tmpdir/in.img" 64
expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$uri"
cmp "$tmpdir/in.img" "$tmpdir/disk.img" || fail "--busy-poll: nbdcopy in differs"
expect_status 0 nbdcopy --synchronous "$uri" "$tmpdir/out.img"
cmp "$tmpdir/out.img" "$tmpdir/disk.img" || fail "--busy-poll: nbdcopy out differs"
say "--busy-poll: nbdcopy in and out identical"
sleep 0.5
t0=$(cpu_ticks "$nbd_pid")
sleep 2
t1=$(cpu_ticks "$nbd_pid")
say "--busy-poll: $((t1 - t0)) CPU ticks in 2 idle seconds"
[ $((t1 - t0)) -le 5 ] || fail "--busy-poll: idle server used $((t1 - t0)) ticks"
nbd_alive
stop_aoe_nbd
polled=$(sed -n 's/.*event loop: \([0-9]*\) waits answered while busy polling.*/\1/p' "$nbd_log")
say "--busy-poll: $polled waits answered by polling"
[ "${polled:-0}" -gt 0 ] || fail "--busy-poll: no wait was answered by polling"
say "PASS"
