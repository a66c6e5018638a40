#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Write, read back and compare a 256 MiB vblade target with aoe-rw over the
# pcap link backend at MTU 1500 (see rw-common.sh).
rw_backend=pcap
rw_mtu=1500
. "$(dirname "$0")/rw-common.sh"
