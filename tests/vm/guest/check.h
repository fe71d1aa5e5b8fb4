/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check(): the result line the guest test programs print, one per check,
 *   check OK|FAIL <name> <value...>
 * which tests/vm parses; failures counts the FAILs for the final
 * "done failures=N" line.  One copy per program (static).
 */
#ifndef TIERVM_TESTS_VM_GUEST_CHECK_H
#define TIERVM_TESTS_VM_GUEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int failures;

static void check(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("check %s %s ", ok ? "OK" : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

#endif /* TIERVM_TESTS_VM_GUEST_CHECK_H */
