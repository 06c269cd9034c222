#define _GNU_SOURCE
/* crr and rr engines: req_size bytes out, resp_size bytes back. */
#include "tsl_run.h"

#include <stdlib.h>
#include <string.h>

static int crr_persistent(const struct tsl_job *job)
{
	(void)job;
	return 0;
}

static int rr_persistent(const struct tsl_job *job)
{
	(void)job;
	return 1;
}

static int raw_build(const struct tsl_job *job, char **buf, size_t *len)
{
	size_t n = (size_t)job->req_size;
	*buf = malloc(n ? n : 1);
	if (!*buf)
		return -1;
	memset(*buf, 'q', n);
	*len = n;
	return 0;
}

static void raw_begin(struct tsl_conn *c, const struct tsl_job *job)
{
	c->rx.left = (uint64_t)job->resp_size;
}

static int raw_rx(struct tsl_conn *c, const char *data, size_t n, size_t *used,
		  enum tsl_err *err)
{
	(void)data;
	if (n > c->rx.left) {
		/* more than the response: the peer does not speak our protocol */
		*used = (size_t)c->rx.left;
		*err = TSL_E_OTHER;
		return TSL_RX_ERR;
	}
	c->rx.left -= n;
	*used = n;
	return c->rx.left ? TSL_RX_MORE : TSL_RX_DONE;
}

static int raw_eof(struct tsl_conn *c, enum tsl_err *err)
{
	if (c->rx.left == 0)
		return TSL_RX_DONE;
	*err = TSL_E_SHORT_READ;
	return TSL_RX_ERR;
}

static unsigned raw_status(const struct tsl_conn *c)
{
	(void)c;
	return 0;
}

const struct tsl_engine tsl_engine_crr = {
	.name = "crr",
	.persistent = crr_persistent,
	.build_request = raw_build,
	.rx_begin = raw_begin,
	.rx = raw_rx,
	.rx_eof = raw_eof,
	.status = raw_status,
};

const struct tsl_engine tsl_engine_rr = {
	.name = "rr",
	.persistent = rr_persistent,
	.build_request = raw_build,
	.rx_begin = raw_begin,
	.rx = raw_rx,
	.rx_eof = raw_eof,
	.status = raw_status,
};
