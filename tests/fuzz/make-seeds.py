#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Write the seed corpora of the codec, engine and cmdline harnesses from the
# captured vblade frames in tests/vectors (run from anywhere; rewrites
# tests/fuzz/corpus/{codec,engine,cmdline}).  The nbd seeds are byte streams
# captured with a recording proxy between nbdkit (memory plugin) and
# nbdinfo, nbdsh, qemu-img and qemu-io: handshake-* and transmission-* what
# the clients sent, server-* what nbdkit answered; they are not made here.
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, '..', 'vectors')
CORPUS = os.path.join(HERE, 'corpus')


def load_hex(name):
    data = bytearray()
    with open(os.path.join(VECTORS, name + '.hex')) as f:
        for line in f:
            line = line.split('#', 1)[0]
            for word in line.split():
                data += bytes.fromhex(word)
    return bytes(data)


def vectors():
    names = sorted(n[:-4] for n in os.listdir(VECTORS) if n.endswith('.hex'))
    return [(n, load_hex(n)) for n in names]


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ------------------------------------------------------------ codec

def codec_seeds():
    for name, frame in vectors():
        write('codec', name, frame)


# ------------------------------------------------------------ engine
# The script format of fuzz_engine.c: 4 configuration bytes, then ops.

def op_deliver(k=0, mode=0):
    return bytes([(mode << 4) | 0, k])


def op_raw(body, patch=True, ring=0, flags=0, ifsel=0):
    f = flags | (1 if patch else 0) | (ifsel << 6)
    out = bytes([2, f]) + struct.pack('>H', len(body))
    if patch:
        out += bytes([ring])
        if flags & 2:
            out += bytes([3])   # AoE error code
        if flags & 4:
            out += bytes([0x18])
        if flags & 8:
            out += bytes([0])
    return out + body


def op_clock(scale, mult=0):
    return bytes([3, scale | (mult << 3)])


def op_next():
    return bytes([4])


def op_submit(*b):
    return bytes([5]) + bytes(b)


def op_deliver_all(n=15):
    return bytes([(n << 4) | 6])


def op_drop(k=0):
    return bytes([7, k])


def op_replay(k=0, ifidx=0):
    return bytes([8, k, ifidx])


def op_delay_deliver(ms, k=0):
    return bytes([9, ms, k])


def engine_seeds():
    v = dict(vectors())
    cfgs = {
        'default': bytes([0x00, 0, 0, 0x00]),
        'two-ifs-jumbo': bytes([0x0a, 0, 0, 0x8f]),
        'small-window': bytes([0x72, 2, 1, 0x43]),
        'ro-noflush': bytes([0x01, 0, 0, 0x30]),
    }
    for cname, cfg in cfgs.items():
        # everything answered in order
        write('engine', cname + '-all', cfg + op_deliver_all() * 4)
        # losses: the timers resend, some answers come late or twice
        write('engine', cname + '-loss', cfg + op_drop(0) + op_drop(2) +
              op_next() + op_deliver_all(8) + op_clock(3, 2) +
              op_deliver(1, 8) + op_replay(0) + op_deliver_all())
        # the target dies (dead timeout), then advertises again
        write('engine', cname + '-dead', cfg + op_clock(7, 2) +
              op_clock(7, 0) + op_raw(v['cfg-advert.rsp'], patch=False) +
              op_deliver_all() + op_deliver_all())
    cfg = cfgs['two-ifs-jumbo']
    # captured answers with the header of a request in flight
    for name in ('ata-read28.rsp', 'ata-read48.rsp', 'ata-write28.rsp',
                 'ata-identify.rsp', 'ata-read-idnf.rsp', 'ata-write-ro.rsp',
                 'ata-flush.rsp', 'ata-flush-ext.rsp', 'cfg-read-str.rsp',
                 'mask-read.rsp', 'mask-baddir.rsp', 'resv-read.rsp',
                 'resv-set-other.rsp', 'badcmd.rsp', 'cfg-set-conflict.rsp'):
        body = v[name][24:]
        seed = cfg
        for ring in range(0, 12, 3):
            seed += op_raw(body, ring=ring)
        seed += op_raw(body, ring=1, flags=2) + op_deliver_all()
        write('engine', 'patched-' + name.replace('.rsp', ''), seed)
    # unsolicited adverts and frames from elsewhere
    write('engine', 'raw-vectors', cfg + b''.join(
        op_raw(frame, patch=False) for name, frame in sorted(v.items())
        if name.endswith('.rsp') and len(frame) < 600))
    # more requests: reads, unaligned writes, flush, admin, chained
    write('engine', 'submit-mix', cfgs['default'] +
          op_submit(0x00, 0, 0, 0x00, 0x00, 0x00, 0x10, 0x00) +
          op_submit(0x82, 1, 0, 0x01, 0x01, 0xff) +
          op_submit(0x05, 0, 2, 3, 8) + b'abcdefgh' +
          op_submit(0x06, 1, 2, 1, 1, 1, 2) +
          op_submit(0x07, 0, 2, 1, 1, 3) +
          op_deliver_all() + op_deliver_all() + op_next() +
          op_deliver_all())


# ------------------------------------------------------------ cmdline

def cmdline_seeds():
    seeds = [
        'e1.0', '1.0', 'e65534.254', 'e65535.0', 'e0.255', 'e01.007',
        '02:00:c0:de:00:01', '02-00-C0-DE-00-02', '0200c0de0099',
        'ff:ff:ff:ff:ff:ff', '0', '1', '255', '65535', '65536',
        '18446744073709551615', '18446744073709551616', '2', '0.5',
        '0.0001', '31536000', '31536000.001', '1.2345', 'packet', 'pcap',
        'default', 'eth0', 'veth0,veth1', 'a b\tc,d', 'trace.pcap',
        'config string with spaces', '',
    ]
    for i, s in enumerate(seeds):
        write('cmdline', '%02d' % i, bytes([i * 37 & 0xff]) + s.encode())


def main():
    codec_seeds()
    engine_seeds()
    cmdline_seeds()
    return 0


if __name__ == '__main__':
    sys.exit(main())
