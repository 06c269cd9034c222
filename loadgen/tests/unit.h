/* Tiny unit-test helpers. unit_begin() opens a test case; a case passes
 * when none of its CHECKs failed. Counts are cases, not assertions. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

extern int unit_pass, unit_fail, unit_checks, unit_case_failed;
void unit_begin(const char *name);
void unit_end(void);

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		unit_checks++;                                            \
		if (!(cond)) {                                            \
			unit_case_failed = 1;                             \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,     \
				__LINE__, #cond);                         \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

void test_cfg(void);
void test_opt(void);
void test_hist(void);
void test_http(void);

#endif
