#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SIGUSR1 makes a running aoe-nbd or aoe-fuse log its counters without -v
# and without stopping: per target frames, retransmissions, window, RTT
# and bytes, one line per path (interface and MAC: frames sent, answers,
# losses in a row), the links' and the event loop's.  Two paths, so that
# both are listed; the counts must grow with the I/O done between two
# signals, and the program keeps serving.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fuse-functions.sh"
requires_root
requires aoe-nbd nbdcopy cmp

make_image "$tmpdir/disk.img" 8
make_image "$tmpdir/src.img" 8
setup_two_lans 1500 "$tmpdir/disk.img"

# frames_out LOG: "frames out" of e1.0 in the latest dump in LOG.
frames_out()
{
	sed -n 's/.*e1\.0: \([0-9]*\) frames out.*/\1/p' "$1" | tail -n 1
}

# dumped LOG N: LOG holds N dumps (the per-target line N times).
dumped()
{
	[ "$(grep -c 'e1\.0: [0-9]* frames out' "$1")" -ge "$2" ]
}

# check_dump LOG: the latest dump lists both paths with frames on each.
check_dump()
{
	local i tx rx
	for i in "$if1" "$if2"; do
		read -r tx rx < <(sed -n "s/.*e1\.0 via $i to [0-9a-f:]*: \([0-9]*\) frames sent, \([0-9]*\) answers.*/\1 \2/p" \
		    "$1" | tail -n 1)
		[ -n "$tx" ] || fail "no line for the path through $i"
		[ "$tx" -gt 0 ] && [ "$rx" -gt 0 ] ||
		    fail "path through $i: $tx frames sent, $rx answers"
	done
	grep -q "event loop: " "$1" || fail "no event loop line"
	# 8 MiB at MTU 1500 keeps the window full: coalescing naps (the
	# default --coalesce) must have happened.
	grep -Eq "event loop: .* [1-9][0-9]* naps to take answers" "$1" ||
	    fail "no coalescing nap with a full window"
	grep -q "$if1: [0-9]* frames sent" "$1" || fail "no link line"
}

# ------------------------------------------------------------ aoe-nbd
start_aoe_nbd -I "$if1,$if2" -w 5 e1.0
nbdcopy --flush "$tmpdir/src.img" "$(nbd_uri)" || fail "nbdcopy to the export"
kill -USR1 "$nbd_pid"
wait_for -t 10 dumped "$nbd_log" 1 || fail "aoe-nbd: no counters on SIGUSR1"
check_dump "$nbd_log"
out1=$(frames_out "$nbd_log")
grep -E "e1\.0( via|:)|event loop" "$nbd_log" | sed 's/^/  | /'
nbd_alive
nbdcopy "$(nbd_uri)" "$tmpdir/back.img" || fail "nbdcopy from the export"
cmp "$tmpdir/src.img" "$tmpdir/back.img" || fail "read back differs"
kill -USR1 "$nbd_pid"
wait_for -t 10 dumped "$nbd_log" 2 || fail "aoe-nbd: no second dump"
out2=$(frames_out "$nbd_log")
say "aoe-nbd: frames out $out1, then $out2 after an 8 MiB read"
[ "$out2" -ge $((out1 + 8 * 1024 * 1024 / 1024)) ] ||
    fail "the counters did not follow the read"
nbd_alive
stop_aoe_nbd

# ------------------------------------------------------------ aoe-fuse
requires_fuse
file=$tmpdir/file
: >"$file"
aoe-fuse -f -I "$if1,$if2" e1.0 "$file" 2>"$tmpdir/fuse.log" &
fpid=$!
cleanup_fn _kill_wait "$fpid"
wait_for -t 10 is_mounted "$file" || fail "aoe-fuse did not mount"
dd if="$file" of=/dev/null bs=1M iflag=direct status=none ||
    fail "read through aoe-fuse"
kill -USR1 "$fpid"
wait_for -t 10 dumped "$tmpdir/fuse.log" 1 ||
    fail "aoe-fuse: no counters on SIGUSR1"
check_dump "$tmpdir/fuse.log"
dd if="$file" bs=1M iflag=direct status=none | cmp - "$tmpdir/src.img" ||
    fail "aoe-fuse reads wrong data after the dump"
kill -INT "$fpid"
st=0
wait "$fpid" || st=$?
[ "$st" = 0 ] || { cat "$tmpdir/fuse.log" >&2; fail "aoe-fuse: exit $st"; }
say "aoe-fuse: counters on SIGUSR1, still serving"
say "ok"
