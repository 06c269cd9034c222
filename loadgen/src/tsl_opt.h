/* tsl_opt: the option table of tsload and the job struct it fills.
 * Each option is declared once (name, type, offset, default, bounds, help);
 * the table drives job-file parsing, the command line, --help and the JSON
 * echo. */
#ifndef TSL_OPT_H
#define TSL_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum tsl_opt_type {
	TSL_OT_STR,    /* char[len] */
	TSL_OT_INT,    /* int64_t, plain integer */
	TSL_OT_SIZE,   /* int64_t, k/m/g suffixes (base 1024) */
	TSL_OT_TIME,   /* int64_t microseconds, us/ms/s/m/h suffixes (default s) */
	TSL_OT_BOOL,   /* int64_t 0/1 */
	TSL_OT_ENUM,   /* int64_t index into choices */
	TSL_OT_DOUBLE, /* double */
};

enum tsl_role { TSL_ROLE_CLIENT, TSL_ROLE_SERVER };
enum tsl_engine_id { TSL_ENG_CRR, TSL_ENG_RR, TSL_ENG_HTTP };
enum tsl_close { TSL_CLOSE_FIN, TSL_CLOSE_RST };

#define TSL_NAME_MAX 64
#define TSL_STR_MAX 256

struct tsl_job {
	char name[TSL_NAME_MAX];
	int64_t role;
	int64_t engine;
	char host[TSL_STR_MAX];
	int64_t port;
	int64_t req_size;
	int64_t resp_size;
	char path[TSL_STR_MAX];
	int64_t keepalive;
	int64_t concurrency;
	int64_t threads;
	double rate;
	int64_t runtime_us;
	int64_t ramp_us;
	int64_t connections;
	char cpus_allowed[TSL_STR_MAX];
	char source_addrs[TSL_STR_MAX];
	int64_t close_mode;
	int64_t recycle;
	int64_t log_interval_us;
	char percentiles[TSL_STR_MAX];
	int64_t timeout_us;
	int64_t backlog;
	uint64_t set_mask;               /* bit i: option i set explicitly */
	uint64_t own_mask;               /* bit i: set in the job's own section */
	const char *set_file[64];        /* where option i was set (for errors) */
	int set_line[64];
};

/* Extra validation of a parsed value; writes a message into err. */
typedef int (*tsl_opt_check_fn)(const struct tsl_job *job, char *err,
				size_t errlen);

struct tsl_opt {
	const char *name;
	enum tsl_opt_type type;
	size_t off;
	size_t len;                 /* TSL_OT_STR: buffer size */
	const char *def;            /* default, as text; parsed like user input */
	double min, max;            /* numeric bounds (inclusive) */
	const char *const *choices; /* TSL_OT_ENUM: NULL-terminated */
	tsl_opt_check_fn check;
	const char *help;
};

extern const struct tsl_opt tsl_opts[];
extern const size_t tsl_nopts;

const struct tsl_opt *tsl_opt_find(const char *name, size_t *index);
/* Parse text into the job field; 0 or -1 with a message in err. */
int tsl_opt_set(struct tsl_job *job, const struct tsl_opt *o, size_t index,
		const char *val, char *err, size_t errlen);
/* Fill job with every default. Returns 0 (defaults are known-good). */
int tsl_opt_defaults(struct tsl_job *job);

int tsl_parse_size(const char *s, int64_t *out);
int tsl_parse_time_us(const char *s, int64_t *out);
/* Print the value of option o of job as JSON (numbers as numbers). */
void tsl_opt_json_value(FILE *f, const struct tsl_job *job,
			const struct tsl_opt *o);
/* Print value as text (for the human summary). */
void tsl_opt_text_value(char *buf, size_t len, const struct tsl_job *job,
			const struct tsl_opt *o);
void tsl_opt_help(FILE *f);
/* The whole option table as JSON (name, type, default, bounds, choices,
 * help): the machine-readable twin of tsl_opt_help(). */
void tsl_opt_dump_json(FILE *f, const char *version);

#endif
