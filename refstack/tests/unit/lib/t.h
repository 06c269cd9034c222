/* Minimal test reporting: every check prints one line; t_summary prints
 * "N passed, N failed" and returns the exit status. */
#ifndef T_H
#define T_H

#include <stdio.h>

extern int t_passed, t_failed;

#define T_CHECK(cond, ...)                                                   \
	t_check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

void t_check_at(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int t_summary(void);

#endif
