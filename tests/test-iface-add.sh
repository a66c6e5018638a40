#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Without -I every up Ethernet interface is used, as aoe.ko does, and so
# is one that comes up later.  aoe-nbd runs in a network namespace of its
# own (so that "every interface" is this test's veths, never the
# machine's), serving e1.0 behind a first veth pair; a second pair with
# e2.0 behind it is created while it runs: it is used at once, from the
# kernel's rtnetlink notice (the log says so within a second), e2.0 is
# exported and reads the right bytes, though the
# program has no capability left (the socket was opened at start).
nbd_test_timeout=60
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
requires_root
requires aoe-nbd nbdinfo nbdcopy cmp

setup_lan 1500 # $lan_ns holds the targets; $lan_if stays unused
ns_i=aoei-$test_short-$$
new_netns "$ns_i"

# make_pair N: hiN-PID in $ns_i <-> htN-PID in $lan_ns, both up; vblade
# goes on the second (lan_tif).
make_pair()
{
	local i=hi$1-$$ t=ht$1-$$
	ip -n "$ns_i" link add "$i" type veth peer name "$t" \
	    netns "$lan_ns" || fail "ip link add $i failed"
	no_ipv6 "$ns_i" "$i"
	no_ipv6 "$lan_ns" "$t"
	ip -n "$ns_i" link set "$i" up
	ip -n "$lan_ns" link set "$t" up
	lan_tif=$t
}

# read_back N: e$N.0 through the export equals its backing file.
read_back()
{
	nbdcopy "$(nbd_uri "e$1.0")" "$tmpdir/back$1.img" ||
	    fail "nbdcopy from e$1.0"
	cmp "$tmpdir/d$1.img" "$tmpdir/back$1.img" ||
	    fail "e$1.0 reads differ from its backing file"
	say "e$1.0: 4 MiB read back, equal"
}

make_pair 1
make_image "$tmpdir/d1.img" 4
start_vblade 1 0 "$tmpdir/d1.img"

pidfile=$nbd_sockdir/pid
printf '+ ip netns exec %s aoe-nbd -f -U %s -P %s -w 5 (no -I)\n' \
    "$ns_i" "$nbd_sock" "$pidfile"
ip netns exec "$ns_i" aoe-nbd -f -U "$nbd_sock" -P "$pidfile" -w 5 \
    </dev/null >>"$nbd_log" 2>&1 &
nbd_pid=$!
cleanup_fn _kill_wait "$nbd_pid"
wait_for -t 10 _nbd_ready "$nbd_pid" "$pidfile" "$nbd_sock" || {
	cat "$nbd_log" >&2
	fail "aoe-nbd did not start"
}
read_back 1
caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$nbd_pid/status")
say "aoe-nbd's effective capabilities: $caps"
[ "$caps" = 0000000000000000 ] || fail "aoe-nbd kept capabilities"

say "a second veth pair, e2.0 behind it"
make_image "$tmpdir/d2.img" 4
make_pair 2
t0=$(now_ms)
wait_for -t 15 grep -q "hi2-$$: a new interface" "$nbd_log" || {
	cat "$nbd_log" >&2
	fail "aoe-nbd did not take the new interface"
}
ms=$(($(now_ms) - t0))
grep "a new interface" "$nbd_log" | sed 's/^/  | /'
# The kernel's rtnetlink notice wakes it (the periodic look is every 5 s).
say "taken $ms ms after it came up"
[ "$ms" -le 1000 ] || fail "the new interface was taken after $ms ms"
start_vblade 2 0 "$tmpdir/d2.img"
wait_for -t 10 nbdinfo "$(nbd_uri e2.0)" >/dev/null 2>&1 ||
    fail "e2.0 is not exported"
read_back 2
read_back 1
kill "$nbd_pid"
st=0
wait "$nbd_pid" || st=$?
[ "$st" = 0 ] || fail "aoe-nbd exited with $st"
say "ok"
