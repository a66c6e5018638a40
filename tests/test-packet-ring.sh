#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packet backend's receive ring: aoe-nbd maps a PACKET_RX_RING by
# default (seen in /proc/PID/maps as a shared mapping of its socket) and
# none with AOE_PACKET_RING=0 (recvmmsg); whole images go through aoe-nbd
# both ways with each, at MTU 1500 and 9000, byte for byte; -v logs the
# target's counters at exit.  With the ring, read data stays in its slots
# until the reply is sent (zero copy: counted at exit), and a client that
# leaves 14 MiB of replies unread makes aoe-nbd copy the oldest out of the
# ring before it fills (evicted), the data still right.
nbd_test_timeout=240
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires nbdcopy cmp aoe-nbd
requires_root
requires_nbdsh

# 56 reads of 256 KiB sent at once, their replies left unread for a
# second, then read and checked against the image.
slow_reader()
{
	"$nbd_python" - "$(nbd_uri e1.0)" "$tmpdir/disk.img" <<'PY' ||
import sys, time, nbd
uri, img = sys.argv[1], sys.argv[2]
data = open(img, "rb").read()
h = nbd.NBD()
h.connect_uri(uri)
size = 256 << 10
reqs = []
for i in range(56):
    buf = nbd.Buffer(size)
    off = (i * 3 % 56) * size  # out of order
    reqs.append((h.aio_pread(buf, off), buf, off))
time.sleep(1)
for cookie, buf, off in reqs:
    while not h.aio_command_completed(cookie):
        h.poll(-1)
    if buf.to_bytearray() != data[off:off + size]:
        sys.exit("read at %d differs" % off)
h.shutdown()
print("slow reader: 56 reads of 256 KiB right")
PY
	fail "the slow reader failed"
}

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
	slow_reader
	stop_aoe_nbd
	# Read data left in the ring for the reply, and copied out early.
	line=$(grep "$lan_if: .* kept in the ring" "$nbd_log" | tail -n 1)
	say "link summary: $line"
	kept=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) kept in the ring.*/\1/p')
	early=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9]*\) copied out early).*/\1/p')
	[ -n "$kept" ] && [ -n "$early" ] || fail "no link summary at exit"
	if [ "$ring" = 0 ]; then
		[ "$kept" = 0 ] || fail "no ring, yet $kept frames kept in it"
	else
		[ "$kept" -gt 0 ] || fail "no read data kept in the ring"
		[ "$early" -gt 0 ] ||
		    fail "the slow reader made nothing copied out early"
	fi
	# -v: the target's counters at exit.
	line=$(grep 'e1.0: [0-9]* frames out' "$nbd_log" | tail -n 1)
	say "exit summary: $line"
	case $line in
	*" 62 MiB read, 48 MiB written") ;;
	*) fail "no exit summary with 62 MiB read, 48 MiB written" ;;
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
