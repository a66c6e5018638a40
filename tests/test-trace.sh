#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --trace FILE writes a pcap that tshark (and tcpdump) read: the Query
# Config request and response and the ATA IDENTIFY exchange of a stat, from
# our MAC and from vblade's, with both link backends; and the ATA reads and
# writes of an aoe-rw run.
. "$(dirname "$0")/functions.sh"
requires_root
requires tshark tcpdump truncate

setup_lan
truncate -s 4M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img"
me=$(if_mac "$lan_if")
them=$(lan_target_mac)

# count FILE FILTER: frames matching a tshark display filter.
count()
{
	tshark -r "$1" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}

for backend in packet pcap; do
	pc=$tmpdir/stat-$backend.pcap
	say "aoectl --backend $backend --trace: Query Config and IDENTIFY"
	expect_status 0 aoectl -I "$lan_if" -w 1 --backend "$backend" \
	    --trace "$pc" stat
	[ -s "$pc" ] || fail "no trace file"
	tshark -r "$pc" 2>&1 | sed 's/^/  tshark| /'
	all=$(count "$pc" aoe)
	req="aoe.response == 0 && eth.src == $me"
	rsp="aoe.response == 1 && eth.src == $them"
	qreq=$(count "$pc" "aoe.cmd == 1 && $req")
	qrsp=$(count "$pc" "aoe.cmd == 1 && $rsp")
	ireq=$(count "$pc" "aoe.cmd == 0 && aoe.ata.cmd == 0xec && $req")
	irsp=$(count "$pc" "aoe.cmd == 0 && $rsp")
	say "frames: $all AoE, config $qreq requests / $qrsp responses," \
	    "IDENTIFY $ireq / $irsp"
	[ "$all" -ge 2 ] || fail "fewer than 2 AoE frames in the trace"
	[ "$qreq" -ge 1 ] || fail "no Query Config request from $me"
	[ "$qrsp" -ge 1 ] || fail "no Query Config response from $them"
	[ "$ireq" -ge 1 ] && [ "$irsp" -ge 1 ] ||
	    fail "no IDENTIFY request and response"
	[ "$(count "$pc" "not aoe")" = 0 ] || fail "non-AoE frames traced"
	n=$(tcpdump -nr "$pc" 'ether proto 0x88a2' 2>/dev/null | wc -l)
	[ "$n" = "$all" ] || fail "tcpdump reads $n frames, tshark $all"
done

say "aoe-rw --trace: ATA reads and writes"
pc=$tmpdir/rw.pcap
expect_status 0 aoe-rw -I "$lan_if" --seed 3 --trace "$pc" e1.0
w=$(count "$pc" "aoe.cmd == 0 && aoe.response == 0 && aoe.aflags.w == 1")
r=$(count "$pc" "aoe.cmd == 0 && aoe.response == 0 && aoe.ata.cmd == 0x24")
say "ATA write requests: $w, read requests: $r"
# 4 MiB at 2 sectors per frame: at least 4096 frames each way.
[ "$w" -ge 4096 ] || fail "fewer ATA writes than the 4 MiB needs"
[ "$r" -ge 4096 ] || fail "fewer ATA reads than the 4 MiB needs"
say "ok"
