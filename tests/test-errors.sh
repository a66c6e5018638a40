#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Clear messages and the agreed exit statuses for the common failures:
# unknown, non-Ethernet and down interfaces, bad target names, no target
# on the LAN (3), and no CAP_NET_RAW (4) as an unprivileged user.
. "$(dirname "$0")/functions.sh"
requires_root
requires setpriv python3

setup_lan

say "unknown interface: exit 2, the message names it"
expect_status 2 aoectl -I nosuch$$ stat
expect_grep "$tmpdir/err" "nosuch$$"
expect_grep "$tmpdir/err" "unknown interface"
expect_status 2 aoe-rw -I nosuch$$ e1.0
expect_grep "$tmpdir/err" "nosuch$$"

say "not an Ethernet interface (lo): exit 2"
expect_status 2 aoectl -I lo stat
expect_grep "$tmpdir/err" "lo"

say "bad target names: exit 2"
for name in e1 x1.0 e1.0.0 e65535.0 e1.255 1. e-1.0; do
	expect_status 2 aoectl -I "$lan_if" stat "$name"
	[ -s "$tmpdir/err" ] || fail "no message for target name '$name'"
done
expect_status 2 aoectl -I "$lan_if" config e1 read
expect_status 2 aoe-rw -I "$lan_if" e1

say "no targets on an empty LAN: exit 3 and a message"
expect_status 3 aoectl -I "$lan_if" -w 0.5 stat
expect_grep "$tmpdir/err" "no AoE targets found on $lan_if"
expect_status 3 aoectl -I "$lan_if" -w 0.5 stat --json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"targets": []}, d
' "$tmpdir/out" || fail 'stat --json with no target: not {"targets":[]}'
expect_status 3 aoe-stat -I "$lan_if" -w 0.5

say "a named target that does not answer: exit 3, the message names it"
expect_status 3 aoectl -I "$lan_if" -w 0.5 stat e9.9
expect_grep "$tmpdir/err" "e9.9"
expect_status 3 aoectl -I "$lan_if" -w 0.5 config e9.9 read
expect_grep "$tmpdir/err" "e9.9"
expect_status 3 aoe-rw -I "$lan_if" -w 0.5 e9.9
expect_grep "$tmpdir/err" "e9.9"

say "interface down: exit 1, the message says so"
ip link set "$lan_if" down
expect_status 1 aoectl -I "$lan_if" stat
expect_grep "$tmpdir/err" "down"
ip link set "$lan_if" up
wait_for _lan_is_up "$lan_if" || fail "$lan_if did not come back up"

say "no CAP_NET_RAW (user nobody): exit 4, the message gives the ways out"
# A copy readable by nobody (the build tree may not be).
nd=$(mktemp -d /tmp/aoe-noperm.XXXXXX)
cleanup_fn rm -rf "$nd"
chmod 755 "$nd"
cp "$top_builddir/src/aoectl" "$top_builddir/tests/aoe-rw" "$nd/"
chmod 755 "$nd/aoectl" "$nd/aoe-rw"
asnobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups
    --inh-caps=-all)
for p in aoectl aoe-rw; do
	if [ "$p" = aoectl ]; then
		expect_status 4 "${asnobody[@]}" "$nd/$p" -I "$lan_if" stat
	else
		expect_status 4 "${asnobody[@]}" "$nd/$p" -I "$lan_if" e1.0
	fi
	expect_grep "$tmpdir/err" "root"
	expect_grep "$tmpdir/err" "setcap cap_net_raw+ep"
	grep -qi "user" "$tmpdir/err" && grep -qi "namespace" "$tmpdir/err" ||
	    fail "$p: the message does not mention a user + network namespace"
done
say "ok"
