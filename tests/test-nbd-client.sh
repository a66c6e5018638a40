#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nbd-client (3.24) lists aoe-nbd's exports with -l, over a Unix socket
# and over TCP on 127.0.0.1 (no kernel module needed for -l); the TCP
# listener is on 127.0.0.1 only unless -i says otherwise.
nbd_test_timeout=60
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbd-client nbdinfo
requires_root

setup_lan
make_image "$tmpdir/d0.img" 8
make_image "$tmpdir/d1.img" 4
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 2 1 "$tmpdir/d1.img"

start_aoe_nbd -I "$lan_if" -w 5 e1.0 e2.1
expect_status 0 nbd-client -u "$nbd_sock" -l
expect_grep "$tmpdir/out" "e1.0"
expect_grep "$tmpdir/out" "e2.1"
stop_aoe_nbd

# TCP on a free port; the pidfile says when it listens.
port=$(free_tcp_port) || fail "no free TCP port"
pidfile=$tmpdir/tcp.pid
printf '+ aoe-nbd -f -p %s -P %s -I %s -w 5\n' "$port" "$pidfile" "$lan_if"
aoe-nbd -f -p "$port" -P "$pidfile" -I "$lan_if" -w 5 \
    </dev/null >>"$nbd_log" 2>&1 &
tcp_pid=$!
cleanup_fn _kill_wait "$tcp_pid"
wait_for -t 10 test -s "$pidfile" || fail "aoe-nbd -p did not start"
expect_status 0 nbd-client -l 127.0.0.1 "$port"
expect_grep "$tmpdir/out" "e1.0"
expect_grep "$tmpdir/out" "e2.1"
expect_status 0 nbdinfo --size "nbd://127.0.0.1:$port/e2.1"
[ "$(cat "$tmpdir/out")" = 4194304 ] || fail "wrong size over TCP"
# Bound to 127.0.0.1 only: nothing listens on the port elsewhere.
if command -v ss >/dev/null 2>&1; then
	ss -Hltn "sport = :$port" >"$tmpdir/ss" || true
	cat "$tmpdir/ss"
	expect_grep "$tmpdir/ss" "127.0.0.1:$port"
	if grep -v '127.0.0.1:' "$tmpdir/ss" | grep -q .; then
		fail "listening beyond 127.0.0.1"
	fi
fi
kill -TERM "$tcp_pid"
st=0
wait "$tcp_pid" || st=$?
[ "$st" = 0 ] || fail "aoe-nbd -p exited with $st"
say "PASS"
