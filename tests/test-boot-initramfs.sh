#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Booting from an AoE root through aoe-nbd (issue 7): mkinitramfs with
# contrib/initramfs-tools (hook + local-top script) for Debian's kernel,
# checked with lsinitramfs; then a qemu guest boots that initramfs with
# aoe=e1.0@eth0 root=/dev/nbd0 (then root=UUID=, root=LABEL=) from a small
# ext4 image that vblade serves on a tap device in a private network
# namespace, and the image's /sbin/init prints a marker and powers off.
# aoe_max_kb= sets nbd0's max_sectors_kb (default 1280, 0 keeps 128);
# aoe_dead= aoe-nbd's --dead-timeout (a number, else none is given).
# aoe_reserve=1 (boot 3) makes aoe-nbd reserve the target for the guest.
# Boot 4 is diskless boot as fleets do it, with no aoe= at all: Debian's
# iPXE (ipxe.lkrn, its script on its own command line) runs "sanboot
# aoe:e258.7" against a vblade disk holding extlinux, the kernel and the
# same initramfs; iPXE for BIOS leaves its aBFT (shelf, slot, the NIC's
# MAC) in base memory and the initramfs takes the target and the
# interface from it (aoectl abft).
nbd_test_timeout=600
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/vm-functions.sh"

requires aoe-nbd aoectl nbd-client mke2fs e2fsck debugfs vblade \
    mkinitramfs lsinitramfs extlinux perl
vm_requires
ipxe=
for f in /usr/lib/ipxe/ipxe.lkrn /boot/ipxe.lkrn; do
	[ -r "$f" ] && ipxe=$f && break
done
[ -n "$ipxe" ] || skip_or_fail "no ipxe.lkrn (package ipxe)"
[ -e /dev/loop-control ] || skip_or_fail "no loop devices (for extlinux)"

contrib=$top_srcdir/contrib/initramfs-tools
[ -r "$contrib/hooks/aoe-nbd" ] || fail "no $contrib/hooks/aoe-nbd"
aoe_nbd=$(command -v aoe-nbd)
if vm_sanitized "$aoe_nbd"; then
	say "note: $aoe_nbd is built with ASan: its runtime goes along"
fi

vm_kernel

# ------------------------------------------------------------ initramfs
# /etc/initramfs-tools for this test: the hook and script as a package
# installs them, only the modules the guest needs besides the hook's.
conf=$tmpdir/conf
mkdir -p "$conf/hooks" "$conf/scripts/local-top" "$conf/conf.d"
cat >"$conf/initramfs.conf" <<'EOF'
MODULES=list
BUSYBOX=auto
COMPRESS=gzip
EOF
printf '%s\n' virtio_pci ext4 >"$conf/modules"
cp "$contrib/hooks/aoe-nbd" "$conf/hooks/aoe-nbd"
cp "$contrib/scripts/local-top/aoe-nbd" "$conf/scripts/local-top/aoe-nbd"
chmod 755 "$conf/hooks/aoe-nbd" "$conf/scripts/local-top/aoe-nbd"
# The system's hooks, without aoetools' (it loads the aoe driver and
# configures IP networking on every boot): no aoe module anywhere.
share=$tmpdir/share
cp -a /usr/share/initramfs-tools "$share"
rm -f "$share/hooks/aoe" "$share/scripts/local-top/aoe"

initrd=$tmpdir/initrd.img
AOE_NBD=$aoe_nbd AOECTL=$(command -v aoectl) \
    vm_mkinitramfs "$initrd" "$conf" "$share"

# The image has what the hook promises (lsinitramfs), and no aoe.ko.
env -u LD_PRELOAD lsinitramfs "$initrd" >"$tmpdir/out" 2>"$tmpdir/err" || {
	cat "$tmpdir/err" >&2
	fail "lsinitramfs failed"
}
for f in 'sbin/aoe-nbd' 'sbin/@aoe-nbd' 'sbin/nbd-client' 'sbin/aoectl' \
    'scripts/local-top/aoe-nbd' '/nbd.ko' '/virtio_net.ko' '/ext4.ko'; do
	grep -qE "(^|/)${f#/}(\\.[a-z]+)?\$" "$tmpdir/out" ||
	    fail "initramfs lacks $f"
done
! grep -qE '/aoe\.ko' "$tmpdir/out" || fail "initramfs has aoe.ko"
say "lsinitramfs: aoe-nbd, nbd-client, aoectl, nbd.ko, local-top/aoe-nbd;" \
    "no aoe.ko"

# ------------------------------------------------------------ root image
root=$tmpdir/rootfs
mkdir -p "$root"/bin "$root"/sbin "$root"/etc "$root"/proc "$root"/sys \
    "$root"/dev "$root"/run "$root"/tmp "$root"/var "$root"/root
cp "$vm_busybox" "$root/bin/busybox"
"$vm_busybox" --list-full | while read -r a; do
	case $a in
	*/busybox) continue ;;
	esac
	mkdir -p "$root/$(dirname "$a")"
	[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
rm -f "$root/sbin/init"
id=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$id" >"$root/etc/aoe-root-id"
cat >"$root/sbin/init" <<'EOF'
#!/bin/busybox sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
exec </dev/console >/dev/console 2>&1
[ -e /proc/mounts ] || mount -t proc proc /proc
[ -e /sys/block ] || mount -t sysfs sysfs /sys
echo "AOE-ROOT-INIT-OK $(cat /etc/aoe-root-id)"
echo "AOE-ROOT-MAXKB $(cat /sys/block/nbd0/queue/max_sectors_kb)"
echo "AOE-ROOT-MOUNT $(awk '$2 == "/" { print $1, $3, $4 }' /proc/mounts)"
for p in /proc/[0-9]*; do
	case $(tr '\0' ' ' <$p/cmdline 2>/dev/null) in
	@aoe-nbd*) echo "AOE-ROOT-SERVER ${p#/proc/}"
		echo "AOE-ROOT-OOMADJ $(cat $p/oom_score_adj)"
		d=none
		for a in $(tr '\0' ' ' <$p/cmdline); do
			case $a in --dead-timeout=*) d=${a#*=} ;; esac
		done
		echo "AOE-ROOT-DEAD $d"
		set -- $(tr '\0' ' ' <$p/cmdline)
		while [ $# -gt 0 ]; do
			case $1 in
			-I) i=$2; shift ;;
			e[0-9]*) t=$1 ;;
			esac
			shift
		done
		echo "AOE-ROOT-TARGET $t"
		echo "AOE-ROOT-MAC $(cat /sys/class/net/${i%%,*}/address)" ;;
	esac
done
# iPXE for BIOS leaves the aBFT in base memory (in no ACPI table): the 46
# bytes from the first 16-byte line from 512 KiB on that starts "aBFT".
off=$(dd if=/dev/mem bs=4096 skip=128 count=128 2>/dev/null |
    od -Ad -tx1 -v -w16 |
    awk '$2 == "61" && $3 == "42" && $4 == "46" && $5 == "54" {
	print $1 + 0; exit }')
[ -z "$off" ] || echo "AOE-ROOT-ABFT $(dd if=/dev/mem bs=1 \
    skip=$((524288 + off)) count=46 2>/dev/null | od -An -v -tx1 |
    tr -d ' \n')"
grep -e 'aBFT:' -e 'reserved for' /run/initramfs/aoe-nbd.log |
    sed 's/^/AOE-ROOT-LOG /'
echo "$(cat /etc/aoe-root-id) $(cat /proc/cmdline)" >>/var/boots
sync
mount -o remount,ro /
echo "AOE-ROOT-DONE"
poweroff -f
EOF
chmod 755 "$root/sbin/init"
uuid=$(cat /proc/sys/kernel/random/uuid)
img=$tmpdir/root.img
expect_status 0 mke2fs -q -F -t ext4 -L aoeroot -U "$uuid" -d "$root" \
    "$img" 64M

# ------------------------------------------------------------ AoE on a tap
vm_netns
tap=tap$$
vm_tap "$tap"
lan_ns=$vm_ns
lan_tif=$tap
start_vblade 1 0 "$img"

boot()
{
	local append=$1 n=$2 kb=$3 dead=$4 v

	vm_nic_tap "$tap"
	vm_run -t 120 -n "$vm_ns" -l "$tmpdir/console-$n.log" -i "$initrd" \
	    -a "$append" -- "${vm_nic[@]}"
	tr -d '\r' <"$vm_log" | grep -E 'AOE-ROOT|aoe-nbd|nbd0' || true
	vm_expect "AOE-ROOT-INIT-OK $id"
	vm_expect "AOE-ROOT-MOUNT /dev/nbd0 ext4 rw"
	v=$(vm_console_value AOE-ROOT-MAXKB)
	[ "$v" = "$kb" ] || fail "boot $n: nbd0 max_sectors_kb $v, not $kb"
	vm_expect "AOE-ROOT-SERVER"
	# The root's server is the last process the OOM killer may pick.
	v=$(vm_console_value AOE-ROOT-OOMADJ)
	[ "$v" = -1000 ] || fail "boot $n: aoe-nbd's oom_score_adj $v, not -1000"
	# aoe_dead= becomes --dead-timeout; none (or not a number): none.
	v=$(vm_console_value AOE-ROOT-DEAD)
	[ "$v" = "$dead" ] || fail "boot $n: aoe-nbd's --dead-timeout $v, not $dead"
	vm_expect "AOE-ROOT-DONE"
	say "boot $n: /sbin/init of the AoE root ran ($vm_seconds s)"
}

# By device name and interface name (net.ifnames=0: udev in the
# initramfs keeps eth0; ip=off: nbd-client's own local-top script acts on
# root=/dev/nbd* too and would try DHCP for minutes), then by UUID on
# every Ethernet interface (after an aoe= with @IF: the last aoe= wins
# whole), then by label on the interface with the tap NIC's MAC address,
# written in upper case.
boot "aoe=e1.0@eth0 root=/dev/nbd0 ip=off rw net.ifnames=0" 1 1280 none
boot "aoe=e9.9@eth9 aoe=e1.0 aoe_max_kb=512 aoe_dead=0 root=UUID=$uuid rw" \
    2 512 0
mac_upper=$(printf %s "$vm_mac_tap" | tr a-f A-F)
! tr -d '\r' <"$vm_log" | grep -aq 'reserved for this host' ||
    fail "boot 2: reserved without aoe_reserve="
# aoe_reserve=1: aoe-nbd --reserve holds the root's target for the guest.
boot "aoe=e1.0@$mac_upper aoe_wait=20 aoe_max_kb=0 aoe_dead=3x \
aoe_reserve=1 root=LABEL=aoeroot rw" 3 128 none
vm_expect "@aoe-nbd: e1.0 reserved for this host ($vm_mac_tap)"

# ------------------------------------------------------------ iPXE sanboot
# Boot 4: a disk for iPXE's sanboot, one ext3 file system on the whole
# disk (no partition table) with extlinux's boot sector in its first
# sector, /boot (the kernel, the initramfs) and the same root.  ext3:
# extlinux 6.04 fails to load files that mke2fs -d wrote with extents
# ("Loading /boot/vmlinuz... failed: I/O error").  No aoe= on the kernel
# command line: without the aBFT the initramfs does nothing, and the boot
# fails once initramfs-tools has waited 30 s for the root.
mkdir -p "$root/boot/extlinux"
cp "$vm_vmlinuz" "$root/boot/vmlinuz"
cp "$initrd" "$root/boot/initrd.img"
cat >"$root/boot/extlinux/extlinux.conf" <<'EOF'
DEFAULT abft
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL abft
	LINUX /boot/vmlinuz
	INITRD /boot/initrd.img
	APPEND console=ttyS0 panic=-1 root=LABEL=abftroot rw
EOF
img4=$tmpdir/sanboot.img
size=$(($(du -sm "$root" | cut -f1) + 16))
expect_status 0 mke2fs -q -F -t ext3 -L abftroot -d "$root" "$img4" \
    "${size}M"
mkdir -p "$tmpdir/mnt"
# In a mount namespace of its own: the loop mount cannot outlive it.
expect_status 0 unshare -m --propagation private sh -c '
	mount -o loop "$1" "$2" && extlinux --install "$2/boot/extlinux"
	st=$?
	umount "$2"
	exit $st' extlinux "$img4" "$tmpdir/mnt"
start_vblade 258 7 "$img4"
vblade4_pid=$vblade_pid

vm_nic_tap "$tap"
vm_run -t 240 -n "$vm_ns" -l "$tmpdir/console-4.log" -k "$ipxe" \
    -a 'ifopen net0 && sanboot aoe:e258.7' -- "${vm_nic[@]}"
tr -d '\r' <"$vm_log" | grep -aE 'AOE-ROOT|aoe-nbd|nbd0|SAN' || true
vm_expect "Booting from SAN device"
vm_expect "AOE-ROOT-INIT-OK $id"
vm_expect "AOE-ROOT-MOUNT /dev/nbd0 ext3 rw"
! tr -d '\r' <"$vm_log" | grep -aq 'Command line:.* aoe=' ||
    fail "boot 4: the kernel command line has aoe="
# The target and the interface came from the aBFT.
vm_expect "AOE-ROOT-LOG aoe-nbd: aBFT: e258.7@$vm_mac_tap"
v=$(vm_console_value AOE-ROOT-TARGET)
[ "$v" = e258.7 ] || fail "boot 4: aoe-nbd served '$v', not e258.7"
v=$(vm_console_value AOE-ROOT-MAC)
[ "$v" = "$vm_mac_tap" ] || fail "boot 4: aoe-nbd used the NIC with MAC '$v'"
vm_expect "AOE-ROOT-DONE"
# The table iPXE left, decoded here.
vm_expect "AOE-ROOT-ABFT "
vm_console_value AOE-ROOT-ABFT |
    perl -ne 'chomp; print pack("H*", $_)' >"$tmpdir/abft.bin"
expect_status 0 aoectl abft "$tmpdir/abft.bin"
[ "$(cat "$tmpdir/out")" = "e258.7@$vm_mac_tap" ] ||
    fail "aoectl abft: '$(cat "$tmpdir/out")'"
say "boot 4: iPXE sanboot, aBFT e258.7@$vm_mac_tap, no aoe= ($vm_seconds s)"
stop_vblade "$vblade4_pid"

# ------------------------------------------------------------ host checks
stop_vblade "$vblade_pid"
expect_status 0 e2fsck -fn "$img"
debugfs -R 'cat /var/boots' "$img" >"$tmpdir/boots" 2>/dev/null ||
    fail "debugfs cannot read /var/boots"
cat "$tmpdir/boots"
[ "$(grep -c "^$id " "$tmpdir/boots")" = 3 ] ||
    fail "the guest did not write /var/boots on every boot"
say "PASS"
