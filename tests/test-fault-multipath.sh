#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two paths to one target: two LANs, a vblade for e1.0 on each serving the
# same file.  aoectl shows both paths; aoe-rw's traffic uses both; cutting
# one path in the middle of the I/O (an nftables drop-all, then the link
# set down) costs retransmissions but no I/O error, and the data verify.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate nft python3 aoe-rw aoectl

truncate -s 32M "$tmpdir/disk.img"
setup_two_lans 1500 "$tmpdir/disk.img"
ifs=$if1,$if2

# path_tx LOG IF: frames sent on the path through IF (aoe-rw's figures).
path_tx()
{
	awk -v i="$2" '$1 == "path" && $3 == i {
		for (k = 1; k < NF; k++) if ($k == "tx") print $(k + 1) }' \
	    "$1" | tail -n 1
}

step "aoectl shows two paths"
# No target named: aoectl listens for the whole --wait; with a name it
# returns once the target is up and the other paths had a few round
# trips to answer: both must be listed either way, every time.
two_paths()
{
	python3 - "$tmpdir/out" "$if1" "$if2" <<'EOF' || fail "not two paths"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["targets"][0]
paths = [p["interface"] for p in t["paths"]]
print("paths:", paths)
# Listed by interface name, whichever answered first.
assert paths == sorted(sys.argv[2:4]), paths
EOF
}
expect_status 0 aoectl -I "$ifs" -w 1 stat --json
two_paths
for i in 1 2 3 4 5; do
	expect_status 0 aoectl -I "$ifs" -w 5 stat --json e1.0
	two_paths
done
expect_status 0 aoectl -I "$ifs" -w 1 stat -l
expect_grep "$tmpdir/out" "$if1"
expect_grep "$tmpdir/out" "$if2"
sorted_ifs=$(printf '%s\n' "$if1" "$if2" | LC_ALL=C sort | paste -sd,)
for i in 1 2 3; do
	expect_status 0 aoectl -I "$if2,$if1" -w 1 stat
	awk -v e="$sorted_ifs" '$1 == "e1.0" && $3 == e { ok = 1 }
	    END { exit !ok }' "$tmpdir/out" ||
	    fail "stat does not list $sorted_ifs: $(cat "$tmpdir/out")"
done

step "traffic uses both paths"
run_rw "$tmpdir/rw-both.log" -I "$ifs" --seed 41 --dead-timeout 30 \
    --out "$tmpdir/expected.img" e1.0 || fail "aoe-rw over two paths failed"
tx1=$(path_tx "$tmpdir/rw-both.log" "$if1")
tx2=$(path_tx "$tmpdir/rw-both.log" "$if2")
say "frames sent: $tx1 on $if1, $tx2 on $if2"
[ "${tx1:-0}" -ge 500 ] && [ "${tx2:-0}" -ge 500 ] ||
    fail "one path carried (almost) nothing"
# The engine round-robins, but a path that lost a window's worth of frames
# in a row (a stall longer than the RTO is enough) is avoided afterwards:
# report an imbalance, do not fail on it.
[ $((tx1 * 4)) -ge "$tx2" ] && [ $((tx2 * 4)) -ge "$tx1" ] ||
    say "note: the paths are far from balanced" \
	"($(grep '^path ' "$tmpdir/rw-both.log" | tr '\n' ' '))"
cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"

# Packets sent on an interface here (the kernel's counter).
if_tx()
{
	cat "/sys/class/net/$1/statistics/tx_packets"
}

# cut_run NAME SEED: start aoe-rw looping over both paths for 6 s and
# wait for two passes; the caller cuts the second path and restores it.
cut_run()
{
	local name=$1 seed=$2
	# Long enough that the fault (2 s) falls inside the run even when a
	# pass takes 4 s (seen under ASan on a loaded host: the run of 6 s
	# ended before the cut).
	bg_start "rw-$name" aoe-rw -I "$ifs" --mode loop --duration 10 \
	    --seed "$seed" --dead-timeout 30 --out "$tmpdir/expected.img" e1.0
	rw_pid=$bg_pid
	wait_for -t 15 grep -q '^loop: pass 1 ok' "$tmpdir/rw-$name.log" ||
	    fail "$name: aoe-rw did not get going"
}

step "cut: every frame on $if2 lost (nftables, both ends), mid-transfer"
cut_run cut 42
step "cutting $if2"
fault_cut "" "$if2"
fault_cut "$lan_ns" "$tif2"
sleep 2
fault_counters ""
fault_counters "$lan_ns"
lost=$(( $(fault_matched "" "$if2" in) + $(fault_matched "" "$if2" out) +
    $(fault_matched "$lan_ns" "$tif2" in) +
    $(fault_matched "$lan_ns" "$tif2" out) ))
step "restoring $if2"
fault_clear "" "$if2"
fault_clear "$lan_ns" "$tif2"
tx_restored=$(if_tx "$if2")
st=0
bg_wait "$rw_pid" rw-cut 60 || st=$?
step "aoe-rw exited with $st"
# Informational: does the engine go back to a path that works again?
say "cut: $(( $(if_tx "$if2") - tx_restored )) frames sent on $if2 after" \
    "it was restored (the engine's per-path figures are for the whole run)"
[ "$st" = 0 ] || fail "cut: I/O failed when one of two paths was cut"
say "cut: $lost frames lost in and out of $if2 and $tif2;" \
    "retransmits $(rw_count "$tmpdir/rw-cut.log" retransmits)"
[ "$lost" -gt 0 ] ||
    fail "cut: nothing was lost on $if2: was the path in use? (the" \
	"transfer ended before the cut, or the engine avoided the path)"
cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
    fail "cut: backing file differs from what aoe-rw wrote"

step "link down: $tif2 set down in the middle of the transfer"
cut_run down 43
step "ip link set $tif2 down"
ip -n "$lan_ns" link set "$tif2" down
sleep 2
step "ip link set $tif2 up"
ip -n "$lan_ns" link set "$tif2" up
st=0
bg_wait "$rw_pid" rw-down 60 || st=$?
step "aoe-rw exited with $st"
[ "$st" = 0 ] || fail "down: I/O failed when one of two links went down"
say "down: retransmits $(rw_count "$tmpdir/rw-down.log" retransmits)"
[ "$(rw_count "$tmpdir/rw-down.log" retransmits)" -gt 0 ] ||
    fail "down: no retransmissions: the link went down too late"
cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
    fail "down: backing file differs from what aoe-rw wrote"
step "ok"
