#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packet backend's receive ring: aoe-nbd maps a PACKET_RX_RING by
# default (seen in /proc/PID/maps as a shared mapping of its socket) and
# none with AOE_PACKET_RING=0 (recvmmsg); whole images go through aoe-nbd
# both ways with each, at MTU 1500 and 9000, byte for byte; -v logs the
# target's counters at exit.
nbd_test_timeout=180
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires nbdcopy cmp aoe-nbd
requires_root

# The size of aoe-nbd's socket mappings in bytes (0: none).
socket_map_bytes()
{
	local range _p _o _d _i name n=0

	while read -r range _p _o _d _i name; do
		case $name in
		socket:*) n=$((n + 0x${range#*-} - 0x${range%-*})) ;;
		esac
	done <"/proc/$nbd_pid/maps"
	echo "$n"
}

round()
{
	local mtu=$1 ring=$2 bytes

	say "--- MTU $mtu, AOE_PACKET_RING=${ring:-unset}"
	if [ -n "$ring" ]; then
		export AOE_PACKET_RING=$ring
	else
		unset AOE_PACKET_RING
	fi
	start_aoe_nbd -v -I "$lan_if" -w 5 e1.0
	bytes=$(socket_map_bytes)
	say "socket mappings: $bytes bytes"
	if [ "$ring" = 0 ]; then
		[ "$bytes" = 0 ] || fail "AOE_PACKET_RING=0 but a ring is mapped"
	else
		# At least 1 MiB, at most the 8 MiB cap.
		[ "$bytes" -ge 1048576 ] && [ "$bytes" -le 8388608 ] ||
		    fail "no receive ring of a sane size mapped ($bytes bytes)"
	fi
	make_image "$tmpdir/in.img" 48
	expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$(nbd_uri e1.0)"
	cmp "$tmpdir/in.img" "$tmpdir/disk.img" || fail "nbdcopy in differs"
	expect_status 0 nbdcopy "$(nbd_uri e1.0)" "$tmpdir/out.img"
	cmp "$tmpdir/out.img" "$tmpdir/disk.img" || fail "nbdcopy out differs"
	say "in and out identical"
	stop_aoe_nbd
	# -v: the target's counters at exit.
	line=$(grep 'e1.0: [0-9]* frames out' "$nbd_log" | tail -n 1)
	say "exit summary: $line"
	case $line in
	*" 48 MiB read, 48 MiB written") ;;
	*) fail "no exit summary with 48 MiB read and written" ;;
	esac
	: >"$nbd_log"
	unset AOE_PACKET_RING
}

for mtu in 1500 9000; do
	setup_lan "$mtu"
	make_image "$tmpdir/disk.img" 48
	start_vblade 1 0 "$tmpdir/disk.img" -b 64
	round "$mtu" ""
	round "$mtu" 0
	stop_vblade "$vblade_pid"
done
say "ok"
