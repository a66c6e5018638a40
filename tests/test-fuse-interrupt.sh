#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A process blocked on a target that stopped answering (vblade stopped
# with SIGSTOP, or its frames dropped by nftables) ends within 2 s of
# SIGINT or SIGKILL (aoe-fuse answers an interrupted request EINTR once it
# has waited 0.2 s more): an O_DIRECT dd read, an O_DIRECT write, an
# fsync; and a buffered read() of an uncached page, on SIGKILL and on the
# SIGINT that dd catches (it waits killably for readahead, which the
# kernel never interrupts: aoe-fuse fails a read waiting 0.2 s whose
# caller has a signal pending).  An O_DIRECT dd write ends within 2 s of
# ONE SIGINT, its close included: dd catches SIGINT, gets EINTR from its
# write, then closes the file, and that close's FLUSH (which no signal
# interrupts any more) fails with EINTR after 0.2 s as interrupted too.
# Before, dd stayed in that close until the dead timeout or a second
# SIGINT, and a buffered read until the target answered.  A close after
# an interrupted write whose FLUSH could not reach the target fails with
# EINTR, never 0; one whose FLUSH the target answers succeeds.  The
# target stays attached and aoe-fuse keeps running.  Before, aoe-fuse ignored
# FUSE_INTERRUPT and the kernel's async direct I/O waited in D state: the
# process stayed until the dead timeout (set to 120 s here).  Once the
# target answers again, reads and writes work and the content is right:
# the file, read back, equals vblade's backing file and what was written;
# a write interrupted and then written again with other data ends with
# the later data (the interrupted one's late frames do not land over it);
# aoe-fuse logs nothing amiss (no reply to an answered request, no
# sanitizer report: also run it with an --enable-sanitizers build).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
. "$top_srcdir/tests/fault-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires dd cmp env python3
env --default-signal=INT true 2>/dev/null ||
    skip_or_fail "env has no --default-signal (coreutils 8.31)"
MIB=16
DEAD=120

# A sanitizer build's report, wherever the daemon's stderr went.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmpdir/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$tmpdir/ubsan"

setup_lan
backing=$tmpdir/backing.img
make_pattern "$backing" "$MIB"
cp "$backing" "$tmpdir/expect"
start_vblade 1 0 "$backing"
file=$tmpdir/disk
: >"$file"
start_fuse "$file" -I "$lan_if" --dead-timeout "$DEAD" \
    --discover-interval 1 e1.0 "$file"

# ------------------------------------------------------------ the target

stalled=
stall()
{
	kill -STOP "$vblade_pid" || fail "cannot stop vblade"
	stalled=yes
}
resume()
{
	kill -CONT "$vblade_pid" 2>/dev/null || true
	stalled=
}
# A stopped vblade ignores the SIGTERM that ends it.
cleanup_fn kill -CONT "$vblade_pid"

# ------------------------------------------------------------ helpers

# blocked PID: PID waits in the kernel (state S or D) in a FUSE request
# or on a page the FUSE file is reading.
blocked()
{
	local st wchan
	st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) ||
	    return 1
	wchan=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
	case $st in
	S | D) ;;
	*) return 1 ;;
	esac
	case $wchan in
	request_wait_answer | fuse_* | folio_wait* | *page*) return 0 ;;
	esac
	return 1
}

# The first bytes where FILE differs from the expected image, or nothing.
check_content()
{
	local what=$1
	dd if="$file" of="$tmpdir/read" bs=1M iflag=direct status=none ||
	    fail "$what: reading the file back failed"
	cmp "$tmpdir/read" "$tmpdir/expect" ||
	    fail "$what: the file differs from what was written"
	cmp "$backing" "$tmpdir/expect" ||
	    fail "$what: vblade's backing file differs from what was written"
	say "$what: file and backing file equal the expected image"
}

# gone_within MS PID: PID ends within MS milliseconds (wait_for counts
# whole seconds of $SECONDS: its 2 s can be 1).
gone_within()
{
	local end=$(($(now_ms) + $1))
	while pid_alive "$2"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# signal_gone NAME SIG PID: send SIG to the blocked PID (our child) and
# require it gone within 2 s, dead of that signal.
signal_gone()
{
	local name=$1 sig=$2 pid=$3 t0 st=0 want
	wait_for -t 10 blocked "$pid" ||
	    fail "$name: the process never blocked on the stopped target" \
	    "($(cat "/proc/$pid/wchan" 2>/dev/null))"
	# Blocked for a while: the frames went out and were not answered.
	sleep 0.3
	blocked "$pid" || fail "$name: the process was not blocked any more"
	t0=$(now_s)
	kill "-$sig" "$pid"
	if ! gone_within 2000 "$pid"; then
		say "$name:" \
		    "$(grep -sE '^State' "/proc/$pid/status" || echo gone)" \
		    "wchan $(cat "/proc/$pid/wchan" 2>/dev/null)"
		sed 's/^/    /' "/proc/$pid/stack" 2>/dev/null || true
		fail "$name: still there 2 s after SIG$sig" \
		    "(it would wait for the dead timeout, ${DEAD} s)"
	fi
	wait "$pid" || st=$?
	case $sig in
	INT) want=130 ;;
	KILL) want=137 ;;
	esac
	say "$name: SIG$sig ended it in $(elapsed_since "$t0") s (exit $st)"
	[ "$st" = "$want" ] || fail "$name: exit $st, expected $want"
	pid_alive "$fuse_pid" || fail "$name: aoe-fuse died"
}

# bg CMD...: CMD in the background with SIGINT at its default (a
# script's background jobs ignore it); sets bg_pid.
bg()
{
	env --default-signal=INT "$@" </dev/null >/dev/null \
	    2>"$tmpdir/bg.err" &
	bg_pid=$!
	cleanup_fn _kill_wait "$bg_pid"
}

# ------------------------------------------------------------ reads

for sig in INT KILL; do
	name="O_DIRECT read, SIG$sig"
	stall
	bg dd if="$file" of=/dev/null bs=1M iflag=direct skip=2 count=4
	signal_gone "$name" "$sig" "$bg_pid"
	resume
	check_content "$name"
done

# ------------------------------------------------------------ writes

# An O_DIRECT write of the data in a fifo (python: dd's clean-up after
# SIGINT closes the file, and that close sends a FLUSH that waits for the
# target again): it opens the file while the target still answers, then
# writes while it does not.
# new_data OFF N: N MiB of fresh data written to the expected image at
# OFF MiB, also in $tmpdir/new.
new_data()
{
	head -c $(($2 * 1048576)) /dev/urandom >"$tmpdir/new"
	dd if="$tmpdir/new" of="$tmpdir/expect" bs=1M seek="$1" \
	    conv=notrunc status=none
}

# waiting_on_fifo PID: PID sleeps opening or reading a fifo.
waiting_on_fifo()
{
	case $(cat "/proc/$1/wchan" 2>/dev/null) in
	*pipe* | *fifo* | wait_for_partner) return 0 ;;
	esac
	return 1
}

for sig in INT KILL; do
	name="O_DIRECT write, SIG$sig"
	rm -f "$tmpdir/fifo"
	mkfifo "$tmpdir/fifo"
	bg python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
with open(sys.argv[2], "rb") as f:
    data = f.read()
buf = mmap.mmap(-1, len(data))
buf.write(data)
os.pwrite(fd, buf, int(sys.argv[3]))' "$file" "$tmpdir/fifo" $((4 * 1048576))
	wait_for -t 10 waiting_on_fifo "$bg_pid" ||
	    fail "$name: the writer did not get to its fifo"
	stall
	new_data 4 2
	cat "$tmpdir/new" >"$tmpdir/fifo"
	signal_gone "$name" "$sig" "$bg_pid"
	# Written again, with other data, while the target is still silent:
	# this must land after whatever the interrupted write had on the wire.
	new_data 4 2
	dd if="$tmpdir/new" of="$file" bs=1M seek=4 oflag=direct \
	    conv=notrunc status=none 2>"$tmpdir/w2.err" &
	w2=$!
	sleep 0.5
	resume
	wait "$w2" || fail "$name: the write after it failed:" \
	    "$(cat "$tmpdir/w2.err")"
	check_content "$name, then written again"
done

# dd itself, with its SIGINT handler: the interrupted write returns EINTR,
# dd closes the file (a FLUSH from a live process with no signal left to
# interrupt it) and raises SIGINT again.  One SIGINT must end all of it.
name="O_DIRECT dd write and its close, one SIGINT"
new_data 4 2
stall
bg dd if="$tmpdir/new" of="$file" bs=1M seek=4 count=2 oflag=direct \
    conv=notrunc
signal_gone "$name" INT "$bg_pid"
resume
new_data 4 2
dd if="$tmpdir/new" of="$file" bs=1M seek=4 oflag=direct conv=notrunc \
    status=none || fail "$name: the write after it failed"
check_content "$name, then written again"

# in_direct_io PID: PID waits in an O_DIRECT read or write.
in_direct_io()
{
	grep -qs fuse_direct_io "/proc/$1/stack"
}

# What close(2) returns after an interrupted write (python's SIGINT
# handler raises KeyboardInterrupt out of the write): the FLUSH that the
# stopped target never answered must fail, never report success; with
# the target back before the close, the FLUSH reaches it and close
# succeeds.  The writer closes once the fifo gives it a line.

for when in stalled answering; do
	name="close after an interrupted write, target $when"
	rm -f "$tmpdir/fifo" "$tmpdir/closed" "$tmpdir/closed.intr"
	mkfifo "$tmpdir/fifo"
	new_data 4 2
	stall
	bg python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
with open(sys.argv[2], "rb") as f:
    data = f.read()
buf = mmap.mmap(-1, len(data))
buf.write(data)
try:
    os.pwrite(fd, buf, 4 << 20)
    r = "write not interrupted"
except KeyboardInterrupt:
    with open(sys.argv[3] + ".intr", "w"):
        pass
    with open(sys.argv[4]) as f:
        f.readline()
    try:
        os.close(fd)
        r = "ok"
    except OSError as e:
        r = os.strerror(e.errno)
with open(sys.argv[3], "w") as f:
    print(r, file=f)' "$file" "$tmpdir/new" "$tmpdir/closed" "$tmpdir/fifo"
	# In its write (python's open and stat are requests too).
	wait_for -t 10 in_direct_io "$bg_pid" ||
	    fail "$name: the writer never blocked on the stopped target"
	sleep 0.3
	in_direct_io "$bg_pid" || fail "$name: the writer left its write"
	t0=$(now_s)
	kill -INT "$bg_pid"
	wait_for -t 5 test -e "$tmpdir/closed.intr" ||
	    fail "$name: the write was not interrupted"
	# Answering: the interrupted write's frames are answered first, so
	# that the FLUSH alone has to fit in the 0.2 s it gets.
	if [ "$when" = answering ]; then
		resume
		sleep 0.5
	fi
	echo >"$tmpdir/fifo"
	gone_within 2000 "$bg_pid" ||
	    fail "$name: still there 2 s after the close began"
	wait "$bg_pid" || fail "$name: the writer failed:" \
	    "$(cat "$tmpdir/bg.err")"
	res=$(cat "$tmpdir/closed")
	say "$name: close: $res, $(elapsed_since "$t0") s after SIGINT"
	case $when:$res in
	stalled:"Interrupted system call" | answering:ok) ;;
	*) fail "$name: close said \"$res\"" ;;
	esac
	resume
	dd if="$tmpdir/new" of="$file" bs=1M seek=4 oflag=direct \
	    conv=notrunc status=none || fail "$name: the write after it failed"
	check_content "$name, then written again"
done

# ------------------------------------------------------ a buffered read

# read() of a page not in the page cache: it waits for the kernel's
# readahead, a background request, killably: SIGKILL ends it, and the
# SIGINT that dd catches once aoe-fuse fails the readahead it waits for.
for sig in KILL INT; do
	name="read() of an uncached page, SIG$sig"
	dd if="$file" iflag=nocache count=0 status=none
	stall
	bg dd if="$file" of=/dev/null bs=4k skip=3000 count=1
	signal_gone "$name" "$sig" "$bg_pid"
	resume
	check_content "$name"
done

# ------------------------------------------------------------ fsync

for sig in INT KILL; do
	name="fsync, SIG$sig"
	stall
	bg python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.fsync(fd)' "$file"
	signal_gone "$name" "$sig" "$bg_pid"
	resume
done

# ------------------------------------------------------ nftables instead

if command -v nft >/dev/null 2>&1; then
	name="O_DIRECT read, frames dropped, SIGINT"
	# Every AoE frame to vblade (its way out needs a sink veth).
	_fault_lose "$lan_ns" "$lan_tif" in cut
	bg dd if="$file" of=/dev/null bs=1M iflag=direct skip=8 count=4
	signal_gone "$name" INT "$bg_pid"
	fault_clear "$lan_ns" "$lan_tif"
	check_content "$name"
else
	say "note: no nft: the frame-drop case is not run"
fi

# ------------------------------------------------------------ after

# Everything interrupted has ended in aoe-fuse too (the target answered).
name="after"
new_data 0 1
dd if="$tmpdir/new" of="$file" bs=1M oflag=direct conv=notrunc,fsync \
    status=none || fail "$name: a write failed"
check_content "$name"
pid_alive "$fuse_pid" || fail "aoe-fuse died"
stop_fuse "$file" "$fuse_pid"

# ------------------------------------------------------ -o async_dio

# The kernel's async direct I/O again, as asked: faster deep libaio, but
# its requests are background ones, which the kernel never interrupts: an
# O_DIRECT reader waits for them in D state, in fuse_direct_IO (without
# async_dio: in request_wait_answer).  It still ends on a signal, caught
# or not: aoe-fuse fails a read waiting 0.2 s whose caller has one
# pending.  (Before, not even SIGKILL ended it until the target answered.)
start_fuse "$file" -I "$lan_if" --dead-timeout "$DEAD" -o async_dio \
    e1.0 "$file"
for sig in INT KILL; do
	name="-o async_dio: O_DIRECT read, SIG$sig"
	stall
	bg dd if="$file" of=/dev/null bs=1M iflag=direct skip=2 count=4
	wait_for -t 10 blocked "$bg_pid" || fail "$name: dd never blocked"
	wchan=$(cat "/proc/$bg_pid/wchan" 2>/dev/null)
	[ "$wchan" = fuse_direct_IO ] ||
	    fail "$name: dd waits in $wchan (async_dio not in effect?)"
	signal_gone "$name" "$sig" "$bg_pid"
	resume
	check_content "$name"
done
stop_fuse "$file" "$fuse_pid"
# (A reply to a request already answered: libfuse's "writing device".)
reports=$(grep -sE 'writing device|Sanitizer|runtime error' \
    "$tmpdir"/aoe-fuse-*.err "$tmpdir"/asan.* "$tmpdir"/ubsan.* || true)
[ -z "$reports" ] || fail "aoe-fuse reported errors: $reports"
say "ok"
