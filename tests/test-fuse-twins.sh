#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two initiators on one interface (two aoe-fuse mounts of the same target,
# as aoe-nbd and aoe-fuse, or aoectl next to either): they share the MAC
# address, so each receives the target's answers to both.  Each must take
# only its own: the tags of the two carry different instances (seen in
# their --trace), and concurrent O_DIRECT reads through both mounts of an
# image whose every sector holds its own number read no other sector.
# Before, two initiators with the same history issued the same tags and
# took each other's answers: 4-15% of such reads returned other sectors.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
fuse_watchdog 300

requires_root
requires_fuse
requires python3
SECS=${TWINS_SECS:-4}

setup_lan
backing=$tmpdir/stamped.img
# Every 512-byte sector: its number, 64 times (little-endian 64-bit).
python3 - "$backing" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    for chunk in range(32):
        base = chunk * 2048
        f.write(b"".join(struct.pack("<Q", base + i) * 64
                         for i in range(2048)))
PY
start_vblade 1 0 "$backing" -b 64

mkdir "$tmpdir/a" "$tmpdir/b"
start_fuse "$tmpdir/a" -I "$lan_if" --trace="$tmpdir/a.pcap" "$tmpdir/a"
start_fuse "$tmpdir/b" -I "$lan_if" --trace="$tmpdir/b.pcap" "$tmpdir/b"

cat >"$tmpdir/reader.py" <<'PY'
import mmap, os, random, struct, sys, time
path, secs, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
nsec = os.fstat(fd).st_size // 512
buf = mmap.mmap(-1, 1 << 20)
rnd = random.Random(seed)
reads = bad = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    n = rnd.choice([1, 2, 3, 8, 17, 64, 256, 2048])
    s = rnd.randrange(0, nsec - n)
    os.preadv(fd, [memoryview(buf)[:n * 512]], s * 512)
    reads += 1
    for i in range(n):
        got = struct.unpack_from("<Q", buf, i * 512)[0]
        if got != s + i:
            bad += 1
            if bad <= 3:
                print("%s: sector %d read as sector %d" % (path, s + i, got))
            break
print("%s: %d reads, %d wrong" % (path, reads, bad))
sys.exit(1 if bad else 0)
PY
st=0
python3 "$tmpdir/reader.py" "$tmpdir/a/e1.0" "$SECS" 1 &
ra=$!
python3 "$tmpdir/reader.py" "$tmpdir/b/e1.0" "$SECS" 2 || st=1
wait "$ra" || st=1

stop_fuse "$tmpdir/a" "$(cat "$tmpdir/aoe-fuse-1.pid")"
stop_fuse "$tmpdir/b" "$(cat "$tmpdir/aoe-fuse-2.pid")"

# The instances: bits 30..28 of the tags of the requests each one sent.
python3 - "$tmpdir/a.pcap" "$tmpdir/b.pcap" <<'PY' || fail "same tag instances"
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from aoetrace import read_pcap, ata_frames
def instances(path):
    # ATA requests with our bit 31
    return {tag >> 28 & 7 for _, _, rsp, tag, *_ in ata_frames(read_pcap(path))
            if not rsp and tag & 0x80000000}
a, b = instances(sys.argv[1]), instances(sys.argv[2])
print("tag instances: a %s, b %s" % (sorted(a), sorted(b)))
sys.exit(0 if len(a) == 1 and len(b) == 1 and a != b else 1)
PY
[ "$st" = 0 ] || fail "an initiator read another one's answers"
say "two initiators on $lan_if: distinct tag instances, every read right"
