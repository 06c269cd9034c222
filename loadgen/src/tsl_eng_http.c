#define _GNU_SOURCE
/* http engine: HTTP/1.1 GET; parses the status line, Content-Length,
 * chunked bodies and Connection: close, byte by byte, with a small line
 * buffer per connection (only the first bytes of a header line matter). */
#include "tsl_run.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { H_STATUS, H_HEADER, H_BODY_LEN, H_CHUNK_SIZE, H_CHUNK_DATA,
       H_CHUNK_CRLF, H_TRAILER, H_BODY_EOF, H_DONE };

#define HF_CHUNKED 1
#define HF_LENGTH 2
#define HF_OVERFLOW 4

static int http_persistent(const struct tsl_job *job)
{
	return job->keepalive != 0;
}

static int http_build(const struct tsl_job *job, char **buf, size_t *len)
{
	char host[TSL_STR_MAX + 16];
	if (job->port == 80)
		snprintf(host, sizeof(host), "%s", job->host);
	else
		snprintf(host, sizeof(host), "%s:%lld", job->host, (long long)job->port);
	int n = asprintf(buf,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tsload/0.1\r\n"
			 "Accept: */*\r\n%s\r\n",
			 job->path, host,
			 job->keepalive ? "" : "Connection: close\r\n");
	if (n < 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

static void http_begin(struct tsl_conn *c, const struct tsl_job *job)
{
	(void)job;
	memset(&c->rx.http, 0, sizeof(c->rx.http));
	c->rx.http.st = H_STATUS;
}

static int header_is(const char *line, const char *name, const char **val)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) || line[n] != ':')
		return 0;
	*val = line + n + 1;
	while (**val == ' ' || **val == '\t')
		(*val)++;
	return 1;
}

static int on_status(struct tsl_http_rx *h)
{
	const char *l = h->line;
	if (h->len < 12 || strncmp(l, "HTTP/1.", 7) || l[8] != ' ' ||
	    !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
	    !isdigit((unsigned char)l[11]))
		return -1;
	h->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	h->st = H_HEADER;
	return 0;
}

static int on_header(struct tsl_conn *c, struct tsl_http_rx *h)
{
	const char *v;
	if (h->len == 0) { /* end of headers */
		if (h->status >= 100 && h->status < 200 && h->status != 101) {
			h->st = H_STATUS;
			h->flags = 0;
		} else if (h->status == 204 || h->status == 304) {
			h->st = H_DONE;
		} else if (h->flags & HF_CHUNKED) {
			h->st = H_CHUNK_SIZE;
		} else if (h->flags & HF_LENGTH) {
			h->st = h->left ? H_BODY_LEN : H_DONE;
		} else {
			h->st = H_BODY_EOF;
			c->close_after = 1;
		}
		return 0;
	}
	if (header_is(h->line, "content-length", &v)) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		if (end == v || (h->flags & HF_OVERFLOW))
			return -1;
		h->left = n;
		h->flags |= HF_LENGTH;
	} else if (header_is(h->line, "transfer-encoding", &v)) {
		if (strcasestr(v, "chunked"))
			h->flags |= HF_CHUNKED;
	} else if (header_is(h->line, "connection", &v)) {
		if (strcasestr(v, "close"))
			c->close_after = 1;
	}
	return 0;
}

static int on_chunk_size(struct tsl_http_rx *h)
{
	char *end;
	unsigned long long n = strtoull(h->line, &end, 16);
	if (end == h->line || (*end && *end != ';' && *end != ' '))
		return -1;
	h->left = n;
	h->st = n ? H_CHUNK_DATA : H_TRAILER;
	return 0;
}

/* A complete line is in h->line (CR stripped). */
static int on_line(struct tsl_conn *c, struct tsl_http_rx *h)
{
	int rc = 0;
	switch (h->st) {
	case H_STATUS: rc = on_status(h); break;
	case H_HEADER: rc = on_header(c, h); break;
	case H_CHUNK_SIZE: rc = on_chunk_size(h); break;
	case H_CHUNK_CRLF:
		rc = h->len ? -1 : 0;
		h->st = H_CHUNK_SIZE;
		break;
	case H_TRAILER:
		if (h->len == 0)
			h->st = H_DONE;
		break;
	}
	h->len = 0;
	h->flags &= (uint8_t)~HF_OVERFLOW;
	return rc;
}

static size_t skip_body(struct tsl_http_rx *h, size_t n)
{
	size_t k = n < h->left ? n : (size_t)h->left;
	h->left -= k;
	if (h->left == 0)
		h->st = h->st == H_BODY_LEN ? H_DONE : H_CHUNK_CRLF;
	return k;
}

static int http_rx(struct tsl_conn *c, const char *data, size_t n,
		   size_t *used, enum tsl_err *err)
{
	struct tsl_http_rx *h = &c->rx.http;
	size_t i = 0;
	while (i < n && h->st != H_DONE) {
		if (h->st == H_BODY_EOF) {
			i = n;
			break;
		}
		if (h->st == H_BODY_LEN || h->st == H_CHUNK_DATA) {
			i += skip_body(h, n - i);
			continue;
		}
		char ch = data[i++];
		if (ch == '\n') {
			if (h->len && h->line[h->len - 1] == '\r')
				h->len--;
			h->line[h->len] = '\0';
			if (on_line(c, h)) {
				*used = i;
				*err = TSL_E_OTHER;
				return TSL_RX_ERR;
			}
		} else if (h->len < sizeof(h->line) - 1) {
			h->line[h->len++] = ch;
		} else {
			h->flags |= HF_OVERFLOW;
		}
	}
	*used = i;
	return h->st == H_DONE ? TSL_RX_DONE : TSL_RX_MORE;
}

static int http_eof(struct tsl_conn *c, enum tsl_err *err)
{
	if (c->rx.http.st == H_BODY_EOF || c->rx.http.st == H_DONE)
		return TSL_RX_DONE;
	*err = TSL_E_SHORT_READ;
	return TSL_RX_ERR;
}

static unsigned http_status(const struct tsl_conn *c)
{
	return c->rx.http.status;
}

const struct tsl_engine tsl_engine_http = {
	.name = "http",
	.persistent = http_persistent,
	.build_request = http_build,
	.rx_begin = http_begin,
	.rx = http_rx,
	.rx_eof = http_eof,
	.status = http_status,
};

extern const struct tsl_engine tsl_engine_crr, tsl_engine_rr;

const struct tsl_engine *tsl_engine_get(int64_t id)
{
	switch (id) {
	case TSL_ENG_CRR: return &tsl_engine_crr;
	case TSL_ENG_RR: return &tsl_engine_rr;
	case TSL_ENG_HTTP: return &tsl_engine_http;
	default: return NULL;
	}
}

