#define _GNU_SOURCE
#include "tsl_list.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tsl_parse_percentiles(const char *s, double *out, size_t max, size_t *n,
			  char *err, size_t errlen)
{
	const char *p = s;
	size_t k = 0;

	while (*p) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || !(v > 0.0 && v <= 100.0)) {
			snprintf(err, errlen,
				 "bad percentile list '%s' (want e.g. 50:90:99:99.9, each in (0,100])",
				 s);
			return -1;
		}
		if (k == max) {
			snprintf(err, errlen, "too many percentiles (max %zu)", max);
			return -1;
		}
		out[k++] = v;
		p = end;
		if (*p == ':' || *p == ',')
			p++;
		else if (*p) {
			snprintf(err, errlen, "bad percentile list '%s'", s);
			return -1;
		}
	}
	if (k == 0) {
		snprintf(err, errlen, "empty percentile list");
		return -1;
	}
	*n = k;
	return 0;
}

static int parse_uint(const char **pp, long *v)
{
	char *end;
	errno = 0;
	if (**pp < '0' || **pp > '9')
		return -1;
	*v = strtol(*pp, &end, 10);
	if (errno || *v < 0 || *v >= TSL_MAX_CPUS)
		return -1;
	*pp = end;
	return 0;
}

int tsl_parse_cpus(const char *s, int *out, size_t max, size_t *n, char *err,
		   size_t errlen)
{
	const char *p = s;
	size_t k = 0;

	while (*p) {
		long a, b;
		if (parse_uint(&p, &a))
			goto bad;
		b = a;
		if (*p == '-') {
			p++;
			if (parse_uint(&p, &b) || b < a)
				goto bad;
		}
		for (long c = a; c <= b; c++) {
			if (k == max)
				goto bad;
			out[k++] = (int)c;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	*n = k;
	return 0;
bad:
	snprintf(err, errlen, "bad CPU list '%s' (want e.g. 0-1,3)", s);
	return -1;
}

static int addr_of(const char *s, size_t len, struct in_addr *a)
{
	char buf[INET_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 ? 0 : -1;
}

static int add_range(struct in_addr a, struct in_addr b, struct in_addr *out,
		     size_t max, size_t *k)
{
	uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
	if (hi < lo)
		return -1;
	for (uint64_t v = lo; v <= hi; v++) {
		if (*k == max)
			return -1;
		if (out)
			out[*k].s_addr = htonl((uint32_t)v);
		(*k)++;
	}
	return 0;
}

int tsl_parse_addrs(const char *s, struct in_addr *out, size_t max, size_t *n,
		    char *err, size_t errlen)
{
	const char *p = s;
	size_t k = 0;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *dash = memchr(p, '-', len);
		struct in_addr a, b;
		if (dash) {
			if (addr_of(p, (size_t)(dash - p), &a) ||
			    addr_of(dash + 1, len - (size_t)(dash - p) - 1, &b))
				goto bad;
		} else {
			if (addr_of(p, len, &a))
				goto bad;
			b = a;
		}
		if (add_range(a, b, out, max, &k))
			goto bad;
		p += len;
		if (*p == ',')
			p++;
	}
	*n = k;
	return 0;
bad:
	snprintf(err, errlen,
		 "bad address list '%s' (want IPv4 a,b or a-b, at most %zu)", s,
		 max);
	return -1;
}
