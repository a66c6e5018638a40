#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fio through aoe-nbd with its nbd engine (libnbd): random writes of mixed
# sizes at queue depth 32 with crc32c verification of every block read
# back, then a timed mixed random read/write job; fio must report no error.
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires fio aoe-nbd
requires_root
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd' ||
    fail "fio has no nbd engine"

setup_lan
truncate -s 64M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64
start_aoe_nbd -I "$lan_if" -w 5 e1.0
uri=$(nbd_uri e1.0)

# Random writes, 4-64 KiB, QD32, each block verified when read back.
expect_status 0 fio --name=verify --ioengine=nbd --uri="$uri" \
    --rw=randwrite --bsrange=4k-64k --iodepth=32 --size=32M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
    --output-format=terse \
    --terse-version=3
say "fio randwrite + crc32c verify: ok"

# Mixed random I/O for a few seconds, two jobs (two connections).
expect_status 0 fio --name=mixed --ioengine=nbd --uri="$uri" \
    --rw=randrw --rwmixread=70 --bs=4k --iodepth=32 --numjobs=2 \
    --size=64M --time_based --runtime=3 --group_reporting
expect_grep "$tmpdir/out" "err= 0"
grep -E 'IOPS=' "$tmpdir/out" | sed 's/^/  /'

nbd_alive
stop_aoe_nbd
say "PASS"
