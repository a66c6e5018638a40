#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Soak test, run on demand (not part of make check): aoe-nbd serves four
# vblade targets over a private veth pair with 5 % loss at all four
# nftables hooks; four tests/nbd-aio clients, one per export, run mixed
# random I/O in a loop, each pass checked byte for byte against its shadow
# copy and against vblade's backing file.  aoe-nbd's VmRSS is sampled every
# 10 s; after the warm-up its floor may not grow by more than a small bound.
#
# Run as root from a build directory (make tests/nbd-aio first):
#     sudo contrib/soak.sh           # or: sudo SOAK_SECONDS=120 ...
# Environment: SOAK_SECONDS (default 600), SOAK_WARMUP (seconds, default
# a quarter of the run, at most 60), SOAK_RSS_BOUND_KB (default 4096),
# SOAK_LOSS (percent, default 5), AOE_TEST_KEEP=1 keeps the scratch dir.
# Exit status 0 with a summary when no client failed and VmRSS did not grow.

soak_seconds=${SOAK_SECONDS:-600}
case $soak_seconds in
'' | *[!0-9]*) echo "soak.sh: SOAK_SECONDS must be a number" >&2; exit 2 ;;
esac
warmup=${SOAK_WARMUP:-$((soak_seconds / 4 > 60 ? 60 : soak_seconds / 4))}
rss_bound=${SOAK_RSS_BOUND_KB:-4096}
loss=${SOAK_LOSS:-5}
# nbd-functions.sh bounds the whole run with timeout(1).
nbd_test_timeout=$((soak_seconds + 180))
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_srcdir
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd-functions.sh"
. "$top_srcdir/tests/fault-functions.sh"
requires_root
requires aoe-nbd nbd-aio nft cmp
NCLIENTS=4

say "$soak_seconds s, $NCLIENTS clients, loss $loss %, warm-up $warmup s," \
    "VmRSS growth bound $rss_bound KiB"
setup_lan 1500
for i in $(seq 0 $((NCLIENTS - 1))); do
	make_image "$tmpdir/d$i.img" 16
	start_vblade 1 "$i" "$tmpdir/d$i.img" -b 64
done
start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 60
fault_loss "" "$lan_if" "$loss"
fault_loss "$lan_ns" "$lan_tif" "$loss"

stop=$tmpdir/stop
rm -f "$stop"

# client N: nbd-aio passes on export e1.N until $stop exists; each pass
# with its own seed and a mix of depth, request size, reply style and
# connection count; its shadow must equal the backing file.
client()
{
	local n=$1 pass=0 seed args st
	while [ ! -e "$stop" ]; do
		pass=$((pass + 1))
		seed=$((n * 100000 + pass))
		case $((pass % 4)) in
		0) args="--depth 64 --max-len 4194304" ;;
		1) args="--depth 16 --max-len 65536 --no-sr" ;;
		2) args="--depth 96 --max-len 1048576 --connections 2" ;;
		3) args="--depth 8 --max-len 8192" ;;
		esac
		st=0
		# shellcheck disable=SC2086
		timeout -k 5 120 nbd-aio --seed "$seed" --count 2000 $args \
		    --out "$tmpdir/s$n.img" "$(nbd_uri "e1.$n")" \
		    >"$tmpdir/c$n-last.log" 2>&1 || st=$?
		if [ "$st" != 0 ]; then
			echo "client $n pass $pass (seed $seed, $args):" \
			    "nbd-aio exited $st" >>"$tmpdir/failures"
			sed "s/^/  c$n| /" "$tmpdir/c$n-last.log" \
			    >>"$tmpdir/failures"
			return 1
		fi
		if ! cmp "$tmpdir/s$n.img" "$tmpdir/d$n.img" \
		    >>"$tmpdir/failures" 2>&1; then
			echo "client $n pass $pass (seed $seed): backing file" \
			    "differs from the shadow" >>"$tmpdir/failures"
			return 1
		fi
		echo "$pass" >"$tmpdir/c$n.passes"
		awk '/ reads, / { r += $2; w += $4 } END { print r + 0, w + 0 }' \
		    "$tmpdir/c$n-last.log" >>"$tmpdir/c$n.ops"
	done
}

pids=()
for i in $(seq 0 $((NCLIENTS - 1))); do
	echo 0 >"$tmpdir/c$i.passes"
	client "$i" </dev/null >/dev/null 2>&1 &
	pids+=("$!")
	cleanup_fn _kill_wait "$!"
done

rss()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$nbd_pid/status"
}

# VmRSS swings by a few MiB with the request buffers in flight, so a
# leak shows as a rising floor: the lowest sample of the second half of
# the run after the warm-up against the lowest of the first half.
t0=$SECONDS
series=()
steady=()
while [ $((SECONDS - t0)) -lt "$soak_seconds" ]; do
	sleep 10
	nbd_alive
	t=$((SECONDS - t0))
	r=$(rss)
	series+=("$t:$r")
	passes=$(awk '{ s += $1 } END { print s + 0 }' "$tmpdir"/c*.passes)
	if [ "$t" -ge "$warmup" ]; then
		steady+=("$r")
		note="(after warm-up)"
	else
		note="(warm-up)"
	fi
	say "[$t s] VmRSS $r KiB $note; passes $passes"
	[ ! -s "$tmpdir/failures" ] || break
done
touch "$stop"
say "stopping the clients (each finishes its pass)"
st=0
for p in "${pids[@]}"; do
	wait "$p" || st=1
done
say "VmRSS series (s:KiB): ${series[*]}"
fault_counters ""
fault_counters "$lan_ns"
lost=$(( $(fault_matched "" "$lan_if" in) + $(fault_matched "" "$lan_if" out) +
    $(fault_matched "$lan_ns" "$lan_tif" in) +
    $(fault_matched "$lan_ns" "$lan_tif" out) ))
if [ -s "$tmpdir/failures" ] || [ "$st" != 0 ]; then
	cat "$tmpdir/failures" >&2
	fail "a client failed"
fi
[ "${#steady[@]}" -ge 2 ] ||
    fail "fewer than 2 samples after the warm-up (SOAK_SECONDS too short?)"
read -r early late peak < <(printf '%s\n' "${steady[@]}" | awk '
	{ v[NR] = $1; if ($1 > peak) peak = $1 }
	END {
		h = int(NR / 2)
		e = v[1]; for (i = 2; i <= h; i++) if (v[i] < e) e = v[i]
		l = v[h + 1]; for (i = h + 2; i <= NR; i++) if (v[i] < l) l = v[i]
		print e, l, peak
	}')
growth=$((late - early))
total=0
ops=0
for i in $(seq 0 $((NCLIENTS - 1))); do
	p=$(cat "$tmpdir/c$i.passes")
	o=$(awk '{ r += $1; w += $2 } END { print r " reads, " w " writes" }' \
	    "$tmpdir/c$i.ops" 2>/dev/null)
	say "client $i (e1.$i): $p passes verified ($o)"
	total=$((total + p))
done
[ "$total" -ge "$NCLIENTS" ] || fail "too few passes: $total"
nbd_alive
stop_aoe_nbd
say "summary: $((SECONDS - t0)) s, $total passes verified, 0 errors," \
    "$lost frames lost; VmRSS floor $early KiB in the first half after" \
    "warm-up, $late KiB in the second (growth $growth KiB, bound" \
    "$rss_bound), peak $peak KiB"
[ "$growth" -le "$rss_bound" ] ||
    fail "aoe-nbd's VmRSS grew by $growth KiB after the warm-up"
say "PASS"
