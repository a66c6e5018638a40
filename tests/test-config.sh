#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The AoE config string (AoEr11 3.2) against vblade: read, set, a refused
# second set, fset, test and prefix matching, the 1024-byte maximum, an
# over-long string refused before any frame is sent, the string in
# stat --json, and the aoetools aoecfg syntax, with its wildcards: shelf
# 65535 (0xffff) and slot 255 (0xff) are any, as in aoetools.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 truncate

setup_lan
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img"
A=(-I "$lan_if" -w 1)

say "config read of a fresh target: an empty line"
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "" ] && [ "$(wc -c <"$tmpdir/out")" = 1 ] ||
    fail "config read of an empty string printed more than a newline"
expect_status 0 aoectl "${A[@]}" config e1.0
[ "$(wc -c <"$tmpdir/out")" = 1 ] || fail "config (default read)"

say "set 'hello world', read it back"
expect_status 0 aoectl "${A[@]}" config e1.0 set "hello world"
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "hello world" ] || fail "read after set"

say "set a different string: refused (AoE error 4), exit 1"
expect_status 1 aoectl "${A[@]}" config e1.0 set "goodbye"
expect_grep "$tmpdir/err" "e1.0: config string already set (use fset)"
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "hello world" ] || fail "refused set changed it"

say "test: exact match exits 0 and prints, no match exits 1"
expect_status 0 aoectl "${A[@]}" config e1.0 test "hello world"
[ "$(cat "$tmpdir/out")" = "hello world" ] || fail "test output"
expect_status 1 aoectl "${A[@]}" config e1.0 test "hello"
expect_grep "$tmpdir/err" "e1.0: config string does not match"

say "prefix: a prefix matches, anything else does not"
expect_status 0 aoectl "${A[@]}" config e1.0 prefix "hello"
[ "$(cat "$tmpdir/out")" = "hello world" ] || fail "prefix output"
expect_status 1 aoectl "${A[@]}" config e1.0 prefix "world"
expect_grep "$tmpdir/err" "e1.0: config string does not match"

say "fset replaces it"
expect_status 0 aoectl "${A[@]}" config e1.0 fset "second string"
expect_status 0 aoectl "${A[@]}" config 1.0 read
[ "$(cat "$tmpdir/out")" = "second string" ] || fail "read after fset"

say "a 1024-byte string (the maximum) round trip"
long=$(python3 -c 'import string; a = string.ascii_letters + string.digits
print("".join(a[(i * 7) % len(a)] for i in range(1024)))')
[ "${#long}" = 1024 ] || fail "test string is ${#long} bytes"
expect_status 0 aoectl "${A[@]}" config e1.0 fset "$long"
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "$long" ] || fail "1024-byte string differs"

say "a 1025-byte string: usage error (exit 2), no frame sent"
rm -f "$tmpdir/long.pcap"
expect_status 2 aoectl "${A[@]}" --trace "$tmpdir/long.pcap" \
    config e1.0 fset "${long}x"
[ -s "$tmpdir/err" ] || fail "no message for a 1025-byte string"
if [ -e "$tmpdir/long.pcap" ]; then
	# A pcap file header alone is 24 bytes.
	[ "$(wc -c <"$tmpdir/long.pcap")" -le 24 ] ||
	    fail "frames were sent for a refused 1025-byte string"
fi
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "$long" ] || fail "the refused fset changed it"

say "stat --json shows the config string"
expect_status 0 aoectl "${A[@]}" config e1.0 fset "json \"quoted\" \\ ok"
expect_status 0 aoectl "${A[@]}" stat --json e1.0
python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["targets"]
assert len(t) == 1 and t[0]["config"] == sys.argv[2], t
' "$tmpdir/out" 'json "quoted" \ ok' || fail "config in stat --json"
expect_status 0 aoectl "${A[@]}" stat -l e1.0
# A backslash is escaped (as \x5c) so that escapes stay unambiguous.
grep -qF '	config: json "quoted" \x5c ok' "$tmpdir/out" ||
    fail "config in stat -l"

say "aoecfg (aoetools syntax): read, set, test"
expect_status 0 aoecfg -c fset -s "via aoecfg" -t 1 1 0 "$lan_if"
expect_status 0 aoecfg -t 1 1 0 "$lan_if"
expect_grep "$tmpdir/out" "via aoecfg"
expect_status 0 aoecfg -c read -t 1 "$lan_if"
expect_grep "$tmpdir/out" "via aoecfg"
expect_status 0 aoecfg -c test -s "via aoecfg" -t 1 1 0 "$lan_if"
expect_grep "$tmpdir/out" "via aoecfg"
expect_status 0 aoectl "${A[@]}" config e1.0 read
[ "$(cat "$tmpdir/out")" = "via aoecfg" ] || fail "aoecfg fset"

say "aoecfg wildcards: shelf 65535 and slot 255 are any"
truncate -s 16M "$tmpdir/disk2.img"
start_vblade 2 1 "$tmpdir/disk2.img"
expect_status 0 aoectl "${A[@]}" config e2.1 fset "two one"
both=$(printf '1.0\tvia aoecfg\n2.1\ttwo one')
expect_status 0 aoecfg -t 1 65535 255 "$lan_if"
[ "$(cat "$tmpdir/out")" = "$both" ] || fail "aoecfg 65535 255"
expect_status 0 aoecfg -t 1 0xffff 0xff "$lan_if"
[ "$(cat "$tmpdir/out")" = "$both" ] || fail "aoecfg 0xffff 0xff"
expect_status 0 aoecfg -t 1 1 255 "$lan_if"
[ "$(cat "$tmpdir/out")" = "$(printf '1.0\tvia aoecfg')" ] ||
    fail "aoecfg 1 255: shelf 1 only"
expect_status 0 aoecfg -t 1 65535 1 "$lan_if"
[ "$(cat "$tmpdir/out")" = "$(printf '2.1\ttwo one')" ] ||
    fail "aoecfg 65535 1: slot 1 only"
expect_status 0 aoecfg -c test -s "two one" -t 1 65535 255 "$lan_if"
[ "$(cat "$tmpdir/out")" = "$(printf '2.1\ttwo one')" ] ||
    fail "aoecfg -c test with wildcards"
expect_status 3 aoecfg -t 1 3 255 "$lan_if"
expect_grep "$tmpdir/err" "no AoE targets e3.* found"
expect_status 2 aoecfg -t 1 65536 0 "$lan_if"
expect_grep "$tmpdir/err" "invalid shelf '65536'"
expect_status 2 aoecfg -t 1 1 256 "$lan_if"
expect_grep "$tmpdir/err" "invalid slot '256'"
say "ok"
