#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packet backend's transmit ring on a real network driver: a qemu
# guest (virtio-net on a tap device, vblade on the tap in a private
# namespace) runs aoe-fuse with the default settings, which send from a
# PACKET_TX_RING on such a NIC (the driver reads each frame from its slot,
# so a slot is busy until the NIC is done with it).  8 MiB are written at
# MTU 1500, the guest's MTU raised to 9000 (larger slots needed), 8 MiB more
# written, and all of it read back in the guest; the host compares
# vblade's backing file.  aoe-fuse's counters (SIGUSR1) after each write
# must show the frames sent from the ring: all but a few of those of the
# 9000-byte write, which only fit once the ring has grown.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/vm-functions.sh"

requires aoe-fuse vblade md5sum truncate
vm_requires

vm_kernel
vm_netns
tap=tap$$
vm_tap "$tap"
# vblade's side at 9000 from the start: frames grow with the guest's MTU.
ip -n "$vm_ns" link set "$tap" mtu 9000
lan_ns=$vm_ns
lan_tif=$tap
img=$tmpdir/disk.img
truncate -s 64M "$img"
start_vblade 1 0 "$img" -b 64

vm_initramfs_begin "$tmpdir/initramfs"
vm_add_modules virtio_pci virtio_net fuse
vm_add_prog "$(command -v aoe-fuse)" /usr/sbin/aoe-fuse
cat >"$vm_root/vm-test" <<'EOF'
. /etc/vm-lib.sh
mac=$(vm_arg aoetest.mac)
n=0
until ifc=$(vm_iface "$mac"); do
	n=$((n + 1))
	[ $n -lt 50 ] || { echo "TX-FAIL no tap NIC"; exit 1; }
	sleep 0.1
done
ip link set "$ifc" mtu 1500 up
: >/tmp/disk
# die WHAT: say so, with aoe-fuse's last words.
die()
{
	echo "TX-FAIL $1"
	tail -n 20 /tmp/fuse.log | sed 's/^/TX-LOG /'
	exit 1
}
/usr/sbin/aoe-fuse -f -v -I "$ifc" -w 20 --discover-interval 1 \
    -o noauto_unmount e1.0 /tmp/disk 2>/tmp/fuse.log &
fp=$!
n=0
until grep -q ' /tmp/disk fuse' /proc/mounts; do
	n=$((n + 1))
	[ $n -lt 300 ] || die "no mount"
	sleep 0.1
done
# counters TAG: aoe-fuse's link line, logged on SIGUSR1.
counters()
{
	local before
	before=$(grep -c 'from the transmit ring' /tmp/fuse.log)
	kill -USR1 $fp
	n=0
	while [ "$(grep -c 'from the transmit ring' /tmp/fuse.log)" = "$before" ]; do
		n=$((n + 1))
		[ $n -lt 100 ] || die "no counters"
		sleep 0.1
	done
	grep 'from the transmit ring' /tmp/fuse.log | tail -n 1 |
	    sed "s/^/TX-COUNTERS $1 /"
}
head -c 8388608 /dev/urandom >/tmp/a
dd if=/tmp/a of=/tmp/disk bs=1M oflag=direct conv=notrunc 2>/dev/null ||
    die "write at 1500"
counters 1500
ip link set "$ifc" mtu 9000
n=0
until grep -q "MTU 9000" /tmp/fuse.log; do
	n=$((n + 1))
	[ $n -lt 200 ] || die "MTU 9000 not seen"
	sleep 0.1
done
dd if=/tmp/a of=/tmp/disk bs=1M seek=8 oflag=direct conv=notrunc \
    2>/dev/null || die "write at 9000"
counters 9000
dd if=/tmp/disk of=/tmp/b bs=1M count=16 iflag=direct 2>/dev/null ||
    die "read back"
cat /tmp/a /tmp/a | cmp - /tmp/b && echo "TX-READBACK-OK"
echo "TX-MD5 $(cat /tmp/a /tmp/a | md5sum | cut -d' ' -f1)"
umount /tmp/disk
wait $fp
echo "TX-FUSE-EXIT $?"
grep -E 'MTU|transmit ring|not sent' /tmp/fuse.log | sed 's/^/TX-LOG /'
EOF
vm_initramfs "$vm_root" "$tmpdir/initrd.gz"

vm_nic_tap "$tap"
vm_run -t 240 -n "$vm_ns" -i "$tmpdir/initrd.gz" \
    -a "aoetest.mac=$vm_mac_tap" -- "${vm_nic[@]}"
tr -d '\r' <"$vm_log" | grep -E '^TX-' || true
vm_expect "VM-TEST-EXIT 0"
vm_expect "TX-READBACK-OK"
vm_expect "TX-FUSE-EXIT 0"

# sent_ring TAG: "N M", the frames sent and those from the ring, at TAG.
sent_ring()
{
	tr -d '\r' <"$vm_log" | sed -n "s/^TX-COUNTERS $1 .*: \([0-9]*\) frames sent (\([0-9]*\) from the transmit ring).*/\1 \2/p" |
	    tail -n 1
}
read -r s1 r1 < <(sent_ring 1500)
read -r s2 r2 < <(sent_ring 9000)
[ -n "${s1:-}" ] && [ -n "${s2:-}" ] || fail "no counters from the guest"
say "at 1500: $r1 of $s1 frames from the ring; at 9000: $((r2 - r1)) of" \
    "$((s2 - s1))"
[ "$r1" -gt 0 ] || fail "no frame sent from the transmit ring at 1500"
# 8 MiB in frames of 8 KiB or more: 1,024 frames at most, all but a few
# (a slot still busy, the ring not yet grown) through the larger ring.
[ $((s2 - s1)) -le 1100 ] ||
    fail "$((s2 - s1)) frames for 8 MiB at MTU 9000: not jumbo frames"
[ $(((r2 - r1) * 10)) -ge $(((s2 - s1) * 8)) ] ||
    fail "only $((r2 - r1)) of $((s2 - s1)) frames at 9000 from the ring"

stop_vblade "$vblade_pid"
want=$(vm_console_value TX-MD5)
got=$(head -c 16777216 "$img" | md5sum | cut -d' ' -f1)
[ "$got" = "$want" ] ||
    fail "vblade's backing file: md5 $got, the guest wrote $want"
say "backing file matches what the guest wrote"
say "ok"
