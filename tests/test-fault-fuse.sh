#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Faults on the wire seen through the real FUSE front end (single-file
# form): random data written with dd oflag=direct and read back with
# iflag=direct must equal the source and vblade's backing file under 5 %
# loss at all four nftables hooks and under the faultswitch's delay,
# jitter and reordering; and a dd running while vblade is killed and
# restarted within aoe-fuse's dead timeout sees no error.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuse-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
fuse_watchdog 85

requires_root
requires_fuse
requires dd cmp timeout nft faultswitch truncate
MIB=32

setup_switched_lan 1500
backing=$tmpdir/backing.img
truncate -s ${MIB}M "$backing"
start_vblade 1 0 "$backing" -b 64
start_faultswitch --duration 120

file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$lan_if" --dead-timeout 10 --discover-interval 1 \
    e1.0 "$file"
size=$(stat -c %s "$file")
[ "$size" = $((MIB * 1048576)) ] ||
    fail "size $size, expected $((MIB * 1048576))"

# dd_timed LABEL dd-args...: run dd (bounded), print its speed line.
dd_timed()
{
	local label=$1 st=0
	shift
	timeout -k 5 40 dd "$@" 2>"$tmpdir/dd.err" || st=$?
	step "$label: $(tail -n 1 "$tmpdir/dd.err")"
	if [ "$st" != 0 ]; then
		cat "$tmpdir/dd.err" >&2
		fail "$label: dd exited $st"
	fi
}

# write_read NAME: fresh random data in with O_DIRECT, out with O_DIRECT,
# compared with the source and with the backing file.
write_read()
{
	local name=$1
	head -c $((MIB * 1048576)) /dev/urandom >"$tmpdir/src"
	dd_timed "$name: O_DIRECT write" if="$tmpdir/src" of="$file" bs=1M \
	    oflag=direct conv=notrunc,fsync
	dd_timed "$name: O_DIRECT read" if="$file" of="$tmpdir/out" bs=1M \
	    iflag=direct
	cmp "$tmpdir/src" "$tmpdir/out" ||
	    fail "$name: data read back differs from what was written"
	cmp "$tmpdir/src" "$backing" ||
	    fail "$name: vblade's backing file differs from what was written"
	say "$name: read-back and backing file equal the source"
	pid_alive "$fuse_pid" || fail "aoe-fuse died"
}

# ---------------------------------------------------------------- loss
step "loss 5 % at both ends, both directions"
fault_loss "" "$lan_if" 5
fault_loss "$lan_ns" "$lan_tif" 5
write_read loss5
fault_counters ""
fault_counters "$lan_ns"
n=$(( $(fault_matched "" "$lan_if" in) + $(fault_matched "" "$lan_if" out) +
    $(fault_matched "$lan_ns" "$lan_tif" in) +
    $(fault_matched "$lan_ns" "$lan_tif" out) ))
say "loss5: $n frames lost"
[ "$n" -gt 0 ] || fail "loss5: the rules lost nothing"
fault_clear "" "$lan_if"
fault_clear "$lan_ns" "$lan_tif"

# ------------------------------------------------------------- reorder
stop_faultswitch
step "faultswitch: delay 1 ms + jitter 0..2 ms, 5 % reordered by 0..4 ms," \
    "1 % duplicated"
start_faultswitch --seed 51 --duration 60 --delay 1 --jitter 2 \
    --reorder 5 --reorder-delay 4 --dup 1
write_read reorder
stop_faultswitch
fsw_expect reorder held reordered

# ------------------------------------------------------------- restart
start_faultswitch --duration 60
step "vblade killed and restarted 1 s later during a dd" \
    "(aoe-fuse --dead-timeout 10)"
head -c $((MIB * 1048576)) /dev/urandom >"$tmpdir/src"
# A paced writer: 1 MiB every 0.1 s, so that dd issues writes all through
# the outage.
printf '+ paced source | dd of=%s bs=1M iflag=fullblock oflag=direct &\n' \
    "$file"
(
	i=0
	while [ "$i" -lt "$MIB" ]; do
		dd if="$tmpdir/src" bs=1M skip="$i" count=1 status=none
		sleep 0.1
		i=$((i + 1))
	done | timeout -k 5 60 dd of="$file" bs=1M iflag=fullblock \
	    oflag=direct conv=notrunc,fsync
) </dev/null >"$tmpdir/dd-restart.log" 2>&1 &
ddpid=$!
cleanup_fn _kill_wait "$ddpid"
sleep 1
kill -0 "$ddpid" 2>/dev/null || {
	cat "$tmpdir/dd-restart.log"
	fail "dd ended early"
}
step "killing vblade (pid $vblade_pid)"
stop_vblade "$vblade_pid"
sleep 1
start_vblade 1 0 "$backing" -b 64
step "vblade restarted"
st=0
bg_wait "$ddpid" dd-restart 60 || st=$?
step "restart: dd exited with $st"
[ "$st" = 0 ] || fail "restart: dd saw an error across the restart"
cmp "$tmpdir/src" "$backing" ||
    fail "restart: vblade's backing file differs from what was written"
dd_timed "restart: O_DIRECT read" if="$file" of="$tmpdir/out" bs=1M \
    iflag=direct
cmp "$tmpdir/src" "$tmpdir/out" ||
    fail "restart: data read back differs from what was written"
say "restart: no error, read-back and backing file equal the source"
stop_faultswitch
stop_fuse "$file" "$fuse_pid"
step "ok"
