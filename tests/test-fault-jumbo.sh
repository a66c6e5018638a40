#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both ends at MTU 9000, but the way between them passes no frame above
# 1500 bytes: a switch or bridge without jumbo frames, the classic silent
# killer of AoE paths (nftables on vblade's end loses the longer AoE
# frames both ways).  aoe-nbd must not let the target go dead: after a few
# lost jumbo frames it uses 2-sector frames, says why once (when a later
# full-size frame is lost too while small ones are answered), and
# nbdcopy's writes and reads complete with the right bytes.  Once the way
# passes jumbo frames again, a later full-size frame is answered and
# 17-sector frames come back: the log says so, and a read arrives in
# large frames again.
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoe-nbd nbdcopy nft cmp

setup_lan 9000
make_image "$tmpdir/disk.img" 16
make_image "$tmpdir/src.img" 16
start_vblade 1 0 "$tmpdir/disk.img" -b 64
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 20 e1.0

step "1: the way drops AoE frames above 1500 bytes, both directions"
fault_jumbo "$lan_ns" "$lan_tif" 1500
write_export "$tmpdir/src.img" "$tmpdir/disk.img"
avg=$(read_avg_frame "$tmpdir/disk.img")
say "read back: equal, frames of $avg bytes on average"
[ "$avg" -le 1100 ] || fail "reads arrived in frames of $avg bytes"
say "lost on the way: $(fault_matched "$lan_ns" "$lan_tif" in) requests," \
    "$(fault_matched "$lan_ns" "$lan_tif" out) answers"
read_until 20 "drop jumbo frames"
grep "drop jumbo frames" "$nbd_log" | sed 's/^/  | /'
[ "$(grep -c "drop jumbo frames" "$nbd_log")" = 1 ] ||
    fail "the lost jumbo frames were reported more than once"
! grep -q "not responding" "$nbd_log" || fail "the target went dead"
step "1: ok"

step "2: the way passes jumbo frames again"
fault_clear "$lan_ns" "$lan_tif"
read_until 60 "frames of 17 sectors are answered again"
avg=$(read_avg_frame "$tmpdir/disk.img")
say "read: frames of $avg bytes on average"
[ "$avg" -gt 4000 ] || fail "reads still arrive in small frames"
nbd_alive
step "2: ok"
stop_aoe_nbd
