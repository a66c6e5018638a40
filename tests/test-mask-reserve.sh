#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# MAC Mask List (AoEr11 3.3) and Reserve/Release (3.4) against vblade.
# vblade answers only the MACs in its mask list, so ours is always in it.
# vblade 25 cannot delete mask entries (rmmask scans nmasks bytes instead of
# entries, then memmoves a negative length: it aborts) and adds every MAC
# after the first at index 1, so this test adds two MACs in one edit and
# deletes only a MAC that is not listed (a no-op for any target).
# At MTU 1500 a frame holds 185 mask directives or 248 reserve MACs: more
# is a usage error (exit 2) before the command is sent (the send would fail
# with EMSGSIZE); the most that fit go through.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 truncate

setup_lan
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img"
A=(-I "$lan_if" -w 1)
me=$(if_mac "$lan_if")
other=02:00:5e:00:53:01

lower() { tr 'A-F' 'a-f' <"$1"; }

# macs N: N distinct MACs 02:00:5e:10:XX:YY, none of them ours.
macs()
{
	local i
	for ((i = 1; i <= $1; i++)); do
		printf '02:00:5e:10:%02x:%02x\n' $((i / 256)) $((i % 256))
	done
}

# aoe_cmds PCAP: the AoE commands (decimal) of the requests in PCAP.
aoe_cmds()
{
	python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
o = 24
while o + 16 <= len(d):
    n = struct.unpack_from("<I", d, o + 8)[0]
    f = d[o + 16:o + 16 + n]
    o += 16 + n
    if len(f) >= 20 and f[12:14] == b"\x88\xa2" and not f[14] & 0x08:
        print(f[19])
' "$1"
}

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

say "mask: 186 directives do not fit at MTU 1500: exit 2, not sent"
mapfile -t many < <(macs 255)
expect_status 2 aoectl "${A[@]}" --trace "$tmpdir/mask.pcap" \
    mask e1.0 del "${many[@]:0:186}"
expect_grep "$tmpdir/err" \
    "e1.0: mask del: 186 directives do not fit in one frame at MTU 1500 ($lan_if): at most 185"
! aoe_cmds "$tmpdir/mask.pcap" | grep -qx 2 || fail "a mask frame was sent"
say "mask: 185 directives (deletes of MACs not listed) go through"
expect_status 0 aoectl "${A[@]}" mask e1.0 del "${many[@]:0:185}"
[ "$(lower "$tmpdir/out")" = "$(printf '%s\n%s' "$other" "$me")" ] ||
    fail "mask del of 185 MACs not listed"

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

say "reserve: 249 MACs do not fit at MTU 1500: exit 2, not sent"
expect_status 2 aoectl "${A[@]}" --trace "$tmpdir/resv.pcap" \
    reserve e1.0 fset "${many[@]:0:249}"
expect_grep "$tmpdir/err" \
    "e1.0: reserve fset: 249 MAC addresses do not fit in one frame at MTU 1500 ($lan_if): at most 248"
! aoe_cmds "$tmpdir/resv.pcap" | grep -qx 3 || fail "a reserve frame was sent"
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ "$(lower "$tmpdir/out")" = "$other" ] || fail "refused fset changed it"
say "reserve: 248 MACs go through"
expect_status 0 aoectl "${A[@]}" --trace "$tmpdir/resv.pcap" \
    reserve e1.0 fset "${many[@]:0:248}"
[ "$(wc -l <"$tmpdir/out")" = 248 ] || fail "reserve fset of 248 MACs"
aoe_cmds "$tmpdir/resv.pcap" | grep -qx 3 || fail "no reserve frame seen"

say "frelease: another host's reservation broken (a dead host's)"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$other"
expect_status 1 aoectl "${A[@]}" reserve e1.0 release
expect_grep "$tmpdir/err" "target reserved by another host"
expect_status 0 aoectl "${A[@]}" reserve e1.0 frelease
[ ! -s "$tmpdir/out" ] || fail "frelease output"
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ ! -s "$tmpdir/out" ] || fail "reserve read after frelease"
expect_status 2 aoectl "${A[@]}" reserve e1.0 frelease "$me"
expect_grep "$tmpdir/err" "reserve frelease takes no argument"

say "fset ours, then release: empty"
expect_status 0 aoectl "${A[@]}" reserve e1.0 fset "$me"
[ "$(lower "$tmpdir/out")" = "$me" ] || fail "reserve fset ours"
expect_status 0 aoectl "${A[@]}" reserve e1.0 release
expect_status 0 aoectl "${A[@]}" reserve e1.0 read
[ ! -s "$tmpdir/out" ] || fail "reserve read after the last release"
say "ok"
