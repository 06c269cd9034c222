/* tsl_hist: log-linear latency histogram (nanoseconds).
 * Values below 256 are exact; above, each power of two is split into 128
 * linear buckets, so a bucket's midpoint is within 1/256 (0.4%) of any value
 * in it. Range up to 2^40 ns (about 18 minutes); larger values are clamped
 * into the last bucket (max stays exact). One per thread, merged after. */
#ifndef TSL_HIST_H
#define TSL_HIST_H

#include <stdint.h>

#define TSL_HIST_SUB_BITS 7
#define TSL_HIST_SUB (1u << TSL_HIST_SUB_BITS)
#define TSL_HIST_MAX_BITS 40
#define TSL_HIST_NB (2 * TSL_HIST_SUB + (TSL_HIST_MAX_BITS - TSL_HIST_SUB_BITS - 1) * TSL_HIST_SUB)

struct tsl_hist {
	uint64_t count;
	uint64_t min, max;
	double sum, sumsq;
	uint64_t b[TSL_HIST_NB];
};

void tsl_hist_reset(struct tsl_hist *h);
void tsl_hist_add(struct tsl_hist *h, uint64_t v);
void tsl_hist_merge(struct tsl_hist *dst, const struct tsl_hist *src);
/* Value at percentile p (0..100], nearest-rank; 0 if empty. */
double tsl_hist_pct(const struct tsl_hist *h, double p);
double tsl_hist_mean(const struct tsl_hist *h);
double tsl_hist_stddev(const struct tsl_hist *h);
/* Bucket index of v and the bucket's [lo, hi] bounds (for tests). */
unsigned tsl_hist_index(uint64_t v);
void tsl_hist_bounds(unsigned idx, uint64_t *lo, uint64_t *hi);

#endif
