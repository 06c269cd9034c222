/* Histogram accuracy: percentiles within 1% of the exact ones on random
 * data of several shapes; merge equals one histogram of all data. */
#define _GNU_SOURCE
#include "tsl_hist.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ULL;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	return v[rank ? rank - 1 : 0];
}

static void accuracy(const char *shape, int kind)
{
	enum { N = 200000 };
	static const double pct[] = {1, 10, 50, 90, 99, 99.9, 99.99, 100};
	uint64_t *v = malloc(N * sizeof(*v));
	struct tsl_hist *h = malloc(sizeof(*h));
	double worst = 0;
	unit_begin(shape);
	tsl_hist_reset(h);
	for (size_t i = 0; i < N; i++) {
		double u = urand();
		if (kind == 0) /* lognormal around 50 us */
			v[i] = (uint64_t)(50000.0 * exp(1.2 * sqrt(-2 * log(u + 1e-12)) *
							cos(2 * M_PI * urand())));
		else if (kind == 1) /* uniform 0..10 ms */
			v[i] = (uint64_t)(u * 1e7);
		else /* heavy tail: pareto */
			v[i] = (uint64_t)(20000.0 / pow(u + 1e-9, 0.8));
		tsl_hist_add(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp);
	for (size_t k = 0; k < sizeof(pct) / sizeof(pct[0]); k++) {
		double e = (double)exact(v, N, pct[k]);
		double got = tsl_hist_pct(h, pct[k]);
		double rel = e > 0 ? fabs(got - e) / e : fabs(got);
		if (rel > worst)
			worst = rel;
		CHECK(rel <= 0.01, "%s p%g: exact %.0f got %.0f (%.3f%%)", shape,
		      pct[k], e, got, rel * 100);
	}
	CHECK(h->count == N && h->min == v[0] && h->max == v[N - 1], "%s count/min/max", shape);
	printf("hist %s: worst relative error %.3f%%\n", shape, worst * 100);
	free(v);
	free(h);
}

static void buckets(void)
{
	unit_begin("histogram buckets");
	unsigned prev = 0;
	int ok = 1;
	for (uint64_t x = 1; x < (1ULL << 40); x = x * 3 / 2 + 1) {
		unsigned i = tsl_hist_index(x);
		uint64_t lo, hi;
		tsl_hist_bounds(i, &lo, &hi);
		if (i < prev || x < lo || x > hi || (double)(hi - lo) > (double)lo / 127.0)
			ok = 0;
		prev = i;
	}
	CHECK(ok, "bucket index monotonic, bounds contain value, width <= lo/128");
	CHECK(tsl_hist_index(UINT64_MAX) == TSL_HIST_NB - 1, "overflow clamps");
}

static void merge(void)
{
	unit_begin("histogram merge");
	struct tsl_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)),
			*all = malloc(sizeof(*all));
	tsl_hist_reset(a);
	tsl_hist_reset(b);
	tsl_hist_reset(all);
	for (int i = 0; i < 10000; i++) {
		uint64_t x = (uint64_t)(urand() * 1e6);
		tsl_hist_add(i % 3 ? a : b, x);
		tsl_hist_add(all, x);
	}
	tsl_hist_merge(a, b);
	CHECK(a->count == all->count && a->min == all->min && a->max == all->max,
	      "merged count/min/max");
	CHECK(tsl_hist_pct(a, 99) == tsl_hist_pct(all, 99), "merged p99");
	CHECK(fabs(tsl_hist_mean(a) - tsl_hist_mean(all)) < 1e-6 * tsl_hist_mean(all), "mean");
	struct tsl_hist *e = b;
	tsl_hist_reset(e);
	CHECK(tsl_hist_pct(e, 50) == 0 && tsl_hist_mean(e) == 0, "empty histogram");
	free(a);
	free(b);
	free(all);
}

void test_hist(void)
{
	accuracy("lognormal", 0);
	accuracy("uniform", 1);
	accuracy("pareto", 2);
	buckets();
	merge();
}
