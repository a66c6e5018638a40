#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two paths to one target, everything at MTU 9000, but the way of the
# second passes no frame above 1500 bytes (nftables on vblade's end loses
# the longer AoE frames both ways): a switch without jumbo frames on one
# of two LANs.  Only that path may be capped: aoe-nbd says which path,
# keeps 17-sector frames on the first (the target is not cut to 2-sector
# frames), the second carries hardly any jumbo frame after that (a probe
# now and then), and the data written and read are right.  Once that way
# passes jumbo frames again, the log says so for that path.
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoe-nbd nbdcopy nft cmp

make_image "$tmpdir/disk.img" 16
make_image "$tmpdir/src.img" 16
setup_two_lans 9000 "$tmpdir/disk.img"
start_aoe_nbd -I "$if1,$if2" -w 5 --dead-timeout 20 e1.0

step "1: the second path drops AoE frames above 1500 bytes, both ways"
fault_jumbo "$lan_ns" "$tif2" 1500
write_export "$tmpdir/src.img" "$tmpdir/disk.img"
read_until 30 "via $if2 to .*drop jumbo frames"
grep "jumbo frames" "$nbd_log" | sed 's/^/  | /'
[ "$(grep -c "drop jumbo frames" "$nbd_log")" = 1 ] ||
    fail "lost jumbo frames reported for more than the one path"
! grep -q "Using 2-sector frames" "$nbd_log" ||
    fail "the whole target was cut to 2-sector frames"
grep -q "That path carries small frames only" "$nbd_log" ||
    fail "the log does not say the other path keeps full-size frames"
lost=$(fault_matched "$lan_ns" "$tif2" in)
avg=$(lan_if=$if1 read_avg_frame "$tmpdir/src.img")
lost=$(($(fault_matched "$lan_ns" "$tif2" in) - lost))
say "read back: equal; frames of $avg bytes on average through $if1," \
    "$lost jumbo requests lost on $if2 meanwhile"
[ "$avg" -gt 4000 ] || fail "the good path carries small frames"
[ "$lost" -le 3 ] || fail "$lost jumbo frames still sent on the capped path"
! grep -q "not responding" "$nbd_log" || fail "the target went dead"
step "1: ok"

step "2: the second way passes jumbo frames again"
fault_clear "$lan_ns" "$tif2"
read_until 90 "via $if2 to .*frames of 17 sectors are answered again"
grep "answered again" "$nbd_log" | sed 's/^/  | /'
avg=$(read_avg_frame "$tmpdir/src.img")
say "read: frames of $avg bytes on average through $if2"
[ "$avg" -gt 4000 ] || fail "the second path still carries small frames"
nbd_alive
step "2: ok"
stop_aoe_nbd
