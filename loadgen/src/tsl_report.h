/* tsl_report: the human summary and the JSON document of a run. */
#ifndef TSL_REPORT_H
#define TSL_REPORT_H

#include "tsl_cfg.h"
#include "tsl_run.h"

#include <stdio.h>
#include <time.h>

#define TSL_VERSION "0.1"

struct tsl_result {
	const struct tsl_cfg *cfg;
	struct tsl_jobrun *jr;
	size_t njobs;
	time_t timestamp;
	int interrupted;
};

void tsl_report_json(FILE *f, const struct tsl_result *r);
void tsl_report_text(FILE *f, const struct tsl_result *r);

#endif
