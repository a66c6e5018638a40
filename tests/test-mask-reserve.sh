#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# MAC Mask List (AoEr11 3.3) and Reserve/Release (3.4) against vblade.
# vblade answers only the MACs in its mask list, so ours is always in it.
# vblade 25 cannot delete mask entries (rmmask scans nmasks bytes instead of
# entries, then memmoves a negative length: it aborts) and adds every MAC
# after the first at index 1, so this test adds two MACs in one edit and
# deletes only a MAC that is not listed (a no-op for any target).
. "$(dirname "$0")/functions.sh"
requires_root
requires truncate

setup_lan
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img"
A=(-I "$lan_if" -w 1)
me=$(if_mac "$lan_if")
other=02:00:5e:00:53:01

lower() { tr 'A-F' 'a-f' <"$1"; }

say "mask read of a fresh target: empty"
expect_status 0 aoectl "${A[@]}" mask e1.0 read
[ ! -s "$tmpdir/out" ] || fail "mask list not empty"

say "mask add $other $me: both listed, in order"
expect_status 0 aoectl "${A[@]}" mask e1.0 add "$other" "$me"
[ "$(lower "$tmpdir/out")" = "$(printf '%s\n%s' "$other" "$me")" ] ||
    fail "mask add output"
expect_status 0 aoectl "${A[@]}" mask e1.0 read
[ "$(lower "$tmpdir/out")" = "$(printf '%s\n%s' "$other" "$me")" ] ||
    fail "mask read after add"

say "mask del of a MAC not listed: the list is unchanged"
expect_status 0 aoectl "${A[@]}" mask e1.0 del 02:00:5e:00:53:99
[ "$(lower "$tmpdir/out")" = "$(printf '%s\n%s' "$other" "$me")" ] ||
    fail "mask del output"
expect_status 0 aoectl "${A[@]}" mask e1.0 edit -02:00:5e:00:53:98
[ "$(lower "$tmpdir/out")" = "$(printf '%s\n%s' "$other" "$me")" ] ||
    fail "mask edit output"

say "reserve read of a fresh target: empty"
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ ! -s "$tmpdir/out" ] || fail "reserve list not empty"

say "reserve set (no MAC = our MAC $me)"
expect_status 0 aoectl "${A[@]}" reserve e1.0 set
[ "$(lower "$tmpdir/out")" = "$me" ] || fail "reserve set output"
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ "$(lower "$tmpdir/out")" = "$me" ] || fail "reserve read after set"

say "release: empty"
expect_status 0 aoectl "${A[@]}" reserve e1.0 release
[ ! -s "$tmpdir/out" ] || fail "release output"
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ ! -s "$tmpdir/out" ] || fail "reserve read after release"

say "reserved by another host: set refused (error 6), I/O refused"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$other"
[ "$(lower "$tmpdir/out")" = "$other" ] || fail "reserve fset output"
expect_status 1 aoectl "${A[@]}" reserve e1.0 set
expect_grep "$tmpdir/err" "target reserved by another host"
expect_status 1 timeout 60 aoe-rw -I "$lan_if" --mode read \
    --out "$tmpdir/read.img" e1.0
grep -qi "permission denied\|reserved" "$tmpdir/err" ||
    fail "aoe-rw on a target reserved by another host: no EACCES"

say "fset ours, then release: empty"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$me"
[ "$(lower "$tmpdir/out")" = "$me" ] || fail "reserve fset ours"
expect_status 0 aoectl "${A[@]}" reserve e1.0 release
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ ! -s "$tmpdir/out" ] || fail "reserve read after the last release"
say "ok"
