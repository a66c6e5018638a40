#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Captive mode: aoe-nbd --run CMD serves while CMD runs (on a private Unix
# socket unless -p/-i/-U), exports $uri $nbd $unixsocket $port
# $exportname to it, and exits with its status, also when signalled
# (its whole process group is stopped).  -s on a file, -U - alone.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdcopy nbdinfo cmp pgrep
requires_root

setup_lan
make_image "$tmpdir/d0.img" 8
make_image "$tmpdir/d1.img" 4
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img"
export OUT=$tmpdir/out.img VARS=$tmpdir/vars

expect_status 0 aoe-nbd -I "$lan_if" -w 5 e1.0 \
    --run 'nbdcopy "$uri" "$OUT"'
cmp "$OUT" "$tmpdir/d0.img" || fail "nbdcopy under --run differs"

# The command's status is ours.
expect_status 7 aoe-nbd -I "$lan_if" e1.0 --run 'exit 7'

# The variables, on the private socket.
expect_status 0 aoe-nbd -I "$lan_if" -w 5 e1.0 --run '
	printf "%s\n" "$uri" "$nbd" "$unixsocket" "$port" "$exportname" \
	    >"$VARS"
	test -S "$unixsocket" && test -z "$port" && test "$nbd" = "$uri" &&
	    test "$uri" = "nbd+unix:///?socket=$unixsocket" &&
	    nbdinfo --size "$uri"'
cat "$VARS"
expect_grep "$tmpdir/out" 8388608
sock=$(sed -n 3p "$VARS")
[ ! -e "$sock" ] || fail "the private socket was left behind"
[ ! -e "$(dirname "$sock")" ] || fail "the private directory was left behind"

# -e picks the export named in $uri.
expect_status 0 aoe-nbd -I "$lan_if" -w 5 -e e1.1 --run '
	test "$exportname" = e1.1 &&
	    test "$uri" = "nbd+unix:///e1.1?socket=$unixsocket" &&
	    nbdinfo --size "$uri"'
expect_grep "$tmpdir/out" 4194304

# TCP: $port and an nbd:// URI.
port=$(free_tcp_port) || fail "no free TCP port"
expect_status 0 aoe-nbd -I "$lan_if" -w 5 -p "$port" e1.1 --run "
	test \"\$port\" = $port && test -z \"\$unixsocket\" &&
	    test \"\$uri\" = nbd://127.0.0.1:$port/ &&
	    nbdinfo --size \"\$uri\""
expect_grep "$tmpdir/out" 4194304

# A wildcard address: $uri names its loopback, which is listened on.
for addr in 0.0.0.0 ::; do
	expect_status 0 aoe-nbd -I "$lan_if" -w 5 -i "$addr" -p 0 e1.1 \
	    --run 'echo "$uri"; nbdinfo --size "$uri"'
	expect_grep "$tmpdir/out" 4194304
done
expect_grep "$tmpdir/out" "nbd://[::1]:"

# A name of two addresses, port 0: one port for both, the one in $uri.
printf '127.0.0.1 twohost\n::1 twohost\n' >"$tmpdir/hosts"
expect_status 0 unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift &&
	exec "$@"' sh "$tmpdir/hosts" aoe-nbd -I "$lan_if" -w 5 -i twohost \
	-p 0 e1.1 --run 'nbdinfo --size "nbd://127.0.0.1:$port" &&
	nbdinfo --size "nbd://[::1]:$port"'
[ "$(grep -c 4194304 "$tmpdir/out")" = 2 ] ||
    fail "not both addresses on port \$port"

# Signalled: the command's process group is stopped (not only its shell)
# and its status is ours, at once (no grace period for its connection).
export PGF=$tmpdir/pgid NBDPY=$nbd_python
aoe-nbd -I "$lan_if" -w 5 e1.0 --run 'echo $$ >"$PGF"
	"$NBDPY" -m nbd -u "$uri" -c "import time; time.sleep(300)" &
	sleep 300' \
	</dev/null >"$tmpdir/run.log" 2>&1 &
nbd_pid=$!
wait_for -t 15 test -s "$PGF" || fail "the --run command did not start"
pgid=$(cat "$PGF")
sleep 1
t0=$(now_s)
kill -TERM "$nbd_pid"
st=0
wait "$nbd_pid" || st=$?
say "exit status $st after $(elapsed_since "$t0") s"
[ "$st" = 143 ] || fail "exit status $st after SIGTERM, expected 143"
[ "$(elapsed_since "$t0" | cut -d. -f1)" -lt 5 ] ||
    fail "took $(elapsed_since "$t0") s to stop"
wait_for -t 5 eval '! pgrep -g "$pgid" >/dev/null' ||
    fail "left running: $(pgrep -a -g "$pgid")"

# -s on what epoll cannot watch: says what it needs.
expect_status 1 aoe-nbd -I "$lan_if" -w 5 -s e1.0 </dev/null
expect_grep "$tmpdir/err" "serves a socket or a pipe"

# -U - without --run: where to connect is said.
aoe-nbd -I "$lan_if" -w 5 -f -U - e1.0 2>"$tmpdir/u.err" &
nbd_pid=$!
wait_for -t 15 grep -q "listening on" "$tmpdir/u.err" ||
    fail "no 'listening on': $(cat "$tmpdir/u.err")"
sock=$(sed -n 's/.*listening on //p' "$tmpdir/u.err")
nbdinfo --size "nbd+unix:///?socket=$sock" >"$tmpdir/out" ||
    fail "cannot connect to $sock"
expect_grep "$tmpdir/out" 8388608
kill "$nbd_pid"
wait "$nbd_pid" || fail "aoe-nbd -U - exited with $?"

expect_status 2 aoe-nbd -I "$lan_if" -s --run true
say "PASS"
