/* tsl_list: parsers for the list-valued options (percentiles, CPU lists,
 * source address lists/ranges). Used by validation and by the run plan. */
#ifndef TSL_LIST_H
#define TSL_LIST_H

#include <netinet/in.h>
#include <stddef.h>

#define TSL_MAX_PCT 32
#define TSL_MAX_CPUS 1024
#define TSL_MAX_SRC 65536

/* "50:90:99:99.9" (':' or ',' separated), each in (0, 100]. */
int tsl_parse_percentiles(const char *s, double *out, size_t max, size_t *n,
			  char *err, size_t errlen);
/* "0-1,3" -> list of cpu numbers (in order given). */
int tsl_parse_cpus(const char *s, int *out, size_t max, size_t *n, char *err,
		   size_t errlen);
/* "a,b" or "a-b" (IPv4, network order out). If out is NULL, only counts. */
int tsl_parse_addrs(const char *s, struct in_addr *out, size_t max, size_t *n,
		    char *err, size_t errlen);

#endif
