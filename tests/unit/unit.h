/* A tiny unit-test harness: each TEST prints "ok - name" or "not ok - name"
 * (tests/run counts them); the binary exits non-zero if any failed. */
#ifndef WMH_UNIT_H
#define WMH_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failed_total, unit_case_failed;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                               \
			unit_case_failed = 1;                                                                          \
		}                                                                                                      \
	} while (0)

#define CHECK_STR(a, b)                                                                                                \
	do {                                                                                                           \
		const char *a_ = (a), *b_ = (b);                                                                       \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                               \
			printf("#   %s:%d: '%s' != '%s'\n", __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
			unit_case_failed = 1;                                                                          \
		}                                                                                                      \
	} while (0)

/* a contains b */
#define CHECK_HAS(a, b)                                                                                                \
	do {                                                                                                           \
		const char *a_ = (a), *b_ = (b);                                                                       \
		if (!a_ || !strstr(a_, b_)) {                                                                          \
			printf("#   %s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, a_ ? a_ : "(null)", b_);    \
			unit_case_failed = 1;                                                                          \
		}                                                                                                      \
	} while (0)

#define RUN(fn)                                                                                                        \
	do {                                                                                                           \
		unit_case_failed = 0;                                                                                  \
		fn();                                                                                                  \
		printf("%s - %s\n", unit_case_failed ? "not ok" : "ok", #fn);                                          \
		unit_failed_total += unit_case_failed;                                                                 \
	} while (0)

#define UNIT_EXIT() (unit_failed_total ? 1 : 0)
#endif
