#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Our interface's MAC address changes under I/O (`ip link set address`: a
# NIC's address set by a network manager after the initiator started, a
# bonding or failover driver taking another one).  The interface here is
# a macvlan, which, like a NIC's filter, receives only frames sent to its
# own address: frames still sent from the old address were answered to
# it, dropped, and the target was dead after the dead timeout (EIO).
# Now the new address is used as soon as rtnetlink tells of it, and with
# the MAC changed twice during aoe-rw's verify passes nothing fails and
# vblade's backing file holds what was written.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate aoe-rw

setup_lan 1500
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

mv_if=${AOE_TEST_PREFIX:-}am$$
ip link add "$mv_if" link "$lan_if" type macvlan mode bridge ||
    skip_or_fail "cannot create a macvlan interface"
cleanup_fn ip link del "$mv_if"
no_ipv6 "" "$mv_if"
ip link set "$mv_if" address 02:00:00:ae:00:01 up
wait_for -t 10 _lan_is_up "$mv_if" || fail "$mv_if did not come up"

step "aoe-rw on $mv_if, its MAC changed twice during the passes"
bg_start rw aoe-rw -I "$mv_if" --mode loop --duration 6 --seed 21 \
    --dead-timeout 5 --discover-interval 1 --out "$tmpdir/expected.img" \
    e1.0
rw=$bg_pid
wait_for -t 15 grep -q '^loop: pass 1 ok' "$tmpdir/rw.log" ||
    fail "aoe-rw did not get going"
ip link set "$mv_if" address 02:00:00:ae:00:02
step "MAC now 02:00:00:ae:00:02"
sleep 1
ip link set "$mv_if" address 02:00:00:ae:00:03
step "MAC now 02:00:00:ae:00:03"
st=0
bg_wait "$rw" rw 60 || st=$?
step "aoe-rw exited with $st"
[ "$st" = 0 ] || fail "I/O failed after the MAC address changed"
cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"
expect_grep "$tmpdir/rw.log" "MAC address 02:00:00:ae:00:03"
