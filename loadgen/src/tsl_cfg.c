#define _GNU_SOURCE
#include "tsl_cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096
#define INCLUDE_DEPTH 16

void tsl_cfg_init(struct tsl_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tsl_opt_defaults(&cfg->global);
}

void tsl_cfg_free(struct tsl_cfg *cfg)
{
	for (size_t i = 0; i < cfg->ncl; i++) {
		free(cfg->cl[i].key);
		free(cfg->cl[i].val);
	}
	for (size_t i = 0; i < cfg->nnames; i++)
		free(cfg->names[i]);
	free(cfg->cl);
	free(cfg->names);
	free(cfg->jobs);
	free(cfg->output);
	memset(cfg, 0, sizeof(*cfg));
}

static const char *intern(struct tsl_cfg *cfg, const char *name)
{
	char **n = realloc(cfg->names, (cfg->nnames + 1) * sizeof(*n));
	if (!n)
		return NULL;
	cfg->names = n;
	n[cfg->nnames] = strdup(name);
	if (!n[cfg->nnames])
		return NULL;
	return n[cfg->nnames++];
}

static struct tsl_job *new_job(struct tsl_cfg *cfg, const char *name)
{
	if (cfg->njobs == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 4;
		struct tsl_job *j = realloc(cfg->jobs, cap * sizeof(*j));
		if (!j)
			return NULL;
		cfg->jobs = j;
		cfg->cap = cap;
	}
	struct tsl_job *j = &cfg->jobs[cfg->njobs++];
	*j = cfg->global;
	j->own_mask = 0;
	snprintf(j->name, sizeof(j->name), "%s", name);
	return j;
}

/* Set key=val on job; where = "FILE:LINE" or "command line: --key". */
static int apply(struct tsl_job *job, int own, const char *key, const char *val,
		 const char *file, int line, char *err, size_t errlen)
{
	size_t idx;
	const struct tsl_opt *o = tsl_opt_find(key, &idx);
	char msg[TSL_ERR_LEN];

	if (!o) {
		snprintf(err, errlen, "unknown option '%s'", key);
		return -1;
	}
	if (!val) {
		if (o->type != TSL_OT_BOOL) {
			snprintf(err, errlen, "option '%s' needs a value", key);
			return -1;
		}
		val = "1";
	}
	if (tsl_opt_set(job, o, idx, val, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	job->set_file[idx] = file;
	job->set_line[idx] = line;
	if (own)
		job->own_mask |= 1ULL << idx;
	return 0;
}

/* Expand ${NAME} from the environment into out. */
static int expand_env(const char *in, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	size_t o = 0;
	while (*in) {
		const char *add = in;
		size_t n = 1;
		if (in[0] == '$' && in[1] == '{') {
			const char *end = strchr(in + 2, '}');
			char name[256];
			if (!end || end == in + 2 || (size_t)(end - in - 2) >= sizeof(name)) {
				snprintf(err, errlen, "bad ${...} reference");
				return -1;
			}
			memcpy(name, in + 2, (size_t)(end - in - 2));
			name[end - in - 2] = '\0';
			add = getenv(name);
			if (!add) {
				snprintf(err, errlen, "environment variable '%s' is not set", name);
				return -1;
			}
			n = strlen(add);
			in = end + 1;
		} else {
			in++;
		}
		if (o + n >= outlen) {
			snprintf(err, errlen, "line too long after expansion");
			return -1;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Drop an inline comment: ';' or '#' preceded by whitespace. */
static void strip_comment(char *s)
{
	for (char *p = s + 1; *p; p++)
		if ((*p == ';' || *p == '#') && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
}

struct fstate {
	const char *file; /* interned */
	int line;
	long job;         /* -1: global, -2: before any section */
};

static int parse_file(struct tsl_cfg *cfg, const char *path, long *job,
		      char *err, size_t errlen);

static int do_include(struct tsl_cfg *cfg, struct fstate *st,
		      const char *arg, char *err, size_t errlen)
{
	char path[4096];
	const char *slash = strrchr(st->file, '/');
	if (!*arg) {
		snprintf(err, errlen, "include needs a file name");
		return -1;
	}
	if (arg[0] != '/' && slash)
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - st->file),
			 st->file, arg);
	else
		snprintf(path, sizeof(path), "%s", arg);
	if (cfg->depth >= INCLUDE_DEPTH) {
		snprintf(err, errlen, "include nested too deeply (max %d)", INCLUDE_DEPTH);
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open include '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	fclose(f);
	/* errors inside the included file carry their own FILE:LINE */
	return parse_file(cfg, path, &st->job, err, errlen) ? -2 : 0;
}

static int do_section(struct tsl_cfg *cfg, struct fstate *st, char *s,
		      char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (s[n - 1] != ']') {
		snprintf(err, errlen, "bad section header '%s'", s);
		return -1;
	}
	s[n - 1] = '\0';
	s = trim(s + 1);
	if (!*s) {
		snprintf(err, errlen, "empty section name");
		return -1;
	}
	if (!strcmp(s, "global")) {
		st->job = -1;
		return 0;
	}
	struct tsl_job *j = new_job(cfg, "");
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->job = (long)(cfg->njobs - 1);
	return apply(j, 1, "name", s, st->file, st->line, err, errlen);
}

static int do_line(struct tsl_cfg *cfg, struct fstate *st, char *raw,
		   char *err, size_t errlen)
{
	char buf[LINE_MAX_LEN];
	char *s = trim(raw);

	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (expand_env(s, buf, sizeof(buf), err, errlen))
		return -1;
	strip_comment(buf);
	s = trim(buf);
	if (!strncmp(s, "include", 7) && isspace((unsigned char)s[7]))
		return do_include(cfg, st, trim(s + 8), err, errlen);
	if (*s == '[')
		return do_section(cfg, st, s, err, errlen);
	char *eq = strchr(s, '=');
	char *val = NULL;
	if (eq) {
		*eq = '\0';
		val = trim(eq + 1);
	}
	char *key = trim(s);
	if (st->job == -2) {
		snprintf(err, errlen, "option '%s' outside a section", key);
		return -1;
	}
	struct tsl_job *j = st->job < 0 ? &cfg->global : &cfg->jobs[st->job];
	return apply(j, st->job >= 0, key, val, st->file, st->line, err, errlen);
}

/* The included text continues the includer's section, like cpp. */
static int parse_file(struct tsl_cfg *cfg, const char *path, long *job,
		      char *err, size_t errlen)
{
	char line[LINE_MAX_LEN], msg[TSL_ERR_LEN];
	struct fstate st = {.file = intern(cfg, path), .line = 0, .job = *job};
	FILE *f;
	int rc = 0;

	if (!st.file) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	cfg->depth++;
	while (fgets(line, sizeof(line), f)) {
		st.line++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, st.line);
			rc = -1;
			break;
		}
		msg[0] = '\0';
		rc = do_line(cfg, &st, line, msg, sizeof(msg));
		if (rc == -2) {
			snprintf(err, errlen, "%s", msg);
			break;
		} else if (rc) {
			snprintf(err, errlen, "%s:%d: %s", path, st.line, msg);
			break;
		}
	}
	if (rc)
		rc = -1;
	else if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	cfg->depth--;
	fclose(f);
	*job = st.job;
	return rc;
}

int tsl_cfg_file(struct tsl_cfg *cfg, const char *path, char *err,
		 size_t errlen)
{
	long job = -2;
	return parse_file(cfg, path, &job, err, errlen);
}

/* Program-level options (not job keys). 1 = handled, 0 = not one, -1 = err */
static int program_opt(struct tsl_cfg *cfg, const char *key, const char *val,
		       char *err, size_t errlen)
{
	if (!strcmp(key, "help")) {
		cfg->help = 1;
	} else if (!strcmp(key, "version")) {
		cfg->version = 1;
	} else if (!strcmp(key, "dump-options")) {
		if (!val || strcmp(val, "json")) {
			snprintf(err, errlen, "want json");
			return -1;
		}
		cfg->dump_options = 1;
	} else if (!strcmp(key, "output-format")) {
		if (val && !strcmp(val, "json"))
			cfg->json = 1;
		else if (val && !strcmp(val, "normal"))
			cfg->json = 0;
		else {
			snprintf(err, errlen, "want normal or json");
			return -1;
		}
	} else if (!strcmp(key, "output")) {
		if (!val || !*val) {
			snprintf(err, errlen, "needs a file name");
			return -1;
		}
		free(cfg->output);
		cfg->output = strdup(val);
		if (!cfg->output) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else {
		return 0;
	}
	return 1;
}

/* Split "--key=value" into key/value (value NULL when absent). */
static int split_arg(const char *arg, char *key, size_t klen, const char **val)
{
	const char *eq = strchr(arg + 2, '=');
	size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	if (n == 0 || n >= klen)
		return -1;
	memcpy(key, arg + 2, n);
	key[n] = '\0';
	*val = eq ? eq + 1 : NULL;
	if (!strcmp(key, "server") && !eq) {
		strcpy(key, "role");
		*val = "server";
	}
	return 0;
}

static int remember_cl(struct tsl_cfg *cfg, const char *key, const char *val)
{
	struct tsl_kv *kv = realloc(cfg->cl, (cfg->ncl + 1) * sizeof(*kv));
	if (!kv)
		return -1;
	cfg->cl = kv;
	kv[cfg->ncl].key = strdup(key);
	kv[cfg->ncl].val = val ? strdup(val) : NULL;
	if (!kv[cfg->ncl].key || (val && !kv[cfg->ncl].val))
		return -1;
	cfg->ncl++;
	return 0;
}

/* Pass 1: program options anywhere, job options before the first --name. */
static int args_pass1(struct tsl_cfg *cfg, int argc, char **argv, char *err,
		      size_t errlen)
{
	char key[64], msg[TSL_ERR_LEN];
	const char *val;
	int in_job = 0;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2))
			continue;
		if (split_arg(argv[i], key, sizeof(key), &val)) {
			snprintf(err, errlen, "command line: %s: bad option", argv[i]);
			return -1;
		}
		int rc = program_opt(cfg, key, val, msg, sizeof(msg));
		if (rc == 0 && !strcmp(key, "name"))
			in_job = 1;
		if (rc == 0 && !in_job) {
			rc = apply(&cfg->global, 0, key, val, "command line", 0, msg,
				   sizeof(msg));
			if (rc == 0 && remember_cl(cfg, key, val))
				snprintf(msg, sizeof(msg), "out of memory"), rc = -1;
		}
		if (rc < 0) {
			snprintf(err, errlen, "command line: --%s: %s", key, msg);
			return -1;
		}
	}
	return 0;
}

int tsl_cfg_args(struct tsl_cfg *cfg, int argc, char **argv, char *err,
		 size_t errlen)
{
	char key[64], msg[TSL_ERR_LEN];
	const char *val;
	struct tsl_job *job = NULL;
	int seen_name = 0;

	if (args_pass1(cfg, argc, argv, err, errlen))
		return -1;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2)) {
			if (tsl_cfg_file(cfg, argv[i], err, errlen))
				return -1;
			job = NULL; /* options after a file need a new --name */
			continue;
		}
		split_arg(argv[i], key, sizeof(key), &val);
		if (program_opt(cfg, key, val, msg, sizeof(msg)))
			continue;
		if (!strcmp(key, "name")) {
			seen_name = 1;
			job = new_job(cfg, "");
			if (!job) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
		if (!job && seen_name) {
			snprintf(err, errlen,
				 "command line: --%s: follows a job file, so it belongs to no job "
				 "(put it before the first --name, or after a --name)", key);
			return -1;
		}
		if (!job)
			continue; /* a global, done in pass 1 */
		if (apply(job, 1, key, val, "command line", 0, msg, sizeof(msg))) {
			snprintf(err, errlen, "command line: --%s: %s", key, msg);
			return -1;
		}
	}
	return 0;
}

static void where(const struct tsl_job *j, const char *opt, char *buf,
		  size_t len)
{
	size_t idx;
	if (tsl_opt_find(opt, &idx) && j->set_file[idx] && j->set_line[idx])
		snprintf(buf, len, "%s:%d", j->set_file[idx], j->set_line[idx]);
	else
		snprintf(buf, len, "command line: --%s", opt);
}

static int check_job(const struct tsl_job *j, char *err, size_t errlen)
{
	char w[TSL_ERR_LEN / 2];
	if (j->role == TSL_ROLE_SERVER && j->engine == TSL_ENG_HTTP) {
		where(j, "engine", w, sizeof(w));
		snprintf(err, errlen, "%s: job '%s': server mode answers crr and rr, not http",
			 w, j->name);
		return -1;
	}
	if (j->role == TSL_ROLE_CLIENT && j->concurrency < j->threads) {
		where(j, "threads", w, sizeof(w));
		snprintf(err, errlen, "%s: job '%s': threads (%lld) exceeds concurrency (%lld)",
			 w, j->name, (long long)j->threads, (long long)j->concurrency);
		return -1;
	}
	if (j->engine == TSL_ENG_RR && j->req_size == 0) {
		where(j, "req_size", w, sizeof(w));
		snprintf(err, errlen, "%s: job '%s': rr needs req_size > 0 (a request the "
			 "server can see)", w, j->name);
		return -1;
	}
	if (j->role == TSL_ROLE_CLIENT && j->engine != TSL_ENG_HTTP &&
	    j->resp_size == 0 && j->req_size == 0) {
		where(j, "resp_size", w, sizeof(w));
		snprintf(err, errlen, "%s: job '%s': req_size and resp_size are both 0",
			 w, j->name);
		return -1;
	}
	return 0;
}

int tsl_cfg_finish(struct tsl_cfg *cfg, char *err, size_t errlen)
{
	char msg[TSL_ERR_LEN];
	if (cfg->njobs == 0) {
		const struct tsl_job *g = &cfg->global;
		const char *name = g->role == TSL_ROLE_SERVER ? "server" :
				   tsl_opt_find("engine", NULL)->choices[g->engine];
		if (!new_job(cfg, g->name[0] ? g->name : name)) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	/* the global echo shows what the command line made of [global] */
	for (size_t k = 0; k < cfg->ncl; k++)
		if (apply(&cfg->global, 0, cfg->cl[k].key, cfg->cl[k].val,
			  "command line", 0, msg, sizeof(msg))) {
			snprintf(err, errlen, "command line: --%s: %s", cfg->cl[k].key, msg);
			return -1;
		}
	for (size_t i = 0; i < cfg->njobs; i++) {
		struct tsl_job *j = &cfg->jobs[i];
		for (size_t k = 0; k < cfg->ncl; k++) {
			size_t idx;
			if (!tsl_opt_find(cfg->cl[k].key, &idx) ||
			    (j->own_mask & (1ULL << idx)) || idx == 0)
				continue;
			if (apply(j, 0, cfg->cl[k].key, cfg->cl[k].val, "command line",
				  0, msg, sizeof(msg))) {
				snprintf(err, errlen, "command line: --%s: %s", cfg->cl[k].key, msg);
				return -1;
			}
		}
		if (check_job(j, err, errlen))
			return -1;
	}
	return 0;
}
