#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Protocol abuse: tests/nbd-abuse.py sends garbage, truncated handshakes,
# wrong magics, unknown options and commands, huge lengths, disconnects in
# the middle of a write and hang-ups with requests in flight, while
# tests/nbd-aio keeps verifying I/O on another connection.  The server must
# answer what the protocol defines, stay up, and the good client must not
# notice a thing.
nbd_test_timeout=180
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbd-aio nbdinfo cmp
requires_root
py=${nbd_python:-python3}
requires "$py"

setup_lan
make_image "$tmpdir/d0.img" 32
make_image "$tmpdir/d1.img" 16
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img"
start_aoe_nbd -I "$lan_if" -w 5 -v

# The good client works on e1.1 for the whole time.
nbd-aio --seed 9 --count 100000000 --depth 32 --max-len 1048576 \
    --stop-file "$tmpdir/stop" --out "$tmpdir/good.img" "$(nbd_uri e1.1)" \
    >"$tmpdir/good.log" 2>&1 &
good=$!
cleanup_fn _kill_wait "$good"
sleep 0.5
kill -0 "$good" 2>/dev/null || {
	cat "$tmpdir/good.log"
	fail "the good client did not start"
}

# The bad clients work on e1.0, twice over.
for round in 1 2; do
	say "abuse round $round"
	"$py" "$srcdir/tests/nbd-abuse.py" "$nbd_sock" e1.0 33554432 ||
	    fail "nbd-abuse round $round failed"
	nbd_alive
done
kill -0 "$good" 2>/dev/null || {
	cat "$tmpdir/good.log"
	fail "the good client stopped during the abuse"
}

# The good client finishes what it has in flight, checks every byte and
# the export against its shadow copy; then the backing file.
touch "$tmpdir/stop"
st=0
wait "$good" || st=$?
cat "$tmpdir/good.log"
[ "$st" = 0 ] || fail "the good client failed (status $st)"
cmp "$tmpdir/good.img" "$tmpdir/d1.img" || fail "e1.1 backing file differs"
# e1.0 still serves the truth too.
expect_status 0 nbd-aio --seed 11 --count 1000 --out "$tmpdir/bad.img" \
    "$(nbd_uri e1.0)"
cmp "$tmpdir/bad.img" "$tmpdir/d0.img" || fail "e1.0 backing file differs"
expect_status 0 nbdinfo --list "$(nbd_uri)"

nbd_alive
grep -c 'closing' "$nbd_log" | sed 's/^/protocol violations logged: /'
stop_aoe_nbd
say "PASS"
