#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vblade answers ATA ABRT to every write it cannot make to its file: on a
# read-only target (vblade -r), and just as well when a thin image cannot
# grow (its filesystem full; here vblade's RLIMIT_FSIZE).  A target that
# took writes and then refuses one is not read-only: the client gets EIO,
# the export stays writable, for it and for new clients, and writes work
# again as soon as vblade can make them (the limit raised: space freed),
# without a restart.  Before, the first refusal made the target read-only
# until vblade restarted: every later write of every client failed with
# EPERM without reaching vblade, so a qemu guest paused by werror=stop
# could never be resumed, and new clients got a read-only export (qemu:
# "Permission denied").
#
# Then the very first write refused: a thin image on a tmpfs that is full.
# AoE cannot tell that from vblade -r: the target is taken as read-only,
# with a warning that says its store may be full, for --ro-retry only.
# The space freed, a write after that goes to vblade and is taken: the
# target is writable again, for the clients connected before and for new
# ones (one that connected while it was read-only keeps its read-only
# export: NBD's flags are the connection's), and for aoe-fuse, whose file
# turns mode 0444 and back to 0644.  Before, it stayed read-only until
# vblade restarted.
nbd_test_timeout=150
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fuse-functions.sh"

requires aoe-nbd prlimit truncate cmp unshare mount dd stat
requires_root

# image_holds IMAGE C:OFFSET...: IMAGE has 4 KiB of byte C at each OFFSET
# (what the clients wrote).
image_holds()
{
	local img=$1 spec
	shift
	for spec; do
		cmp -n 4096 -i "0:${spec#*:}" \
		    <(head -c 4096 /dev/zero | tr '\0' "${spec%%:*}") "$img" ||
		    fail "the image lacks the write of '${spec%%:*}' at ${spec#*:}"
	done
}
requires_nbdsh
requires_fuse

setup_lan
truncate -s 8M "$tmpdir/thin.img"
# vblade may write the first 4 MiB of its file only (ulimit -f counts
# KiB); SIGXFSZ ignored, so that such a write fails (EFBIG) rather than
# kill it.  Both are inherited through ip netns exec.
trap '' XFSZ
ulimit -S -f 4096
start_vblade 1 0 "$tmpdir/thin.img"
ulimit -S -f unlimited
trap - XFSZ
start_aoe_nbd -I "$lan_if" e1.0

export VBLADE_PID=$vblade_pid
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
import errno, os, subprocess
assert not h.is_read_only()
h.pwrite(b"a" * 4096, 0)
try:
    h.pwrite(b"b" * 4096, 6 << 20)
    raise AssertionError("a write past the file size limit worked")
except nbd.Error as e:
    assert e.errnum == errno.EIO, e
print("refused: EIO")
h.pwrite(b"c" * 4096, 4096)
print("a write within the limit still works")
h2 = nbd.NBD()
h2.connect_uri(h.get_uri())
assert not h2.is_read_only(), "a new client got a read-only export"
h2.pwrite(b"d" * 4096, 8192)
h2.shutdown()
print("a new client: writable")
subprocess.run(["prlimit", "--pid", os.environ["VBLADE_PID"],
    "--fsize=unlimited"], check=True)
h.pwrite(b"b" * 4096, 6 << 20)
h.flush()
print("limit raised: the write works")'
expect_grep "$tmpdir/out" "limit raised: the write works"

image_holds "$tmpdir/thin.img" a:0 c:4096 d:8192 b:6291456
nbd_alive
stop_aoe_nbd

say "the first write refused: a thin image on a full filesystem"
# vblade (e1.1) in a mount namespace of its own (no other job's namespace
# gets a copy of the mount, and it goes with vblade), on a tmpfs of 1 MiB
# filled up; here its files are under /proc/PID/root.
full=$tmpdir/full
mkdir "$full"
vblade_cmd=(unshare -m --propagation private -- sh -c '
	mount -t tmpfs -o size=1m aoe-test-full "$0" &&
	truncate -s 8M "$0/thin.img" &&
	{ dd if=/dev/zero of="$0/fill" bs=4k status=none 2>/dev/null || :; } &&
	exec vblade "$@"' "$full")
start_vblade 1 1 "$full/thin.img"
vblade_cmd=(vblade)
vroot=/proc/$vblade_pid/root
[ "$(stat -c %s "$vroot$full/fill")" -gt 0 ] || fail "tmpfs not filled"
start_aoe_nbd -I "$lan_if" --ro-retry 2 e1.1

export FILL=$vroot$full/fill NBD_PID=$nbd_pid NBD_LOG=$nbd_log
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.1)" -c '
import errno, os, signal, time
assert not h.is_read_only()
def refused(c, what):
    try:
        c.pwrite(b"e" * 4096, 0)
        raise AssertionError(what + ": the write worked")
    except nbd.Error as e:
        assert e.errnum == errno.EPERM, e
refused(h, "full")
t0 = time.monotonic()
print("full: EPERM, taken as read-only")
os.kill(int(os.environ["NBD_PID"]), signal.SIGUSR1)
want = "e1.1: read-only, learnt from 1 refused write: writes fail here for "
while want not in open(os.environ["NBD_LOG"]).read():
    assert time.monotonic() - t0 < 5, "no read-only state on SIGUSR1"
    time.sleep(0.05)
print("SIGUSR1: its counters say read-only, and for how long")
os.remove(os.environ["FILL"])
refused(h, "space freed, read-only learnt")
print("space freed: still refused here, without reaching vblade")
h2 = nbd.NBD()
h2.connect_uri(h.get_uri())
assert h2.is_read_only(), "a client connecting now got a writable export"
while True:
    try:
        h.pwrite(b"e" * 4096, 0)
        break
    except nbd.Error as e:
        assert e.errnum == errno.EPERM, e
        assert time.monotonic() - t0 < 15, "read-only for good"
    time.sleep(0.1)
waited = time.monotonic() - t0
assert waited > 1.5, "taken after %.1f s, before --ro-retry" % waited
h.flush()
print("after %.1f s the write goes to vblade and works" % waited)
h3 = nbd.NBD()
h3.connect_uri(h.get_uri())
assert not h3.is_read_only(), "a new client got a read-only export"
h3.pwrite(b"f" * 4096, 8192)
h3.flush()
h3.shutdown()
print("a new client: writable")
assert h2.is_read_only()
h2.shutdown()'
expect_grep "$tmpdir/out" "a new client: writable"
dumps_ge() { [ "$(grep -c "e1\.1: .* MiB written" "$nbd_log")" -ge "$1" ]; }
kill -USR1 "$nbd_pid"
wait_for -t 10 dumps_ge 2 || fail "aoe-nbd: no second dump on SIGUSR1"
sleep 0.2
[ "$(grep -c "read-only, learnt from\|read-only was learnt" "$nbd_log")" = 1 ] ||
    fail "writable again, but SIGUSR1 still says read-only"
expect_grep "$nbd_log" "e1.1 refused a write (ATA ABRT) before taking any"
expect_grep "$nbd_log" "may as well be full"
expect_grep "$nbd_log" "e1.1 takes writes again"
image_holds "$vroot$full/thin.img" e:0 f:8192
nbd_alive
stop_aoe_nbd

say "aoe-fuse: full again, the file turns read-only, then writable"
dd if=/dev/zero of="$vroot$full/fill" bs=4k status=none 2>/dev/null || :
file=$tmpdir/file
: >"$file"
start_fuse "$file" -I "$lan_if" --ro-retry 2 -o mode=0644 e1.1 "$file"
mode_is()
{
	[ "$(stat -c %a "$file")" = "$1" ]
}
# 4 MiB in: a hole in the image.
! dd if=/dev/zero of="$file" bs=4096 seek=1024 count=1 conv=notrunc \
    status=none 2>"$tmpdir/dd.err" ||
    fail "a write through FUSE to a full store worked"
sed 's/^/  dd| /' "$tmpdir/dd.err"
grep -q "Read-only file system" "$tmpdir/dd.err" ||
    fail "the FUSE write did not fail with EROFS"
wait_for -t 2 mode_is 444 || fail "FUSE file mode $(stat -c %a "$file")," \
    "expected 444 while read-only"
rm "$vroot$full/fill"
t0=$(now_s)
wait_for -t 10 mode_is 644 ||
    fail "FUSE file mode $(stat -c %a "$file"), expected 644 after --ro-retry"
say "mode 0644 again after $(elapsed_since "$t0") s"
head -c 4096 /dev/zero | tr '\0' g |
    dd of="$file" bs=4096 seek=1024 count=1 conv=notrunc,fsync \
    status=none || fail "FUSE write after --ro-retry failed"
cmp -n 4096 -i 0:4194304 <(head -c 4096 /dev/zero | tr '\0' g) \
    "$vroot$full/thin.img" || fail "the FUSE write is not in the image"
say "ok"
