#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-nbd as a process: --help lists every option, usage errors exit 2,
# no CAP_NET_RAW exits 4, a busy socket exits 1 (and a file that is not a
# socket is left alone, exit 1); it daemonises by default
# (the pidfile names the daemon), --exit-with-parent follows its parent,
# and SIGTERM/SIGINT let requests in flight finish and exit 0.
nbd_test_timeout=90
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdinfo ps
requires_root
py=${nbd_python:-python3}
requires "$py"

# ------------------------------------------------------------ command line
expect_status 0 aoe-nbd --help
for o in --port --ipaddr --unix --single --pidfile --foreground \
    --exit-with-parent --run --exportname --readonly --interface --backend \
    --trace --wait --dead-timeout --discover-interval --max-window \
    --max-sectors --busy-poll --coalesce --verbose --help --version; do
	expect_grep "$tmpdir/out" -- "$o"
done
expect_status 0 aoe-nbd -V
expect_grep "$tmpdir/out" "aoe-nbd "
expect_status 2 aoe-nbd -I lo foo
expect_grep "$tmpdir/err" "not a target name"
expect_status 2 aoe-nbd -I lo -s -p 10809
expect_status 2 aoe-nbd -I lo -U /tmp/x -p 10809
for v in 99999 65536 -1 abc no-such-service ''; do
	expect_status 2 aoe-nbd -I lo -p "$v"
	expect_grep "$tmpdir/err" "-p: a port number 0 to 65535 or a service name"
done
expect_status 2 aoe-nbd -I lo -P ''
expect_grep "$tmpdir/err" "-P needs a file name"
expect_status 2 aoe-nbd -I lo -i '' -p 0
expect_grep "$tmpdir/err" "-i needs an address"
expect_status 2 aoe-nbd --bogus
expect_status 2 aoe-nbd --max-window=0
for v in x -1 1000001 12us ''; do
	expect_status 2 aoe-nbd --busy-poll="$v"
	expect_grep "$tmpdir/err" "busy-poll: invalid value"
done

setup_lan
make_image "$tmpdir/disk.img" 64
start_vblade 1 0 "$tmpdir/disk.img"

if command -v setpriv >/dev/null 2>&1; then
	expect_status 4 setpriv --reuid=65534 --regid=65534 --clear-groups \
	    --inh-caps=-all aoe-nbd -f -I "$lan_if" -U "$nbd_sockdir/np"
	expect_grep "$tmpdir/err" "CAP_NET_RAW"
else
	say "setpriv not found: no-permission exit status not checked"
fi

# ------------------------------------------------------------ daemon
pidfile=$nbd_sockdir/daemon.pid
expect_status 0 aoe-nbd -I "$lan_if" -w 5 -U "$nbd_sock" -P "$pidfile" e1.0
wait_for -t 10 test -s "$pidfile" || fail "the daemon wrote no pidfile"
dpid=$(cat "$pidfile")
[ "$(stat -c %a "$nbd_sock")" = 600 ] || fail "the socket is not mode 0600"
cleanup_fn kill "$dpid"
kill -0 "$dpid" || fail "the daemon is not running"
[ "$(ps -o sid= -p "$dpid" | tr -d ' ')" = "$dpid" ] ||
    fail "the daemon did not start its own session"
expect_status 0 nbdinfo --size "$(nbd_uri)"
expect_grep "$tmpdir/out" 67108864
# A second server on the same live socket fails (1), the first goes on.
expect_status 1 aoe-nbd -f -I "$lan_if" -U "$nbd_sock" e1.0
expect_grep "$tmpdir/err" "cannot listen"
expect_status 0 nbdinfo --size "$(nbd_uri)"
# An address that does not resolve: the resolver's message alone.
expect_status 1 aoe-nbd -f -I "$lan_if" -i 999.1.1.1 -p 0 e1.0
expect_grep "$tmpdir/err" "cannot listen on 999.1.1.1 port 0: Name or service not known"
! grep -q "Cannot assign" "$tmpdir/err" || fail "two error texts mixed"
# Not a socket (a file, a FIFO, a symlink, a directory): left alone, exit 1.
printf 'precious\n' >"$nbd_sockdir/file"
mkfifo "$nbd_sockdir/fifo"
ln -s "$nbd_sockdir/file" "$nbd_sockdir/link"
mkdir "$nbd_sockdir/dir"
for p in file fifo link dir; do
	expect_status 1 aoe-nbd -f -I "$lan_if" -U "$nbd_sockdir/$p" e1.0
	expect_grep "$tmpdir/err" "not a socket, so not replaced"
done
[ "$(cat "$nbd_sockdir/file")" = precious ] && [ -p "$nbd_sockdir/fifo" ] &&
    [ -L "$nbd_sockdir/link" ] && [ -d "$nbd_sockdir/dir" ] ||
    fail "-U replaced something that is not a socket"

_gone()
{
	! kill -0 "$1" 2>/dev/null ||
	    grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
kill -TERM "$dpid"
wait_for -t 15 _gone "$dpid" || fail "the daemon ignored SIGTERM"
[ ! -e "$nbd_sock" ] || fail "the daemon left its socket behind"
# A failure in the daemon before it serves (its pid file cannot be
# written): the parent says so and exits 1 (it exited 0 at the fork, and
# the message went nowhere).
expect_status 1 aoe-nbd -I "$lan_if" -w 5 -U "$nbd_sock" \
    -P "$nbd_sockdir/no/such/dir.pid" e1.0
expect_grep "$tmpdir/err" "cannot write $nbd_sockdir/no/such/dir.pid"
[ ! -e "$nbd_sock" ] || fail "the failed daemon left its socket behind"

# ------------------------------------------------------------ exit with parent
rm -f "$pidfile"
expect_status 0 sh -c '
	"$0" --exit-with-parent -I "$1" -w 5 -U "$2" -P "$3" e1.0 \
	    </dev/null >/dev/null 2>&1 &
	i=0
	while [ ! -s "$3" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	test -s "$3"' "$(command -v aoe-nbd)" "$lan_if" "$nbd_sock" "$pidfile"
epid=$(cat "$pidfile")
cleanup_fn kill "$epid"
wait_for -t 15 _gone "$epid" || fail "--exit-with-parent: still running"
say "--exit-with-parent: gone with its parent"

# ------------------------------------------------------------ out of fds
# With 24 fds, 60 clients at once: the surplus is accepted and closed (no
# busy loop on the listening socket), and the server serves afterwards.
rm -f "$pidfile"
bash -c 'ulimit -n 24 && exec "$@"' sh aoe-nbd -f -I "$lan_if" -w 5 \
    -U "$nbd_sock" -P "$pidfile" e1.0 </dev/null >>"$nbd_log" 2>&1 &
fpid=$!
cleanup_fn _kill_wait "$fpid"
wait_for -t 10 test -s "$pidfile" || fail "aoe-nbd (24 fds) did not start"
"$py" - "$nbd_sock" <<'EOF' || fail "cannot open 60 connections"
import socket, sys, time
conns = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
time.sleep(2)
for s in conns:
    s.close()
EOF
cpu=$(awk '{ print $14 + $15 }' "/proc/$fpid/stat")
say "CPU time after the fd storm: $cpu ticks"
[ "$cpu" -lt 100 ] || fail "aoe-nbd spun while out of fds ($cpu ticks)"
expect_status 0 nbdinfo --size "$(nbd_uri)"
kill -TERM "$fpid"
st=0
wait "$fpid" || st=$?
[ "$st" = 0 ] || fail "aoe-nbd (24 fds) exited with $st"

# ------------------------------------------------------------ SIGTERM, SIGINT
for sig in TERM INT; do
	start_aoe_nbd -I "$lan_if" -w 5 e1.0
	# 15 reads of 4 MiB in flight; the signal comes after the first
	# reply: every reply must still arrive, then the end of the stream.
	"$py" - "$nbd_sock" "$nbd_pid" "$sig" <<'EOF' ||
import os, signal, socket, struct, sys

path, pid, sig = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(path)

def rx(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("EOF after %d of %d bytes" % (len(b), n))
        b += c
    return b

rx(18)
s.sendall(struct.pack(">I", 3))
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, 6) + b"\0" * 6)
while True:
    magic, opt, typ, ln = struct.unpack(">QIII", rx(20))
    rx(ln)
    if typ == 1:
        break
    assert typ < 0x80000000, hex(typ)
n = 15
s.sendall(b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, i << 22,
                               4 << 20) for i in range(n)))
got = 0
for i in range(n):
    magic, err, cookie = struct.unpack(">IIQ", rx(16))
    assert magic == 0x67446698 and err == 0, (hex(magic), err)
    rx(4 << 20)
    got += 1
    if i == 0:
        os.kill(pid, getattr(signal, "SIG" + sig))
assert s.recv(1) == b"", "no EOF after the last reply"
print("SIG%s: %d of %d replies, then EOF" % (sig, got, n))
EOF
	    fail "SIG$sig: requests in flight were not finished"
	st=0
	wait "$nbd_pid" || st=$?
	[ "$st" = 0 ] || fail "SIG$sig: exit status $st"
done
say "PASS"
