#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Least privilege: once their links (sockets, mounts) are open, aoe-nbd,
# aoe-fuse and aoectl hold no capability at all (CapInh, CapPrm, CapEff,
# CapAmb 0 in /proc/PID/status; CapBnd 0 as root, where dropping it is
# allowed), and with -u nobody (-g nogroup) run as that user and group,
# while still serving; a uid with no passwd entry needs -g.  Also the safe
# defaults: NBD on loopback only, Unix sockets and FUSE files mode 0600
# owned by the right user, a root FUSE mount removed
# at exit although the daemon kept no CAP_SYS_ADMIN, aoe-fuse's pid file
# removed (emptied as nobody, who may not remove it).
nbd_test_timeout=240
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fuse-functions.sh"

requires aoe-nbd aoectl nbdinfo nbdcopy cmp setpriv ss stat ps
requires_root
id nobody >/dev/null 2>&1 || skip_or_fail "no user nobody"
getent group nogroup >/dev/null || skip_or_fail "no group nogroup"
nobody_uid=$(id -u nobody)
nogroup_gid=$(getent group nogroup | cut -d: -f3)
as_nobody=(setpriv --reuid="$nobody_uid" --regid="$nogroup_gid" --clear-groups)

setup_lan
make_image "$tmpdir/d0.img" 8
start_vblade 1 0 "$tmpdir/d0.img"

# status_field PID FIELD: the value of FIELD in /proc/PID/status.
status_field()
{
	awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status"
}

# expect_no_caps PID NAME [bounding]: no capability in any set; the
# bounding set too unless the third argument is "keep-bounding".
expect_no_caps()
{
	local pid=$1 name=$2 bnd=${3:-} set v
	for set in CapInh CapPrm CapEff CapAmb CapBnd; do
		v=$(status_field "$pid" "$set") ||
		    fail "$name: cannot read /proc/$pid/status"
		if [ "$set" = CapBnd ] && [ "$bnd" = keep-bounding ]; then
			continue
		fi
		[ "$v" = 0000000000000000 ] ||
		    fail "$name (pid $pid): $set is $v, expected 0"
	done
	if [ "$bnd" = keep-bounding ]; then
		set="CapInh CapPrm CapEff CapAmb all 0 (CapBnd kept)"
	else
		set="CapInh CapPrm CapEff CapAmb CapBnd all 0"
	fi
	say "$name (pid $pid): $set;" \
	    "Uid $(status_field "$pid" Uid) Gid $(status_field "$pid" Gid)"
}

expect_ids()
{
	local pid=$1 name=$2 uid=$3 gid=$4
	[ "$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "/proc/$pid/status")" = \
	    "$uid$uid$uid$uid" ] || fail "$name: Uid is not $uid everywhere"
	[ "$(awk '$1 == "Gid:" { print $2 $3 $4 $5 }' "/proc/$pid/status")" = \
	    "$gid$gid$gid$gid" ] || fail "$name: Gid is not $gid everywhere"
	[ -z "$(awk '$1 == "Groups:" { print $2 }' "/proc/$pid/status")" ] ||
	    fail "$name: supplementary groups left"
}

# ------------------------------------------------------------ aoe-nbd, root
start_aoe_nbd -I "$lan_if" -w 5 e1.0
expect_no_caps "$nbd_pid" "aoe-nbd as root"
expect_ids "$nbd_pid" "aoe-nbd as root" 0 0
[ "$(status_field "$nbd_pid" NoNewPrivs)" = 1 ] ||
    fail "aoe-nbd: NoNewPrivs is not set"
# The Unix socket: mode 0600, root's.
[ "$(stat -c '%a %u %g' "$nbd_sock")" = "600 0 0" ] ||
    fail "socket is $(stat -c '%a %U %G' "$nbd_sock"), expected 600 root root"
expect_status 0 nbdcopy "$(nbd_uri e1.0)" "$tmpdir/out.img"
cmp "$tmpdir/out.img" "$tmpdir/d0.img" || fail "copy differs"
stop_aoe_nbd

# ------------------------------------------------------------ aoe-nbd, nobody
# Let nobody reach the socket (the scratch directory is root's, 0700).
chmod 711 "$nbd_sockdir"
: >"$nbd_log"
# -u alone: the user's own group as well (root's group was kept).
start_aoe_nbd -I "$lan_if" -w 5 -u nobody e1.0
expect_no_caps "$nbd_pid" "aoe-nbd -u nobody"
expect_ids "$nbd_pid" "aoe-nbd -u nobody" "$nobody_uid" \
    "$(id -g nobody)"
[ "$(stat -c '%a %u %g' "$nbd_sock")" = "600 $nobody_uid $(id -g nobody)" ] ||
    fail "socket is $(stat -c '%a %U %G' "$nbd_sock")," \
    "expected 600 nobody $(id -gn nobody)"
# Served to nobody (whose socket it is) ...
expect_status 0 "${as_nobody[@]}" nbdinfo --size "$(nbd_uri e1.0)"
expect_grep "$tmpdir/out" 8388608
# ... and not to another ordinary user (mode 0600).
expect_status 1 setpriv --reuid=1 --regid=1 --clear-groups \
    nbdinfo --size "$(nbd_uri e1.0)"
# Still serving at full speed: copies both ways.
expect_status 0 nbdcopy "$(nbd_uri e1.0)" "$tmpdir/out2.img"
cmp "$tmpdir/out2.img" "$tmpdir/d0.img" || fail "copy differs"
make_image "$tmpdir/in.img" 8
expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$(nbd_uri e1.0)"
cmp "$tmpdir/in.img" "$tmpdir/d0.img" || fail "backing file differs"
nbd_alive
expect_no_caps "$nbd_pid" "aoe-nbd -u nobody (after serving)"
stop_aoe_nbd
chmod 700 "$nbd_sockdir"

# Bad users and groups are usage errors.
expect_status 2 aoe-nbd -I "$lan_if" -u no-such-user-$$ e1.0
expect_status 2 aoe-nbd -I "$lan_if" -g no-such-group-$$ e1.0
# A uid not in the passwd file has no group to take: -g is needed.
uid=54321
while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
expect_status 2 aoe-nbd -I "$lan_if" -u "$uid" e1.0
expect_grep "$tmpdir/err" "not in the passwd file: give its group with -g"
expect_status 2 aoe-fuse -I "$lan_if" -u "$uid" e1.0 "$tmpdir/f0"
expect_grep "$tmpdir/err" "not in the passwd file: give its group with -g"

# ------------------------------------------------------------ TCP default
port=$(free_tcp_port)
pidf=$nbd_sockdir/tcp.pid
aoe-nbd -f -P "$pidf" -I "$lan_if" -w 5 -p "$port" e1.0 </dev/null \
    >>"$nbd_log" 2>&1 &
nbd_pid=$!
cleanup_fn _kill_wait "$nbd_pid"
wait_for -t 10 test -s "$pidf" || fail "aoe-nbd on TCP did not start"
ss -Hltn "sport = :$port" >"$tmpdir/ss"
cat "$tmpdir/ss"
[ "$(awk '{ print $4 }' "$tmpdir/ss")" = "127.0.0.1:$port" ] ||
    fail "aoe-nbd listens on $(awk '{ print $4 }' "$tmpdir/ss" | xargs)," \
    "not only on 127.0.0.1:$port"
expect_no_caps "$nbd_pid" "aoe-nbd on TCP"
expect_status 0 nbdinfo --size "nbd://127.0.0.1:$port/e1.0"
stop_aoe_nbd

# ------------------------------------------------------------ aoectl
# A target that never answers keeps aoectl waiting: look at it meanwhile.
aoectl -I "$lan_if" -w 6 stat e9.9 >"$tmpdir/ctl.out" 2>&1 &
ctl=$!
cleanup_fn _kill_wait "$ctl"
sleep 2
expect_no_caps "$ctl" "aoectl stat (waiting)"
[ "$(status_field "$ctl" NoNewPrivs)" = 1 ] ||
    fail "aoectl: NoNewPrivs is not set"
st=0
wait "$ctl" || st=$?
[ "$st" = 3 ] || fail "aoectl exited with $st, expected 3"
expect_status 0 aoectl -I "$lan_if" -w 2 stat e1.0
expect_grep "$tmpdir/out" "e1.0"

# ------------------------------------------------------------ aoe-fuse
if ! command -v fusermount3 >/dev/null 2>&1 || [ ! -c /dev/fuse ] ||
    ! grep -qw fuse /proc/filesystems; then
	skip_or_fail "no FUSE (fusermount3, /dev/fuse)"
fi
fuse_watchdog 200

# Root, single-file form: a helper keeps CAP_SYS_ADMIN alone, so the
# mount goes away at exit although the daemon has no capability.
file=$tmpdir/f0
: >"$file"
start_fuse "$file" -I "$lan_if" -w 5 e1.0 "$file"
expect_no_caps "$fuse_pid" "aoe-fuse as root"
expect_ids "$fuse_pid" "aoe-fuse as root" 0 0
[ "$(stat -c '%a %u %g' "$file")" = "600 0 0" ] ||
    fail "FUSE file is $(stat -c '%a %U %G' "$file"), expected 600 root root"
cmp "$file" "$tmpdir/d0.img" || fail "FUSE file differs from the backing file"
helper=$(ps -o pid=,comm= --ppid "$fuse_pid" |
    awk '$2 == "aoe-umount" { print $1 }')
[ -n "$helper" ] || fail "no unmount helper"
[ "$(status_field "$helper" CapEff)" = 0000000000200000 ] ||
    fail "unmount helper: CapEff $(status_field "$helper" CapEff)," \
    "expected CAP_SYS_ADMIN only"
[ "$(status_field "$helper" CapBnd)" = 0000000000200000 ] ||
    fail "unmount helper: CapBnd $(status_field "$helper" CapBnd)"
say "unmount helper $helper: CAP_SYS_ADMIN only"
kill -TERM "$fuse_pid"
wait_gone -t 15 "$fuse_pid" || fail "aoe-fuse did not exit on SIGTERM"
! is_mounted "$file" || fail "still mounted after SIGTERM"
pid_gone "$helper" || fail "the unmount helper is still there"
[ ! -e "$tmpdir/aoe-fuse-$fuse_count.pid" ] ||
    fail "aoe-fuse as root left its pid file"
say "aoe-fuse as root: SIGTERM unmounted, pid file removed"

# -u nobody -g nogroup: mounted as root, served as nobody.
file=$tmpdir/f1
: >"$file"
start_fuse "$file" -I "$lan_if" -w 5 -u nobody -g nogroup e1.0 "$file"
expect_no_caps "$fuse_pid" "aoe-fuse -u nobody -g nogroup"
expect_ids "$fuse_pid" "aoe-fuse -u nobody" "$nobody_uid" "$nogroup_gid"
make_image "$tmpdir/in2.img" 8
dd if="$tmpdir/in2.img" of="$file" bs=1M conv=notrunc,fsync status=none ||
    fail "cannot write the FUSE file"
cmp "$tmpdir/in2.img" "$tmpdir/d0.img" || fail "backing file differs"
cmp "$file" "$tmpdir/d0.img" || fail "FUSE file differs"
stop_fuse "$file" "$fuse_pid"
# nobody may not remove root's pid file from root's directory: emptied,
# so no stale pid is left for a later kill.
[ ! -s "$tmpdir/aoe-fuse-$fuse_count.pid" ] ||
    fail "aoe-fuse -u nobody left its pid in its pid file"
say "aoe-fuse -u nobody: written and read, unmounted, pid file emptied"

# An ordinary user (a copy with cap_net_raw+ep): capabilities go; the
# bounding set stays (dropping it needs CAP_SETPCAP); fusermount3 still
# unmounts.
if command -v setcap >/dev/null 2>&1; then
	udir=$(mktemp -d /tmp/aoe-privdrop.XXXXXX)
	cleanup_fn rm -rf "$udir"
	chmod 755 "$udir"
	cp "$(command -v aoe-fuse)" "$udir/aoe-fuse"
	if setcap cap_net_raw+ep "$udir/aoe-fuse" 2>/dev/null &&
	    [ "$(stat -c %a /dev/fuse)" = 666 ]; then
		mkdir "$udir/mnt" "$udir/run"
		chown nobody:nogroup "$udir/mnt" "$udir/run"
		cleanup_fn _fuse_stop "$udir/mnt" "$udir/run/pid"
		expect_status 0 "${as_nobody[@]}" "$udir/aoe-fuse" \
		    --pidfile="$udir/run/pid" -I "$lan_if" -w 3 "$udir/mnt"
		upid=$(cat "$udir/run/pid")
		echo "$upid" >>"$tmpdir/fuse-pids"
		expect_no_caps "$upid" "aoe-fuse as nobody (setcap)" \
		    keep-bounding
		expect_ids "$upid" "aoe-fuse as nobody" "$nobody_uid" \
		    "$nogroup_gid"
		# A copy nobody can read: the build tree may not be
		# (a clone in /root, 0700 on Debian).
		install -m 644 "$tmpdir/d0.img" "$udir/d0.img"
		"${as_nobody[@]}" cmp "$udir/mnt/e1.0" "$udir/d0.img" ||
		    fail "nobody's FUSE file differs"
		# (root itself may not look into nobody's mount.)
		[ "$("${as_nobody[@]}" stat -c '%a %u' "$udir/mnt/e1.0")" = \
		    "600 $nobody_uid" ] ||
		    fail "nobody's FUSE file is not 600 nobody's"
		expect_status 0 "${as_nobody[@]}" fusermount3 -u "$udir/mnt"
		wait_gone -t 10 "$upid" || fail "aoe-fuse (nobody) did not exit"
	else
		say "note: no setcap or /dev/fuse not 0666:" \
		    "no user mount checked"
	fi
fi
say "PASS"
