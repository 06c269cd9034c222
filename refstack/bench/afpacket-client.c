/* Closed-loop crr client for the afpacket benchmark (Linux sockets, one
 * epoll thread): keeps C connections in flight; each connects, writes REQ
 * bytes, reads RESP bytes and the server's FIN, closes.  At the end the
 * connections in flight are drained (up to 2 s, not counted).  Prints one
 * JSON line.  A stand-in until loadgen's tsload is available; its protocol is
 * tsload's crr (req_size out, resp_size back).
 *
 *   afpacket-client HOST PORT CONCURRENCY SECONDS [REQ RESP] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536

struct cl {
	struct sockaddr_in sa;
	int ep;
	long req, resp;
	uint32_t *st;         /* per fd: 0 connecting, 1.. bytes state */
	char buf[65536];
	uint64_t done, errors, connect_errors;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cl_start(struct cl *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || fd >= MAXFD)
		return -1;
	if (connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa)) < 0 &&
	    errno != EINPROGRESS) {
		c->connect_errors++;
		close(fd);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
	c->st[fd] = 0;
	return epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void cl_finish(struct cl *c, int fd, int ok)
{
	epoll_ctl(c->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if (ok)
		c->done++;
	else
		c->errors++;
}

/* st: 0 connecting, 1 request sent (reading), value-1 = bytes read */
static void cl_event(struct cl *c, int fd, uint32_t events)
{
	if (c->st[fd] == 0) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		memset(c->buf, 'q', (size_t)c->req);
		if (err || (events & EPOLLERR) ||
		    send(fd, c->buf, (size_t)c->req, MSG_NOSIGNAL) != c->req) {
			cl_finish(c, fd, 0);
			return;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &ev);
		c->st[fd] = 1;
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, c->buf, sizeof(c->buf), 0);
		if (n > 0) {
			c->st[fd] += (uint32_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		cl_finish(c, fd, n == 0 && c->st[fd] - 1 == (uint32_t)c->resp);
		return;
	}
}

/* One epoll round; returns how many connections finished. */
static long cl_poll(struct cl *c, struct epoll_event *ev)
{
	uint64_t before = c->done + c->errors;
	int n = epoll_wait(c->ep, ev, 256, 10);
	for (int i = 0; i < n; i++)
		cl_event(c, ev[i].data.fd, ev[i].events);
	return (long)(c->done + c->errors - before);
}

int main(int argc, char **argv)
{
	static struct cl c;
	struct epoll_event ev[256];
	if (argc < 5) {
		fprintf(stderr, "usage: afpacket-client HOST PORT CONCURRENCY SECONDS [REQ RESP]\n");
		return 2;
	}
	c.sa.sin_family = AF_INET;
	c.sa.sin_port = htons((uint16_t)atoi(argv[2]));
	long conc = atol(argv[3]);
	double secs = atof(argv[4]);
	c.req = argc > 5 ? atol(argv[5]) : 64;
	c.resp = argc > 6 ? atol(argv[6]) : 64;
	if (inet_pton(AF_INET, argv[1], &c.sa.sin_addr) != 1 || conc < 1 ||
	    conc > 20000 || c.req < 1 || c.req > 65536 || c.resp < 0) {
		fprintf(stderr, "afpacket-client: bad arguments\n");
		return 2;
	}
	c.st = calloc(MAXFD, sizeof(*c.st));
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c.st || c.ep < 0)
		return 1;
	long inflight = 0;
	double t0 = now_s(), end = t0 + secs;
	while (now_s() < end) {
		while (inflight < conc && cl_start(&c) == 0)
			inflight++;
		inflight -= cl_poll(&c, ev);
	}
	double el = now_s() - t0;
	uint64_t done = c.done, errors = c.errors;
	/* drain: let the connections in flight finish (not counted), so the
	 * server never sees a connection cut by the client's exit */
	for (double stop = now_s() + 2; inflight > 0 && now_s() < stop;)
		inflight -= cl_poll(&c, ev);
	c.done = done;
	c.errors = errors;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("{\"conns\":%llu,\"errors\":%llu,\"connect_errors\":%llu,\"seconds\":%.3f,"
	       "\"cps\":%.1f,\"concurrency\":%ld,\"cpu_s\":%.3f}\n", (unsigned long long)c.done,
	       (unsigned long long)c.errors, (unsigned long long)c.connect_errors,
	       el, (double)c.done / el, conc, cpu);
	return 0;
}
