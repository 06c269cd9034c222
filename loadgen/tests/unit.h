/* Tiny unit-test helpers: every CHECK counts as one assertion. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

extern int unit_pass, unit_fail;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (cond) {                                               \
			unit_pass++;                                      \
		} else {                                                  \
			unit_fail++;                                      \
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
