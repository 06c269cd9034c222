/* Feature sets by name: the one spelling (base, full, comma lists), the
 * canonical name of every set, the errors that list the valid names,
 * RS_FEATURES, and a stack refusing bits it does not know. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/t.h"
#include "lib/tb.h"

static void t_names(void)
{
	char buf[64], err[300];
	uint32_t f = 99;
	int all_round = 1;

	T_CHECK(rs_features_parse("base", &f, err, sizeof(err)) == 0 && f == 0,
		"'base' is the empty set");
	T_CHECK(rs_features_parse("full", &f, err, sizeof(err)) == 0 &&
			f == RS_FEAT_ALL,
		"'full' is every feature");
	T_CHECK(rs_features_parse("rfd,listen", &f, err, sizeof(err)) == 0 &&
			f == (RS_FEAT_RFD | RS_FEAT_LOCAL_LISTEN),
		"a comma list in any order");
	T_CHECK(strcmp(rs_features_name(RS_FEAT_RFD | RS_FEAT_LOCAL_LISTEN, buf,
					sizeof(buf)), "listen,rfd") == 0,
		"canonical spelling in table order: listen,rfd");
	T_CHECK(strcmp(rs_features_name(0, buf, sizeof(buf)), "base") == 0 &&
			strcmp(rs_features_name(RS_FEAT_ALL, buf, sizeof(buf)),
			       "full") == 0,
		"the empty and the full set are named base and full");
	for (uint32_t s = 0; s <= RS_FEAT_ALL; s++) {
		uint32_t back = 99;
		rs_features_name(s, buf, sizeof(buf));
		if (rs_features_parse(buf, &back, NULL, 0) != 0 || back != s)
			all_round = 0;
	}
	T_CHECK(all_round, "all 16 sets survive name -> parse");
	T_CHECK(rs_nfeatures == 4 && strcmp(rs_features[0].name, "listen") == 0 &&
			strcmp(rs_features[3].name, "fastfd") == 0,
		"four features: listen, estab, rfd, fastfd");
}

static void t_errors(void)
{
	char err[300];
	uint32_t f = 7;

	T_CHECK(rs_features_parse("listen,turbo", &f, err, sizeof(err)) < 0 &&
			f == 7 && strstr(err, "'turbo'") &&
			strstr(err, "listen, estab, rfd, fastfd") &&
			strstr(err, "base, full"),
		"unknown name: error names it and lists the valid ones (%s)", err);
	T_CHECK(rs_features_parse("", &f, err, sizeof(err)) < 0 &&
			strstr(err, "empty"),
		"empty set name refused");
	T_CHECK(rs_features_parse("listen,,rfd", &f, err, sizeof(err)) < 0 &&
			rs_features_parse("listen,", &f, err, sizeof(err)) < 0,
		"empty list items refused");
	T_CHECK(rs_features_parse("rfd,rfd", &f, err, sizeof(err)) < 0 &&
			strstr(err, "repeated"),
		"repeated feature refused");
	T_CHECK(rs_features_parse("full,rfd", &f, err, sizeof(err)) < 0 &&
			strstr(err, "set name"),
		"a set name inside a list refused");
	T_CHECK(rs_features_parse("Listen", &f, err, sizeof(err)) < 0 &&
			rs_features_parse(" listen", &f, err, sizeof(err)) < 0,
		"names are exact (case, spaces)");
}

static void t_env(void)
{
	char err[300];
	uint32_t f = RS_FEAT_RFD;

	unsetenv("RS_FEATURES");
	T_CHECK(rs_features_from_env(&f, err, sizeof(err)) == 0 && f == RS_FEAT_RFD,
		"RS_FEATURES unset: the caller's default stays");
	setenv("RS_FEATURES", "estab,fastfd", 1);
	T_CHECK(rs_features_from_env(&f, err, sizeof(err)) == 0 &&
			f == (RS_FEAT_LOCAL_ESTAB | RS_FEAT_FAST_FD),
		"RS_FEATURES=estab,fastfd");
	setenv("RS_FEATURES", "nope", 1);
	T_CHECK(rs_features_from_env(&f, err, sizeof(err)) < 0 &&
			strncmp(err, "RS_FEATURES: ", 13) == 0 &&
			strstr(err, "'nope'"),
		"bad RS_FEATURES: the message names the variable (%s)", err);
	unsetenv("RS_FEATURES");
}

static void t_conf(void)
{
	struct rs_stack_conf conf;
	struct rs_stack *s;
	int err = 0;

	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	T_CHECK(conf.features == 0, "default feature set is base");
	conf.features = 1u << 9;
	s = rs_stack_create(&conf, &err);
	T_CHECK(!s && err == -EINVAL, "a stack refuses unknown feature bits");
	conf.features = RS_FEAT_ALL;
	s = rs_stack_create(&conf, &err);
	T_CHECK(s && rs_stack_conf(s)->features == RS_FEAT_ALL,
		"a full stack records its set");
	rs_stack_destroy(s);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_names();
	t_errors();
	t_env();
	t_conf();
	return t_summary();
}
