/* A convenience clock for callers of rs_poll; the stack never reads it. */
#include <stdint.h>
#include <time.h>

#include "../include/refstack.h"

uint64_t rs_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
