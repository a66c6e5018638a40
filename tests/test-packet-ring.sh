#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packet backend's receive ring: aoe-nbd maps a PACKET_RX_RING by
# default (seen in /proc/PID/maps as a shared mapping of its socket) and
# none with AOE_PACKET_RING=0 (recvmmsg); whole images go through aoe-nbd
# both ways with each, at MTU 1500 and 9000, byte for byte; -v logs the
# target's counters at exit.  With the ring, read data stays in its slots
# until the reply is sent (zero copy: counted at exit; none kept with
# AOE_ZERO_COPY=0, the data still right), and a client that
# leaves 14 MiB of replies unread makes aoe-nbd copy the oldest out of the
# ring before it fills (evicted), the data still right.  Frames still kept
# for unread replies are copied out when the ring goes: when the MTU is
# raised beyond its slots (a larger ring; the replies, read afterwards,
# must be right) and when aoe-nbd stops (ASan sees any use after free).
nbd_test_timeout=240
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires nbdcopy cmp aoe-nbd
requires_root
requires_nbdsh

# held_reads N MODE [ARG]: N reads of 256 KiB sent at once, their replies
# left unread for a second; then MODE "read": each reply read and checked
# against the image; "resize": first the MTU of $lan_if raised to ARG,
# until aoe-nbd logs it (its ring replaced), then read and checked;
# "hold": the file ARG created, and the replies left until aoe-nbd closes
# the connection.
held_reads()
{
	"$nbd_python" - "$(nbd_uri e1.0)" "$tmpdir/disk.img" "$lan_if" \
	    "$nbd_log" "$@" <<'PY' ||
import subprocess, sys, time, nbd
uri, img, ifname, log, n, mode = sys.argv[1:7]
arg = sys.argv[7] if len(sys.argv) > 7 else ""
n = int(n)
data = open(img, "rb").read()
h = nbd.NBD()
h.connect_uri(uri)
size = 256 << 10
reqs = []
for i in range(n):
    buf = nbd.Buffer(size)
    off = (i * 3 % n) * size  # out of order
    reqs.append((h.aio_pread(buf, off), buf, off))
time.sleep(1)
if mode == "hold":
    open(arg, "w").close()
    try:
        while True:
            h.poll(-1)
    except nbd.Error as e:
        print("held reads: connection closed (%s)" % e)
        sys.exit(0)
if mode == "resize":
    subprocess.run(["ip", "link", "set", ifname, "mtu", arg], check=True)
    want = "%s: MTU %s, was" % (ifname, arg)
    for _ in range(200):
        if want in open(log).read():
            break
        time.sleep(0.1)
    else:
        sys.exit("aoe-nbd did not log '%s' within 20 s" % want)
for cookie, buf, off in reqs:
    while not h.aio_command_completed(cookie):
        h.poll(-1)
    if buf.to_bytearray() != data[off:off + size]:
        sys.exit("read at %d differs" % off)
h.shutdown()
print("held reads (%s): %d reads of 256 KiB right" % (mode, n))
PY
	fail "the reads left unread ($2) failed"
}

# The link's summary at exit: "N frames sent (M from the transmit ring),
# ... K kept in the ring (E copied out early)": sent=N, txring=M, kept=K,
# early=E.
ring_counts()
{
	local line

	line=$(grep "$lan_if: .* kept in the ring" "$nbd_log" | tail -n 1)
	say "link summary: $line"
	sent=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) frames sent.*/\1/p')
	txring=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9]*\) from the transmit ring).*/\1/p')
	kept=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) kept in the ring.*/\1/p')
	early=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9]*\) copied out early).*/\1/p')
	[ -n "$sent" ] && [ -n "$txring" ] && [ -n "$kept" ] &&
	    [ -n "$early" ] || fail "no link summary at exit"
}

# loop_turns: no turn of aoe-nbd's loop (-v summary at exit) took more than
# 300 ms of its own time (check_longest_turn; 500 ms in a sanitizer build:
# ASAN_OPTIONS set).  Measured here: 3-15 ms per round (up to 24 ms under
# ASan); the turn that replaces the receive ring with frames kept in it
# copies them out and maps a new ring (35 ms; 29-132 ms under ASan).  The
# limit still catches a turn that blocks or maps rings over and over.
loop_turns()
{
	local max=300
	[ -z "${ASAN_OPTIONS:-}" ] || max=500
	check_longest_turn $max "$waited"
}

# tx_ring_used WANT: the transmit ring's share of the frames sent, from
# ring_counts: "1" (forced on: on a veth pair every slot is free again as
# soon as the kernel has copied it, so all but a few frames go through the
# ring) or "" (the default: a veth pair copies ring frames anyway, so
# aoe-nbd sends with sendmmsg and maps no transmit ring).
tx_ring_used()
{
	if [ "$1" = 1 ]; then
		[ "$txring" -gt 0 ] && [ $((txring * 10)) -ge $((sent * 9)) ] ||
		    fail "AOE_PACKET_TX_RING=1, yet only $txring of $sent" \
		    "frames went through the transmit ring"
	else
		[ "$txring" = 0 ] ||
		    fail "$txring frames sent from a transmit ring on a veth"
	fi
}

# round MTU RING [ZC [TX]]: the environment's AOE_PACKET_RING,
# AOE_ZERO_COPY and AOE_PACKET_TX_RING ("": unset).
round()
{
	local mtu=$1 ring=$2 zc=${3:-} tx=${4:-} bytes rx_max=8388608

	say "--- MTU $mtu, AOE_PACKET_RING=${ring:-unset}" \
	    "AOE_ZERO_COPY=${zc:-unset} AOE_PACKET_TX_RING=${tx:-unset}"
	set_env AOE_PACKET_RING "$ring"
	set_env AOE_ZERO_COPY "$zc"
	set_env AOE_PACKET_TX_RING "$tx"
	start_aoe_nbd -v -I "$lan_if" -w 5 e1.0
	waited=$(cpu_waits "$nbd_pid")
	bytes=$(socket_map_bytes "$nbd_pid")
	say "socket mappings: $bytes bytes"
	# The transmit ring: 256 slots of the MTU, at most 4 MiB.
	if [ "$tx" = 1 ]; then
		[ "$bytes" -ge 262144 ] ||
		    fail "AOE_PACKET_TX_RING=1 but no transmit ring is mapped"
		rx_max=$((rx_max + 4194304))
	fi
	if [ "$ring" = 0 ] && [ "$tx" != 1 ]; then
		[ "$bytes" = 0 ] || fail "AOE_PACKET_RING=0 but a ring is mapped"
	elif [ "$ring" != 0 ]; then
		# At least 1 MiB, at most the 8 MiB cap (and the tx ring's).
		[ "$bytes" -ge 1048576 ] && [ "$bytes" -le "$rx_max" ] ||
		    fail "no receive ring of a sane size mapped ($bytes bytes)"
	fi
	make_image "$tmpdir/in.img" 48
	expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$(nbd_uri e1.0)"
	cmp "$tmpdir/in.img" "$tmpdir/disk.img" || fail "nbdcopy in differs"
	expect_status 0 nbdcopy "$(nbd_uri e1.0)" "$tmpdir/out.img"
	cmp "$tmpdir/out.img" "$tmpdir/disk.img" || fail "nbdcopy out differs"
	say "in and out identical"
	held_reads 56 read
	waited=$(($(cpu_waits "$nbd_pid") - waited))
	stop_aoe_nbd
	# Read data left in the ring for the reply, and copied out early.
	ring_counts
	tx_ring_used "$tx"
	if [ "$ring" = 0 ]; then
		[ "$kept" = 0 ] || fail "no ring, yet $kept frames kept in it"
	elif [ "$zc" = 0 ]; then
		[ "$kept" = 0 ] && [ "$early" = 0 ] ||
		    fail "AOE_ZERO_COPY=0, yet $kept frames kept in the ring"
	else
		[ "$kept" -gt 0 ] || fail "no read data kept in the ring"
		[ "$early" -gt 0 ] ||
		    fail "the slow reader made nothing copied out early"
	fi
	loop_turns
	# -v: the target's counters at exit.
	line=$(grep 'e1.0: [0-9]* frames out' "$nbd_log" | tail -n 1)
	say "exit summary: $line"
	case $line in
	*" 62 MiB read, 48 MiB written") ;;
	*) fail "no exit summary with 62 MiB read, 48 MiB written" ;;
	esac
	: >"$nbd_log"
	unset AOE_PACKET_RING AOE_ZERO_COPY AOE_PACKET_TX_RING
}

# The ring goes while frames are kept in it for replies not yet sent: 56
# reads of 256 KiB, 4 MiB of replies in the socket (the tests' wmem_default)
# and 10 MiB waiting for the client to read, of those the newest half ring
# still in the ring.  --discover-interval 1: aoe-nbd wakes up to see the
# new MTU while its client reads nothing.  Then aoe-nbd stopped with the
# replies unread: it exits 0 (ASan: nothing used after it is freed).
ring_goes()
{
	local line n

	say "--- the ring replaced (MTU raised to 9000) while frames are kept"
	# vblade's side at 9000 from the start, so that frames grow when ours
	# is raised: the transmit ring's slots of 1500 must grow too.
	stop_vblade "$vblade_pid"
	ip -n "$lan_ns" link set "$lan_tif" mtu 9000
	start_vblade 1 0 "$tmpdir/disk.img" -b 64
	export AOE_PACKET_TX_RING=1
	start_aoe_nbd -v -I "$lan_if" -w 5 --discover-interval 1 e1.0
	held_reads 56 resize 9000
	line=$(grep "copied out of the old receive ring" "$nbd_log") ||
	    fail "nothing copied out of the ring when it was replaced"
	say "$line"
	n=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) frames kept.*/\1/p')
	[ "${n:-0}" -gt 0 ] || fail "no count of frames copied out"
	# 48 MiB written in frames of 9000: through larger transmit slots
	# (else by sendmmsg: 6,144 of the 20,480 frames sent).
	make_image "$tmpdir/in.img" 48
	expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$(nbd_uri e1.0)"
	cmp "$tmpdir/in.img" "$tmpdir/disk.img" || fail "nbdcopy in differs"
	stop_aoe_nbd
	ring_counts
	tx_ring_used 1
	: >"$nbd_log"
	ip link set "$lan_if" mtu 1500

	say "--- aoe-nbd stopped while frames are kept"
	start_aoe_nbd -v -I "$lan_if" -w 5 e1.0
	rm -f "$tmpdir/held"
	held_reads 56 hold "$tmpdir/held" &
	reader=$!
	cleanup_fn _kill_wait "$reader"
	wait_for -t 20 test -e "$tmpdir/held" ||
	    fail "the client did not send its reads"
	stop_aoe_nbd
	wait "$reader" || fail "the client holding replies failed"
	: >"$nbd_log"
	unset AOE_PACKET_TX_RING
}

for mtu in 1500 9000; do
	setup_lan "$mtu"
	make_image "$tmpdir/disk.img" 48
	start_vblade 1 0 "$tmpdir/disk.img" -b 64
	round "$mtu" ""
	round "$mtu" 0
	# The ring, but every answer copied at once.
	[ "$mtu" = 9000 ] && round "$mtu" "" 0
	# Sent from a transmit ring (not by default on a veth pair).
	round "$mtu" "" "" 1
	[ "$mtu" = 1500 ] && round "$mtu" 0 "" 1
	[ "$mtu" = 1500 ] && ring_goes
	stop_vblade "$vblade_pid"
done
say "ok"
