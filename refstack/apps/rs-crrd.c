/* rs-crrd: the connect/request/response/close server of the afpacket
 * benchmark, with ONE server logic over two socket layers so that the
 * comparison is stack against stack, not program against program:
 *
 *   --stack refstack   refstack's native API on afpacket (--cores N: N
 *                      cores, one thread each, every one running the
 *                      server on its own core; a core whose listen() is
 *                      refused because the port is another core's (no
 *                      local listen table) only polls, handing frames on)
 *   --stack linux      the kernel's sockets + epoll (one thread)
 *
 * Per connection: accept, read --req bytes, write --resp bytes, close.
 * Speaks tsload's crr engine (req_size out, resp_size back).
 *
 *   rs-crrd --stack refstack --if IFSPEC [--ip A] [--port 12865]
 *           [--req 64] [--resp 64] [--duration S] [--cores N] */
#include "rs_app.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXEV 128
#define MAXFD 65536

/* ---- the two socket layers --------------------------------------------- */

struct net_ops {
	int (*listen)(void *x, uint16_t port);
	int (*accept)(void *x, int lfd);
	ssize_t (*recv)(void *x, int fd, void *buf, size_t len);
	ssize_t (*send)(void *x, int fd, const void *buf, size_t len);
	int (*close)(void *x, int fd);
	int (*ctl)(void *x, int op, int fd, uint32_t events);
	int (*wait)(void *x, struct epoll_event *ev, int max);
};

struct rs_net {
	struct app app;
	int ep;
};

static int rsn_listen(void *x, uint16_t port)
{
	struct rs_net *n = x;
	struct rs_core *c = n->app.core;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr = rs_stack_conf(n->app.stack)->addr };
	int one = 1, fd;
	n->ep = rs_epoll_create(c);
	fd = rs_socket(c, AF_INET, SOCK_STREAM, 0);
	if (n->ep < 0 || fd < 0 ||
	    rs_setsockopt(c, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    rs_bind(c, fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    rs_listen(c, fd, 4096) < 0)
		return -1;
	return fd;
}

static int rsn_accept(void *x, int lfd)
{
	return rs_accept(((struct rs_net *)x)->app.core, lfd, NULL, NULL);
}

static ssize_t rsn_recv(void *x, int fd, void *buf, size_t len)
{
	return rs_recv(((struct rs_net *)x)->app.core, fd, buf, len, 0);
}

static ssize_t rsn_send(void *x, int fd, const void *buf, size_t len)
{
	return rs_send(((struct rs_net *)x)->app.core, fd, buf, len, 0);
}

static int rsn_close(void *x, int fd)
{
	return rs_close(((struct rs_net *)x)->app.core, fd);
}

static int rsn_ctl(void *x, int op, int fd, uint32_t events)
{
	struct rs_net *n = x;
	struct epoll_event ev = { .events = events, .data.fd = fd };
	return rs_epoll_ctl(n->app.core, n->ep, op, fd, &ev);
}

static int rsn_wait(void *x, struct epoll_event *ev, int max)
{
	struct rs_net *n = x;
	int rx = app_poll(&n->app);
	int k = rs_epoll_wait(n->app.core, n->ep, ev, max);
	if (k <= 0 && rx <= 0) {
		app_idle(&n->app, 50);
		app_poll(&n->app);
		k = rs_epoll_wait(n->app.core, n->ep, ev, max);
	}
	return k;
}

static const struct net_ops rs_ops = {
	.listen = rsn_listen, .accept = rsn_accept, .recv = rsn_recv,
	.send = rsn_send, .close = rsn_close, .ctl = rsn_ctl, .wait = rsn_wait,
};

struct lx_net {
	int ep;
};

static int lxn_listen(void *x, uint16_t port)
{
	struct lx_net *n = x;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	n->ep = epoll_create1(EPOLL_CLOEXEC);
	if (n->ep < 0 || fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0)
		return -1;
	return fd;
}

static int lxn_accept(void *x, int lfd)
{
	(void)x;
	return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static ssize_t lxn_recv(void *x, int fd, void *buf, size_t len)
{
	(void)x;
	return recv(fd, buf, len, 0);
}

static ssize_t lxn_send(void *x, int fd, const void *buf, size_t len)
{
	(void)x;
	return send(fd, buf, len, MSG_NOSIGNAL);
}

static int lxn_close(void *x, int fd)
{
	(void)x;
	return close(fd);
}

static int lxn_ctl(void *x, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	return epoll_ctl(((struct lx_net *)x)->ep, op, fd, &ev);
}

static int lxn_wait(void *x, struct epoll_event *ev, int max)
{
	int k = epoll_wait(((struct lx_net *)x)->ep, ev, max, 50);
	return k < 0 && errno == EINTR ? 0 : k;
}

static const struct net_ops lx_ops = {
	.listen = lxn_listen, .accept = lxn_accept, .recv = lxn_recv,
	.send = lxn_send, .close = lxn_close, .ctl = lxn_ctl, .wait = lxn_wait,
};

/* ---- the server logic, identical for both ------------------------------ */

struct crr {
	const struct net_ops *ops;
	void *x;
	int lfd;
	long req, resp;
	uint32_t *got;        /* per fd: request bytes read, then + resp sent */
	char *resp_buf;
	uint64_t conns, errors;
};

static void crr_drop(struct crr *s, int fd, int error)
{
	s->ops->ctl(s->x, EPOLL_CTL_DEL, fd, 0);
	s->ops->close(s->x, fd);
	s->got[fd] = 0;
	s->errors += (uint64_t)error;
}

static void crr_accept(struct crr *s)
{
	for (;;) {
		int fd = s->ops->accept(s->x, s->lfd);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->errors++;
			return;
		}
		if (fd >= MAXFD || s->ops->ctl(s->x, EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
			s->ops->close(s->x, fd);
			s->errors++;
			continue;
		}
		s->got[fd] = 0;
	}
}

/* Respond from where we left off; the connection is done when all is out. */
static void crr_respond(struct crr *s, int fd)
{
	uint32_t off = s->got[fd] - (uint32_t)s->req;
	while (off < (uint32_t)s->resp) {
		ssize_t n = s->ops->send(s->x, fd, s->resp_buf + off, (size_t)s->resp - off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->got[fd] = (uint32_t)s->req + off;
				s->ops->ctl(s->x, EPOLL_CTL_MOD, fd, EPOLLOUT);
				return;
			}
			crr_drop(s, fd, 1);
			return;
		}
		off += (uint32_t)n;
	}
	s->conns++;
	crr_drop(s, fd, 0);
}

static void crr_event(struct crr *s, int fd, uint32_t events)
{
	char buf[4096];
	if (s->got[fd] >= (uint32_t)s->req) {  /* was waiting to send */
		crr_respond(s, fd);
		return;
	}
	ssize_t n = s->ops->recv(s->x, fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & EPOLLERR))
		return;
	if (n <= 0) {
		crr_drop(s, fd, 1);
		return;
	}
	s->got[fd] += (uint32_t)n;
	if (s->got[fd] >= (uint32_t)s->req) {
		s->got[fd] = (uint32_t)s->req;
		crr_respond(s, fd);
	}
}

static void crr_run(struct crr *s, long duration)
{
	struct epoll_event ev[MAXEV];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!app_stop) {
		int n = s->ops->wait(s->x, ev, MAXEV);
		if (n < 0) {
			fprintf(stderr, "rs-crrd: wait: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == s->lfd)
				crr_accept(s);
			else
				crr_event(s, ev[i].data.fd, ev[i].events);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (duration > 0 && t.tv_sec - t0.tv_sec >= duration)
			break;
	}
}

/* A refstack core without a listener of its own: it still receives
 * (frames the fanout gives it) and hands them to their owner. */
static void crr_poll_only(struct app *a, long duration)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!app_stop) {
		if (app_poll(a) <= 0)
			app_idle(a, 50);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (duration > 0 && t.tv_sec - t0.tv_sec >= duration)
			break;
	}
}

struct crr_core {
	struct crr s;
	struct rs_net rsn;
	long port, duration;
	int serving;
};

static void *crr_core_main(void *arg)
{
	struct crr_core *k = arg;
	if (k->serving)
		crr_run(&k->s, k->duration);
	else
		crr_poll_only(&k->rsn.app, k->duration);
	return NULL;
}

/* Core k's server: its listener (refused on cores k > 0 when the port is
 * core 0's: then it only polls). */
static int crr_core_listen(struct crr_core *k, unsigned index)
{
	k->s.lfd = k->s.ops->listen(k->s.x, (uint16_t)k->port);
	if (k->s.lfd >= 0 && k->s.ops->ctl(k->s.x, EPOLL_CTL_ADD, k->s.lfd, EPOLLIN) == 0) {
		k->serving = 1;
		return 0;
	}
	if (index > 0 && errno == EADDRINUSE) {
		if (k->s.lfd >= 0)
			k->s.ops->close(k->s.x, k->s.lfd);
		return 0;
	}
	fprintf(stderr, "rs-crrd: listen on port %ld: %s\n", k->port, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	static struct crr_core cores[APP_MAX_CORES];
	static struct lx_net lxn;
	struct app *apps[APP_MAX_CORES];
	void *args[APP_MAX_CORES];
	struct app_net net = APP_NET_INIT;
	const char *stack = "refstack";
	long port = 12865, duration = 0, req = 64, resp = 64;
	unsigned n, serving = 0;
	uint64_t conns = 0, errors = 0;
	const struct app_opt opts[] = {
		APP_NET_OPTS(net),
		{ "--stack", APP_STR, &stack, "refstack or linux" },
		{ "--port", APP_LONG, &port, "TCP port (default 12865)" },
		{ "--req", APP_LONG, &req, "request bytes (default 64)" },
		{ "--resp", APP_LONG, &resp, "response bytes (default 64)" },
		{ "--duration", APP_LONG, &duration, "exit after S seconds" },
	};
	if (app_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "", NULL, 0) < 0)
		return 2;
	int is_rs = strcmp(stack, "refstack") == 0;
	if ((!is_rs && strcmp(stack, "linux") != 0) || port < 1 || port > 65535 ||
	    req < 1 || req > (1 << 20) || resp < 0 || resp > (1 << 20)) {
		fprintf(stderr, "rs-crrd: bad --stack/--port/--req/--resp\n");
		return 2;
	}
	if (!is_rs && net.cores != 1) {
		fprintf(stderr, "rs-crrd: --cores: only with --stack refstack\n");
		return 2;
	}
	n = net.cores >= 1 && net.cores <= APP_MAX_CORES ? (unsigned)net.cores : 1;
	app_signals();
	for (unsigned k = 0; k < n; k++) {
		struct crr *s = &cores[k].s;
		s->req = req;
		s->resp = resp;
		s->got = calloc(MAXFD, sizeof(*s->got));
		s->resp_buf = malloc((size_t)resp + 1);
		if (!s->got || !s->resp_buf)
			return 1;
		memset(s->resp_buf, 'r', (size_t)resp);
		s->ops = is_rs ? &rs_ops : &lx_ops;
		s->x = is_rs ? (void *)&cores[k].rsn : (void *)&lxn;
		cores[k].port = port;
		cores[k].duration = duration;
		apps[k] = &cores[k].rsn.app;
		args[k] = &cores[k];
	}
	if (is_rs && app_open_cores(apps, n, &net, "rs-crrd") < 0)
		return 1;
	for (unsigned k = 0; k < n; k++) {
		if (crr_core_listen(&cores[k], k) < 0)
			return 1;
		serving += (unsigned)cores[k].serving;
	}
	printf("rs-crrd: %s stack listening on port %ld, pid %d, %u cores (%u serving)\n",
	       stack, port, (int)getpid(), n, serving);
	fflush(stdout);
	app_run_cores(n, crr_core_main, args);
	for (unsigned k = 0; k < n; k++) {
		conns += cores[k].s.conns;
		errors += cores[k].s.errors;
	}
	printf("rs-crrd: %llu connections, %llu errors\n", (unsigned long long)conns,
	       (unsigned long long)errors);
	if (is_rs)
		app_close_cores(apps, n);
	for (unsigned k = 0; k < n; k++) {
		free(cores[k].s.got);
		free(cores[k].s.resp_buf);
	}
	return 0;
}
