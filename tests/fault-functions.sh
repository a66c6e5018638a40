# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the fault-tolerance tests (test-fault-*.sh), sourced after
# functions.sh: nftables netdev loss/duplication rules on either end of a
# test LAN, a LAN with the faultswitch between initiator and target,
# background programs with bounded lifetimes, timings, and reading aoe-rw's
# counters.  Like functions.sh, nothing here touches the machine's own
# interfaces.

# ------------------------------------------------------------------ timing

_fault_t0=$(date +%s.%N)

# Seconds since the test started, with milliseconds.
elapsed()
{
	awk -v a="$_fault_t0" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.3f", b - a }'
}

# step MESSAGE: say MESSAGE with the time since the test started.
step()
{
	say "[$(elapsed) s] $*"
}

# ------------------------------------------------------------ nftables

# One netdev table per test run and namespace side; names are unique per
# run ("aoef<pid>"), so concurrent tests never share rules.
fault_table=aoef$$
_fault_sink_made=

# _fnft NS ARGS...: nft in namespace NS ("" = here).
_fnft()
{
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" nft "$@"
	else
		nft "$@"
	fi
}

# A silent sink for the frames the egress rules throw away: a veth pair
# that stays down ("ak<pid>" here, "al<pid>" in the test namespace).
# An nftables `drop` at egress makes the sender's send() fail with
# ENOBUFS, and vblade 25 exits on that ("write to network: No buffer space
# available"); `fwd to` a down device is a stolen verdict: the sender sees
# success and the frame is gone, as on a real lossy wire.
_fault_sink()
{
	[ -z "$_fault_sink_made" ] || return 0
	: "${lan_ns:?setup a LAN first}"
	fault_sink=ak$$
	fault_tsink=al$$
	ip link del "$fault_sink" 2>/dev/null || true
	ip link add "$fault_sink" type veth peer name "$fault_tsink" \
	    netns "$lan_ns" || fail "cannot create the sink veth pair"
	cleanup_fn ip link del "$fault_sink"
	_fault_sink_made=1
}

# The sink device on the side of NS ("" = here).
_fault_sink_dev()
{
	if [ -n "$1" ]; then
		echo "$fault_tsink"
	else
		echo "$fault_sink"
	fi
}

# fault_chains NS DEV: the table (once per side) and ingress and egress
# chains for DEV (in_DEV, out_DEV).  Idempotent.
fault_chains()
{
	local ns=$1 dev=$2 c
	_fault_sink
	if ! _fnft "$ns" list table netdev "$fault_table" >/dev/null 2>&1
	then
		_fnft "$ns" add table netdev "$fault_table" ||
		    fail "nft add table failed (nftables netdev support?)"
		if [ -n "$ns" ]; then
			cleanup_fn ip netns exec "$ns" nft delete table netdev \
			    "$fault_table"
		else
			cleanup_fn nft delete table netdev "$fault_table"
		fi
	fi
	c=$(echo "$dev" | tr -c 'a-zA-Z0-9\n' _)
	_fnft "$ns" list chain netdev "$fault_table" "in_$c" \
	    >/dev/null 2>&1 && return 0
	_fnft "$ns" add chain netdev "$fault_table" "in_$c" \
	    "{ type filter hook ingress device \"$dev\" priority 0; }" ||
	    fail "nft: cannot hook ingress of $dev"
	_fnft "$ns" add chain netdev "$fault_table" "out_$c" \
	    "{ type filter hook egress device \"$dev\" priority 0; }" ||
	    fail "nft: cannot hook egress of $dev"
}

_fault_chain_name()
{
	echo "$1_$(echo "$2" | tr -c 'a-zA-Z0-9\n' _)"
}

# _fault_lose NS DEV in|out|both WHAT MATCH...: lose the AoE frames that
# MATCH (nft words; none: every one) entering (in) and/or leaving (out)
# DEV, in NS ("" = here): dropped on the way in, sent to the sink on the
# way out (see _fault_sink).  WHAT names the rule in errors.
_fault_lose()
{
	local ns=$1 dev=$2 where=$3 what=$4
	shift 4
	fault_chains "$ns" "$dev"
	if [ "$where" != out ]; then
		_fnft "$ns" add rule netdev "$fault_table" \
		    "$(_fault_chain_name in "$dev")" ether type 0x88a2 \
		    "$@" counter drop ||
		    fail "nft: ingress $what on $dev"
	fi
	if [ "$where" != in ]; then
		_fnft "$ns" add rule netdev "$fault_table" \
		    "$(_fault_chain_name out "$dev")" ether type 0x88a2 \
		    "$@" counter fwd to "$(_fault_sink_dev "$ns")" ||
		    fail "nft: egress $what on $dev"
	fi
}

# fault_loss NS DEV PCT [in|out|both]: lose PCT % of the AoE frames
# entering (in) and/or leaving (out) DEV, at random.
fault_loss()
{
	_fault_lose "$1" "$2" "${4:-both}" "loss rule" \
	    numgen random mod 100 '<' "$3"
}

# fault_egress_drop NS DEV PCT: an egress rule with a plain `drop`: the
# sender's send() fails with ENOBUFS (what a local qdisc drop looks like).
# Never on vblade's side (it exits on that error).
fault_egress_drop()
{
	local ns=$1 dev=$2 pct=$3
	fault_chains "$ns" "$dev"
	_fnft "$ns" add rule netdev "$fault_table" \
	    "$(_fault_chain_name out "$dev")" ether type 0x88a2 \
	    numgen random mod 100 '<' "$pct" counter drop ||
	    fail "nft: egress drop rule on $dev"
}

# fault_dup NS DEV PCT: send PCT % of the AoE frames leaving DEV twice.
# The copy passes the egress hook again: the mark keeps it from being
# copied once more (and its copies from multiplying).
fault_dup()
{
	local ns=$1 dev=$2 pct=$3
	fault_chains "$ns" "$dev"
	_fnft "$ns" add rule netdev "$fault_table" \
	    "$(_fault_chain_name out "$dev")" ether type 0x88a2 \
	    meta mark != 0x4ae numgen random mod 100 '<' "$pct" counter \
	    meta mark set 0x4ae dup to "\"$dev\"" ||
	    fail "nft: duplication rule on $dev"
}

# fault_cut NS DEV: lose every AoE frame in and out of DEV.
fault_cut()
{
	_fault_lose "$1" "$2" both cut
}

# fault_jumbo NS DEV BYTES [in|out|both]: lose the AoE frames longer than
# BYTES entering (in) and/or leaving (out) DEV, as a switch or bridge with
# a smaller MTU than both ends would.  (Frames of 2 sectors are 1074 bytes,
# of 3 or more over 1586.)
fault_jumbo()
{
	_fault_lose "$1" "$2" "${4:-both}" "jumbo rule" meta length '>' "$3"
}

# write_export SRC BACKING: copy SRC to the export ($(nbd_uri)), flushed;
# vblade's BACKING file must then equal it.
write_export()
{
	nbdcopy --flush "$1" "$(nbd_uri)" || fail "nbdcopy to the export failed"
	cmp "$1" "$2" ||
	    fail "vblade's backing file differs from what was written"
	say "written: $(($(stat -c %s "$1") >> 20)) MiB"
}

# read_avg_frame IMG: read the whole export ($(nbd_uri)), which must equal
# IMG; print the average size of the frames $lan_if received meanwhile.
read_avg_frame()
{
	local f=/sys/class/net/$lan_if/statistics b p
	b=$(cat "$f/rx_bytes")
	p=$(cat "$f/rx_packets")
	nbdcopy "$(nbd_uri)" "$tmpdir/back.img" ||
	    fail "nbdcopy from the export"
	cmp "$1" "$tmpdir/back.img" ||
	    fail "what the export reads differs from $(basename "$1")"
	b=$(($(cat "$f/rx_bytes") - b))
	p=$(($(cat "$f/rx_packets") - p))
	[ "$p" -gt 0 ] || fail "no frame received on $lan_if during a read"
	echo $((b / p))
}

# read_until SECONDS PATTERN: read the whole export ($(nbd_uri)) over and
# over until aoe-nbd's log matches PATTERN (grep -E); fails after SECONDS.
read_until()
{
	local end=$(($(date +%s) + $1))
	until grep -Eq "$2" "$nbd_log"; do
		[ "$(date +%s)" -lt "$end" ] ||
		    fail "no \"$2\" in aoe-nbd's log after $1 s of reads"
		nbdcopy "$(nbd_uri)" null: || fail "nbdcopy from the export"
	done
}

# fault_clear NS DEV: remove the rules on DEV (the chains stay).
fault_clear()
{
	local ns=$1 dev=$2
	_fnft "$ns" flush chain netdev "$fault_table" \
	    "$(_fault_chain_name in "$dev")" 2>/dev/null || true
	_fnft "$ns" flush chain netdev "$fault_table" \
	    "$(_fault_chain_name out "$dev")" 2>/dev/null || true
}

# fault_counters NS: print the rules with their counters, one per line,
# prefixed with the side.
fault_counters()
{
	local ns=$1 side=${1:-initiator}
	[ -n "$ns" ] && side=target
	_fnft "$ns" -a list table netdev "$fault_table" 2>/dev/null |
	    awk -v side="$side" '
		/chain / { chain = $2 }
		/counter packets/ {
			sub(/^[ \t]+/, "")
			sub(/ # handle [0-9]+$/, "")
			printf "  nft %s %s: %s\n", side, chain, $0
		}'
}

# fault_matched NS DEV in|out: packets counted by the rules of that chain.
fault_matched()
{
	_fnft "$1" list chain netdev "$fault_table" \
	    "$(_fault_chain_name "$3" "$2")" 2>/dev/null |
	    awk '{ for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) }
		END { print s + 0 }'
}

# ------------------------------------------------------ switched LAN

# setup_switched_lan [MTU]: like setup_lan, but with a namespace holding
# the faultswitch between the two ends:
#   $lan_if (here) <-> $sw_a (netns $sw_ns) ... $sw_b (netns $sw_ns)
#   <-> $lan_tif (netns $lan_ns, where vblade runs)
# Sets lan_if, lan_tif, lan_ns, lan_mtu, sw_ns, sw_a, sw_b.
setup_switched_lan()
{
	local mtu=${1:-1500}

	requires_root
	requires ip vblade
	lan_ns=aoet-$test_short-$$
	sw_ns=aoes-$test_short-$$
	lan_if=ai$$
	lan_tif=at$$
	sw_a=sa$$
	sw_b=sb$$
	lan_mtu=$mtu
	lan_count=1
	local ns
	for ns in "$lan_ns" "$sw_ns"; do
		new_netns "$ns"
	done
	_raise_sysctl rmem_max 16777216
	_raise_sysctl wmem_max 16777216
	_raise_sysctl rmem_default 4194304
	_raise_sysctl wmem_default 4194304

	ip link del "$lan_if" 2>/dev/null || true
	ip link add "$lan_if" type veth peer name "$sw_a" netns "$sw_ns" ||
	    fail "ip link add $lan_if failed"
	cleanup_fn ip link del "$lan_if"
	ip -n "$sw_ns" link add "$sw_b" type veth peer name "$lan_tif" \
	    netns "$lan_ns" || fail "ip link add $sw_b failed"
	no_ipv6 "" "$lan_if"
	no_ipv6 "$sw_ns" "$sw_a"
	no_ipv6 "$sw_ns" "$sw_b"
	no_ipv6 "$lan_ns" "$lan_tif"
	ip link set "$lan_if" mtu "$mtu" up
	ip -n "$sw_ns" link set "$sw_a" mtu "$mtu" up
	ip -n "$sw_ns" link set "$sw_b" mtu "$mtu" up
	ip -n "$lan_ns" link set "$lan_tif" mtu "$mtu" up
	wait_for -t 10 _lan_is_up "$lan_if" ||
	    fail "$lan_if did not come up"
	say "switched LAN: $lan_if (here) <-> $sw_a [faultswitch, netns" \
	    "$sw_ns] $sw_b <-> $lan_tif (netns $lan_ns), MTU $mtu"
}

# start_faultswitch ARGS...: run the faultswitch between $sw_a and $sw_b
# with ARGS (its own options); waits until it forwards.  Sets fsw_pid and
# fsw_log.
start_faultswitch()
{
	requires faultswitch
	fsw_log=$tmpdir/faultswitch.log
	ip netns exec "$sw_ns" faultswitch "$@" "$sw_a" "$sw_b" \
	    </dev/null >"$fsw_log" 2>&1 &
	fsw_pid=$!
	cleanup_fn _kill_wait "$fsw_pid"
	if ! wait_for -t 10 grep -q '^faultswitch: ready' "$fsw_log"; then
		cat "$fsw_log" >&2
		fail "faultswitch did not start"
	fi
	sed 's/^/  /' "$fsw_log"
}

# stop_faultswitch: stop it (SIGTERM) and show its counters.
stop_faultswitch()
{
	_kill_wait "$fsw_pid"
	grep -v ': ready\|: a>b: delay\|: b>a: delay' "$fsw_log" |
	    sed 's/^/  /'
}

# fsw_count DIR FIELD: a counter from the faultswitch's last report
# (DIR a>b or b>a).
fsw_count()
{
	grep -F "faultswitch: $1 " "$fsw_log" | tail -n 1 | _field "$2"
}

# fsw_expect PHASE COUNTER...: fail unless the faultswitch counted at
# least one frame under every COUNTER (held, reordered, duplicated ...) in
# both directions.
fsw_expect()
{
	local phase=$1 d c
	shift
	for d in 'a>b' 'b>a'; do
		for c in "$@"; do
			[ "$(fsw_count "$d" "$c")" -gt 0 ] ||
			    fail "$phase: faultswitch $d: no frame $c"
		done
	done
}

# _field NAME: from a "... NAME VALUE ..." line, print VALUE.
_field()
{
	awk -v f="$1" '{
		for (i = 1; i < NF; i++)
			if ($i == f)
				print $(i + 1)
	}'
}

# ------------------------------------------------------ aoe-rw output

# rw_count FILE NAME: a counter from aoe-rw's printed figures: tx_frames,
# rx_frames, retransmits, timeouts (engine line) or short, request, badver,
# unknown, foreign, mismatch, bad_cfg (dropped line).  The last value
# printed wins.
rw_count()
{
	local file=$1 name=$2
	case $name in
	tx_frames | rx_frames | retransmits | timeouts)
		grep '^engine: tx_frames' "$file" ;;
	*)
		grep '^engine: dropped' "$file" ;;
	esac | tail -n 1 | _field "$name"
}

# run_rw LOG ARGS...: aoe-rw ARGS with output in LOG (shown), bounded by
# $cmd_timeout; returns aoe-rw's exit status.
run_rw()
{
	local log=$1 st=0
	shift
	printf '+ aoe-rw %s\n' "$*"
	timeout -k 5 "$cmd_timeout" aoe-rw "$@" >"$log" 2>&1 || st=$?
	sed 's/^/  | /' "$log"
	return "$st"
}

# fault_block_adverts NS DEV: lose the unsolicited config responses (tag
# 0: vblade's start-up advert) leaving DEV, so that a target coming back
# is found by the initiator's periodic discovery alone.
fault_block_adverts()
{
	local ns=$1 dev=$2
	fault_chains "$ns" "$dev"
	# AoE header at byte 14: command at byte 19, tag at bytes 20..23.
	_fnft "$ns" add rule netdev "$fault_table" \
	    "$(_fault_chain_name out "$dev")" ether type 0x88a2 \
	    @ll,152,8 1 @ll,160,32 0 counter \
	    fwd to "$(_fault_sink_dev "$ns")" ||
	    fail "nft: advert rule on $dev"
}

# bg_start NAME CMD [ARGS...]: run CMD in the background with output in
# $tmpdir/NAME.log, killed at exit if still running.  Sets bg_pid.
bg_start()
{
	local name=$1
	shift
	printf '+ %s &\n' "$*"
	"$@" </dev/null >"$tmpdir/$name.log" 2>&1 &
	bg_pid=$!
	cleanup_fn _kill_wait "$bg_pid"
}

# bg_wait PID NAME SECS: wait up to SECS for background job PID to exit;
# shows its log; returns its exit status (124 when it had to be killed).
bg_wait()
{
	local pid=$1 name=$2 secs=$3 st=0 deadline
	deadline=$((SECONDS + secs))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			sed 's/^/  | /' "$tmpdir/$name.log"
			say "$name did not finish within $secs s"
			return 124
		fi
		sleep 0.1
	done
	wait "$pid" || st=$?
	sed 's/^/  | /' "$tmpdir/$name.log"
	return "$st"
}
