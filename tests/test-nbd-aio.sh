#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/nbd-aio (libnbd, C) against aoe-nbd: thousands of pipelined
# asynchronous reads, writes, FUA writes, zeroes, caches and flushes at
# random offsets and sizes, replies out of order, checked byte for byte
# against a shadow copy and then against vblade's backing file: with
# structured replies, with simple replies, over four connections at once
# (multi-conn), and on two exports side by side.
nbd_test_timeout=180
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbd-aio cmp
requires_root

setup_lan
make_image "$tmpdir/d0.img" 32
make_image "$tmpdir/d1.img" 16
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img" -b 4
start_aoe_nbd -I "$lan_if" -w 5

run_aio()
{
	local name=$1
	shift
	printf '+ nbd-aio %s\n' "$*"
	nbd-aio "$@" >"$tmpdir/aio-$name.log" 2>&1 || {
		cat "$tmpdir/aio-$name.log"
		fail "nbd-aio ($name) failed"
	}
	cat "$tmpdir/aio-$name.log"
}

run_aio sr --seed 1 --count 3000 --depth 64 --out "$tmpdir/s0.img" \
    "$(nbd_uri e1.0)"
cmp "$tmpdir/s0.img" "$tmpdir/d0.img" || fail "backing file differs (sr)"
# Small requests overtake big ones: replies really go out of order.
ooo=$(awk '/replies overtook/ { print $2 }' "$tmpdir/aio-sr.log")
[ "${ooo:-0}" -gt 0 ] || fail "no reply ever overtook an older request"

run_aio simple --seed 2 --count 2000 --depth 32 --no-sr \
    --out "$tmpdir/s0.img" "$(nbd_uri e1.0)"
cmp "$tmpdir/s0.img" "$tmpdir/d0.img" ||
    fail "backing file differs (simple replies)"

run_aio multiconn --seed 3 --count 3000 --depth 96 --connections 4 \
    --out "$tmpdir/s0.img" "$(nbd_uri e1.0)"
cmp "$tmpdir/s0.img" "$tmpdir/d0.img" ||
    fail "backing file differs (multi-conn)"

# Two exports at once, one of them behind a small vblade window (-b 4).
nbd-aio --seed 4 --count 2000 --depth 64 --out "$tmpdir/a0.img" \
    "$(nbd_uri e1.0)" >"$tmpdir/a0.log" 2>&1 &
p0=$!
nbd-aio --seed 5 --count 2000 --depth 64 --max-len 262144 \
    --out "$tmpdir/a1.img" "$(nbd_uri e1.1)" >"$tmpdir/a1.log" 2>&1 &
p1=$!
st0=0 st1=0
wait "$p0" || st0=$?
wait "$p1" || st1=$?
cat "$tmpdir/a0.log" "$tmpdir/a1.log"
[ "$st0" = 0 ] && [ "$st1" = 0 ] || fail "concurrent nbd-aio failed"
cmp "$tmpdir/a0.img" "$tmpdir/d0.img" || fail "e1.0 backing file differs"
cmp "$tmpdir/a1.img" "$tmpdir/d1.img" || fail "e1.1 backing file differs"

nbd_alive
stop_aoe_nbd
say "PASS"
