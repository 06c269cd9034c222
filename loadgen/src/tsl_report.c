#define _GNU_SOURCE
#include "tsl_report.h"
#include "tsl_json.h"

#include <string.h>

static void json_hist(FILE *f, const struct tsl_hist *h, const double *pct,
		      size_t npct, int ind)
{
	int first = 1;
	fputc('{', f);
	tsl_json_key(f, &first, "count", ind);
	fprintf(f, "%llu", (unsigned long long)h->count);
	tsl_json_key(f, &first, "min", ind);
	tsl_json_num(f, h->count ? (double)h->min / 1e3 : 0);
	tsl_json_key(f, &first, "max", ind);
	tsl_json_num(f, (double)h->max / 1e3);
	tsl_json_key(f, &first, "mean", ind);
	tsl_json_num(f, tsl_hist_mean(h) / 1e3);
	tsl_json_key(f, &first, "stddev", ind);
	tsl_json_num(f, tsl_hist_stddev(h) / 1e3);
	tsl_json_key(f, &first, "percentiles", ind);
	fputc('{', f);
	int pf = 1;
	for (size_t i = 0; i < npct; i++) {
		char k[32];
		snprintf(k, sizeof(k), "%g", pct[i]);
		tsl_json_key(f, &pf, k, ind + 2);
		tsl_json_num(f, tsl_hist_pct(h, pct[i]) / 1e3);
	}
	fprintf(f, "\n%*s}\n%*s}", ind, "", ind - 2, "");
}

static void json_options(FILE *f, const struct tsl_job *j, uint64_t mask,
			 int ind)
{
	int first = 1;
	fputc('{', f);
	for (size_t i = 0; i < tsl_nopts; i++) {
		if (!(mask & (1ULL << i)))
			continue;
		tsl_json_key(f, &first, tsl_opts[i].name, ind);
		tsl_opt_json_value(f, j, &tsl_opts[i]);
	}
	fprintf(f, "\n%*s}", ind - 2, "");
}

static void json_errors(FILE *f, const struct tsl_stats *s, int ind)
{
	int first = 1;
	fputc('{', f);
	tsl_json_key(f, &first, "total", ind);
	fprintf(f, "%llu", (unsigned long long)s->errs);
	for (int e = 0; e < TSL_E_N; e++) {
		tsl_json_key(f, &first, tsl_err_names[e], ind);
		fprintf(f, "%llu", (unsigned long long)s->err[e]);
	}
	fprintf(f, "\n%*s}", ind - 2, "");
}

static void json_status(FILE *f, const struct tsl_stats *s, int ind)
{
	int first = 1;
	fputc('{', f);
	for (int c = 0; c < TSL_HTTP_CODES; c++) {
		char k[8];
		if (!s->http_status[c])
			continue;
		snprintf(k, sizeof(k), "%d", c);
		tsl_json_key(f, &first, c ? k : "unknown", ind);
		fprintf(f, "%llu", (unsigned long long)s->http_status[c]);
	}
	fprintf(f, "%s%*s}", first ? "" : "\n", first ? 0 : ind - 2, "");
}

static void json_series(FILE *f, const struct tsl_jobrun *jr, int ind)
{
	double iv = (double)jr->ival_ns / 1e9;
	fputc('[', f);
	for (size_t i = 0; i < jr->nts; i++) {
		const struct tsl_tspoint *p = &jr->ts[i];
		fprintf(f, "%s\n%*s{\"t\": ", i ? "," : "", ind, "");
		tsl_json_num(f, p->t);
		fprintf(f, ", \"transactions\": %llu, \"connections\": %llu, \"errors\": %llu, \"tps\": ",
			(unsigned long long)p->txns, (unsigned long long)p->conns,
			(unsigned long long)p->errs);
		tsl_json_num(f, (double)p->txns / iv);
		fputs(", \"cps\": ", f);
		tsl_json_num(f, (double)p->conns / iv);
		fputs(", \"p99_us\": ", f);
		tsl_json_num(f, p->p99_us);
		fputc('}', f);
	}
	fprintf(f, "%s%*s]", jr->nts ? "\n" : "", jr->nts ? ind - 2 : 0, "");
}

static double per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void json_latency(FILE *f, const struct tsl_jobrun *jr, int ind)
{
	int first = 1;
	fputc('{', f);
	for (int p = 0; p < TSL_PH_N; p++) {
		tsl_json_key(f, &first, tsl_phase_names[p], ind);
		json_hist(f, &jr->total.lat[p], jr->pct, jr->npct, ind + 2);
	}
	fprintf(f, "\n%*s}", ind - 2, "");
}

static void json_job(FILE *f, const struct tsl_jobrun *jr, int ind)
{
	const struct tsl_job *j = jr->job;
	const struct tsl_stats *s = &jr->total;
	int first = 1;

	fputc('{', f);
	tsl_json_key(f, &first, "jobname", ind);
	tsl_json_str(f, j->name);
	tsl_json_key(f, &first, "role", ind);
	tsl_json_str(f, j->role == TSL_ROLE_SERVER ? "server" : "client");
	tsl_json_key(f, &first, "options", ind);
	json_options(f, j, UINT64_MAX, ind + 2);
	tsl_json_key(f, &first, "elapsed_s", ind);
	tsl_json_num(f, jr->elapsed_s);
	tsl_json_key(f, &first, "transactions", ind);
	fprintf(f, "%llu", (unsigned long long)s->txns);
	tsl_json_key(f, &first, "connections", ind);
	fprintf(f, "%llu", (unsigned long long)s->conns);
	if (j->role == TSL_ROLE_SERVER) {
		tsl_json_key(f, &first, "accepts", ind);
		fprintf(f, "%llu", (unsigned long long)s->accepts);
	} else {
		tsl_json_key(f, &first, "sockets", ind);
		fprintf(f, "%llu", (unsigned long long)s->sockets);
	}
	tsl_json_key(f, &first, "tps", ind);
	tsl_json_num(f, per_s(s->txns, jr->elapsed_s));
	tsl_json_key(f, &first, "cps", ind);
	tsl_json_num(f, per_s(s->conns, jr->elapsed_s));
	tsl_json_key(f, &first, "errors", ind);
	json_errors(f, s, ind + 2);
	if (j->engine == TSL_ENG_HTTP) {
		tsl_json_key(f, &first, "http_status", ind);
		json_status(f, s, ind + 2);
	}
	tsl_json_key(f, &first, "latency_us", ind);
	json_latency(f, jr, ind + 2);
	tsl_json_key(f, &first, "timeseries", ind);
	json_series(f, jr, ind + 2);
	tsl_json_key(f, &first, "cpu", ind);
	fputs("{\"user_s\": ", f);
	tsl_json_num(f, jr->user_s);
	fputs(", \"sys_s\": ", f);
	tsl_json_num(f, jr->sys_s);
	fprintf(f, ", \"voluntary_ctxsw\": %ld, \"involuntary_ctxsw\": %ld}",
		jr->vcsw, jr->ivcsw);
	for (int t = 0; t < jr->nthreads; t++)
		if (jr->w[t].errmsg[0]) {
			tsl_json_key(f, &first, "error", ind);
			tsl_json_str(f, jr->w[t].errmsg);
			break;
		}
	fprintf(f, "\n%*s}", ind - 2, "");
}

void tsl_report_json(FILE *f, const struct tsl_result *r)
{
	int first = 1;
	fputc('{', f);
	tsl_json_key(f, &first, "tsload_version", 2);
	tsl_json_str(f, TSL_VERSION);
	tsl_json_key(f, &first, "timestamp", 2);
	fprintf(f, "%lld", (long long)r->timestamp);
	tsl_json_key(f, &first, "interrupted", 2);
	fputs(r->interrupted ? "true" : "false", f);
	tsl_json_key(f, &first, "global_options", 2);
	json_options(f, &r->cfg->global, r->cfg->global.set_mask, 4);
	tsl_json_key(f, &first, "jobs", 2);
	fputc('[', f);
	for (size_t i = 0; i < r->njobs; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_job(f, &r->jr[i], 6);
	}
	fputs("\n  ]\n}\n", f);
}

/* ---- human summary */

static void text_hist(FILE *f, const char *name, const struct tsl_hist *h,
		      const struct tsl_jobrun *jr)
{
	fprintf(f, "    %-9s %10llu %9.1f %9.1f %9.1f %10.1f", name,
		(unsigned long long)h->count, h->count ? (double)h->min / 1e3 : 0,
		tsl_hist_mean(h) / 1e3, tsl_hist_stddev(h) / 1e3,
		(double)h->max / 1e3);
	for (size_t i = 0; i < jr->npct; i++)
		fprintf(f, " %9.1f", tsl_hist_pct(h, jr->pct[i]) / 1e3);
	fputc('\n', f);
}

static void text_job(FILE *f, const struct tsl_jobrun *jr)
{
	const struct tsl_job *j = jr->job;
	const struct tsl_stats *s = &jr->total;
	int server = j->role == TSL_ROLE_SERVER;

	fprintf(f, "%s: %s engine=%s %s:%lld threads=%d", j->name,
		server ? "server" : "client", jr->eng->name, j->host,
		(long long)j->port, jr->nthreads);
	if (!server)
		fprintf(f, " concurrency=%lld rate=%g", (long long)j->concurrency, j->rate);
	fprintf(f, "\n  elapsed %.2f s  transactions %llu (%.1f/s)  connections %llu (%.1f/s)\n",
		jr->elapsed_s, (unsigned long long)s->txns, per_s(s->txns, jr->elapsed_s),
		(unsigned long long)s->conns, per_s(s->conns, jr->elapsed_s));
	if (!server)
		fprintf(f, "  sockets %llu (the rest of the connections reused one)\n",
			(unsigned long long)s->sockets);
	fprintf(f, "  errors %llu:", (unsigned long long)s->errs);
	for (int e = 0; e < TSL_E_N; e++)
		fprintf(f, " %s=%llu", tsl_err_names[e], (unsigned long long)s->err[e]);
	fputc('\n', f);
	if (j->engine == TSL_ENG_HTTP && !server) {
		fputs("  http status:", f);
		for (int c = 0; c < TSL_HTTP_CODES; c++)
			if (s->http_status[c])
				fprintf(f, " %d=%llu", c, (unsigned long long)s->http_status[c]);
		fputc('\n', f);
	}
	if (!server) {
		fprintf(f, "  latency (us) %10s %9s %9s %9s %10s", "count", "min", "mean",
			"stddev", "max");
		for (size_t i = 0; i < jr->npct; i++) {
			char k[16];
			snprintf(k, sizeof(k), "p%g", jr->pct[i]);
			fprintf(f, " %9s", k);
		}
		fputc('\n', f);
		for (int p = 0; p < TSL_PH_N; p++)
			text_hist(f, tsl_phase_names[p], &s->lat[p], jr);
	}
	fprintf(f, "  cpu: user %.2f s, sys %.2f s, context switches %ld voluntary / %ld involuntary\n",
		jr->user_s, jr->sys_s, jr->vcsw, jr->ivcsw);
	for (int t = 0; t < jr->nthreads; t++)
		if (jr->w[t].errmsg[0])
			fprintf(f, "  error (thread %d): %s\n", t, jr->w[t].errmsg);
}

void tsl_report_text(FILE *f, const struct tsl_result *r)
{
	fprintf(f, "tsload %s%s\n", TSL_VERSION, r->interrupted ? " (interrupted)" : "");
	for (size_t i = 0; i < r->njobs; i++)
		text_job(f, &r->jr[i]);
}
