/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stub: being written */
typedef int log_stub_t;
