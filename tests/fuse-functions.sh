# SPDX-License-Identifier: GPL-2.0-or-later
# FUSE helpers for tests/test-fuse-*.sh, sourced after functions.sh: the
# FUSE requirements, starting aoe-fuse as a daemon with a pid file and
# stopping it (unmount, then the pid) on every exit, mount checks, and a
# bounded wait for a process that is not our child.

requires_fuse()
{
	requires fusermount3 ps
	[ -c /dev/fuse ] || skip_or_fail "/dev/fuse missing"
	grep -qw fuse /proc/filesystems ||
	    skip_or_fail "no fuse in /proc/filesystems (modprobe fuse)"
	[ -x "$top_builddir/src/aoe-fuse" ] || command -v aoe-fuse >/dev/null ||
	    skip_or_fail "aoe-fuse not built"
}

# is_mounted PATH: PATH is a mount point in /proc/self/mounts.
is_mounted()
{
	awk -v p="$1" '$2 == p { found = 1 } END { exit !found }' \
	    /proc/self/mounts
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive()
{
	local st
	st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) ||
	    return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pid_gone()
{
	! pid_alive "$1"
}

# wait_gone [-t SECS] PID: until PID has exited (it need not be our child).
wait_gone()
{
	local secs=10
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	wait_for -t "$secs" pid_gone "$1"
}

fuse_count=0

# fuse_watchdog SECS: fail the test if it still runs after SECS.  Every
# aoe-fuse daemon it started is killed first, so that a command blocked on
# a mount that stopped answering returns (ENOTCONN), then the test's own
# children get SIGTERM and the test shell too (cleanup runs).
fuse_watchdog()
{
	local secs=$1 main=$$
	(
		trap 'kill "$sp" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		sp=$!
		wait "$sp" || exit 0
		printf '%s: FAIL: watchdog: still running after %ss\n' \
		    "$test_name" "$secs" >&2
		for p in $(cat "$tmpdir/fuse-pids" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		kill -TERM "$main" 2>/dev/null || true
		# The shell runs its trap only once its foreground command
		# ends: end the test's own children (by pid) other than us.
		for p in $(ps -o pid= --ppid "$main" 2>/dev/null); do
			[ "$p" = "$BASHPID" ] || kill -TERM "$p" 2>/dev/null ||
			    true
		done
	) </dev/null &
	cleanup_fn _kill_wait $!
}

# start_fuse MOUNTPOINT [aoe-fuse ARGS...]: run aoe-fuse as a daemon (the
# last ARGS name the mount point or TARGET FILE); when it returns the mount
# must be there.  Sets fuse_pid.  On exit the mount is removed and the
# daemon ended by its pid.
start_fuse()
{
	local mnt=$1 pidf st=0
	shift
	fuse_count=$((fuse_count + 1))
	pidf=$tmpdir/aoe-fuse-$fuse_count.pid
	cleanup_fn _fuse_stop "$mnt" "$pidf"
	printf '+ aoe-fuse --pidfile=%s %s\n' "$pidf" "$*"
	aoe-fuse --pidfile="$pidf" "$@" </dev/null \
	    2>"$tmpdir/aoe-fuse-$fuse_count.err" || st=$?
	sed 's/^/  err| /' "$tmpdir/aoe-fuse-$fuse_count.err"
	[ "$st" = 0 ] || fail "aoe-fuse exited with $st"
	is_mounted "$mnt" || fail "aoe-fuse returned but $mnt is not mounted"
	[ -s "$pidf" ] || fail "aoe-fuse wrote no pid file"
	fuse_pid=$(cat "$pidf")
	echo "$fuse_pid" >>"$tmpdir/fuse-pids"
	pid_alive "$fuse_pid" || fail "aoe-fuse daemon $fuse_pid is not running"
}

_fuse_stop()
{
	local mnt=$1 pidf=$2 pid=
	[ -s "$pidf" ] && pid=$(cat "$pidf")
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null ||
		    fusermount3 -u -z "$mnt" 2>/dev/null ||
		    umount -l "$mnt" 2>/dev/null
	fi
	if [ -n "$pid" ]; then
		wait_gone -t 10 "$pid" || kill -KILL "$pid" 2>/dev/null
	fi
}

# fuse_dev MOUNTPOINT: the mount's device, MAJOR:MINOR as in mountinfo
# (read from there: root may not stat another user's FUSE mount).
fuse_dev()
{
	awk -v p="$1" '$5 == p { d = $3 } END { print d }' /proc/self/mountinfo
}

# unmounted_exit DEV PID: after an unmount the daemon must exit by itself.
# One exception: a mount namespace created elsewhere while we were mounted
# holds a copy of the mount, and the file system lives on there; the
# daemon rightly keeps serving it until that copy goes.  Every concurrent
# job's `ip netns exec` (vblade) or `unshare -m` makes such a copy, for as
# long as it runs.  So the daemon fails only if it outlives the last copy
# seen by 20 s; a copy still there after 20 s is reported and the daemon
# stopped with SIGTERM.
unmounted_exit()
{
	local dev=$1 pid=$2 t t0 seen held=
	t0=$(now_s)
	seen=$t0
	while pid_alive "$pid"; do
		if [ -n "$dev" ] &&
		    grep -qs -- " $dev " /proc/[0-9]*/mountinfo; then
			seen=$(now_s)
			held=yes
			if awk -v e="$(elapsed_since "$t0")" \
			    'BEGIN { exit !(e > 20) }'; then
				say "note: $dev is still mounted in another" \
				    "mount namespace after 20 s; SIGTERM"
				kill -TERM "$pid" 2>/dev/null || true
				wait_gone -t 10 "$pid" ||
				    fail "aoe-fuse $pid did not exit on SIGTERM"
				return 0
			fi
		elif awk -v e="$(elapsed_since "$seen")" \
		    'BEGIN { exit !(e > 20) }'; then
			break
		fi
		sleep 0.2
	done
	if pid_gone "$pid"; then
		[ -z "$held" ] || say "note: a copy of $dev in another mount" \
		    "namespace kept aoe-fuse $pid up for" \
		    "$(elapsed_since "$t0") s"
		return 0
	fi
	# Where it is stuck, for the log (its own messages went to syslog).
	say "aoe-fuse $pid: $(grep -E '^(State|SigBlk|SigPnd|ShdPnd)' \
	    "/proc/$pid/status" 2>/dev/null | tr '\n' ' ')"
	for t in /proc/"$pid"/task/*; do
		say "  task ${t##*/}: $(cat "$t/comm" 2>/dev/null)" \
		    "wchan $(cat "$t/wchan" 2>/dev/null)" \
		    "syscall $(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null | head -n 12
	done
	grep -s -- " $dev " /proc/self/mountinfo | sed 's/^/  still: /'
	fail "aoe-fuse $pid did not exit within 20 s after its file system" \
	    "was unmounted (and any copy of it elsewhere was gone)"
}

# stop_fuse MOUNTPOINT PID: unmount with fusermount3 -u and wait for the
# daemon to exit by itself.
stop_fuse()
{
	local dev
	dev=$(fuse_dev "$1")
	fusermount3 -u "$1" || fail "fusermount3 -u $1 failed"
	unmounted_exit "$dev" "$2"
	! is_mounted "$1" || fail "$1 still mounted"
}

# make_pattern FILE MIB: MIB MiB of reproducible pseudo-random bytes.
make_pattern()
{
	# AES-CTR keystream through openssl is fast; fall back to urandom.
	if command -v openssl >/dev/null 2>&1; then
		head -c "$(($2 * 1048576))" /dev/zero |
		    openssl enc -aes-128-ctr -nosalt -pass pass:aoe-fuse \
		    -pbkdf2 2>/dev/null >"$1"
	else
		head -c "$(($2 * 1048576))" /dev/urandom >"$1"
	fi
	[ "$(stat -c %s "$1")" = $(($2 * 1048576)) ] ||
	    fail "could not make a $2 MiB pattern"
}
