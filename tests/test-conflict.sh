#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two targets with the same shelf.slot (the classic SAN mistake: two hosts
# export a disk as e1.0), each with a disk of its own, reached here over two
# interfaces.  Both answer discovery; the engine took every MAC as a path of
# one target and spread the frames over them, so a read returned every
# other 1 KiB from the other disk and a write went half to each.  Now each
# path's own IDENTIFY must show the disk the target was identified as
# (serial, model, firmware, size): a read is one disk, a write lands on one
# disk whole and the other is untouched, aoe-nbd warns about the other,
# and aoectl stat lists the path under "conflicts".  Then both on one hub
# (a bridge that floods every frame): the other vblade answers the frames
# sent to the first too, and those answers must not count.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
requires_root
requires cmp truncate unshare python3 nbdcopy aoe-nbd aoectl

mib=4
python3 - "$tmpdir" "$mib" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2]) << 20
open(d + "/a.img", "wb").write(b"A" * n)
open(d + "/b.img", "wb").write(b"B" * n)
open(d + "/data.img", "wb").write(bytes(range(256)) * (n // 256))
EOF
cp "$tmpdir/a.img" "$tmpdir/a0.img"
cp "$tmpdir/b.img" "$tmpdir/b0.img"

setup_lan 1500
if1=$lan_if
start_vblade_on hosta "$tmpdir/a.img"
setup_lan 1500
if2=$lan_if
start_vblade_on hostb "$tmpdir/b.img"
ifs=$if1,$if2

say "a read is one disk, not frames of both"
expect_status 0 aoe-nbd -I "$ifs" -w 5 --discover-interval 1 \
    --run "nbdcopy \"\$uri\" $tmpdir/out.img" e1.0
if cmp -s "$tmpdir/out.img" "$tmpdir/a.img"; then
	first=a
elif cmp -s "$tmpdir/out.img" "$tmpdir/b.img"; then
	first=b
else
	python3 - "$tmpdir/out.img" <<'EOF'
import collections, sys
d = open(sys.argv[1], "rb").read()
print("sectors read per disk:",
      dict(collections.Counter(chr(d[i]) for i in range(0, len(d), 512))))
EOF
	fail "the read mixed both disks"
fi
say "read disk $first"
expect_grep "$tmpdir/err" "another disk answers for e1.0"

say "a write lands on one disk whole, the other is untouched"
expect_status 0 aoe-nbd -I "$ifs" -w 5 --discover-interval 1 \
    --run "nbdcopy $tmpdir/data.img \"\$uri\"" e1.0
if cmp -s "$tmpdir/a.img" "$tmpdir/data.img"; then
	cmp -s "$tmpdir/b.img" "$tmpdir/b0.img" ||
	    fail "disk a written, and disk b changed too"
elif cmp -s "$tmpdir/b.img" "$tmpdir/data.img"; then
	cmp -s "$tmpdir/a.img" "$tmpdir/a0.img" ||
	    fail "disk b written, and disk a changed too"
else
	fail "neither disk holds what was written"
fi

say "aoectl stat lists the other disk's path as a conflict"
expect_status 0 aoectl -I "$ifs" -w 2 stat -l
n=$(grep -c "^	conflicts: [^,]*/[0-9a-f:]*\$" "$tmpdir/out" || true)
[ "$n" = 1 ] || fail "stat -l: no one conflicting path"
expect_status 0 aoectl -I "$ifs" -w 2 stat --json
python3 - "$tmpdir/out" "$if1" "$if2" <<'EOF' || fail "stat --json"
import json, sys
t = json.load(open(sys.argv[1]))["targets"][0]
c = [p["interface"] for p in t["conflicts"]]
assert len(c) == 1 and c[0] in sys.argv[2:4], t
assert len(t["paths"]) == 2, t
EOF

say "aoectl check names the conflicting path and exits 1"
expect_status 1 aoectl -I "$ifs" check e1.0
n=$(grep -c "another disk answers here" "$tmpdir/out" || true)
[ "$n" = 1 ] || fail "check: $n paths said to be another disk, not 1"
grep -q ": ok\$" "$tmpdir/out" || fail "check: the target's own path not ok"

say "on a hub both targets hear every frame: only the checked one is heard"
# A bridge that learns no address floods every frame to every port, as a
# switch does with a MAC it has not learnt (or forgot): the other vblade
# hears the frames sent to the first, answers them (vblade does not look
# at the destination address), and its answers must not count.
hub_ns=$lan_ns
px=${AOE_TEST_PREFIX:-}
hub=${px}hb$$
hub_if=${px}hi$$
ip -n "$hub_ns" link add "$hub" type bridge ageing_time 0 stp_state 0 ||
    fail "no bridge"
cleanup_fn ip -n "$hub_ns" link del "$hub"
ip link add "$hub_if" type veth peer name "${px}hp0-$$" netns "$hub_ns" ||
    fail "ip link add $hub_if failed"
cleanup_fn ip link del "$hub_if"
no_ipv6 "" "$hub_if"
for n in 1 2; do
	ip -n "$hub_ns" link add "${px}hp$n-$$" type veth peer name "${px}ht$n-$$"
	no_ipv6 "$hub_ns" "${px}ht$n-$$"
	ip -n "$hub_ns" link set "${px}ht$n-$$" up
done
for n in 0 1 2; do
	no_ipv6 "$hub_ns" "${px}hp$n-$$"
	ip -n "$hub_ns" link set "${px}hp$n-$$" master "$hub" up
done
ip -n "$hub_ns" link set "$hub" up
ip link set "$hub_if" up
wait_for -t 10 _lan_is_up "$hub_if" || fail "$hub_if did not come up"
cp "$tmpdir/a0.img" "$tmpdir/a.img"
cp "$tmpdir/b0.img" "$tmpdir/b.img"
lan_tif=${px}ht1-$$
start_vblade_on huba "$tmpdir/a.img"
lan_tif=${px}ht2-$$
start_vblade_on hubb "$tmpdir/b.img"
expect_status 0 aoe-nbd -I "$hub_if" -w 5 --discover-interval 1 \
    --run "nbdcopy \"\$uri\" $tmpdir/out2.img" e1.0
cmp -s "$tmpdir/out2.img" "$tmpdir/a.img" ||
    cmp -s "$tmpdir/out2.img" "$tmpdir/b.img" ||
    fail "the read through the hub mixed both disks"
