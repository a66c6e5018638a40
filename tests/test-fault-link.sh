#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The initiator's own interface goes down, goes away, changes its MTU,
# while aoe-nbd serves a vblade target and tests/nbd-aio (libnbd) keeps
# pipelined reads and writes in flight, checking every byte against a
# shadow copy.  (1) `ip link set down` for 1 s: aoe-nbd says so, sleeps
# (its socket's error used to wake it for ever: a core at 100 %), and the
# I/O in flight completes once the link is up.  (2) the veth pair deleted
# and created again (same names, new MACs) with a new vblade: aoe-nbd
# sleeps while it is gone, binds to the new interface, finds the target
# behind its new MAC and the same client connection goes on; (2b) also
# when it was taken down before it was deleted.  (3) its MTU lowered from
# 9000 to 1500 and raised again under nbdcopy's writes: the jumbo frames
# it refuses are split, then jumbo frames are used again; (3r) the same
# with the transmit ring forced: no frame too large reaches the kernel
# (it logs each); (3b) started
# at 1500 and raised to 9000: a larger receive ring, jumbo frames (then
# 64000, more than a ring slot holds: recvmmsg); (4) the same as (3) with
# the pcap backend, which sends with sendmmsg on libpcap's socket, and (4b)
# with AOE_PCAP_INJECT=1, whose pcap_inject() sends fail at once.  vblade's
# backing file must equal what was written after each.
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires aoe-nbd nbd-aio nbdcopy cmp

setup_lan 9000
make_image "$tmpdir/disk.img" 16
start_vblade 1 0 "$tmpdir/disk.img" -b 64
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 30 --discover-interval 1 \
    e1.0

# aio_start NAME SEED: nbd-aio in the background until $tmpdir/stop-NAME
# exists; it must have completed some requests before this returns.
aio_start()
{
	local name=$1 seed=$2
	rm -f "$tmpdir/stop-$name"
	printf '+ nbd-aio --seed %s --depth 32 --max-len 262144 --stop-file\n' \
	    "$seed"
	nbd-aio --seed "$seed" --count 1000000 --depth 32 --max-len 262144 \
	    --stop-file "$tmpdir/stop-$name" --out "$tmpdir/shadow.img" \
	    "$(nbd_uri)" >"$tmpdir/aio-$name.log" 2>&1 &
	aio_pid=$!
	cleanup_fn _kill_wait "$aio_pid"
	sleep 1
	kill -0 "$aio_pid" 2>/dev/null || {
		cat "$tmpdir/aio-$name.log" >&2
		fail "$name: nbd-aio ended early"
	}
}

# aio_finish NAME: stop submitting, wait, check every byte.
aio_finish()
{
	local name=$1 st=0
	touch "$tmpdir/stop-$name"
	wait_for -t 40 pid_gone "$aio_pid" ||
	    fail "$name: nbd-aio did not finish 40 s after the stop file"
	wait "$aio_pid" || st=$?
	sed 's/^/  | /' "$tmpdir/aio-$name.log"
	[ "$st" = 0 ] || fail "$name: nbd-aio failed (exit $st)"
	cmp "$tmpdir/shadow.img" "$tmpdir/disk.img" ||
	    fail "$name: vblade's backing file differs from the shadow copy"
	say "$name: every byte read matched, backing file equal"
	nbd_alive
}

# log_has N TEXT: aoe-nbd's log has TEXT N times or more.
log_has()
{
	[ "$(grep -c "$2" "$nbd_log")" -ge "$1" ]
}

# noticed_within MS T0 TEXT: aoe-nbd logged TEXT within MS milliseconds of
# T0 (now_ms).  Link changes come as rtnetlink notices: at once, where
# the periodic look is every 5 s (and only when the loop wakes).
noticed_within()
{
	local ms=$1 t0=$2 text=$3
	wait_for -t $((ms / 1000 + 5)) grep -q "$text" "$nbd_log" ||
	    fail "aoe-nbd did not log \"$text\""
	ms_taken=$(($(now_ms) - t0))
	say "\"$text\" after $ms_taken ms"
	[ "$ms_taken" -le "$ms" ] ||
	    fail "\"$text\" took $ms_taken ms (at most $ms expected)"
}

pid_gone()
{
	! kill -0 "$1" 2>/dev/null
}

# expect_idle WHAT T0 MAX: aoe-nbd used at most MAX ticks since T0.
expect_idle()
{
	local used=$(($(cpu_ticks "$nbd_pid") - $2))
	say "aoe-nbd CPU while $1: $used ticks (1/100 s)"
	[ "$used" -le "$3" ] ||
	    fail "aoe-nbd used $used ticks while $1: spinning?"
}

# ---------------------------------------------------------------- 1
step "1: $lan_if down for 1 s with I/O in flight"
aio_start down 51
# vblade exits when a write fails with ENOBUFS, as it does while the
# other end of its veth is down: pause it over the outage.
kill -STOP "$vblade_pid"
ip link set "$lan_if" down
t0=$(cpu_ticks "$nbd_pid")
sleep 1
expect_idle "the link was down" "$t0" 30
ip link set "$lan_if" up
wait_for -t 10 _lan_is_up "$lan_if" || fail "$lan_if did not come up"
kill -CONT "$vblade_pid"
step "link up, vblade resumed"
wait_for -t 20 grep -q "$lan_if: frames arrive again" "$nbd_log" ||
    fail "aoe-nbd did not see frames again after the link came up"
aio_finish down
expect_grep "$nbd_log" "$lan_if: the interface went down"
step "1: ok"

# ---------------------------------------------------------------- 2
step "2: $lan_if deleted for 2 s and created again, new MACs"
old_mac=$(if_mac "$lan_if")
aio_start gone 52
stop_vblade "$vblade_pid"
ip link del "$lan_if"
wait_for -t 5 grep -q "$lan_if: the interface is gone" "$nbd_log" ||
    fail "aoe-nbd did not notice $lan_if was deleted"
t0=$(cpu_ticks "$nbd_pid")
sleep 2
expect_idle "the interface was gone" "$t0" 40
lan_create
start_vblade 1 0 "$tmpdir/disk.img" -b 64
say "MAC here: $old_mac before, $(if_mac "$lan_if") now"
wait_for -t 10 grep -q "$lan_if: the interface is back" "$nbd_log" ||
    fail "aoe-nbd did not bind to the new $lan_if"
aio_finish gone
step "2: ok"

# ---------------------------------------------------------------- 2b
# Taken down first, then deleted: the socket reports nothing more (the
# kernel detached it at the down), the failing sends show it is gone.
step "2b: $lan_if taken down, deleted, created again"
aio_start gone2 54
stop_vblade "$vblade_pid"
ip link set "$lan_if" down
ip link del "$lan_if"
wait_for -t 10 log_has 2 "$lan_if: the interface is gone" ||
    fail "aoe-nbd did not notice $lan_if was deleted while down"
lan_create
start_vblade 1 0 "$tmpdir/disk.img" -b 64
wait_for -t 10 log_has 2 "$lan_if: the interface is back" ||
    fail "aoe-nbd did not bind to the new $lan_if"
aio_finish gone2
step "2b: ok"

# ---------------------------------------------------------------- 3
# mtu_cycle: the MTU lowered to 1500 under writes, then 9000 again.
# Writes only (nbdcopy to the export, over and over): vblade exits when a
# jumbo answer to a read does not fit our end of the veth any more.
mtu_cycle()
{
	local c0 st=0 wr
	rm -f "$tmpdir/stop-mtu" "$tmpdir/last"
	echo 0 >"$tmpdir/count"
	(
		i=0
		while [ ! -e "$tmpdir/stop-mtu" ]; do
			nbdcopy --flush "$tmpdir/w$((i % 2)).img" \
			    "$(nbd_uri)" || exit 1
			echo $((i % 2)) >"$tmpdir/last"
			i=$((i + 1))
			echo "$i" >"$tmpdir/count"
		done
		echo "$i copies" >"$tmpdir/copies"
	) &
	wr=$!
	cleanup_fn _kill_wait "$wr"
	sleep 0.5
	t0=$(now_ms)
	ip link set "$lan_if" mtu 1500
	noticed_within 1000 "$t0" "$lan_if: MTU 1500, was 9000"
	# The frames refused in flight are split when resent.
	c0=$(cat "$tmpdir/count")
	wait_for -t 20 copies_since "$c0" ||
	    fail "no progress at MTU 1500: refused frames were not split"
	say "two more copies at MTU 1500"
	t0=$(now_ms)
	ip link set "$lan_if" mtu 9000
	noticed_within 1000 "$t0" "$lan_if: MTU 9000, was 1500"
	sleep 0.5
	touch "$tmpdir/stop-mtu"
	wait "$wr" || st=$?
	[ "$st" = 0 ] || fail "an nbdcopy to the export failed"
	say "$(cat "$tmpdir/copies"), the last one of" \
	    "w$(cat "$tmpdir/last").img"
	cmp "$tmpdir/w$(cat "$tmpdir/last").img" "$tmpdir/disk.img" ||
	    fail "vblade's backing file differs from the last copy"
	nbdcopy "$(nbd_uri)" "$tmpdir/back.img" ||
	    fail "nbdcopy from the export"
	cmp "$tmpdir/disk.img" "$tmpdir/back.img" ||
	    fail "what the export reads differs from the backing file"
	nbd_alive
}

copies_since()
{
	[ "$(cat "$tmpdir/count")" -ge $(($1 + 2)) ]
}

make_image "$tmpdir/w0.img" 16
make_image "$tmpdir/w1.img" 16
step "3: $lan_if's MTU lowered to 1500 under writes, then 9000 again"
mtu_cycle
step "3: ok"
stop_aoe_nbd

# ---------------------------------------------------------------- 3r
# The same with the transmit ring forced (on a real NIC it is on by
# default).  The kernel skips a ring frame too large for a lowered MTU
# with a log line each ("af_packet: packet size is too long", tens of ms
# on a slow console) and says nothing: 55-116 lines and turns of the loop
# of up to 155 ms per lowering here.  aoe-nbd reads the MTU before a kick
# with jumbo frames queued, gives up those too large and takes the lower
# MTU at once.
kernel_lines()
{
	local n
	n=$(dmesg 2>/dev/null | grep -c "packet size is too long") ||
	    [ "$n" = 0 ] || fail "cannot read the kernel log (dmesg)"
	echo "$n"
}
step "3r: the same with the transmit ring forced (AOE_PACKET_TX_RING=1)"
dmesg >/dev/null 2>&1 || fail "cannot read the kernel log (dmesg)"
: >"$nbd_log"
AOE_PACKET_TX_RING=1 start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 30 \
    --discover-interval 1 e1.0
d0=$(kernel_lines)
mtu_cycle
d=$(($(kernel_lines) - d0))
say "kernel log lines for ring frames too large: $d"
[ "$d" -le 2 ] ||
    fail "$d ring frames too large for the MTU went to the kernel"
kill -USR1 "$nbd_pid"
wait_for -t 5 grep -q "from the transmit ring" "$nbd_log" ||
    fail "no link counters after SIGUSR1"
line=$(grep "$lan_if: .*from the transmit ring" "$nbd_log" | tail -n 1)
say "link counters: ${line#*aoe-nbd: }"
ring=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9]*\) from the transmit ring).*/\1/p')
[ "${ring:-0}" -gt 0 ] || fail "no frame went through the transmit ring"
step "3r: ok"
stop_aoe_nbd

# ---------------------------------------------------------------- 3b
# Started at MTU 1500 (the receive ring's slots sized for it), raised to
# 9000 later, as when a diskless system's own network set-up follows the
# initramfs that started aoe-nbd: jumbo frames must follow, not 1500 for
# ever.  vblade keeps its 9000 end (it offers 17 sectors per frame).
step "3b: started at MTU 1500, raised to 9000 under I/O"
ip link set "$lan_if" mtu 1500
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 30 e1.0
aio_start raise 55
t0=$(now_ms)
ip link set "$lan_if" mtu 9000
noticed_within 1000 "$t0" "$lan_if: MTU 9000, was 1500"
sleep 0.5
aio_finish raise
# What arrives now is jumbo frames, whole.
avg=$(read_avg_frame "$tmpdir/disk.img")
say "16 MiB read: frames of $avg bytes on average"
[ "$avg" -gt 4000 ] ||
    fail "reads still come in small frames after the MTU was raised"
# Beyond what a ring slot can hold: recvmmsg from then on, as at start.
# Raised while aoe-nbd is idle: nothing but the notice wakes it.
t0=$(now_ms)
ip link set "$lan_if" mtu 64000
noticed_within 1000 "$t0" "$lan_if: MTU 64000, was 9000"
nbdcopy "$(nbd_uri)" "$tmpdir/back.img" || fail "nbdcopy from the export"
cmp "$tmpdir/disk.img" "$tmpdir/back.img" ||
    fail "what the export reads at MTU 64000 differs from the backing file"
ip link set "$lan_if" mtu 9000
nbd_alive
step "3b: ok"
stop_aoe_nbd

# ---------------------------------------------------------------- 4
step "4: the same with --backend=pcap"
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" --backend=pcap -w 5 --dead-timeout 30 e1.0
mtu_cycle
step "4: ok"
stop_aoe_nbd
# pcap_inject sends at once: the refusal comes from the send itself.
step "4b: the same with pcap_inject (AOE_PCAP_INJECT=1)"
: >"$nbd_log"
AOE_PCAP_INJECT=1 start_aoe_nbd -I "$lan_if" --backend=pcap -w 5 \
    --dead-timeout 30 e1.0
mtu_cycle
step "4b: ok"
stop_aoe_nbd
