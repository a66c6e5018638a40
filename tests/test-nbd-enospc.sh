#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vblade answers ATA ABRT to every write it cannot make to its file: on a
# read-only target (vblade -r), and just as well when a thin image cannot
# grow (its filesystem full; here vblade's RLIMIT_FSIZE).  A target that
# took writes and then refuses one is not read-only: the client gets EIO,
# the export stays writable, for it and for new clients, and writes work
# again as soon as vblade can make them (the limit raised: space freed),
# without a restart.  Before, the first refusal made the target read-only
# until vblade restarted: every later write of every client failed with
# EPERM without reaching vblade, so a qemu guest paused by werror=stop
# could never be resumed, and new clients got a read-only export (qemu:
# "Permission denied").
nbd_test_timeout=120
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd prlimit truncate cmp
requires_root
requires_nbdsh

setup_lan
truncate -s 8M "$tmpdir/thin.img"
# vblade may write the first 4 MiB of its file only (ulimit -f counts
# KiB); SIGXFSZ ignored, so that such a write fails (EFBIG) rather than
# kill it.  Both are inherited through ip netns exec.
trap '' XFSZ
ulimit -S -f 4096
start_vblade 1 0 "$tmpdir/thin.img"
ulimit -S -f unlimited
trap - XFSZ
start_aoe_nbd -I "$lan_if" e1.0

export VBLADE_PID=$vblade_pid
expect_status 0 "$nbd_python" -m nbd -u "$(nbd_uri e1.0)" -c '
import errno, os, subprocess
assert not h.is_read_only()
h.pwrite(b"a" * 4096, 0)
try:
    h.pwrite(b"b" * 4096, 6 << 20)
    raise AssertionError("a write past the file size limit worked")
except nbd.Error as e:
    assert e.errnum == errno.EIO, e
print("refused: EIO")
h.pwrite(b"c" * 4096, 4096)
print("a write within the limit still works")
h2 = nbd.NBD()
h2.connect_uri(h.get_uri())
assert not h2.is_read_only(), "a new client got a read-only export"
h2.pwrite(b"d" * 4096, 8192)
h2.shutdown()
print("a new client: writable")
subprocess.run(["prlimit", "--pid", os.environ["VBLADE_PID"],
    "--fsize=unlimited"], check=True)
h.pwrite(b"b" * 4096, 6 << 20)
h.flush()
print("limit raised: the write works")'
expect_grep "$tmpdir/out" "limit raised: the write works"

for spec in a:0 c:4096 d:8192 b:6291456; do
	cmp -n 4096 -i "0:${spec#*:}" \
	    <(head -c 4096 /dev/zero | tr '\0' "${spec%%:*}") \
	    "$tmpdir/thin.img" ||
	    fail "the image lacks the write of '${spec%%:*}' at ${spec#*:}"
done
nbd_alive
stop_aoe_nbd
say "ok"
