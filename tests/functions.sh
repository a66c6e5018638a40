# SPDX-License-Identifier: GPL-2.0-or-later
# Helper kit sourced by every integration test (as nbdkit's tests/functions.sh):
# requirements that skip (or fail under CI=true), cleanup on every exit, a
# private veth pair + network namespace per test with vblade on the far end,
# bounded waits and a scratch directory.  Nothing here touches the machine's
# own interfaces: every program is pointed at the test's veth with -I.

# The tests are bash scripts; automake may run them with a plain /bin/sh.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

set -e
set -u

test_name=$(basename "$0" .sh)
test_short=${test_name#test-}

# Run by hand from a build directory works too (sudo tests/test-x.sh).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
srcdir=${srcdir:-$top_srcdir}
export top_srcdir top_builddir srcdir
PATH="$top_builddir/src:$top_builddir/tests:$PATH"
export PATH
# Never let a developer's locale change the messages we grep for.
export LC_ALL=C

# ------------------------------------------------------------------ output

# Say what the test checks (goes to the test's .log).
say()
{
	printf '%s: %s\n' "$test_name" "$*"
}

# Fail the test with a reason.
fail()
{
	printf '%s: FAIL: %s\n' "$test_name" "$*" >&2
	exit 1
}

# A missing requirement: skip (77), but under CI=true nothing may skip.
skip_or_fail()
{
	if [ "${CI:-}" = true ]; then
		printf '%s: FAIL: %s (%s)\n' "$test_name" "$*" \
		    "CI=true: a missing requirement is a failure" >&2
		exit 1
	fi
	printf 'SKIP: %s: %s\n' "$test_name" "$*"
	exit 77
}

# ------------------------------------------------------------------ cleanup

_cleanup_cmds=()

# cleanup_fn CMD [ARGS...]: run CMD on every exit, in reverse order of
# registration.  Failures in cleanup commands are ignored.
cleanup_fn()
{
	local q
	q=$(printf '%q ' "$@")
	_cleanup_cmds+=("$q")
}

_run_cleanup()
{
	local status=$? i
	trap '' INT TERM
	trap - EXIT
	set +e
	for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_cmds[i]}" >/dev/null 2>&1
	done
	# A failure: what the daemons said, now that they have ended (a
	# sanitizer's report comes at exit, long after start_* printed it).
	[ -n "${tmpdir:-}" ] || exit "$status"
	if [ "$status" != 0 ] && [ "$status" != 77 ]; then
		_dump_logs >&2
	fi
	[ "${AOE_TEST_KEEP:-}" = 1 ] || rm -rf "$tmpdir"
	exit "$status"
}

# The tail of every non-empty *.err and *.log in the scratch directory.
_dump_logs()
{
	local f
	for f in "$tmpdir"/*.err "$tmpdir"/*.log; do
		[ -s "$f" ] || continue
		printf '%s: ---- tail of %s\n' "$test_name" "${f##*/}"
		tail -n 40 "$f"
	done
}
trap _run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ requirements

# requires CMD...: every CMD must be in PATH.
requires()
{
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_or_fail "$c not found"
	done
}

requires_root()
{
	[ "$(id -u)" = 0 ] ||
	    skip_or_fail "must run as root" \
	    "(veth pairs, network namespaces, raw sockets)"
}

# ------------------------------------------------------------------ waiting

# wait_for [-t SECS] CMD [ARGS...]: run CMD every 0.1 s until it succeeds;
# returns 1 after SECS (default 10) with a message.
wait_for()
{
	local secs=10 deadline
	if [ "${1:-}" = -t ]; then
		secs=$2
		shift 2
	fi
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			printf '%s: timed out after %ss waiting for: %s\n' \
			    "$test_name" "$secs" "$*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# ------------------------------------------------------------------ scratch

# A fresh per-test scratch directory, removed on exit (AOE_TEST_KEEP=1
# keeps it for a post-mortem).
# Failures print the tail of its *.err and *.log files first.
tmpdir=$top_builddir/tests/$test_name.tmp
rm -rf "$tmpdir"
mkdir -p "$tmpdir"

# ------------------------------------------------------------------ network

# Raise the socket buffer sizes as vblade's README advises (a raw socket
# accounts whole receive buffers per frame: jumbo frames need room).
# net.core.{r,w}mem_* are not namespaced, so this is global; only raise.
_raise_sysctl()
{
	local f=/proc/sys/net/core/$1 want=$2 cur
	cur=$(cat "$f" 2>/dev/null) || return 0
	if [ "$cur" -lt "$want" ]; then
		echo "$want" >"$f" 2>/dev/null ||
		    say "note: could not raise net.core.$1 to $want"
	fi
}

lan_count=0

# new_netns NAME: a network namespace private to this test, lo up,
# removed at exit.  A leftover of a killed run that had our pid (the name
# ends in it) is ours to remove first.
new_netns()
{
	ip netns del "$1" 2>/dev/null || true
	ip netns add "$1" || fail "ip netns add $1 failed"
	cleanup_fn ip netns del "$1"
	ip -n "$1" link set lo up
}

# no_ipv6 NS IF: no IPv6 on IF in NS ("" = here), so no chatter (router
# solicitations) on the test LAN.
no_ipv6()
{
	if [ -n "$1" ]; then
		ip netns exec "$1" sh -c \
		    "echo 1 >/proc/sys/net/ipv6/conf/$2/disable_ipv6" \
		    2>/dev/null || true
	else
		echo 1 >"/proc/sys/net/ipv6/conf/$2/disable_ipv6" 2>/dev/null ||
		    true
	fi
}

# setup_lan [MTU]: a veth pair private to this test; the initiator end
# stays here, the target end goes into a network namespace.  Sets
#   lan_if   initiator-side interface (pass it with -I)
#   lan_tif  target-side interface (inside $lan_ns)
#   lan_ns   the namespace
#   lan_mtu  the MTU of both ends
# Interface names fit in 15 characters: "ai<pid>" / "at<pid>" for the
# first LAN of a test, "ai<n>-<pid>" / "at<n>-<pid>" for further ones.
# AOE_TEST_PREFIX (up to 4 characters) goes before the interfaces' and the
# namespace's names: on a shared machine, each tester's own.
setup_lan()
{
	local mtu=${1:-1500} sfx

	requires_root
	requires ip vblade
	if [ "$lan_count" = 0 ]; then
		sfx=$$
		lan_ns=${AOE_TEST_PREFIX:-}aoet-$test_short-$$
		new_netns "$lan_ns"
	else
		sfx=$lan_count-$$
	fi
	lan_count=$((lan_count + 1))
	lan_if=${AOE_TEST_PREFIX:-}ai$sfx
	lan_tif=${AOE_TEST_PREFIX:-}at$sfx
	lan_mtu=$mtu

	_raise_sysctl rmem_max 16777216
	_raise_sysctl wmem_max 16777216
	_raise_sysctl rmem_default 4194304
	_raise_sysctl wmem_default 4194304

	ip link del "$lan_if" 2>/dev/null || true
	cleanup_fn ip link del "$lan_if"
	lan_create
	say "LAN: $lan_if (here) <-> $lan_tif (netns $lan_ns), MTU $mtu"
}

# setup_two_lans MTU IMAGE: two LANs with a vblade for e1.0 on each, both
# serving IMAGE: two paths to one target.  Sets if1, if2 (our ends) and
# tif1, tif2 (vblade's); lan_* describe the second LAN.
setup_two_lans()
{
	setup_lan "$1"
	if1=$lan_if
	tif1=$lan_tif
	start_vblade 1 0 "$2" -b 64
	setup_lan "$1"
	if2=$lan_if
	tif2=$lan_tif
	start_vblade 1 0 "$2" -b 64
}

# setup_two_lans_empty MTU: two LANs and no vblade yet, for a target that
# moves from one to the other (vblade failed over to another host, another
# MAC).  Sets if1, if2 (our ends) and tif1, tif2 (the target ends);
# lan_tif is tif1 (where start_vblade and start_vblade_on serve), the rest
# of lan_* describe the second LAN.
setup_two_lans_empty()
{
	setup_lan "$1"
	if1=$lan_if
	tif1=$lan_tif
	setup_lan "$1"
	if2=$lan_if
	tif2=$lan_tif
	lan_tif=$tif1
}

# lan_create: the veth pair of the current LAN (again, after it was
# removed: same names and MTU, new MACs), both ends up.
lan_create()
{
	ip link add "$lan_if" type veth peer name "$lan_tif" netns "$lan_ns" ||
	    fail "ip link add $lan_if failed"
	no_ipv6 "" "$lan_if"
	no_ipv6 "$lan_ns" "$lan_tif"
	ip link set "$lan_if" mtu "$lan_mtu" up
	ip -n "$lan_ns" link set "$lan_tif" mtu "$lan_mtu" up
	wait_for -t 10 _lan_is_up "$lan_if" ||
	    fail "$lan_if did not come up"
}

_lan_is_up()
{
	[ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ] &&
	    [ "$(cat "/sys/class/net/$1/operstate" 2>/dev/null)" = up ]
}

# The MAC of an interface here, or of one in the test namespace.
if_mac()
{
	cat "/sys/class/net/$1/address"
}
lan_target_mac()
{
	ip -n "$lan_ns" link show "${1:-$lan_tif}" |
	    awk '$1 == "link/ether" { print $2; exit }'
}

vblade_pids=()
# The command start_vblade runs: a test may put a wrapper first that
# execs vblade with the arguments it is given (the pid stays vblade's).
vblade_cmd=(vblade)

# start_vblade SHELF SLOT FILE [vblade options...]: serve FILE as
# eSHELF.SLOT on the target end of the current LAN.  Waits until vblade
# has its raw socket open; sets vblade_pid (also appended to vblade_pids).
start_vblade()
{
	local shelf=$1 slot=$2 file=$3 log
	shift 3
	log=$tmpdir/vblade-$shelf.$slot.log
	ip netns exec "$lan_ns" \
	    "${vblade_cmd[@]}" "$@" "$shelf" "$slot" "$lan_tif" "$file" \
	    </dev/null >"$log" 2>&1 &
	vblade_pid=$!
	vblade_pids+=("$vblade_pid")
	cleanup_fn _kill_wait "$vblade_pid"
	if ! wait_for -t 10 _vblade_ready "$vblade_pid" "$log"; then
		cat "$log" >&2
		fail "vblade e$shelf.$slot did not start"
	fi
	say "vblade e$shelf.$slot on $lan_tif: $(head -n 1 "$log")"
}

# Running, its raw socket open, and its start-up line printed.
_vblade_ready()
{
	local pid=$1 log=$2
	kill -0 "$pid" 2>/dev/null || return 2
	ls -l "/proc/$pid/fd" 2>/dev/null | grep -q 'socket:' &&
	    grep -q '^pid ' "$log"
}

# start_vblade_on HOST FILE: serve FILE as e1.0 on the target end of the
# current LAN ($lan_tif), as if on a machine named HOST.  vblade's serial
# is SHELF.SLOT:HOSTNAME, so vblade runs in a UTS namespace of its own
# (unshare --uts, a test requires unshare) with HOST as its host name:
# serial 1.0:HOST, another disk to an initiator that knew another host.
# Waits like start_vblade; its log is $tmpdir/vblade-HOST.log; sets
# vblade_pid (not appended to vblade_pids).
start_vblade_on()
{
	local host=$1 file=$2 log=$tmpdir/vblade-$1.log
	# shellcheck disable=SC2016 # sh -c's own $0..$2, not ours
	ip netns exec "$lan_ns" unshare --uts sh -c \
	    'hostname "$0" && exec vblade 1 0 "$1" "$2"' \
	    "$host" "$lan_tif" "$file" </dev/null >"$log" 2>&1 &
	vblade_pid=$!
	cleanup_fn _kill_wait "$vblade_pid"
	wait_for -t 10 _vblade_ready "$vblade_pid" "$log" ||
	    fail "vblade on $host did not start: $(cat "$log")"
	say "vblade e1.0 as $host on $lan_tif: $(head -n 1 "$log")"
}

# set_env NAME VALUE: exported, or unset when VALUE is empty.
set_env()
{
	if [ -n "$2" ]; then
		export "$1=$2"
	else
		unset "$1"
	fi
}

# cpu_ticks PID: the CPU time PID has used so far (user + system), in
# clock ticks (1/100 s).  The name in /proc/PID/stat may hold spaces.
cpu_ticks()
{
	local s
	s=$(cat "/proc/$1/stat") || fail "no process $1"
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13}))
}

# cpu_waits PID: how long PID has been kept from running, in ns: the time
# its main thread has waited for a CPU (run_delay, /proc/PID/schedstat)
# plus the time the hypervisor has taken from all of this machine's CPUs
# (steal, /proc/stat).  A wall-clock interval of PID's, less the growth of
# this over it, is time PID itself spent, on a CPU or blocked.
cpu_waits()
{
	local _run delay=0 steal
	read -r _run delay _ <"/proc/$1/schedstat" || fail "no process $1"
	steal=$(awk '$1 == "cpu" { print $9; exit }' /proc/stat)
	echo $((delay + ${steal:-0} * 1000000000 / $(getconf CLK_TCK)))
}

# check_longest_turn MAX_MS WAITED_NS: the longest turn of aoe-nbd's loop
# (its events and ticks) in the last counters in $nbd_log (-v at exit, or
# SIGUSR1) took at most MAX_MS of aoe-nbd's own time: its wall-clock length
# less WAITED_NS, the growth of cpu_waits over the run.  While a turn runs,
# answers, the other clients and link changes wait; but a test cannot keep
# the suite's other tests and the host's other guests off the CPUs.
check_longest_turn()
{
	local us waited=$(($2 / 1000))
	us=$(sed -n 's/.*event loop: .* longest turn \([0-9]*\) us.*/\1/p' \
	    "$nbd_log" | tail -n 1)
	[ -n "$us" ] || fail "no event loop counters in $nbd_log"
	say "the longest turn of aoe-nbd's loop: $us us; aoe-nbd was kept" \
	    "from running for $waited us meanwhile"
	[ $((us - waited)) -le $(($1 * 1000)) ] ||
	    fail "a turn of aoe-nbd's loop lasted $us us, at least" \
	    "$((us - waited)) us of its own (at most $1 ms)"
}

# now_ms: a clock in milliseconds.
now_ms()
{
	echo $(($(date +%s%N) / 1000000))
}

# socket_map_bytes PID: the size in bytes of PID's mappings of sockets
# (its packet rings; 0: none).
socket_map_bytes()
{
	local range _p _o _d _i name n=0

	while read -r range _p _o _d _i name; do
		case $name in
		socket:*) n=$((n + 0x${range#*-} - 0x${range%-*})) ;;
		esac
	done <"/proc/$1/maps"
	echo "$n"
}

# Stop one process we started, by pid, and reap it.
_kill_wait()
{
	kill "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}

stop_vblade()
{
	_kill_wait "$1"
}

# ------------------------------------------------------------------ checks

# expect_status WANT CMD [ARGS...]: run CMD (an external command, killed
# after $cmd_timeout seconds) with stdout in $tmpdir/out and stderr in
# $tmpdir/err, show both, and fail unless it exits with WANT.
cmd_timeout=${AOE_TEST_CMD_TIMEOUT:-120}
expect_status()
{
	local want=$1 st=0
	shift
	printf '+ %s\n' "$*"
	timeout -k 5 "$cmd_timeout" "$@" >"$tmpdir/out" 2>"$tmpdir/err" ||
	    st=$?
	sed 's/^/  out| /' "$tmpdir/out"
	sed 's/^/  err| /' "$tmpdir/err"
	[ "$st" != 124 ] || [ "$want" = 124 ] ||
	    fail "'$*' did not finish within $cmd_timeout s"
	[ "$st" = "$want" ] ||
	    fail "'$*' exited with $st, expected $want"
}

# elapsed_since T0: seconds (with fraction) since T0 from now_s.
now_s()
{
	date +%s.%N
}
elapsed_since()
{
	awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }'
}

# Fail unless FILE contains the fixed string STR.
expect_grep()
{
	local file=$1 str=$2
	grep -qF -- "$str" "$file" ||
	    fail "$(basename "$file") does not contain '$str'"
}
