#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoectl check (aoetools' aoe-sancheck, both ways) against vblade on a
# veth pair at MTU 9000: every size up to 17 sectors gets through, exit 0.
# Then nftables on vblade's end loses AoE frames above 1500 bytes as a
# switch without jumbo frames would: both ways, only toward the target,
# only back; each time the sizes that pass, which way loses, exit 1.  At
# MTU 1500 here, 2 sectors are all there is to check: exit 0.  A disk
# smaller than a frame (8 KiB, 1 sector) is read back whole, not taken
# for a path that loses frames: exit 0 (and 1 when the path does lose
# them).  --max-sectors=4: 4 used, and a path that carries 2-sector frames
# only fails; with --max-sectors=2 it passes.  A target that refuses the
# reads (reserved by another MAC: AoE error 6; a backing file cut short
# under vblade: ATA errors) is said to, not taken for a path that loses
# frames: exit 1.  A target that is not there: exit 3.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoectl nft truncate

setup_lan 9000
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64
out=$tmpdir/out

# check_line STATUS TEXT [TARGET [OPTION...]]: aoectl check TARGET (e1.0)
# exits STATUS and says TEXT.
check_line()
{
	local st=$1 text=$2 t=${3:-e1.0}

	shift $(($# < 3 ? $# : 3))
	expect_status "$st" aoectl -I "$lan_if" -w 3 "$@" check "$t"
	[ "$(wc -l <"$out")" = 1 ] || fail "one line per path expected"
	expect_grep "$out" "$t $lan_if $(lan_target_mac): $text"
}

step "1: a clean path"
check_line 0 "to the target 17 sectors (8740-byte frames), back 17 (8740), 17 used: ok"

step "2: frames above 1500 bytes lost both ways"
fault_jumbo "$lan_ns" "$lan_tif" 1500
check_line 1 "to the target 2 sectors (1060-byte frames), back 2 (1060), 17 used: larger frames are lost both ways"
fault_clear "$lan_ns" "$lan_tif"

step "3: only toward the target"
fault_jumbo "$lan_ns" "$lan_tif" 1500 in
check_line 1 "to the target 2 sectors (1060-byte frames), back 17 (8740), 17 used: larger frames are lost on the way to the target"
fault_clear "$lan_ns" "$lan_tif"

step "4: only on the way back"
fault_jumbo "$lan_ns" "$lan_tif" 1500 out
check_line 1 "to the target 17 sectors (8740-byte frames), back 2 (1060), 17 used: larger frames are lost on the way back"
fault_clear "$lan_ns" "$lan_tif"

step "5: MTU 1500 here: 2 sectors used, 2 checked"
ip link set "$lan_if" mtu 1500
check_line 0 "to the target 2 sectors (1060-byte frames), back 2 (1060), 2 used: ok"
ip link set "$lan_if" mtu 9000

step "6: disks smaller than a frame"
head -c 8192 /dev/urandom >"$tmpdir/small.img"
start_vblade 1 1 "$tmpdir/small.img" -b 64
check_line 0 "to the target 17 sectors (8740-byte frames), back 16 (8228) of the disk's 16, 17 used: ok" e1.1
fault_jumbo "$lan_ns" "$lan_tif" 1500 out
check_line 1 "to the target 17 sectors (8740-byte frames), back 2 (1060) of the disk's 16, 17 used: larger frames are lost on the way back" e1.1
fault_clear "$lan_ns" "$lan_tif"
head -c 512 /dev/urandom >"$tmpdir/one.img"
start_vblade 1 2 "$tmpdir/one.img" -b 64
check_line 0 "to the target 17 sectors (8740-byte frames), back 1 (548) of the disk's 1, 17 used: ok" e1.2

step "7: --max-sectors: the sectors used are those of the limit"
check_line 0 "to the target 17 sectors (8740-byte frames), back 17 (8740), 4 used: ok" \
    e1.0 --max-sectors=4
fault_jumbo "$lan_ns" "$lan_tif" 1500 out
check_line 1 "to the target 17 sectors (8740-byte frames), back 2 (1060), 4 used: larger frames are lost on the way back" \
    e1.0 --max-sectors=4
check_line 0 "to the target 17 sectors (8740-byte frames), back 2 (1060), 2 used: ok" \
    e1.0 --max-sectors=2
fault_clear "$lan_ns" "$lan_tif"

step "8: reads refused: reserved by another MAC (AoE error 6)"
expect_status 0 aoectl -I "$lan_if" reserve e1.0 fset 02:00:00:00:00:09
check_line 1 "to the target 17 sectors (8740-byte frames), back 0 (36), 17 used: the target refused the reads (AoE error 6: target reserved by another initiator)"
! grep -q "lost" "$out" || fail "a refusal taken for lost frames"
expect_status 0 aoectl -I "$lan_if" reserve e1.0 fset
expect_status 0 aoectl -I "$lan_if" reserve e1.0 release
check_line 0 "to the target 17 sectors (8740-byte frames), back 17 (8740), 17 used: ok"

step "9: reads refused: ATA errors past the end of vblade's file"
truncate -s 16M "$tmpdir/cut.img"
start_vblade 1 3 "$tmpdir/cut.img" -b 64
truncate -s 1024 "$tmpdir/cut.img"
check_line 1 "to the target 17 sectors (8740-byte frames), back 2 (1060), 17 used: the target refused the reads of 3 sectors or more (ATA error: command aborted, status 0x41, error 0x04)" e1.3
! grep -q "lost" "$out" || fail "a refusal taken for lost frames"

step "10: no such target"
expect_status 3 aoectl -I "$lan_if" -w 1 check e9.9
expect_grep "$tmpdir/err" "e9.9: target not found"
say "ok"
