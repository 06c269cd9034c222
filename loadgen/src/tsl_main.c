/* tsload: parse, plan, run every job concurrently, report. The main thread
 * owns signals (sigtimedwait), merges the interval time series and writes
 * the report; workers own everything else. */
#define _GNU_SOURCE
#include "tsl_cfg.h"
#include "tsl_plan.h"
#include "tsl_report.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>


/* Raise RLIMIT_NOFILE as far as needed and allowed. A client job whose
 * connections cannot fit is refused before any traffic (exit 1). */
static int raise_nofile(const struct tsl_cfg *cfg)
{
	struct rlimit rl;
	rlim_t need = 64, clients = 64;
	for (size_t i = 0; i < cfg->njobs; i++) {
		if (cfg->jobs[i].role == TSL_ROLE_SERVER) {
			need += 262144; /* a server cannot know its client count */
		} else {
			need += (rlim_t)cfg->jobs[i].concurrency + 16;
			clients += (rlim_t)cfg->jobs[i].concurrency + 16;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < need && rl.rlim_max < need) {
		struct rlimit hard = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return 0; /* privileged: raised both */
	}
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < clients) {
		fprintf(stderr,
			"tsload: the client jobs need %llu file descriptors but RLIMIT_NOFILE "
			"is %llu (hard limit; raising it needs CAP_SYS_RESOURCE): lower "
			"concurrency or run several tsload processes\n",
			(unsigned long long)clients, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Merge interval k of every worker once all have published it. */
static int drain_one(struct tsl_jobrun *jr, struct tsl_hist *h)
{
	uint64_t k = jr->next_k, txns = 0, conns = 0, errs = 0;
	int any = 0;
	for (int t = 0; t < jr->nthreads; t++) {
		struct tsl_worker *w = &jr->w[t];
		int fin = atomic_load_explicit(&w->finished, memory_order_acquire);
		uint64_t pub = atomic_load_explicit(&w->published, memory_order_acquire);
		if (pub > k)
			any = 1;
		else if (!fin)
			return 0;
	}
	if (!any)
		return 0;
	tsl_hist_reset(h);
	for (int t = 0; t < jr->nthreads; t++) {
		struct tsl_worker *w = &jr->w[t];
		if (atomic_load_explicit(&w->published, memory_order_acquire) <= k)
			continue;
		const struct tsl_ival *iv = &w->ring[k % TSL_RING];
		txns += iv->txns;
		conns += iv->conns;
		errs += iv->errs;
		tsl_hist_merge(h, &iv->total);
	}
	if (jr->nts == jr->capts) {
		size_t cap = jr->capts ? jr->capts * 2 : 64;
		struct tsl_tspoint *p = realloc(jr->ts, cap * sizeof(*p));
		if (!p)
			return 0;
		jr->ts = p;
		jr->capts = cap;
	}
	double ivs = (double)jr->ival_ns / 1e9;
	struct tsl_tspoint *p = &jr->ts[jr->nts++];
	p->t = (double)(k + 1) * ivs;
	p->txns = txns;
	p->conns = conns;
	p->errs = errs;
	p->p99_us = tsl_hist_pct(h, 99.0) / 1e3;
	fprintf(stderr, "tsload: t=%.1f tps=%.1f cps=%.1f errors=%llu p99_us=%.1f job=%s\n",
		p->t, (double)txns / ivs, (double)conns / ivs,
		(unsigned long long)errs, p->p99_us, jr->job->name);
	jr->next_k = k + 1;
	atomic_store_explicit(&jr->consumed, jr->next_k, memory_order_release);
	return 1;
}

static void drain(struct tsl_jobrun *jr, size_t n, struct tsl_hist *h)
{
	for (size_t i = 0; i < n; i++)
		if (jr[i].ival_ns)
			while (drain_one(&jr[i], h))
				;
}

static void merge_results(struct tsl_jobrun *jr)
{
	uint64_t stop = jr->t_measure;
	for (int t = 0; t < jr->nthreads; t++) {
		struct tsl_worker *w = &jr->w[t];
		tsl_stats_merge(&jr->total, &w->st);
		if (w->t_stop > stop)
			stop = w->t_stop;
		jr->user_s += (double)(w->ru1.ru_utime.tv_sec - w->ru0.ru_utime.tv_sec) +
			      (double)(w->ru1.ru_utime.tv_usec - w->ru0.ru_utime.tv_usec) / 1e6;
		jr->sys_s += (double)(w->ru1.ru_stime.tv_sec - w->ru0.ru_stime.tv_sec) +
			     (double)(w->ru1.ru_stime.tv_usec - w->ru0.ru_stime.tv_usec) / 1e6;
		jr->vcsw += w->ru1.ru_nvcsw - w->ru0.ru_nvcsw;
		jr->ivcsw += w->ru1.ru_nivcsw - w->ru0.ru_nivcsw;
	}
	jr->elapsed_s = (double)(stop - jr->t_measure) / 1e9;
}

/* Are all workers of the jobs of this role (-1: any role) finished? */
static int all_finished(struct tsl_jobrun *jr, size_t n, int role)
{
	for (size_t i = 0; i < n; i++) {
		if (role >= 0 && jr[i].job->role != role)
			continue;
		for (int t = 0; t < jr[i].nthreads; t++)
			if (jr[i].w[t].started &&
			    !atomic_load_explicit(&jr[i].w[t].finished, memory_order_acquire))
				return 0;
	}
	return 1;
}

static int has_role(const struct tsl_jobrun *jr, size_t n, int role)
{
	for (size_t i = 0; i < n; i++)
		if (jr[i].job->role == role)
			return 1;
	return 0;
}

/* Bind every server listener, then set up clients: nothing is sent before
 * every job is known to be runnable. */
static int setup_all(struct tsl_jobrun *jr, size_t n)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			int server = jr[i].job->role == TSL_ROLE_SERVER;
			if (server != (pass == 0))
				continue;
			for (int t = 0; t < jr[i].nthreads; t++) {
				struct tsl_worker *w = &jr[i].w[t];
				if (server ? tsl_server_setup(w) : tsl_client_setup(w)) {
					fprintf(stderr, "tsload: job '%s': %s\n", jr[i].job->name,
						w->errmsg);
					return -1;
				}
			}
			if (server)
				fprintf(stderr, "tsload server: listening on %s:%lld\n",
					jr[i].job->host, (long long)jr[i].job->port);
		}
	return 0;
}

static int start_all(struct tsl_jobrun *jr, size_t n)
{
	uint64_t t0 = tsl_now_ns();
	for (size_t i = 0; i < n; i++)
		tsl_plan_clock(&jr[i], t0);
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < jr[i].nthreads; t++) {
			struct tsl_worker *w = &jr[i].w[t];
			void *(*fn)(void *) = jr[i].job->role == TSL_ROLE_SERVER ?
					      tsl_server_main : tsl_client_main;
			int rc = pthread_create(&w->th, NULL, fn, w);
			if (rc) {
				fprintf(stderr, "tsload: pthread_create: %s\n", strerror(rc));
				return -1;
			}
			w->started = 1;
		}
	return 0;
}

/* Wait for the jobs, handle SIGINT/SIGTERM; returns 1 if interrupted. */
static int supervise(struct tsl_jobrun *jr, size_t n, const sigset_t *sigs,
		     struct tsl_hist *h)
{
	int interrupted = 0;
	int clients = has_role(jr, n, TSL_ROLE_CLIENT);
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
	while (!all_finished(jr, n, -1)) {
		/* server jobs next to client jobs stop when the clients are done */
		if (clients && all_finished(jr, n, TSL_ROLE_CLIENT))
			atomic_store(&tsl_stop, 1);
		int sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			if (!interrupted)
				fprintf(stderr, "tsload: %s, stopping\n", strsignal(sig));
			interrupted = 1;
			atomic_store(&tsl_stop, 1);
		}
		drain(jr, n, h);
	}
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < jr[i].nthreads; t++)
			if (jr[i].w[t].started)
				pthread_join(jr[i].w[t].th, NULL);
	drain(jr, n, h);
	return interrupted;
}

/* The report file is opened before any traffic, so that a bad path fails
 * early instead of losing a finished run. */
static FILE *open_report(const struct tsl_cfg *cfg)
{
	FILE *f = stdout;
	if (cfg->output) {
		f = fopen(cfg->output, "w");
		if (!f)
			fprintf(stderr, "tsload: --output=%s: %s\n", cfg->output, strerror(errno));
	}
	return f;
}

static int write_report(const struct tsl_cfg *cfg, FILE *f,
			const struct tsl_result *r)
{
	if (cfg->json)
		tsl_report_json(f, r);
	else
		tsl_report_text(f, r);
	if (f != stdout ? fclose(f) : fflush(f)) {
		fprintf(stderr, "tsload: writing the report: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int run(struct tsl_cfg *cfg, struct tsl_jobrun *jr)
{
	struct tsl_result r = {.cfg = cfg, .jr = jr, .njobs = cfg->njobs,
			       .timestamp = time(NULL)};
	struct tsl_hist *h = malloc(sizeof(*h));
	FILE *out;
	sigset_t sigs;
	int rc = 0;

	if (!h) {
		fprintf(stderr, "tsload: out of memory\n");
		return 1;
	}
	if (raise_nofile(cfg) || !(out = open_report(cfg))) {
		free(h);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (setup_all(jr, cfg->njobs) || start_all(jr, cfg->njobs)) {
		atomic_store(&tsl_stop, 1);
		rc = 1;
	}
	r.interrupted = supervise(jr, cfg->njobs, &sigs, h);
	free(h);
	if (rc) {
		if (out != stdout)
			fclose(out);
		return rc;
	}
	for (size_t i = 0; i < cfg->njobs; i++) {
		merge_results(&jr[i]);
		for (int t = 0; t < jr[i].nthreads; t++)
			if (jr[i].w[t].errmsg[0])
				rc = 1;
	}
	if (write_report(cfg, out, &r))
		rc = 1;
	return rc;
}

int main(int argc, char **argv)
{
	struct tsl_cfg cfg;
	struct tsl_jobrun *jr = NULL;
	char err[TSL_ERR_LEN];
	size_t planned = 0;
	int rc = 2;

	tsl_cfg_init(&cfg);
	if (tsl_cfg_args(&cfg, argc, argv, err, sizeof(err)))
		goto bad;
	if (cfg.help || cfg.version || cfg.dump_options) {
		if (cfg.help)
			tsl_opt_help(stdout);
		else if (cfg.dump_options)
			tsl_opt_dump_json(stdout, TSL_VERSION);
		else
			printf("tsload %s\n", TSL_VERSION);
		tsl_cfg_free(&cfg);
		return 0;
	}
	if (tsl_cfg_finish(&cfg, err, sizeof(err)))
		goto bad;
	jr = calloc(cfg.njobs, sizeof(*jr));
	if (!jr) {
		snprintf(err, sizeof(err), "out of memory");
		goto bad;
	}
	for (; planned < cfg.njobs; planned++)
		if (tsl_plan_job(&jr[planned], &cfg.jobs[planned], err, sizeof(err))) {
			planned++;
			goto bad;
		}
	rc = run(&cfg, jr);
	goto out;
bad:
	fprintf(stderr, "%s\n", err);
out:
	for (size_t i = 0; i < planned; i++)
		tsl_plan_free(&jr[i]);
	free(jr);
	tsl_cfg_free(&cfg);
	return rc;
}
