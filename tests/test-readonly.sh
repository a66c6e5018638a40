#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A read-only target (vblade -r): a write fails with EROFS (or EPERM), the
# target stays usable, reads return the backing file, stat shows it.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 cmp

setup_lan
python3 -c '
import random, sys
random.seed(42)
open(sys.argv[1], "wb").write(random.randbytes(8 << 20))
' "$tmpdir/disk.img"
cp "$tmpdir/disk.img" "$tmpdir/orig.img"
start_vblade 1 0 "$tmpdir/disk.img" -r

say "aoe-rw --mode rofs: the write fails with EROFS/EPERM, a read works"
expect_status 0 timeout 60 aoe-rw -I "$lan_if" --mode rofs e1.0

say "read the whole target: equal to the backing file"
expect_status 0 timeout 60 aoe-rw -I "$lan_if" --mode read \
    --out "$tmpdir/read.img" e1.0
cmp "$tmpdir/read.img" "$tmpdir/orig.img" || fail "read image differs"
cmp "$tmpdir/disk.img" "$tmpdir/orig.img" || fail "the backing file changed"

say "a verify run fails (exit 1) and changes nothing"
expect_status 1 timeout 60 aoe-rw -I "$lan_if" --seed 5 e1.0
cmp "$tmpdir/disk.img" "$tmpdir/orig.img" || fail "the backing file changed"
say "ok"
