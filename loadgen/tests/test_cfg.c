/* Job files and command line: values, precedence, and every error path
 * naming the right FILE:LINE. */
#define _GNU_SOURCE
#include "tsl_cfg.h"
#include "unit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/tsl-unit-XXXXXX";

static const char *put(const char *name, const char *text)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 512, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return p;
}

/* Parse a file plus finish; returns rc, err in err. */
static int load(struct tsl_cfg *cfg, const char *path, char *err)
{
	tsl_cfg_init(cfg);
	err[0] = '\0';
	if (tsl_cfg_file(cfg, path, err, TSL_ERR_LEN))
		return -1;
	return tsl_cfg_finish(cfg, err, TSL_ERR_LEN);
}

/* Expect failure with message "<dir>/<file>:<line>: <contains...>". */
static void expect_err(const char *text, const char *file, int line,
		       const char *contains)
{
	struct tsl_cfg cfg;
	char err[TSL_ERR_LEN], want[600];
	const char *p;
	int rc;
	unit_begin(contains);
	p = put("job.ini", text);
	rc = load(&cfg, p, err);
	snprintf(want, sizeof(want), "%s/%s:%d: ", dir, file, line);
	CHECK(rc < 0, "expected failure for %s", contains);
	CHECK(strncmp(err, want, strlen(want)) == 0, "want prefix '%s', got '%s'", want, err);
	CHECK(strstr(err, contains) != NULL, "want '%s' in '%s'", contains, err);
	tsl_cfg_free(&cfg);
}

static void errors(void)
{
	expect_err("[a]\nengine=crr\nfoo=1\n", "job.ini", 3, "unknown option 'foo'");
	expect_err("; c\n[a]\nreq_size=12q\n", "job.ini", 3, "bad value '12q'");
	expect_err("[a]\n\nruntime=5d\n", "job.ini", 3, "want a time");
	expect_err("[a]\nengine=udp\n", "job.ini", 2, "unknown engine 'udp'");
	expect_err("[a]\nport=70000\n", "job.ini", 2, "out of range");
	expect_err("[a]\nclose=maybe\n", "job.ini", 2, "unknown close 'maybe'");
	expect_err("[a]\n# x\ninclude missing.ini\n", "job.ini", 3, "cannot open include");
	expect_err("runtime=1\n", "job.ini", 1, "outside a section");
	expect_err("[a\n", "job.ini", 1, "bad section header");
	expect_err("[a]\nhost=${TSL_UNIT_UNSET_VAR}\n", "job.ini", 2,
		   "'TSL_UNIT_UNSET_VAR' is not set");
	expect_err("[a]\npercentiles=50:101\n", "job.ini", 2, "bad percentile list");
	expect_err("[a]\ncpus_allowed=1-0\n", "job.ini", 2, "bad CPU list");
	expect_err("[a]\nsource_addrs=198.18.0.300\n", "job.ini", 2, "bad address list");
	expect_err("[a]\nruntime\n", "job.ini", 2, "needs a value");
	expect_err("[a]\npath=nope\n", "job.ini", 2, "bad path");
	expect_err("[a]\nthreads=4\nconcurrency=2\n", "job.ini", 2, "exceeds concurrency");
	expect_err("[a]\nrole=server\nengine=http\n", "job.ini", 3, "not http");
	expect_err("[a]\nengine=rr\n\nreq_size=0\n", "job.ini", 4, "rr needs req_size > 0");
	/* an error inside an included file names that file and its line */
	put("inc.ini", "runtime=1s\n\nbogus=2\n");
	expect_err("[a]\ninclude inc.ini\n", "inc.ini", 3, "unknown option 'bogus'");
}

static void values(void)
{
	struct tsl_cfg cfg;
	char err[TSL_ERR_LEN];
	unit_begin("job file values, global, include, env, comments");
	setenv("TSL_UNIT_HOST", "198.18.1.2", 1);
	put("common.ini", "port=9000\n");
	const char *p = put("job.ini",
			    "; comment\n# comment\n[global]\ninclude common.ini\n"
			    "runtime=2m ; inline comment\nreq_size=4k\n"
			    "[one]\nhost=${TSL_UNIT_HOST}\nkeepalive\nengine=http\n"
			    "[two]\nruntime=500ms\nresp_size=1m\nsource_addrs=198.18.1.1-198.18.1.3\n");
	int rc = load(&cfg, p, err);
	CHECK(rc == 0, "load ok: %s", err);
	CHECK(cfg.njobs == 2, "two jobs, got %zu", cfg.njobs);
	if (cfg.njobs == 2) {
		struct tsl_job *a = &cfg.jobs[0], *b = &cfg.jobs[1];
		CHECK(!strcmp(a->name, "one") && !strcmp(b->name, "two"), "names");
		CHECK(a->port == 9000 && b->port == 9000, "include into global");
		CHECK(a->runtime_us == 120000000 && b->runtime_us == 500000, "runtime");
		CHECK(a->req_size == 4096 && b->resp_size == 1048576, "sizes");
		CHECK(!strcmp(a->host, "198.18.1.2"), "env expansion: %s", a->host);
		CHECK(a->keepalive == 1 && a->engine == TSL_ENG_HTTP, "bare bool, enum");
		CHECK(b->engine == TSL_ENG_CRR && b->keepalive == 0, "defaults");
	}
	tsl_cfg_free(&cfg);
}

static int args(struct tsl_cfg *cfg, char *err, int argc, ...)
{
	char *argv[32];
	va_list ap;
	va_start(ap, argc);
	argv[0] = "tsload";
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	tsl_cfg_init(cfg);
	err[0] = '\0';
	if (tsl_cfg_args(cfg, argc, argv, err, TSL_ERR_LEN))
		return -1;
	return tsl_cfg_finish(cfg, err, TSL_ERR_LEN);
}

static void cmdline(void)
{
	struct tsl_cfg cfg;
	char err[TSL_ERR_LEN];

	unit_begin("--server makes an implicit server job");
	CHECK(args(&cfg, err, 3, "--server", "--port=1234") == 0, "server: %s", err);
	CHECK(cfg.njobs == 1 && cfg.jobs[0].role == TSL_ROLE_SERVER &&
	      cfg.jobs[0].port == 1234 && !strcmp(cfg.jobs[0].name, "server"),
	      "implicit server job");
	tsl_cfg_free(&cfg);

	unit_begin("command line: unknown option");
	CHECK(args(&cfg, err, 2, "--bogus=1") < 0, "unknown option fails");
	CHECK(!strcmp(err, "command line: --bogus: unknown option 'bogus'"), "got '%s'", err);
	tsl_cfg_free(&cfg);

	unit_begin("command line: bad output format");
	CHECK(args(&cfg, err, 2, "--output-format=xml") < 0, "bad format");
	CHECK(!strncmp(err, "command line: --output-format:", 30), "got '%s'", err);
	tsl_cfg_free(&cfg);

	unit_begin("command line: --name starts jobs, globals inherited");
	CHECK(args(&cfg, err, 7, "--runtime=3s", "--name=a", "--rate=10",
		   "--name=b", "--runtime=1s", "--output-format=json") == 0, "jobs: %s", err);
	CHECK(cfg.njobs == 2 && cfg.json, "two jobs + json");
	if (cfg.njobs == 2) {
		CHECK(cfg.jobs[0].runtime_us == 3000000 && cfg.jobs[0].rate == 10,
		      "job a inherits the global");
		CHECK(cfg.jobs[1].runtime_us == 1000000 && cfg.jobs[1].rate == 0,
		      "job b overrides the global");
	}
	tsl_cfg_free(&cfg);

	/* command-line globals beat [global] in a file, not a job's own keys */
	unit_begin("precedence: command-line globals over [global]");
	const char *p = put("prec.ini", "[global]\nruntime=9s\nport=1\n[x]\nport=2\n");
	CHECK(args(&cfg, err, 4, p, "--runtime=4s", "--port=3") == 0, "prec: %s", err);
	CHECK(cfg.njobs == 1 && cfg.jobs[0].runtime_us == 4000000 && cfg.jobs[0].port == 2,
	      "precedence: runtime %lld port %lld", (long long)cfg.jobs[0].runtime_us,
	      (long long)cfg.jobs[0].port);
	tsl_cfg_free(&cfg);

	unit_begin("command line: option after a job file is an error");
	CHECK(args(&cfg, err, 4, "--name=a", p, "--runtime=1s") < 0, "orphan option");
	CHECK(strstr(err, "belongs to no job") != NULL, "got '%s'", err);
	tsl_cfg_free(&cfg);

	unit_begin("command line: missing job file");
	CHECK(args(&cfg, err, 2, "/nonexistent/x.ini") < 0, "missing job file");
	CHECK(strstr(err, "/nonexistent/x.ini: cannot open") != NULL, "got '%s'", err);
	tsl_cfg_free(&cfg);
}

void test_cfg(void)
{
	unit_begin("temp dir");
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	errors();
	values();
	cmdline();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}
