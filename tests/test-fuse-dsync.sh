#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# O_DSYNC (and O_SYNC) writes through aoe-fuse are stable when answered:
# each is followed by an ATA FLUSH CACHE (seen in a --trace) before the
# writer gets its answer, also where the kernel sends no FSYNC after it:
# with -o direct_io, and for asynchronous O_DIRECT writes (fio with libaio
# and io_uring).  Before, those got no flush at all until close(2): a
# target with a volatile write cache could lose what O_DSYNC confirmed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires python3 tshark fio
N=8

setup_lan
backing=$tmpdir/backing.img
truncate -s 16M "$backing"
start_vblade 1 0 "$backing"
file=$tmpdir/disk
: >"$file"

# run NAME MOUNT-OPTIONS -- COMMAND...: N O_DSYNC writes by COMMAND on a
# fresh mount with its own trace; the trace must hold a FLUSH CACHE for
# each (close(2) adds one more).
run()
{
	local name=$1 opts=$2 trace=$tmpdir/$1.pcap flushes writes
	shift 3
	start_fuse "$file" -I "$lan_if" --trace="$trace" $opts e1.0 "$file"
	"$@" || fail "$name: the writes failed"
	stop_fuse "$file" "$fuse_pid"
	flushes=$(tshark -r "$trace" -Y 'aoe.response == 0 &&
	    (aoe.ata.cmd == 0xea || aoe.ata.cmd == 0xe7)' 2>/dev/null | wc -l)
	writes=$(tshark -r "$trace" -Y 'aoe.response == 0 &&
	    (aoe.ata.cmd == 0x34 || aoe.ata.cmd == 0x30)' 2>/dev/null | wc -l)
	say "$name: $N O_DSYNC writes ($writes frames): $flushes FLUSH CACHE"
	[ "$writes" -ge $N ] || fail "$name: only $writes write frames"
	[ "$flushes" -ge $N ] ||
	    fail "$name: $flushes FLUSH CACHE for $N O_DSYNC writes"
}

dsync_writes()
{
	python3 - "$file" "$N" "$1" <<'PY'
import mmap, os, sys
path, n, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3]
flags = os.O_WRONLY | os.O_DSYNC | (os.O_DIRECT if extra == "direct" else 0)
fd = os.open(path, flags)
buf = mmap.mmap(-1, 4096)
buf.write(b"s" * 4096)
for i in range(n):
    assert os.pwritev(fd, [buf], i * 65536) == 4096
os.close(fd)
PY
}

fio_dsync()
{
	fio --name=dsync --filename="$file" --rw=randwrite --bs=4k \
	    --size=1M --io_size=$((N * 4))k --direct=1 --ioengine="$1" \
	    --iodepth=4 --sync=dsync --output="$tmpdir/fio-$1.out" ||
	    { cat "$tmpdir/fio-$1.out" >&2; return 1; }
}

run direct_io-pwrite "-o direct_io" -- dsync_writes buffered
run direct_io-odirect "-o direct_io" -- dsync_writes direct
run libaio "" -- fio_dsync libaio
run io_uring "" -- fio_dsync io_uring
# The kernel's own FSYNC after a synchronous one: still there.
run pwrite "" -- dsync_writes buffered
say "O_DSYNC writes answered after a FLUSH CACHE"
