#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Capture request/response pairs from a real vblade into NAME.req.hex and
# NAME.rsp.hex.  Run as root by capture.sh, which builds a private veth pair
# and network namespace: this script only ever opens the interface it is
# given (the initiator end of that pair), never the machine's own ones.
#
# usage: capture.py IFACE OUTDIR PHASE     (PHASE: advert rw jumbo ro)

import os
import socket
import struct
import sys
import time

ETH_P_AOE = 0x88A2
BCAST = b"\xff" * 6
FAKE = bytes.fromhex("0200c0de0099")    # a MAC that is not ours
SHELF, SLOT = 3, 7

iface, outdir, phase = sys.argv[1], sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_AOE))
sock.bind((iface, ETH_P_AOE))
MY = sock.getsockname()[4]
target = None   # learned from the first reply
note = os.environ.get("CAPTURE_NOTE", "")


def hdr(dst, cmd, tag, shelf=SHELF, slot=SLOT, src=None):
    return (dst + (src or MY) + struct.pack(">HBBHBBI", ETH_P_AOE, 0x10, 0,
                                            shelf, slot, cmd, tag))


def ata(aflags, feat, scnt, cmd, lba):
    return struct.pack("<BBBB", aflags, feat, scnt, cmd) + \
        lba.to_bytes(6, "little") + b"\0\0"


def cfg(ccmd, s=b""):
    return struct.pack(">HHBBH", 0, 0, 0, 0x10 | ccmd, len(s)) + s


def pad(f):
    return f + b"\0" * max(0, 60 - len(f))


def recv_tag(tag, timeout=2.0):
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            f = sock.recv(65536)
        except socket.timeout:
            return None
        if len(f) >= 24 and f[14] & 0x08 and \
                struct.unpack(">I", f[20:24])[0] == tag:
            return f


def dump(name, frame, what):
    path = os.path.join(outdir, name + ".hex")
    with open(path, "w") as out:
        out.write("# %s: %s, %d bytes\n" % (name, what, len(frame)))
        out.write("# captured from a real vblade 25 (Debian package) over a "
                  "veth pair in a private netns;\n")
        out.write("# sent/received with AF_PACKET by tests/vectors/"
                  "capture.py (%s)\n" % phase)
        if note:
            out.write("# %s\n" % note)
        for i in range(0, len(frame), 16):
            out.write(" ".join("%02x" % b for b in frame[i:i + 16]) + "\n")


def xchg(name, frame, tag, expect=True):
    global target
    frame = pad(frame)
    sock.send(frame)
    rsp = recv_tag(tag)
    if rsp is None:
        if expect:
            sys.exit("%s: no reply" % name)
        return None
    if target is None:
        target = rsp[6:12]
    dump(name + ".req", frame, "request")
    dump(name + ".rsp", rsp, "response")
    print("%-22s req %4d rsp %4d" % (name, len(frame), len(rsp)))
    return rsp


def discover(name, tag):
    return xchg(name, hdr(BCAST, 1, tag, 0xFFFF, 0xFF) + cfg(0), tag)


def sector(n):
    return bytes((n + i) & 0xFF for i in range(512))


if phase == "advert":
    # vblade broadcasts a config reply with tag 0 when it starts.
    sock.settimeout(10)
    while True:
        f = sock.recv(65536)
        if len(f) >= 24 and f[14] & 0x08 and f[19] == 1:
            dump("cfg-advert.rsp", f, "unsolicited advert at start-up")
            print("cfg-advert rsp %d" % len(f))
            break

elif phase == "rw":
    discover("cfg-read-bcast", 0x80000001)
    T = target
    xchg("ata-identify", hdr(T, 0, 0x80000002) +
         ata(0, 0, 1, 0xEC, 0xA0 << 24), 0x80000002)
    xchg("ata-read48", hdr(T, 0, 0x80000003) +
         ata(0x40, 0, 2, 0x24, 100), 0x80000003)
    xchg("ata-read28", hdr(T, 0, 0x80000004) +
         ata(0, 0, 1, 0x20, 5 | 0xE0 << 24), 0x80000004)
    xchg("ata-write48", hdr(T, 0, 0x80000005) +
         ata(0x41, 0, 2, 0x34, 200) + sector(0x5A) + sector(0x5B),
         0x80000005)
    xchg("ata-write28", hdr(T, 0, 0x80000006) +
         ata(0x01, 0, 1, 0x30, 6 | 0xE0 << 24) + sector(0xC3), 0x80000006)
    xchg("ata-read-idnf", hdr(T, 0, 0x80000007) +
         ata(0x40, 0, 2, 0x24, 131071), 0x80000007)
    xchg("ata-read-toomany", hdr(T, 0, 0x80000008) +
         ata(0x40, 0, 3, 0x24, 0), 0x80000008)
    xchg("ata-flush", hdr(T, 0, 0x80000009) +
         ata(0, 0, 0, 0xE7, 0), 0x80000009)
    xchg("ata-flush-ext", hdr(T, 0, 0x8000000a) +
         ata(0x40, 0, 0, 0xEA, 0), 0x8000000a)
    xchg("ata-checkpower", hdr(T, 0, 0x8000000b) +
         ata(0, 0, 0, 0xE5, 0), 0x8000000b)
    xchg("cfg-set", hdr(T, 1, 0x80000010) +
         cfg(3, b"codec-vectors"), 0x80000010)
    xchg("cfg-set-conflict", hdr(T, 1, 0x80000011) +
         cfg(3, b"other"), 0x80000011)
    xchg("cfg-test", hdr(T, 1, 0x80000012) +
         cfg(1, b"codec-vectors"), 0x80000012)
    xchg("cfg-prefix", hdr(T, 1, 0x80000013) +
         cfg(2, b"codec"), 0x80000013)
    xchg("cfg-read-str", hdr(T, 1, 0x80000014) + cfg(0), 0x80000014)
    xchg("mask-read", hdr(T, 2, 0x80000020) +
         struct.pack("BBBB", 0, 0, 0, 0), 0x80000020)
    xchg("mask-add", hdr(T, 2, 0x80000021) +
         struct.pack("BBBB", 0, 1, 0, 2) +
         b"\x00\x01" + MY + b"\x00\x01" + FAKE, 0x80000021)
    xchg("mask-baddir", hdr(T, 2, 0x80000022) +
         struct.pack("BBBB", 0, 1, 0, 2) +
         b"\x00\x00" + MY + b"\x00\x07" + FAKE, 0x80000022)
    # No delete: vblade 25's rmmask() computes the list end as masks +
    # nmasks (not nmasks * 6) and aborts ("buffer overflow detected") when
    # asked to delete the first entry.  Both our MACs stay in the list.
    xchg("resv-read", hdr(T, 3, 0x80000030) + b"\x00\x00", 0x80000030)
    xchg("resv-set", hdr(T, 3, 0x80000031) + b"\x01\x01" + MY, 0x80000031)
    xchg("ata-reserved", hdr(T, 0, 0x80000032, src=FAKE) +
         ata(0x40, 0, 1, 0x24, 0), 0x80000032)
    xchg("resv-set-other", hdr(T, 3, 0x80000033, src=FAKE) +
         b"\x01\x01" + FAKE, 0x80000033)
    xchg("resv-release", hdr(T, 3, 0x80000034) + b"\x01\x00", 0x80000034)
    xchg("badcmd", hdr(T, 0xF0, 0x80000040) + b"vendor", 0x80000040)
    # Leave the config string empty again for later phases.
    xchg("cfg-fset-empty", hdr(T, 1, 0x80000015) + cfg(4), 0x80000015)

elif phase == "jumbo":
    discover("cfg-read-9000", 0x80000050)

elif phase == "ro":
    discover("cfg-read-ro", 0x80000060)
    xchg("ata-write-ro", hdr(target, 0, 0x80000061) +
         ata(0x41, 0, 1, 0x34, 10) + sector(0x11), 0x80000061)
