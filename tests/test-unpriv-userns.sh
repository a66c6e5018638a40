#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What a rootless container has: an ordinary user creates a user + network
# (+ mount) namespace with `unshare --user --map-root-user --net --mount`,
# root moves one end of a veth pair in, vblade serves on the other end in
# another namespace.  Inside, binaries WITHOUT file capabilities work as
# the namespace's root (CAP_NET_RAW over its own network namespace only):
# aoectl stat, aoe-nbd on a Unix socket, aoe-fuse mounted in the namespace.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/unpriv-functions.sh"
requires_root
requires setpriv unshare nsenter useradd userdel getcap truncate cmp \
    timeout ip

# ------------------------------------------------------------------ user

unpriv_user aoetest-userns

# ------------------------------------------ may this kernel do it at all?

# Distribution switches that forbid unprivileged user namespaces; each
# refusal is named exactly (under CI=true it is a failure).
sysctl_val()
{
	cat "/proc/sys/$1" 2>/dev/null || echo absent
}
v=$(sysctl_val user/max_user_namespaces)
case $v in
absent)	skip_or_fail "kernel without user namespaces" \
	    "(no /proc/sys/user/max_user_namespaces: CONFIG_USER_NS=n)" ;;
0)	skip_or_fail "user.max_user_namespaces = 0 forbids user namespaces" ;;
esac
v=$(sysctl_val user/max_net_namespaces)
[ "$v" != 0 ] ||
    skip_or_fail "user.max_net_namespaces = 0 forbids network namespaces"
# Debian's and Ubuntu's patch (older kernels); absent upstream.
v=$(sysctl_val kernel/unprivileged_userns_clone)
[ "$v" != 0 ] ||
    skip_or_fail "kernel.unprivileged_userns_clone = 0: unprivileged" \
    "users may not create user namespaces here"
# Ubuntu 23.10 and later: AppArmor confines unprivileged user namespaces.
v=$(sysctl_val kernel/apparmor_restrict_unprivileged_userns)
[ "$v" != 1 ] ||
    skip_or_fail "kernel.apparmor_restrict_unprivileged_userns = 1:" \
    "AppArmor denies capabilities in unprivileged user namespaces"
say "user.max_user_namespaces=$(sysctl_val user/max_user_namespaces)" \
    "user.max_net_namespaces=$(sysctl_val user/max_net_namespaces)" \
    "kernel.unprivileged_userns_clone=$(sysctl_val \
    kernel/unprivileged_userns_clone)"
"${as_user[@]}" unshare --user --map-root-user --net --mount true \
    2>"$tmpdir/unshare.err" ||
    skip_or_fail "unshare as $tuser failed: $(cat "$tmpdir/unshare.err")"

# ------------------------------------------------------------ the LAN

setup_lan
backing=$tmpdir/backing.img
truncate -s 16M "$backing"
start_vblade 1 0 "$backing"

# Binaries the user can reach, with no file capability at all.
unpriv_dir aoe-userns

have_prog aoectl || fail "aoectl not built"
install_copy aoectl
say "outside a namespace the same binary, run by $tuser, may not"
expect_status 4 "${as_user[@]}" "$udir/aoectl" -I "$lan_if" stat
expect_grep "$tmpdir/err" "CAP_NET_RAW"

# --------------------------------------------------- the user's namespace

# The user's namespace lives as long as this process; -r maps the user to
# uid 0 inside, --mount gives it a private mount namespace for FUSE.
"${as_user[@]}" unshare --user --map-root-user --net --mount \
    sleep 3600 </dev/null >/dev/null 2>&1 &
ns_pid=$!
cleanup_fn _kill_wait "$ns_pid"
_ns_ready()
{
	# The uid map is written before unshare execs sleep.
	kill -0 "$ns_pid" 2>/dev/null || return 2
	[ "$(readlink "/proc/$ns_pid/ns/net")" != \
	    "$(readlink /proc/self/ns/net)" ] &&
	    [ "$(readlink "/proc/$ns_pid/ns/user")" != \
	    "$(readlink /proc/self/ns/user)" ] &&
	    [ "$(cat "/proc/$ns_pid/comm" 2>/dev/null)" = sleep ]
}
wait_for -t 10 _ns_ready || fail "unshare as $tuser did not start"
say "namespace of pid $ns_pid: $(readlink "/proc/$ns_pid/ns/user")" \
    "$(readlink "/proc/$ns_pid/ns/net")," \
    "uid_map: $(tr -s ' ' <"/proc/$ns_pid/uid_map")"

# "${in_ns[@]}" CMD...: CMD as the test user entering that namespace,
# where it is uid 0 with every capability over the namespace's own
# network and mount namespaces (and none over the host's).
in_ns=("${as_user[@]}" nsenter --preserve-credentials --target "$ns_pid"
    --user --net --mount --)

# Root moves the initiator end of the LAN into the user's namespace.
ip link set "$lan_if" netns "$ns_pid" ||
    fail "ip link set $lan_if netns $ns_pid failed"
! ip link show "$lan_if" >/dev/null 2>&1 ||
    fail "$lan_if still visible outside the namespace"
say "$lan_if moved into the namespace of pid $ns_pid"

# Inside, the namespace's root configures the link (no IPv6 chatter).
expect_status 0 "${in_ns[@]}" sh -c \
    "id -u; echo 1 >/proc/sys/net/ipv6/conf/$lan_if/disable_ipv6 || :;
    ip link set $lan_if up"
[ "$(cat "$tmpdir/out")" = 0 ] || fail "not uid 0 inside the namespace"
_ns_link_up()
{
	"${in_ns[@]}" ip -o link show dev "$lan_if" | grep -q 'state UP'
}
wait_for -t 10 _ns_link_up || fail "$lan_if did not come up inside"

# ------------------------------------------------------------ aoectl
say "inside: aoectl stat (no file capability)"
expect_status 0 "${in_ns[@]}" "$udir/aoectl" -I "$lan_if" -w 2 stat
expected=$(printf '%10s %15s %-8s %s' e1.0 0.017GB "$lan_if" up)
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/table"
[ "$(cat "$tmpdir/table")" = "$expected" ] ||
    fail "stat printed '$(cat "$tmpdir/table")', expected '$expected'"
expect_status 0 "${in_ns[@]}" "$udir/aoectl" -I "$lan_if" -w 2 \
    config e1.0 fset "userns-$$"
expect_status 0 "${in_ns[@]}" "$udir/aoectl" -I "$lan_if" -w 2 config e1.0
[ "$(cat "$tmpdir/out")" = "userns-$$" ] || fail "config string not set"

# in_ns_proc PID: PID runs as the test user in the user's namespace.
in_ns_proc()
{
	awk -v u="$uid" '/^Uid:/ { exit !($2 == u) }' "/proc/$1/status" ||
	    fail "pid $1 does not run as $tuser"
	[ "$(readlink "/proc/$1/ns/user")" = \
	    "$(readlink "/proc/$ns_pid/ns/user")" ] ||
	    fail "pid $1 is not in the user's namespace"
	say "pid $1: uid $uid on the host, in $(readlink "/proc/$1/ns/user")"
}

# ------------------------------------------------------------ aoe-nbd
if have_prog aoe-nbd && requires nbdinfo nbdcopy; then
	install_copy aoe-nbd
	sock=$udir/run/nbd.sock
	pidf=$udir/run/nbd.pid
	uri="nbd+unix:///e1.0?socket=$sock"
	say "inside: aoe-nbd on $sock (no file capability)"
	"${in_ns[@]}" "$udir/aoe-nbd" -f -I "$lan_if" -w 5 -U "$sock" \
	    -P "$pidf" </dev/null >"$tmpdir/nbd.log" 2>&1 &
	nbd_pid=$!
	cleanup_fn _kill_wait "$nbd_pid"
	_nbd_up()
	{
		kill -0 "$nbd_pid" 2>/dev/null || return 2
		[ -S "$sock" ] && [ -s "$pidf" ]
	}
	wait_for -t 10 _nbd_up || {
		cat "$tmpdir/nbd.log" >&2
		fail "aoe-nbd did not start in the namespace"
	}
	# nsenter and setpriv exec: the pid is the server's.
	[ "$(cat "$pidf")" = "$nbd_pid" ] ||
	    fail "pidfile says $(cat "$pidf"), expected $nbd_pid"
	in_ns_proc "$nbd_pid"
	[ "$(stat -c %u "$sock")" = "$uid" ] || fail "$sock not owned by $uid"

	# A client inside the namespace, and one outside as the same user
	# (a path socket is reachable from any network namespace).
	# Naming the export waits (-w) for the target; then it is listed.
	expect_status 0 "${in_ns[@]}" nbdinfo "$uri"
	expect_grep "$tmpdir/out" "export-size: $((16 * 1048576))"
	expect_status 0 "${in_ns[@]}" nbdinfo --list \
	    "nbd+unix:///?socket=$sock"
	expect_grep "$tmpdir/out" 'export="e1.0":'
	head -c $((4 * 1048576)) /dev/urandom >"$udir/pattern"
	chmod 644 "$udir/pattern"
	expect_status 0 "${as_user[@]}" nbdcopy "$udir/pattern" "$uri"
	cmp -n $((4 * 1048576)) "$udir/pattern" "$backing" ||
	    fail "vblade's file differs after nbdcopy"
	expect_status 0 "${in_ns[@]}" nbdcopy "$uri" "$udir/run/copy.img"
	cmp "$udir/run/copy.img" "$backing" ||
	    fail "nbdcopy inside read other bytes than vblade's file"
	kill -TERM "$nbd_pid"
	st=0
	wait "$nbd_pid" || st=$?
	[ "$st" = 0 ] || {
		cat "$tmpdir/nbd.log" >&2
		fail "aoe-nbd exited with $st after SIGTERM"
	}
	say "aoe-nbd in the namespace: ok"
fi

# ------------------------------------------------------------ aoe-fuse
# FUSE is mountable in a user namespace that owns its mount namespace
# (Linux 4.18); fusermount3's set-uid bit means nothing in there, the
# namespace's root mounts by itself.
fuse_ok()
{
	[ -c /dev/fuse ] || skip_or_fail "/dev/fuse missing"
	grep -qw fuse /proc/filesystems ||
	    skip_or_fail "no fuse in /proc/filesystems (modprobe fuse)"
	"${as_user[@]}" test -r /dev/fuse -a -w /dev/fuse ||
	    skip_or_fail "/dev/fuse is not read-write for $tuser (udev" \
	    "makes it 0666; a container must pass it in)"
}

mounted_in()
{
	awk -v p="$2" '$2 == p { f = 1 } END { exit !f }' "/proc/$1/mounts"
}

if have_prog aoe-fuse && fuse_ok; then
	install_copy aoe-fuse
	mnt=$udir/mnt
	pidf=$udir/run/fuse.pid
	mkdir "$mnt"
	chown "$uid:$gid" "$mnt"
	_fuse_kill()
	{
		local pid
		pid=$(cat "$pidf" 2>/dev/null) || return 0
		kill "$pid"
		wait_for -t 10 _exited "$pid"
	}
	# Killing the daemon ends the mount with the namespace.
	cleanup_fn _fuse_kill

	say "inside: aoe-fuse mounts $mnt (no file capability)"
	expect_status 0 "${in_ns[@]}" "$udir/aoe-fuse" -I "$lan_if" -w 5 \
	    --pidfile="$pidf" "$mnt"
	fuse_pid=$(cat "$pidf")
	in_ns_proc "$fuse_pid"
	mounted_in "$fuse_pid" "$mnt" ||
	    fail "$mnt not mounted in the namespace"
	! mounted_in self "$mnt" || fail "the mount leaked to the host"
	say "mount (inside): $(awk -v p="$mnt" '$2 == p { print $1, $3, $4 }' \
	    "/proc/$fuse_pid/mounts")"
	head -c 65536 /dev/urandom >"$udir/pattern2"
	chmod 644 "$udir/pattern2"
	expect_status 0 "${in_ns[@]}" dd if="$udir/pattern2" \
	    of="$mnt/e1.0" bs=64k seek=7 conv=notrunc,fsync status=none
	cmp -n 65536 -i 0:$((7 * 65536)) "$udir/pattern2" "$backing" ||
	    fail "vblade's file differs after the write through FUSE"
	"${in_ns[@]}" cat "$mnt/e1.0" | cmp - "$backing" ||
	    fail "$mnt/e1.0 read inside differs from vblade's file"
	expect_status 0 "${in_ns[@]}" fusermount3 -u "$mnt"
	exits_on_unmount "$fuse_pid"
	say "aoe-fuse in the namespace: ok"
fi
say "ok"
