#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Write, read back and compare a 256 MiB vblade target with aoe-rw over the
# pcap link backend at MTU 1500 (see rw-common.sh), sending with
# pcap_inject(), one frame per call, as where libpcap's socket is not an
# AF_PACKET one (test-rw-pcap-9000.sh sends with sendmmsg on it, the
# default on Linux).
export AOE_PCAP_INJECT=1
rw_backend=pcap
rw_mtu=1500
. "$(dirname "$0")/rw-common.sh"
