#define _GNU_SOURCE
#include "tsl_stats.h"

#include <errno.h>
#include <string.h>

const char *const tsl_err_names[TSL_E_N] = {
	"eaddrnotavail", "refused", "reset", "timeout", "short_read",
	"http_status", "other"};
const char *const tsl_phase_names[TSL_PH_N] = {"connect", "response", "total"};

void tsl_stats_reset(struct tsl_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < TSL_PH_N; i++)
		tsl_hist_reset(&s->lat[i]);
}

void tsl_stats_merge(struct tsl_stats *dst, const struct tsl_stats *src)
{
	dst->txns += src->txns;
	dst->conns += src->conns;
	dst->errs += src->errs;
	dst->accepts += src->accepts;
	dst->sockets += src->sockets;
	for (int i = 0; i < TSL_E_N; i++)
		dst->err[i] += src->err[i];
	for (int i = 0; i < TSL_HTTP_CODES; i++)
		dst->http_status[i] += src->http_status[i];
	for (int i = 0; i < TSL_PH_N; i++)
		tsl_hist_merge(&dst->lat[i], &src->lat[i]);
}

enum tsl_err tsl_err_of_errno(int e)
{
	switch (e) {
	case EADDRNOTAVAIL:
	case EADDRINUSE:
		return TSL_E_ADDRNOTAVAIL;
	case ECONNREFUSED:
		return TSL_E_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return TSL_E_RESET;
	case ETIMEDOUT:
		return TSL_E_TIMEOUT;
	default:
		return TSL_E_OTHER;
	}
}
