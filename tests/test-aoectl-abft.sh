#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoectl abft FILE: an aBFT as iPXE writes it printed as eSHELF.SLOT@MAC,
# with -l as key: value lines and with --json; found in a memory dump at
# a 16-byte step (as in the base memory iPXE for BIOS leaves it in); the
# interface that has the MAC named (as root: in a network namespace of
# the test holding a veth with that MAC); bad tables (checksum,
# truncated, signature) and files without one exit 1, no file exits 3,
# two files exit 2.  No frame is sent.
. "$(dirname "$0")/functions.sh"

requires aoectl perl

# mk_abft FILE SHELF SLOT MAC [LENGTH [SIG]]: an aBFT, checksum fixed.
mk_abft()
{
	perl -e '
	my ($f, $shelf, $slot, $mac, $len, $sig) = @ARGV;
	my $t = $sig . pack("V", $len) . pack("CC", 1, 0) . "FENSYS" .
	    "iPXE\0\0\0\0" . ("\0" x 12) . pack("vCC", $shelf, $slot, 0);
	$mac =~ s/://g;
	$t .= pack("H12", $mac);
	$t .= "\0" x ($len - length($t)) if $len > length($t);
	my $sum = 0;
	$sum += $_ for unpack("C*", substr($t, 0, $len));
	substr($t, 9, 1) = chr((256 - $sum % 256) % 256);
	open(my $fh, ">", $f) or die; binmode $fh; print $fh $t;
	' "$1" "$2" "$3" "$4" "${5:-46}" "${6:-aBFT}"
}

mac=02:00:5e:00:ab:01
t=$tmpdir/abft
mk_abft "$t" 258 7 "$mac"

say "a good table: eSHELF.SLOT@MAC (shelf little-endian)"
expect_status 0 aoectl abft "$t"
[ "$(cat "$tmpdir/out")" = "e258.7@$mac" ] || fail "abft: wrong output"

say "-l: the fields"
expect_status 0 aoectl abft -l "$t"
for l in "e258.7@$mac" $'\tshelf: 258' $'\tslot: 7' $'\tmac: '"$mac" \
    $'\toem_id: FENSYS' $'\toem_table_id: iPXE' $'\trevision: 1' \
    $'\tlength: 46' $'\tsource: '"$t"; do
	grep -qxF -- "$l" "$tmpdir/out" || fail "abft -l lacks '$l'"
done

say "a dump of memory: the table found at a 16-byte step"
{ head -c 1600 /dev/zero; cat "$t"; head -c 4000 /dev/zero; } >"$tmpdir/mem"
expect_status 0 aoectl abft -l "$tmpdir/mem"
expect_grep "$tmpdir/out" "e258.7@$mac"
expect_grep "$tmpdir/out" $'\tsource: '"$tmpdir/mem+0x640"
{ head -c 1608 /dev/zero; cat "$t"; head -c 4000 /dev/zero; } >"$tmpdir/mem"
expect_status 1 aoectl abft "$tmpdir/mem"
expect_grep "$tmpdir/err" "not an aBFT"

say "--json: one object"
expect_status 0 aoectl abft --json "$t"
if command -v python3 >/dev/null; then
	python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["name"] == "e258.7", o
assert (o["shelf"], o["slot"]) == (258, 7), o
assert o["mac"] == sys.argv[2], o
assert o["length"] == 46 and o["oem_id"] == "FENSYS", o
assert o["source"] == sys.argv[3], o
' "$tmpdir/out" "$mac" "$t" || fail "abft --json: unexpected object"
fi

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	say "-l names the interface that has the MAC"
	ns=aoet-$test_short-$$
	new_netns "$ns"
	ip -n "$ns" link add abft0 address "$mac" type veth peer name abft1 ||
	    fail "ip link add failed"
	expect_status 0 ip netns exec "$ns" aoectl abft -l "$t"
	expect_grep "$tmpdir/out" $'\tinterface: abft0'
	expect_status 0 ip netns exec "$ns" aoectl abft --json "$t"
	expect_grep "$tmpdir/out" '"interface":"abft0"'
	ip -n "$ns" link set abft0 address 02:00:5e:00:ab:02
	expect_status 0 ip netns exec "$ns" aoectl abft -l "$t"
	expect_grep "$tmpdir/out" $'\tinterface: none'
	expect_status 0 ip netns exec "$ns" aoectl abft --json "$t"
	expect_grep "$tmpdir/out" '"interface":null'
else
	say "note: not root: the interface lookup is not checked"
fi

say "bad tables: exit 1 with the reason"
cp "$t" "$tmpdir/sum"
printf '\x01' | dd of="$tmpdir/sum" bs=1 seek=40 conv=notrunc 2>/dev/null
expect_status 1 aoectl abft "$tmpdir/sum"
expect_grep "$tmpdir/err" "bad checksum"
head -c 45 "$t" >"$tmpdir/short"
expect_status 1 aoectl abft "$tmpdir/short"
expect_grep "$tmpdir/err" "truncated"
mk_abft "$tmpdir/long" 1 0 "$mac" 64
head -c 46 "$tmpdir/long" >"$tmpdir/trunc"
expect_status 0 aoectl abft "$tmpdir/long"
expect_status 1 aoectl abft "$tmpdir/trunc"
expect_grep "$tmpdir/err" "truncated"
mk_abft "$tmpdir/ibft" 1 0 "$mac" 46 iBFT
expect_status 1 aoectl abft "$tmpdir/ibft"
expect_grep "$tmpdir/err" "not an aBFT"
: >"$tmpdir/empty"
expect_status 1 aoectl abft "$tmpdir/empty"
mk_abft "$tmpdir/bcast" 65535 0 "$mac"
expect_status 1 aoectl abft "$tmpdir/bcast"
expect_grep "$tmpdir/err" "broadcast"

say "no file: exit 3; two files: exit 2"
expect_status 3 aoectl abft "$tmpdir/none"
expect_grep "$tmpdir/err" "No such file"
expect_status 2 aoectl abft "$t" "$t"
say "ok"
