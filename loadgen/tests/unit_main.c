#include "unit.h"

int unit_pass, unit_fail;

int main(void)
{
	test_opt();
	test_cfg();
	test_hist();
	test_http();
	printf("unit: %d passed, %d failed\n", unit_pass, unit_fail);
	return unit_fail ? 1 : 0;
}
