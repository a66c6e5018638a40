/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stub: being written */
typedef int ata_stub_t;
