/* tsl_server: server mode. One SO_REUSEPORT listener and one epoll loop per
 * thread; answers crr (read req_size, write resp_size, close first) and rr
 * (the same, repeatedly, on one connection). Only plain BSD sockets and
 * epoll, so that it runs unmodified on the reference stack's LD_PRELOAD
 * shim: socket, setsockopt, bind, listen, accept4, read, write, close,
 * epoll_*. */
#define _GNU_SOURCE
#include "tsl_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_BUF (64 * 1024)
#define SRV_EVENTS 256

struct srv_conn {
	int fd;
	uint8_t writing;
	uint32_t left;           /* request bytes still to read / to write */
	struct srv_conn *next;   /* free list */
};

#define CHUNK 256
struct srv_chunk {
	struct srv_chunk *next;
	struct srv_conn c[CHUNK];
};

struct srv_state {
	char *buf;               /* scratch for reads and the response bytes */
	struct srv_conn *free;
	struct srv_chunk *chunks;
	uint32_t req, resp;
	int close_first;         /* crr */
	uint64_t paused_until;   /* accept paused after EMFILE/ENFILE (ns) */
};

int tsl_server_setup(struct tsl_worker *w)
{
	struct tsl_jobrun *jr = w->jr;
	struct srv_state *s = calloc(1, sizeof(*s));
	int one = 1;

	w->srv = s;
	w->lfd = -1;
	w->epfd = -1;
	if (!s || !(s->buf = calloc(1, SRV_BUF)))
		goto fail;
	s->req = (uint32_t)jr->job->req_size;
	s->resp = (uint32_t)jr->job->resp_size;
	s->close_first = jr->job->engine == TSL_ENG_CRR;
	w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->lfd < 0 ||
	    setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(w->lfd, (struct sockaddr *)&jr->dst, sizeof(jr->dst)) ||
	    listen(w->lfd, (int)jr->job->backlog))
		goto fail;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &ev))
		goto fail;
	tsl_stats_reset(&w->st);
	tsl_hist_reset(&w->cur.total);
	return 0;
fail:
	snprintf(w->errmsg, sizeof(w->errmsg), "listen on %s:%lld: %s",
		 jr->job->host, (long long)jr->job->port, strerror(errno));
	free(s ? s->buf : NULL);
	free(s);
	w->srv = NULL;
	return -1;
}

static void srv_count(struct tsl_worker *w, int what, enum tsl_err e)
{
	if (!w->measuring)
		return;
	if (what == 0) {
		w->st.txns++;
		w->cur.txns++;
	} else if (what == 1) {
		w->st.conns++;
		w->cur.conns++;
	} else {
		w->st.err[e]++;
		w->st.errs++;
		w->cur.errs++;
	}
}

static void srv_close(struct tsl_worker *w, struct srv_conn *c)
{
	struct srv_state *s = w->srv;
	close(c->fd);
	c->fd = -1;
	c->next = s->free;
	s->free = c;
}

static void srv_fail(struct tsl_worker *w, struct srv_conn *c, enum tsl_err e)
{
	srv_count(w, 2, e);
	srv_close(w, c);
}

static struct srv_conn *srv_alloc(struct srv_state *s)
{
	if (!s->free) {
		struct srv_chunk *ch = malloc(sizeof(*ch));
		if (!ch)
			return NULL;
		ch->next = s->chunks;
		s->chunks = ch;
		for (int i = 0; i < CHUNK; i++) {
			ch->c[i].fd = -1;
			ch->c[i].next = s->free;
			s->free = &ch->c[i];
		}
	}
	struct srv_conn *c = s->free;
	s->free = c->next;
	return c;
}

/* Write the response; 1 when complete, 0 to wait, -1 after a failure. */
static int srv_write(struct tsl_worker *w, struct srv_conn *c)
{
	struct srv_state *s = w->srv;
	while (c->left) {
		size_t n = c->left < SRV_BUF ? c->left : SRV_BUF;
		ssize_t k = send(c->fd, s->buf, n, MSG_NOSIGNAL);
		if (k > 0)
			c->left -= (uint32_t)k;
		else if (k < 0 && errno == EINTR)
			continue;
		else if (k < 0 && errno == EAGAIN)
			return 0;
		else {
			srv_fail(w, c, k < 0 ? tsl_err_of_errno(errno) : TSL_E_OTHER);
			return -1;
		}
	}
	return 1;
}

/* A request is complete: answer it, then close (crr) or wait for the next. */
static int srv_answer(struct tsl_worker *w, struct srv_conn *c)
{
	struct srv_state *s = w->srv;
	if (!c->writing) {
		c->writing = 1;
		c->left = s->resp;
	}
	int rc = srv_write(w, c);
	if (rc <= 0)
		return rc;
	srv_count(w, 0, 0);
	if (s->close_first) {
		srv_count(w, 1, 0);
		srv_close(w, c);
		return -1;
	}
	c->writing = 0;
	c->left = s->req;
	return 1;
}

static void srv_read(struct tsl_worker *w, struct srv_conn *c)
{
	struct srv_state *s = w->srv;
	for (;;) {
		if (c->left == 0) {
			if (srv_answer(w, c) <= 0)
				return;
			if (s->req == 0)
				return; /* rr with empty requests: one answer per event */
			continue;
		}
		size_t n = c->left < SRV_BUF ? c->left : SRV_BUF;
		ssize_t k = read(c->fd, s->buf, n);
		if (k > 0) {
			c->left -= (uint32_t)k;
		} else if (k == 0) {
			if (c->left == s->req && !s->close_first) {
				srv_count(w, 1, 0); /* rr client hung up between requests */
				srv_close(w, c);
			} else {
				srv_fail(w, c, TSL_E_SHORT_READ);
			}
			return;
		} else if (errno == EAGAIN) {
			return;
		} else if (errno != EINTR) {
			srv_fail(w, c, tsl_err_of_errno(errno));
			return;
		}
	}
}

/* Out of file descriptors: stop polling the listener for 100 ms instead of
 * spinning on a level-triggered accept that keeps failing. */
static void srv_pause(struct tsl_worker *w, int e)
{
	struct srv_state *s = w->srv;
	struct epoll_event ev = {.events = 0, .data.ptr = NULL};
	if (!s->paused_until) {
		fprintf(stderr, "tsload server: accept: %s (file descriptor limit); "
			"pausing accepts\n", strerror(e));
	}
	s->paused_until = tsl_now_ns() + 100000000ULL;
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->lfd, &ev);
}

static void srv_resume(struct tsl_worker *w, uint64_t now)
{
	struct srv_state *s = w->srv;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (s->paused_until > 1 && now >= s->paused_until) {
		s->paused_until = 1; /* 1: paused before (print once) */
		epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->lfd, &ev);
	}
}

static void srv_accept(struct tsl_worker *w)
{
	struct srv_state *s = w->srv;
	for (int k = 0; k < 64; k++) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e != EAGAIN && e != EINTR && e != ECONNABORTED)
				srv_count(w, 2, tsl_err_of_errno(e));
			if (e == EMFILE || e == ENFILE)
				srv_pause(w, e);
			return;
		}
		struct srv_conn *c = srv_alloc(s);
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
		if (!c) {
			close(fd);
			srv_count(w, 2, TSL_E_OTHER);
			continue;
		}
		c->fd = fd;
		c->writing = 0;
		c->left = s->req;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			srv_fail(w, c, TSL_E_OTHER);
			continue;
		}
		if (w->measuring)
			w->st.accepts++;
		if (s->req == 0)
			srv_read(w, c);
	}
}

static void srv_event(struct tsl_worker *w, struct srv_conn *c, uint32_t ev)
{
	if (c->writing) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			if (srv_answer(w, c) <= 0)
				return;
			srv_read(w, c);
		}
	} else if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
		srv_read(w, c);
	}
}

static void srv_loop(struct tsl_worker *w)
{
	struct tsl_jobrun *jr = w->jr;
	struct epoll_event evs[SRV_EVENTS];
	for (;;) {
		uint64_t now = tsl_now_ns();
		tsl_worker_tick(w, now);
		srv_resume(w, now);
		if (atomic_load_explicit(&tsl_stop, memory_order_relaxed) ||
		    (jr->t_end && now >= jr->t_end)) {
			w->t_stop = jr->t_end && now >= jr->t_end ? jr->t_end : now;
			return;
		}
		int n = epoll_wait(w->epfd, evs, SRV_EVENTS, 50);
		if (n < 0 && errno != EINTR) {
			snprintf(w->errmsg, sizeof(w->errmsg), "epoll_wait: %s", strerror(errno));
			w->t_stop = tsl_now_ns();
			return;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.ptr == NULL)
				srv_accept(w);
			else
				srv_event(w, evs[k].data.ptr, evs[k].events);
		}
	}
}

void *tsl_server_main(void *arg)
{
	struct tsl_worker *w = arg;
	struct srv_state *s = w->srv;
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	srv_loop(w);
	getrusage(RUSAGE_THREAD, &w->ru1);
	if (!w->measuring)
		w->ru0 = w->ru1;
	for (struct srv_chunk *ch = s->chunks, *next; ch; ch = next) {
		next = ch->next;
		for (int i = 0; i < CHUNK; i++)
			if (ch->c[i].fd >= 0)
				close(ch->c[i].fd);
		free(ch);
	}
	s->chunks = NULL;
	free(s->buf);
	s->buf = NULL;
	atomic_store_explicit(&w->finished, 1, memory_order_release);
	return NULL;
}
