/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stub: being written */
typedef int link_packet_stub_t;
