#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The target goes away and comes back during I/O.  (1) vblade killed and
# restarted within the dead timeout: aoe-rw's verify passes see no error,
# and the silent target was probed with one frame, not the whole window.
# (2) vblade gone for longer than --dead-timeout: pending and new I/O fail
# with EIO about the dead timeout after the target fell silent (no hang),
# and once vblade is back, found again by the engine's periodic discovery
# alone (its start-up advert is filtered out), the target works again.
# (3) vblade paused twice (SIGSTOP, 0.5 s): data intact, and again one
# frame probes the silent target while the rest of the window waits.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires cmp truncate nft aoe-rw

setup_lan 1500
truncate -s 32M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# ---------------------------------------------------------------- 1
step "1: vblade killed and restarted 1 s later, dead timeout 10 s"
bg_start rw1 aoe-rw -I "$lan_if" --mode loop --duration 7 --seed 11 \
    --dead-timeout 10 --discover-interval 1 --out "$tmpdir/expected1.img" \
    e1.0
rw1=$bg_pid
wait_for -t 15 grep -q '^loop: pass 2 ok' "$tmpdir/rw1.log" ||
    fail "aoe-rw did not get going"
before=$(grep -c '^loop: pass [0-9]* ok' "$tmpdir/rw1.log" || true)
step "killing vblade (pid $vblade_pid) after $before passes"
stop_vblade "$vblade_pid"
sleep 1
start_vblade 1 0 "$tmpdir/disk.img" -b 64
step "vblade restarted"
st=0
bg_wait "$rw1" rw1 60 || st=$?
step "aoe-rw exited with $st"
[ "$st" = 0 ] || fail "I/O failed across a restart within the dead timeout"
after=$(grep -c '^loop: pass [0-9]* ok' "$tmpdir/rw1.log" || true)
say "passes: $before before the kill, $after in all"
[ "$after" -gt "$before" ] || fail "no pass completed after the restart"
rx=$(rw_count "$tmpdir/rw1.log" retransmits)
say "retransmits: $rx"
[ "${rx:-0}" -gt 0 ] || fail "no retransmissions: did vblade really stop?"
# While vblade is gone one frame probes for it (7 or so backoffs in 1 s);
# the rest of the window (64) is held, then resent once.  Resending the
# whole window at every backoff is 448.
[ "$rx" -le 256 ] ||
    fail "$rx retransmissions for a 1 s outage: the whole window resent?"
cmp "$tmpdir/expected1.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"
step "1: ok"

# ---------------------------------------------------------------- 2
step "2: vblade gone for 6 s, dead timeout 3 s, start-up adverts filtered"
fault_block_adverts "$lan_ns" "$lan_tif"
bg_start rw2 aoe-rw -I "$lan_if" --mode outage --duration 40 --seed 12 \
    --dead-timeout 3 --discover-interval 1 --out "$tmpdir/expected2.img" \
    e1.0
rw2=$bg_pid
wait_for -t 15 grep -q '^outage: pass 2 ok' "$tmpdir/rw2.log" ||
    fail "aoe-rw did not get going"
step "killing vblade (pid $vblade_pid)"
stop_vblade "$vblade_pid"
killed=$SECONDS
# The I/O must fail about 3 s later; wait for that to be reported.
wait_for -t 8 grep -q '^outage: pass .* failed with' "$tmpdir/rw2.log" ||
    fail "no I/O failure reported 8 s after the target stopped (hang?)"
step "aoe-rw reported the failure $((SECONDS - killed)) s (whole seconds)" \
    "after the kill"
sleep 3
start_vblade 1 0 "$tmpdir/disk.img" -b 64
step "vblade restarted"
st=0
bg_wait "$rw2" rw2 60 || st=$?
step "aoe-rw exited with $st"
[ "$st" = 0 ] || fail "aoe-rw --mode outage failed"
expect_grep "$tmpdir/rw2.log" "failed with Input/output error"
expect_grep "$tmpdir/rw2.log" "target up again"
grep -q '^outage: a new .* Input/output error' "$tmpdir/rw2.log" ||
    fail "no new request was refused with EIO while the target was dead"
adverts=$(fault_matched "$lan_ns" "$lan_tif" out)
say "start-up adverts filtered: $adverts"
[ "$adverts" -ge 1 ] || fail "vblade's start-up advert was not filtered"
cmp "$tmpdir/expected2.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"
step "2: ok"

# ---------------------------------------------------------------- 3
step "3: vblade paused (SIGSTOP) twice for 0.5 s, nothing lost"
bg_start rw3 aoe-rw -I "$lan_if" --mode loop --duration 5 --seed 13 \
    --dead-timeout 10 --out "$tmpdir/expected3.img" e1.0
rw3=$bg_pid
wait_for -t 15 grep -q '^loop: pass 2 ok' "$tmpdir/rw3.log" ||
    fail "aoe-rw did not get going"
for i in 1 2; do
	kill -STOP "$vblade_pid"
	sleep 0.5
	kill -CONT "$vblade_pid"
	sleep 0.5
done
step "vblade paused and resumed twice"
st=0
bg_wait "$rw3" rw3 60 || st=$?
[ "$st" = 0 ] || fail "I/O failed across two pauses of the target"
cmp "$tmpdir/expected3.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"
rx=$(rw_count "$tmpdir/rw3.log" retransmits)
say "retransmits: $rx"
# Each pause: the probe and its backoffs (6 or so); every frame in flight
# resent at every backoff would be 64 times that.
[ "${rx:-0}" -le 128 ] ||
    fail "$rx retransmissions for two 0.5 s pauses: the window resent?"
step "3: ok"
