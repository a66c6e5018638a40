/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stub: being written */
typedef int aoe_stub_t;
