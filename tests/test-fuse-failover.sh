#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An HA failover under aoe-fuse's file: dd writes with oflag=direct while
# vblade of host B stops and starts as host C on another MAC, on the same
# storage (a copy of the file here): another serial, the same size.  The
# target is taken as moved: dd goes on without an error and its data is
# on host C's file.  (It was taken as another disk: dd failed with EIO.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuse-functions.sh"
fuse_watchdog 85

requires_root
requires_fuse
requires unshare dd cmp truncate timeout
MIB=64

truncate -s ${MIB}M "$tmpdir/b.img"

setup_two_lans_empty 1500
start_vblade_on hostb "$tmpdir/b.img"

file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$if1,$if2" --dead-timeout 60 --discover-interval 1 \
    e1.0 "$file"
make_pattern "$tmpdir/src" "$MIB"

say "dd writes while vblade fails over from host b to host c"
st=0
timeout -k 5 60 dd if="$tmpdir/src" of="$file" bs=64k oflag=direct \
    conv=notrunc 2>"$tmpdir/dd.err" &
dd_pid=$!
sleep 0.2
kill -0 "$dd_pid" 2>/dev/null || fail "dd ended before the failover"
stop_vblade "$vblade_pid"
sleep 1
cp "$tmpdir/b.img" "$tmpdir/c.img"
lan_tif=$tif2
start_vblade_on hostc "$tmpdir/c.img"
wait "$dd_pid" || st=$?
cat "$tmpdir/dd.err"
[ "$st" = 0 ] || fail "dd failed across the failover ($st)"
cmp "$tmpdir/src" "$tmpdir/c.img" ||
    fail "host c's file does not hold what dd wrote"
cmp "$tmpdir/src" "$file" || fail "the file reads back other data"
