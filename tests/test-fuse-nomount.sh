#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# aoe-fuse where it has CAP_NET_RAW but may not mount, as in a container
# run with only `--cap-add NET_RAW --device /dev/fuse`: the mount fails
# (exit 1, nothing mounted) and aoe-fuse says what is missing, after
# fusermount3's own words: CAP_SYS_ADMIN (root without it), /dev/fuse (a
# mount namespace without the device) or a fusermount3 that may gain root
# (an ordinary user under no_new_privs), or a mount namespace of its
# own (the root of a user namespace made without one).
. "$(dirname "$0")/functions.sh"
. "$srcdir/tests/fuse-functions.sh"
requires_root
requires_fuse
requires setpriv unshare truncate

setup_lan
truncate -s 4M "$tmpdir/backing.img"
start_vblade 1 0 "$tmpdir/backing.img"
mnt=$tmpdir/mnt
mkdir "$mnt"
_unmount()
{
	! is_mounted "$mnt" || fusermount3 -u -z "$mnt" || umount -l "$mnt"
}
cleanup_fn _unmount

# expect_refused WHAT: the last aoe-fuse exited 1, mounted nothing and
# named WHAT.
expect_refused()
{
	expect_grep "$tmpdir/err" "aoe-fuse: cannot mount on $mnt"
	expect_grep "$tmpdir/err" "$1"
	! is_mounted "$mnt" || fail "$mnt mounted after a refusal"
}

say "root without CAP_SYS_ADMIN (docker run --cap-drop ALL --cap-add NET_RAW)"
expect_status 1 setpriv --inh-caps=-all --bounding-set=-all,+net_raw -- \
    aoe-fuse -f -I "$lan_if" -w 5 "$mnt"
expect_refused "mounting needs CAP_SYS_ADMIN, which this process lacks"

say "no /dev/fuse (a container without --device /dev/fuse)"
fuse_bin=$(command -v aoe-fuse)
expect_status 1 unshare --mount --propagation private sh -c \
    'mount -t tmpfs none /dev && exec "$@"' sh \
    "$fuse_bin" -f -I "$lan_if" -w 5 "$mnt"
expect_refused "/dev/fuse: No such file or directory"

# An ordinary user with CAP_NET_RAW as systemd gives it (User=,
# AmbientCapabilities=CAP_NET_RAW, NoNewPrivileges=yes), running a copy
# in a directory that user can reach.
udir=$(mktemp -d /tmp/aoe-nomount.XXXXXX) || fail "mktemp -d failed"
cleanup_fn rm -rf "$udir"
chmod 755 "$udir"
cp "$fuse_bin" "$udir/aoe-fuse"
chmod 755 "$udir/aoe-fuse"
mnt=$udir/mnt
mkdir "$mnt"
chown 65534:65534 "$mnt"
say "nobody with CAP_NET_RAW under no_new_privs"
expect_status 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --no-new-privs \
    -- "$udir/aoe-fuse" -f -I "$lan_if" -w 5 "$mnt"
expect_refused "no_new_privs is set"

# Root of a user + network namespace made without --mount: it holds
# CAP_SYS_ADMIN, but over a mount namespace that is not its own.  Its
# interface is a veth pair it creates itself; a mount point directory
# does not wait for targets.
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups
    --inh-caps=-all --)
if "${as_nobody[@]}" unshare --user --map-root-user --net true \
    2>"$tmpdir/unshare.err"; then
	say "root of unshare --user --map-root-user --net (no --mount)"
	expect_status 1 "${as_nobody[@]}" unshare --user --map-root-user \
	    --net sh -c 'ip link add aoe0 type veth peer name aoe1 &&
	    ip link set aoe1 up && ip link set aoe0 up && exec "$@"' sh \
	    "$udir/aoe-fuse" -f -I aoe0 -w 0.2 "$mnt"
	expect_refused "this user namespace does not own the mount namespace"
else
	skip_or_fail "no user namespace for nobody:" \
	    "$(cat "$tmpdir/unshare.err")"
fi
say "ok"
