#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Delay, jitter, reordering, duplication and a little loss between the
# initiator and vblade, made by the faultswitch (tests/faultswitch.c) in a
# namespace of its own: aoe-rw writes, reads back and compares, and the
# backing file must equal what was written.  Two schedules: symmetric at
# MTU 1500, asymmetric at MTU 9000.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate aoe-rw faultswitch

setup_switched_lan 1500
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# run_phase NAME SEED FAULTSWITCH-OPTIONS...: one verified run.
run_phase()
{
	local name=$1 seed=$2 st=0 t0
	shift 2
	step "$name: faultswitch $*"
	start_faultswitch --seed "$seed" --duration 100 "$@"
	t0=$SECONDS
	run_rw "$tmpdir/rw-$name.log" -I "$lan_if" --seed "$seed" \
	    --dead-timeout 30 --out "$tmpdir/expected.img" e1.0 || st=$?
	step "$name: aoe-rw exited with $st after $((SECONDS - t0)) s"
	stop_faultswitch
	[ "$st" = 0 ] || fail "$name: aoe-rw failed (exit $st)"
	cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
	    fail "$name: backing file differs from what aoe-rw wrote"

	# The schedule did what it says, and the engine saw it.
	fsw_expect "$name" held reordered duplicated
	say "$name: retransmits $(rw_count "$tmpdir/rw-$name.log" \
	    retransmits), late or duplicate responses dropped" \
	    "$(rw_count "$tmpdir/rw-$name.log" unknown)"
	[ "$(rw_count "$tmpdir/rw-$name.log" unknown)" -gt 0 ] ||
	    fail "$name: no duplicate response was dropped"
}

# Symmetric: 1 ms + 0..2 ms each way, 5 % of frames held back a further
# 0..4 ms (overtaken by the ones behind), 1 % duplicated, 0.2 % lost.
run_phase sym 21 --delay 1 --jitter 2 --reorder 5 --reorder-delay 4 \
    --dup 1 --loss 0.2

# Asymmetric, jumbo frames: requests slow and steady, responses fast but
# jittery; more reordering on the way out, duplicates both ways.
step "MTU 9000 on every link"
ip link set "$lan_if" mtu 9000
ip -n "$sw_ns" link set "$sw_a" mtu 9000
ip -n "$sw_ns" link set "$sw_b" mtu 9000
ip -n "$lan_ns" link set "$lan_tif" mtu 9000
run_phase asym 22 --delay 3/0.5 --jitter 1/3 --reorder 10/2 \
    --reorder-delay 6/2 --dup 2/2 --loss 0.5/0.5
grep -q 'sectors_per_frame 17' "$tmpdir/rw-asym.log" ||
    fail "asym: not running with jumbo frames"
step "ok"
