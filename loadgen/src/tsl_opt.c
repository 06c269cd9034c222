#define _GNU_SOURCE
#include "tsl_opt.h"
#include "tsl_list.h"
#include "tsl_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const role_choices[] = {"client", "server", NULL};
static const char *const engine_choices[] = {"crr", "rr", "http", NULL};
static const char *const close_choices[] = {"fin", "rst", NULL};

static int check_name(const struct tsl_job *j, char *err, size_t len)
{
	for (const char *p = j->name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p)) {
			snprintf(err, len, "bad job name '%s' (letters, digits, -_.:)", j->name);
			return -1;
		}
	return 0;
}

static int check_pct(const struct tsl_job *j, char *err, size_t len)
{
	double v[TSL_MAX_PCT];
	size_t n;
	return tsl_parse_percentiles(j->percentiles, v, TSL_MAX_PCT, &n, err, len);
}

static int check_cpus(const struct tsl_job *j, char *err, size_t len)
{
	int v[TSL_MAX_CPUS];
	size_t n;
	return tsl_parse_cpus(j->cpus_allowed, v, TSL_MAX_CPUS, &n, err, len);
}

static int check_src(const struct tsl_job *j, char *err, size_t len)
{
	size_t n;
	return tsl_parse_addrs(j->source_addrs, NULL, TSL_MAX_SRC, &n, err, len);
}

static int check_path(const struct tsl_job *j, char *err, size_t len)
{
	if (j->path[0] != '/' || strpbrk(j->path, " \r\n\t")) {
		snprintf(err, len, "bad path '%s' (must start with '/', no spaces)", j->path);
		return -1;
	}
	return 0;
}

#define OFF(f) offsetof(struct tsl_job, f)
#define STR(f) OFF(f), sizeof(((struct tsl_job *)0)->f)
#define BIG 1e15

const struct tsl_opt tsl_opts[] = {
	{"name", TSL_OT_STR, STR(name), "", 0, 0, NULL, check_name,
	 "job name (--name=NAME starts a new job)"},
	{"role", TSL_OT_ENUM, OFF(role), 0, "client", 0, 0, role_choices, NULL,
	 "client or server (--server is role=server)"},
	{"engine", TSL_OT_ENUM, OFF(engine), 0, "crr", 0, 0, engine_choices, NULL,
	 "crr (connect/request/response/close), rr (persistent), http (HTTP/1.1 GET)"},
	{"host", TSL_OT_STR, STR(host), "127.0.0.1", 0, 0, NULL, NULL,
	 "server address (client: target; server: bind address)"},
	{"port", TSL_OT_INT, OFF(port), 0, "12865", 1, 65535, NULL, NULL,
	 "TCP port"},
	{"req_size", TSL_OT_SIZE, OFF(req_size), 0, "64", 0, 1 << 30, NULL, NULL,
	 "request bytes (crr, rr)"},
	{"resp_size", TSL_OT_SIZE, OFF(resp_size), 0, "64", 0, 1 << 30, NULL, NULL,
	 "response bytes (crr, rr)"},
	{"path", TSL_OT_STR, STR(path), "/", 0, 0, NULL, check_path,
	 "HTTP path (http)"},
	{"keepalive", TSL_OT_BOOL, OFF(keepalive), 0, "0", 0, 1, NULL, NULL,
	 "HTTP keep-alive (http): 0 = Connection: close"},
	{"concurrency", TSL_OT_INT, OFF(concurrency), 0, "1", 1, 10000000, NULL, NULL,
	 "connections/transactions in flight (split across threads)"},
	{"threads", TSL_OT_INT, OFF(threads), 0, "1", 1, 1024, NULL, NULL,
	 "worker threads (each its own epoll loop)"},
	{"rate", TSL_OT_DOUBLE, OFF(rate), 0, "0", 0, 1e9, NULL, NULL,
	 "open loop: transactions per second (0 = closed loop)"},
	{"runtime", TSL_OT_TIME, OFF(runtime_us), 0, "10s", 0, BIG, NULL, NULL,
	 "measured run time after ramp_time (0 = until stopped; server: only if set)"},
	{"ramp_time", TSL_OT_TIME, OFF(ramp_us), 0, "0", 0, BIG, NULL, NULL,
	 "warm-up time excluded from statistics"},
	{"connections", TSL_OT_INT, OFF(connections), 0, "0", 0, BIG, NULL, NULL,
	 "stop after this many connections in total (0 = unlimited)"},
	{"cpus_allowed", TSL_OT_STR, STR(cpus_allowed), "", 0, 0, NULL, check_cpus,
	 "CPUs to pin threads to, round robin (e.g. 0-1,3)"},
	{"source_addrs", TSL_OT_STR, STR(source_addrs), "", 0, 0, NULL, check_src,
	 "local addresses, list a,b or range a-b (IP_BIND_ADDRESS_NO_PORT)"},
	{"close", TSL_OT_ENUM, OFF(close_mode), 0, "fin", 0, 0, close_choices, NULL,
	 "client close: fin, or rst (SO_LINGER 0)"},
	{"recycle", TSL_OT_BOOL, OFF(recycle), 0, "1", 0, 1, NULL, NULL,
	 "client: after a fin close, reuse the socket via connect(AF_UNSPEC) (same packets)"},
	{"log_interval", TSL_OT_TIME, OFF(log_interval_us), 0, "0", 0, BIG, NULL, NULL,
	 "time series interval (0 = none); also a live line on stderr"},
	{"percentiles", TSL_OT_STR, STR(percentiles), "50:90:99:99.9", 0, 0, NULL,
	 check_pct, "latency percentiles to report"},
	{"timeout", TSL_OT_TIME, OFF(timeout_us), 0, "5s", 0, BIG, NULL, NULL,
	 "per-operation timeout (connect, transaction); 0 = none"},
	{"backlog", TSL_OT_INT, OFF(backlog), 0, "4096", 1, 1 << 20, NULL, NULL,
	 "server listen backlog"},
};

const size_t tsl_nopts = sizeof(tsl_opts) / sizeof(tsl_opts[0]);

_Static_assert(sizeof(tsl_opts) / sizeof(tsl_opts[0]) <= 64,
	       "set_mask holds 64 options");

const struct tsl_opt *tsl_opt_find(const char *name, size_t *index)
{
	for (size_t i = 0; i < tsl_nopts; i++)
		if (strcmp(tsl_opts[i].name, name) == 0) {
			if (index)
				*index = i;
			return &tsl_opts[i];
		}
	return NULL;
}

/* Integer with an optional multiplier suffix from a table. */
struct suffix {
	const char *s;
	int64_t mul;
};

static int parse_scaled(const char *s, const struct suffix *sfx, int64_t defmul,
			int64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return -1;
	int64_t mul = defmul;
	if (*end) {
		mul = 0;
		for (; sfx->s; sfx++)
			if (strcasecmp(end, sfx->s) == 0) {
				mul = sfx->mul;
				break;
			}
		if (!mul)
			return -1;
	}
	double r = v * (double)mul;
	if (r > 9.0e18)
		return -1;
	*out = (int64_t)llround(r);
	return 0;
}

int tsl_parse_size(const char *s, int64_t *out)
{
	static const struct suffix sfx[] = {
		{"k", 1024}, {"kb", 1024}, {"kib", 1024},
		{"m", 1024 * 1024}, {"mb", 1024 * 1024}, {"mib", 1024 * 1024},
		{"g", 1024LL * 1024 * 1024}, {"gb", 1024LL * 1024 * 1024},
		{"gib", 1024LL * 1024 * 1024}, {"b", 1}, {NULL, 0}};
	return parse_scaled(s, sfx, 1, out);
}

int tsl_parse_time_us(const char *s, int64_t *out)
{
	static const struct suffix sfx[] = {
		{"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000},
		{"h", 3600000000LL}, {NULL, 0}};
	return parse_scaled(s, sfx, 1000000, out);
}

static int parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int64_t *out)
{
	if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		*out = 1;
	else if (!strcmp(s, "0") || !strcasecmp(s, "false") ||
		 !strcasecmp(s, "no") || !strcasecmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int parse_enum(const struct tsl_opt *o, const char *s, int64_t *out,
		      char *err, size_t errlen)
{
	size_t used;
	for (int64_t i = 0; o->choices[i]; i++)
		if (!strcmp(o->choices[i], s)) {
			*out = i;
			return 0;
		}
	used = (size_t)snprintf(err, errlen, "unknown %s '%s' (one of:", o->name, s);
	for (int i = 0; o->choices[i] && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, " %s", o->choices[i]);
	if (used < errlen)
		snprintf(err + used, errlen - used, ")");
	return -1;
}

static const char *type_hint(enum tsl_opt_type t)
{
	switch (t) {
	case TSL_OT_INT: return "an integer";
	case TSL_OT_SIZE: return "a size (e.g. 64, 4k, 1m)";
	case TSL_OT_TIME: return "a time (e.g. 500us, 10ms, 5s, 2m, 1h)";
	case TSL_OT_BOOL: return "0 or 1";
	case TSL_OT_DOUBLE: return "a number";
	default: return "a value";
	}
}

static int set_numeric(const struct tsl_opt *o, void *field, const char *val,
		       char *err, size_t errlen)
{
	int64_t v = 0;
	double d = 0;
	int rc;
	char *end;

	switch (o->type) {
	case TSL_OT_INT: rc = parse_int(val, &v); break;
	case TSL_OT_SIZE: rc = tsl_parse_size(val, &v); break;
	case TSL_OT_TIME: rc = tsl_parse_time_us(val, &v); break;
	case TSL_OT_BOOL: rc = parse_bool(val, &v); break;
	default:
		errno = 0;
		d = strtod(val, &end);
		rc = (end == val || *end || errno || isnan(d)) ? -1 : 0;
		break;
	}
	if (rc) {
		snprintf(err, errlen, "bad value '%s' for %s: want %s", val,
			 o->name, type_hint(o->type));
		return -1;
	}
	if (o->type != TSL_OT_DOUBLE)
		d = (double)v;
	if (o->type != TSL_OT_BOOL && (d < o->min || d > o->max)) {
		snprintf(err, errlen, "%s=%s out of range [%.0f, %.0f]", o->name,
			 val, o->min, o->max);
		return -1;
	}
	if (o->type == TSL_OT_DOUBLE)
		*(double *)field = d;
	else
		*(int64_t *)field = v;
	return 0;
}

int tsl_opt_set(struct tsl_job *job, const struct tsl_opt *o, size_t index,
		const char *val, char *err, size_t errlen)
{
	void *field = (char *)job + o->off;
	int rc;

	if (o->type == TSL_OT_STR) {
		if (strlen(val) >= o->len) {
			snprintf(err, errlen, "value of %s too long (max %zu)",
				 o->name, o->len - 1);
			return -1;
		}
		strcpy(field, val);
		rc = o->check ? o->check(job, err, errlen) : 0;
	} else if (o->type == TSL_OT_ENUM) {
		rc = parse_enum(o, val, field, err, errlen);
	} else {
		rc = set_numeric(o, field, val, err, errlen);
	}
	if (rc == 0 && index < 64)
		job->set_mask |= 1ULL << index;
	return rc;
}

int tsl_opt_defaults(struct tsl_job *job)
{
	char err[256];
	memset(job, 0, sizeof(*job));
	for (size_t i = 0; i < tsl_nopts; i++) {
		const struct tsl_opt *o = &tsl_opts[i];
		if (o->type == TSL_OT_STR && !o->def[0])
			continue;
		if (tsl_opt_set(job, o, i, o->def, err, sizeof(err)))
			return -1;
	}
	job->set_mask = 0;
	return 0;
}

void tsl_opt_json_value(FILE *f, const struct tsl_job *job,
			const struct tsl_opt *o)
{
	const void *field = (const char *)job + o->off;
	switch (o->type) {
	case TSL_OT_STR: tsl_json_str(f, field); break;
	case TSL_OT_ENUM: tsl_json_str(f, o->choices[*(const int64_t *)field]); break;
	case TSL_OT_DOUBLE: tsl_json_num(f, *(const double *)field); break;
	case TSL_OT_TIME: /* seconds, as a number */
		tsl_json_num(f, (double)*(const int64_t *)field / 1e6);
		break;
	default: fprintf(f, "%lld", (long long)*(const int64_t *)field); break;
	}
}

void tsl_opt_text_value(char *buf, size_t len, const struct tsl_job *job,
			const struct tsl_opt *o)
{
	const void *field = (const char *)job + o->off;
	switch (o->type) {
	case TSL_OT_STR: snprintf(buf, len, "%s", (const char *)field); break;
	case TSL_OT_ENUM:
		snprintf(buf, len, "%s", o->choices[*(const int64_t *)field]);
		break;
	case TSL_OT_DOUBLE: snprintf(buf, len, "%g", *(const double *)field); break;
	case TSL_OT_TIME:
		snprintf(buf, len, "%gs", (double)*(const int64_t *)field / 1e6);
		break;
	default: snprintf(buf, len, "%lld", (long long)*(const int64_t *)field); break;
	}
}

static const char *type_name(const struct tsl_opt *o)
{
	switch (o->type) {
	case TSL_OT_STR: return "str";
	case TSL_OT_INT: return "int";
	case TSL_OT_SIZE: return "size";
	case TSL_OT_TIME: return "time";
	case TSL_OT_BOOL: return "bool";
	case TSL_OT_ENUM: return "enum";
	default: return "float";
	}
}

/* The option table as JSON, for tools that check job options before
 * running tsload (e.g. the tcpscale profile parser):
 * {"tsload_version": V, "options": [{"name", "type", "default", "min",
 *  "max", "unit", "choices", "help"}]}; min/max only for numeric types
 * (in "unit" for times, microseconds, and sizes, bytes), choices only for
 * enums.  Defaults are the table's text, as a user would write it. */
void tsl_opt_dump_json(FILE *f, const char *version)
{
	fputs("{\"tsload_version\": ", f);
	tsl_json_str(f, version);
	fputs(", \"options\": [", f);
	for (size_t i = 0; i < tsl_nopts; i++) {
		const struct tsl_opt *o = &tsl_opts[i];
		fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
		tsl_json_str(f, o->name);
		fputs(", \"type\": ", f);
		tsl_json_str(f, type_name(o));
		fputs(", \"default\": ", f);
		tsl_json_str(f, o->def);
		if (o->type == TSL_OT_TIME || o->type == TSL_OT_SIZE)
			fputs(o->type == TSL_OT_TIME ? ", \"unit\": \"us\"" : ", \"unit\": \"bytes\"", f);
		if (o->type != TSL_OT_STR && o->type != TSL_OT_ENUM) {
			fputs(", \"min\": ", f);
			tsl_json_num(f, o->min);
			fputs(", \"max\": ", f);
			tsl_json_num(f, o->max);
		}
		if (o->type == TSL_OT_ENUM) {
			fputs(", \"choices\": [", f);
			for (int c = 0; o->choices[c]; c++) {
				if (c)
					fputs(", ", f);
				tsl_json_str(f, o->choices[c]);
			}
			fputc(']', f);
		}
		fputs(", \"help\": ", f);
		tsl_json_str(f, o->help);
		fputc('}', f);
	}
	fputs("\n]}\n", f);
}

void tsl_opt_help(FILE *f)
{
	fprintf(f,
		"usage: tsload [--key=value ...] [JOBFILE ...]\n"
		"  --name=NAME starts a new job; options before it (and [global]\n"
		"  in job files) apply to every job; command-line globals win.\n"
		"  --server             same as --role=server\n"
		"  --output-format=F    normal (default) or json\n"
		"  --output=FILE        write the report to FILE\n"
		"  --dump-options=json  print this option table as JSON\n"
		"  --help, --version\n\njob options (also key=value in job files):\n");
	for (size_t i = 0; i < tsl_nopts; i++) {
		const struct tsl_opt *o = &tsl_opts[i];
		fprintf(f, "  %-14s %-5s %s", o->name, type_name(o), o->help);
		if (o->def[0])
			fprintf(f, " [default %s]", o->def);
		fputc('\n', f);
	}
}
