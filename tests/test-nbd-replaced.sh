#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Another disk behind a target's address while a client has it open: a
# Coraid shelf's slot given a new disk, or vblade restarted at the same
# MAC on another machine's disk.  The open NBD connection went on with the
# new disk as if nothing had happened (so a filesystem mounted from it
# wrote its cached metadata on a disk it had never seen; aoe.ko does the
# same).  Now the re-IDENTIFY that follows the restart shows another
# serial: the connection is closed (its next write fails, nothing of it
# reaches the new disk), the log says why, and a new connection gets the
# new disk.  Then the target moves to another MAC as another host (vblade
# failed over to a second machine): the old path is silent and the new
# one answers as another disk.  Of the same size, that is taken as a
# failover (the kernel's aoe driver rides through it): a client writing
# through the move goes on, its writes land on the new host's file, the
# log warns.  Of another size, the target is replaced: said within
# seconds, not after the dead timeout (60 s here), its clients closed.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
requires_root
requires unshare cmp truncate aoe-nbd
requires_nbdsh

truncate -s 8M "$tmpdir/a.img"
truncate -s 8M "$tmpdir/b.img"
cp "$tmpdir/b.img" "$tmpdir/b0.img"

setup_two_lans_empty 1500
start_vblade_on hosta "$tmpdir/a.img"
start_aoe_nbd -I "$if1,$if2" -w 5 --discover-interval 1 --dead-timeout 60 \
    e1.0

cat >"$tmpdir/client.py" <<'EOF'
import os, signal, sys, time
import nbd

uri, ready, go, fill = sys.argv[1:5]
h = nbd.NBD()
h.connect_uri(uri)
h.pwrite(fill.encode() * 65536, 0)
h.flush()
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.1)
# The same connection, after the disk behind e1.0 changed.
try:
    for i in range(64):
        h.pwrite(b"X" * 65536, i * 65536)
    print("client: writes after the change succeeded")
    sys.exit(1)
except nbd.Error as ex:
    print("client: write after the change failed:", ex)
EOF
# client_start NAME FILL: a client that wrote FILL at 0 and waits.
client_start()
{
	rm -f "$tmpdir/ready" "$tmpdir/go"
	"$nbd_python" "$tmpdir/client.py" "$(nbd_uri e1.0)" "$tmpdir/ready" \
	    "$tmpdir/go" "$2" >"$tmpdir/client-$1.log" 2>&1 &
	client=$!
	cleanup_fn _kill_wait "$client"
	wait_for -t 20 test -e "$tmpdir/ready" || fail "the client did not write"
}

# client_check NAME: the waiting client's writes must fail now.
client_check()
{
	local st=0
	touch "$tmpdir/go"
	wait "$client" || st=$?
	cat "$tmpdir/client-$1.log"
	[ "$st" = 0 ] || fail "the old connection wrote on the new disk"
}

client_start 1 A

say "vblade restarted at the same MAC as another machine, on another disk"
stop_vblade "$vblade_pid"
start_vblade_on hostb "$tmpdir/b.img"
# Rediscovery (1 s) or the start-up advert: identified again.
wait_for -t 10 grep -q "another disk answers now" "$nbd_log" ||
    say "aoe-nbd did not see another disk"
client_check 1
cmp "$tmpdir/b.img" "$tmpdir/b0.img" ||
    fail "the new disk holds writes of a client of the old one"
expect_grep "$nbd_log" "another disk answers now"
expect_grep "$nbd_log" "its target is another disk now"
nbd_alive

say "a new connection gets the new disk"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" \
    -c 'assert h.pread(65536, 0) == bytes(65536)' \
    -c 'h.pwrite(b"B" * 512, 0)'
cmp -n 512 "$tmpdir/b.img" <(printf 'B%.0s' $(seq 512)) ||
    fail "the new connection's write is not on the new disk"

say "vblade failed over to another MAC (another interface here) as another host"
# The same size: taken as the same disk on another host (an HA pair on
# shared storage; the files stand for that storage here).  The client
# writes through the move and goes on; nothing is closed.
cat >"$tmpdir/writer.py" <<'EOF'
import os, sys, time
import nbd

uri, ready, go = sys.argv[1:4]
h = nbd.NBD()
h.connect_uri(uri)
h.pwrite(b"W" * 512, 0)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.1)
for i in range(64):
    h.pwrite(b"X" * 65536, i * 65536)
h.flush()
print("writer: 4 MiB written through the move")
EOF
rm -f "$tmpdir/ready" "$tmpdir/go"
"$nbd_python" "$tmpdir/writer.py" "$(nbd_uri e1.0)" "$tmpdir/ready" \
    "$tmpdir/go" >"$tmpdir/writer.log" 2>&1 &
writer=$!
cleanup_fn _kill_wait "$writer"
wait_for -t 20 test -e "$tmpdir/ready" || fail "the writer did not write"
n0=$(grep -c "its target is another disk now" "$nbd_log")
stop_vblade "$vblade_pid"
cp "$tmpdir/b.img" "$tmpdir/c.img"
touch "$tmpdir/go"
sleep 1
lan_tif=$tif2
t0=$SECONDS
start_vblade_on hostc "$tmpdir/c.img"
wait_for -t 30 grep -q "e1.0 moved: now answers from MAC" "$nbd_log" ||
    fail "the target on another host, of the same size, was not taken as moved"
say "said after $((SECONDS - t0)) s (dead timeout 60 s)"
st=0
wait "$writer" || st=$?
cat "$tmpdir/writer.log"
[ "$st" = 0 ] || fail "the writer's writes failed across the failover"
cmp -n 4194304 "$tmpdir/c.img" <(head -c 4194304 /dev/zero | tr '\0' X) ||
    fail "the writes after the move are not on the new host's file"
warning='serial "1.0:hostc"), was MAC .* (serial "1.0:hostb"): taken as'
grep -q "$warning a failover" "$nbd_log" ||
    fail "the failover's warning does not name both serials"
[ "$(grep -c "its target is another disk now" "$nbd_log")" = "$n0" ] ||
    fail "a connection was closed at the failover"
nbd_alive

say "vblade moved to another MAC as another host, with a disk of another size"
client_start 2 B
truncate -s 16M "$tmpdir/d.img"
cp "$tmpdir/d.img" "$tmpdir/d0.img"
n0=$(grep -c "another disk answers now" "$nbd_log")
stop_vblade "$vblade_pid"
lan_tif=$tif1
t0=$SECONDS
start_vblade_on hostd "$tmpdir/d.img"
replaced_more()
{
	[ "$(grep -c "another disk answers now" "$nbd_log")" -gt "$n0" ]
}
wait_for -t 20 replaced_more ||
    fail "the target on another host was not taken as another disk"
say "said after $((SECONDS - t0)) s (dead timeout 60 s)"
client_check 2
cmp "$tmpdir/d.img" "$tmpdir/d0.img" ||
    fail "the moved target's disk holds writes of a client of the old one"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" \
    -c 'assert h.get_size() == 16 << 20' \
    -c 'assert h.pread(65536, 0) == bytes(65536)' \
    -c 'h.pwrite(b"D" * 512, 0)'
cmp -n 512 "$tmpdir/d.img" <(printf 'D%.0s' $(seq 512)) ||
    fail "the new connection's write is not on the moved target's disk"
