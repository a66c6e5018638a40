#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark of issue 5, run on demand (not by make check): vblade on a
# private veth LAN, then sequential throughput and CPU cost through aoe-nbd
# and aoe-fuse at two MTUs with both link backends, 4 KiB random reads at
# queue depth 1 and 32 next to a bare round trip, nbdkit as the NBD
# ceiling, the kernel aoe driver against our initiator in one qemu TCG
# guest, and 256 targets (discovery time, aoe-nbd's memory).  Prints one
# Markdown table at the end.  Run as root from a build directory:
#
#   cd /tmp/build && sudo /path/to/contrib/bench/aoe-bench.sh
#
# Environment: BENCH_QUICK=1 (a short smoke run), BENCH_SIZE (bytes per
# sequential transfer, default 1G), BENCH_MTUS ("1500 9000"),
# BENCH_BACKENDS ("packet pcap"), BENCH_SKIP (comma list of
# seq,rand,nbdkit,vm,many), BENCH_VBLADE_OPTS (default "-b 64"),
# BENCH_INIT_OPTS (more options for aoe-nbd and aoe-fuse in the
# sequential and random rows, e.g. --busy-poll=50),
# BENCH_BUSY_POLL (microseconds: the random reads through aoe-nbd again
# with --busy-poll; default 50, 0 = not), BENCH_VM_SIZE (default 128M),
# BENCH_VM_MTUS, BENCH_VM_SMP (guest vCPUs, default 1),
# BENCH_VM_BUSY_POLL (--busy-poll for aoe-nbd and aoe-fuse in the guest,
# default 0), BENCH_VM_COALESCE (--coalesce for them in the guest; default:
# theirs), BENCH_VM_TX_RING (AOE_PACKET_TX_RING for them in the guest:
# 0 or 1; default: unset, the ring on for its virtio NIC),
# BENCH_VM_NBD_SECTORS ("same": nbd0's max_sectors_kb as
# aoe.ko's, the default; "default": 128), BENCH_VM_APPEND (more guest
# kernel arguments, e.g. init_on_alloc=0), BENCH_PERF=DIR (perf record -g
# of vblade and the initiator during each sequential transfer and QD32
# run; in the VM, perf -e cpu-clock of the whole guest during each dd),
# BENCH_OUT=FILE (a copy of the report), BENCH_BUILDDIR (default: the
# current directory).
# Only the benchmark's own veth pair, tap device and namespaces are used.

if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

case ${1:-} in
-h | --help)
	awk 'NR >= 3 && !/^#/ { exit } NR >= 3' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: aoe-bench.sh [-h]  (settings: BENCH_* variables)" >&2
	exit 2
	;;
esac

bench_cmdline="$0${*:+ $*}"
bench_env=$(env | grep -E '^BENCH_' | sort | tr '\n' ' ')
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$(cd "${BENCH_BUILDDIR:-$PWD}" && pwd)
export top_srcdir top_builddir
if [ ! -x "$top_builddir/src/aoe-nbd" ]; then
	echo "aoe-bench: no src/aoe-nbd under $top_builddir: run from a" \
	    "build directory or set BENCH_BUILDDIR" >&2
	exit 2
fi

# A bound on the whole run: nbd-functions.sh re-executes under timeout.
# shellcheck disable=SC2034
nbd_test_timeout=${BENCH_TIMEOUT:-2400}
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd-functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
. "$top_srcdir/tests/vm-functions.sh"
# A failed measurement is a row, not the end of the run.
set +e
# Progress goes to stderr: stdout carries the report.
say()
{
	printf 'aoe-bench: %s\n' "$*" >&2
}

requires_root
requires vblade nbdcopy nbdinfo dd ip awk timeout openssl numfmt

# ------------------------------------------------------------ settings

to_bytes()
{
	numfmt --from=iec "$1" 2>/dev/null || fail "bad size '$1'"
}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	size=$(to_bytes "${BENCH_SIZE:-128M}")
	backends=${BENCH_BACKENDS:-packet}
	vm_size=$(to_bytes "${BENCH_VM_SIZE:-16M}")
	vm_mtus=${BENCH_VM_MTUS:-9000}
	qd1_n=3000 qd32_n=20000 rtt_n=3000 many_reps=1 qd1_reps=3
else
	size=$(to_bytes "${BENCH_SIZE:-1G}")
	backends=${BENCH_BACKENDS:-packet pcap}
	vm_size=$(to_bytes "${BENCH_VM_SIZE:-128M}")
	vm_mtus=${BENCH_VM_MTUS:-1500 9000}
	qd1_n=10000 qd32_n=100000 rtt_n=20000 many_reps=3 qd1_reps=5
fi
mtus=${BENCH_MTUS:-1500 9000}
# One vCPU: with two, TCG vCPU threads on a busy host spin on each
# other's kernel locks (the NBD socket lock took a third of the guest's
# time) and one aoe.ko run hung; one vCPU compares CPU cost plainly.
vm_smp=${BENCH_VM_SMP:-1}
vm_txring=${BENCH_VM_TX_RING:-default}
case $vm_txring in default | 0 | 1) ;; *) fail "BENCH_VM_TX_RING: 0 or 1" ;; esac
# nbd0's max_sectors_kb: "same" as aoe.ko's e1.0 (the same request size
# for both drivers), or "default" (the nbd driver's 128).
vm_nbdsect=${BENCH_VM_NBD_SECTORS:-same}
case $vm_nbdsect in same | default) ;; *) fail "BENCH_VM_NBD_SECTORS: same or default" ;; esac
vblade_opts=${BENCH_VBLADE_OPTS:--b 64}
busy_poll=${BENCH_BUSY_POLL:-50}
init_opts=${BENCH_INIT_OPTS:-}
case $busy_poll in
'' | *[!0-9]*) fail "BENCH_BUSY_POLL: microseconds (0 = not measured)" ;;
esac
skip=,${BENCH_SKIP:-},
mib=1048576
size=$((size / mib * mib))
vm_size=$((vm_size / mib * mib))
[ "$size" -ge $mib ] || fail "BENCH_SIZE must be at least 1M"
[ "$vm_size" -ge $mib ] || fail "BENCH_VM_SIZE must be at least 1M"
count=$((size / mib))
clk_tck=$(getconf CLK_TCK)
cmd_timeout=300

want()
{
	case $skip in
	*",$1,"*) return 1 ;;
	esac
	return 0
}

# ------------------------------------------------------------ processes

# Every process this script started and has not stopped, and its FUSE
# mount: ended on exit by pid (never by name).
bench_pids=()
bench_mounts=()

track()
{
	bench_pids+=("$1")
}

untrack()
{
	local i
	for i in "${!bench_pids[@]}"; do
		[ "${bench_pids[i]}" = "$1" ] && unset 'bench_pids[i]'
	done
}

# stop_pid PID: SIGTERM a child of ours and reap it.
stop_pid()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	untrack "$1"
}

# shellcheck disable=SC2317
bench_cleanup()
{
	local m p
	for m in "${bench_mounts[@]}"; do
		is_mounted "$m" && { fusermount3 -u "$m" || umount -l "$m"; }
	done
	for p in "${bench_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${bench_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
}

# Scratch space in RAM: backing files and sources never touch a disk.
work=$(mktemp -d /dev/shm/aoe-bench.XXXXXX) || fail "mktemp failed"
cleanup_fn rm -rf "$work"
mkdir -p "$work/bin"
PATH=$work/bin:$PATH

# ------------------------------------------------------------ helpers

# bench_helper NAME ARGS: contrib/bench/NAME from the build tree when
# built there, else compiled now (ARGS: more compiler arguments).
bench_helper()
{
	local name=$1 src=$top_srcdir/contrib/bench/$1.c
	shift
	if [ -x "$top_builddir/contrib/bench/$name" ]; then
		ln -sf "$top_builddir/contrib/bench/$name" "$work/bin/$name"
		return 0
	fi
	${CC:-cc} -std=gnu11 -O2 -Wall -I"$top_srcdir/src" \
	    -o "$work/bin/$name" "$src" "$@" \
	    2>"$work/cc.err" || {
		cat "$work/cc.err" >&2
		fail "cannot build $name (libnbd-dev, libpcap-dev installed?)"
	}
}
bench_helper aoe-rtt
# shellcheck disable=SC2046
bench_helper nbd-randread $(pkg-config --libs libnbd 2>/dev/null ||
    echo -lnbd)
[ -r "$top_builddir/src/libaoecore.a" ] ||
    fail "no src/libaoecore.a under $top_builddir: run make first"
# shellcheck disable=SC2046
bench_helper aoe-lat -include "$top_builddir/config.h" \
    "$top_builddir/src/libaoecore.a" $(pkg-config --libs libpcap \
    2>/dev/null || echo -lpcap)

# "TICKS FAULTS SWITCHES" of a process so far: CPU time in clock ticks
# (utime + stime of all threads), minor page faults (a fresh page zeroed
# for it) and voluntary context switches (it slept); zeros once it is gone.
proc_sample()
{
	local pid=$1 s
	s=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0 0 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	awk -v t=$((${12} + ${13})) -v f="$8" \
	    '$1 == "voluntary_ctxt_switches:" { s = $2 }
		END { print t, f, s + 0 }' "/proc/$pid/status" 2>/dev/null ||
	    echo "$((${12} + ${13})) $8 0"
}

# The machine: "IDLE TOTAL" jiffies of all CPUs, and the CPU pressure
# stall total (µs some task waited for a CPU; 0 without PSI).
machine_cpu()
{
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i
		printf "%d %d ", $5 + $6, t }' /proc/stat
	awk '$1 == "some" { sub(/total=/, "", $5); p = $5 }
		END { print p + 0 }' /proc/pressure/cpu 2>/dev/null || echo 0
}

loads=()
note_load()
{
	loads+=("$1: $(cut -d' ' -f1-3 /proc/loadavg)")
}

# Report rows, one per line of $work/rows, fields separated by | (a file:
# the VM part runs in a subshell).  Fields: section, measurement, MTU,
# link, result, vblade %core, initiator CPU s/GiB, vblade CPU s/GiB,
# initiator/vblade CPU, target, met.
: >"$work/rows"
row()
{
	local IFS='|'
	[ $# = 11 ] || fail "row with $# fields: $*"
	printf '%s\n' "$*" >>"$work/rows"
}

# note TEXT...: a line for the report's header.
: >"$work/notes"
note()
{
	printf -- '- %s\n' "$*" >>"$work/notes"
}

# calc EXPR: print an awk expression's value; is EXPR: 1 when true.
calc()
{
	awk "BEGIN { print $* }"
}
is()
{
	awk "BEGIN { print (($*) ? 1 : 0) }"
}
met()
{
	if [ "$1" = 1 ]; then echo met; else echo "**not met**"; fi
}

# kib_mib KIB: "12.3 MiB".
kib_mib()
{
	awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'
}

# min_of / max_of NUMBER...: the extreme, "-" entries ignored.
min_of()
{
	printf '%s\n' "$@" | awk '$1 != "-" && NF {
		if (n++ == 0 || $1 < m) m = $1 } END { print n ? m : "-" }'
}
max_of()
{
	printf '%s\n' "$@" | awk '$1 != "-" && NF {
		if (n++ == 0 || $1 > m) m = $1 } END { print n ? m : "-" }'
}

# median NUMBER...: the middle value ("-" when none).
median()
{
	printf '%s\n' "$@" | awk '$1 != "-" && NF' | sort -g |
	    awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'
}

# qd1_rounds CMD...: QD1 latency next to the bare round trip of the same
# read, interleaved so that the machine's state (busy or idle CPUs wake
# at very different speeds) is the same for both: qd1_reps rounds of
# "aoe-rtt -r 8" (a bare 4 KiB ATA read, the same frames) then CMD (a QD1
# tool printing "... iops N ... p50 N p99 N").  Sets q_bare (median p50 of
# the bare reads), q_p50, q_p99, q_iops (medians of CMD's).  A running
# aoe-nbd ($nb_pid) is stopped during the bare reads: it receives their
# answers too (same interface), and waking it (or, with --busy-poll,
# keeping a CPU polling) would change the machine the bare reads see.
qd1_rounds()
{
	local i p50 p99 iops b=() p=() q=() io=()
	for ((i = 0; i < qd1_reps; i++)); do
		[ -z "$nb_pid" ] || kill -STOP "$nb_pid"
		aoe-rtt -n "$qd1_n" -r 8 "$lan_if" 1 0 >"$work/rtt" 2>&1 ||
		    cat "$work/rtt" >&2
		[ -z "$nb_pid" ] || kill -CONT "$nb_pid"
		read -r _ _ _ _ _ _ _ _ _ _ p50 _ <"$work/rtt"
		b+=("${p50:--}")
		"$@" >"$work/qd" 2>&1 || cat "$work/qd" >&2
		read -r _ _ _ _ _ _ _ iops _ _ _ _ _ p50 _ p99 _ <"$work/qd"
		p+=("${p50:--}") q+=("${p99:--}") io+=("${iops:--}")
	done
	q_bare=$(median "${b[@]}")
	q_p50=$(median "${p[@]}")
	q_p99=$(median "${q[@]}")
	q_iops=$(median "${io[@]}")
}

# qd1_result: the row text and the verdict for qd1_rounds' figures.
qd1_result()
{
	q_text="p50 $q_p50 µs, p99 $q_p99 µs ($q_iops IOPS); bare 4 KiB read"
	q_text+=" p50 $q_bare µs in the same $qd1_reps rounds"
	if [ "$q_bare" = - ] || [ "$q_p50" = - ]; then
		q_ok=$(met 0)
	else
		q_ok=$(met "$(is "$q_p50 <= 1.2 * $q_bare")")
	fi
}

# measure BYTES VBPID INITPID LABEL CMD...: run CMD (bounded) and take
# the CPU time of vblade VBPID and of the initiator INITPID (- for none)
# over its wall time.  Sets m_ok, m_secs, m_mbs, m_vbpct (vblade's share
# of one core), m_vbspg and m_inspg (CPU seconds per GiB), m_ratio
# (initiator / vblade CPU), m_mach ("idle N%, psi N%": the machine's idle
# time and the time some task waited for a CPU).  CMD's output is in
# $work/cmd.out.
measure()
{
	local bytes=$1 vb=$2 ip=$3 label=$4 v0 v1 i0=0 i1=0 t0 t1 st=0
	local f0=0 f1=0 w0=0 w1=0
	local pp='' c0 c1
	shift 4
	if [ -n "${BENCH_PERF:-}" ] && [ "$ip" != - ]; then
		mkdir -p "$BENCH_PERF"
		perf record -q -g -o "$BENCH_PERF/$label.data" -p "$vb,$ip" \
		    >/dev/null 2>&1 &
		pp=$!
		sleep 0.5
	fi
	c0=$(machine_cpu)
	read -r v0 _ < <(proc_sample "$vb")
	[ "$ip" = - ] || read -r i0 f0 w0 < <(proc_sample "$ip")
	t0=$EPOCHREALTIME
	timeout -k 5 "$cmd_timeout" "$@" >"$work/cmd.out" \
	    2>"$work/cmd.err" || st=$?
	t1=$EPOCHREALTIME
	read -r v1 _ < <(proc_sample "$vb")
	[ "$ip" = - ] || read -r i1 f1 w1 < <(proc_sample "$ip")
	c1=$(machine_cpu)
	if [ -n "$pp" ]; then
		kill -INT "$pp" 2>/dev/null
		wait "$pp" 2>/dev/null
	fi
	m_ok=$((st == 0))
	if [ "$st" != 0 ]; then
		say "$label: '$*' exited with $st"
		sed 's/^/  | /' "$work/cmd.err" >&2
	fi
	read -r m_secs m_mbs m_vbpct m_vbspg m_inspg m_ratio < <(awk \
	    -v b="$bytes" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" \
	    -v dv=$((v1 - v0)) -v di=$((i1 - i0)) -v ip="$ip" 'BEGIN {
		s = t1 - t0; gib = b / 1073741824
		vs = dv / hz; xs = di / hz
		r = (ip == "-" || vs == 0) ? "-" : sprintf("%.2f", xs / vs)
		printf "%.3f %.1f %.0f %.2f %s %s\n", s, b / s / 1e6,
		    100 * vs / s, vs / gib,
		    ip == "-" ? "-" : sprintf("%.2f", xs / gib), r
	}')
	m_mach=$(echo "$c0 $c1 $t0 $t1" | awk '{
		printf "idle %.0f%%, psi %.0f%%", 100 * ($4 - $1) / ($5 - $2),
		    ($6 - $3) / 1e4 / ($8 - $7) }')
	say "$label: $m_mbs MB/s in $m_secs s; vblade $m_vbpct% of a" \
	    "core, $m_vbspg s/GiB; initiator $m_inspg s/GiB," \
	    "$((f1 - f0)) page faults, $((w1 - w0)) sleeps; $m_mach"
}

# ------------------------------------------------------------ vblade

vb_pid=
# start_vb NS IF FILE SHELF SLOT: vblade (with $vblade_opts) in the
# background; sets vb_pid once its raw socket is open.
start_vb()
{
	local ns=$1 ifc=$2 file=$3 log=$work/vblade-$4.$5.log
	# shellcheck disable=SC2086
	ip netns exec "$ns" vblade $vblade_opts "$4" "$5" "$ifc" "$file" \
	    </dev/null >"$log" 2>&1 &
	vb_pid=$!
	track "$vb_pid"
	wait_for -t 10 _vblade_ready "$vb_pid" "$log" || {
		cat "$log" >&2
		fail "vblade e$4.$5 did not start"
	}
}

set_mtu()
{
	{ ip link set "$lan_if" mtu "$1" &&
	    ip -n "$lan_ns" link set "$lan_tif" mtu "$1"; } ||
	    fail "cannot set MTU $1"
	wait_for -t 10 _lan_is_up "$lan_if" || fail "$lan_if not up"
}

# ------------------------------------------------------------ aoe-nbd

nb_pid=
nb_sock=$nbd_sockdir/b
# start_nb ARGS...: aoe-nbd -f -U $nb_sock ARGS; waits for its pidfile.
start_nb()
{
	local pidf=$nbd_sockdir/b.pid
	rm -f "$pidf" "$nb_sock"
	aoe-nbd -f -U "$nb_sock" -P "$pidf" "$@" </dev/null \
	    >>"$work/aoe-nbd.log" 2>&1 &
	nb_pid=$!
	track "$nb_pid"
	wait_for -t 15 _nbd_ready "$nb_pid" "$pidf" "$nb_sock" || {
		tail -n 20 "$work/aoe-nbd.log" >&2
		fail "aoe-nbd did not start"
	}
}

nb_uri()
{
	printf 'nbd+unix:///%s?socket=%s' "${1:-}" "$nb_sock"
}

# ------------------------------------------------------------ aoe-fuse

fu_pid=
fu_file=$work/fuse-disk
# start_fu ARGS...: aoe-fuse ARGS e1.0 $fu_file (daemonises once mounted).
start_fu()
{
	local pidf=$work/fuse.pid st=0
	rm -f "$pidf"
	: >"$fu_file"
	aoe-fuse --pidfile="$pidf" -w 5 "$@" e1.0 "$fu_file" </dev/null \
	    2>>"$work/aoe-fuse.log" || st=$?
	if [ "$st" != 0 ] || ! is_mounted "$fu_file" || [ ! -s "$pidf" ]; then
		tail -n 20 "$work/aoe-fuse.log" >&2
		fail "aoe-fuse did not mount (status $st)"
	fi
	bench_mounts+=("$fu_file")
	fu_pid=$(cat "$pidf")
}

stop_fu()
{
	fusermount3 -u "$fu_file" || umount -l "$fu_file"
	wait_gone -t 10 "$fu_pid" >/dev/null 2>&1 ||
	    kill -TERM "$fu_pid" 2>/dev/null
	bench_mounts=()
}

# ------------------------------------------------------------ report

print_report()
{
	local r sec cpu mem
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' \
	    /proc/meminfo)
	echo
	echo "# aoe-nbd benchmark (issue 5)"
	echo
	echo "- command: \`$bench_cmdline\`${bench_env:+ (env: ${bench_env% })}"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host $(uname -n)"
	echo "- machine: nproc $(nproc); kernel $(uname -r); CPU $cpu;" \
	    "RAM $mem"
	echo "- versions: $(aoe-nbd --version 2>&1 | head -n 1);" \
	    "vblade $(dpkg-query -W -f '${Version}' vblade 2>/dev/null);" \
	    "$(nbdcopy --version 2>&1 | head -n 1);" \
	    "$(nbdkit --version 2>/dev/null | head -n 1)"
	echo "- settings: $((size / mib)) MiB per sequential transfer;" \
	    "vblade $vblade_opts (one process, one core at most);" \
	    "net.core.rmem_max $(cat /proc/sys/net/core/rmem_max)," \
	    "rmem_default $(cat /proc/sys/net/core/rmem_default); CPU" \
	    "from /proc/PID/stat (utime+stime, $clk_tck Hz) over each" \
	    "transfer's wall time; MB = 10^6 bytes; backing file and write" \
	    "source are random bytes in /dev/shm"
	echo "- load average (1/5/15 min) of this shared machine:" \
	    "${loads[*]/%/;} (idle, psi) after a result: the machine's" \
	    "idle CPU time and its CPU pressure (share of the time some" \
	    "runnable task waited for a CPU, /proc/pressure/cpu) during" \
	    "that transfer"
	echo "- wall time: $((SECONDS - bench_t0)) s"
	cat "$work/notes"
	echo
	echo "| Section | Measurement | MTU | Link | Result | vblade %core" \
	    "| Initiator CPU s/GiB | vblade CPU s/GiB | Init/vblade CPU" \
	    "| Target | Met |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for sec in Sequential "Random 4 KiB" "NBD ceiling" "VM (TCG)" \
	    "256 targets" Target; do
		while read -r r; do
			[ "${r%%|*}" = "$sec" ] || continue
			echo "| ${r//|/ | } |"
		done <"$work/rows"
	done
}

# ============================================================ sequential

declare -A vbpcts ratios qd1 qd32vb rtt_qc rtt_rd lat1 lat32vb
declare -A qd1bare lat1bare qd1bp qd1bpbare qd32bpvb qd32iops qd32bpiops
# nbdkit's file plugin through the same client: the NBD ceiling.
nk_qd1_p50='' nk_qd32_iops=''

# seq_row WHAT MTU LINK: a row from the last measure.
seq_row()
{
	local res=FAILED ok_vb ok_in
	if [ "$m_ok" = 1 ]; then
		res="$m_mbs MB/s ($m_mach)"
		vbpcts[$2]+=" $m_vbpct"
		ratios[$2]+=" $m_ratio"
	fi
	ok_vb=$(is "$m_ok && $m_vbpct >= 95")
	ok_in=$(is "$m_ok && \"$m_ratio\" != \"-\" && $m_ratio + 0 <= 0.5")
	row Sequential "$1" "$2" "$3" "$res" "$m_vbpct" "$m_inspg" \
	    "$m_vbspg" "$m_ratio" "vblade >= 95%, init <= 0.5 vblade" \
	    "vblade $(met "$ok_vb"), init $(met "$ok_in")"
}

# bench_nbd MTU BACKEND: aoe-nbd, sequential and random reads.
bench_nbd()
{
	local mtu=$1 be=$2 uri
	# shellcheck disable=SC2086
	start_nb -I "$lan_if" --backend="$be" -w 5 $init_opts e1.0
	uri=$(nb_uri e1.0)
	nbdinfo --size "$uri" >/dev/null 2>&1 || say "nbdinfo --size failed"
	if want seq; then
		measure "$size" "$vb_pid" "$nb_pid" "nbd-read-$mtu-$be" \
		    nbdcopy "$uri" null:
		seq_row "aoe-nbd read (nbdcopy → null:)" "$mtu" "$be"
		measure "$size" "$vb_pid" "$nb_pid" "nbd-write-$mtu-$be" \
		    nbdcopy --flush "$src" "$uri"
		seq_row "aoe-nbd write (nbdcopy --flush file →)" "$mtu" "$be"
	fi
	if want rand; then
		nbd_rand "$mtu" "$be" aoe-nbd "" "$uri" qd1 qd1bare qd32vb \
		    qd32iops
	fi
	stop_pid "$nb_pid"
	nb_pid=
	if want rand && [ "$busy_poll" -gt 0 ]; then
		bench_nbd_poll "$mtu" "$be"
	fi
}

# nbd_rand MTU BACKEND LABEL TAG URI QD1 BARE VB IOPS: the QD1 rounds and
# the QD32 run through aoe-nbd at URI, two rows labelled LABEL; the QD1
# p50, its bare read p50, vblade's share at QD32 and the QD32 IOPS go into
# the associative arrays named QD1, BARE, VB and IOPS under MTU-BACKEND
# (TAG marks the profile).
nbd_rand()
{
	local mtu=$1 be=$2 w=$3 tag=$4 uri=$5 iops p50 p99
	# shellcheck disable=SC2034  # namerefs: the caller's arrays
	local -n r_qd1=$6 r_bare=$7 r_vb=$8 r_iops=$9
	qd1_rounds nbd-randread -d 1 -n "$qd1_n" "$uri"
	qd1_result
	r_qd1[$mtu-$be]=$q_p50
	r_bare[$mtu-$be]=$q_bare
	row "Random 4 KiB" "$w QD1 reads (nbd-randread -d 1)" \
	    "$mtu" "$be" "$q_text" - - - - \
	    "p50 <= 1.2 × bare 4 KiB read p50" "$q_ok"
	measure $((qd32_n * 4096)) "$vb_pid" "$nb_pid" \
	    "qd32$tag-$mtu-$be" nbd-randread -d 32 -n "$qd32_n" "$uri"
	read -r _ _ _ _ _ _ _ iops _ _ _ _ _ p50 _ p99 _ <"$work/cmd.out"
	r_vb[$mtu-$be]=$m_vbpct
	r_iops[$mtu-$be]=$iops
	row "Random 4 KiB" "$w QD32 reads (nbd-randread -d 32)" \
	    "$mtu" "$be" "$iops IOPS (p50 $p50 µs, p99 $p99 µs; $m_mach)" \
	    "$m_vbpct" "$m_inspg" "$m_vbspg" "$m_ratio" \
	    "vblade-bound (>= 95% core)" "$(met "$(is "$m_vbpct >= 95")")"
}

# bench_nbd_poll MTU BACKEND: the random reads again, aoe-nbd --busy-poll.
bench_nbd_poll()
{
	local mtu=$1 be=$2
	start_nb -I "$lan_if" --backend="$be" -w 5 --busy-poll="$busy_poll" \
	    e1.0
	nbd_rand "$mtu" "$be" "aoe-nbd --busy-poll=$busy_poll" -poll \
	    "$(nb_uri e1.0)" qd1bp qd1bpbare qd32bpvb qd32bpiops
	stop_pid "$nb_pid"
	nb_pid=
}

# bench_lat MTU BACKEND: random reads through the engine in-process.
bench_lat()
{
	local mtu=$1 be=$2 iops p50 p99 w
	qd1_rounds aoe-lat -I "$lan_if" --backend="$be" -d 1 -n "$qd1_n" e1.0
	qd1_result
	lat1[$mtu-$be]=$q_p50
	lat1bare[$mtu-$be]=$q_bare
	w="engine QD1 reads, in-process, no NBD (aoe-lat -d 1)"
	row "Random 4 KiB" "$w" "$mtu" "$be" "$q_text" - - - - \
	    "p50 <= 1.2 × bare 4 KiB read p50" "$q_ok"
	measure $((qd32_n * 4096)) "$vb_pid" - "lat32-$mtu-$be" \
	    aoe-lat -I "$lan_if" --backend="$be" -d 32 -n "$qd32_n" e1.0
	read -r _ _ _ _ _ _ _ iops _ _ _ _ _ p50 _ p99 _ <"$work/cmd.out"
	lat32vb[$mtu-$be]=$m_vbpct
	w="engine QD32 reads, in-process, no NBD (aoe-lat -d 32)"
	row "Random 4 KiB" "$w" "$mtu" "$be" \
	    "$iops IOPS (p50 $p50 µs, p99 $p99 µs; $m_mach)" "$m_vbpct" \
	    - "$m_vbspg" - "vblade-bound (>= 95% core)" \
	    "$(met "$(is "$m_vbpct >= 95")")"
}

# bench_fuse MTU BACKEND: aoe-fuse, one file, dd.
bench_fuse()
{
	local mtu=$1 be=$2 f=$fu_file
	# The buffered read first, on a fresh mount: a cold page cache.
	# shellcheck disable=SC2086
	start_fu -I "$lan_if" --backend="$be" $init_opts
	measure "$size" "$vb_pid" "$fu_pid" "fuse-bread-$mtu-$be" \
	    dd if="$f" of=/dev/null bs=1M count="$count"
	seq_row "aoe-fuse read, buffered (dd bs=1M)" "$mtu" "$be"
	measure "$size" "$vb_pid" "$fu_pid" "fuse-dread-$mtu-$be" \
	    dd if="$f" of=/dev/null bs=1M count="$count" iflag=direct
	seq_row "aoe-fuse read, O_DIRECT (dd bs=1M iflag=direct)" \
	    "$mtu" "$be"
	measure "$size" "$vb_pid" "$fu_pid" "fuse-dwrite-$mtu-$be" \
	    dd if="$src" of="$f" bs=1M count="$count" oflag=direct \
	    conv=notrunc,fdatasync
	seq_row "aoe-fuse write, O_DIRECT (dd oflag=direct conv=fdatasync)" \
	    "$mtu" "$be"
	measure "$size" "$vb_pid" "$fu_pid" "fuse-bwrite-$mtu-$be" \
	    dd if="$src" of="$f" bs=1M count="$count" conv=notrunc,fdatasync
	seq_row "aoe-fuse write, buffered (dd bs=1M conv=fdatasync)" \
	    "$mtu" "$be"
	stop_fu
}

# bench_rtt MTU: the bare round trips, with nothing else on the LAN.
bench_rtt()
{
	local mtu=$1 fr p50 p99 w
	aoe-rtt -n "$rtt_n" "$lan_if" 1 0 >"$work/rtt" 2>&1 ||
	    cat "$work/rtt" >&2
	read -r _ _ _ _ _ _ _ _ _ _ p50 _ p99 _ <"$work/rtt"
	rtt_qc[$mtu]=$p50
	row "Random 4 KiB" "bare Query Config round trip (aoe-rtt)" \
	    "$mtu" packet "p50 $p50 µs, p99 $p99 µs" - - - - - -
	aoe-rtt -n "$rtt_n" -r 8 "$lan_if" 1 0 >"$work/rtt" 2>&1 ||
	    cat "$work/rtt" >&2
	read -r _ _ _ _ _ _ fr _ _ _ p50 _ p99 _ <"$work/rtt"
	rtt_rd[$mtu]=$p50
	w="bare 4 KiB ATA read round trip, $fr frame(s) (aoe-rtt -r 8)"
	row "Random 4 KiB" "$w" "$mtu" packet "p50 $p50 µs, p99 $p99 µs" \
	    - - - - - -
}

# ============================================================ nbdkit

bench_nbdkit()
{
	local pidf=$work/nbdkit.pid sock=$nbd_sockdir/k uri nk iops p50 p99 w
	env -u LD_PRELOAD nbdkit -f -U "$sock" -P "$pidf" file "$disk" \
	    </dev/null >"$work/nbdkit.log" 2>&1 &
	nk=$!
	track "$nk"
	wait_for -t 15 _nbd_ready "$nk" "$pidf" "$sock" ||
	    fail "nbdkit did not start"
	uri="nbd+unix:///?socket=$sock"
	# nbdkit's own CPU goes in the vblade columns: the server side.
	measure "$size" "$nk" - nbdkit-read nbdcopy "$uri" null:
	w="nbdkit file plugin read (nbdcopy → null:), server CPU in the"
	w+=" vblade columns"
	row "NBD ceiling" "$w" - unix "$m_mbs MB/s" "$m_vbpct" - "$m_vbspg" \
	    - - -
	measure "$size" "$nk" - nbdkit-write nbdcopy --flush "$src" "$uri"
	row "NBD ceiling" "nbdkit file plugin write (nbdcopy --flush)" - \
	    unix "$m_mbs MB/s" "$m_vbpct" - "$m_vbspg" - - -
	nbd-randread -d 1 -n "$qd1_n" "$uri" >"$work/qd" 2>&1
	read -r _ _ _ _ _ _ _ iops _ _ _ _ _ p50 _ p99 _ <"$work/qd"
	row "NBD ceiling" "nbdkit QD1 4 KiB reads" - unix \
	    "p50 $p50 µs, p99 $p99 µs ($iops IOPS)" - - - - - -
	nk_qd1_p50=$p50
	nbd-randread -d 32 -n "$qd32_n" "$uri" >"$work/qd" 2>&1
	read -r _ _ _ _ _ _ _ iops _ _ _ _ _ p50 _ p99 _ <"$work/qd"
	row "NBD ceiling" "nbdkit QD32 4 KiB reads" - unix \
	    "$iops IOPS (p50 $p50 µs, p99 $p99 µs)" - - - - - -
	nk_qd32_iops=$iops
	stop_pid "$nk"
}

# ============================================================ VM

# The guest's /vm-test: per MTU, the kernel driver, then aoe-nbd with the
# kernel's NBD client, then aoe-fuse, each reading and writing the same
# vblade target with dd; "BENCH-RESULT KIND MTU DIR BYTES SECS TICKS".
vm_guest_script()
{
	cat <<'EOF'
. /etc/vm-lib.sh
mib=$(vm_arg bench.mib)
coalesce=
[ "$(vm_arg bench.coalesce)" = default ] ||
    coalesce=--coalesce=$(vm_arg bench.coalesce)
mtus=$(vm_arg bench.mtus | tr , ' ')
txring=$(vm_arg bench.txring)
[ "$txring" = default ] || export AOE_PACKET_TX_RING=$txring
ddto=$(vm_arg bench.ddto)
n=0
until ifc=$(vm_iface 52:54:00:a0:e0:02); do
	n=$((n + 1))
	[ $n -lt 50 ] || { echo "VM-FAIL: no tap NIC"; exit 1; }
	sleep 0.1
done
ticks()
{
	local s
	s=$(cat /proc/$1/stat 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13}))
}
# run KIND MTU DIR PID DD-ARGS...: one dd, its figures on the console
# (PID: the initiator process whose CPU time is taken, 0 for none).
perf=$(vm_arg bench.perf)
run()
{
	local kind=$1 mtu=$2 dir=$3 pid=$4 c0 c1 line secs pp=
	shift 4
	if [ "$perf" = 1 ]; then
		# The guest has no PMU under TCG: the cpu-clock timer.
		/usr/bin/perf record -q -e cpu-clock -F 499 -a -g \
		    -o /tmp/perf.data 2>/tmp/perf.err &
		pp=$!
		sleep 1
	fi
	c0=$(ticks $pid)
	if timeout $ddto /usr/bin/gdd bs=1M count=$mib "$@" \
	    2>/tmp/dd.err; then
		c1=$(ticks $pid)
		if [ -n "$pp" ]; then
			kill -INT $pp
			wait $pp
			/usr/bin/perf report -i /tmp/perf.data --stdio \
			    --no-children --sort comm,dso,sym -g none \
			    --percent-limit 0.7 2>/dev/null |
			    grep -v '^#' | grep -v '^$' | head -n 40 |
			    sed "s/^/BENCH-PERF $kind $mtu $dir /"
		fi
		line=$(grep copied /tmp/dd.err)
		secs=$(echo "$line" | sed 's/.*copied, \([0-9.e+-]*\) s.*/\1/')
		echo "BENCH-RESULT $kind $mtu $dir ${line%% *} $secs" \
		    $((c1 - c0))
	else
		echo "BENCH-FAIL $kind $mtu $dir: $(tail -n 1 /tmp/dd.err)"
		[ -z "$pp" ] || { kill -INT $pp; wait $pp; }
		# Why: the guest kernel's last words and the NIC's counters.
		echo "BENCH-DIAG $(dmesg 2>&1 | tail -n 8 | tr '\n' ' ')"
		echo "BENCH-DIAG $(ip -s link show $ifc 2>&1 | tr '\n' ' ')"
	fi
}
oneline()
{
	tail -n 3 "$@" 2>&1 | tr '\n' ' '
}
for mtu in $mtus; do
	ip link set $ifc mtu $mtu up
	sleep 1
	# The kernel driver (it discovers by itself when loaded).
	for ko in $(cat /etc/aoe-modules); do insmod $ko; done
	d=/dev/etherd/e1.0
	n=0
	until [ -b $d ] || [ $n -ge 100 ]; do
		n=$((n + 1))
		[ $((n % 10)) != 0 ] || echo >/dev/etherd/discover
		sleep 0.1
	done
	ksect=
	if [ -b $d ]; then
		ksect=$(cat '/sys/block/etherd!e1.0/queue/max_sectors_kb')
		echo "BENCH-INFO e1.0 max_sectors_kb $ksect"
		run kernel $mtu read 0 if=$d of=/dev/null iflag=direct
		run kernel $mtu write 0 if=/dev/zero of=$d oflag=direct
	else
		echo "BENCH-FAIL kernel $mtu: no $d"
	fi
	# aoe.ko's own view of the target (debugfs): window, RTT, losses.
	if mount -t debugfs none /sys/kernel/debug 2>/dev/null ||
	    [ -d /sys/kernel/debug/aoe ]; then
		tr '\n' ' ' </sys/kernel/debug/aoe/e1.0 2>/dev/null |
		    sed "s/^/BENCH-COUNTERS kernel $mtu /"
		echo
	fi
	rmmod aoe
	# aoe-nbd and the kernel's NBD client, on a Unix socket.
	rm -f /tmp/nbd.pid
	/usr/sbin/aoe-nbd -I $ifc -U /tmp/nbd.sock -f -P /tmp/nbd.pid \
	    -w 10 -v --busy-poll=$(vm_arg bench.poll) $coalesce e1.0 </dev/null \
	    >/tmp/aoe-nbd.log 2>&1 &
	nbp=$!
	n=0
	until [ -s /tmp/nbd.pid ] || [ $n -ge 100 ]; do
		n=$((n + 1))
		sleep 0.1
	done
	if /usr/sbin/nbd-client -unix /tmp/nbd.sock /dev/nbd0 -N e1.0 \
	    >/tmp/nbd-client.log 2>&1; then
		# The block layer's request size limit as for aoe.ko (a
		# udev rule or the initramfs script does this for users).
		q=/sys/block/nbd0/queue
		if [ -n "$ksect" ] && [ "$(vm_arg bench.nbdsect)" = same ]; then
			hw=$(cat $q/max_hw_sectors_kb)
			[ "$ksect" -le "$hw" ] || ksect=$hw
			echo $ksect >$q/max_sectors_kb
		fi
		echo "BENCH-INFO nbd0 max_sectors_kb $(cat $q/max_sectors_kb)"
		run nbd $mtu read $nbp if=/dev/nbd0 of=/dev/null iflag=direct
		run nbd $mtu write $nbp if=/dev/zero of=/dev/nbd0 oflag=direct
		/usr/sbin/nbd-client -d /dev/nbd0 >/dev/null 2>&1
	else
		echo "BENCH-FAIL nbd $mtu:" \
		    "$(oneline /tmp/nbd-client.log /tmp/aoe-nbd.log)"
	fi
	kill $nbp
	wait $nbp
	# The engine's counters (-v, at exit): window, RTT, losses.
	grep -E 'frames (out|sent)|answers dropped|event loop' /tmp/aoe-nbd.log | sed "s/^/BENCH-COUNTERS nbd $mtu /"
	# aoe-fuse, one file (noauto_unmount: auto_unmount would need
	# fusermount3; root mounts by itself).
	: >/tmp/fdisk
	if /usr/sbin/aoe-fuse -I $ifc --pidfile=/tmp/fuse.pid -w 10 \
	    --busy-poll=$(vm_arg bench.poll) $coalesce \
	    -o noauto_unmount e1.0 /tmp/fdisk 2>/tmp/aoe-fuse.log; then
		fp=$(cat /tmp/fuse.pid)
		run fuse $mtu read $fp if=/tmp/fdisk of=/dev/null iflag=direct
		run fuse $mtu write $fp if=/dev/zero of=/tmp/fdisk \
		    oflag=direct conv=notrunc
		umount /tmp/fdisk
		n=0
		while [ -d /proc/$fp ] && [ $n -lt 50 ]; do
			n=$((n + 1))
			sleep 0.1
		done
	else
		echo "BENCH-FAIL fuse $mtu: $(oneline /tmp/aoe-fuse.log)"
	fi
done
echo "BENCH-VM-DONE"
EOF
}

# vm_rows: the report rows from the guest's console.
vm_rows()
{
	local line kind m dir bytes secs ticks mbs k ratio what spg
	local -A kmbs
	while read -r line; do
		# shellcheck disable=SC2086
		set -- $line
		case ${1:-} in
		BENCH-RESULT) ;;
		BENCH-FAIL)
			row "VM (TCG)" "$line" - - FAILED - - - - - -
			continue
			;;
		*) continue ;;
		esac
		kind=$2 m=$3 dir=$4 bytes=$5 secs=$6 ticks=${7:-0}
		mbs=$(awk -v b="$bytes" -v s="$secs" \
		    'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }')
		if [ "$kind" = kernel ]; then
			kmbs[$m-$dir]=$mbs
			what="kernel aoe.ko $dir (dd bs=1M direct,"
			what+=" /dev/etherd/e1.0)"
			row "VM (TCG)" "$what" "$m" tap "$mbs MB/s" - - - - - -
			continue
		fi
		k=${kmbs[$m-$dir]:-0}
		ratio=$(awk -v a="$mbs" -v b="$k" \
		    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		echo "$kind $m $dir $ratio" >>"$work/vm-ratios"
		if [ "$kind" = nbd ]; then
			what="aoe-nbd + nbd-client $dir (dd bs=1M direct,"
			what+=" /dev/nbd0)"
		else
			what="aoe-fuse $dir (dd bs=1M direct, one file)"
		fi
		# The guest's clock ticks at 100 Hz.
		spg=$(awk -v t="$ticks" -v b="$bytes" \
		    'BEGIN { printf "%.1f", t / 100 / (b / 1073741824) }')
		row "VM (TCG)" "$what" "$m" tap \
		    "$mbs MB/s (${ratio}× kernel)" - "$spg (guest)" \
		    - - ">= 1.5× kernel" \
		    "$(met "$(is "\"$ratio\" != \"-\" && $ratio + 0 >= 1.5")")"
	done < <(tr -d '\r' <"$vm_log")
}

vm_bench()
{
	local tap=ab$$ img=$work/vm.img vmib=$((vm_size / mib)) k ko
	local ddto vm_vb info
	# TSC as the guest's clock: under TCG the kernel picks hpet, and
	# every clock_gettime is then a system call and an emulated MMIO
	# read (it halved our initiators' throughput in the guest; aoe.ko
	# reads the clock per frame too).
	local append="clocksource=tsc tsc=reliable${BENCH_VM_APPEND:+ $BENCH_VM_APPEND}"

	vm_requires
	vm_kernel >/dev/null
	vm_netns
	vm_tap "$tap"
	ip -n "$vm_ns" link set "$tap" mtu 9000
	truncate -s "$vm_size" "$img"
	start_vb "$vm_ns" "$tap" "$img" 1 0
	vm_vb=$vb_pid

	vm_initramfs_begin "$work/initramfs" >/dev/null
	vm_add_modules virtio_pci virtio_net nbd fuse
	# aoe.ko: loaded by the guest script only while it is measured.
	modprobe -d "$vm_kroot" -S "$vm_kver" --show-depends aoe \
	    >"$work/aoedeps" 2>&1 ||
	    fail "no aoe module: $(cat "$work/aoedeps")"
	mkdir -p "$vm_root/lib/modules/bench"
	: >"$vm_root/etc/aoe-modules"
	while read -r k ko _; do
		[ "$k" = insmod ] || continue
		cp "$ko" "$vm_root/lib/modules/bench/"
		echo "/lib/modules/bench/${ko##*/}" \
		    >>"$vm_root/etc/aoe-modules"
	done <"$work/aoedeps"
	vm_add_prog "$top_builddir/src/aoe-nbd"
	vm_add_prog "$top_builddir/src/aoe-fuse"
	vm_add_prog nbd-client
	vm_add_prog "$(command -v dd)" /usr/bin/gdd
	vm_perf=0
	if [ -n "${BENCH_PERF:-}" ] && command -v perf >/dev/null; then
		vm_add_prog "$(command -v perf)" /usr/bin/perf
		vm_perf=1
	fi
	ln -sf /proc/self/mounts "$vm_root/etc/mtab"
	vm_guest_script >"$vm_root/vm-test"
	vm_initramfs "$vm_root" "$work/initrd.gz" >/dev/null
	vm_nic_tap "$tap"
	say "VM: $vmib MiB per transfer at MTU ${vm_mtus// /,}"
	# Bounds: one dd at 1 MiB/s at least, the guest 6 of those per MTU.
	ddto=$((30 + vmib))
	vm_run -t $((120 + 6 * ddto * $(echo $vm_mtus | wc -w))) \
	    -n "$vm_ns" -l "$work/vm-console.log" -i "$work/initrd.gz" \
	    -a "quiet $append bench.mib=$vmib bench.ddto=$ddto \
bench.mtus=${vm_mtus// /,} bench.nbdsect=$vm_nbdsect bench.perf=$vm_perf bench.poll=${BENCH_VM_BUSY_POLL:-0} bench.coalesce=${BENCH_VM_COALESCE:-default} bench.txring=$vm_txring" -- "${vm_nic[@]}" -smp "$vm_smp" >/dev/null
	# vblade exits when a send fails (the tap's queue full while the
	# guest stalls): then every later row fails; say why.
	kill -0 "$vm_vb" 2>/dev/null ||
	    say "vblade on the tap exited during the run:" \
		"$(tail -n 2 "$work/vblade-1.0.log" | tr '\n' ' ')"
	# A failed row: keep the guest's console (its kernel's messages).
	if tr -d '\r' <"$vm_log" | grep -q '^BENCH-FAIL'; then
		cp "$vm_log" "${TMPDIR:-/tmp}/aoe-bench-vm-console.$$.log"
		say "a VM row failed; the guest's console:" \
		    "${TMPDIR:-/tmp}/aoe-bench-vm-console.$$.log"
	fi
	stop_pid "$vm_vb"
	if [ "$vm_perf" = 1 ]; then
		mkdir -p "$BENCH_PERF"
		tr -d '\r' <"$vm_log" | grep '^BENCH-PERF ' \
		    >"$BENCH_PERF/vm-profiles.txt"
		say "guest profiles: $BENCH_PERF/vm-profiles.txt"
	fi
	tr -d '\r' <"$vm_log" | grep -E '^(BENCH|VM-)' |
	    grep -v '^BENCH-PERF ' >&2
	info=$(tr -d '\r' <"$vm_log" | awk '$1 == "BENCH-INFO" {
		$1 = ""; sub(/^ /, "")
		if (!seen[$0]++) printf "%s%s", n++ ? ", " : "", $0 }')
	[ "$vm_txring" = default ] ||
	    txnote="; AOE_PACKET_TX_RING=$vm_txring in the guest"
	note "VM: qemu TCG (-cpu max -smp $vm_smp -m 1G), Debian kernel" \
	    "$vm_kver, append '$append'; virtio-net on a tap (MTU 9000" \
	    "on the host side), vblade $vblade_opts on the tap;" \
	    "$vmib MiB per dd; $info; the guest ran for $vm_seconds s;" \
	    "initiator CPU measured in the guest (aoe.ko's is not" \
	    "attributable)${txnote:-}"
	vm_rows
}

# ============================================================ 256 targets

bench_many()
{
	local i f n t t0 t1 st best rss0 rss hwm py w
	local names=() pids=() times=()
	set_mtu 1500
	mkdir -p "$work/many"
	# Slot 255 is the broadcast slot: shelves 2 and 3, slots 0-127.
	say "starting 256 vblade processes on $lan_tif"
	for i in $(seq 0 255); do
		f=$work/many/t$i.img
		truncate -s 1M "$f"
		ip netns exec "$lan_ns" vblade $((2 + i / 128)) $((i % 128)) \
		    "$lan_tif" "$f" </dev/null >"$work/many/t$i.log" 2>&1 &
		pids+=($!)
		track $!
		names+=("e$((2 + i / 128)).$((i % 128))")
	done
	_many_ready()
	{
		local j
		for j in "${!pids[@]}"; do
			_vblade_ready "${pids[j]}" "$work/many/t$j.log" ||
			    return 1
		done
	}
	wait_for -t 60 _many_ready || fail "256 vblades did not start"
	sleep 1
	note "256 targets: e2.0-e2.127 and e3.0-e3.127 (slot 255 is the" \
	    "broadcast slot), one vblade process each on a 1 MiB sparse" \
	    "file, all on $lan_tif, MTU 1500"

	for _ in $(seq 1 "$many_reps"); do
		t0=$EPOCHREALTIME
		aoectl -I "$lan_if" -w 10 stat "${names[@]}" \
		    >"$work/stat.out" 2>"$work/stat.err"
		st=$?
		t1=$EPOCHREALTIME
		n=$(grep -c ' up$' "$work/stat.out")
		t=$(calc "sprintf(\"%.3f\", $t1 - $t0)")
		say "aoectl stat of 256 targets: status $st, $n up, $t s"
		times+=("$t")
	done
	best=$(printf '%s\n' "${times[@]}" | sort -n |
	    awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	many_t=$best many_n=$n
	w="aoectl -I IF -w 10 stat e2.0 … e3.127 (wall time, median of"
	w+=" $many_reps: ${times[*]} s)"
	row "256 targets" "$w" 1500 packet "$best s, $n listed" - - - - \
	    "< 1 s, all 256" \
	    "$(met "$(is "$n == 256 && $best < 1")")"

	start_nb -I "$lan_if" -w 5
	n=0
	for i in $(seq 1 100); do
		n=$(nbdinfo --list "$(nb_uri)" 2>/dev/null |
		    grep -c '^export="e[23]\.')
		[ "$n" -lt 256 ] || break
		sleep 0.1
	done
	rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$nb_pid/status")
	w="aoe-nbd resident, 256 targets ($n exports), no connection"
	row "256 targets" "$w" 1500 packet "VmRSS $(kib_mib "$rss0")" \
	    - - - - - -
	cat >"$work/conns.py" <<'EOF'
import sys, time, nbd
sock, ready = sys.argv[1], sys.argv[2]
hs = []
for i in range(64):
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///e%d.%d?socket=%s" % (2 + i % 2, i // 2, sock))
    h.pread(65536, 0)
    hs.append(h)
open(ready, "w").write("%d\n" % len(hs))
time.sleep(600)
EOF
	"${nbd_python:-python3}" "$work/conns.py" "$nb_sock" "$work/ready" \
	    >"$work/conns.log" 2>&1 &
	py=$!
	track "$py"
	if wait_for -t 60 test -s "$work/ready"; then
		sleep 0.5
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$nb_pid/status")
		hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$nb_pid/status")
		many_rss=$rss
		say "aoe-nbd with 64 connections: VmRSS $rss kB, VmHWM $hwm kB"
		w="aoe-nbd resident, 256 targets + 64 NBD connections"
		w+=" (python libnbd, 64 KiB read on each)"
		row "256 targets" "$w" 1500 packet \
		    "VmRSS $(kib_mib "$rss") (VmHWM $(kib_mib "$hwm"))" \
		    - - - - "< 32 MiB" "$(met "$(is "$rss < 32768")")"
	else
		cat "$work/conns.log" >&2
		row "256 targets" "aoe-nbd with 64 connections: FAILED" \
		    - - FAILED - - - - "< 32 MiB" "$(met 0)"
	fi
	stop_pid "$py"
	stop_pid "$nb_pid"
	nb_pid=
	for i in "${pids[@]}"; do
		kill -TERM "$i" 2>/dev/null
	done
	for i in "${pids[@]}"; do
		wait "$i" 2>/dev/null
		untrack "$i"
	done
}

# ============================================================ targets

# target WHAT MTU LINK RESULT WANT OK: a row of the Target section (OK:
# 1, 0 or a verdict already written out).
target()
{
	local v=$6
	case $v in
	0 | 1) v=$(met "$v") ;;
	esac
	row Target "$1" "$2" "$3" "$4" - - - - "$5" "$v"
}

target_rows()
{
	local mtu mn mx k kind r ok qc w
	if want seq; then
		for mtu in $mtus; do
			# shellcheck disable=SC2086
			set -- ${vbpcts[$mtu]:-}
			mn=$(min_of "$@") mx=$(max_of "$@")
			target "vblade >= 95% of a core, sequential transfers" \
			    "$mtu" all "min $mn%, max $mx% over $# transfers" \
			    ">= 95%" "$(is "\"$mn\" != \"-\" && $mn + 0 >= 95")"
		done
		for mtu in $mtus; do
			# shellcheck disable=SC2086
			set -- ${ratios[$mtu]:-}
			mn=$(min_of "$@") mx=$(max_of "$@")
			target "initiator CPU per GiB <= half of vblade's" \
			    "$mtu" all "initiator/vblade $mn to $mx" "<= 0.5" \
			    "$(is "\"$mx\" != \"-\" && $mx + 0 <= 0.5")"
		done
	fi
	for kind in nbd fuse; do
		[ -s "$work/vm-ratios" ] || break
		r=$(awk -v k="$kind" '$1 == k { printf "%s%s %s %s×",
		    n++ ? ", " : "", $3, $2, $4 }' "$work/vm-ratios")
		[ -n "$r" ] || continue
		ok=$(awk -v k="$kind" '$1 == k { n++
		    if ($4 == "-" || $4 < 1.5) bad++ }
		    END { print (n && !bad) ? 1 : 0 }' "$work/vm-ratios")
		if [ "$kind" = nbd ]; then
			k="aoe-nbd + nbd-client"
		else
			k=aoe-fuse
		fi
		target "VM: $k >= 1.5× kernel aoe.ko, read and write" - tap \
		    "$r" ">= 1.5×" "$ok"
	done
	if want rand; then
		for k in $(printf '%s\n' "${!qd1[@]}" | sort -n); do
			mtu=${k%%-*}
			qc=${rtt_qc[$mtu]:-0}
			# Ratios to the bare 4 KiB read measured in the same
			# rounds (the same frames: several at MTU 1500), and
			# to the bare Query Config of the MTU's RTT rows.
			w=$(awk -v e="${lat1[$k]:-0}" -v n="${qd1[$k]:-0}" \
			    -v eb="${lat1bare[$k]:-0}" \
			    -v nb="${qd1bare[$k]:-0}" -v q="$qc" 'BEGIN {
				if (eb <= 0 || nb <= 0 || q <= 0) {
					print "-"; exit }
				printf "engine %.1f µs = %.2f× bare read" \
				    " (%.2f× QC); aoe-nbd %.1f µs = %.2f×" \
				    " bare read (%.2f× QC)", e, e / eb, e / q,
				    n, n / nb, n / q }')
			ok="engine $(met "$(is "${lat1bare[$k]:-0} > 0 &&
			    ${lat1[$k]:-0} <= 1.2 * ${lat1bare[$k]:-0}")")"
			ok+=", aoe-nbd $(met "$(is "${qd1bare[$k]:-0} > 0 &&
			    ${qd1[$k]:-0} <= 1.2 * ${qd1bare[$k]:-0}")")"
			if [ -n "${qd1bp[$k]:-}" ]; then
				w+=$(awk -v n="${qd1bp[$k]}" \
				    -v nb="${qd1bpbare[$k]:-0}" 'BEGIN {
					if (nb > 0) printf "; --busy-poll:" \
					    " %.1f µs = %.2f× bare read", n,
					    n / nb }')
				ok+=", --busy-poll $(met "$(is \
				    "${qd1bpbare[$k]:-0} > 0 && ${qd1bp[$k]} \
				    <= 1.2 * ${qd1bpbare[$k]:-0}")")"
			fi
			# The floor without polling: the client's socket
			# round trip (nbdkit's) plus the AoE one.
			[ -z "$nk_qd1_p50" ] || w+=$(awk -v k="$nk_qd1_p50" \
			    -v n="${qd1[$k]:-0}" -v nb="${qd1bare[$k]:-0}" \
			    'BEGIN { if (nb > 0 && k > 0)
				printf "; NBD alone (nbdkit) %.1f µs: aoe-nbd" \
				    " = %.2f× (NBD + bare read)", k,
				    n / (k + nb) }')
			target "QD1 4 KiB read p50 <= 1.2× a bare round trip" \
			    "$mtu" "${k#*-}" "$w" "<= 1.2× bare 4 KiB read" \
			    "$ok"
		done
		for k in $(printf '%s\n' "${!qd32vb[@]}" | sort -n); do
			w="vblade: engine ${lat32vb[$k]:-?}%, aoe-nbd"
			w+=" ${qd32vb[$k]}% of a core"
			ok="engine $(met "$(is "${lat32vb[$k]:-0} >= 95")")"
			ok+=", aoe-nbd $(met "$(is "${qd32vb[$k]:-0} >= 95")")"
			if [ -n "${qd32bpvb[$k]:-}" ]; then
				w+=", --busy-poll ${qd32bpvb[$k]}%"
				ok+=", --busy-poll $(met "$(is \
				    "${qd32bpvb[$k]} >= 95")")"
			fi
			# What this machine's NBD ceiling allows (nbdkit).
			[ -z "$nk_qd32_iops" ] || w+=$(awk \
			    -v a="${qd32iops[$k]:-0}" -v k="$nk_qd32_iops" \
			    -v b="${qd32bpiops[$k]:-0}" 'BEGIN { if (k > 0) {
				printf "; aoe-nbd %d IOPS = %.2f× nbdkit" \
				    " file QD32 (%d)", a, a / k, k
				if (b > 0)
					printf ", --busy-poll %.2f×", b / k } }')
			target "QD32 4 KiB reads limited by vblade" "${k%%-*}" \
			    "${k#*-}" "$w" ">= 95%" "$ok"
		done
	fi
	if want many; then
		target "256 targets discovered and listed (aoectl stat)" \
		    1500 packet "${many_t:-?} s, ${many_n:-0} listed" "< 1 s" \
		    "$(is "${many_n:-0} == 256 && ${many_t:-9} + 0 < 1")"
		target "aoe-nbd resident, 256 targets and 64 connections" \
		    1500 packet "$(kib_mib "${many_rss:-0}")" "< 32 MiB" \
		    "$(is "${many_rss:-0} > 0 && ${many_rss:-0} < 32768")"
	fi
}

# ============================================================ run

bench_t0=$SECONDS
note_load start
setup_lan 1500 >/dev/null
cleanup_fn bench_cleanup
say "LAN $lan_if <-> $lan_tif (netns $lan_ns); scratch $work"

disk=$work/disk.img
src=$work/src.img
say "making a $((size / mib)) MiB random backing file and write source"
# AES-CTR key streams: random bytes, fast.
for f in disk src; do
	head -c "$size" /dev/zero |
	    openssl enc -aes-128-ctr -nosalt -pass "pass:$f" -pbkdf2 \
	    2>/dev/null >"$work/$f.img"
	[ "$(stat -c %s "$work/$f.img")" = "$size" ] ||
	    fail "cannot create $work/$f.img"
done

if want seq || want rand; then
	for mtu in $mtus; do
		set_mtu "$mtu"
		start_vb "$lan_ns" "$lan_tif" "$disk" 1 0
		note_load "MTU $mtu"
		say "MTU $mtu: vblade pid $vb_pid"
		! want rand || bench_rtt "$mtu"
		for be in $backends; do
			! want rand || bench_lat "$mtu" "$be"
			bench_nbd "$mtu" "$be"
			! want seq || bench_fuse "$mtu" "$be"
		done
		stop_pid "$vb_pid"
	done
fi

if want nbdkit && command -v nbdkit >/dev/null; then
	note_load nbdkit
	bench_nbdkit
fi

if want vm; then
	note_load VM
	# In a subshell with a cleanup of its own: a failure there (fail
	# exits) loses the VM rows only.
	if (vm_requires) >/dev/null 2>&1; then
		(
			_cleanup_cmds=()
			bench_pids=()
			bench_mounts=()
			trap _run_cleanup EXIT
			cleanup_fn bench_cleanup
			vm_bench
		) || row "VM (TCG)" "FAILED (see the log)" - - - - - - - - -
	else
		row "VM (TCG)" "skipped: $( (vm_requires) 2>&1 | tail -n 1)" \
		    - - - - - - - - -
	fi
fi

if want many; then
	note_load "256 targets"
	bench_many
fi

note_load end
target_rows
report=$(print_report)
echo "$report"
[ -z "${BENCH_OUT:-}" ] || echo "$report" >"$BENCH_OUT"
exit 0
