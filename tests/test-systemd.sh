#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The systemd units in contrib/systemd: `systemd-analyze verify` prints
# nothing on each (ExecStart pointed at the built programs, the man pages
# of Documentation= found in the source tree), `systemd-analyze security`
# rates them, and, as root, each ExecStart= line runs as the unit would run
# it: expanded (%i, %f, ${VAR}, $VAR) by the same rules, with the unit's
# user, capabilities and no_new_privs reproduced by setpriv, its
# SystemCallFilter= loaded by tests/sysfilter.py (libseccomp, systemd's
# groups), the socket unit's ListenStream= sockets passed by
# systemd-socket-activate, and NOTIFY_SOCKET, on which each program must
# say READY=1 once it listens or has mounted (Type=notify).  (No service
# manager runs here: the other sandboxing options are checked by verify
# and rated by security, not enforced.)
. "$(dirname "$0")/functions.sh"
requires systemd-analyze python3 aoe-nbd aoe-fuse

units="aoe-nbd@.service aoe-nbd.socket aoe-nbd.service aoe-fuse@.service"
src=$top_srcdir/contrib/systemd
nbd_bin=$(command -v aoe-nbd)
fuse_bin=$(command -v aoe-fuse)

# Copies whose programs are the ones just built (verify wants every
# ExecStart= program to exist).  The units name /usr/sbin; make install
# rewrites that to $(sbindir).
udir=$tmpdir/units
mkdir -p "$udir"
for u in $units; do
	[ -f "$src/$u" ] || fail "$src/$u missing"
	grep -q '^ExecStart=/usr/sbin/\|^\[Socket\]' "$src/$u" ||
	    fail "$u: ExecStart= does not name /usr/sbin/..."
	sed -e "s|/usr/sbin/aoe-nbd|$nbd_bin|g" \
	    -e "s|/usr/sbin/aoe-fuse|$fuse_bin|g" "$src/$u" >"$udir/$u"
done
# A named instance as well as the template itself (verified as @i).
cp "$udir/aoe-nbd@.service" "$udir/aoe-nbd@e1.0.service"

# Documentation=man:PAGE(8): verify runs man(1) on each; let it find the
# pages of the source tree.
man_opt=--man=yes
mkdir -p "$tmpdir/man/man8"
for p in $(sed -n 's/^Documentation=//p' "$src"/* | tr ' ' '\n' |
    sed -n 's/^man:\([^(]*\)(8)$/\1/p' | sort -u); do
	[ -f "$top_srcdir/man/$p.8" ] ||
	    fail "Documentation=man:$p(8) but no man/$p.8"
	ln -sf "$top_srcdir/man/$p.8" "$tmpdir/man/man8/$p.8"
done
if ! command -v man >/dev/null 2>&1; then
	# CI installs man-db: there the full check must run.
	[ "${CI:-}" != true ] ||
	    fail "no man(1) (man-db) with CI=true: man pages not checked"
	say "note: no man(1): man pages checked by name only"
	man_opt=--man=no
fi
export MANPATH=$tmpdir/man

say "systemd-analyze verify: $(systemd-analyze --version | head -n 1)"
for u in $units aoe-nbd@e1.0.service; do
	st=0
	(cd "$udir" && systemd-analyze verify "$man_opt" "./$u") \
	    >"$tmpdir/verify.out" 2>&1 || st=$?
	sed 's/^/  | /' "$tmpdir/verify.out"
	[ "$st" = 0 ] || fail "systemd-analyze verify $u exited with $st"
	[ ! -s "$tmpdir/verify.out" ] ||
	    fail "systemd-analyze verify $u printed something"
	say "verify $u: clean"
done

# Exposure (0 = locked down, 10 = unprotected): the aoe-nbd services are
# sandboxed fully, aoe-fuse@ cannot have a mount namespace of its own.
security()
{
	local u=$1 max=$2 st=0
	(cd "$udir" && systemd-analyze security --offline=true \
	    --threshold="$max" "./$u") >"$tmpdir/security.out" 2>&1 || st=$?
	grep 'Overall exposure' "$tmpdir/security.out" | sed 's/^/  | /'
	[ "$st" = 0 ] || {
		cat "$tmpdir/security.out" >&2
		fail "systemd-analyze security $u: exposure above $max"
	}
}
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
	security aoe-nbd@.service 20
	security aoe-nbd.service 20
	security aoe-fuse@.service 50
else
	say "note: systemd-analyze security has no --offline here"
fi

# ------------------------------------------------ the command lines, run

if [ "$(id -u)" != 0 ]; then
	[ "${CI:-}" != true ] || fail "must run as root under CI=true"
	say "note: not root: the ExecStart= lines are not run"
	say "ok"
	exit 0
fi
requires nbdinfo nbdcopy setpriv systemd-socket-activate fusermount3 cmp \
    ss

# exec_start FILE INSTANCE PATH VAR=VALUE...: FILE's ExecStart= as the
# service manager builds it, one argument per line in $tmpdir/argv:
# continuation lines joined, quotes as in systemd.service(5), specifiers
# %i %I %f %%, "${VAR}" replaced within a word (one argument whatever it
# holds), "$VAR" alone split at white space (no argument when empty).
exec_start()
{
	python3 - "$@" >"$tmpdir/argv" <<'EOF'
import re, shlex, sys
path, inst, fpath = sys.argv[1:4]
env = dict(a.split("=", 1) for a in sys.argv[4:])
text = re.sub(r"\\\n[ \t]*", " ", open(path).read())
lines = [l[len("ExecStart="):] for l in text.splitlines()
         if l.startswith("ExecStart=")]
assert len(lines) == 1, "want one ExecStart=, got %d" % len(lines)
spec = {"i": inst, "I": inst, "f": fpath, "%": "%"}
argv = []
for w in shlex.split(lines[0].lstrip("-@:+!")):
    w = re.sub(r"%(.)", lambda m: spec[m.group(1)], w)
    m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
    if m:
        argv += env.get(m.group(1), "").split()
        continue
    argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                       lambda m: env.get(m.group(1), ""), w))
for a in argv:
    assert "\n" not in a
    print(a)
EOF
	mapfile -t argv <"$tmpdir/argv"
	printf '  ExecStart: %s\n' "${argv[*]}"
}

# The unit's [Service] user and capabilities, by setpriv: DynamicUser=
# is an unused UID (from systemd's dynamic range, no passwd entry), and
# AmbientCapabilities=/CapabilityBoundingSet= CAP_NET_RAW, NoNewPrivileges.
dyn_uid=61999
as_dynamic=(setpriv --reuid=$dyn_uid --regid=$dyn_uid --clear-groups
    --no-new-privs --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw
    --bounding-set=-all,+net_raw --)

# check_sandbox PID UID CAPS: the process runs as UID with no_new_privs
# and the bounding set CAPS (hex) the unit gave it, and holds no
# capability any more (the programs drop them once their sockets and
# mounts are open): CapEff, CapPrm, CapInh and CapAmb are 0.  The mount
# or socket is seen a moment before the drop (longer under ASan): the
# capabilities get a few seconds to go.
_caps_dropped()
{
	awk -v c="$2" '/^CapBnd:/ && $2 != c { bad = 1 }
	    /^(CapEff|CapPrm|CapInh|CapAmb):/ && $2 != "0000000000000000" {
		bad = 1
	    }
	    /^NoNewPrivs:/ && $2 != 1 { bad = 1 } END { exit bad }' "$1"
}
check_sandbox()
{
	local pid=$1 want_uid=$2 caps=$3 f=/proc/$1/status
	awk -v u="$want_uid" '/^Uid:/ { exit !($2 == u) }' "$f" ||
	    fail "pid $pid: not uid $want_uid"
	wait_for -t 5 _caps_dropped "$f" "$caps" ||
	    fail "pid $pid: $(grep -E '^(Cap|NoNew)' "$f" | tr '\n' ' ')"
	say "pid $pid: uid $want_uid, CapBnd=$caps, no capability left," \
	    "NoNewPrivs 1"
}

# The dynamic user runs tests/sysfilter.py: a python3 of the system, not
# one under /root.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

# notify_listen NAME PYCOND: a datagram socket $sd/NAME.notify, as
# systemd's NOTIFY_SOCKET for a Type=notify unit; the first message that
# comes, and whether the Python expression PYCOND (over os) held at that
# moment ("ready" or "early"), go to $sd/NAME.msg.
notify_listen()
{
	local name=$1 cond=$2
	python3 - "$sd/$name.notify" "$sd/$name.msg" "$cond" <<'PY' &
import os, socket, sys
path, out, cond = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
s.settimeout(60)
msg = s.recv(4096).decode(errors="replace")
state = "ready" if eval(cond) else "early"
with open(out + ".tmp", "w") as f:
    f.write("%s %s\n" % (state, " ".join(msg.split())))
os.rename(out + ".tmp", out)
PY
	cleanup_fn _kill_wait $!
	wait_for -t 10 test -S "$sd/$name.notify" ||
	    fail "notify socket $name did not appear"
}

# notify_check NAME: the unit is Type=notify and its program said
# READY=1 once what it serves was there.
notify_check()
{
	wait_for -t 10 test -s "$sd/$1.msg" ||
	    fail "$1: no READY=1 on NOTIFY_SOCKET (Type=notify would time out)"
	say "$1: NOTIFY_SOCKET got: $(cat "$sd/$1.msg")"
	grep -q '^ready READY=1' "$sd/$1.msg" ||
	    fail "$1: READY=1 came before it was ready, or none"
}

setup_lan
make_disk()
{
	head -c $(($2 * 1048576)) /dev/urandom >"$1" || fail "cannot make $1"
}
make_disk "$tmpdir/d0.img" 8
make_disk "$tmpdir/d1.img" 4
start_vblade 1 0 "$tmpdir/d0.img"
start_vblade 1 1 "$tmpdir/d1.img"

# /run of the units becomes a scratch directory the dynamic user can use.
sd=$(mktemp -d /tmp/aoe-systemd.XXXXXX) || fail "mktemp -d failed"
cleanup_fn rm -rf "$sd"
chmod 755 "$sd"
rdir=$sd/run
for u in $units; do
	sed "s|/run/|$rdir/|g" "$udir/$u" >"$sd/$u"
done
# "${sysfilter[@]}" UNIT -- CMD...: CMD under UNIT's SystemCallFilter=
# (after setpriv: the filter refuses calls setpriv makes).
cp "$srcdir/tests/sysfilter.py" "$sd/sysfilter.py"
sysfilter=("$py" "$sd/sysfilter.py")
# A sanitizer build (the suite sets ASAN_OPTIONS) checks for leaks at exit
# with ptrace, which the units' filters refuse.
[ -z "${ASAN_OPTIONS:-}" ] || sysfilter+=(--sanitizer)
st=0
"${as_dynamic[@]}" "${sysfilter[@]}" "$sd/aoe-nbd@.service" -- true \
    2>"$tmpdir/sysfilter.err" || st=$?
[ "$st" != 77 ] ||
    skip_or_fail "cannot load a unit's system call filter:" \
    "$(cat "$tmpdir/sysfilter.err")"
[ "$st" = 0 ] || {
	cat "$tmpdir/sysfilter.err" >&2
	fail "tests/sysfilter.py failed ($st)"
}
env_nbd=(AOE_INTERFACES="$lan_if" AOE_NBD_OPTIONS="--dead-timeout=30 -w 5")

# ---------------------------------------------------- aoe-nbd@e1.1.service
say "aoe-nbd@e1.1.service"
exec_start "$sd/aoe-nbd@.service" e1.1 /nonexistent "${env_nbd[@]}"
# RuntimeDirectory=aoe-nbd, owned by the service's user.
mkdir -p "$rdir/aoe-nbd"
chown "$dyn_uid:$dyn_uid" "$rdir/aoe-nbd"
sock=$rdir/aoe-nbd/e1.1.sock
grep -qx 'Type=notify' "$sd/aoe-nbd@.service" ||
    fail "aoe-nbd@: not Type=notify"
notify_listen inst "os.path.exists('$sock')"
"${as_dynamic[@]}" env NOTIFY_SOCKET="$sd/inst.notify" \
    "${sysfilter[@]}" "$sd/aoe-nbd@.service" -- "${argv[@]}" \
    </dev/null >"$tmpdir/inst.log" 2>&1 &
inst_pid=$!
cleanup_fn _kill_wait "$inst_pid"
_sock_up()
{
	kill -0 "$2" 2>/dev/null || return 2
	[ -S "$1" ]
}
wait_for -t 10 _sock_up "$sock" "$inst_pid" || {
	cat "$tmpdir/inst.log" >&2
	fail "aoe-nbd@e1.1 did not listen on $sock"
}
check_sandbox "$inst_pid" "$dyn_uid" 0000000000002000
notify_check inst
expect_status 0 nbdinfo --json "nbd+unix:///?socket=$sock"
expect_grep "$tmpdir/out" '"export-size": 4194304'
expect_status 0 nbdcopy "nbd+unix:///e1.1?socket=$sock" "$tmpdir/c1.img"
cmp "$tmpdir/c1.img" "$tmpdir/d1.img" || fail "e1.1 read differs"
kill -TERM "$inst_pid"
st=0
wait "$inst_pid" || st=$?
[ "$st" = 0 ] || {
	cat "$tmpdir/inst.log" >&2
	fail "aoe-nbd@e1.1 exited with $st on SIGTERM"
}

# ------------------------------------- aoe-nbd.socket + aoe-nbd.service
say "aoe-nbd.socket + aoe-nbd.service (socket activation)"
listen=$(sed -n 's/^ListenStream=//p' "$sd/aoe-nbd.socket" | tr '\n' ' ')
[ "$listen" = "127.0.0.1:10809 $rdir/aoe-nbd.sock " ] ||
    fail "aoe-nbd.socket listens on '$listen'"
# systemd applies NoDelay= to every ListenStream=: on the Unix socket it
# logs "TCP_NODELAY failed: Operation not supported" at each start.
! grep -q '^NoDelay=yes' "$sd/aoe-nbd.socket" ||
    fail "aoe-nbd.socket: NoDelay=yes with a Unix socket (a warning at" \
    "each start; aoe-nbd sets TCP_NODELAY itself)"
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
exec_start "$sd/aoe-nbd.service" "" /nonexistent "${env_nbd[@]}"
for a in "${argv[@]}"; do
	case $a in
	-p* | --port* | -U* | --unix* | -i* | --ipaddr* | -s | --single)
		fail "aoe-nbd.service passes $a: it must take LISTEN_FDS" ;;
	esac
done
mkdir -p "$rdir"
grep -qx 'Type=notify' "$sd/aoe-nbd.service" ||
    fail "aoe-nbd: not Type=notify"
notify_listen act True
systemd-socket-activate -l "127.0.0.1:$port" -l "$rdir/aoe-nbd.sock" -- \
    "${as_dynamic[@]}" env NOTIFY_SOCKET="$sd/act.notify" \
    "${sysfilter[@]}" "$sd/aoe-nbd.service" -- \
    "${argv[@]}" </dev/null >"$tmpdir/act.log" 2>&1 &
act_pid=$!
cleanup_fn _kill_wait "$act_pid"
_listening()
{
	kill -0 "$act_pid" 2>/dev/null || return 2
	[ -S "$rdir/aoe-nbd.sock" ] &&
	    grep -q "127.0.0.1:$port" <(ss -Hltn 2>/dev/null)
}
wait_for -t 10 _listening || {
	cat "$tmpdir/act.log" >&2
	fail "systemd-socket-activate did not listen"
}
# The first client starts the server on the sockets systemd would pass;
# naming an export, it waits (-w) for that target to answer.
expect_status 0 nbdinfo --json "nbd://127.0.0.1:$port/e1.1"
expect_grep "$tmpdir/out" '"export-size": 4194304'
check_sandbox "$act_pid" "$dyn_uid" 0000000000002000
notify_check act
# A list shows what was discovered so far: both, once e1.0 has answered.
_listed()
{
	nbdinfo --list "nbd://127.0.0.1:$port" >"$tmpdir/list" 2>&1 &&
	    grep -q 'export="e1.0":' "$tmpdir/list" &&
	    grep -q 'export="e1.1":' "$tmpdir/list"
}
wait_for -t 10 _listed || {
	cat "$tmpdir/list" >&2
	fail "nbdinfo --list does not show e1.0 and e1.1"
}
say "nbdinfo --list: $(grep -o 'export="[^"]*"' "$tmpdir/list" |
    tr '\n' ' ')"
expect_status 0 nbdcopy "nbd+unix:///e1.0?socket=$rdir/aoe-nbd.sock" \
    "$tmpdir/c0.img"
cmp "$tmpdir/c0.img" "$tmpdir/d0.img" || fail "e1.0 read differs"
kill -TERM "$act_pid"
st=0
wait "$act_pid" || st=$?
[ "$st" = 0 ] || {
	cat "$tmpdir/act.log" >&2
	fail "socket-activated aoe-nbd exited with $st on SIGTERM"
}

# -------------------------------------------- aoe-fuse@<mnt>.service
if [ -c /dev/fuse ] && grep -qw fuse /proc/filesystems; then
	mnt=$sd/mnt
	mkdir "$mnt"
	say "aoe-fuse@$(systemd-escape --path "$mnt").service"
	exec_start "$sd/aoe-fuse@.service" x "$mnt" \
	    AOE_INTERFACES="$lan_if" AOE_FUSE_OPTIONS="-w 5"
	_unmount()
	{
		awk -v p="$mnt" '$2 == p { f = 1 } END { exit !f }' \
		    /proc/self/mounts && fusermount3 -u -z "$mnt"
	}
	cleanup_fn _unmount
	# Root with only CAP_SYS_ADMIN and CAP_NET_RAW in the bounding set.
	grep -qx 'Type=notify' "$sd/aoe-fuse@.service" ||
	    fail "aoe-fuse@: not Type=notify"
	notify_listen fuse \
	    "'$mnt' in [l.split()[1] for l in open('/proc/mounts')]"
	setpriv --no-new-privs --bounding-set=-all,+sys_admin,+net_raw -- \
	    env NOTIFY_SOCKET="$sd/fuse.notify" \
	    "${sysfilter[@]}" "$sd/aoe-fuse@.service" -- "${argv[@]}" \
	    </dev/null >"$tmpdir/fuse.log" 2>&1 &
	fuse_pid=$!
	cleanup_fn _kill_wait "$fuse_pid"
	_mounted()
	{
		kill -0 "$fuse_pid" 2>/dev/null || return 2
		awk -v p="$mnt" '$2 == p { f = 1 } END { exit !f }' \
		    /proc/self/mounts
	}
	wait_for -t 15 _mounted || {
		cat "$tmpdir/fuse.log" >&2
		fail "aoe-fuse@ did not mount $mnt"
	}
	check_sandbox "$fuse_pid" 0 0000000000202000
	notify_check fuse
	cmp "$mnt/e1.0" "$tmpdir/d0.img" || fail "$mnt/e1.0 differs"
	cmp "$mnt/e1.1" "$tmpdir/d1.img" || fail "$mnt/e1.1 differs"
	# systemctl stop: SIGTERM, then ExecStopPost= (nothing left to do).
	kill -TERM "$fuse_pid"
	st=0
	wait "$fuse_pid" || st=$?
	[ "$st" = 0 ] || {
		cat "$tmpdir/fuse.log" >&2
		fail "aoe-fuse@ exited with $st on SIGTERM"
	}
	! _unmount || fail "$mnt still mounted after SIGTERM"
	stop_post=$(sed -n 's/^ExecStopPost=-//p' "$sd/aoe-fuse@.service")
	[ -x "${stop_post%% *}" ] || fail "ExecStopPost= program missing"
else
	skip_or_fail "no FUSE here (/dev/fuse, /proc/filesystems)"
fi
say "ok"
