/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <criterion/criterion.h>
Test(stub, stub) { cr_assert(1); }
