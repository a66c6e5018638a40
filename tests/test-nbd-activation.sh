#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libnbd tools starting aoe-nbd themselves: systemd socket activation
# (LISTEN_PID/LISTEN_FDS, socket on fd 3) with nbdinfo [ ... ], nbdinfo
# --list [ ... ] and nbdcopy [ ... ]; one connection on stdin/stdout (-s)
# with nbd_connect_command; socket activation is refused with -p/-U/-s.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdinfo nbdcopy cmp
requires_root

setup_lan
make_image "$tmpdir/d0.img" 8
make_image "$tmpdir/d1.img" 4
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img"
aoe=$(command -v aoe-nbd)

expect_status 0 nbdinfo --json -- [ "$aoe" -I "$lan_if" -w 5 e1.1 ]
expect_grep "$tmpdir/out" '"export-size": 4194304'
expect_grep "$tmpdir/out" '"export-name": "e1.1"'
# Exporting every target, LIST waits for the whole discovery time (-w).
expect_status 0 nbdinfo --list -- [ "$aoe" -I "$lan_if" -w 1 ]
expect_grep "$tmpdir/out" 'export="e1.0":'
expect_grep "$tmpdir/out" 'export="e1.1":'
expect_status 0 nbdcopy -- [ "$aoe" -I "$lan_if" -w 5 e1.0 ] \
    "$tmpdir/out.img"
cmp "$tmpdir/out.img" "$tmpdir/d0.img" || fail "nbdcopy [ ... ] differs"

if [ -n "$nbd_python" ]; then
	# -s (nbd_connect_command) and socket activation through the API.
	"$nbd_python" - "$aoe" "$lan_if" "$tmpdir/d1.img" <<'EOF' ||
import sys
import nbd

aoe, lan, disk = sys.argv[1:4]
want = open(disk, "rb").read()
for mode in ("command", "activation"):
    h = nbd.NBD()
    h.set_export_name("e1.1")
    if mode == "command":
        h.connect_command([aoe, "-s", "-I", lan, "-w", "5"])
    else:
        h.connect_systemd_socket_activation([aoe, "-I", lan, "-w", "5"])
    assert h.get_size() == len(want)
    assert h.pread(len(want), 0) == want
    h.pwrite(want[:4096], 0)
    h.flush()
    h.shutdown()
    del h
    print(mode, "ok")
EOF
	    fail "nbd_connect_command / socket activation failed"
fi

# Socket activation excludes the other ways of listening.
expect_status 2 env LISTEN_PID=self LISTEN_FDS=1 sh -c \
    'LISTEN_PID=$$ exec "$0" -U /tmp/nope -I lo' "$aoe"
expect_grep "$tmpdir/err" "socket activation"
say "PASS"
