#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Linux kernel's NBD client on aoe-nbd (issue 3): a qemu guest with
# Debian's kernel attaches /dev/nbd0 to aoe-nbd over TCP (export e1.0 and
# the default export), makes and mounts an ext4 file system, writes,
# detaches, attaches again and reads the same bytes back; the host then
# checks vblade's backing file with e2fsck and debugfs.  vblade serves on a
# veth pair; aoe-nbd and qemu run in a network namespace of their own.
nbd_test_timeout=240
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/vm-functions.sh"

# AOE_VM_NBD_SERVER=nbdkit runs the same guest against nbdkit's file
# plugin on vblade's image, to tell our bugs from the harness's.
server=${AOE_VM_NBD_SERVER:-aoe-nbd}
case $server in
aoe-nbd) requires aoe-nbd ;;
nbdkit) requires nbdkit ;;
*) fail "AOE_VM_NBD_SERVER: aoe-nbd or nbdkit" ;;
esac
requires nbd-client mke2fs e2fsck debugfs md5sum
vm_requires

setup_lan
vm_netns
# The initiator end joins aoe-nbd and qemu in their namespace: no frame
# and no IP packet of this test touches the machine's own interfaces.
ip link set "$lan_if" netns "$vm_ns" || fail "cannot move $lan_if"
ip -n "$vm_ns" link set "$lan_if" mtu "$lan_mtu" up

img=$tmpdir/disk.img
truncate -s 64M "$img"
start_vblade 1 0 "$img"

vm_kernel

# ------------------------------------------------------------ server
port=$((20000 + $$ % 20000))
pidfile=$tmpdir/server.pid
log=$tmpdir/server.log
if [ "$server" = aoe-nbd ]; then
	say "aoe-nbd -I $lan_if -p $port -i 127.0.0.1 -f -P $pidfile e1.0"
	ip netns exec "$vm_ns" aoe-nbd -I "$lan_if" -p "$port" -i 127.0.0.1 \
	    -f -P "$pidfile" -w 5 e1.0 </dev/null >"$log" 2>&1 &
else
	say "nbdkit -p $port -i 127.0.0.1 -f -P $pidfile file $img"
	ip netns exec "$vm_ns" env -u LD_PRELOAD nbdkit -p "$port" \
	    -i 127.0.0.1 -f -P "$pidfile" file "$img" </dev/null >"$log" 2>&1 &
fi
server_pid=$!
cleanup_fn _kill_wait "$server_pid"
_server_ready()
{
	kill -0 "$server_pid" 2>/dev/null || return 2
	[ -s "$pidfile" ] && [ "$(cat "$pidfile")" = "$server_pid" ]
}
if ! wait_for -t 15 _server_ready; then
	cat "$log" >&2
	fail "$server did not start"
fi

# ------------------------------------------------------------ guest
vm_initramfs_begin "$tmpdir/initramfs"
vm_add_modules virtio_pci virtio_net nbd ext4
vm_add_prog nbd-client
vm_add_prog mke2fs
cat >"$vm_root/vm-test" <<'EOF'
. /etc/vm-lib.sh
port=$(vm_arg aoetest.port)
srv=10.0.2.2
dev=/dev/nbd0

size_ok()
{
	[ "$(cat /sys/block/nbd0/size)" = 131072 ]
}

# ATTACH-NAME: write a known file and 8 MiB of random bytes.
step "user-mode network" vm_net_user
step "list exports" nbd-client -l $srv $port
step "attach -N e1.0" nbd-client $srv $port $dev -N e1.0 -b 512
step "size is 64 MiB" size_ok
step "mke2fs" /usr/sbin/mke2fs -q -F -t ext4 \
    -E lazy_itable_init=0,lazy_journal_init=0 $dev
step "mount" mount -t ext4 $dev /mnt
seq 1 20000 >/mnt/hello.txt
step "write random" dd if=/dev/urandom of=/mnt/random.bin bs=1M count=8
echo "MD5-HELLO-1 $(md5sum </mnt/hello.txt | cut -d' ' -f1)"
echo "MD5-RANDOM-1 $(md5sum </mnt/random.bin | cut -d' ' -f1)"
step "sync" sync
step "umount" umount /mnt
step "detach" nbd-client -d $dev

# The same export again, then the default export (no -N): same bytes.
n=2
for how in "-N e1.0" ""; do
	step "attach again ${how:-(default export)}" \
	    nbd-client $srv $port $dev $how -b 512
	step "size again" size_ok
	step "mount again" mount -t ext4 -o ro $dev /mnt
	echo "MD5-HELLO-$n $(md5sum </mnt/hello.txt | cut -d' ' -f1)"
	echo "MD5-RANDOM-$n $(md5sum </mnt/random.bin | cut -d' ' -f1)"
	step "umount again" umount /mnt
	step "detach again" nbd-client -d $dev
	n=$((n + 1))
done
echo "NBD-KERNEL-PASS"
EOF
vm_initramfs "$vm_root" "$tmpdir/initrd.gz"

vm_nic_user
vm_run -t 150 -n "$vm_ns" -i "$tmpdir/initrd.gz" \
    -a "aoetest.port=$port" -- "${vm_nic[@]}"
tr -d '\r' <"$vm_log" | grep -E '^(VM-|MD5-|NBD-)' || true
vm_expect "NBD-KERNEL-PASS"
vm_expect "VM-TEST-EXIT 0"

want_hello=$(seq 1 20000 | md5sum | cut -d' ' -f1)
random_md5=$(vm_console_value MD5-RANDOM-1)
[ -n "$random_md5" ] || fail "no MD5-RANDOM-1 on the console"
for n in 1 2 3; do
	[ "$(vm_console_value MD5-HELLO-$n)" = "$want_hello" ] ||
	    fail "hello.txt differs in pass $n"
	[ "$(vm_console_value MD5-RANDOM-$n)" = "$random_md5" ] ||
	    fail "random.bin differs in pass $n"
done
say "guest read back the same bytes after two re-attaches"

# ------------------------------------------------------------ host checks
kill -TERM "$server_pid"
st=0
wait "$server_pid" || st=$?
if [ "$st" != 0 ]; then
	cat "$log" >&2
	fail "$server exited with status $st after SIGTERM"
fi
stop_vblade "$vblade_pid"

expect_status 0 e2fsck -fn "$img"
debugfs -R 'cat /hello.txt' "$img" >"$tmpdir/hello.txt" 2>/dev/null ||
    fail "debugfs cannot read hello.txt"
[ "$(md5sum <"$tmpdir/hello.txt" | cut -d' ' -f1)" = "$want_hello" ] ||
    fail "hello.txt in vblade's file differs"
debugfs -R "dump /random.bin $tmpdir/random.bin" "$img" >/dev/null 2>&1 ||
    fail "debugfs cannot dump random.bin"
[ "$(md5sum <"$tmpdir/random.bin" | cut -d' ' -f1)" = "$random_md5" ] ||
    fail "random.bin in vblade's file differs"
say "vblade's file: clean ext4, hello.txt and random.bin as written"
say "PASS (guest $vm_seconds s)"
