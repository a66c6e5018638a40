#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A misbehaving target (tests/badtarget.c) on the LAN of a real vblade:
# truncated, oversized, wrongly tagged, foreign, error-flagged, mismatched,
# duplicated and unsolicited responses, a broken target of its own, and a
# flood of everything.  aoe-rw's verify over the real target must pass each
# time, and the engine's drop counters must show what it threw away.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate aoe-rw aoectl badtarget

setup_lan 1500
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# run_mode MODE SEED COUNTER...: badtarget in MODE during one aoe-rw verify
# (or what $rw_args say); each engine COUNTER (short, unknown, foreign, ...)
# must be > 0.  $bad_args go to badtarget.
rw_args=()
bad_args=()
run_mode()
{
	local mode=$1 seed=$2 st=0 t0 c n log=$tmpdir/bad-$1.log
	shift 2
	step "$mode"
	ip netns exec "$lan_ns" badtarget -i "$lan_tif" -m "$mode" -t 60 \
	    -s "$seed" -f "$tmpdir/disk.img" ${bad_args[@]+"${bad_args[@]}"} \
	    </dev/null >"$log" 2>&1 &
	bad_pid=$!
	cleanup_fn _kill_wait "$bad_pid"
	if ! wait_for -t 10 grep -q '^badtarget: ready' "$log"; then
		cat "$log" >&2
		fail "$mode: badtarget did not start"
	fi
	if [ "$mode" = own ]; then
		# Our tools list the broken target and do not hang on it.
		expect_status 0 aoectl -I "$lan_if" -w 2 stat
		expect_grep "$tmpdir/out" "e1.0"
		expect_grep "$tmpdir/out" "e7.7"
	fi
	t0=$SECONDS
	run_rw "$tmpdir/rw-$mode.log" -I "$lan_if" --seed "$seed" \
	    --dead-timeout 30 --out "$tmpdir/expected.img" \
	    ${rw_args[@]+"${rw_args[@]}"} e1.0 || st=$?
	step "$mode: aoe-rw exited with $st after $((SECONDS - t0)) s"
	kill -0 "$bad_pid" 2>/dev/null ||
	    fail "$mode: badtarget exited early: $(cat "$log")"
	_kill_wait "$bad_pid"
	sed 's/^/  /' "$log"
	[ "$st" = 0 ] || fail "$mode: aoe-rw failed (exit $st)"
	cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
	    fail "$mode: backing file differs from what aoe-rw wrote"
	grep -q 'badtarget: sent .' "$log" ||
	    fail "$mode: badtarget sent nothing"
	for c in "$@"; do
		n=$(rw_count "$tmpdir/rw-$mode.log" "$c")
		[ "${n:-0}" -gt 0 ] ||
		    fail "$mode: the engine counted no '$c' drop"
	done
	say "$mode: dropped: $(grep '^engine: dropped' \
	    "$tmpdir/rw-$mode.log" | sed 's/^engine: dropped //')"
}

run_mode truncated 51 short
run_mode oversized 52 unknown
grep -q 'over_read [1-9]' "$tmpdir/bad-oversized.log" ||
    fail "oversized: no oversized read answer was sent"
run_mode wrongtag 53 unknown
run_mode wrongmac 54 foreign
run_mode error 55 foreign mismatch
run_mode mismatch 56 mismatch
run_mode dup 57 unknown
run_mode unsolicited 58 request badver short bad_cfg unknown
run_mode own 59
# Adverts of 2000 new targets a second: the engine creates and tries to
# IDENTIFY each; the real target must still work.
bad_args=(-r 2000)
run_mode targets 60
bad_args=()
# Everything at once, 20000 unsolicited frames a second, for 3 s of
# verify passes.
rw_args=(--mode loop --duration 3)
run_mode flood 61 short request badver unknown foreign mismatch bad_cfg
step "ok"
