#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-nbd as nbdinfo sees it: NBD_OPT_LIST of every discovered target with
# its description, and per export the size, flags and block sizes as
# advertised (text and --json); the default export "" with one target
# named; -r makes every export read-only.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires nbdinfo aoe-nbd
requires_root
[ -n "$nbd_python" ] || requires python3
py=${nbd_python:-python3}

setup_lan
make_image "$tmpdir/d0.img" 16
make_image "$tmpdir/d1.img" 8
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img"

# Every discovered target is an export.
start_aoe_nbd -I "$lan_if" -w 2

expect_status 0 nbdinfo --list "$(nbd_uri)"
cp "$tmpdir/out" "$tmpdir/list.txt"
expect_grep "$tmpdir/list.txt" 'export="e1.0":'
expect_grep "$tmpdir/list.txt" 'export="e1.1":'
expect_grep "$tmpdir/list.txt" \
    'description: Coraid EtherDrive vblade, serial 1.0:'
expect_grep "$tmpdir/list.txt" 'export-size: 16777216'
expect_grep "$tmpdir/list.txt" 'export-size: 8388608'

expect_status 0 nbdinfo --list --json "$(nbd_uri)"
cp "$tmpdir/out" "$tmpdir/list.json"
expect_status 0 nbdinfo --json "$(nbd_uri e1.1)"
cp "$tmpdir/out" "$tmpdir/e11.json"

"$py" - "$tmpdir/list.json" "$tmpdir/e11.json" <<'EOF' ||
import json, sys

lst = json.load(open(sys.argv[1]))
one = json.load(open(sys.argv[2]))
assert lst["protocol"] == "newstyle-fixed", lst["protocol"]
assert lst["TLS"] is False
assert lst["structured"] is True
names = [e["export-name"] for e in lst["exports"]]
assert names == ["e1.0", "e1.1"], names
sizes = {e["export-name"]: e["export-size"] for e in lst["exports"]}
assert sizes == {"e1.0": 16 << 20, "e1.1": 8 << 20}, sizes
for e in lst["exports"] + one["exports"]:
    want = {
        "block_size_minimum": 1,
        "block_size_preferred": 4096,
        "block_size_maximum": 32 << 20,
        "is_read_only": False,
        "is_rotational": True,   # vblade reports no rotation rate
        "can_flush": True,
        "can_fua": True,
        "can_zero": True,
        "can_fast_zero": True,
        "can_cache": True,
        "can_df": True,
        "can_multi_conn": True,
        "can_trim": False,       # neither the engine nor vblade trims
    }
    for k, v in want.items():
        assert e[k] == v, (e["export-name"], k, e[k], v)
    assert "base:allocation" in e["contexts"], e["contexts"]
    assert e["description"].startswith("Coraid EtherDrive vblade, serial "), \
        e["description"]
    assert e["description"].endswith("%d bytes" % e["export-size"])
assert [e["export-name"] for e in one["exports"]] == ["e1.1"]
print("json checks passed")
EOF
    fail "nbdinfo --json output is not as advertised"

# Several targets and no name: the default export "" is refused with a
# reason, and the server goes on.
expect_status 1 nbdinfo "$(nbd_uri)"
expect_status 0 nbdinfo --size "$(nbd_uri e1.0)"
[ "$(cat "$tmpdir/out")" = 16777216 ] || fail "wrong size"
# Not a target name, and a target nobody has.
expect_status 1 nbdinfo "$(nbd_uri foo)"
expect_status 1 nbdinfo "$(nbd_uri e9.9)"

# A target that appears while the server runs is exported at once; vblade
# -r refuses writes (ATA ABRT): the client gets EPERM, and the export is
# read-only from then on.
make_image "$tmpdir/d2.img" 4
start_vblade 1 2 "$tmpdir/d2.img" -r
expect_status 0 nbdinfo --size "$(nbd_uri e1.2)"
[ "$(cat "$tmpdir/out")" = 4194304 ] || fail "e1.2: wrong size"
expect_status 0 nbdinfo --list "$(nbd_uri)"
expect_grep "$tmpdir/out" 'export="e1.2":'
if [ -n "$nbd_python" ]; then
	expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.2)" -c '
import errno
assert not h.is_read_only()
try:
    h.pwrite(b"w" * 512, 0)
    raise AssertionError("a write to vblade -r succeeded")
except nbd.Error as e:
    assert e.errnum == errno.EPERM, e
print("EPERM")'
	expect_status 0 nbdinfo --is read-only "$(nbd_uri e1.2)"
fi
cmp -s <(head -c 512 "$tmpdir/d2.img") <(head -c 512 /dev/zero) &&
    fail "vblade -r was written to"

nbd_alive
stop_aoe_nbd

# One target named, read-only: "" is that target; LIST shows only it.
start_aoe_nbd -I "$lan_if" -w 5 -r e1.1
expect_status 0 nbdinfo --json "$(nbd_uri)"
"$py" -c 'import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["export-size"] == 8 << 20, e
assert e["is_read_only"] is True
assert e["can_zero"] is False and e["can_fua"] is False
assert e["can_flush"] is True and e["can_multi_conn"] is True
print("read-only default export ok")' "$tmpdir/out" ||
    fail "-r / default export not as expected"
expect_status 0 nbdinfo --list "$(nbd_uri)"
expect_grep "$tmpdir/out" 'export="e1.1":'
if grep -q 'export="e1.0"' "$tmpdir/out"; then
	fail "e1.0 listed although only e1.1 was named"
fi
expect_status 1 nbdinfo "$(nbd_uri e1.0)"
expect_status 2 nbdinfo --can write "$(nbd_uri e1.1)"
stop_aoe_nbd
say "PASS"
