#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An nbdsh script against aoe-nbd: writes and reads (FUA, flush, zero with
# NO_HOLE, FAST_ZERO refused with ENOTSUP, cache, block status; byte
# ranges that are not whole sectors, side by side with writes of the
# neighbouring bytes) checked against vblade's backing file, then requests
# the server must refuse cleanly (past the end, oversized, unadvertised
# TRIM, unknown flags) with the stream staying usable; simple replies too.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd
requires_root
requires_nbdsh

setup_lan
make_image "$tmpdir/disk.img" 16
start_vblade 1 0 "$tmpdir/disk.img"
start_aoe_nbd -I "$lan_if" -w 5 e1.0

cat >"$tmpdir/script.py" <<'EOF'
import errno, os, sys
import nbd

disk = sys.argv[1]
h.set_full_info(True)   # NBD_INFO_NAME and NBD_INFO_DESCRIPTION too
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[2])

def backing(off, n):
    with open(disk, "rb") as f:
        f.seek(off)
        return f.read(n)

def expect_err(want, fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        assert e.errnum == want, "%s%r: %s, want %s" % (
            fn.__name__, args, e, errno.errorcode[want])
        return
    raise AssertionError("%s%r succeeded, want %s" % (
        fn.__name__, args, errno.errorcode[want]))

size = h.get_size()
assert size == 16 << 20, size
assert h.get_structured_replies_negotiated()
assert h.can_meta_context("base:allocation")
assert h.can_flush() and h.can_fua() and h.can_zero()
assert h.can_fast_zero() and h.can_cache() and h.can_multi_conn()
assert h.can_df() and not h.can_trim() and not h.is_read_only()
assert h.get_canonical_export_name() == "e1.0", h.get_canonical_export_name()
assert h.get_export_description().startswith("Coraid EtherDrive vblade")
assert h.get_block_size(nbd.SIZE_MINIMUM) == 1
assert h.get_block_size(nbd.SIZE_PREFERRED) == 4096
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 << 20

# Writes and reads, checked on the wire and in the backing file.
buf = os.urandom(65536)
h.pwrite(buf, 4096)
assert h.pread(65536, 4096) == buf
assert backing(4096, 65536) == buf
h.pwrite(b"\xaa" * 512, 0, nbd.CMD_FLAG_FUA)
assert backing(0, 512) == b"\xaa" * 512
h.flush()
big = os.urandom(8 << 20)
h.pwrite(big, 8 << 20)
assert h.pread(8 << 20, 8 << 20) == big
# DF: the whole read in one OFFSET_DATA chunk.
chunks = []
def chunk(sub, offset, status, err):
    chunks.append((offset, status, len(sub)))
    return 0
got = h.pread_structured(65536, (16 << 20) - 65536, chunk, nbd.CMD_FLAG_DF)
assert got == big[-65536:]
assert chunks == [((16 << 20) - 65536, nbd.READ_DATA, 65536)], chunks

# WRITE_ZEROES (with and without NO_HOLE, FUA), FAST_ZERO refused.
h.zero(32768, 8192)
assert h.pread(32768, 8192) == bytes(32768)
h.zero(4096, 3 << 20, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
assert backing(3 << 20, 4096) == bytes(4096)
before = h.pread(4096, 9 << 20)
expect_err(errno.ENOTSUP, h.zero, 4096, 9 << 20, nbd.CMD_FLAG_FAST_ZERO)
assert h.pread(4096, 9 << 20) == before, "FAST_ZERO changed data"
# A long zero (spans many 1 MiB engine writes).
h.zero(5 << 20, 10 << 20)
assert backing(10 << 20, 5 << 20) == bytes(5 << 20)

h.cache(1 << 20, 0)

# Any byte range (minimum block size 1): reads and writes of partial
# sectors, also many at once on the same sectors (the server reads and
# rewrites the edge sectors; neighbours must not undo each other).
img = bytearray(h.pread(131072, 12 << 20))
for off, ln in [(1, 1), (511, 2), (12345, 7), (4095, 8194), (100, 70000)]:
    d = os.urandom(ln)
    h.pwrite(d, (12 << 20) + off)
    img[off:off + ln] = d
    assert h.pread(ln, (12 << 20) + off) == d
    assert h.pread(3, (12 << 20) + off + ln) == bytes(img[off + ln:off + ln + 3])
cookies, bufs = [], []
for i in range(256):
    d = bytes([i]) * 100
    off = 80000 + i * 100           # 100-byte pieces, 5+ per sector
    bufs.append(nbd.Buffer.from_bytearray(bytearray(d)))
    cookies.append(h.aio_pwrite(bufs[-1], (12 << 20) + off))
    img[off:off + 100] = d
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)   # raises on an error reply
h.zero(333, (12 << 20) + 7)
img[7:7 + 333] = bytes(333)
h.flush()
assert h.pread(131072, 12 << 20) == bytes(img)
assert backing(12 << 20, 131072) == bytes(img)

# base:allocation: all data, one extent covering the request.
ext = []
def cb(metacontext, offset, entries, err):
    assert metacontext == "base:allocation"
    ext.extend(entries)
    return 0
h.block_status(size, 0, cb)
assert ext == [size, 0], ext
del ext[:]
h.block_status(65536, size - 65536, cb, nbd.CMD_FLAG_REQ_ONE)
assert ext == [65536, 0], ext

# Bad requests: let them reach the server.
h.set_strict_mode(0)
expect_err(errno.EINVAL, h.pread, 512, size)
expect_err(errno.EINVAL, h.pread, 1024, size - 512)
expect_err(errno.ENOSPC, h.pwrite, b"x" * 512, size)
expect_err(errno.ENOSPC, h.zero, 1024, size - 512)
expect_err(errno.EINVAL, h.trim, 4096, 0)
expect_err(errno.EINVAL, h.pread, 4096, 0, nbd.CMD_FLAG_REQ_ONE)
# Oversized: refused, and a WRITE's payload is still read and dropped.
expect_err(errno.EINVAL, h.pread, (32 << 20) + 512, 0)
junk = b"\x55" * ((32 << 20) + 512)
expect_err(errno.EINVAL, h.pwrite, junk, 0)
assert h.pread(512, 0) == b"\xaa" * 512, "stream out of step after drain"
assert backing(0, 512) == b"\xaa" * 512
h.flush()
h.shutdown()
print("nbdsh checks passed")
EOF

uri=$(nbd_uri e1.0)
printf '+ nbdsh script.py %s\n' "$uri"
nbdsh_run -c "sys.argv = ['x', '$tmpdir/disk.img', '$uri']" \
    -c "exec(open('$tmpdir/script.py').read())" ||
    fail "nbdsh script failed"

# Like the kernel client: no structured replies, no meta context.
nbdsh_run -c - <<EOF || fail "simple-reply session failed"
import os, errno
h.set_request_structured_replies(False)
h.connect_uri("$uri")
assert not h.get_structured_replies_negotiated()
assert not h.can_df()
b = os.urandom(1 << 20)
h.pwrite(b, 2 << 20)
assert h.pread(1 << 20, 2 << 20) == b
h.set_strict_mode(0)
try:
    h.pread(512, 16 << 20)
    raise AssertionError("read past the end succeeded")
except nbd.Error as e:
    assert e.errnum == errno.EINVAL, e
assert h.pread(512, 2 << 20) == b[:512]
h.shutdown()
print("simple replies ok")
EOF

# EXPORT_NAME (old clients): libnbd falls back to it when GO is off.
nbdsh_run -c - <<EOF || fail "NBD_OPT_EXPORT_NAME session failed"
h.set_opt_mode(False)
h.set_handshake_flags(0)   # not even fixed newstyle: EXPORT_NAME only
h.connect_uri("$uri")
assert h.get_size() == 16 << 20
assert h.pread(512, 0) == b"\xaa" * 512
h.shutdown()
print("EXPORT_NAME ok")
EOF

nbd_alive
stop_aoe_nbd
say "PASS"
