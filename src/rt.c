/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stub: being written */
typedef int rt_stub_t;
