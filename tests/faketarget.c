/* SPDX-License-Identifier: GPL-2.0-or-later */
typedef int faketarget_stub_t;
