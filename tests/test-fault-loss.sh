#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Random loss and duplication of AoE frames with nftables netdev rules on
# both ends of the LAN (ingress and egress here, and in the target's
# namespace): aoe-rw writes, reads back and compares, and vblade's backing
# file must equal what was written.  Loss of 1 %, 5 % and 20 % at each of
# the four hooks, loss as failed sends (ENOBUFS) on the initiator, and 5 %
# duplication on both egresses.  Prints the engine's retransmission
# counters and the rules' counters.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate nft aoe-rw

setup_lan 1500
truncate -s 64M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# run_phase NAME SEED SIZE: aoe-rw verify over the first SIZE bytes with
# the rules in place, then cmp that much of the backing file.
run_phase()
{
	local name=$1 seed=$2 size=$3 st=0 t0 bytes
	t0=$SECONDS
	# Finding the target takes a config and an IDENTIFY round trip,
	# each lost 59% of the time at 20% per hook: allow 20 s for that.
	run_rw "$tmpdir/rw-$name.log" -I "$lan_if" --seed "$seed" -w 20 \
	    --size "$size" --dead-timeout 60 --out "$tmpdir/expected.img" \
	    e1.0 || st=$?
	step "$name: aoe-rw exited with $st after $((SECONDS - t0)) s"
	fault_counters ""
	fault_counters "$lan_ns"
	[ "$st" = 0 ] || fail "$name: aoe-rw failed (exit $st)"
	bytes=$(stat -c %s "$tmpdir/expected.img")
	cmp -n "$bytes" "$tmpdir/expected.img" "$tmpdir/disk.img" ||
	    fail "$name: backing file differs from what aoe-rw wrote"
	say "$name: retransmits $(rw_count "$tmpdir/rw-$name.log" \
	    retransmits) (timeouts $(rw_count "$tmpdir/rw-$name.log" \
	    timeouts)), late or duplicate responses dropped" \
	    "$(rw_count "$tmpdir/rw-$name.log" unknown)"
}

# loss_phase PCT SEED SIZE: PCT % loss at all four hooks.
loss_phase()
{
	local pct=$1
	step "loss $pct % at each of the four hooks"
	fault_loss "" "$lan_if" "$pct"
	fault_loss "$lan_ns" "$lan_tif" "$pct"
	run_phase "loss$pct" "$2" "$3"
	local n
	n=$(( $(fault_matched "" "$lan_if" in) +
	    $(fault_matched "" "$lan_if" out) +
	    $(fault_matched "$lan_ns" "$lan_tif" in) +
	    $(fault_matched "$lan_ns" "$lan_tif" out) ))
	say "loss$pct: $n frames lost"
	[ "$n" -gt 0 ] || fail "loss$pct: the rules lost nothing"
	[ "$(rw_count "$tmpdir/rw-loss$pct.log" retransmits)" -gt 0 ] ||
	    fail "loss$pct: no retransmissions"
	fault_clear "" "$lan_if"
	fault_clear "$lan_ns" "$lan_tif"
}

loss_phase 1 31 64M
loss_phase 5 32 64M
loss_phase 20 33 32M

step "failed sends: 5 % of the initiator's frames refused with ENOBUFS"
fault_egress_drop "" "$lan_if" 5
run_phase enobufs 34 16M
[ "$(fault_matched "" "$lan_if" out)" -gt 0 ] ||
    fail "enobufs: the rule refused nothing"
fault_clear "" "$lan_if"

# The same from the transmit ring (on a veth pair only when forced): the
# kernel puts a refused frame back in the ring, and it is given up alone.
step "failed sends from the transmit ring (AOE_PACKET_TX_RING=1)"
fault_egress_drop "" "$lan_if" 5
AOE_PACKET_TX_RING=1 run_phase enobufs-ring 37 16M
[ "$(fault_matched "" "$lan_if" out)" -gt 0 ] ||
    fail "enobufs-ring: the rule refused nothing"
read -r ring errs < <(sed -n "s/^link $lan_if: tx_frames [0-9]* tx_ring \([0-9]*\) tx_errors \([0-9]*\)$/\1 \2/p" \
    "$tmpdir/rw-enobufs-ring.log" | tail -n 1)
say "enobufs-ring: ${ring:-?} frames sent from the ring, ${errs:-?} refused"
[ "${ring:-0}" -gt 0 ] || fail "enobufs-ring: nothing sent from the ring"
[ "${errs:-0}" -gt 0 ] || fail "enobufs-ring: no refused frame counted"
fault_clear "" "$lan_if"

step "duplication 5 % on both egresses"
fault_dup "" "$lan_if" 5
fault_dup "$lan_ns" "$lan_tif" 5
run_phase dup5 35 64M
[ "$(fault_matched "" "$lan_if" out)" -gt 0 ] &&
    [ "$(fault_matched "$lan_ns" "$lan_tif" out)" -gt 0 ] ||
    fail "dup5: the rules duplicated nothing"
[ "$(rw_count "$tmpdir/rw-dup5.log" unknown)" -gt 0 ] ||
    fail "dup5: no duplicate response was dropped"
fault_clear "" "$lan_if"
fault_clear "$lan_ns" "$lan_tif"

step "loss 2 % and duplication 5 % together"
fault_loss "" "$lan_if" 2
fault_loss "$lan_ns" "$lan_tif" 2
fault_dup "" "$lan_if" 5
fault_dup "$lan_ns" "$lan_tif" 5
run_phase mixed 36 64M
step "ok"
