/* tsl_plan: resolve a job into a runnable plan (addresses, lists, threads). */
#ifndef TSL_PLAN_H
#define TSL_PLAN_H

#include "tsl_run.h"

#include <stddef.h>

/* 0, or -1 with "WHERE: job 'x': message" in err. */
int tsl_plan_job(struct tsl_jobrun *jr, struct tsl_job *job, char *err,
		 size_t errlen);
void tsl_plan_free(struct tsl_jobrun *jr);
/* Set the job's clock: start, measurement window, end. */
void tsl_plan_clock(struct tsl_jobrun *jr, uint64_t t_start);

#endif
