# SPDX-License-Identifier: GPL-2.0-or-later
"""The tests' reading of --trace files: the records of a pcap and the AoE
ATA frames in them (test-fault-flush, test-fault-flush-nbd)."""
import struct
import sys


def read_pcap(path, nanosecond=True):
    """[(index, time in us, frame)] from a pcap file; nanosecond=False
    accepts only the microsecond format (what aoe-rw's trace writes)."""
    recs = []
    with open(path, "rb") as f:
        magic = struct.unpack("<I", f.read(24)[:4])[0]
        if magic == 0xa1b2c3d4:
            end, div = "<", 1
        elif magic == 0xd4c3b2a1:
            end, div = ">", 1
        elif magic == 0xa1b23c4d and nanosecond:
            end, div = "<", 1000
        else:
            sys.exit("%s: not a %spcap: magic %#x"
                     % (path, "" if nanosecond else "microsecond ", magic))
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, frac, incl, _ = struct.unpack(end + "IIII", rh)
            recs.append((len(recs), sec * 1000000 + frac // div,
                         f.read(incl)))
    return recs


def ata_frames(recs):
    """(index, us, response, tag, aflags, scnt, cmd, lba) of each AoE ATA
    frame (command 0) long enough for its ATA header."""
    for idx, us, p in recs:
        if len(p) < 36 or p[12:14] != b"\x88\xa2" or p[19] != 0:
            continue
        yield (idx, us, bool(p[14] & 0x08),
               struct.unpack(">I", p[20:24])[0], p[24], p[26], p[27],
               int.from_bytes(p[28:34], "little"))
