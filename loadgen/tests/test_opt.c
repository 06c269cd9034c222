/* The option table: complete, consistent, driving help and the JSON echo. */
#define _GNU_SOURCE
#include "tsl_opt.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static void table_sane(void)
{
	unit_begin("option table is complete and consistent");
	struct tsl_job j;
	char err[256];
	CHECK(tsl_opt_defaults(&j) == 0, "defaults parse");
	for (size_t i = 0; i < tsl_nopts; i++) {
		const struct tsl_opt *o = &tsl_opts[i];
		size_t idx = 99;
		CHECK(o->name && o->help && o->help[0], "option %zu documented", i);
		CHECK(tsl_opt_find(o->name, &idx) == o && idx == i, "%s findable", o->name);
		for (size_t k = i + 1; k < tsl_nopts; k++)
			CHECK(strcmp(o->name, tsl_opts[k].name), "%s unique", o->name);
		if (o->type == TSL_OT_ENUM)
			CHECK(o->choices && o->choices[0], "%s has choices", o->name);
		if (o->def[0])
			CHECK(tsl_opt_set(&j, o, i, o->def, err, sizeof(err)) == 0,
			      "%s default '%s' valid: %s", o->name, o->def, err);
	}
	CHECK(tsl_opt_find("nosuch", NULL) == NULL, "unknown not found");
}

static void help_lists_all(void)
{
	unit_begin("help lists every option");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	tsl_opt_help(f);
	fclose(f);
	for (size_t i = 0; i < tsl_nopts; i++) {
		char pat[80];
		snprintf(pat, sizeof(pat), "  %s ", tsl_opts[i].name);
		CHECK(strstr(buf, pat) != NULL, "help shows %s", tsl_opts[i].name);
	}
	free(buf);
}

static void json_typed(void)
{
	unit_begin("JSON echo is typed");
	struct tsl_job j;
	char *buf = NULL;
	size_t len = 0;
	tsl_opt_defaults(&j);
	FILE *f = open_memstream(&buf, &len);
	tsl_opt_json_value(f, &j, tsl_opt_find("port", NULL));
	fputc('|', f);
	tsl_opt_json_value(f, &j, tsl_opt_find("engine", NULL));
	fputc('|', f);
	tsl_opt_json_value(f, &j, tsl_opt_find("timeout", NULL));
	fputc('|', f);
	tsl_opt_json_value(f, &j, tsl_opt_find("rate", NULL));
	fclose(f);
	CHECK(strcmp(buf, "12865|\"crr\"|5|0") == 0, "typed echo, got %s", buf);
	free(buf);
}

static void values(void)
{
	unit_begin("size and time suffixes");
	int64_t v;
	CHECK(tsl_parse_size("4k", &v) == 0 && v == 4096, "4k");
	CHECK(tsl_parse_size("1m", &v) == 0 && v == 1048576, "1m");
	CHECK(tsl_parse_size("2G", &v) == 0 && v == 2147483648LL, "2G");
	CHECK(tsl_parse_size("1.5k", &v) == 0 && v == 1536, "1.5k");
	CHECK(tsl_parse_size("12", &v) == 0 && v == 12, "12");
	CHECK(tsl_parse_size("4x", &v) < 0, "4x rejected");
	CHECK(tsl_parse_size("-1", &v) < 0, "-1 rejected");
	CHECK(tsl_parse_size("", &v) < 0, "empty rejected");
	CHECK(tsl_parse_time_us("500us", &v) == 0 && v == 500, "500us");
	CHECK(tsl_parse_time_us("10ms", &v) == 0 && v == 10000, "10ms");
	CHECK(tsl_parse_time_us("3", &v) == 0 && v == 3000000, "3 = seconds");
	CHECK(tsl_parse_time_us("2m", &v) == 0 && v == 120000000, "2m");
	CHECK(tsl_parse_time_us("1h", &v) == 0 && v == 3600000000LL, "1h");
	CHECK(tsl_parse_time_us("1d", &v) < 0, "1d rejected");
}

void test_opt(void)
{
	table_sane();
	help_lists_all();
	json_typed();
	values();
}
