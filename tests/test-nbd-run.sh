#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Captive mode: aoe-nbd --run CMD serves while CMD runs (on a private Unix
# socket unless -p/-i/-U), exports $uri $nbd $unixsocket $port
# $exportname to it, and exits with its status.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdcopy nbdinfo cmp
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

expect_status 2 aoe-nbd -I "$lan_if" -s --run true
say "PASS"
