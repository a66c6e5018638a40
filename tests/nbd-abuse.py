#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nbd-abuse: a deliberately broken NBD client for the integration tests.

Usage: nbd-abuse.py SOCKET EXPORT SIZE

Connects to an aoe-nbd Unix socket again and again and misbehaves: garbage,
truncated handshakes, wrong magics, unknown options and commands, huge
lengths, oversized requests, disconnects in the middle of a write, many
requests in flight then a hang-up without reading the replies, replies
read only after a pause.  Checks the
server's answers where the protocol defines them (errors, hard
disconnects) and that the stream stays in step where it must.  Uses only
the standard library (no libnbd), so it can send what libnbd never would.
Exits 0 when every scenario behaved, 1 otherwise.
"""
import os
import socket
import struct
import sys
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
REQMAGIC = 0x25609513
SIMPLE = 0x67446698
CHUNK = 0x668E33EF

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_SR = 6, 7, 8
OPT_LIST_META, OPT_SET_META = 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR = 0x80000000
ERR_UNSUP, ERR_POLICY, ERR_INVALID = ERR | 1, ERR | 2, ERR | 3
ERR_UNKNOWN, ERR_TOO_BIG = ERR | 6, ERR | 9
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_TRIM, CMD_CACHE, CMD_ZERO, CMD_BS = 4, 5, 6, 7
EPERM, EIO, EINVAL, ENOSPC, ENOTSUP = 1, 5, 22, 28, 95
TIMEOUT = 20

sock_path, export, size = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
failures = 0


class Closed(Exception):
    pass


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(sock_path)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            b = s.recv(n - len(buf))
        except ConnectionResetError:
            b = b""
        if not b:
            raise Closed("closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf


def expect_closed(s, what):
    """The server must hang up (EOF or reset), soon."""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        raise AssertionError("%s: server did not close" % what)
    s.close()


def greet(s, flags=3):
    g = recv_exact(s, 18)
    magic, opt, hflags = struct.unpack(">QQH", g)
    assert magic == NBDMAGIC and opt == IHAVEOPT, g
    assert hflags == 3, hflags
    s.sendall(struct.pack(">I", flags))


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def read_rep(s):
    magic, opt, typ, ln = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REPMAGIC, hex(magic)
    return opt, typ, recv_exact(s, ln)


def opt_reply_type(s, opt, data=b""):
    """Send one option; return the types of all replies up to the last."""
    send_opt(s, opt, data)
    types = []
    while True:
        o, t, _ = read_rep(s)
        assert o == opt, (o, opt)
        types.append(t)
        if t == REP_ACK or t & ERR:
            return types


def go(s, name=export, sr=True):
    if sr:
        assert opt_reply_type(s, OPT_SR) == [REP_ACK]
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    types = opt_reply_type(s, OPT_GO, data)
    assert types[-1] == REP_ACK, types


def session(sr=True):
    s = connect()
    greet(s)
    go(s, sr=sr)
    return s


def request(s, typ, off, ln, flags=0, cookie=1, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQMAGIC, flags, typ, cookie, off, ln)
              + payload)


def reply(s, sr, datalen=0):
    """One reply: (cookie, error, data).  Chunks are gathered to DONE."""
    hdr = recv_exact(s, 4)
    (magic,) = struct.unpack(">I", hdr)
    if magic == SIMPLE:
        err, cookie = struct.unpack(">IQ", recv_exact(s, 12))
        data = recv_exact(s, datalen) if err == 0 and datalen else b""
        return cookie, err, data
    assert magic == CHUNK and sr, hex(magic)
    data, err, cookie = b"", 0, None
    while True:
        if hdr is None:
            (m,) = struct.unpack(">I", recv_exact(s, 4))
            assert m == CHUNK, hex(m)
        hdr = None
        flags, typ, ck, ln = struct.unpack(">HHQI", recv_exact(s, 16))
        body = recv_exact(s, ln)
        cookie = ck
        if typ == 1:
            data += body[8:]
        elif typ & 0x8000:
            err = struct.unpack(">I", body[:4])[0]
        if flags & 1:
            return cookie, err, data


def check(name, fn):
    global failures
    t0 = time.time()
    try:
        fn()
        print("ok   %-40s %.2fs" % (name, time.time() - t0))
    except Exception as e:  # noqa: BLE001 - report any failure
        failures += 1
        print("FAIL %-40s %s: %s" % (name, type(e).__name__, e))
    sys.stdout.flush()


# ------------------------------------------------------------ handshake


def t_connect_close():
    s = connect()
    s.close()


def t_greeting_then_close():
    s = connect()
    recv_exact(s, 18)
    s.close()


def t_truncated_flags():
    s = connect()
    recv_exact(s, 18)
    s.sendall(b"\x00\x00")
    s.close()


def t_bad_client_flags():
    s = connect()
    greet(s, flags=0xFFFFFFFF)
    expect_closed(s, "unknown client flags")


def t_garbage():
    s = connect()
    recv_exact(s, 18)
    s.sendall(b"\x00\x00\x00\x01" + os.urandom(4096))
    expect_closed(s, "garbage options")


def t_bad_opt_magic():
    s = connect()
    greet(s)
    s.sendall(struct.pack(">QII", 0x1122334455667788, OPT_LIST, 0))
    expect_closed(s, "bad option magic")


def t_truncated_option():
    s = connect()
    greet(s)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"\x00" * 10)
    s.close()


def t_huge_option():
    s = connect()
    greet(s)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 0xFFFFFFFF))
    expect_closed(s, "option of 4 GiB")


def t_big_option_drained():
    s = connect()
    greet(s)
    # 100 KiB: more than the server keeps, drained and refused.
    types = opt_reply_type(s, OPT_GO, b"\x00" * (100 * 1024))
    assert types == [ERR_TOO_BIG], types
    assert opt_reply_type(s, OPT_LIST)[-1] == REP_ACK
    s.close()


def t_unknown_options():
    s = connect()
    greet(s)
    for opt in (0, 4, 11, 12, 99, 0x7FFFFFFF, 0xFFFFFFFF):
        types = opt_reply_type(s, opt, b"junk")
        assert types == [ERR_UNSUP], (opt, types)
    assert opt_reply_type(s, OPT_STARTTLS) == [ERR_POLICY]
    assert opt_reply_type(s, OPT_SR, b"x") == [ERR_INVALID]
    assert opt_reply_type(s, OPT_LIST, b"x") == [ERR_INVALID]
    # SET_META_CONTEXT needs structured replies first.
    q = struct.pack(">I", len(export)) + export + struct.pack(">I", 0)
    assert opt_reply_type(s, OPT_SET_META, q) == [ERR_INVALID]
    # Malformed INFO/GO: name length beyond the data, trailing bytes.
    assert opt_reply_type(s, OPT_INFO, struct.pack(">IH", 50, 0)) == \
        [ERR_INVALID]
    assert opt_reply_type(s, OPT_GO, struct.pack(">IHH", 0, 0, 7)) == \
        [ERR_INVALID]
    assert opt_reply_type(s, OPT_GO, b"\x00") == [ERR_INVALID]
    # An export that is not a target name.
    bad = b"../etc/passwd"
    assert opt_reply_type(s, OPT_GO, struct.pack(">I", len(bad)) + bad
                          + b"\x00\x00") == [ERR_UNKNOWN]
    # Still a working session after all that.
    types = opt_reply_type(s, OPT_LIST)
    assert types[-1] == REP_ACK and REP_SERVER in types, types
    go(s)
    request(s, CMD_READ, 0, 512)
    ck, err, data = reply(s, True, 512)
    assert err == 0 and len(data) == 512
    s.close()


def t_abort():
    s = connect()
    greet(s)
    assert opt_reply_type(s, OPT_ABORT) == [REP_ACK]
    expect_closed(s, "after ABORT")


def t_export_name_unknown():
    s = connect()
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, b"nonsense")
    expect_closed(s, "EXPORT_NAME of an unknown export")


def t_export_name_zeroes():
    for flags, pad in ((1, 124), (3, 0)):   # without / with NO_ZEROES
        s = connect()
        greet(s, flags)
        send_opt(s, OPT_EXPORT_NAME, export)
        sz, tflags = struct.unpack(">QH", recv_exact(s, 10))
        assert sz == size and tflags & 1, (sz, tflags)
        assert recv_exact(s, pad) == bytes(pad) if pad else True
        request(s, CMD_READ, 0, 512, cookie=77)
        ck, err, data = reply(s, False, 512)
        assert (ck, err, len(data)) == (77, 0, 512), (ck, err)
        s.close()


def t_too_many_options():
    s = connect()
    greet(s)
    # Do not wait for each reply: the server must cut this off.
    msg = struct.pack(">QII", IHAVEOPT, 99, 0) * 1100
    try:
        s.sendall(msg)
    except (BrokenPipeError, ConnectionResetError):
        pass
    expect_closed(s, "1100 options")


# ------------------------------------------------------------ transmission


def t_bad_request_magic():
    s = session()
    s.sendall(b"\xde\xad\xbe\xef" + b"\x00" * 24)
    expect_closed(s, "bad request magic")


def t_unknown_command_and_flags():
    for sr in (True, False):
        s = session(sr)
        request(s, 99, 0, 512, cookie=11)
        assert reply(s, sr)[:2] == (11, EINVAL)
        request(s, CMD_READ, 0, 512, flags=0x8000, cookie=12)
        assert reply(s, sr)[:2] == (12, EINVAL)
        request(s, CMD_TRIM, 0, 4096, cookie=13)       # not advertised
        assert reply(s, sr)[:2] == (13, EINVAL)
        request(s, CMD_BS, 0, 4096, cookie=14)         # no meta context
        assert reply(s, sr)[:2] == (14, EINVAL)
        request(s, CMD_ZERO, 0, 4096, flags=1 << 4, cookie=15)
        assert reply(s, sr)[:2] == (15, ENOTSUP)       # FAST_ZERO
        request(s, CMD_READ, 1, 511, cookie=16)        # any byte range
        ck, err, data = reply(s, sr, 511)
        assert (ck, err, len(data)) == (16, 0, 511)
        request(s, CMD_READ, size, 512, cookie=17)     # past the end
        assert reply(s, sr)[:2] == (17, EINVAL)
        request(s, CMD_WRITE, size, 512, cookie=18, payload=b"w" * 512)
        assert reply(s, sr)[:2] == (18, ENOSPC)
        request(s, CMD_READ, 0, 4096, cookie=19)
        ck, err, data = reply(s, sr, 4096)
        assert (ck, err, len(data)) == (19, 0, 4096)
        s.close()


def t_oversized_write_drained():
    s = session()
    n = 40 << 20
    request(s, CMD_WRITE, 0, n, cookie=21)
    chunk = b"\x5a" * (1 << 20)
    for _ in range(n >> 20):
        s.sendall(chunk)
    assert reply(s, True)[:2] == (21, EINVAL)
    request(s, CMD_READ, 0, 512, cookie=22)
    ck, err, data = reply(s, True, 512)
    assert (ck, err) == (22, 0) and data != b"\x5a" * 512
    s.close()


def t_absurd_write_disconnects():
    s = session()
    request(s, CMD_WRITE, 0, 0xFFFFFE00, cookie=23)
    expect_closed(s, "WRITE of 4 GiB")


def t_disconnect_mid_write():
    s = session()
    request(s, CMD_WRITE, 1 << 20, 1 << 20, cookie=24)
    s.sendall(b"\xee" * 1000)
    s.close()


def t_hangup_with_requests_in_flight():
    s = session()
    # Writes, a flush and many reads in flight, then gone without reading
    # a single reply (the writes first: a client that reads no replies
    # cannot expect the server to keep reading its payloads).
    block = os.urandom(1 << 20)
    base = size // 2
    for i in range(8):
        request(s, CMD_WRITE, base + (i << 20), 1 << 20, cookie=400 + i,
                payload=block)
    request(s, CMD_FLUSH, 0, 0, cookie=500)
    for i in range(200):
        request(s, CMD_READ, (i % 16) << 20, 1 << 20, cookie=100 + i)
    s.close()


def t_never_read_replies():
    s = session()
    s.settimeout(2)
    sent = 0
    try:
        for i in range(50000):
            request(s, CMD_READ, (i % 16) << 20, 1 << 20, cookie=i)
            sent += 1
    except socket.timeout:
        pass   # the server stopped reading: it is bounding its memory
    time.sleep(1)
    s.close()
    print("     (sent %d 1 MiB reads before the server paused)" % sent)


def t_slow_reader():
    # 64 MiB of replies against a full socket: the server must wait for
    # room (EPOLLOUT) and then send every reply, in one piece each.
    s = session(sr=False)
    s.settimeout(TIMEOUT)
    n, ln = 64, min(1 << 20, size)
    for i in range(n):
        request(s, CMD_READ, (i % (size // ln)) * ln, ln, cookie=2000 + i)
    time.sleep(1.5)
    got = set()
    for _ in range(n):
        ck, err, data = reply(s, False, ln)
        assert err == 0 and len(data) == ln, (ck, err, len(data))
        got.add(ck)
    assert got == set(range(2000, 2000 + n)), sorted(got)
    request(s, CMD_DISC, 0, 0)
    expect_closed(s, "after DISC")


def t_disc_finishes_in_flight():
    s = session(sr=False)
    for i in range(50):
        request(s, CMD_READ, i << 16, 65536, cookie=1000 + i)
    request(s, CMD_DISC, 0, 0, cookie=9999)
    got = set()
    for _ in range(50):
        ck, err, data = reply(s, False, 65536)
        assert err == 0 and len(data) == 65536, (ck, err)
        got.add(ck)
    assert got == set(range(1000, 1050))
    expect_closed(s, "after DISC")


def t_many_connections():
    conns = [connect() for _ in range(50)]
    for c in conns:
        recv_exact(c, 18)
    for c in conns[::2]:
        c.close()
    s = session()
    request(s, CMD_READ, 0, 512)
    assert reply(s, True, 512)[1] == 0
    s.close()
    for c in conns[1::2]:
        c.close()


scenarios = [
    ("connect and close", t_connect_close),
    ("greeting then close", t_greeting_then_close),
    ("truncated client flags", t_truncated_flags),
    ("unknown client flags", t_bad_client_flags),
    ("garbage after the flags", t_garbage),
    ("wrong option magic", t_bad_opt_magic),
    ("truncated option data", t_truncated_option),
    ("option length 4 GiB", t_huge_option),
    ("option of 100 KiB drained", t_big_option_drained),
    ("unknown and malformed options", t_unknown_options),
    ("ABORT", t_abort),
    ("EXPORT_NAME unknown", t_export_name_unknown),
    ("EXPORT_NAME, NO_ZEROES or not", t_export_name_zeroes),
    ("1100 options", t_too_many_options),
    ("wrong request magic", t_bad_request_magic),
    ("bad commands and flags", t_unknown_command_and_flags),
    ("40 MiB WRITE drained", t_oversized_write_drained),
    ("4 GiB WRITE disconnects", t_absurd_write_disconnects),
    ("disconnect in mid-WRITE", t_disconnect_mid_write),
    ("hang-up with 209 requests in flight", t_hangup_with_requests_in_flight),
    ("replies never read", t_never_read_replies),
    ("replies read late (64 MiB)", t_slow_reader),
    ("DISC finishes requests in flight", t_disc_finishes_in_flight),
    ("50 idle connections", t_many_connections),
]

for name, fn in scenarios:
    check(name, fn)
print("nbd-abuse: %d of %d scenarios failed" % (failures, len(scenarios)))
sys.exit(1 if failures else 0)
