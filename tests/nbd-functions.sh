# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the aoe-nbd integration tests, sourced after functions.sh:
# a time bound on the whole test, starting aoe-nbd on a private Unix socket
# (waiting for its pidfile), NBD URIs, a python that has the libnbd
# bindings (for nbdsh), random images and a free TCP port.

# ------------------------------------------------------------------ time bound

# Every test runs under timeout(1): the test re-executes itself once, and
# on expiry timeout signals the test's whole process group (a hung client
# included), the EXIT trap cleans up and the test fails (status 124).
# A script sets nbd_test_timeout (seconds, default 120) before sourcing.
if [ -z "${_AOE_NBD_TIMED:-}" ] && command -v timeout >/dev/null 2>&1; then
	export _AOE_NBD_TIMED=1
	exec timeout -k 10 "${NBD_TEST_TIMEOUT:-${nbd_test_timeout:-120}}" \
	    bash "$0" "$@"
fi
trap 'printf "%s: FAIL: terminated (time limit %ss?)\n" "$test_name" \
    "${NBD_TEST_TIMEOUT:-${nbd_test_timeout:-120}}" >&2; exit 143' TERM

# ------------------------------------------------------------------ tools

# A python3 that can import the libnbd bindings (a pyenv python3 first in
# PATH may not): nbdsh is "python3 -m nbd".
nbd_python=
for _p in python3 /usr/bin/python3; do
	if command -v "$_p" >/dev/null 2>&1 &&
	    "$_p" -c 'import nbd' >/dev/null 2>&1; then
		nbd_python=$_p
		break
	fi
done
unset _p

requires_nbdsh()
{
	[ -n "$nbd_python" ] ||
	    skip_or_fail "no python3 with the libnbd bindings (python3-libnbd)"
}

# nbdsh ARGS...: the real nbdsh, run with a python that has the module.
nbdsh_run()
{
	"$nbd_python" -m nbd "$@"
}

# make_image FILE MIB: MIB MiB of random bytes.
make_image()
{
	head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1" ||
	    fail "cannot create $1"
}

# A TCP port nobody listens on right now (127.0.0.1).
free_tcp_port()
{
	"${nbd_python:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ------------------------------------------------------------------ server

# Unix socket paths are limited to 107 bytes: keep ours short, in /tmp.
nbd_sockdir=$(mktemp -d /tmp/aoe-nbd-test.XXXXXX) ||
    fail "mktemp -d failed"
cleanup_fn rm -rf "$nbd_sockdir"
nbd_sock=$nbd_sockdir/sock
nbd_log=$tmpdir/aoe-nbd.log

_nbd_ready()
{
	kill -0 "$1" 2>/dev/null || return 2
	[ -s "$2" ] && [ "$(cat "$2")" = "$1" ] && [ -S "$3" ]
}

# start_aoe_nbd [ARGS...]: aoe-nbd -f -U $nbd_sock -P PIDFILE ARGS in the
# background, logging to $nbd_log; returns once the pidfile names it (it is
# written after listen).  Sets nbd_pid.
start_aoe_nbd()
{
	local pidfile=$nbd_sockdir/pid

	rm -f "$pidfile" "$nbd_sock"
	printf '+ aoe-nbd -f -U %s -P %s %s\n' "$nbd_sock" "$pidfile" "$*"
	aoe-nbd -f -U "$nbd_sock" -P "$pidfile" "$@" </dev/null \
	    >>"$nbd_log" 2>&1 &
	nbd_pid=$!
	cleanup_fn _kill_wait "$nbd_pid"
	if ! wait_for -t 10 _nbd_ready "$nbd_pid" "$pidfile" "$nbd_sock"; then
		cat "$nbd_log" >&2
		fail "aoe-nbd did not start"
	fi
	say "aoe-nbd pid $nbd_pid listening on $nbd_sock"
}

# stop_aoe_nbd: SIGTERM, and the server must exit 0.
stop_aoe_nbd()
{
	local st=0

	kill -TERM "$nbd_pid" 2>/dev/null || fail "aoe-nbd is not running"
	wait "$nbd_pid" || st=$?
	[ "$st" = 0 ] || {
		cat "$nbd_log" >&2
		fail "aoe-nbd exited with status $st after SIGTERM"
	}
	say "aoe-nbd stopped (status 0)"
}

# Fail unless the server still runs.
nbd_alive()
{
	kill -0 "$nbd_pid" 2>/dev/null || {
		cat "$nbd_log" >&2
		fail "aoe-nbd died"
	}
}

# nbd_uri [EXPORT]: the URI of an export on $nbd_sock.
nbd_uri()
{
	printf 'nbd+unix:///%s?socket=%s' "${1:-}" "$nbd_sock"
}

