#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Write, read back and compare a 256 MiB vblade target with aoe-rw over the
# packet link backend at MTU 9000 (see rw-common.sh).
rw_backend=packet
rw_mtu=9000
. "$(dirname "$0")/rw-common.sh"
