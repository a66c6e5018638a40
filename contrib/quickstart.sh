#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Quick start on a fresh Debian 12, as root: install what building and
# testing need, build, then either run a demo on a private veth LAN
# (`demo`) or run the whole test suite twice, plain and with sanitizers,
# then make distcheck (`test`, what CI runs).  Needs no terminal.
#
#   bash contrib/quickstart.sh demo
#   bash contrib/quickstart.sh test
#
# QUICKSTART_SKIP_APT=1 skips the package installation.

set -euo pipefail

usage()
{
	echo "usage: bash contrib/quickstart.sh demo|test" >&2
	exit 2
}

[ $# = 1 ] || usage
mode=$1
case $mode in
demo | test) ;;
*) usage ;;
esac

if [ "$(id -u)" != 0 ]; then
	echo "quickstart: run as root (it installs packages, creates veth" \
	    "pairs and network namespaces)" >&2
	exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# No terminal in CI: nothing may wait for input.
exec </dev/null
export DEBIAN_FRONTEND=noninteractive
jobs=$(nproc 2>/dev/null || echo 2)

step()
{
	printf '\n==> %s\n' "$*"
}

packages=(
	autoconf automake libtool pkg-config gcc libc6-dev make
	libpcap-dev libfuse3-dev fuse3
	libnbd-dev libnbd-bin python3 python3-libnbd nbdkit nbd-client
	qemu-utils libcriterion-dev
	vblade iproute2 nftables tcpdump tshark mandoc
	e2fsprogs util-linux gzip libcap2-bin systemd bash-completion
	procps man-db
	qemu-system-x86 busybox-static cpio kmod initramfs-tools-core
	ipxe extlinux
	clang libclang-rt-14-dev
	libgnutls28-dev gnutls-bin valgrind fio
)

install_packages()
{
	if [ "${QUICKSTART_SKIP_APT:-}" = 1 ]; then
		step "skipping package installation (QUICKSTART_SKIP_APT=1)"
		return
	fi
	command -v apt-get >/dev/null || {
		echo "quickstart: apt-get not found: this script is for" \
		    "Debian 12 (install the packages listed in README.md)" >&2
		exit 1
	}
	step "installing packages"
	# tshark asks whether non-root users may capture: answer no, quietly.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
	    debconf-set-selections
	apt-get update -q
	apt-get install -y -q -o Dpkg::Options::=--force-confdef \
	    -o Dpkg::Options::=--force-confold "${packages[@]}"
}

# build DIR CONFIGURE-ARGS...: an out-of-tree build under build/.
build()
{
	local dir=$1
	shift
	step "building in $dir${*:+ (configure $*)}"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -j"$jobs")
}

bootstrap()
{
	if [ -f config.status ]; then
		echo "quickstart: the source tree is configured in place;" \
		    "run 'make distclean' first (builds go to build/)" >&2
		exit 1
	fi
	step "autogen.sh"
	./autogen.sh
}

# ------------------------------------------------------------------ demo

demo_cleanup()
{
	set +e
	[ -n "${fuse_file:-}" ] && mountpoint -q "$fuse_file" 2>/dev/null &&
	    fusermount3 -u "$fuse_file"
	[ -n "${nbd_pid:-}" ] && kill "$nbd_pid" 2>/dev/null &&
	    wait "$nbd_pid" 2>/dev/null
	[ -n "${vblade_pid:-}" ] && kill "$vblade_pid" 2>/dev/null &&
	    wait "$vblade_pid" 2>/dev/null
	[ -n "${ifi:-}" ] && ip link del "$ifi" 2>/dev/null
	[ -n "${ns:-}" ] && ip netns del "$ns" 2>/dev/null
	[ -n "${scratch:-}" ] && rm -rf "$scratch"
}

run_demo()
{
	local aoectl=$top/build/demo/src/aoectl i
	local aoenbd=$top/build/demo/src/aoe-nbd
	local aoefuse=$top/build/demo/src/aoe-fuse

	ifi=qsi$$
	ift=qst$$
	ns=aoe-demo-$$
	trap demo_cleanup EXIT
	trap 'exit 130' INT TERM

	step "a private AoE LAN: $ifi <-> $ift (in network namespace $ns)"
	ip netns add "$ns"
	ip link add "$ifi" type veth peer name "$ift" netns "$ns"
	ip link set "$ifi" up
	ip -n "$ns" link set "$ift" up

	scratch=$(mktemp -d /tmp/aoe-demo.XXXXXX)
	truncate -s 256M "$scratch/disk.img"
	step "vblade serves a 256 MiB sparse image as e1.0 on $ift"
	ip netns exec "$ns" vblade -b 64 1 0 "$ift" "$scratch/disk.img" \
	    >"$scratch/vblade.log" 2>&1 &
	vblade_pid=$!
	for i in $(seq 50); do
		grep -q '^pid ' "$scratch/vblade.log" && break
		kill -0 "$vblade_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$scratch/vblade.log"

	step "aoectl -I $ifi stat"
	"$aoectl" -I "$ifi" stat
	step "aoectl -I $ifi stat -l"
	"$aoectl" -I "$ifi" stat -l
	step "aoectl -I $ifi config e1.0 set 'quickstart demo'; config e1.0"
	"$aoectl" -I "$ifi" config e1.0 set "quickstart demo"
	"$aoectl" -I "$ifi" config e1.0

	# The main job: the AoE disk as an NBD export, for any NBD client.
	local sock=$scratch/nbd.sock uri
	step "aoe-nbd -I $ifi -U $sock e1.0 (NBD server, in the background)"
	"$aoenbd" -I "$ifi" -U "$sock" -P "$scratch/nbd.pid" -f e1.0 &
	nbd_pid=$!
	for i in $(seq 100); do
		[ -s "$scratch/nbd.pid" ] && break
		kill -0 "$nbd_pid" 2>/dev/null || break
		sleep 0.1
	done
	uri="nbd+unix:///e1.0?socket=$sock"
	step "nbdinfo '$uri'"
	nbdinfo "$uri"
	step "nbdcopy 64 MiB of random data into the export and back"
	head -c 64M /dev/urandom >"$scratch/random.img"
	truncate -s 256M "$scratch/random.img"
	nbdcopy "$scratch/random.img" "$uri"
	nbdcopy "$uri" "$scratch/back.img"
	cmp "$scratch/random.img" "$scratch/back.img" &&
	    echo "read back through NBD: identical"
	cmp "$scratch/random.img" "$scratch/disk.img" &&
	    echo "vblade's backing file: identical"
	step "qemu-img compare (through aoe-nbd)"
	qemu-img compare -f raw -F raw "$scratch/random.img" "$uri"
	kill "$nbd_pid"
	wait "$nbd_pid" || true
	nbd_pid=

	# The same disk as a file: mkfs and a loop mount, no kernel AoE or NBD.
	fuse_file=$scratch/e1.0.img
	: >"$fuse_file"
	step "aoe-fuse -I $ifi e1.0 $fuse_file (the disk as a file)"
	"$aoefuse" -I "$ifi" e1.0 "$fuse_file"
	ls -l "$fuse_file"
	step "mkfs.ext4 on the file, mount -o loop, write, umount, e2fsck"
	mkfs.ext4 -q -F "$fuse_file"
	mkdir -p "$scratch/mnt"
	mount -o loop "$fuse_file" "$scratch/mnt"
	echo "hello from a file system on an AoE disk" >"$scratch/mnt/hello.txt"
	cat "$scratch/mnt/hello.txt"
	umount "$scratch/mnt"
	e2fsck -fn "$fuse_file"
	fusermount3 -u "$fuse_file"
	fuse_file=
	step "done: everything is cleaned up on exit"
}

# ------------------------------------------------------------------ test

# check DIR: make check; print the logs of failures.
check()
{
	local dir=$1
	step "make check in $dir"
	if (cd "$dir" && make -j"$jobs" check); then
		return 0
	fi
	echo "==> make check FAILED in $dir; test-suite.log follows" >&2
	cat "$dir/test-suite.log" >&2 || true
	return 1
}

# digest DIR: for each failed test, its FAIL lines and the end of its log
# (the suite's log can be too long to read whole in a CI report).
digest()
{
	local trs log
	for trs in "$1"/tests/*.trs; do
		[ -f "$trs" ] || continue
		grep -qE '^:test-result: (FAIL|ERROR)' "$trs" || continue
		log=${trs%.trs}.log
		echo "==> $log: FAIL lines, then its last 60 lines"
		grep -E 'FAIL|ERROR|Sanitizer|runtime error|timed out' "$log" |
		    head -n 20 || true
		echo "----"
		tail -n 60 "$log" || true
	done
}

run_test()
{
	local failed=() dir

	build build/plain --enable-werror
	check build/plain || failed+=(plain)
	build build/asan --enable-werror --enable-sanitizers
	check build/asan || failed+=(asan)
	# The release tarball builds, passes the suite, installs, uninstalls.
	step "make distcheck in build/plain"
	(cd build/plain && make distcheck) || failed+=(distcheck)
	if [ ${#failed[@]} -gt 0 ]; then
		digest build/plain >&2
		digest build/asan >&2
		# distcheck's own build of the tarball, left when it failed.
		for dir in build/plain/aoe-nbd-*/_build/sub; do
			digest "$dir" >&2
		done
		step "FAILED: ${failed[*]}"
		exit 1
	fi
	step "all tests passed, plain and with sanitizers"
}

install_packages
bootstrap
case $mode in
demo)
	build build/demo
	run_demo
	;;
test)
	run_test
	;;
esac
