#include "unit.h"

int unit_pass, unit_fail, unit_checks, unit_case_failed;
static const char *current;

void unit_end(void)
{
	if (!current)
		return;
	if (unit_case_failed) {
		unit_fail++;
		fprintf(stderr, "FAIL case %s\n", current);
	} else {
		unit_pass++;
	}
	current = NULL;
	unit_case_failed = 0;
}

void unit_begin(const char *name)
{
	unit_end();
	current = name;
}

int main(void)
{
	test_opt();
	test_cfg();
	test_hist();
	test_http();
	unit_end();
	printf("unit: %d passed, %d failed (%d assertions)\n", unit_pass, unit_fail,
	       unit_checks);
	return unit_fail ? 1 : 0;
}
