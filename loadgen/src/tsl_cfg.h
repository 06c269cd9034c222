/* tsl_cfg: job files (INI) and the command line, into a list of jobs.
 * Precedence, lowest first: defaults, [global] sections of job files,
 * command-line options before the first --name, the job's own section
 * (or the options after its --name). */
#ifndef TSL_CFG_H
#define TSL_CFG_H

#include "tsl_opt.h"

#define TSL_ERR_LEN 512

struct tsl_kv {
	char *key;
	char *val;
};

struct tsl_cfg {
	struct tsl_job global;
	struct tsl_job *jobs;
	size_t njobs, cap;
	int json;           /* --output-format=json */
	char *output;       /* --output=FILE or NULL */
	int help, version, dump_options;
	struct tsl_kv *cl;  /* command-line globals, re-applied last */
	size_t ncl;
	char **names;       /* interned file names (set_file points here) */
	size_t nnames;
	int depth;          /* include depth */
};

void tsl_cfg_init(struct tsl_cfg *cfg);
void tsl_cfg_free(struct tsl_cfg *cfg);
/* Parse argv (argv[0] skipped). 0, or -1 with "FILE:LINE: msg" in err. */
int tsl_cfg_args(struct tsl_cfg *cfg, int argc, char **argv, char *err,
		 size_t errlen);
/* Load one job file; 0 or -1 with "FILE:LINE: msg" in err. */
int tsl_cfg_file(struct tsl_cfg *cfg, const char *path, char *err,
		 size_t errlen);
/* After all input: apply command-line globals, make a default job if
 * none was given, check cross-option rules. */
int tsl_cfg_finish(struct tsl_cfg *cfg, char *err, size_t errlen);

#endif
