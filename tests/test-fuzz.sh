#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every libFuzzer harness in tests/fuzz (the AoE/ATA codec, the engine on a
# fake link, the command-line parsers, the NBD codec, the NBD server on a
# socket with an in-memory target behind the engine, the rtnetlink link
# messages) built with clang and
# run briefly, after the saved regression inputs: any crash, leak, timeout or
# failed invariant fails the test.  Needs clang and its fuzzer runtime
# (Debian: clang-14 libclang-rt-14-dev); no network, no root.
. "$(dirname "$0")/functions.sh"

if command -v clang-14 >/dev/null 2>&1; then
	export FUZZ_CC=${FUZZ_CC:-clang-14}
else
	requires clang
	export FUZZ_CC=${FUZZ_CC:-clang}
fi
export FUZZ_SECONDS=${FUZZ_SECONDS:-15}

say "each harness for ${FUZZ_SECONDS}s with $FUZZ_CC"
st=0
bash "$top_srcdir/tests/fuzz/run-fuzzers.sh" \
    "$top_builddir/tests/fuzz-build" || st=$?
case $st in
0) ;;
77) skip_or_fail "$FUZZ_CC cannot build libFuzzer harnesses" \
    "(install libclang-rt-14-dev)" ;;
*) fail "a fuzzer found a problem (see the lines above)" ;;
esac
