#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-nbd sleeps while a read waits for lost answers.  The receive ring
# polls readable while the slot the kernel wrote last is not given back to
# it, and a read keeps the slots of its answers (zero copy) until it is
# whole: a read missing frames woke aoe-nbd some 2,000 times a second,
# with a core's worth of CPU under ASan (test-fault-link failed now and
# then), until an answer came.  Here the answers to the second half of a
# 256-KiB read (LBA 256 and up) are lost for 1.5 s while the first half is
# answered and held (and the answers to the Query Configs the engine
# sends a silent target, which would end the wake-ups, are lost too):
# aoe-nbd must sleep meanwhile, and the read must complete, right, once
# the answers pass again.
nbd_test_timeout=60
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoe-nbd nbdcopy nft cmp
requires_nbdsh

# MTU 1500: two sectors a frame, 256 frames for the read; no jumbo frames
# whose loss the engine would answer by resending them smaller.
setup_lan 1500
make_image "$tmpdir/disk.img" 16
start_vblade 1 0 "$tmpdir/disk.img" -b 64
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 30 e1.0

# voluntary_switches PID: how often the process has gone to sleep so far.
voluntary_switches()
{
	awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"
}

# expect_asleep WHAT: aoe-nbd's wake-ups and CPU over the next second.
expect_asleep()
{
	local w0 t0 w t
	w0=$(voluntary_switches "$nbd_pid")
	t0=$(cpu_ticks "$nbd_pid")
	sleep 1
	w=$(($(voluntary_switches "$nbd_pid") - w0))
	t=$(($(cpu_ticks "$nbd_pid") - t0))
	say "aoe-nbd while $1: $w wake-ups, $t ticks (1/100 s) in 1 s"
	# Its retransmission timers wake it a few dozen times at most.
	[ "$w" -le 100 ] || fail "aoe-nbd woke $w times in 1 s while $1"
	[ "$t" -le 10 ] || fail "aoe-nbd used $t ticks in 1 s while $1"
}

step "answers to LBA 256-511 lost for 1.5 s during a 256-KiB read at 0"
# ether 14 + AoE header 10 (command at byte 19, 0 = ATA) + ATA header 4,
# then the LBA, least significant byte first (bytes 28-33): byte 29 is 1
# for LBA 256-511.  Added now: the IDENTIFY (LBA 0) was answered.
_fault_lose "$lan_ns" "$lan_tif" out "LBA rule" @ll,152,8 0 @ll,232,8 1 \
    @ll,240,32 0
_fault_lose "$lan_ns" "$lan_tif" out "Query Config rule" @ll,152,8 1
nbdsh_run -u "$(nbd_uri)" \
    -c 'import sys; sys.stdout.buffer.write(h.pread(262144, 0))' \
    >"$tmpdir/read.bin" 2>"$tmpdir/read.err" &
read_pid=$!
cleanup_fn _kill_wait "$read_pid"
wait_for -t 10 eval '[ "$(fault_matched "$lan_ns" "$lan_tif" out)" -gt 0 ]' ||
    fail "no answer was lost"
sleep 0.2
expect_asleep "a read waited for lost answers"
say "answers lost: $(fault_matched "$lan_ns" "$lan_tif" out)"
fault_clear "$lan_ns" "$lan_tif"
wait "$read_pid" || { cat "$tmpdir/read.err" >&2; fail "the read failed"; }
cmp -n 262144 "$tmpdir/read.bin" "$tmpdir/disk.img" ||
    fail "the read returned other bytes than vblade's backing file holds"
step "ok"
