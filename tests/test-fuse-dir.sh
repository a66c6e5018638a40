#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse directory form: one file per target (several shelves and slots),
# opening a file not there with O_CREAT is ENOENT (nothing is created),
# a target started later appears, a read-only target is mode 0400 and
# refuses writes with EROFS, and a target that vanishes (vblade killed)
# fails I/O with EIO within the dead timeout instead of hanging, while the
# others keep working.  Ends with SIGTERM: clean unmount.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires dd cmp timeout python3
DEAD=3

setup_lan
for t in 1.0 1.1 2.0 3.0; do
	truncate -s 32M "$tmpdir/b$t.img"
done
start_vblade 1 0 "$tmpdir/b1.0.img"
start_vblade 1 1 "$tmpdir/b1.1.img"
vb11=$vblade_pid
start_vblade 2 0 "$tmpdir/b2.0.img"

mnt=$tmpdir/mnt
mkdir "$mnt"
start_fuse "$mnt" -I "$lan_if" --dead-timeout $DEAD --discover-interval 1 \
    "$mnt"

list=$(cd "$mnt" && echo *)
say "files: $list"
[ "$list" = "e1.0 e1.1 e2.0" ] || fail "expected e1.0 e1.1 e2.0, got '$list'"
set -- $(stat -c '%a %s' "$mnt" "$mnt/e1.0")
[ "$1" = 500 ] || fail "directory mode $1, expected 500"
[ "$3" = 600 ] && [ "$4" = $((32 * 1048576)) ] ||
    fail "e1.0: mode $3 size $4"

# Distinct data on each target, checked against each backing file.
for t in 1.0 1.1 2.0; do
	make_pattern "$tmpdir/p$t" 4
	dd if="$tmpdir/p$t" of="$mnt/e$t" bs=64k seek=$((RANDOM % 64)) \
	    conv=notrunc,fsync status=none || fail "write e$t failed"
done
for t in 1.0 1.1 2.0; do
	dd if="$mnt/e$t" bs=1M iflag=direct status=none |
	    cmp - "$tmpdir/b$t.img" || fail "e$t differs from its backing file"
done
say "three targets written and read back"

# Before e3.0 answers, a writer that opens it with O_CREAT (dd) learns
# that it is not there (ENOENT), as does one that names no target; nothing
# is created.  Before aoe-fuse answered the kernel's CREATE, libfuse said
# ENOSYS: "Function not implemented".
for name in e3.0 foo; do
	st=0
	dd if=/dev/zero of="$mnt/$name" bs=4k count=1 conv=notrunc \
	    status=none 2>"$tmpdir/create.err" || st=$?
	[ "$st" != 0 ] || fail "O_CREAT of $name succeeded"
	grep -q 'No such file or directory' "$tmpdir/create.err" ||
	    fail "O_CREAT of $name: $(cat "$tmpdir/create.err")" \
	    "(expected ENOENT)"
done
[ "$(cd "$mnt" && echo *)" = "e1.0 e1.1 e2.0" ] ||
    fail "files after O_CREAT: $(cd "$mnt" && echo *)"
say "O_CREAT of a file not there: ENOENT"

# A target that appears after the mount (read-only vblade).  AoE has no
# read-only flag: the first write is refused (ATA ABRT -> EROFS), and from
# then on the file is mode 0400 and opening it for writing fails with EROFS.
start_vblade 3 0 "$tmpdir/b3.0.img" -r
wait_for -t 10 test -e "$mnt/e3.0" || fail "e3.0 did not appear"
say "e3.0 appeared, mode $(stat -c %a "$mnt/e3.0")"
python3 - "$mnt/e3.0" <<'PY' || fail "read-only target accepted a write"
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.pwrite(fd, b"x" * 4096, 0)
except OSError as e:
    print("first write:", os.strerror(e.errno))
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
PY
mode=$(stat -c %a "$mnt/e3.0")
[ "$mode" = 400 ] || fail "read-only target: mode $mode, expected 400"
python3 - "$mnt/e3.0" <<'PY' || fail "read-only target opened for writing"
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDWR)
except OSError as e:
    print("open for writing:", os.strerror(e.errno))
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
PY
dd if="$mnt/e3.0" bs=1M count=1 status=none | cmp -n 1048576 - \
    "$tmpdir/b3.0.img" || fail "read-only target unreadable"

# Kill e1.1's vblade: I/O on it fails with EIO after about DEAD seconds.
stop_vblade "$vb11"
t0=$(now_s)
st=0
timeout 30 dd if="$mnt/e1.1" of=/dev/null bs=4k count=1 skip=5000 \
    iflag=direct 2>"$tmpdir/dd.err" || st=$?
took=$(elapsed_since "$t0")
say "read from dead e1.1: status $st after ${took}s:" \
    "$(head -n 1 "$tmpdir/dd.err")"
[ "$st" != 124 ] || fail "read from a dead target hung"
[ "$st" != 0 ] || fail "read from a dead target succeeded"
grep -q 'Input/output error' "$tmpdir/dd.err" || fail "expected EIO"
awk -v t="$took" -v d=$DEAD 'BEGIN { exit !(t <= d + 3) }' ||
    fail "EIO after ${took}s, dead timeout ${DEAD}s"
# Now dead: at once.
t0=$(now_s)
st=0
timeout 10 dd if="$mnt/e1.1" of=/dev/null bs=4k count=1 iflag=direct \
    2>/dev/null || st=$?
[ "$st" != 0 ] && [ "$st" != 124 ] || fail "second read: status $st"
say "second read failed after $(elapsed_since "$t0")s"
# The others still work.
dd if="$mnt/e1.0" bs=1M iflag=direct status=none |
    cmp - "$tmpdir/b1.0.img" || fail "e1.0 broken after e1.1 died"

# SIGTERM: clean unmount and exit.
kill -TERM "$fuse_pid"
wait_gone -t 10 "$fuse_pid" || fail "aoe-fuse did not exit on SIGTERM"
! is_mounted "$mnt" || fail "still mounted after SIGTERM"
say "ok"
