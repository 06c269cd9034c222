#define _GNU_SOURCE
#include "tsl_plan.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void where(const struct tsl_job *j, const char *opt, char *buf,
		  size_t len)
{
	size_t idx;
	if (tsl_opt_find(opt, &idx) && j->set_file[idx] && j->set_line[idx])
		snprintf(buf, len, "%s:%d", j->set_file[idx], j->set_line[idx]);
	else if (tsl_opt_find(opt, &idx) && (j->set_mask & (1ULL << idx)))
		snprintf(buf, len, "command line: --%s", opt);
	else
		snprintf(buf, len, "job '%s': default %s", j->name, opt);
}

static int resolve(struct tsl_jobrun *jr, char *err, size_t errlen)
{
	const struct tsl_job *j = jr->job;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char w[256];
	int rc = getaddrinfo(j->host, NULL, &hints, &ai);
	if (rc || !ai) {
		where(j, "host", w, sizeof(w));
		snprintf(err, errlen, "%s: job '%s': cannot resolve host '%s': %s", w,
			 j->name, j->host, gai_strerror(rc));
		return -1;
	}
	memcpy(&jr->dst, ai->ai_addr, sizeof(jr->dst));
	jr->dst.sin_port = htons((uint16_t)j->port);
	freeaddrinfo(ai);
	return 0;
}

static int lists(struct tsl_jobrun *jr, char *err, size_t errlen)
{
	const struct tsl_job *j = jr->job;
	char msg[256], w[256];
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	if (tsl_parse_percentiles(j->percentiles, jr->pct, TSL_MAX_PCT, &jr->npct,
				  msg, sizeof(msg)) ||
	    tsl_parse_cpus(j->cpus_allowed, jr->cpus, TSL_MAX_CPUS, &jr->ncpus,
			   msg, sizeof(msg)))
		goto fail; /* validated at parse time; kept for safety */
	for (size_t i = 0; i < jr->ncpus; i++)
		if (jr->cpus[i] >= ncpu || jr->cpus[i] >= CPU_SETSIZE) {
			where(j, "cpus_allowed", w, sizeof(w));
			snprintf(err, errlen, "%s: job '%s': CPU %d does not exist (%ld CPUs)",
				 w, j->name, jr->cpus[i], ncpu);
			return -1;
		}
	if (!j->source_addrs[0])
		return 0;
	if (tsl_parse_addrs(j->source_addrs, NULL, TSL_MAX_SRC, &jr->nsrc, msg,
			    sizeof(msg)))
		goto fail;
	jr->src = calloc(jr->nsrc, sizeof(*jr->src));
	if (!jr->src) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (tsl_parse_addrs(j->source_addrs, jr->src, jr->nsrc, &jr->nsrc, msg,
			    sizeof(msg)))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "job '%s': %s", j->name, msg);
	return -1;
}

int tsl_plan_job(struct tsl_jobrun *jr, struct tsl_job *job, char *err,
		 size_t errlen)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	memset(jr, 0, sizeof(*jr));
	jr->job = job;
	jr->eng = tsl_engine_get(job->engine);
	jr->nthreads = (int)job->threads;
	if (!jr->eng || resolve(jr, err, errlen) || lists(jr, err, errlen))
		return -1;
	jr->w = calloc((size_t)jr->nthreads, sizeof(*jr->w));
	if (!jr->w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < jr->nthreads; i++) {
		struct tsl_worker *w = &jr->w[i];
		w->jr = jr;
		w->id = i;
		w->epfd = w->lfd = -1;
		if (jr->ncpus)
			w->cpu = jr->cpus[(size_t)i % jr->ncpus];
		else if (job->role == TSL_ROLE_SERVER && online > 0)
			w->cpu = (int)(i % online); /* server threads are pinned */
		else
			w->cpu = -1;
	}
	jr->ival_ns = (uint64_t)job->log_interval_us * 1000;
	tsl_stats_reset(&jr->total);
	return 0;
}

void tsl_plan_clock(struct tsl_jobrun *jr, uint64_t t_start)
{
	const struct tsl_job *j = jr->job;
	size_t idx;
	int has_runtime = j->runtime_us > 0;
	if (j->role == TSL_ROLE_SERVER && tsl_opt_find("runtime", &idx))
		has_runtime = has_runtime && (j->set_mask & (1ULL << idx));
	jr->t_start = t_start;
	jr->t_measure = t_start + (uint64_t)j->ramp_us * 1000;
	jr->t_end = has_runtime ? jr->t_measure + (uint64_t)j->runtime_us * 1000 : 0;
}

void tsl_plan_free(struct tsl_jobrun *jr)
{
	if (jr->w)
		for (int i = 0; i < jr->nthreads; i++)
			tsl_worker_free(&jr->w[i]);
	free(jr->w);
	free(jr->src);
	free(jr->ts);
	jr->w = NULL;
	jr->src = NULL;
	jr->ts = NULL;
}
