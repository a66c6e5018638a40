#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Faults on the wire seen through the real NBD front end: aoe-nbd serves a
# vblade target on a Unix socket, tests/nbd-aio (libnbd) keeps pipelined
# random reads, writes and zeroes in flight and checks every byte against a
# shadow copy, and the shadow must equal vblade's backing file.  Under 5 %
# loss at all four nftables hooks, under 5 % duplication on both egresses,
# under the faultswitch's delay, jitter and reordering, and across a vblade
# restart within aoe-nbd's dead timeout (the client sees no error).
nbd_test_timeout=85
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoe-nbd nbd-aio faultswitch nft cmp truncate

# The faultswitch sits between the two ends all along; it only forwards
# except in the reorder phase.  The nftables rules hook the two ends.
setup_switched_lan 1500
make_image "$tmpdir/disk.img" 16
start_vblade 1 0 "$tmpdir/disk.img" -b 64
start_faultswitch --duration 120
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 10 --discover-interval 1 \
    e1.0

# run_aio NAME SEED COUNT: nbd-aio with its shadow written out, then cmp
# with vblade's backing file.
run_aio()
{
	local name=$1 seed=$2 count=$3 st=0 t0
	t0=$SECONDS
	printf '+ nbd-aio --seed %s --count %s --depth 32 --max-len 1048576\n' \
	    "$seed" "$count"
	timeout -k 5 60 nbd-aio --seed "$seed" --count "$count" --depth 32 \
	    --max-len 1048576 --out "$tmpdir/shadow.img" "$(nbd_uri)" \
	    >"$tmpdir/aio-$name.log" 2>&1 || st=$?
	sed 's/^/  | /' "$tmpdir/aio-$name.log"
	step "$name: nbd-aio exited with $st after $((SECONDS - t0)) s"
	[ "$st" = 0 ] || fail "$name: nbd-aio failed (exit $st)"
	cmp "$tmpdir/shadow.img" "$tmpdir/disk.img" ||
	    fail "$name: vblade's backing file differs from the shadow copy"
	say "$name: every byte read matched, backing file equal"
	nbd_alive
}

lost_total()
{
	echo $(( $(fault_matched "" "$lan_if" in) +
	    $(fault_matched "" "$lan_if" out) +
	    $(fault_matched "$lan_ns" "$lan_tif" in) +
	    $(fault_matched "$lan_ns" "$lan_tif" out) ))
}

# ---------------------------------------------------------------- loss
step "loss 5 % at both ends, both directions"
fault_loss "" "$lan_if" 5
fault_loss "$lan_ns" "$lan_tif" 5
run_aio loss5 41 3000
fault_counters ""
fault_counters "$lan_ns"
n=$(lost_total)
say "loss5: $n frames lost"
[ "$n" -gt 0 ] || fail "loss5: the rules lost nothing"
fault_clear "" "$lan_if"
fault_clear "$lan_ns" "$lan_tif"

# ---------------------------------------------------------- duplication
step "duplication 5 % on both egresses"
fault_dup "" "$lan_if" 5
fault_dup "$lan_ns" "$lan_tif" 5
run_aio dup5 42 3000
fault_counters ""
fault_counters "$lan_ns"
[ "$(fault_matched "" "$lan_if" out)" -gt 0 ] &&
    [ "$(fault_matched "$lan_ns" "$lan_tif" out)" -gt 0 ] ||
    fail "dup5: the rules duplicated nothing"
fault_clear "" "$lan_if"
fault_clear "$lan_ns" "$lan_tif"

# ------------------------------------------------------------- reorder
stop_faultswitch
step "faultswitch: delay 1 ms + jitter 0..2 ms, 5 % reordered by 0..4 ms," \
    "1 % duplicated"
start_faultswitch --seed 43 --duration 60 --delay 1 --jitter 2 \
    --reorder 5 --reorder-delay 4 --dup 1
run_aio reorder 43 1000
stop_faultswitch
fsw_expect reorder held reordered

# ------------------------------------------------------------- restart
start_faultswitch --duration 60
step "vblade killed and restarted 1 s later during nbd-aio" \
    "(aoe-nbd --dead-timeout 10)"
stop=$tmpdir/stop
rm -f "$stop"
bg_start aio-restart timeout -k 5 60 nbd-aio --seed 44 --count 1000000 \
    --depth 32 --max-len 262144 --stop-file "$stop" \
    --out "$tmpdir/shadow.img" "$(nbd_uri)"
aio=$bg_pid
sleep 2
kill -0 "$aio" 2>/dev/null || {
	cat "$tmpdir/aio-restart.log"
	fail "nbd-aio ended early"
}
step "killing vblade (pid $vblade_pid)"
stop_vblade "$vblade_pid"
sleep 1
start_vblade 1 0 "$tmpdir/disk.img" -b 64
step "vblade restarted; 3 s more I/O"
sleep 3
touch "$stop"
st=0
bg_wait "$aio" aio-restart 40 || st=$?
step "restart: nbd-aio exited with $st"
[ "$st" = 0 ] || fail "restart: the client saw an error across the restart"
cmp "$tmpdir/shadow.img" "$tmpdir/disk.img" ||
    fail "restart: vblade's backing file differs from the shadow copy"
say "restart: no error, every byte matched, backing file equal"
nbd_alive
stop_faultswitch
stop_aoe_nbd
step "ok"
