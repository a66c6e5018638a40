#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse file semantics and life cycle: exit statuses, reads and writes
# clipped at the end (short, 0, ENOSPC; O_DIRECT across it: ENOSPC),
# unaligned I/O, fsync as ATA FLUSH (seen in a --trace), fallocate
# zero-range as zeroes, punch-hole and the rest EOPNOTSUPP, O_TRUNC
# ignored, truncate refused, statfs, -o uid/gid/mode, -o ro, -o
# direct_io, SIGINT in the foreground (a file open), SIGKILL leaving no
# stale mount (auto_unmount), and SIGINT/SIGTERM/SIGHUP during start-up
# leaving neither mount nor daemon.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 600

requires_root
requires_fuse
requires dd cmp timeout python3 fallocate truncate tshark

# ------------------------------------------------ usage errors (no network)
expect_status 0 aoe-fuse --help
expect_grep "$tmpdir/out" "usage: aoe-fuse"
expect_grep "$tmpdir/out" "Exit status: 0 mounted"
expect_status 0 aoe-fuse -V
expect_grep "$tmpdir/out" "aoe-fuse "
# A usage error says what is wrong and where help is, not the whole help.
expect_status 2 aoe-fuse
expect_grep "$tmpdir/err" "expected MOUNTPOINT, or TARGET and FILE"
expect_grep "$tmpdir/err" "Try 'aoe-fuse --help'"
! grep -q "usage:" "$tmpdir/err" || fail "the whole help on a usage error"
expect_status 2 aoe-fuse --no-such-option "$tmpdir"
expect_grep "$tmpdir/err" "Try 'aoe-fuse --help'"
expect_status 2 aoe-fuse -I lo --pidfile= "$tmpdir"
expect_grep "$tmpdir/err" "--pidfile needs a file name"
expect_status 2 aoe-fuse -I lo ex1.0 "$tmpdir/nofile"
expect_status 2 aoe-fuse -I lo "$tmpdir/no/such/dir"
expect_status 2 aoe-fuse -I lo e1.0 "$tmpdir"
: >"$tmpdir/f0"
expect_status 2 aoe-fuse -I lo "$tmpdir/f0"
expect_status 2 aoe-fuse -I lo -o mode=999 e1.0 "$tmpdir/f0"
expect_status 2 aoe-fuse -I lo -o uid=no-such-user-here e1.0 "$tmpdir/f0"
expect_status 2 aoe-fuse -I lo -o no_such_mount_option e1.0 "$tmpdir/f0"
expect_status 2 aoe-fuse -I lo -o max_read=100 e1.0 "$tmpdir/f0"
expect_status 2 aoe-fuse -I lo -o max_read=2M e1.0 "$tmpdir/f0"
expect_status 2 aoe-fuse --dead-timeout=abc e1.0 "$tmpdir/f0"

setup_lan
SIZE=$((16 * 1048576))
backing=$tmpdir/backing.img
make_pattern "$backing" 16
cp "$backing" "$tmpdir/model"
start_vblade 1 0 "$backing"

expect_status 2 aoe-fuse -I no-such-if0 e1.0 "$tmpdir/f0"
t0=$(now_s)
expect_status 3 aoe-fuse -I "$lan_if" -w 1 e9.9 "$tmpdir/f0"
say "missing target: exit 3 after $(elapsed_since "$t0")s"
! is_mounted "$tmpdir/f0" || fail "mounted although the target is missing"

# ------------------------------------------------ semantics
file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$lan_if" --trace="$tmpdir/trace.pcap" e1.0 "$file"
[ "$(stat -c %s "$file")" = $SIZE ] || fail "size $(stat -c %s "$file")"
set -- $(stat -f -c '%S %b' "$file")
say "statfs: block size $1, blocks $2"
[ $(($1 * $2)) = $SIZE ] || fail "statfs: $1 * $2 != $SIZE"

python3 - "$file" "$tmpdir/model" $SIZE <<'PY' || fail "file semantics"
import errno, os, random, sys
path, model_path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = bytearray(open(model_path, "rb").read())
fd = os.open(path, os.O_RDWR)
def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)
# reads at and across the end
check(len(os.pread(fd, 100, size - 50)) == 50, "read across the end is short")
check(os.pread(fd, 100, size) == b"", "read at the end returns 0 bytes")
check(os.pread(fd, 100, size + 12345) == b"", "read past the end returns 0")
# writes across and past the end
n = os.pwrite(fd, b"\xa5" * 100, size - 10)
model[size - 10:] = b"\xa5" * 10
check(n == 10, "write across the end is short (%d)" % n)
for off in (size, size + 4096):
    try:
        os.pwrite(fd, b"x", off)
        check(False, "write past the end fails")
    except OSError as e:
        check(e.errno in (errno.ENOSPC, errno.EFBIG),
              "write at %d: %s" % (off, os.strerror(e.errno)))
# O_DIRECT across the end: ENOSPC and nothing written (a short count
# there reaches the writer as EIO, with part of the data written)
dfd = os.open(path, os.O_RDWR | os.O_DIRECT)
import mmap
dbuf = mmap.mmap(-1, 8192)
dbuf.write(b"\x5a" * 8192)
for off, ln in ((size - 4096, 8192), (size - 512, 1024), (size - 100, 200)):
    try:
        n = os.pwrite(dfd, memoryview(dbuf)[:ln], off)
        check(False, "O_DIRECT write of %d at size-%d: %d" % (ln, size - off, n))
    except OSError as e:
        check(e.errno == errno.ENOSPC,
              "O_DIRECT write of %d across the end: %s" % (ln, os.strerror(e.errno)))
check(os.pwrite(dfd, memoryview(dbuf)[:4096], size - 4096) == 4096,
      "O_DIRECT write up to the end")
model[size - 4096:] = b"\x5a" * 4096
os.close(dfd)
# unaligned writes of odd sizes, each read back
rnd = random.Random(7)
for i in range(200):
    ln = rnd.choice([1, 7, 511, 512, 513, 4095, 4097, 65537, 200000])
    off = rnd.randrange(0, size - ln)
    unit = bytes(rnd.getrandbits(8) for _ in range(min(ln, 64)))
    data = (unit * (ln // len(unit) + 1))[:ln]
    if os.pwrite(fd, data, off) != ln:
        check(False, "pwrite %d at %d" % (ln, off))
    model[off:off + ln] = data
    if os.pread(fd, ln, off) != data:
        check(False, "pread back %d at %d" % (ln, off))
check(True, "200 unaligned writes read back")
os.fsync(fd)
check(True, "fsync")
os.close(fd)
# times: a write moves mtime and ctime; utime sets atime and mtime;
# chown and chmod to what they are succeed, to anything else EPERM
import time
st0 = os.stat(path)
time.sleep(0.05)
fd = os.open(path, os.O_RDWR)
os.pwrite(fd, b"t", 4096)
model[4096] = ord("t")
os.close(fd)
st1 = os.stat(path)
check(st1.st_mtime_ns > st0.st_mtime_ns and st1.st_ctime_ns > st0.st_ctime_ns,
      "a write moves mtime and ctime (%d -> %d)" % (st0.st_mtime_ns, st1.st_mtime_ns))
os.utime(path, ns=(1000000000123, 2000000000456))
st2 = os.stat(path)
check(st2.st_atime_ns == 1000000000123 and st2.st_mtime_ns == 2000000000456,
      "utime sets atime and mtime (%d %d)" % (st2.st_atime_ns, st2.st_mtime_ns))
check(st2.st_ctime_ns >= st1.st_ctime_ns, "utime moves ctime")
os.utime(path)
check(os.stat(path).st_mtime_ns >= st1.st_mtime_ns, "utime(NULL): now")
os.chown(path, st2.st_uid, st2.st_gid)
os.chmod(path, st2.st_mode & 0o7777)
check(True, "chown and chmod to the same owner and mode")
for what, f in (("chmod 0644", lambda: os.chmod(path, 0o644)),
                ("chown to another user", lambda: os.chown(path, st2.st_uid + 1, -1))):
    try:
        f()
        check(False, what + " succeeded")
    except OSError as e:
        check(e.errno == errno.EPERM, what + ": " + os.strerror(e.errno))
# O_TRUNC is ignored as on a block device
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
os.close(fd)
st = os.stat(path)
check(st.st_size == size, "O_TRUNC keeps the size (%d)" % st.st_size)
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
check(True, "O_DIRECT open")
os.close(fd)
open(model_path, "wb").write(model)
PY
cmp "$tmpdir/model" "$backing" || fail "backing file differs from the model"
dd if="$file" bs=1M iflag=direct status=none | cmp - "$tmpdir/model" ||
    fail "read back differs from the model"

truncate -s $SIZE "$file" || fail "truncate to the same size failed"
! truncate -s 4096 "$file" 2>/dev/null || fail "truncate to 4096 succeeded"
[ "$(stat -c %s "$file")" = $SIZE ] || fail "truncate changed the size"

# fallocate: zero range writes zeroes; punch hole is refused (no trim in
# AoE: mke2fs and loop discards would have every byte written).
! fallocate -p -o 4097 -l 100000 "$file" 2>"$tmpdir/fa.err" ||
    fail "fallocate --punch-hole succeeded"
# util-linux words EOPNOTSUPP so for the keep-size modes.
expect_grep "$tmpdir/fa.err" "keep size mode is unsupported"
fallocate -z -o 4097 -l 100000 "$file" || fail "fallocate --zero-range failed"
fallocate -z -o 2000000 -l 1500000 "$file" ||
    fail "fallocate --zero-range failed"
fallocate -z -n -o $((SIZE - 1000)) -l 5000 "$file" ||
    fail "zero range (keep size) across the end failed"
python3 - "$tmpdir/model" <<'PY'
import sys
m = bytearray(open(sys.argv[1], "rb").read())
for off, ln in ((4097, 100000), (2000000, 1500000), (len(m) - 1000, 1000)):
    m[off:off + ln] = bytes(ln)
open(sys.argv[1], "wb").write(m)
PY
cmp "$tmpdir/model" "$backing" || fail "fallocate did not zero the ranges"
dd if="$file" bs=1M status=none | cmp - "$tmpdir/model" ||
    fail "cached read after fallocate differs"
! fallocate -o 0 -l 4096 "$file" 2>"$tmpdir/fa.err" ||
    fail "plain fallocate succeeded"
expect_grep "$tmpdir/fa.err" "Operation not supported"
! fallocate -z -o $((SIZE - 10)) -l 100 "$file" 2>/dev/null ||
    fail "zero range growing the file succeeded"
say "fallocate: zero range writes zeroes; punch hole, mode 0 EOPNOTSUPP"

stop_fuse "$file" "$fuse_pid"
flushes=$(tshark -r "$tmpdir/trace.pcap" -Y \
    'aoe.response == 0 && (aoe.ata.cmd == 0xea || aoe.ata.cmd == 0xe7)' \
    2>/dev/null | wc -l)
say "trace: $flushes ATA FLUSH CACHE (EXT) requests"
[ "$flushes" -ge 1 ] || fail "fsync/close sent no ATA FLUSH CACHE"

# ------------------------------------------------ -o uid=,gid=,mode=
start_fuse "$file" -I "$lan_if" -o uid=65534,gid=65534,mode=0640 e1.0 "$file"
set -- $(stat -c '%a %u %g' "$file")
[ "$1 $2 $3" = "640 65534 65534" ] || fail "-o uid,gid,mode: got $*"
stop_fuse "$file" "$fuse_pid"

# ------------------------------------------------ -o ro, -r
for ro in "-o ro" "-r"; do
	start_fuse "$file" -I "$lan_if" $ro e1.0 "$file"
	mode=$(stat -c %a "$file")
	[ "$mode" = 400 ] || fail "$ro: mode $mode"
	python3 - "$file" <<'PY' || fail "$ro: opened for writing"
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDWR)
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
PY
	dd if="$file" bs=1M status=none | cmp - "$tmpdir/model" ||
	    fail "$ro: read differs"
	stop_fuse "$file" "$fuse_pid"
done
say "-o ro and -r: mode 0400, EROFS, reads fine"

# ------------------------------------------------ -o direct_io
start_fuse "$file" -I "$lan_if" -o direct_io e1.0 "$file"
dd if="$tmpdir/model" of="$file" bs=1M seek=1 skip=2 count=3 conv=notrunc \
    status=none || fail "direct_io write failed"
dd if="$tmpdir/model" of="$tmpdir/model" bs=1M seek=1 skip=2 count=3 \
    conv=notrunc status=none
dd if="$file" bs=1M status=none | cmp - "$tmpdir/model" ||
    fail "direct_io read differs"
cmp "$tmpdir/model" "$backing" || fail "direct_io: backing differs"
stop_fuse "$file" "$fuse_pid"

# ------------------------------------------------ -o max_read
# libfuse takes max_read too and refuses INIT unless it is answered with
# the same (it used to be: no mount, exit 0).  -d prints every request and
# reply: a 1 MiB O_DIRECT read must come as eight 128 KiB READs.
aoe-fuse -d -I "$lan_if" -o max_read=131072 e1.0 "$file" 2>"$tmpdir/mr.err" &
mr=$!
cleanup_fn _kill_wait "$mr"
wait_for -t 10 is_mounted "$file" ||
	{ cat "$tmpdir/mr.err" >&2; fail "-o max_read: no mount"; }
dd if="$file" bs=1M skip=5 count=1 iflag=direct status=none >"$tmpdir/mr.out" ||
	fail "-o max_read: O_DIRECT read failed"
dd if="$tmpdir/model" bs=1M skip=5 count=1 status=none |
	cmp - "$tmpdir/mr.out" || fail "-o max_read: read differs"
kill -INT "$mr"
st=0
wait "$mr" || st=$?
[ "$st" = 0 ] || { tail -n 20 "$tmpdir/mr.err" >&2; fail "-o max_read: exit $st"; }
n128=$(grep -c "success, outsize: 131088$" "$tmpdir/mr.err")
big=$(awk '/success, outsize: / && $NF > 131088' "$tmpdir/mr.err" | wc -l)
[ "$n128" -ge 8 ] && [ "$big" = 0 ] || {
	grep -E "READ|outsize" "$tmpdir/mr.err" | tail -n 20 >&2
	fail "-o max_read=131072: $n128 replies of 128 KiB, $big larger"
}
say "-o max_read=131072: a 1 MiB O_DIRECT read as $n128 READs of 128 KiB"

# ------------------------------------------------ foreground, SIGINT
# holds_file PID FILE: PID has FILE open as its standard input.
holds_file()
{
	[ "$(readlink "/proc/$1/fd/0" 2>/dev/null)" = "$2" ]
}

aoe-fuse -f -I "$lan_if" e1.0 "$file" 2>"$tmpdir/fg.err" &
fg=$!
cleanup_fn _kill_wait "$fg"
wait_for -t 10 is_mounted "$file" || fail "foreground mount did not appear"
dd if="$file" of=/dev/null bs=1M count=1 status=none || fail "fg read"
# A reader keeps the file open across the signal: the mount still goes,
# and libfuse does not try (and fail, saying so) to unmount it again.
sleep 60 <"$file" &
holder=$!
cleanup_fn _kill_wait "$holder"
# Open before the signal: an OPEN that aoe-fuse has not read when SIGINT
# comes is aborted with the connection (ECONNABORTED), and the holder
# gone made the kill below end the test (seen once).
wait_for -t 10 holds_file "$holder" "$file" ||
    fail "the holder did not open $file"
kill -INT "$fg"
st=0
wait "$fg" || st=$?
sed 's/^/  err| /' "$tmpdir/fg.err"
[ "$st" = 0 ] || { cat "$tmpdir/fg.err" >&2; fail "SIGINT: exit $st"; }
! is_mounted "$file" || fail "still mounted after SIGINT"
! grep -q "failed to unmount" "$tmpdir/fg.err" ||
    fail "SIGINT with a file open: a failed unmount reported"
kill "$holder" 2>/dev/null
say "foreground: SIGINT unmounts with a file open, exit 0, no error"

# ------------------------------------------------ SIGKILL: no stale mount
start_fuse "$file" -I "$lan_if" e1.0 "$file"
kill -KILL "$fuse_pid"
wait_for -t 10 pid_gone "$fuse_pid" || fail "SIGKILL: still running"
if ! wait_for -t 10 eval '! is_mounted "$file"'; then
	fail "stale mount left after SIGKILL (auto_unmount)"
fi
say "SIGKILL: auto_unmount removed the mount"

# ------------------------------------------------ start-up interrupted
# A signal to aoe-fuse while it starts (the parent, waiting for the
# daemon it forked to mount) is passed on: the daemon gives up, unmounting
# if it had mounted, and the parent dies of the signal.  Nothing may stay:
# it used to exit at once while the daemon mounted and ran on, orphaned.

# aoe-fuse processes serving PATH (an argument of theirs: our scratch
# paths are ours alone).
fuse_procs_on()
{
	local d
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = aoe-fuse ] || continue
		tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF -- "$1" &&
		    echo "${d#/proc/}"
	done
	return 0
}
no_fuse_procs_on()
{
	[ -z "$(fuse_procs_on "$1")" ]
}

# interrupt_start SIG DELAY MNT ARGS...: aoe-fuse ARGS in the background,
# SIGINT not ignored (as at a terminal), SIG after DELAY seconds.  Sets
# st to its exit status.  A start that got through (0) is left mounted.
interrupt_start()
{
	local sig=$1 delay=$2 mnt=$3 p left
	shift 3
	env --default-signal=INT aoe-fuse "$@" </dev/null \
	    2>>"$tmpdir/int.err" &
	p=$!
	cleanup_fn _kill_wait "$p"
	sleep "$delay"
	kill -"$sig" "$p" 2>/dev/null || true
	wait_gone -t 60 "$p" || fail "SIG$sig at ${delay}s: still running"
	st=0
	wait "$p" || st=$?
	[ "$st" = 0 ] && return 0
	left=$(fuse_procs_on "$mnt")
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null
		fail "SIG$sig at ${delay}s: exit $st, daemon $left left running"
	fi
	! is_mounted "$mnt" ||
	    fail "SIG$sig at ${delay}s: exit $st, $mnt still mounted"
}

dir=$tmpdir/dir
mkdir "$dir"
: >"$tmpdir/int.err"
cleanup_fn _fuse_stop "$dir" /dev/null
cleanup_fn _fuse_stop "$file" /dev/null
# While it waits for targets (-w 3: the tester's case), and at once.
for sig in TERM INT HUP; do
	interrupt_start $sig 0.5 "$dir" -I "$lan_if" -w 3 "$dir"
	want=$((128 + $(kill -l $sig)))
	[ "$st" = "$want" ] ||
	    fail "SIG$sig while looking for targets: exit $st, expected $want"
	say "SIG$sig while looking for targets: exit $st, nothing left"
done
interrupt_start TERM 0 "$dir" -I "$lan_if" -w 3 "$dir"
[ "$st" = 143 ] || fail "SIGTERM at once: exit $st, expected 143"
# Around the mount: either it was ready first (0: mounted, a daemon runs)
# or it was interrupted (143: nothing left).  The signal comes at 0 to
# 120 % of the time a start takes here, in 24 steps.
t0=$(now_s)
start_fuse "$file" -I "$lan_if" e1.0 "$file"
took=$(elapsed_since "$t0")
stop_fuse "$file" "$fuse_pid"
say "a start takes ${took}s"
n0=0 n143=0
for delay in $(awk -v t="$took" \
    'BEGIN { for (i = 0; i < 24; i++) printf "%.3f ", t * 1.2 * i / 23 }'); do
	interrupt_start TERM "$delay" "$file" -v -I "$lan_if" \
	    --pidfile="$tmpdir/int.pid" e1.0 "$file"
	case $st in
	0)
		is_mounted "$file" || fail "exit 0 at ${delay}s but no mount"
		stop_fuse "$file" "$(cat "$tmpdir/int.pid")"
		n0=$((n0 + 1))
		;;
	143) n143=$((n143 + 1)) ;;
	*) fail "SIGTERM at ${delay}s: exit $st" ;;
	esac
done
# -v logs each mount: those beyond the n0 were undone by the signal.
mounts=$(grep -c 'mounted on ' "$tmpdir/int.err" || true)
say "SIGTERM around the mount: $n143 interrupted (nothing left;" \
    "$((mounts - n0)) of them after mounting), $n0 mounted first"
# An interrupted daemon's status is not seen: look for its sanitizer.
! grep -E 'Sanitizer|runtime error' "$tmpdir/int.err" ||
    fail "a sanitizer report from an interrupted start"
say "ok"
