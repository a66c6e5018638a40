#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completions in contrib/bash-completion: COMP_WORDS/COMP_CWORD
# set as bash splits a command line (COMP_WORDBREAKS '=' and ':' too),
# the registered function called, COMPREPLY compared.  Commands and
# subcommands, options and their values, interface names for -I (as root:
# in a private network namespace holding known interfaces), files and
# directories; the long options offered equal those each program's --help
# lists; then the installed layout (aoe-stat, aoecfg symlinks) loaded on
# demand by bash-completion.

# As root, run in a network namespace of our own: its /sys/class/net
# holds exactly the interfaces made here.
if [ "$(id -u)" = 0 ] && [ -z "${AOE_COMP_NETNS:-}" ] &&
    command -v ip >/dev/null 2>&1; then
	export AOE_COMP_NETNS=aoet-completion-$$
	ip netns add "$AOE_COMP_NETNS" || exit 1
	trap 'ip netns del "$AOE_COMP_NETNS"' EXIT
	trap 'exit 143' INT TERM
	st=0
	ip netns exec "$AOE_COMP_NETNS" bash "$0" "$@" || st=$?
	exit "$st"
fi
. "$(dirname "$0")/functions.sh"

comp_dir=$top_srcdir/contrib/bash-completion
for f in aoectl aoe-nbd aoe-fuse; do
	[ -f "$comp_dir/$f" ] || fail "$comp_dir/$f missing"
	bash -n "$comp_dir/$f" || fail "$f: syntax error"
done

ifs_known=
if [ -n "${AOE_COMP_NETNS:-}" ]; then
	# Two Ethernet interfaces; lo and a tun device must not be offered.
	ip link add cmp-e0 type veth peer name cmp-e1 ||
	    fail "ip link add (in netns $AOE_COMP_NETNS) failed"
	ip tuntap add cmp-tun0 mode tun 2>/dev/null ||
	    say "note: no tun device to check that non-Ethernet is left out"
	ifs_known=yes
	say "interfaces here: $(ls /sys/class/net | tr '\n' ' ')"
else
	say "note: not root: interface names are not checked"
fi

files=$tmpdir/f
mkdir -p "$files/sock.d" "$files/mnt"
: >"$files/socket-file"
: >"$files/disk.img"

# comp LINE: complete at the end of LINE the way bash does; prints the
# sorted COMPREPLY joined by spaces.
comp()
{
	local - line=$1 w func ws=() words=()
	set +e
	read -ra ws <<<"$line"
	for w in "${ws[@]}"; do
		while [[ $w =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
			[[ -z ${BASH_REMATCH[1]} ]] ||
			    words+=("${BASH_REMATCH[1]}")
			words+=("${BASH_REMATCH[2]}")
			w=${BASH_REMATCH[3]}
		done
		[[ -n $w ]] && words+=("$w")
	done
	[[ $line == *[[:space:]] ]] && words+=("")
	COMP_WORDS=("${words[@]}")
	COMP_CWORD=$((${#words[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	func=$(complete -p "${words[0]}" 2>/dev/null |
	    sed -n 's/.* -F \([^ ]*\) .*/\1/p')
	[[ -n $func ]] || {
		echo "NO-COMPLETION-FOR-${words[0]}"
		return
	}
	COMPREPLY=()
	"$func" "${words[0]}" "${words[COMP_CWORD]}" \
	    "${words[COMP_CWORD - 1]}"
	((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}" |
	    LC_ALL=C sort | paste -sd ' ' -
}

# sorted WORD...: the WORDs sorted, joined by spaces (as comp prints).
sorted()
{
	printf '%s\n' "$@" | LC_ALL=C sort | paste -sd ' ' -
}

ncheck=0
# expect LINE WANT: the completions at the end of LINE are WANT.
expect()
{
	local got
	got=$(comp "$1")
	ncheck=$((ncheck + 1))
	if [ "$got" != "$2" ]; then
		printf '  line: %s\n  want: %s\n  got:  %s\n' \
		    "$1" "$2" "$got" >&2
		fail "completion of '$1'"
	fi
}

checks()
{
	local e0='' e1=''
	[ -z "$ifs_known" ] || { e0=cmp-e0; e1=cmp-e1; }

	# aoectl: commands, subcommands, options, skipping option values
	expect "aoectl " "abft check config mask reserve stat"
	expect "aoectl s" "stat"
	expect "aoectl a" "abft"
	expect "aoectl ch" "check"
	expect "aoectl -w 5 -v re" "reserve"
	expect "aoectl --wait=5 m" "mask"
	expect "aoectl config e1.0 " "fset prefix read set test"
	expect "aoectl mask 1.0 " "add del edit read"
	expect "aoectl reserve e1.0 rel" "release"
	expect "aoectl reserve e1.0 fr" "frelease"
	expect "aoectl -I x config e1.0 t" "test"
	expect "aoectl config -I x e1.0 p" "prefix"
	expect "aoectl -- config e1.0 " "fset prefix read set test"
	expect "aoectl stat " ""
	expect "aoectl config e1.0 set " ""
	# A config string or a mask edit directive may start with '-'.
	expect "aoectl config e1.0 set -" ""
	expect "aoectl mask e1.0 edit +02:00:00:00:00:01 -" ""
	# A MAC is split at ':' by bash: still one operand.
	expect "aoectl mask e1.0 add 02:00:00:00:00:01 " ""
	expect "aoectl --j" "--json"
	expect "aoectl --l" "--long"
	expect "aoectl --back" "--backend="
	expect "aoectl --backend=" "packet pcap"
	expect "aoectl --backend=pc" "pcap"
	expect "aoectl --backend p" "packet pcap"
	expect "aoectl --dead" "--dead-timeout="
	expect "aoectl --max-" "--max-sectors= --max-window="
	expect "aoectl --bu" "--busy-poll="
	expect "aoectl --busy-poll " ""
	expect "aoectl -w " ""
	expect "aoectl --trace $files/disk" "$files/disk.img"
	expect "aoectl abft $files/disk" "$files/disk.img"
	expect "aoectl abft $files/disk.img " ""
	expect "aoectl --trace=$files/sock" "$files/sock.d $files/socket-file"

	# aoe-stat and aoecfg: the same function, by argv[0]
	expect "aoe-stat -" "$(sorted $(comp 'aoectl -') -a)"
	expect "aoe-stat " ""
	expect "aoecfg -c " "fset prefix read set test"
	expect "aoecfg -c r" "read"
	expect "aoecfg -s " ""
	# aoecfg has -c -s -t and no stat output options.
	expect "aoecfg -t 3 -" "$(sorted $(comp 'aoectl -' |
	    sed 's/--long //; s/--json //; s/ -l / /') -c -s -t)"

	# aoe-nbd
	expect "aoe-nbd --ru" "--run="
	expect "aoe-nbd --exp" "--exportname="
	expect "aoe-nbd --read" "--readonly"
	expect "aoe-nbd --bu" "--busy-poll="
	expect "aoe-nbd -U $files/sock" "$files/sock.d $files/socket-file"
	expect "aoe-nbd --unix=$files/sock" "$files/sock.d $files/socket-file"
	expect "aoe-nbd -f -P $files/d" "$files/disk.img"
	expect "aoe-nbd --pidfile $files/d" "$files/disk.img"
	expect "aoe-nbd -i " "0.0.0.0 127.0.0.1 :: ::1"
	expect "aoe-nbd -p " ""
	expect "aoe-nbd --run=nbdinf" "nbdinfo"
	expect "aoe-nbd -p 10809 " ""
	expect "aoe-nbd --backend " "packet pcap"

	# aoe-fuse
	expect "aoe-fuse $files/" "$files/mnt $files/sock.d"
	expect "aoe-fuse -f -o ro $files/m" "$files/mnt"
	expect "aoe-fuse e1.0 $files/d" "$files/disk.img"
	expect "aoe-fuse e1.0 $files/disk.img " ""
	expect "aoe-fuse -o al" "allow_other"
	expect "aoe-fuse -o ro,al" "ro,allow_other"
	expect "aoe-fuse -o default_permissions,max_b" \
	    "default_permissions,max_background="
	expect "aoe-fuse -o ro,read" "ro,read_ahead_kb="
	expect "aoe-fuse --pid" "--pidfile="
	expect "aoe-fuse --bu" "--busy-poll="
	expect "aoe-fuse --pidfile=$files/dis" "$files/disk.img"
	expect "aoe-fuse --rea" "--read-only"
	expect "aoe-fuse --res" "--reserve"
	expect "aoe-fuse -o ro,res" "ro,reserve"

	# Interface names for -I (only Ethernet, never lo)
	if [ -n "$ifs_known" ]; then
		expect "aoectl -I " "$e0 $e1"
		expect "aoectl -I cmp-e" "$e0 $e1"
		expect "aoectl -vI cmp-e" "$e0 $e1"
		expect "aoectl --interface=" "$e0 $e1"
		expect "aoectl --interface=cmp-e1" "$e1"
		expect "aoectl --interface cmp-e0,cmp-" "$e0,$e0 $e0,$e1"
		expect "aoectl -I cmp-e0 -w 1 config e1.0 " \
		    "fset prefix read set test"
		expect "aoecfg 1 0 " "$e0 $e1"
		expect "aoecfg " "$e0 $e1"
		expect "aoecfg 1 " ""
		expect "aoe-nbd -I " "$e0 $e1"
		expect "aoe-nbd --interface=cmp-e0,c" "$e0,$e0 $e0,$e1"
		expect "aoe-fuse -I " "$e0 $e1"
		expect "aoe-fuse -rI " "$e0 $e1"
	fi
}

# The long options a program's --help names, against those offered.
same_options()
{
	local prog=$1 from_help offered
	if ! command -v "$prog" >/dev/null 2>&1; then
		[ "${CI:-}" != true ] || fail "$prog not built"
		say "note: $prog not built: its options are not compared"
		return 0
	fi
	from_help=$("$prog" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' |
	    LC_ALL=C sort -u | paste -sd ' ' -)
	offered=$(comp "$prog --" | tr ' ' '\n' | sed 's/=$//' |
	    LC_ALL=C sort -u | paste -sd ' ' -)
	[ "$from_help" = "$offered" ] || {
		printf '  --help:    %s\n  completed: %s\n' "$from_help" \
		    "$offered" >&2
		fail "$prog: completion and --help name different options"
	}
	say "$prog: the $(wc -w <<<"$offered") long options of --help"
}

# ------------------------------------------------- sourced directly
say "plain bash $BASH_VERSION, completions sourced from $comp_dir"
. "$comp_dir/aoectl"
. "$comp_dir/aoe-nbd"
. "$comp_dir/aoe-fuse"
checks
same_options aoectl
same_options aoe-nbd
same_options aoe-fuse
say "$ncheck completions as expected"

# --------------------------------- installed layout, bash-completion
bc=
for f in /usr/share/bash-completion/bash_completion \
    /etc/bash_completion; do
	[ -r "$f" ] && { bc=$f; break; }
done
if [ -z "$bc" ]; then
	say "note: bash-completion not installed: on-demand loading not checked"
	say "ok"
	exit 0
fi

# What make install puts in completionsdir: three files, two symlinks.
inst=$tmpdir/user/completions
mkdir -p "$inst"
cp "$comp_dir/aoectl" "$comp_dir/aoe-nbd" "$comp_dir/aoe-fuse" "$inst/"
ln -s aoectl "$inst/aoe-stat"
ln -s aoectl "$inst/aoecfg"
complete -r aoectl aoe-stat aoecfg aoe-nbd aoe-fuse
unset -f $(declare -F | awk '$3 ~ /^_aoe/ { print $3 }')

set +eu
. "$bc"
set -eu
export BASH_COMPLETION_USER_DIR=$tmpdir/user
loader=__load_completion
declare -F "$loader" >/dev/null || loader=_completion_loader
say "bash-completion $(sed -n 's/^BASH_COMPLETION_VERSINFO=(\(.*\))$/\1/p' \
    "$bc" | tr ' ' .) from $bc, loaded on demand by $loader"
# Each name alone, in the order a user might first type them: aoe-nbd
# and aoe-fuse bring the shared helpers themselves.
for cmd in aoe-nbd aoecfg aoe-fuse aoe-stat aoectl; do
	set +eu
	"$loader" "$cmd"
	set -eu
	complete -p "$cmd" >/dev/null 2>&1 ||
	    fail "bash-completion did not load a completion for $cmd"
	say "$(complete -p "$cmd")"
done
ncheck=0
checks
say "$ncheck completions as expected with bash-completion"
say "ok"
