#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every man page passes `mandoc -Tlint -W warning` without a word.
. "$(dirname "$0")/functions.sh"

mandoc=${MANDOC:-mandoc}
[ "$mandoc" != no ] || mandoc=mandoc
requires "$mandoc"

n=0
for page in "$top_srcdir"/man/*.[1-8]; do
	[ -e "$page" ] || continue
	say "mandoc -Tlint -W warning $(basename "$page")"
	st=0
	"$mandoc" -Tlint -W warning "$page" >"$tmpdir/lint" 2>&1 || st=$?
	if [ -s "$tmpdir/lint" ] || [ "$st" != 0 ]; then
		cat "$tmpdir/lint"
		fail "$(basename "$page"): mandoc lint (exit $st)"
	fi
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no man pages under $top_srcdir/man"
say "ok: $n page(s) clean"
