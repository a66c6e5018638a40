# SPDX-License-Identifier: GPL-2.0-or-later
# Shared body of test-rw-{packet,pcap}-{1500,9000}.sh: a 256 MiB vblade,
# aoe-rw writes it with random data in random (often unaligned) requests,
# reads it back and compares, and the backing file must equal what was
# written.  The wrapper sets rw_backend and rw_mtu before sourcing this.
. "$(dirname "$0")/functions.sh"
requires_root
requires cmp truncate

: "${rw_backend:?}" "${rw_mtu:?}"
rw_seed=${rw_seed:-$((rw_mtu + ${#rw_backend}))}

setup_lan "$rw_mtu"
truncate -s 256M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

say "aoe-rw --backend $rw_backend at MTU $rw_mtu, seed $rw_seed"
start=$SECONDS
st=0
timeout 600 aoe-rw -I "$lan_if" --backend "$rw_backend" --seed "$rw_seed" \
    --dead-timeout 30 --out "$tmpdir/expected.img" e1.0 || st=$?
say "aoe-rw exited with $st after $((SECONDS - start)) s"
[ "$st" = 0 ] || fail "aoe-rw failed (exit $st)"

say "the backing file equals the image written"
stop_vblade "$vblade_pid"
cmp "$tmpdir/expected.img" "$tmpdir/disk.img" ||
    fail "backing file differs from what aoe-rw wrote"
say "ok ($((SECONDS - start)) s)"
