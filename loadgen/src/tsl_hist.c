#define _GNU_SOURCE
#include "tsl_hist.h"

#include <math.h>
#include <string.h>

void tsl_hist_reset(struct tsl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned tsl_hist_index(uint64_t v)
{
	if (v < 2 * TSL_HIST_SUB)
		return (unsigned)v;
	if (v >> TSL_HIST_MAX_BITS)
		return TSL_HIST_NB - 1;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS+1 */
	unsigned shift = msb - TSL_HIST_SUB_BITS;          /* >= 1 */
	return 2 * TSL_HIST_SUB + (shift - 1) * TSL_HIST_SUB +
	       (unsigned)((v >> shift) - TSL_HIST_SUB);
}

void tsl_hist_bounds(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	if (idx < 2 * TSL_HIST_SUB) {
		*lo = *hi = idx;
		return;
	}
	unsigned shift = (idx - 2 * TSL_HIST_SUB) / TSL_HIST_SUB + 1;
	uint64_t top = (idx - 2 * TSL_HIST_SUB) % TSL_HIST_SUB + TSL_HIST_SUB;
	*lo = top << shift;
	*hi = *lo + (1ULL << shift) - 1;
}

void tsl_hist_add(struct tsl_hist *h, uint64_t v)
{
	h->count++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum += (double)v;
	h->sumsq += (double)v * (double)v;
	h->b[tsl_hist_index(v)]++;
}

void tsl_hist_merge(struct tsl_hist *dst, const struct tsl_hist *src)
{
	if (!src->count)
		return;
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->sum += src->sum;
	dst->sumsq += src->sumsq;
	for (unsigned i = 0; i < TSL_HIST_NB; i++)
		dst->b[i] += src->b[i];
}

double tsl_hist_pct(const struct tsl_hist *h, double p)
{
	if (!h->count)
		return 0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < TSL_HIST_NB; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo, hi;
			tsl_hist_bounds(i, &lo, &hi);
			double mid = ((double)lo + (double)hi) / 2.0;
			if (mid < (double)h->min)
				mid = (double)h->min;
			if (mid > (double)h->max)
				mid = (double)h->max;
			return mid;
		}
	}
	return (double)h->max;
}

double tsl_hist_mean(const struct tsl_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}

double tsl_hist_stddev(const struct tsl_hist *h)
{
	if (h->count < 2)
		return 0;
	double m = h->sum / (double)h->count;
	double var = h->sumsq / (double)h->count - m * m;
	return var > 0 ? sqrt(var) : 0;
}
