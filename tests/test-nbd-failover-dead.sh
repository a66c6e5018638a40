#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An HA failover slower than the dead timeout: vblade of host B stops, the
# target's I/O fails after --dead-timeout (3 s here), and vblade starts as
# host C on another MAC, on the same storage (a copy of the file here):
# another serial, the same size.  That is taken as the disk moved, as
# when it happens within the dead timeout: the open NBD connection stays
# and its next write lands on host C's file, and the log warns.  It was
# taken as another disk: the connection was closed.  Then another disk
# (another size) comes back after a dead timeout: replaced, and the
# warning says its I/O failed when it died (it said "fails").
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
requires_root
requires unshare cmp truncate aoe-nbd nbdinfo
requires_nbdsh

truncate -s 8M "$tmpdir/b.img"

setup_two_lans_empty 1500
start_vblade_on hostb "$tmpdir/b.img"
start_aoe_nbd -I "$if1,$if2" -w 5 --discover-interval 1 --dead-timeout 3 \
    e1.0

cat >"$tmpdir/client.py" <<'EOF'
import os, sys, time
import nbd

uri, d = sys.argv[1:3]
def wait(name):
    while not os.path.exists(os.path.join(d, name)):
        time.sleep(0.1)
h = nbd.NBD()
h.connect_uri(uri)
h.pwrite(b"W" * 65536, 0)
h.flush()
open(os.path.join(d, "ready"), "w").close()
wait("go")
try:
    h.pwrite(b"L" * 65536, 0)
    print("client: the write to the dead target succeeded")
    sys.exit(1)
except nbd.Error as ex:
    print("client: the write to the dead target failed:", ex)
open(os.path.join(d, "failed"), "w").close()
wait("go2")
h.pwrite(b"X" * 65536, 0)
h.flush()
print("client: the same connection wrote after the failover")
EOF
"$nbd_python" "$tmpdir/client.py" "$(nbd_uri e1.0)" "$tmpdir" \
    >"$tmpdir/client.log" 2>&1 &
client=$!
cleanup_fn _kill_wait "$client"
wait_for -t 20 test -e "$tmpdir/ready" || fail "the client did not write"

say "vblade of host b stops; the write in flight fails after the dead timeout"
stop_vblade "$vblade_pid"
touch "$tmpdir/go"
wait_for -t 20 test -e "$tmpdir/failed" || {
	cat "$tmpdir/client.log"
	fail "the write to the dead target did not fail"
}
expect_grep "$nbd_log" "e1.0 is not responding"

say "vblade starts as host c on another MAC, on the same storage"
cp "$tmpdir/b.img" "$tmpdir/c.img"
lan_tif=$tif2
start_vblade_on hostc "$tmpdir/c.img"
wait_for -t 20 grep -q "e1.0 moved: now answers from MAC" "$nbd_log" ||
    fail "the disk back on another host was not taken as moved"
touch "$tmpdir/go2"
st=0
wait "$client" || st=$?
cat "$tmpdir/client.log"
[ "$st" = 0 ] || fail "the connection did not survive the slow failover"
cmp -n 65536 "$tmpdir/c.img" <(head -c 65536 /dev/zero | tr '\0' X) ||
    fail "the write after the failover is not on host c's file"
warning='serial "1.0:hostc"), was MAC .* (serial "1.0:hostb"): taken as'
grep -q "$warning a failover" "$nbd_log" ||
    fail "the failover's warning does not name both serials"
if grep -q "its target is another disk now" "$nbd_log"; then
	fail "the connection was closed at the failover"
fi
nbd_alive

# Then host c dies as well, and another disk (another size) comes back at
# e1.0 from host d: replaced, not moved; its I/O failed when it died (the
# warning says so), and new clients get the new disk.
say "host c stops; host d comes back with another disk (16 MiB)"
stop_vblade "$vblade_pid"
expect_status 1 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" \
    -c 'h.pwrite(b"D" * 4096, 0)'
expect_grep "$tmpdir/err" "Input/output error"
truncate -s 16M "$tmpdir/d.img"
lan_tif=$tif1
start_vblade_on hostd "$tmpdir/d.img"
wait_for -t 20 grep -q "another disk answers now" "$nbd_log" ||
    fail "the other disk back at e1.0 was not taken as replaced"
expect_grep "$nbd_log" \
    'another disk answers now (serial "1.0:hostd", 32768 sectors; it was serial "1.0:hostc"): its I/O failed when it died'
nbd_size_is()
{
	[ "$(nbdinfo --size "$(nbd_uri e1.0)" 2>/dev/null)" = "$1" ]
}
wait_for -t 10 nbd_size_is 16777216 ||
    fail "a new client does not get the new disk's size"
nbd_alive
