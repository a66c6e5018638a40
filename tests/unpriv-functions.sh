# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the tests that run the programs as an ordinary user
# (test-unpriv-*.sh), sourced after functions.sh: a system user of the
# test's own and setpriv's command line to run as it, a scratch directory
# that user can reach, and copies of the programs in it.

# ------------------------------------------------------------------ user

# useradd and userdel give up at once when another one holds the lock on
# /etc/passwd (tests run in parallel): try again.
_retry()
{
	local n
	for n in 1 2 3 4 5; do
		"$@" && return 0
		sleep "$n"
	done
	return 1
}

# unpriv_user NAME: a system user of our own, NAME (one per test: tests run
# in parallel and each removes the user it created), or the existing one
# AOE_TEST_USER names.  Sets tuser, uid, gid and
#   "${as_user[@]}" CMD...: exec CMD as the test user, no supplementary
#   groups, no inheritable capabilities (setpriv execs: $! of a background
#   job is CMD itself, and expect_status can run it under timeout).
unpriv_user()
{
	tuser=${AOE_TEST_USER:-$1}
	if ! id -u "$tuser" >/dev/null 2>&1; then
		_retry useradd -r -M -d /nonexistent -s /usr/sbin/nologin \
		    "$tuser" || skip_or_fail "cannot create user $tuser"
		cleanup_fn _retry userdel "$tuser"
	fi
	uid=$(id -u "$tuser")
	gid=$(id -g "$tuser")
	[ "$uid" != 0 ] || fail "test user $tuser is root"
	say "test user $tuser ($uid:$gid)"
	as_user=(setpriv --reuid="$uid" --regid="$gid" --clear-groups
	    --inh-caps=-all --)
}

# ------------------------------------------------------------ programs

# unpriv_dir NAME: udir, a world-readable scratch directory
# /tmp/NAME.XXXXXX (the build tree may sit in a directory the user cannot
# enter), removed at exit, with udir/run owned by the test user.
unpriv_dir()
{
	udir=$(mktemp -d "/tmp/$1.XXXXXX") || fail "mktemp -d failed"
	cleanup_fn rm -rf "$udir"
	chmod 755 "$udir"
	mkdir "$udir/run"
	chown "$uid:$gid" "$udir/run"
}

# have_prog PROG: PROG was built.  aoectl must be; the servers are added
# by their own work: outside CI their parts are skipped with a note,
# under CI=true a missing one fails the test.
have_prog()
{
	if command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	[ "${CI:-}" != true ] ||
	    fail "$1 not built (CI=true: every part must run)"
	say "note: $1 not built: its part is skipped"
	return 1
}

# install_copy PROG: copy PROG from PATH into $udir (mode 755); the copy
# has no file capability (cp does not copy them).
install_copy()
{
	local src
	src=$(command -v "$1") || return 1
	cp "$src" "$udir/$1"
	chmod 755 "$udir/$1"
	[ -z "$(getcap "$udir/$1")" ] || fail "$udir/$1 has file capabilities"
}

# ------------------------------------------------------------ unmount

# _exited PID: PID has ended; a zombie has (reaping it is its parent's
# business: a daemon's is init's).
_exited()
{
	! kill -0 "$1" 2>/dev/null ||
	    grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# exits_on_unmount PID: aoe-fuse PID ends after its mount went, within
# 30 s (its drain of requests still in flight and its unmount helper may
# take 5 s each, and a sanitizer build ends slowly on busy cores); else
# the report gets where it and its children wait.
exits_on_unmount()
{
	local pid=$1 t0
	t0=$(now_s)
	if wait_for -t 30 _exited "$pid"; then
		say "aoe-fuse ended $(elapsed_since "$t0") s after the unmount"
		return 0
	fi
	say "aoe-fuse $pid: $(grep '^State:' "/proc/$pid/status")," \
	    "waits in $(cat "/proc/$pid/wchan" 2>/dev/null)"
	cat "/proc/$pid/stack" 2>/dev/null
	ps -o pid,stat,wchan:32,args --ppid "$pid" || :
	fail "aoe-fuse did not exit on unmount"
}
