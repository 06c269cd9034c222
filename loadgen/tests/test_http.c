/* The http engine's response parser, fed whole and byte by byte. */
#define _GNU_SOURCE
#include "tsl_run.h"
#include "unit.h"

#include <string.h>

extern const struct tsl_engine tsl_engine_http;

/* Feed text in pieces of `step` bytes; returns the final rx rc. */
static int feed(struct tsl_conn *c, const char *text, size_t step, int eof,
		size_t *junk)
{
	const struct tsl_engine *e = &tsl_engine_http;
	struct tsl_job j;
	enum tsl_err err = TSL_E_N;
	size_t n = strlen(text), off = 0;
	int rc = TSL_RX_MORE;
	tsl_opt_defaults(&j);
	memset(c, 0, sizeof(*c));
	e->rx_begin(c, &j);
	*junk = 0;
	while (off < n && rc == TSL_RX_MORE) {
		size_t k = n - off < step ? n - off : step, used = 0;
		rc = e->rx(c, text + off, k, &used, &err);
		off += used;
		if (rc == TSL_RX_DONE)
			*junk = n - off;
	}
	if (rc == TSL_RX_MORE && eof)
		rc = e->rx_eof(c, &err);
	return rc;
}

static void one(const char *name, const char *text, int eof, int want_rc,
		unsigned want_status, int want_close)
{
	static const size_t steps[] = {1, 2, 7, 4096};
	unit_begin(name);
	for (size_t s = 0; s < 4; s++) {
		struct tsl_conn c;
		size_t junk;
		int rc = feed(&c, text, steps[s], eof, &junk);
		CHECK(rc == want_rc, "%s step %zu: rc %d want %d", name, steps[s], rc, want_rc);
		if (want_rc == TSL_RX_DONE) {
			CHECK(tsl_engine_http.status(&c) == want_status, "%s status %u",
			      name, tsl_engine_http.status(&c));
			CHECK(c.close_after == want_close, "%s close %d", name, c.close_after);
			CHECK(junk == 0, "%s: %zu bytes left over", name, junk);
		}
	}
}

void test_http(void)
{
	one("content-length",
	    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1 with a long header line that overflows\r\n"
	    "Content-Length: 5\r\n\r\nhello", 0, TSL_RX_DONE, 200, 0);
	one("chunked",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n",
	    0, TSL_RX_DONE, 200, 0);
	one("close", "HTTP/1.1 404 Not Found\r\nconnection: Close\r\ncontent-length: 3\r\n\r\nabc",
	    0, TSL_RX_DONE, 404, 1);
	one("no length, read to EOF", "HTTP/1.0 200 OK\r\n\r\nbody bytes", 1, TSL_RX_DONE, 200, 1);
	one("204", "HTTP/1.1 204 No Content\r\n\r\n", 0, TSL_RX_DONE, 204, 0);
	one("100 continue",
	    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	    0, TSL_RX_DONE, 200, 0);
	one("short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1,
	    TSL_RX_ERR, 0, 0);
	one("garbage status", "SSH-2.0-OpenSSH\r\n\r\n", 0, TSL_RX_ERR, 0, 0);
	one("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    0, TSL_RX_ERR, 0, 0);
}
