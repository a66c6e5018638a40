/* SPDX-License-Identifier: GPL-2.0-or-later */
typedef int hexvec_stub_t;
