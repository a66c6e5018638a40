# SPDX-License-Identifier: GPL-2.0-or-later
# qemu VM kit for the tests that need the Linux kernel as the client or as
# the booting OS, sourced after functions.sh: Debian's kernel package
# fetched once into a shared cache, busybox initramfs images with modules
# and programs (plus their libraries), and a bounded TCG boot whose console
# goes to a log the test greps.  Guest networking is qemu user mode (the
# guest reaches the namespace's 127.0.0.1 at 10.0.2.2) or a tap device,
# always inside a network namespace the test created.

# ------------------------------------------------------------ requirements

# Where the kernel package is kept between tests and runs.
vm_cache=${AOE_VM_CACHE:-}
if [ -z "$vm_cache" ]; then
	if [ "$(id -u)" = 0 ]; then
		vm_cache=/var/cache/aoe-nbd-tests
	else
		vm_cache=$top_builddir/tests/vm-cache
	fi
fi
# Seconds one guest may run before it is killed (vm_run -t overrides).
vm_timeout=${AOE_VM_TIMEOUT:-120}

# Busybox must be the static one: the guest has no libraries of its own.
_vm_busybox()
{
	local b
	for b in /bin/busybox /usr/bin/busybox $(command -v busybox); do
		[ -x "$b" ] || continue
		if env -u LD_PRELOAD ldd "$b" 2>&1 |
		    grep -q 'not a dynamic executable'; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

# vm_requires: everything a VM test needs here; a skip (a failure under
# CI=true) when something is missing.
vm_requires()
{
	requires_root
	requires qemu-system-x86_64 cpio gzip modprobe depmod unshare flock \
	    ldd timeout
	vm_busybox=$(_vm_busybox) ||
	    skip_or_fail "no static busybox (package busybox-static)"
	[ -c /dev/net/tun ] || skip_or_fail "no /dev/net/tun"
}

# vm_sanitized PROG: true when PROG was built with AddressSanitizer.
vm_sanitized()
{
	env -u LD_PRELOAD ldd "$1" 2>/dev/null | grep -q 'libasan'
}

# ------------------------------------------------------------------ kernel

# The kernel package that linux-image-amd64 points at, e.g.
# linux-image-6.1.0-56-amd64 (empty when apt knows none).
_vm_kernel_pkg()
{
	apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# The newest kernel already in the cache (for a machine without apt).
_vm_cached_kver()
{
	local d
	for d in "$vm_cache"/linux-*/.complete; do
		[ -e "$d" ] || continue
		d=${d%/.complete}
		echo "${d##*/linux-}"
	done | sort -V | tail -n 1
}

# Fetch and unpack linux-image-VERSION into $vm_cache/linux-VERSION,
# under the cache lock; older unpacked kernels are removed.
_vm_fetch_kernel()
{
	local pkg=$1 kver=${1#linux-image-} dir work deb

	dir=$vm_cache/linux-$kver
	[ -e "$dir/.complete" ] && return 0
	work=$(mktemp -d "$vm_cache/fetch.XXXXXX") || return 1
	say "fetching $pkg into $vm_cache (once)"
	if ! (cd "$work" && apt-get download -q \
	    -o APT::Sandbox::User=root "$pkg") >"$work/log" 2>&1; then
		cat "$work/log" >&2
		rm -rf "$work"
		return 1
	fi
	deb=$(ls "$work"/*.deb)
	rm -rf "$dir"
	if ! dpkg -x "$deb" "$work/root" ||
	    ! depmod -b "$work/root" "$kver"; then
		rm -rf "$work"
		return 1
	fi
	mv "$work/root" "$dir"
	rm -rf "$work"
	touch "$dir/.complete"
	find "$vm_cache" -mindepth 1 -maxdepth 1 -name 'linux-*' \
	    ! -name "linux-$kver" -exec rm -rf {} + 2>/dev/null || true
}

# vm_kernel: make sure Debian's current kernel is unpacked in the cache;
# sets vm_kver (6.1.0-56-amd64), vm_kroot (the unpacked tree, usable as
# modprobe -d / depmod -b), vm_vmlinuz and vm_moddir.
vm_kernel()
{
	local pkg kver

	mkdir -p "$vm_cache" || fail "cannot create $vm_cache"
	exec 8>"$vm_cache/lock"
	flock -w 600 8 || fail "cannot lock $vm_cache/lock"
	pkg=$(_vm_kernel_pkg)
	if [ -z "$pkg" ] && [ -z "$(_vm_cached_kver)" ]; then
		say "apt knows no linux-image: apt-get update"
		apt-get update -q >"$tmpdir/apt-update.log" 2>&1 ||
		    cat "$tmpdir/apt-update.log" >&2
		pkg=$(_vm_kernel_pkg)
	fi
	if [ -n "$pkg" ] && ! _vm_fetch_kernel "$pkg"; then
		say "cannot fetch $pkg"
		pkg=
	fi
	if [ -n "$pkg" ]; then
		kver=${pkg#linux-image-}
	else
		kver=$(_vm_cached_kver)
	fi
	exec 8>&-
	[ -n "$kver" ] || skip_or_fail "no Debian kernel package" \
	    "(apt-get download linux-image-... failed)"
	vm_kver=$kver
	vm_kroot=$vm_cache/linux-$kver
	vm_vmlinuz=$vm_kroot/boot/vmlinuz-$kver
	vm_moddir=$vm_kroot/lib/modules/$kver
	[ -r "$vm_vmlinuz" ] && [ -r "$vm_moddir/modules.dep" ] ||
	    fail "incomplete kernel in $vm_kroot"
	say "kernel $vm_kver ($vm_vmlinuz)"
}

# ------------------------------------------------------------------ initramfs

# vm_initramfs_begin DIR: a fresh initramfs tree in DIR with the static
# busybox (every applet linked), the kit's /init and the guest helpers
# /etc/vm-lib.sh.  The test adds modules, programs and its /vm-test script,
# then packs it with vm_initramfs.
vm_initramfs_begin()
{
	local d=$1 a

	vm_root=$d
	rm -rf "$d"
	mkdir -p "$d"/bin "$d"/sbin "$d"/usr/bin "$d"/usr/sbin "$d"/etc \
	    "$d"/proc "$d"/sys "$d"/dev "$d"/run "$d"/tmp "$d"/mnt \
	    "$d"/lib/modules "$d"/root
	cp "$vm_busybox" "$d/bin/busybox"
	# Links for every applet, but never over busybox itself (ELOOP).
	"$vm_busybox" --list-full | while read -r a; do
		case $a in
		*/busybox) continue ;;
		esac
		[ -e "$d/$a" ] || [ -L "$d/$a" ] ||
		    ln -s /bin/busybox "$d/$a"
	done
	: >"$d/etc/vm-modules"
	_vm_guest_init >"$d/init"
	chmod 755 "$d/init"
	_vm_guest_lib >"$d/etc/vm-lib.sh"
	[ -r /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$d/etc/"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$d/etc/passwd"
	echo 'root:x:0:' >"$d/etc/group"
	return 0
}

# vm_add_modules MOD...: MOD and its dependencies (softdeps included)
# from the kernel package, appended in load order to /etc/vm-modules;
# built-in ones are skipped.
vm_add_modules()
{
	local m kind ko opts rel

	for m in "$@"; do
		modprobe -d "$vm_kroot" -S "$vm_kver" --show-depends "$m" \
		    >"$tmpdir/vm-moddeps" 2>&1 ||
		    fail "module $m: $(cat "$tmpdir/vm-moddeps")"
		while read -r kind ko opts; do
			[ "$kind" = insmod ] || continue
			rel=${ko#"$vm_kroot"}
			grep -q "^$rel\( \|\$\)" "$vm_root/etc/vm-modules" &&
			    continue
			mkdir -p "$vm_root${rel%/*}"
			cp "$ko" "$vm_root$rel"
			echo "$rel $opts" >>"$vm_root/etc/vm-modules"
		done <"$tmpdir/vm-moddeps"
	done
}

# Copy FILE (following links) to the same path in the tree.
_vm_copy_same()
{
	[ -e "$vm_root$1" ] && return 0
	mkdir -p "$vm_root$(dirname "$1")"
	cp -L "$1" "$vm_root$1"
}

# vm_add_prog PROG [DEST]: an executable (a name in PATH or a path) and
# every library ldd lists (the ASan runtime of a sanitized build too).
# DEST defaults to the program's own path, or /usr/sbin/NAME for a
# program of the build tree.  Guest scripts call it by its full path:
# busybox's shell runs its own applet of the same name (mke2fs, ip ...)
# whatever PATH says.
vm_add_prog()
{
	local src=$1 dest=${2:-} lib

	case $src in
	*/*) ;;
	*) src=$(command -v "$src") || fail "vm_add_prog: $1 not found" ;;
	esac
	[ -x "$src" ] || fail "vm_add_prog: $src is not executable"
	if [ -z "$dest" ]; then
		case $src in
		"$top_builddir"/*) dest=/usr/sbin/${src##*/} ;;
		*) dest=$src ;;
		esac
	fi
	mkdir -p "$vm_root$(dirname "$dest")"
	rm -f "$vm_root$dest"
	cp -L "$src" "$vm_root$dest"
	env -u LD_PRELOAD ldd "$src" >"$tmpdir/vm-ldd" 2>&1 || true
	for lib in $(sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' \
	    -e 's/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' "$tmpdir/vm-ldd"); do
		_vm_copy_same "$lib"
	done
}

# vm_add_file SRC DEST [MODE]
vm_add_file()
{
	mkdir -p "$vm_root$(dirname "$2")"
	cp -L "$1" "$vm_root$2"
	[ -z "${3:-}" ] || chmod "$3" "$vm_root$2"
}

# vm_initramfs DIR OUT: pack DIR as a gzip'd newc cpio.
vm_initramfs()
{
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
	    cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$2" ||
	    fail "cannot pack $1 into $2"
	say "initramfs $(basename "$2"): $(du -k "$2" | cut -f1) KiB"
}

# The guest's /init: mounts, modules, then /vm-test; prints
# "VM-TEST-EXIT N" and powers off.
_vm_guest_init()
{
	cat <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
echo "VM-INIT: kernel $(uname -r)"
while read -r ko opts; do
	[ -n "$ko" ] || continue
	insmod "$ko" $opts || echo "VM-INIT: insmod $ko failed"
done </etc/vm-modules
ip link set lo up
st=127
if [ -r /vm-test ]; then
	/bin/sh /vm-test
	st=$?
fi
echo "VM-TEST-EXIT $st"
sync
poweroff -f
EOF
}

# Helpers for the guest's /vm-test (source /etc/vm-lib.sh).
_vm_guest_lib()
{
	cat <<'EOF'
# vm_arg KEY: the value of KEY= on the kernel command line.
vm_arg()
{
	local x
	for x in $(cat /proc/cmdline); do
		case $x in
		"$1"=*) echo "${x#*=}"; return 0 ;;
		esac
	done
	return 1
}

# vm_iface MAC: the interface that has MAC.
vm_iface()
{
	local f
	for f in /sys/class/net/*/address; do
		if [ "$(cat "$f")" = "$1" ]; then
			f=${f%/address}
			echo "${f##*/}"
			return 0
		fi
	done
	return 1
}

# vm_net_user: the qemu user-mode NIC (MAC 52:54:00:a0:e0:01) up as
# 10.0.2.15/24, default route via 10.0.2.2 (the host's 127.0.0.1).
vm_net_user()
{
	local i n=0
	until i=$(vm_iface 52:54:00:a0:e0:01); do
		n=$((n + 1))
		[ $n -lt 50 ] || { echo "VM-FAIL: no user-mode NIC"; return 1; }
		sleep 0.1
	done
	ip link set "$i" up &&
	ip addr add 10.0.2.15/24 dev "$i" &&
	ip route add default via 10.0.2.2
}

# step DESCRIPTION CMD...: run CMD; on failure print VM-FAIL and exit 1.
step()
{
	local what=$1 st=0
	shift
	echo "VM-STEP: $what"
	"$@" || st=$?
	if [ $st != 0 ]; then
		echo "VM-FAIL: $what (status $st)"
		exit 1
	fi
}
EOF
}

# vm_mkinitramfs OUT CONFDIR [SHAREDIR]: the system's mkinitramfs, run
# for the cached kernel with CONFDIR in place of /etc/initramfs-tools and
# SHAREDIR (if given) in place of /usr/share/initramfs-tools.  mkinitramfs
# reads modules from /lib/modules/VERSION and the kernel config from
# /boot only: a private mount namespace shows the cached kernel there
# (over a tmpfs, or an overlay when the host has no /lib/modules); the
# host's own files are not touched.
vm_mkinitramfs()
{
	local out=$1 conf=$2 share=${3:-} ov=$tmpdir/vm-overlay

	requires mkinitramfs
	mkdir -p "$ov/upper" "$ov/work"
	rm -f "$out"
	# shellcheck disable=SC2016
	env -u LD_PRELOAD -u GLIBC_TUNABLES TMPDIR="$tmpdir" \
	    unshare -m --propagation private bash -c '
	set -e
	kroot=$1 kver=$2 out=$3 conf=$4 share=$5 ov=$6
	if [ -d /lib/modules ]; then
		mount -t tmpfs tmpfs /lib/modules
	else
		l=$(readlink -f /lib)
		mount -t overlay overlay \
		    -o "lowerdir=$l,upperdir=$ov/upper,workdir=$ov/work" "$l"
	fi
	mkdir -p "/lib/modules/$kver"
	mount --bind "$kroot/lib/modules/$kver" "/lib/modules/$kver"
	# The kernel config (compression support is checked there).
	[ -d /boot ] && mount --bind "$kroot/boot" /boot
	[ -z "$share" ] || mount --bind "$share" /usr/share/initramfs-tools
	mkinitramfs -d "$conf" -o "$out" "$kver"
	' vm-mkinitramfs "$vm_kroot" "$vm_kver" "$out" "$conf" "$share" "$ov" \
	    >"$tmpdir/mkinitramfs.log" 2>&1 || {
		cat "$tmpdir/mkinitramfs.log" >&2
		fail "mkinitramfs failed"
	}
	say "mkinitramfs $(basename "$out"): $(du -k "$out" | cut -f1) KiB"
}

# ------------------------------------------------------------------ running

# The MACs the guest helpers know: user-mode NIC and tap NIC.
vm_mac_user=52:54:00:a0:e0:01
vm_mac_tap=52:54:00:a0:e0:02

# vm_run [-t SECS] [-n NETNS] [-l LOG] -i INITRD -a APPEND [-- QEMU_ARGS]:
# boot the cached kernel under TCG, console (ttyS0) to LOG (default
# $tmpdir/vm-console.log, also $vm_log); returns when the guest powers
# off.  Fails on a timeout or when qemu itself fails.  With -n, qemu runs
# in that network namespace (tap devices, and user-mode networking that
# reaches that namespace's loopback).
# vm_run -k KERNEL [-i INITRD] -a APPEND ...: boot KERNEL (ipxe.lkrn)
# instead, APPEND as it is (no console= added).
# QEMU_ARGS add NICs: see vm_nic_user, vm_nic_tap.
vm_run()
{
	local secs=$vm_timeout ns='' initrd='' append='' st=0 start
	local kernel='' cmdline
	local -a pre=() ird=()

	vm_log=$tmpdir/vm-console.log
	while [ $# -gt 0 ]; do
		case $1 in
		-t) secs=$2; shift 2 ;;
		-n) ns=$2; shift 2 ;;
		-l) vm_log=$2; shift 2 ;;
		-i) initrd=$2; shift 2 ;;
		-a) append=$2; shift 2 ;;
		-k) kernel=$2; shift 2 ;;
		--) shift; break ;;
		*) fail "vm_run: unknown option $1" ;;
		esac
	done
	if [ -n "$kernel" ]; then
		cmdline=$append
	else
		[ -n "$initrd" ] || fail "vm_run: no -i INITRD"
		kernel=$vm_vmlinuz
		cmdline="console=ttyS0 panic=-1 $append"
	fi
	[ -z "$initrd" ] || ird=(-initrd "$initrd")
	[ -z "$ns" ] || pre=(ip netns exec "$ns")
	: >"$vm_log"
	say "booting: $append"
	start=$SECONDS
	# Not with the test suite's malloc debugging: qemu is not under test.
	env -u LD_PRELOAD -u GLIBC_TUNABLES \
	    timeout -k 5 "$secs" "${pre[@]}" qemu-system-x86_64 \
	    -no-user-config -nodefaults -accel tcg -cpu max -m 1G -smp 2 \
	    -nographic -monitor none -serial "file:$vm_log" -no-reboot \
	    -kernel "$kernel" "${ird[@]}" -append "$cmdline" \
	    "$@" </dev/null >"$vm_log.qemu" 2>&1 || st=$?
	vm_seconds=$((SECONDS - start))
	if [ "$st" = 124 ] || [ "$st" = 137 ]; then
		vm_show_log 60
		fail "guest did not power off within $secs s"
	fi
	if [ "$st" != 0 ]; then
		cat "$vm_log.qemu" >&2
		vm_show_log 60
		fail "qemu exited with status $st"
	fi
	say "guest powered off after $vm_seconds s"
}

# vm_nic_user / vm_nic_tap TAP: set the array vm_nic to the qemu
# arguments of that NIC (romfile= : no iPXE option ROM to run).
vm_nic_user()
{
	vm_nic=(-netdev "user,id=nu"
	    -device "virtio-net-pci,netdev=nu,mac=$vm_mac_user,romfile=")
}

vm_nic_tap()
{
	vm_nic=(-netdev "tap,id=nt,ifname=$1,script=no,downscript=no"
	    -device "virtio-net-pci,netdev=nt,mac=$vm_mac_tap,romfile=")
}

# vm_show_log [N]: the last N (default 60) console lines, on stderr.
vm_show_log()
{
	{
		echo "---- guest console (last ${1:-60} lines of $vm_log)"
		tail -n "${1:-60}" "$vm_log" | tr -d '\r'
		echo "----"
	} >&2
}

# vm_expect STR: fail unless the console log has the fixed string STR.
vm_expect()
{
	if ! tr -d '\r' <"$vm_log" | grep -qF -- "$1"; then
		vm_show_log 60
		fail "guest console lacks '$1'"
	fi
}

# vm_console_value KEY: the rest of the last console line "KEY VALUE".
vm_console_value()
{
	tr -d '\r' <"$vm_log" |
	    awk -v k="$1" '$1 == k { v = $2 } END { print v }'
}

# ------------------------------------------------------------------ netns

# vm_netns: a network namespace private to this test (lo up), in $vm_ns.
vm_netns()
{
	vm_ns=aoevm-$test_short-$$
	new_netns "$vm_ns"
}

# vm_tap NAME: a tap device NAME inside $vm_ns, up, without IPv6.
vm_tap()
{
	ip -n "$vm_ns" tuntap add "$1" mode tap ||
	    fail "ip tuntap add $1 failed"
	no_ipv6 "$vm_ns" "$1"
	ip -n "$vm_ns" link set "$1" up
}
