#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the libFuzzer harnesses in tests/fuzz with clang (fuzzer, address and
# undefined sanitizers) and run each for a bounded time on a copy of its seed
# corpus, after replaying the saved crash inputs in tests/fuzz/regress/.
# Fails when any harness finds a crash, leak, timeout or out-of-memory.
#
# Usage: run-fuzzers.sh [BUILDDIR]     (default $top_builddir/tests/fuzz-build)
# Environment:
#   FUZZ_SECONDS   seconds per harness (default 20)
#   FUZZERS        harnesses to run (default: all, e.g. "codec engine")
#   FUZZ_CC        compiler (default clang-14, else clang)
#   FUZZ_ARGS      extra libFuzzer arguments (e.g. -jobs=1)
#   FUZZ_KEEP      1 = fuzz in BUILDDIR/corpus-NAME without resetting it
# Exit status: 0, 1 on a finding or build failure, 77 when clang or its
# fuzzer runtime is missing.

set -u

# make check's glibc malloc debugging (LD_PRELOAD) cannot share a process
# with ASan, which must come first; ASan checks the heap itself.
unset LD_PRELOAD GLIBC_TUNABLES

srcdir_fuzz=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$srcdir_fuzz/../.." && pwd)
top_builddir=${top_builddir:-$PWD}
builddir=${1:-$top_builddir/tests/fuzz-build}
seconds=${FUZZ_SECONDS:-20}
fuzzers=${FUZZERS:-codec engine cmdline nbd nbds ifwatch}

say()
{
	printf 'run-fuzzers: %s\n' "$*"
}

if [ -n "${FUZZ_CC:-}" ]; then
	cc=$FUZZ_CC
elif command -v clang-14 >/dev/null 2>&1; then
	cc=clang-14
else
	cc=clang
fi
if ! command -v "$cc" >/dev/null 2>&1; then
	say "$cc not found" \
	    "(Debian: apt-get install clang-14 libclang-rt-14-dev)"
	exit 77
fi

mkdir -p "$builddir" || exit 1
builddir=$(cd "$builddir" && pwd)

# The project's config.h (_GNU_SOURCE and the feature tests); a minimal one
# when run outside a configured build tree.
config_h=$top_builddir/config.h
if [ ! -f "$config_h" ]; then
	config_h=$builddir/config.h
	cat >"$config_h" <<-'EOF'
	#define _GNU_SOURCE 1
	#define HAVE_LINUX_IF_PACKET_H 1
	#define HAVE_SENDMMSG 1
	#define HAVE_RECVMMSG 1
	#define PACKAGE_NAME "aoe-nbd"
	#define PACKAGE_VERSION "fuzz"
	EOF
fi

# The fuzzer runtime ships separately on Debian (libclang-rt-14-dev).
probe=$builddir/probe
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
    '{ (void)d; (void)n; return 0; }' >"$probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe" "$probe.c" \
    >"$probe.log" 2>&1; then
	cat "$probe.log" >&2
	say "$cc cannot link -fsanitize=fuzzer,address,undefined" \
	    "(Debian: apt-get install libclang-rt-14-dev)"
	exit 77
fi

pcap_cflags=$(pkg-config --cflags libpcap 2>/dev/null)
pcap_libs=$(pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
gnutls_cflags=$(pkg-config --cflags gnutls 2>/dev/null)
gnutls_libs=$(pkg-config --libs gnutls 2>/dev/null || echo -lgnutls)

# The project's warnings, except -Wimplicit-fallthrough: clang ignores the
# /* FALLTHROUGH */ comments that gcc (the project's compiler) honours.
CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer \
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 -Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes \
 -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
 -Wundef -Wno-unused-parameter \
 -I$top_srcdir/src -I$top_srcdir/tests -include $config_h"

# Per harness: sources, libraries, -max_len.
sources()
{
	local s=$top_srcdir/src
	case $1 in
	codec)
		echo "$srcdir_fuzz/fuzz_codec.c $s/aoe.c $s/ata.c $s/util.c" ;;
	engine)
		echo "$srcdir_fuzz/fuzz_engine.c" \
		    "$top_srcdir/tests/faketarget.c" \
		    "$s/engine.c $s/aoe.c $s/ata.c $s/util.c" ;;
	cmdline)
		echo "$srcdir_fuzz/fuzz_cmdline.c $s/rt.c $s/ifwatch.c $s/link.c" \
		    "$s/link_packet.c $s/link_pcap.c $s/link_txq.c" \
		    "$s/trace.c $s/loop.c" \
		    "$s/log.c $s/engine.c $s/aoe.c $s/ata.c $s/util.c" ;;
	nbd)
		echo "$srcdir_fuzz/fuzz_nbd.c $s/nbdproto.c" ;;
	ifwatch)
		echo "$srcdir_fuzz/fuzz_ifwatch.c $s/ifwatch.c" ;;
	nbds)
		echo "$srcdir_fuzz/fuzz_nbds.c $s/nbds.c $s/nbdproto.c" \
		    "$s/tls.c $s/engine.c $s/aoe.c $s/ata.c $s/util.c" \
		    "$s/loop.c $s/log.c $s/bufpool.c" \
		    "$top_srcdir/tests/faketarget.c" ;;
	esac
}

libs()
{
	case $1 in
	cmdline) echo "$pcap_libs" ;;
	nbds) echo "$gnutls_libs" ;;
	esac
}

# The seed corpus of a harness (the server reads the codec's streams).
corpus_of()
{
	case $1 in
	nbds) echo nbd ;;
	*) echo "$1" ;;
	esac
}

max_len()
{
	case $1 in
	codec) echo 9216 ;;
	engine) echo 16384 ;;
	cmdline) echo 1200 ;;
	nbd | nbds) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

# Rebuild when any source or header is newer than the binary.
build()
{
	local name=$1 bin=$builddir/fuzz_$1 srcs f stale=0
	srcs=$(sources "$name")
	for f in $srcs; do
		[ -f "$f" ] || { say "$name: missing $f"; return 2; }
	done
	if [ ! -x "$bin" ]; then
		stale=1
	else
		for f in $srcs "$top_srcdir"/src/*.h "$top_srcdir"/tests/*.h \
		    "$config_h"; do
			[ "$f" -nt "$bin" ] && stale=1 && break
		done
	fi
	[ "$stale" = 1 ] || return 0
	say "building fuzz_$name"
	# shellcheck disable=SC2086,SC2046
	"$cc" $CFLAGS $pcap_cflags $gnutls_cflags -o "$bin" $srcs \
	    $(libs "$name") \
	    2>"$builddir/fuzz_$name.build.log"
	local st=$?
	cat "$builddir/fuzz_$name.build.log" >&2
	return $st
}

# The final statistics of a libFuzzer log, on one line.
summary()
{
	local log=$1 execs cov ft last
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	printf 'executions %s, coverage %s edges, %s features' \
	    "${execs:-?}" "${cov:-?}" "${ft:-?}"
}

failed=0
ran=0
for name in $fuzzers; do
	build "$name"
	case $? in
	0) ;;
	2) say "$name: skipped (sources not present)"; continue ;;
	*) say "$name: build FAILED"; failed=1; continue ;;
	esac
	bin=$builddir/fuzz_$name
	artifacts=$builddir/artifacts-$name
	rm -rf "$artifacts"
	mkdir -p "$artifacts"

	# 1. The saved crash inputs, each replayed once.
	regress=$srcdir_fuzz/regress/$name
	nreg=0
	bad=0
	for f in "$regress"/*; do
		[ -f "$f" ] || continue
		nreg=$((nreg + 1))
		rlog=$builddir/regress-$name-$(basename "$f").log
		if ! "$bin" -artifact_prefix="$artifacts/" "$f" \
		    >"$rlog" 2>&1; then
			grep -v '^    #' "$rlog" | tail -n 20 >&2
			say "$name: regression input $(basename "$f") FAILS" \
			    "(log: $rlog)"
			bad=1
		fi
	done
	if [ "$bad" = 1 ]; then
		failed=1
		continue
	fi
	[ "$nreg" = 0 ] || say "$name: $nreg regression inputs pass"

	# 2. Fuzz for $seconds on a copy of the seeds.
	corpus=$builddir/corpus-$name
	if [ "${FUZZ_KEEP:-}" != 1 ]; then
		rm -rf "$corpus"
	fi
	mkdir -p "$corpus"
	seeds=$srcdir_fuzz/corpus/$(corpus_of "$name")
	if [ -d "$seeds" ]; then
		cp -n "$seeds"/* "$corpus"/ 2>/dev/null
	fi
	log=$builddir/fuzz-$name.log
	say "$name: fuzzing for ${seconds}s (max_len $(max_len "$name"))"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -max_len="$(max_len "$name")" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "$corpus" \
	    >"$log" 2>&1
	st=$?
	ran=$((ran + 1))
	found=$(ls "$artifacts" 2>/dev/null)
	if [ "$st" != 0 ] || [ -n "$found" ]; then
		tail -n 80 "$log" >&2
		say "$name: FAILED (exit $st): $(summary "$log")"
		for f in $found; do
			say "  input: $artifacts/$f"
		done
		say "  full log: $log"
		failed=1
	else
		say "$name: ok: $(summary "$log")," \
		    "corpus $(find "$corpus" -type f | wc -l) inputs"
	fi
done

[ "$ran" -gt 0 ] || [ "$failed" = 1 ] || { say "no harness ran"; exit 1; }
exit "$failed"
