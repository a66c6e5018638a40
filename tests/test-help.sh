#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every program answers --help (exit 0, every common option listed) and
# -V/--version (exit 0, the package version), and rejects an unknown
# option with the usage exit status 2; output that cannot be written
# (/dev/full) is an error.  aoe-fuse --help gives its own --wait
# defaults.  Needs no network.
. "$(dirname "$0")/functions.sh"

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
    "$top_builddir/config.h")
[ -n "$version" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"

progs=(aoectl aoe-stat aoecfg aoe-rw)
for p in aoe-nbd aoe-fuse; do
	[ -x "$top_builddir/src/$p" ] && progs+=("$p")
done
common=(--interface --backend --trace --wait --dead-timeout
    --discover-interval --max-window --max-sectors --busy-poll --coalesce
    --ro-retry --verbose --help --version)

for p in "${progs[@]}"; do
	command -v "$p" >/dev/null || fail "$p not built"
	say "$p --help: exit 0, lists every common option"
	expect_status 0 "$p" --help
	[ -s "$tmpdir/out" ] || fail "$p --help printed nothing on stdout"
	for opt in "${common[@]}"; do
		grep -qe "$opt\\b" "$tmpdir/out" ||
		    fail "$p --help does not mention $opt"
	done

	say "$p -V and --version: exit 0, version $version"
	for v in -V --version; do
		expect_status 0 "$p" "$v"
		expect_grep "$tmpdir/out" "$version"
	done

	say "$p with an unknown option: exit 2 with a message"
	expect_status 2 "$p" --no-such-option
	[ -s "$tmpdir/err" ] || fail "$p: no message for an unknown option"

	# Each broadcast is answered by every target on the LAN.
	say "$p: --discover-interval, --dead-timeout, --ro-retry 0 or >= 1 s"
	for o in --discover-interval --dead-timeout --ro-retry; do
		expect_status 2 "$p" "$o=0.001" --help
		expect_grep "$tmpdir/err" "0 (off) or 1 second or more"
		expect_status 0 "$p" "$o=0" --help
		expect_status 0 "$p" "$o=1" --help
	done

	say "$p --help, -V, --version >/dev/full: exit 1, a write error"
	for o in --help -V --version; do
		st=0
		"$p" "$o" >/dev/full 2>"$tmpdir/err" || st=$?
		sed 's/^/  err| /' "$tmpdir/err"
		[ "$st" = 1 ] || fail "$p $o >/dev/full: exit $st, expected 1"
		expect_grep "$tmpdir/err" "write error"
	done
done

# The single form waits up to 5 s by default, the directory form 1 s:
# --help's --wait entry (rt's common one said 1) must say both.
if [ -x "$top_builddir/src/aoe-fuse" ]; then
	say "aoe-fuse --help: the --wait defaults of both forms"
	expect_status 0 aoe-fuse --help
	awk '/^  -w, --wait=/ { on = 1; print; next }
	    on && /^        / { print; next } { on = 0 }' "$tmpdir/out" \
	    >"$tmpdir/wait"
	sed 's/^/  wait| /' "$tmpdir/wait"
	expect_grep "$tmpdir/wait" "TARGET until it answers, at most"
	expect_grep "$tmpdir/wait" "SECS (default 5)"
	expect_grep "$tmpdir/wait" "directory form SECS"
	expect_grep "$tmpdir/wait" "(default 1)"
	! grep -q "one-shot" "$tmpdir/wait" ||
	    fail "aoe-fuse --help: --wait described for one-shot commands"
	[ "$(grep -c -- '--wait' "$tmpdir/out")" = 1 ] ||
	    fail "aoe-fuse --help: --wait described more than once"
fi
say "ok"
