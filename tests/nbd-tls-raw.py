#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nbd-tls-raw: what a plaintext client gets from aoe-nbd's TLS policies.

Usage: nbd-tls-raw.py SOCKET off|on|require

Speaks the NBD handshake by hand (standard library only) and checks the
answers that --tls=MODE must give before TLS: ERR_POLICY for STARTTLS
when TLS is off; ERR_TLS_REQD for GO, INFO, LIST and the rest, a hard
disconnect for EXPORT_NAME and an ACK for ABORT when TLS is required;
plaintext sent after STARTTLS ends the connection.  Exits 0 when every
answer was right, 1 otherwise.
"""
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_SR = 6, 7, 8
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR = 0x80000000
ERR_POLICY, ERR_INVALID, ERR_TLS_REQD = ERR | 2, ERR | 3, ERR | 5
NAMES = {REP_ACK: "ACK", REP_SERVER: "SERVER", REP_INFO: "INFO",
         ERR_POLICY: "ERR_POLICY", ERR_INVALID: "ERR_INVALID",
         ERR_TLS_REQD: "ERR_TLS_REQD"}

sock_path, mode = sys.argv[1], sys.argv[2]
failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures += 1


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            return None
        buf += b
    return buf


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock_path)
    g = recv_exact(s, 18)
    magic, opt, flags = struct.unpack(">QQH", g)
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    return s


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def reply(s):
    """One option reply: (type, data), or None when the server hung up."""
    h = recv_exact(s, 20)
    if h is None:
        return None
    magic, opt, typ, length = struct.unpack(">QIII", h)
    assert magic == REPMAGIC, "bad reply magic"
    data = recv_exact(s, length) if length else b""
    return typ, data


def final_reply(s):
    """Skip SERVER/INFO replies up to the ACK or an error."""
    while True:
        r = reply(s)
        if r is None or r[0] not in (REP_SERVER, REP_INFO):
            return r


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def name(r):
    if r is None:
        return "hang-up"
    return "%s %r" % (NAMES.get(r[0], hex(r[0])), r[1][:80])


go = struct.pack(">I", 4) + b"e1.0" + struct.pack(">H", 0)

if mode == "off":
    s = connect()
    send_opt(s, OPT_STARTTLS)
    r = reply(s)
    check(r is not None and r[0] == ERR_POLICY,
          "--tls=off: STARTTLS -> ERR_POLICY (got %s)" % name(r))
    send_opt(s, OPT_GO, go)
    r = final_reply(s)
    check(r is not None and r[0] == REP_ACK,
          "--tls=off: GO still works after that (got %s)" % name(r))
elif mode == "require":
    s = connect()
    for opt, data, what in ((OPT_GO, go, "GO"), (OPT_INFO, go, "INFO"),
                            (OPT_LIST, b"", "LIST"),
                            (OPT_SR, b"", "STRUCTURED_REPLY"),
                            (99, b"xyz", "unknown option 99")):
        send_opt(s, opt, data)
        r = reply(s)
        check(r is not None and r[0] == ERR_TLS_REQD,
              "--tls=require: %s before STARTTLS -> ERR_TLS_REQD (got %s)"
              % (what, name(r)))
    send_opt(s, OPT_STARTTLS, b"x")
    r = reply(s)
    check(r is not None and r[0] == ERR_INVALID,
          "--tls=require: STARTTLS with data -> ERR_INVALID (got %s)"
          % name(r))
    send_opt(s, OPT_EXPORT_NAME, b"e1.0")
    check(closed(s), "--tls=require: EXPORT_NAME before STARTTLS -> "
          "disconnect")
    s.close()

    s = connect()
    send_opt(s, OPT_ABORT)
    r = reply(s)
    check(r is not None and r[0] == REP_ACK,
          "--tls=require: ABORT -> ACK (got %s)" % name(r))
    s.close()

    # Plaintext right behind STARTTLS must not reach the TLS session.
    s = connect()
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_STARTTLS, 0) +
              struct.pack(">QII", IHAVEOPT, OPT_GO, len(go)) + go)
    r = reply(s)
    check(r is not None and r[0] == REP_ACK,
          "STARTTLS -> ACK (got %s)" % name(r))
    check(closed(s), "plaintext after STARTTLS -> disconnect")
    s.close()
elif mode == "on":
    s = connect()
    send_opt(s, OPT_LIST)
    r = final_reply(s)
    check(r is not None and r[0] == REP_ACK,
          "--tls=on: LIST without TLS works (got %s)" % name(r))
    send_opt(s, OPT_GO, go)
    r = final_reply(s)
    check(r is not None and r[0] == REP_ACK,
          "--tls=on: GO without TLS works (got %s)" % name(r))
else:
    sys.exit("usage: nbd-tls-raw.py SOCKET off|on|require")

sys.exit(1 if failures else 0)
