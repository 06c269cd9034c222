/* tsl_stats: per-thread counters and latency histograms, merged after. */
#ifndef TSL_STATS_H
#define TSL_STATS_H

#include "tsl_hist.h"

#include <stdint.h>

enum tsl_err {
	TSL_E_ADDRNOTAVAIL,
	TSL_E_REFUSED,
	TSL_E_RESET,
	TSL_E_TIMEOUT,
	TSL_E_SHORT_READ,
	TSL_E_HTTP_STATUS,
	TSL_E_OTHER,
	TSL_E_N
};

enum tsl_phase { TSL_PH_CONNECT, TSL_PH_RESPONSE, TSL_PH_TOTAL, TSL_PH_N };

#define TSL_HTTP_CODES 600

struct tsl_stats {
	uint64_t txns, conns, errs, accepts;
	uint64_t sockets;                     /* client: socket() calls */
	uint64_t err[TSL_E_N];
	uint64_t http_status[TSL_HTTP_CODES]; /* [0]: unparsable */
	struct tsl_hist lat[TSL_PH_N];
};

extern const char *const tsl_err_names[TSL_E_N];
extern const char *const tsl_phase_names[TSL_PH_N];

void tsl_stats_reset(struct tsl_stats *s);
void tsl_stats_merge(struct tsl_stats *dst, const struct tsl_stats *src);
/* Map an errno from connect/read/write to an error kind. */
enum tsl_err tsl_err_of_errno(int e);

#endif
