#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerate the vectors in this directory from a real vblade (run as root):
# a private veth pair and network namespace, vblade 3.7 on a 64 MiB image,
# capture.py on the initiator end.  Never touches the host's interfaces.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
id=$$
ns=cdns$id; ifi=cdi$id; ift=cdt$id
img=$(mktemp /tmp/codec-img.XXXXXX)
vpid=
cleanup() {
	[ -n "$vpid" ] && kill "$vpid" 2>/dev/null || :
	ip link del "$ifi" 2>/dev/null || :
	ip netns del "$ns" 2>/dev/null || :
	rm -f "$img"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip link add "$ifi" address 02:00:c0:de:00:01 type veth \
	peer name "$ift" address 02:00:c0:de:00:02
ip link set "$ift" netns "$ns"
ip link set "$ifi" up
ip -n "$ns" link set "$ift" up

truncate -s 64M "$img"
# Sector n of the first 256 holds bytes (n + i) & 0xff, for the read vectors.
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    for n in range(256):
        f.write(bytes((n + i) & 0xff for i in range(512)))
' "$img"

start() {
	ip netns exec "$ns" vblade "$@" 3 7 "$ift" "$img" >/dev/null &
	vpid=$!
}
stop() {
	kill "$vpid"; wait "$vpid" 2>/dev/null || :; vpid=
}

export CAPTURE_NOTE="target: vblade 3 7 IF IMG (64 MiB, first 256 sectors patterned), MTU 1500"
python3 "$here/capture.py" "$ifi" "$out" advert &
cpid=$!
sleep 0.5
start
wait "$cpid"
sleep 0.2
python3 "$here/capture.py" "$ifi" "$out" rw
ip link set "$ifi" mtu 9000
ip -n "$ns" link set "$ift" mtu 9000
CAPTURE_NOTE="target: vblade 3 7 IF IMG, both veth ends at MTU 9000" \
	python3 "$here/capture.py" "$ifi" "$out" jumbo
ip link set "$ifi" mtu 1500
ip -n "$ns" link set "$ift" mtu 1500
stop
# The writes landed where they were sent.
python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
s = lambda n: bytes((n + i) & 0xff for i in range(512))
assert d[200*512:202*512] == s(0x5a) + s(0x5b)
assert d[6*512:7*512] == s(0xc3)
' "$img"
start -r
sleep 0.3
CAPTURE_NOTE="target: vblade -r 3 7 IF IMG (read-only), MTU 1500" \
	python3 "$here/capture.py" "$ifi" "$out" ro
stop
