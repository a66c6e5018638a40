#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse when the interface's MTU is raised under it: the packet
# backend's rings must grow to the larger frames even though aoe-fuse has
# forked (its unmounter child: a ring mapped in another process could not
# be replaced, and the target went silent, its I/O failing).  16 MiB
# written at MTU 1500, the MTU raised to 9000 (vblade's side is at 9000
# from the start), 16 MiB written again: it must go in jumbo frames (the
# interface's frame count; aoe-fuse's rings mapped larger), and everything must read back and equal
# vblade's backing file.  Once with the defaults and once with the
# transmit ring forced on (AOE_PACKET_TX_RING=1), whose slots grow too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires dd cmp timeout

setup_lan 9000
backing=$tmpdir/backing.img
truncate -s 64M "$backing"
start_vblade 1 0 "$backing" -b 64
make_pattern "$tmpdir/p" 16

tx_packets()
{
	cat "/sys/class/net/$lan_if/statistics/tx_packets"
}

# The size in bytes of aoe-fuse's socket mappings (its rings).
ring_bytes()
{
	socket_map_bytes "$fuse_pid"
}

rings_grew()
{
	[ "$(ring_bytes)" -gt "$1" ]
}

# round TX: AOE_PACKET_TX_RING=TX ("": unset).
round()
{
	local file=$tmpdir/disk n0 n1 b0
	say "--- AOE_PACKET_TX_RING=${1:-unset}"
	ip link set "$lan_if" mtu 1500
	: >"$file"
	set_env AOE_PACKET_TX_RING "$1"
	start_fuse "$file" -I "$lan_if" e1.0 "$file"
	unset AOE_PACKET_TX_RING
	timeout 120 dd if="$tmpdir/p" of="$file" bs=1M oflag=direct \
	    conv=notrunc status=none || fail "write at MTU 1500 failed"
	b0=$(ring_bytes)
	ip link set "$lan_if" mtu 9000
	# aoe-fuse looks at the MTU every 5 s: larger rings then.
	wait_for -t 20 rings_grew "$b0" ||
	    fail "aoe-fuse's rings did not grow (still $b0 bytes mapped)"
	say "rings: $b0 bytes mapped, then $(ring_bytes)"
	n0=$(tx_packets)
	timeout 120 dd if="$tmpdir/p" of="$file" bs=1M seek=16 oflag=direct \
	    conv=notrunc status=none ||
	    fail "write after the MTU was raised to 9000 failed"
	n1=$(tx_packets)
	say "16 MiB at MTU 9000 in $((n1 - n0)) frames; $(ring_bytes) bytes" \
	    "of rings mapped"
	# The transmit ring's slots grow at the first larger frame: 8 MiB
	# of receive ring and 2.3 MiB of transmit ring.
	[ "$1" != 1 ] || [ "$(ring_bytes)" -gt $((10 << 20)) ] ||
	    fail "the transmit ring did not grow"
	# 2,048 frames of 8 KiB (and a few others); 16,384 if still 1 KiB.
	[ $((n1 - n0)) -le 3000 ] ||
	    fail "$((n1 - n0)) frames for 16 MiB: the rings did not grow"
	timeout 120 dd if="$file" of="$tmpdir/out" bs=1M count=32 \
	    iflag=direct status=none || fail "read back failed"
	cat "$tmpdir/p" "$tmpdir/p" | cmp - "$tmpdir/out" ||
	    fail "read back differs from what was written"
	cat "$tmpdir/p" "$tmpdir/p" | cmp -n 33554432 - "$backing" ||
	    fail "vblade's backing file differs from what was written"
	stop_fuse "$file" "$fuse_pid"
	dd if=/dev/zero of="$backing" bs=1M count=32 conv=notrunc status=none
}

round ""
round 1
say "ok"
