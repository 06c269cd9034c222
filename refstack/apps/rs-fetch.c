/* rs-fetch: GET one URL over refstack (afpacket) and write the body to a
 * file.  Exit status 0 only for a 200 response whose body arrived whole
 * (Content-Length bytes, or up to the peer's FIN without one) and, with
 * --expect-size, of that size.
 *
 *   rs-fetch --if IFSPEC [--ip A] http://198.18.20.1[:port]/path
 *            [-o FILE] [--expect-size N] [--timeout S] */
#include "rs_app.h"

#include <fcntl.h>
#include <unistd.h>

#define RBUF (1u << 16)
#define HDR_MAX 8192

enum { F_CONNECTING, F_SENDING, F_HEADER, F_BODY, F_DONE, F_FAILED };

struct fetch {
	struct app app;
	int ep, fd, out;
	int state;
	char req[512];
	size_t reqlen, reqoff;
	char hdr[HDR_MAX + 1];
	size_t hdrlen;
	int status;
	long long clen;       /* -1: until EOF */
	uint64_t got;
	const char *why;      /* failure reason */
};

static int fetch_fail(struct fetch *f, const char *why)
{
	f->state = F_FAILED;
	f->why = why;
	return -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int body_data(struct fetch *f, const uint8_t *p, size_t n)
{
	if (f->clen >= 0 && f->got + n > (uint64_t)f->clen)
		return fetch_fail(f, "more body bytes than Content-Length");
	if (f->out >= 0 && write_all(f->out, p, n) < 0)
		return fetch_fail(f, "writing the output file");
	f->got += n;
	if (f->clen >= 0 && f->got == (uint64_t)f->clen)
		f->state = F_DONE;
	return 0;
}

/* Header complete: parse status and Content-Length, pass the rest on. */
static int header_data(struct fetch *f, const uint8_t *p, size_t n)
{
	size_t take = n < HDR_MAX - f->hdrlen ? n : HDR_MAX - f->hdrlen;
	memcpy(f->hdr + f->hdrlen, p, take);
	f->hdrlen += take;
	f->hdr[f->hdrlen] = '\0';
	char *end = strstr(f->hdr, "\r\n\r\n");
	if (!end)
		return f->hdrlen >= HDR_MAX ? fetch_fail(f, "response header too long") : 0;
	size_t hlen = (size_t)(end + 4 - f->hdr);
	if (sscanf(f->hdr, "HTTP/1.%*d %d", &f->status) != 1)
		return fetch_fail(f, "not an HTTP response");
	char *cl = strcasestr(f->hdr, "\r\nContent-Length:");
	f->clen = cl && cl < end ? strtoll(cl + 17, NULL, 10) : -1;
	f->state = F_BODY;
	if (f->clen == 0)
		f->state = F_DONE;
	/* body bytes: what followed the header in hdr[], then the rest of p */
	if (f->hdrlen > hlen && body_data(f, (const uint8_t *)f->hdr + hlen,
					  f->hdrlen - hlen) < 0)
		return -1;
	return n > take ? body_data(f, p + take, n - take) : 0;
}

static void on_readable(struct fetch *f)
{
	static uint8_t buf[RBUF];
	while (f->state == F_HEADER || f->state == F_BODY) {
		ssize_t n = rs_recv(f->app.core, f->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno != EAGAIN)
				fetch_fail(f, strerror(errno));
			return;
		}
		if (n == 0) {
			if (f->state == F_BODY && f->clen < 0)
				f->state = F_DONE;
			else
				fetch_fail(f, "connection closed before the end of the response");
			return;
		}
		if (f->state == F_HEADER)
			header_data(f, buf, (size_t)n);
		else
			body_data(f, buf, (size_t)n);
	}
}

static void on_writable(struct fetch *f)
{
	if (f->state == F_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (rs_getsockopt(f->app.core, f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			fetch_fail(f, strerror(err ? err : errno));
			return;
		}
		f->state = F_SENDING;
	}
	while (f->state == F_SENDING && f->reqoff < f->reqlen) {
		ssize_t n = rs_send(f->app.core, f->fd, f->req + f->reqoff,
				    f->reqlen - f->reqoff, 0);
		if (n < 0) {
			if (errno != EAGAIN)
				fetch_fail(f, strerror(errno));
			return;
		}
		f->reqoff += (size_t)n;
	}
	if (f->state == F_SENDING) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = f->fd };
		f->state = F_HEADER;
		if (rs_epoll_ctl(f->app.core, f->ep, EPOLL_CTL_MOD, f->fd, &ev) < 0)
			fetch_fail(f, "epoll_ctl");
	}
}

static int fetch_start(struct fetch *f, const struct sockaddr_in *sa)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = 0 };
	f->ep = rs_epoll_create(f->app.core);
	f->fd = rs_socket(f->app.core, AF_INET, SOCK_STREAM, 0);
	if (f->ep < 0 || f->fd < 0)
		return -1;
	ev.data.fd = f->fd;
	if (rs_epoll_ctl(f->app.core, f->ep, EPOLL_CTL_ADD, f->fd, &ev) < 0)
		return -1;
	/* the stack's clock starts with the first poll */
	app_poll(&f->app);
	if (rs_connect(f->app.core, f->fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	return errno == EINPROGRESS ? 0 : -1;
}

static void fetch_loop(struct fetch *f, long timeout_s)
{
	struct epoll_event ev[8];
	uint64_t end = rs_clock_ns() + (uint64_t)timeout_s * 1000000000u;
	while (!app_stop && f->state != F_DONE && f->state != F_FAILED) {
		if (rs_clock_ns() > end) {
			fetch_fail(f, "timeout");
			break;
		}
		int rx = app_poll(&f->app);
		int n = rs_epoll_wait(f->app.core, f->ep, ev, 8);
		for (int i = 0; i < n; i++) {
			if (ev[i].events & (EPOLLOUT | EPOLLERR) && f->state <= F_SENDING)
				on_writable(f);
			else if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				on_readable(f);
		}
		if (rx <= 0 && n <= 0)
			app_idle(&f->app, 50);
	}
	if (app_stop && f->state != F_DONE)
		fetch_fail(f, "interrupted");
}

/* Close and keep polling until the connection is gone (FIN exchanged). */
static void fetch_linger(struct fetch *f)
{
	struct rs_table_sizes t;
	rs_close(f->app.core, f->fd);
	for (uint64_t end = rs_clock_ns() + 500000000u; rs_clock_ns() < end;) {
		app_poll(&f->app);
		rs_core_tables(f->app.core, &t);
		if (t.established == 0 && t.syn_recv == 0)
			break;
		app_idle(&f->app, 5);
	}
}

static int parse_url(struct fetch *f, const char *url, struct sockaddr_in *sa)
{
	if (strncmp(url, "http://", 7) != 0 || app_parse_addr(url + 7, 80, sa) < 0)
		return -1;
	const char *path = strchr(url + 7, '/');
	char host[64];
	snprintf(host, sizeof(host), "%.*s", (int)(path ? (size_t)(path - url - 7) : strlen(url + 7)), url + 7);
	int n = snprintf(f->req, sizeof(f->req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
			 "User-Agent: rs-fetch\r\nConnection: close\r\n\r\n",
			 path ? path : "/", host);
	if (n <= 0 || (size_t)n >= sizeof(f->req))
		return -1;
	f->reqlen = (size_t)n;
	return 0;
}

int main(int argc, char **argv)
{
	static struct fetch f;
	struct app_net net = APP_NET_INIT;
	struct sockaddr_in sa;
	const char *out = NULL;
	char *url = NULL;
	long expect = -1, timeout_s = 60;
	const struct app_opt opts[] = {
		APP_NET_OPTS(net),
		{ "-o", APP_STR, &out, "write the body to FILE (default: discard)" },
		{ "--expect-size", APP_LONG, &expect, "fail unless the body has N bytes" },
		{ "--timeout", APP_LONG, &timeout_s, "give up after S seconds (default 60)" },
	};
	if (app_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "URL", &url, 1) != 1 ||
	    parse_url(&f, url, &sa) < 0) {
		fprintf(stderr, "rs-fetch: need one URL of the form http://IPv4[:port]/path\n");
		return 2;
	}
	f.out = -1;
	if (out && (f.out = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "rs-fetch: %s: %s\n", out, strerror(errno));
		return 1;
	}
	app_signals();
	if (app_open(&f.app, &net, "rs-fetch") < 0)
		return 1;
	uint64_t t0 = rs_clock_ns();
	if (fetch_start(&f, &sa) < 0)
		fetch_fail(&f, strerror(errno));
	else
		fetch_loop(&f, timeout_s);
	double secs = (double)(rs_clock_ns() - t0) / 1e9;
	if (f.state == F_DONE && f.status != 200)
		fetch_fail(&f, "HTTP status is not 200");
	if (f.state == F_DONE && expect >= 0 && f.got != (uint64_t)expect)
		fetch_fail(&f, "body size differs from --expect-size");
	if (f.fd >= 0)
		fetch_linger(&f);
	fprintf(stderr, "rs-fetch: %s: status %d, %llu bytes in %.3f s (%.1f MB/s)%s%s\n",
		url, f.status, (unsigned long long)f.got, secs,
		secs > 0 ? (double)f.got / secs / 1e6 : 0.0,
		f.state == F_FAILED ? ": FAILED: " : "", f.state == F_FAILED ? f.why : "");
	if (f.out >= 0 && close(f.out) < 0 && f.state == F_DONE)
		fetch_fail(&f, "closing the output file");
	app_close(&f.app);
	return f.state == F_DONE ? 0 : 1;
}
