#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The programs as an ordinary user: copies of the binaries in a directory
# the user can reach, first without any capability (exit 4 and a message
# naming the three ways out), then with `setcap cap_net_raw+ep`: aoectl
# finds vblade, aoe-nbd serves on a Unix socket the user owns (nbdinfo,
# nbdcopy), aoe-fuse mounts through fusermount3.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/unpriv-functions.sh"
requires_root
requires setcap getcap setpriv useradd userdel truncate cmp timeout

setup_lan
backing=$tmpdir/backing.img
truncate -s 16M "$backing"
start_vblade 1 0 "$backing"

# ------------------------------------------------------------------ user

unpriv_user aoetest-setcap
# A program with file capabilities runs in secure mode, where ld.so
# refuses the glibc malloc checker of TESTS_ENVIRONMENT with a message:
# drop it (env execs too).
as_user+=(env -u LD_PRELOAD)

# Copies of the programs (file capabilities need a copy anyway: setcap on
# the build tree's binary would outlive the test).
unpriv_dir aoe-unpriv

# expect_noperm PROG: the last command exited 4 with the message naming
# the three ways out (rt_print_noperm).
expect_noperm()
{
	expect_grep "$tmpdir/err" "permission denied"
	expect_grep "$tmpdir/err" "CAP_NET_RAW"
	expect_grep "$tmpdir/err" "run it as root"
	expect_grep "$tmpdir/err" "setcap cap_net_raw+ep $udir/$1"
	expect_grep "$tmpdir/err" "user + network namespace"
	expect_grep "$tmpdir/err" "ip link set VETH netns PID"
	say "$1 without CAP_NET_RAW: exit 4 and the three ways out"
}

# cap_only_net_raw PID: the process runs as the test user and holds no
# effective capability beyond CAP_NET_RAW (bit 13).
cap_only_net_raw()
{
	local st=/proc/$1/status eff
	awk -v u="$uid" '/^Uid:/ { exit !($2 == u && $3 == u) }' "$st" ||
	    fail "pid $1 does not run as $tuser"
	eff=$(awk '/^CapEff:/ { print $2 }' "$st")
	(((0x$eff & ~0x2000) == 0)) ||
	    fail "pid $1 has effective capabilities $eff (more than net_raw)"
	say "pid $1: uid $uid, CapEff $eff"
}

mac=$(lan_target_mac)
expected=$(printf '%10s %15s %-8s %s' e1.0 0.017GB "$lan_if" up)

# ------------------------------------------------------------ aoectl
install_copy aoectl || fail "aoectl not built"
ln -s aoectl "$udir/aoe-stat"

say "aoectl as $tuser without the capability"
expect_status 4 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" stat
expect_noperm aoectl
expect_status 4 "${as_user[@]}" "$udir/aoe-stat" -I "$lan_if"
expect_grep "$tmpdir/err" "setcap cap_net_raw+ep $udir/aoectl"

setcap cap_net_raw+ep "$udir/aoectl" ||
    skip_or_fail "setcap failed (a file system without xattrs?)"
say "$(getcap "$udir/aoectl")"

say "aoectl as $tuser with cap_net_raw+ep finds the target"
expect_status 0 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" -w 2 stat
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/table"
[ "$(cat "$tmpdir/table")" = "$expected" ] ||
    fail "stat printed '$(cat "$tmpdir/table")', expected '$expected'"
expect_status 0 "${as_user[@]}" "$udir/aoe-stat" -I "$lan_if" -w 2
expect_grep "$tmpdir/out" "e1.0"
expect_status 0 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" -w 2 stat -l e1.0
expect_grep "$tmpdir/out" "	macs: $mac"

# Where the capability cannot be had, the message says why instead of
# suggesting what was done already: root whose CAP_NET_RAW was taken away
# (a container run without it), a file capability ignored under
# no_new_privs or on a nosuid file system.  Each exits 4.
say "root without CAP_NET_RAW"
expect_status 4 setpriv --inh-caps=-all --bounding-set=-net_raw -- \
    env -u LD_PRELOAD "$(command -v aoectl)" -I "$lan_if" stat
expect_grep "$tmpdir/err" "runs as root but without CAP_NET_RAW"
expect_grep "$tmpdir/err" "--cap-add"
! grep -q "run it as root" "$tmpdir/err" || fail "root is told to be root"
say "$tuser, cap_net_raw+ep under no_new_privs"
# The inner setpriv, a program of the user's, holds no capability left
# over from the outer one.
expect_status 4 "${as_user[@]}" setpriv --no-new-privs -- \
    "$udir/aoectl" -I "$lan_if" stat
expect_grep "$tmpdir/err" \
    "$udir/aoectl has a file capability, but it was not granted"
expect_grep "$tmpdir/err" "no_new_privs is set"
say "$tuser, cap_net_raw+ep on a nosuid file system"
expect_status 4 unshare --mount --propagation private sh -c '
    mount -t tmpfs -o nosuid,mode=755 none "$1" &&
    cp "$2" "$1/aoectl" && setcap cap_net_raw+ep "$1/aoectl" &&
    shift 2 && exec "$@"' sh "$udir/run" "$udir/aoectl" \
    "${as_user[@]}" "$udir/run/aoectl" -I "$lan_if" stat
expect_grep "$tmpdir/err" "its file system is mounted nosuid"

# Admin commands need nothing more than the raw socket either.
expect_status 0 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" -w 2 \
    config e1.0 fset "unpriv-$$"
expect_status 0 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" -w 2 config e1.0
[ "$(cat "$tmpdir/out")" = "unpriv-$$" ] || fail "config string not set"

# ------------------------------------------------------------ aoe-nbd
if have_prog aoe-nbd && requires nbdinfo nbdcopy; then
	install_copy aoe-nbd
	sock=$udir/run/nbd.sock
	pidf=$udir/run/nbd.pid
	uri="nbd+unix:///e1.0?socket=$sock"

	say "aoe-nbd as $tuser without the capability"
	expect_status 4 "${as_user[@]}" "$udir/aoe-nbd" -f -I "$lan_if" \
	    -U "$sock" e1.0
	expect_noperm aoe-nbd
	[ ! -e "$sock" ] || fail "aoe-nbd left $sock behind"

	setcap cap_net_raw+ep "$udir/aoe-nbd" || fail "setcap aoe-nbd"
	say "$(getcap "$udir/aoe-nbd")"
	say "aoe-nbd as $tuser with cap_net_raw+ep on $sock"
	"${as_user[@]}" "$udir/aoe-nbd" -f -I "$lan_if" -w 5 -U "$sock" \
	    -P "$pidf" </dev/null >"$tmpdir/nbd.log" 2>&1 &
	nbd_pid=$!
	cleanup_fn _kill_wait "$nbd_pid"
	_nbd_up()
	{
		kill -0 "$nbd_pid" 2>/dev/null || return 2
		[ -S "$sock" ] && [ "$(cat "$pidf" 2>/dev/null)" = "$nbd_pid" ]
	}
	wait_for -t 10 _nbd_up || {
		cat "$tmpdir/nbd.log" >&2
		fail "aoe-nbd did not start as $tuser"
	}
	cap_only_net_raw "$nbd_pid"
	set -- $(stat -c '%u %a' "$sock")
	[ "$1" = "$uid" ] && [ "$2" = 600 ] ||
	    fail "$sock: owner $1 mode $2, expected $uid 600"
	say "socket $sock: owner $1, mode $2"

	# Naming the export waits (-w) for the target; then it is listed.
	expect_status 0 "${as_user[@]}" nbdinfo "$uri"
	expect_grep "$tmpdir/out" "export-size: $((16 * 1048576))"
	expect_status 0 "${as_user[@]}" nbdinfo --list \
	    "nbd+unix:///?socket=$sock"
	expect_grep "$tmpdir/out" 'export="e1.0":'
	head -c $((4 * 1048576)) /dev/urandom >"$udir/pattern"
	chmod 644 "$udir/pattern"
	expect_status 0 "${as_user[@]}" nbdcopy "$udir/pattern" "$uri"
	cmp -n $((4 * 1048576)) "$udir/pattern" "$backing" ||
	    fail "vblade's file differs after nbdcopy as $tuser"
	expect_status 0 "${as_user[@]}" nbdcopy "$uri" "$udir/run/copy.img"
	cmp "$udir/run/copy.img" "$backing" ||
	    fail "nbdcopy as $tuser read other bytes than vblade's file"
	# Mode 0600: another ordinary user is turned away.
	if [ "$uid" != 65534 ]; then
		expect_status 1 setpriv --reuid=65534 --regid=65534 \
		    --clear-groups nbdinfo "$uri"
	fi
	kill -TERM "$nbd_pid"
	st=0
	wait "$nbd_pid" || st=$?
	[ "$st" = 0 ] || {
		cat "$tmpdir/nbd.log" >&2
		fail "aoe-nbd exited with $st after SIGTERM"
	}
	say "aoe-nbd as $tuser: ok"
fi

# ------------------------------------------------------------ aoe-fuse
fuse_ok()
{
	requires fusermount3
	[ -c /dev/fuse ] || skip_or_fail "/dev/fuse missing"
	grep -qw fuse /proc/filesystems ||
	    skip_or_fail "no fuse in /proc/filesystems (modprobe fuse)"
}

mounted()
{
	awk -v p="$1" '$2 == p { f = 1 } END { exit !f }' /proc/self/mounts
}

if have_prog aoe-fuse && fuse_ok; then
	install_copy aoe-fuse
	mnt=$udir/mnt
	pidf=$udir/run/fuse.pid
	mkdir "$mnt"
	chown "$uid:$gid" "$mnt"
	# fusermount3 opens /dev/fuse as the user: udev makes it 0666; a bare
	# system without udev may not.
	if ! "${as_user[@]}" test -r /dev/fuse -a -w /dev/fuse; then
		devmode=$(stat -c %a /dev/fuse)
		chmod 666 /dev/fuse || skip_or_fail "/dev/fuse not usable"
		cleanup_fn chmod "$devmode" /dev/fuse
		say "note: /dev/fuse was mode $devmode; 666 for this test"
	fi

	say "aoe-fuse as $tuser without the capability"
	expect_status 4 "${as_user[@]}" "$udir/aoe-fuse" -I "$lan_if" "$mnt"
	expect_noperm aoe-fuse
	! mounted "$mnt" || fail "$mnt mounted after a refusal"

	setcap cap_net_raw+ep "$udir/aoe-fuse" || fail "setcap aoe-fuse"
	say "$(getcap "$udir/aoe-fuse")"
	say "aoe-fuse as $tuser with cap_net_raw+ep, mounted by fusermount3"
	_fuse_cleanup()
	{
		local pid
		pid=$(cat "$pidf" 2>/dev/null) || pid=
		if mounted "$mnt"; then
			fusermount3 -u -z "$mnt" || umount -l "$mnt"
		fi
		[ -z "$pid" ] || kill "$pid"
	}
	cleanup_fn _fuse_cleanup
	expect_status 0 "${as_user[@]}" "$udir/aoe-fuse" -I "$lan_if" -w 5 \
	    --pidfile="$pidf" "$mnt"
	mounted "$mnt" || fail "aoe-fuse returned but $mnt is not mounted"
	fuse_pid=$(cat "$pidf")
	cap_only_net_raw "$fuse_pid"
	say "mount: $(awk -v p="$mnt" '$2 == p { print $1, $3, $4 }' \
	    /proc/self/mounts)"
	set -- $("${as_user[@]}" stat -c '%u %s' "$mnt/e1.0")
	[ "$1" = "$uid" ] && [ "$2" = $((16 * 1048576)) ] ||
	    fail "$mnt/e1.0: owner $1 size $2"
	head -c 65536 /dev/urandom >"$udir/pattern2"
	chmod 644 "$udir/pattern2"
	expect_status 0 "${as_user[@]}" dd if="$udir/pattern2" of="$mnt/e1.0" \
	    bs=64k seek=5 conv=notrunc,fsync status=none
	cmp -n 65536 -i 0:$((5 * 65536)) "$udir/pattern2" "$backing" ||
	    fail "vblade's file differs after the write through FUSE"
	"${as_user[@]}" cat "$mnt/e1.0" | cmp - "$backing" ||
	    fail "$mnt/e1.0 read as $tuser differs from vblade's file"
	expect_status 0 "${as_user[@]}" fusermount3 -u "$mnt"
	exits_on_unmount "$fuse_pid"
	! mounted "$mnt" || fail "$mnt still mounted"
	say "aoe-fuse as $tuser: ok"
fi
say "ok"
