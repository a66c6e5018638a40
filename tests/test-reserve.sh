#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --reserve (aoe-nbd, aoe-fuse -o reserve): a target is reserved for this
# host (AoEr11 Reserve/Release, the set command with our MACs) when a
# client first opens it, so that vblade refuses another host's I/O (two
# machines booting from one root image), and released when the program
# exits.  Against vblade: nothing reserved before an open or without the
# option; reserved at the open; again after vblade restarted (it forgets
# its list); another host's reservation (aoectl reserve fset) is not
# taken over: I/O fails EPERM/EACCES with a warning naming that host's
# MAC; cleared by the admin, it is taken again; released at SIGTERM, and
# at aoe-fuse's unmount; kept after SIGKILL (as documented); with two
# vblades serving one file on two LANs, on each (a list each).
nbd_test_timeout=150
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fuse-functions.sh"

requires aoe-nbd aoe-fuse aoectl truncate dd
requires_root

setup_lan
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img"
A=(-I "$lan_if" -w 1)
me=$(if_mac "$lan_if")
other=02:00:5e:00:53:01

# resv_list [IF]: the reserve list seen through IF (default: $lan_if),
# lower case, one line ("" when empty).
resv_list()
{
	aoectl -I "${1:-$lan_if}" -w 1 reserve e1.0 read 2>/dev/null |
	    tr 'A-F\n' 'a-f ' | sed 's/ $//'
}
# resv_is WANT [IF]
resv_is()
{
	[ "$(resv_list "${2:-}")" = "$1" ]
}
expect_resv()
{
	local got
	got=$(resv_list)
	[ "$got" = "$1" ] || fail "$2: reserve list '$got', expected '$1'"
}

say "aoe-nbd --reserve: nothing reserved before a client opens e1.0"
start_aoe_nbd "${A[@]}" --reserve --discover-interval 1 e1.0
sleep 1
expect_resv "" "before any open"

say "a client opens it: reserved for our MAC, and kept after it leaves"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
h.pwrite(b"a" * 4096, 0)
h.flush()'
wait_for -t 5 resv_is "$me" || fail "not reserved: '$(resv_list)'"
expect_grep "$nbd_log" "e1.0 reserved for this host ($me)"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
assert h.pread(4096, 0) == b"a" * 4096'
kill -USR1 "$nbd_pid"
wait_for -t 10 grep -q "e1.0: reserve (--reserve): held" "$nbd_log" ||
    fail "SIGUSR1: no reserve state"

say "vblade restarted (its list forgotten): reserved again"
stop_vblade "$vblade_pid"
expect_resv "" "no vblade"
start_vblade 1 0 "$tmpdir/disk.img"
wait_for -t 10 resv_is "$me" ||
    fail "not reserved again after the restart: '$(resv_list)'"

say "another host holds it: our I/O fails, we do not take it over"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$other"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
import errno
try:
    h.pread(4096, 0)
    raise AssertionError("read a disk reserved for another host")
except nbd.Error as e:
    assert e.errnum == errno.EPERM, e
print("refused: EPERM")'
expect_grep "$tmpdir/out" "refused: EPERM"
wait_for -t 5 grep -q "e1.0 is reserved for another host ($other)" \
    "$nbd_log" || fail "no warning naming the other host"
sleep 1.5
expect_resv "$other" "after our refused claim"

say "the admin gives it to this host (aoectl fset): I/O works again"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset
expect_resv "$me" "after aoectl fset"
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
assert h.pread(4096, 0) == b"a" * 4096'

say "the admin releases it (aoectl release): taken again"
expect_status 0 aoectl "${A[@]}" reserve e1.0 release
t0=$(now_s)
wait_for -t 10 resv_is "$me" || fail "not taken again: '$(resv_list)'"
say "taken again after $(elapsed_since "$t0") s (discovery every 1 s)"
wait_for -t 5 eval '[ "$(grep -c "e1.0 reserved for this host" "$nbd_log")" = 2 ]' ||
    fail "taken again without a word"

say "SIGTERM: released before it exits"
nbd_alive
stop_aoe_nbd
expect_resv "" "after aoe-nbd exited"
expect_grep "$nbd_log" "e1.0 released"

say "--run: reserved while the command runs, released when it ends"
expect_status 0 aoe-nbd "${A[@]}" --reserve --run "$nbd_python -m nbd -u \"\$uri\" -c 'h.pread(512, 0)'
aoectl ${A[*]} reserve e1.0 read" e1.0
[ "$(tr 'A-F' 'a-f' <"$tmpdir/out")" = "$me" ] ||
    fail "--run: not reserved while the command ran"
expect_resv "" "after aoe-nbd --run"

say "-s (one client on stdin/stdout): released when the client leaves"
export LAN_IF=$lan_if
expect_status 0 "$nbd_python" -c '
import nbd, os, subprocess
h = nbd.NBD()
h.connect_command(["aoe-nbd", "-s", "-I", os.environ["LAN_IF"], "-w", "1",
                   "--reserve", "e1.0"])
h.pread(512, 0)
print(subprocess.run(["aoectl", "-I", os.environ["LAN_IF"], "-w", "1",
                      "reserve", "e1.0", "read"], capture_output=True,
                     text=True).stdout.strip().lower())
h.shutdown()
del h'
[ "$(cat "$tmpdir/out")" = "$me" ] || fail "-s: not reserved while serving"
wait_for -t 10 resv_is "" || fail "-s: not released: '$(resv_list)'"

say "without --reserve: nothing reserved"
start_aoe_nbd "${A[@]}" e1.0
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
h.pwrite(b"b" * 4096, 0)
h.flush()'
sleep 0.5
expect_resv "" "without --reserve"
stop_aoe_nbd

say "SIGKILL: the reservation stays (documented); aoectl clears it"
start_aoe_nbd "${A[@]}" --reserve e1.0
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
h.pread(4096, 0)'
wait_for -t 5 resv_is "$me" || fail "not reserved: '$(resv_list)'"
kill -KILL "$nbd_pid"
wait "$nbd_pid" 2>/dev/null || :
expect_resv "$me" "after SIGKILL"
expect_status 0 aoectl "${A[@]}" reserve e1.0 release
expect_resv "" "after aoectl reserve release"

say "two vblades serving one file on two LANs (a list each): reserved on both"
if1=$lan_if
setup_lan
if2=$lan_if
start_vblade 1 0 "$tmpdir/disk.img"
lan_if=$if1
me2=$(if_mac "$if2")
start_aoe_nbd -I "$if1,$if2" --reserve e1.0
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
h.pread(4096, 0)'
wait_for -t 10 resv_is "$me $me2" "$if1" ||
    fail "not reserved through $if1 for both our MACs"
wait_for -t 10 resv_is "$me $me2" "$if2" ||
    fail "not reserved through $if2 for both our MACs"
stop_aoe_nbd
resv_is "" "$if1" || fail "not released through $if1"
resv_is "" "$if2" || fail "not released through $if2"

requires_fuse
say "aoe-fuse --reserve: reserved at the first open, released at unmount"
file=$tmpdir/file
: >"$file"
start_fuse "$file" "${A[@]}" --reserve e1.0 "$file"
fpid=$fuse_pid
dev=$(fuse_dev "$file")
sleep 0.5
expect_resv "" "aoe-fuse before an open"
dd if="$file" of=/dev/null bs=4096 count=1 status=none ||
    fail "read through FUSE"
wait_for -t 5 resv_is "$me" || fail "aoe-fuse: not reserved: '$(resv_list)'"
fusermount3 -u "$file" || fail "fusermount3 -u"
unmounted_exit "$dev" "$fpid"
expect_resv "" "after aoe-fuse exited"

say "aoe-fuse -o reserve, another host holds it: EACCES"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$other"
start_fuse "$file" "${A[@]}" -o reserve e1.0 "$file"
fpid=$fuse_pid
dev=$(fuse_dev "$file")
! dd if="$file" of=/dev/null bs=4096 count=1 iflag=direct status=none \
    2>"$tmpdir/dd.err" || fail "read a disk reserved for another host"
sed 's/^/  dd| /' "$tmpdir/dd.err"
grep -q "Permission denied" "$tmpdir/dd.err" || fail "not EACCES"
fusermount3 -u "$file" || fail "fusermount3 -u"
unmounted_exit "$dev" "$fpid"
expect_resv "$other" "the other host's, after aoe-fuse exited"
say "ok"
