#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse as an ordinary user: a copy of the binary with cap_net_raw, a
# test user (created if absent), mounting through fusermount3.  Both forms:
# mount, read, write, unmount with fusermount3 -u; the bytes reach vblade;
# SIGKILL leaves no stale mount.
# Without the capability: exit 4.  A root mount is closed to the user
# unless -o allow_other, and then the file mode rules.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires useradd userdel setcap getcap runuser dd cmp timeout
TUSER=aoefuse-test

setup_lan
backing=$tmpdir/backing.img
truncate -s 64M "$backing"
start_vblade 1 0 "$backing"

if ! id -u "$TUSER" >/dev/null 2>&1; then
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$TUSER" ||
	    skip_or_fail "cannot create user $TUSER"
	cleanup_fn userdel "$TUSER"
fi
uid=$(id -u "$TUSER")
gid=$(id -g "$TUSER")

# fusermount3 opens /dev/fuse with the user's file-system uid: distributions
# make it 0666 (udev's default rule).  A bare VM without udev may have 0600;
# open it up for the test and put the old mode back afterwards.
if ! runuser -u "$TUSER" -- test -r /dev/fuse -a -w /dev/fuse; then
	devmode=$(stat -c %a /dev/fuse)
	chmod 666 /dev/fuse || skip_or_fail "/dev/fuse not usable by $TUSER"
	cleanup_fn chmod "$devmode" /dev/fuse
	say "note: /dev/fuse was mode $devmode;" \
	    "666 (the udev default) for this test"
fi

# A directory the user can reach whatever the build tree's permissions.
udir=$(mktemp -d /tmp/aoefuse-user.XXXXXX)
cleanup_fn rm -rf "$udir"
chmod 755 "$udir"
bin=$(command -v aoe-fuse)
cp "$bin" "$udir/aoe-fuse"
chmod 755 "$udir/aoe-fuse"
setcap cap_net_raw+ep "$udir/aoe-fuse" ||
    skip_or_fail "setcap failed (file system without capabilities?)"
say "$(getcap "$udir/aoe-fuse")"

as_user()
{
	runuser -u "$TUSER" -- "$@"
}

mkdir "$udir/run"
chown "$uid:$gid" "$udir/run"
make_pattern "$udir/pattern" 8
chmod 644 "$udir/pattern"

# ------------------------------------------------ directory form
mnt=$udir/mnt
mkdir "$mnt"
chown "$uid:$gid" "$mnt"
cleanup_fn _fuse_stop "$mnt" "$udir/run/pid1"
st=0
timeout 30 runuser -u "$TUSER" -- "$udir/aoe-fuse" --pidfile="$udir/run/pid1" \
    -I "$lan_if" "$mnt" </dev/null 2>"$tmpdir/err1" || st=$?
sed 's/^/  err| /' "$tmpdir/err1"
[ "$st" = 0 ] || fail "aoe-fuse as $TUSER exited with $st"
is_mounted "$mnt" || fail "$mnt not mounted"
pid=$(cat "$udir/run/pid1")
say "mounted by $TUSER:" \
    "$(awk -v p="$mnt" '$2 == p { print $1, $3, $4 }' /proc/self/mounts)"
[ "$(stat -c %u "/proc/$pid")" = "$uid" ] || fail "daemon not running as $TUSER"

# Readahead is root's to set: the kernel's stays, nothing is said.
ra=$(cat "/sys/class/bdi/$(fuse_dev "$mnt")/read_ahead_kb")
say "read_ahead_kb of $TUSER's mount: $ra"
[ "$ra" = 128 ] || fail "read_ahead_kb $ra: expected the kernel's 128"
! grep -q read_ahead "$tmpdir/err1" || fail "a readahead warning by default"

set -- $(as_user stat -c '%a %u %s' "$mnt/e1.0")
[ "$1" = 600 ] && [ "$2" = "$uid" ] && [ "$3" = $((64 * 1048576)) ] ||
    fail "e1.0: mode $1 owner $2 size $3"
as_user dd if="$udir/pattern" of="$mnt/e1.0" bs=1M seek=3 conv=notrunc,fsync \
    status=none || fail "write as $TUSER failed"
cmp -n $((8 * 1048576)) -i 0:$((3 * 1048576)) "$udir/pattern" "$backing" ||
    fail "backing file differs after the user's write"
as_user dd if="$mnt/e1.0" bs=1M skip=3 count=8 iflag=direct status=none |
    cmp - "$udir/pattern" || fail "read as $TUSER differs"
# Nobody else (not even root) gets in without allow_other.
! dd if="$mnt/e1.0" of=/dev/null count=1 status=none 2>/dev/null ||
    fail "root could read another user's mount without allow_other"
dev=$(fuse_dev "$mnt")
timeout 10 runuser -u "$TUSER" -- fusermount3 -u "$mnt" ||
    fail "fusermount3 -u as $TUSER failed"
unmounted_exit "$dev" "$pid"
! is_mounted "$mnt" || fail "still mounted"
say "directory form as $TUSER: ok"

# ------------------------------------------------ single-file form
file=$udir/disk
: >"$file"
chown "$uid:$gid" "$file"
cleanup_fn _fuse_stop "$file" "$udir/run/pid2"
st=0
timeout 30 runuser -u "$TUSER" -- "$udir/aoe-fuse" --pidfile="$udir/run/pid2" \
    -I "$lan_if" -o read_ahead_kb=2048 e1.0 "$file" </dev/null \
    2>"$tmpdir/err2" || st=$?
sed 's/^/  err| /' "$tmpdir/err2"
[ "$st" = 0 ] || fail "aoe-fuse e1.0 FILE as $TUSER exited with $st"
is_mounted "$file" || fail "$file not mounted"
# Asked for, it cannot be had: a warning, and the mount works anyway.
expect_grep "$tmpdir/err2" "cannot set read_ahead_kb=2048"
pid=$(cat "$udir/run/pid2")
as_user dd if="$udir/pattern" of="$file" bs=64k seek=1 conv=notrunc,fsync \
    status=none || fail "write as $TUSER failed"
cmp -n $((8 * 1048576)) -i 0:65536 "$udir/pattern" "$backing" ||
    fail "backing file differs after the user's write (single form)"
as_user dd if="$file" bs=64k skip=1 count=128 status=none |
    cmp - "$udir/pattern" || fail "read as $TUSER differs (single form)"
dev=$(fuse_dev "$file")
timeout 10 runuser -u "$TUSER" -- fusermount3 -u "$file" ||
    fail "fusermount3 -u as $TUSER failed"
unmounted_exit "$dev" "$pid"
say "single-file form as $TUSER: ok"

# ------------------------------------------------ SIGKILL: no stale mount
# fusermount3's auto_unmount opens the mount point as root to see whether
# its daemon is gone: without allow_other that is EACCES (libfuse 3.14),
# and it used to leave the user's dead mount behind.
cleanup_fn _fuse_stop "$file" "$udir/run/pid5"
st=0
timeout 30 runuser -u "$TUSER" -- "$udir/aoe-fuse" --pidfile="$udir/run/pid5" \
    -I "$lan_if" e1.0 "$file" </dev/null 2>"$tmpdir/err5" || st=$?
sed 's/^/  err| /' "$tmpdir/err5"
[ "$st" = 0 ] || fail "aoe-fuse e1.0 FILE as $TUSER exited with $st"
pid=$(cat "$udir/run/pid5")
as_user dd if="$file" of=/dev/null bs=64k count=1 status=none ||
    fail "read as $TUSER failed"
kill -KILL "$pid"
wait_for -t 10 pid_gone "$pid" || fail "SIGKILL: still running"
wait_for -t 10 eval '! is_mounted "$file"' ||
    fail "stale mount left after SIGKILL of $TUSER's aoe-fuse"
say "SIGKILL of $TUSER's aoe-fuse: the mount went"

# ------------------------------------------------ no CAP_NET_RAW: exit 4
cp "$bin" "$udir/aoe-fuse-nocap"
chmod 755 "$udir/aoe-fuse-nocap"
st=0
timeout 30 runuser -u "$TUSER" -- "$udir/aoe-fuse-nocap" -I "$lan_if" \
    "$mnt" </dev/null 2>"$tmpdir/err3" || st=$?
sed 's/^/  err| /' "$tmpdir/err3"
[ "$st" = 4 ] || fail "without CAP_NET_RAW: exit $st, expected 4"
grep -q 'setcap cap_net_raw+ep' "$tmpdir/err3" ||
    fail "no hint about setcap in the message"
! is_mounted "$mnt" || fail "mounted without CAP_NET_RAW"

# ------------------------------------------------ allow_other (root mounts)
rmnt=$udir/rootmnt
mkdir "$rmnt"
start_fuse "$rmnt" -I "$lan_if" "$rmnt"
! as_user dd if="$rmnt/e1.0" of=/dev/null count=1 status=none 2>/dev/null ||
    fail "$TUSER read root's mount without allow_other"
stop_fuse "$rmnt" "$fuse_pid"
start_fuse "$rmnt" -I "$lan_if" -o allow_other,mode=0644 "$rmnt"
as_user dd if="$rmnt/e1.0" bs=1M count=8 status=none |
    cmp -n $((8 * 1048576)) - "$backing" ||
    fail "allow_other: $TUSER cannot read"
! as_user dd if=/dev/zero of="$rmnt/e1.0" count=1 conv=notrunc \
    status=none 2>/dev/null || fail "allow_other: $TUSER wrote a 0644 file"
stop_fuse "$rmnt" "$fuse_pid"
say "allow_other with mode 0644: $TUSER reads, cannot write"
say "ok"
