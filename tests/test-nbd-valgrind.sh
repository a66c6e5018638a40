#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-nbd under valgrind's memcheck: serving a vblade target while nbdcopy
# writes and reads a few MiB, nbdinfo --list, tests/nbd-abuse.py (clients
# that disconnect in the middle of a WRITE, hang up with requests in
# flight, send garbage ...), TLS sessions when built with GnuTLS, then
# SIGTERM.  valgrind must report no error and no definite or indirect
# leak (it exits 99 otherwise).  Not part of a sanitizer build's suite
# (ASan and valgrind do not mix); run by hand there it skips.
nbd_test_timeout=600
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd
bin=$(command -v aoe-nbd)
if grep -qa -e __asan_init -e __asan_report "$bin"; then
	# Not a missing requirement: this build cannot run under valgrind.
	printf 'SKIP: %s: %s is built with AddressSanitizer, which does not' \
	    "$test_name" "$bin"
	printf ' run under valgrind (the plain build runs this test)\n'
	exit 77
fi
requires valgrind nbdcopy nbdinfo cmp
requires_root
py=${nbd_python:-python3}
requires "$py"

setup_lan
make_image "$tmpdir/d0.img" 8
start_vblade 1 0 "$tmpdir/d0.img"

tls_args=()
if ! aoe-nbd --tls=on --tls-psk=/dev/null 2>&1 | grep -q 'without GnuTLS'; then
	requires psktool
	psktool -u alice -p "$tmpdir/keys.psk" >/dev/null 2>&1 ||
	    fail "psktool failed"
	tls_args=(--tls=on --tls-psk="$tmpdir/keys.psk")
fi

# start_vg ARGS...: aoe-nbd ARGS under valgrind on $nbd_sock.  glibc's
# malloc checking (the harness preloads it) and valgrind's own malloc do
# not share a heap: valgrind runs without it.
vg_count=0
start_vg()
{
	local pidfile=$nbd_sockdir/pid
	vg_count=$((vg_count + 1))
	vglog=$tmpdir/valgrind-$vg_count.log
	rm -f "$nbd_sock" "$pidfile"
	printf '+ valgrind ... aoe-nbd -f -U %s -P %s %s\n' "$nbd_sock" \
	    "$pidfile" "$*"
	env -u LD_PRELOAD -u GLIBC_TUNABLES \
	    valgrind --tool=memcheck --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	    --track-fds=no --num-callers=30 --log-file="$vglog" \
	    "$bin" -f -U "$nbd_sock" -P "$pidfile" "$@" </dev/null \
	    >>"$nbd_log" 2>&1 &
	nbd_pid=$!
	cleanup_fn _kill_wait "$nbd_pid"
	if ! wait_for -t 60 _nbd_ready "$nbd_pid" "$pidfile" "$nbd_sock"; then
		cat "$nbd_log" "$vglog" >&2
		fail "aoe-nbd under valgrind did not start"
	fi
	say "aoe-nbd under valgrind: pid $nbd_pid"
}

# stop_vg: SIGTERM, a clean exit; valgrind's status tells errors (99).
stop_vg()
{
	local st=0
	nbd_alive
	kill -TERM "$nbd_pid"
	wait "$nbd_pid" || st=$?
	sed 's/^/  valgrind| /' "$vglog"
	[ "$st" = 0 ] ||
	    fail "aoe-nbd under valgrind exited with $st (99: errors or leaks)"
	grep -q 'ERROR SUMMARY: 0 errors' "$vglog" ||
	    fail "valgrind reported errors"
	if grep -qE '(definitely|indirectly) lost: [1-9]' "$vglog"; then
		fail "valgrind found leaks"
	fi
	say "valgrind run $vg_count: no errors, no definite or indirect leaks"
}

start_vg -I "$lan_if" -w 5 e1.0
uri=$(nbd_uri e1.0)

# A few MiB each way.
make_image "$tmpdir/in.img" 8
expect_status 0 nbdcopy --flush "$tmpdir/in.img" "$uri"
cmp "$tmpdir/in.img" "$tmpdir/d0.img" || fail "nbdcopy in: backing differs"
expect_status 0 nbdcopy "$uri" "$tmpdir/out.img"
cmp "$tmpdir/out.img" "$tmpdir/d0.img" || fail "nbdcopy out differs"
expect_status 0 nbdinfo --list "$(nbd_uri)"
expect_grep "$tmpdir/out" "e1.0"

# Misbehaving clients: mid-WRITE disconnects, requests in flight at a
# hang-up, replies never read, garbage.
expect_status 0 "$py" "$srcdir/tests/nbd-abuse.py" "$nbd_sock" e1.0 8388608
stop_vg

# TLS sessions (tls.c, GnuTLS), a failed handshake among them.
if [ ${#tls_args[@]} -gt 0 ]; then
	start_vg -I "$lan_if" -w 5 "${tls_args[@]}" e1.0
	turi="nbds+unix://alice@/e1.0?socket=$nbd_sock&tls-psk-file="
	wuri="$turi$tmpdir/wrong.psk"
	turi="$turi$tmpdir/keys.psk"
	expect_status 0 nbdinfo --is tls "$turi"
	make_image "$tmpdir/tin.img" 4
	expect_status 0 nbdcopy --flush "$tmpdir/tin.img" "$turi"
	expect_status 0 nbdcopy "$turi" "$tmpdir/tls.img"
	cmp "$tmpdir/tls.img" "$tmpdir/d0.img" || fail "TLS copy differs"
	psktool -u alice -p "$tmpdir/wrong.psk" >/dev/null 2>&1
	expect_status 1 nbdinfo "$wuri"
	# Plaintext is still allowed with --tls=on.
	expect_status 0 nbdinfo --size "$(nbd_uri e1.0)"
	stop_vg
fi
say "PASS"
