#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A unit's SystemCallFilter= for one command, as systemd would load it.

    sysfilter.py [--sanitizer] UNIT -- CMD [ARG...]

reads UNIT's SystemCallFilter= and SystemCallErrorNumber= lines, expands
the @groups with `systemd-analyze syscall-filter` (the same tables systemd
uses), loads the resulting seccomp filter with libseccomp (systemd's own
library, through ctypes: no headers needed) and executes CMD.  The rules
are systemd.exec(5)'s: the first assignment decides allow or deny list;
in an allow list @default is always allowed, later plain names add and
~names remove, in order.  A call the filter refuses fails with the unit's
errno (EPERM when it names none), as under the service manager.
--sanitizer also allows @debug (ptrace), which LeakSanitizer needs.  Exits 77
when libseccomp or systemd-analyze is missing.
"""
import ctypes
import ctypes.util
import errno
import os
import re
import subprocess
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_BASE = 0x00050000


def group(name, seen):
    """Every system call of @name (nested groups expanded)."""
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if word.startswith("@"):
            calls |= group(word, seen)
        else:
            calls.add(word)
    return calls


def names(word):
    return group(word, set()) if word.startswith("@") else {word}


def parse(path, sanitizer):
    text = re.sub(r"\\\n[ \t]*", " ", open(path).read())
    allow = None
    calls = set()
    err = "EPERM"
    for line in text.splitlines():
        if line.startswith("SystemCallErrorNumber="):
            err = line.split("=", 1)[1].strip()
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        invert = value.startswith("~")
        if invert:
            value = value[1:]
        if allow is None:
            allow = not invert
            if allow:
                calls |= names("@default")
        for word in value.split():
            if invert == allow:
                calls -= names(word)
            else:
                calls |= names(word)
    # A sanitizer build: LeakSanitizer stops the process with ptrace to
    # look for leaks at exit, which @debug holds and no unit allows;
    # without it every exit is a "fatal error".
    if sanitizer:
        if allow:
            calls |= names("@debug")
        elif allow is not None:
            calls -= names("@debug")
    return allow, calls, getattr(errno, err)


def main():
    args = sys.argv[1:]
    sanitizer = args[:1] == ["--sanitizer"]
    if sanitizer:
        args = args[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: sysfilter.py [--sanitizer] UNIT -- CMD [ARG...]")
    lib = ctypes.util.find_library("seccomp")
    if lib is None:
        print("sysfilter.py: no libseccomp", file=sys.stderr)
        sys.exit(77)
    try:
        allow, calls, err = parse(args[0], sanitizer)
    except FileNotFoundError as e:
        print("sysfilter.py: %s" % e, file=sys.stderr)
        sys.exit(77)
    sc = ctypes.CDLL(lib)
    sc.seccomp_init.restype = ctypes.c_void_p
    sc.seccomp_init.argtypes = [ctypes.c_uint32]
    sc.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    sc.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                    ctypes.c_int, ctypes.c_uint]
    sc.seccomp_load.argtypes = [ctypes.c_void_p]
    if allow is not None:
        refuse = SCMP_ACT_ERRNO_BASE | err
        ctx = sc.seccomp_init(refuse if allow else SCMP_ACT_ALLOW)
        act = SCMP_ACT_ALLOW if allow else refuse
        for name in sorted(calls):
            nr = sc.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # not a call of this architecture
            rc = sc.seccomp_rule_add(ctx, act, nr, 0)
            if rc < 0:
                sys.exit("sysfilter.py: seccomp_rule_add %s: %s" %
                         (name, os.strerror(-rc)))
        rc = sc.seccomp_load(ctx)
        if rc < 0:
            sys.exit("sysfilter.py: seccomp_load: %s" % os.strerror(-rc))
    os.execvp(args[2], args[2:])


main()
