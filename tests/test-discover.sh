#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Discovery of several vblades on one LAN: the aoe-stat style table (sorted,
# sizes, interface, state), the --json document (exact sizes, IDENTIFY
# strings, config fields, paths), the -l key: value blocks, the aoe-stat
# alias (aoetools' columns, payload included), and naming one target.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 truncate

setup_lan 1500
mac=$(lan_target_mac)
[ -n "$mac" ] || fail "cannot read the MAC of $lan_tif"

# name  bytes              vblade -b
targets=(
	"e1.0 $((256 * 1024 * 1024)) 24"
	"e1.1 $((100 * 1024 * 1024 + 512)) 8"
	"e7.3 $((12347 * 512)) 5"
)
for t in "${targets[@]}"; do
	set -- $t
	name=$1 bytes=$2 bufcnt=$3
	ss=${name#e}
	truncate -s "$bytes" "$tmpdir/$name.img"
	start_vblade "${ss%.*}" "${ss#*.}" "$tmpdir/$name.img" -b "$bufcnt"
done

# The expected table, computed independently: decimal GB rounded half up.
# aoe-stat prints aoetools' columns (aoe-stat 34 and later on an aoe driver
# with a payload file): name, size, interface, payload (data bytes in a
# frame: 2 sectors at MTU 1500), state.
expected_line()
{
	python3 - "$1" "$2" "$lan_if" "$3" <<'PY'
import sys
from decimal import Decimal, ROUND_HALF_UP
name, size, ifname, fmt = sys.argv[1], int(sys.argv[2]), *sys.argv[3:5]
gb = (Decimal(size) / Decimal(10**9)).quantize(Decimal("0.001"), ROUND_HALF_UP)
if fmt == "aoetools":
    print("%10s %15s %10s %-5s %-14s" % (name, "%sGB" % gb, ifname, 1024, "up"))
else:
    print("%10s %15s %-8s %s" % (name, "%sGB" % gb, ifname, "up"))
PY
}
: >"$tmpdir/table.expected"
: >"$tmpdir/aoetools.expected"
for t in "${targets[@]}"; do
	set -- $t
	expected_line "$1" "$2" stat >>"$tmpdir/table.expected"
	expected_line "$1" "$2" aoetools >>"$tmpdir/aoetools.expected"
done

say "aoectl stat lists the three targets, sorted, with sizes"
expect_status 0 aoectl -I "$lan_if" -w 2 stat
# Trailing blanks are not part of the contract.
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/table"
sed 's/[[:space:]]*$//' "$tmpdir/table.expected" >"$tmpdir/table.exp"
diff -u "$tmpdir/table.exp" "$tmpdir/table" || fail "stat table differs"

say "aoe-stat alias prints the same targets in aoetools' columns"
sed 's/[[:space:]]*$//' "$tmpdir/aoetools.expected" >"$tmpdir/aoetools.exp"
expect_status 0 aoe-stat -I "$lan_if" -w 2
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/table2"
diff -u "$tmpdir/aoetools.exp" "$tmpdir/table2" ||
    fail "aoe-stat table differs"
expect_status 0 aoe-stat -a -I "$lan_if" -w 2
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/table3"
diff -u "$tmpdir/aoetools.exp" "$tmpdir/table3" || fail "aoe-stat -a differs"
# What a script written for aoetools reads: the state in column 5.
[ "$(awk '{ print $5 }' "$tmpdir/out" | sort -u)" = up ] ||
    fail "aoe-stat: column 5 is not the state"

say "stat --json: exact sizes, IDENTIFY strings, config fields, paths"
expect_status 0 aoectl -I "$lan_if" -w 2 stat --json
python3 - "$tmpdir/out" "$lan_if" "$mac" "$lan_mtu" "${targets[@]}" <<'PY' ||
import json, sys
doc = json.load(open(sys.argv[1]))
ifname, mac, mtu = sys.argv[2], sys.argv[3].lower(), int(sys.argv[4])
want = [t.split() for t in sys.argv[5:]]
ts = doc["targets"]
assert isinstance(ts, list) and len(ts) == len(want), ts
def check(cond, what, t):
    if not cond:
        sys.exit("json: %s: %s" % (what, json.dumps(t, indent=1)))
for t, (name, size, bufcnt) in zip(ts, want):
    shelf, slot = map(int, name[1:].split("."))
    check(t["shelf"] == shelf and t["slot"] == slot, "order/name " + name, t)
    if "name" in t:
        check(t["name"] == name, "name", t)
    check(t["size"] == int(size), "size", t)
    check(t["sectors"] == int(size) // 512, "sectors", t)
    check(t["state"] == "up", "state", t)
    check(t["model"] == "Coraid EtherDrive vblade", "model", t)
    check(t["firmware"] == "V25", "firmware", t)
    check(t["bufcnt"] == int(bufcnt), "bufcnt", t)
    check(t["scnt"] == 2, "scnt at MTU 1500", t)
    check(t["sectors_per_frame"] == 2, "sectors_per_frame", t)
    check(t["fwver"] == 0x4019, "fwver (vblade's FWV)", t)
    # vblade's IDENTIFY: word 83 = 0x5400 (LBA48, FLUSH CACHE, no EXT),
    # serial "SHELF.SLOT:hostname" cut to 20 characters.
    check(t["lba48"] is True, "lba48", t)
    check(t["flush"] is True and t["flush_ext"] is False, "flush", t)
    check(t["serial"].startswith("%d.%d:" % (shelf, slot)), "serial", t)
    check(t["read_only"] is False, "read_only", t)
    check(t["config"] == "", "config", t)
    for k in ("srtt_us", "rto_us", "window", "retransmits", "rotation"):
        check(isinstance(t[k], int), k, t)
    ifs = t["interfaces"]
    check(ifs == [ifname] or ifs == ifname, "interfaces", t)
    macs = t["macs"]
    check([m.lower() for m in (macs if isinstance(macs, list) else [macs])]
          == [mac], "macs", t)
    check(t["paths"] == [{"interface": ifname, "mac": mac, "mtu": mtu}]
          or [dict(p, mac=p["mac"].lower()) for p in t["paths"]]
          == [{"interface": ifname, "mac": mac, "mtu": mtu}], "paths", t)
print("json: %d targets as expected" % len(ts))
PY
    fail "stat --json"

say "stat -l: one block of key: value lines per target"
expect_status 0 aoectl -I "$lan_if" -w 2 stat -l
keys="shelf slot size sectors state interfaces macs paths bufcnt fwver scnt
sectors_per_frame model serial firmware lba48 flush flush_ext rotation config
read_only srtt_us rto_us window retransmits"
for k in $keys; do
	n=$(grep -c "^	$k: " "$tmpdir/out" || true)
	[ "$n" = 3 ] || fail "stat -l: '$k:' appears $n times, expected 3"
done
grep -q "^	size: $((256 * 1024 * 1024))\$" "$tmpdir/out" ||
    fail "stat -l: no 'size: 268435456'"
grep -q "^	sectors: 12347\$" "$tmpdir/out" ||
    fail "stat -l: no 'sectors: 12347'"
grep -q "^	model: Coraid EtherDrive vblade\$" "$tmpdir/out" ||
    fail "stat -l: model"
grep -q "^	paths: .*$lan_if" "$tmpdir/out" || fail "stat -l: paths"
# The summary lines are still there, in order.
grep -v '^	' "$tmpdir/out" | sed 's/[[:space:]]*$//' >"$tmpdir/table4"
diff -u "$tmpdir/table.exp" "$tmpdir/table4" || fail "stat -l summary lines"

say "naming one target shows only it (and finishes early)"
start=$SECONDS
expect_status 0 aoectl -I "$lan_if" -w 5 stat e7.3
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/one"
sed -n 3p "$tmpdir/table.exp" | diff -u - "$tmpdir/one" ||
    fail "stat e7.3 shows more or other than e7.3"
[ $((SECONDS - start)) -lt 5 ] || fail "stat e7.3 waited the full --wait"
expect_status 0 aoectl -I "$lan_if" -w 2 stat 1.1 e1.0
sed 's/[[:space:]]*$//' "$tmpdir/out" >"$tmpdir/two"
sed -n 1,2p "$tmpdir/table.exp" | diff -u - "$tmpdir/two" ||
    fail "stat 1.1 e1.0 is not the sorted two lines"
say "ok"
