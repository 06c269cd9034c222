/* tsl_client: one client worker thread: its epoll loop, its connection
 * slots, its statistics. Nothing is shared with other threads except the
 * published interval ring (single writer, release/acquire). */
#define _GNU_SOURCE
#include "tsl_client.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NONE UINT32_MAX
#define RX_BUF (64 * 1024)

atomic_int tsl_stop;

/* ---- timeout FIFO: operations start in time order, so a list suffices */

static void tq_remove(struct tsl_worker *w, uint32_t i)
{
	struct tsl_conn *c = &w->conns[i];
	if (!c->queued)
		return;
	if (c->prev != NONE)
		w->conns[c->prev].next = c->next;
	else
		w->tq_head = c->next;
	if (c->next != NONE)
		w->conns[c->next].prev = c->prev;
	else
		w->tq_tail = c->prev;
	c->queued = 0;
}

static void tq_push(struct tsl_worker *w, uint32_t i)
{
	struct tsl_conn *c = &w->conns[i];
	tq_remove(w, i);
	c->prev = w->tq_tail;
	c->next = NONE;
	if (w->tq_tail != NONE)
		w->conns[w->tq_tail].next = i;
	else
		w->tq_head = i;
	w->tq_tail = i;
	c->queued = 1;
}

/* ---- statistics */

static int in_window(struct tsl_worker *w, uint64_t now)
{
	const struct tsl_jobrun *jr = w->jr;
	return now >= jr->t_measure && (!jr->t_end || now < jr->t_end);
}

static void count_error(struct tsl_worker *w, enum tsl_err e, uint64_t now)
{
	if (!in_window(w, now))
		return;
	w->st.err[e]++;
	w->st.errs++;
	w->cur.errs++;
}

static void count_conn(struct tsl_worker *w, uint64_t now)
{
	if (!in_window(w, now))
		return;
	w->st.conns++;
	w->cur.conns++;
}

static void record(struct tsl_worker *w, enum tsl_phase ph, uint64_t from,
		   uint64_t now)
{
	if (in_window(w, now))
		tsl_hist_add(&w->st.lat[ph], now > from ? now - from : 0);
}

/* ---- slot ring: slots ready for a new transaction */

static void avail_push(struct tsl_worker *w, uint32_t i)
{
	w->avail[(w->av_head + w->navail) % w->nconns] = i;
	w->navail++;
}

static uint32_t avail_pop(struct tsl_worker *w)
{
	uint32_t i = w->avail[w->av_head];
	w->av_head = (w->av_head + 1) % w->nconns;
	w->navail--;
	return i;
}

/* ---- socket pool
 * A connection that ends cleanly with our FIN gives its socket back
 * instead of closing it. shutdown(SHUT_RDWR) sends the FIN close() would
 * and, like close(), answers later data with RST; once the kernel reports
 * the connection closed (state CLOSE: the FIN was acknowledged, or handed
 * to TIME_WAIT), connect(AF_UNSPEC) dissolves it and the socket serves a
 * later connection of any slot. The packets are those of close(); the
 * client saves socket(), epoll_ctl() and the file teardown. Epoll events
 * carry the fd, and fd_slot says whose it is. */

#define PARKED (UINT32_MAX - 1) /* FIN sent, waiting for state CLOSE */
#define SPARE (UINT32_MAX - 2)  /* on the spare stack */

static int fd_map(struct tsl_worker *w, int fd, uint32_t slot)
{
	if ((uint32_t)fd >= w->fd_cap) {
		uint32_t cap = w->fd_cap ? w->fd_cap : 1024;
		while (cap <= (uint32_t)fd)
			cap *= 2;
		uint32_t *t = realloc(w->fd_slot, cap * sizeof(*t));
		if (!t)
			return -1;
		for (uint32_t k = w->fd_cap; k < cap; k++)
			t[k] = NONE;
		w->fd_slot = t;
		w->fd_cap = cap;
	}
	w->fd_slot[fd] = slot;
	return 0;
}

static void sock_close(struct tsl_worker *w, int fd)
{
	if ((uint32_t)fd < w->fd_cap)
		w->fd_slot[fd] = NONE;
	close(fd);
}

/* 1 once the connection is closed, 0 before, -1 if the stack cannot
 * say. getpeername() fails with ENOTCONN exactly in state CLOSE (for a
 * socket that was connected): cheaper than TCP_INFO, which fills 200+
 * bytes under the socket lock. */
static int sock_closed(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0)
		return 0;
	return errno == ENOTCONN ? 1 : -1;
}

/* An event on a parked socket: reusable once the connection is closed. */
static void on_parked(struct tsl_worker *w, int fd, uint32_t ev)
{
	struct sockaddr un = {.sa_family = AF_UNSPEC};
	int closed = ev & EPOLLERR ? 1 : sock_closed(fd);
	if (closed == 0)
		return; /* LAST_ACK, FIN_WAIT: the kernel wakes us again */
	w->nparked--;
	if (ev & EPOLLERR) { /* reset while closing: its error would linger */
		sock_close(w, fd);
	} else if (closed < 0 || connect(fd, &un, sizeof(un))) {
		w->recycle = 0; /* the stack cannot tell or dissolve it */
		sock_close(w, fd);
	} else {
		w->fd_slot[fd] = SPARE;
		w->spare[w->nspare++] = fd;
	}
}

/* The slot is done with fd: park it for reuse, or close it. On loopback
 * the connection is usually closed by the time shutdown() returns. The
 * pool holds up to two sockets per slot: one parked, one spare. */
static void sock_release(struct tsl_worker *w, int fd, int clean)
{
	if (clean && w->recycle && w->nparked + w->nspare < 2 * w->nconns &&
	    shutdown(fd, SHUT_RDWR) == 0) {
		w->fd_slot[fd] = PARKED;
		w->nparked++;
		on_parked(w, fd, 0);
		return;
	}
	sock_close(w, fd);
}

/* ---- connection lifecycle */

static void conn_close(struct tsl_worker *w, uint32_t i, int clean,
		       uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	tq_remove(w, i);
	if (c->fd >= 0) {
		int ok = clean && c->state != TSL_CS_CONNECTING;
		if (ok)
			count_conn(w, now);
		sock_release(w, c->fd, ok);
	}
	c->fd = -1;
	c->state = TSL_CS_FREE;
	c->close_after = 0;
}

static void txn_end(struct tsl_worker *w, uint32_t i)
{
	struct tsl_conn *c = &w->conns[i];
	if (c->in_txn) {
		c->in_txn = 0;
		w->inflight--;
	}
	avail_push(w, i);
}

static void txn_fail(struct tsl_worker *w, uint32_t i, enum tsl_err e,
		     uint64_t now)
{
	count_error(w, e, now);
	conn_close(w, i, 0, now);
	if (w->conns[i].in_txn)
		txn_end(w, i);
}

static void txn_done(struct tsl_worker *w, uint32_t i, uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	unsigned code = w->jr->eng->status(c);
	int ok = 1;

	if (code && in_window(w, now)) {
		w->st.http_status[code < TSL_HTTP_CODES ? code : 0]++;
		if (code < 200 || code > 299) {
			count_error(w, TSL_E_HTTP_STATUS, now);
			ok = 0;
		}
	}
	if (ok && in_window(w, now)) {
		record(w, TSL_PH_RESPONSE, c->t_phase, now);
		record(w, TSL_PH_TOTAL, c->t_begin, now);
		tsl_hist_add(&w->cur.total, now > c->t_begin ? now - c->t_begin : 0);
		w->st.txns++;
		w->cur.txns++;
	}
	if (!w->persistent || c->close_after) {
		conn_close(w, i, 1, now);
	} else {
		tq_remove(w, i);
		c->state = TSL_CS_IDLE;
	}
	txn_end(w, i);
}

/* Options of a new socket; a recycled socket keeps them. */
static int sock_options(struct tsl_worker *w, int fd)
{
	int one = 1;
	if (w->persistent &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return -1;
	if (w->jr->job->close_mode == TSL_CLOSE_RST) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			return -1;
	}
	if (w->jr->nsrc &&
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)))
		return -1;
	return 0;
}

/* Every connection, on a new or a recycled socket, binds the next source
 * address (a dissolved connection gave its port back, so bind() works
 * again). */
static int conn_setup(struct tsl_worker *w, int fd, int fresh)
{
	struct tsl_jobrun *jr = w->jr;
	if (fresh && sock_options(w, fd))
		return -1;
	if (jr->nsrc) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		sa.sin_addr = jr->src[w->src_next++ % jr->nsrc];
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return -1;
	}
	return 0;
}

/* Start a connection on slot i. 0, or an error kind (>0) on failure. */
static int conn_open(struct tsl_worker *w, uint32_t i, uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
	int fresh = w->nspare == 0;
	int fd = fresh ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
		       : w->spare[--w->nspare];
	if (fd < 0)
		return tsl_err_of_errno(errno) + 1;
	ev.data.u64 = (uint64_t)fd;
	if (fresh && in_window(w, now))
		w->st.sockets++;
	if (conn_setup(w, fd, fresh) ||
	    (connect(fd, (struct sockaddr *)&w->jr->dst, sizeof(w->jr->dst)) &&
	     errno != EINPROGRESS) ||
	    (fresh && epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) ||
	    fd_map(w, fd, i)) {
		int e = errno;
		sock_close(w, fd);
		return tsl_err_of_errno(e) + 1;
	}
	if (w->conn_quota != UINT64_MAX)
		w->conn_quota--;
	c->fd = fd;
	c->state = TSL_CS_CONNECTING;
	c->t_phase = now;
	tq_push(w, i);
	return 0;
}

/* ---- request / response */

static void do_recv(struct tsl_worker *w, uint32_t i)
{
	struct tsl_conn *c = &w->conns[i];
	const struct tsl_engine *eng = w->jr->eng;
	enum tsl_err e = TSL_E_OTHER;

	for (;;) {
		ssize_t n = read(c->fd, w->rx, w->rx_len);
		uint64_t now = tsl_now_ns();
		size_t used = 0;
		int rc;
		if (n > 0) {
			rc = eng->rx(c, w->rx, (size_t)n, &used, &e);
			if (rc == TSL_RX_DONE && used < (size_t)n)
				rc = TSL_RX_ERR, e = TSL_E_OTHER;
		} else if (n == 0) {
			rc = eng->rx_eof(c, &e);
			c->close_after = 1;
		} else if (errno == EAGAIN) {
			return;
		} else if (errno == EINTR) {
			continue;
		} else {
			rc = TSL_RX_ERR;
			e = tsl_err_of_errno(errno);
		}
		if (rc == TSL_RX_DONE)
			txn_done(w, i, now);
		else if (rc == TSL_RX_ERR)
			txn_fail(w, i, e, now);
		if (rc != TSL_RX_MORE)
			return;
	}
}

/* Returns 1 when the request is fully written (state RECV). */
static int do_send(struct tsl_worker *w, uint32_t i)
{
	struct tsl_conn *c = &w->conns[i];
	while (c->sent < w->req_len) {
		ssize_t n = send(c->fd, w->req + c->sent, w->req_len - c->sent,
				 MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (uint32_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			return 0;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			txn_fail(w, i, n < 0 ? tsl_err_of_errno(errno) : TSL_E_OTHER,
				 tsl_now_ns());
			return 0;
		}
	}
	c->state = TSL_CS_RECV;
	return 1;
}

static void send_start(struct tsl_worker *w, uint32_t i, uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	size_t used;
	enum tsl_err e;

	c->state = TSL_CS_SEND;
	c->sent = 0;
	c->t_phase = now;
	tq_push(w, i);
	w->jr->eng->rx_begin(c, w->jr->job);
	if (do_send(w, i) && w->jr->eng->rx(c, NULL, 0, &used, &e) == TSL_RX_DONE)
		txn_done(w, i, now); /* resp_size=0 */
}

static void txn_start(struct tsl_worker *w, uint32_t i, uint64_t t_begin,
		      uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	c->in_txn = 1;
	c->t_begin = t_begin;
	w->inflight++;
	if (c->state == TSL_CS_FREE) {
		int e;
		if (w->conn_quota == 0) {
			c->in_txn = 0;
			w->inflight--;
			w->quota_done = 1;
			avail_push(w, i);
			return;
		}
		e = conn_open(w, i, now);
		if (e)
			txn_fail(w, i, (enum tsl_err)(e - 1), now);
	} else if (c->state == TSL_CS_IDLE) {
		send_start(w, i, now);
	}
	/* CONNECTING (pre-connected slot): the request goes when it is up */
}

static int so_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len))
		return errno;
	return e ? e : ECONNRESET;
}

static void on_connecting(struct tsl_worker *w, uint32_t i, uint32_t ev,
			  uint64_t now)
{
	struct tsl_conn *c = &w->conns[i];
	if (ev & (EPOLLERR | EPOLLHUP)) {
		enum tsl_err e = tsl_err_of_errno(so_error(c->fd));
		if (c->in_txn) {
			txn_fail(w, i, e, now);
		} else {
			count_error(w, e, now);
			conn_close(w, i, 0, now);
		}
		return;
	}
	if (!(ev & EPOLLOUT))
		return;
	record(w, TSL_PH_CONNECT, c->t_phase, now);
	if (c->in_txn) {
		send_start(w, i, now);
	} else {
		tq_remove(w, i);
		c->state = TSL_CS_IDLE;
	}
}

/* An idle persistent connection became readable: the peer closed it
 * (fine: the next transaction reconnects) or sent junk (an error). */
static void on_idle(struct tsl_worker *w, uint32_t i, uint64_t now)
{
	char b[256];
	ssize_t n = read(w->conns[i].fd, b, sizeof(b));
	if (n == 0)
		conn_close(w, i, 1, now);
	else if (n > 0)
		count_error(w, TSL_E_OTHER, now), conn_close(w, i, 0, now);
	else if (errno != EAGAIN && errno != EINTR)
		count_error(w, tsl_err_of_errno(errno), now), conn_close(w, i, 0, now);
}

static void on_event(struct tsl_worker *w, int fd, uint32_t ev)
{
	uint32_t i = w->fd_slot[fd];
	if (i == PARKED) {
		on_parked(w, fd, ev);
		return;
	}
	if (i >= w->nconns) /* a spare: nothing to do until reused */
		return;
	struct tsl_conn *c = &w->conns[i];
	uint64_t now = tsl_now_ns();

	if (c->state == TSL_CS_CONNECTING) {
		on_connecting(w, i, ev, now);
		return; /* ET: the read edge of the response comes later */
	}
	if (c->state == TSL_CS_SEND && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		if (!do_send(w, i))
			return;
	if (c->state == TSL_CS_RECV &&
	    (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		do_recv(w, i);
	else if (c->state == TSL_CS_IDLE &&
		 (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		on_idle(w, i, now);
}

/* ---- the loop */

static void expire(struct tsl_worker *w, uint64_t now)
{
	uint64_t to = (uint64_t)w->jr->job->timeout_us * 1000;
	if (!to)
		return;
	while (w->tq_head != NONE && w->conns[w->tq_head].t_phase + to <= now) {
		uint32_t i = w->tq_head;
		if (w->conns[i].in_txn) {
			txn_fail(w, i, TSL_E_TIMEOUT, now);
		} else {
			count_error(w, TSL_E_TIMEOUT, now);
			conn_close(w, i, 0, now);
		}
	}
}

/* Start transactions: closed loop, every ready slot (once per pass, so an
 * immediate failure cannot spin inside one pass); open loop, every slot
 * whose intended send time has come. */
static void pump(struct tsl_worker *w, uint64_t now)
{
	if (w->send_gap == 0) {
		for (uint32_t n = w->navail; n && !w->quota_done; n--)
			txn_start(w, avail_pop(w), now, now);
		return;
	}
	while (w->navail && w->next_send <= now && !w->quota_done) {
		uint64_t t = w->next_send;
		w->next_send += w->send_gap;
		txn_start(w, avail_pop(w), t, now);
	}
}

static void publish(struct tsl_worker *w)
{
	struct tsl_jobrun *jr = w->jr;
	while (w->ival_k >= atomic_load_explicit(&jr->consumed, memory_order_acquire) + TSL_RING) {
		if (atomic_load_explicit(&tsl_stop, memory_order_relaxed))
			return;
		sched_yield();
	}
	w->ring[w->ival_k % TSL_RING] = w->cur;
	w->ival_k++;
	atomic_store_explicit(&w->published, w->ival_k, memory_order_release);
	w->cur.txns = w->cur.conns = w->cur.errs = 0;
	tsl_hist_reset(&w->cur.total);
}

void tsl_worker_tick(struct tsl_worker *w, uint64_t now)
{
	struct tsl_jobrun *jr = w->jr;
	if (!w->measuring && now >= jr->t_measure) {
		w->measuring = 1;
		getrusage(RUSAGE_THREAD, &w->ru0);
	}
	if (!jr->ival_ns || now < jr->t_measure)
		return;
	uint64_t k = (now - jr->t_measure) / jr->ival_ns;
	while (w->ival_k < k && !atomic_load_explicit(&tsl_stop, memory_order_relaxed))
		publish(w);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* How long epoll may sleep (ns). */
static uint64_t wait_ns(struct tsl_worker *w, uint64_t now)
{
	struct tsl_jobrun *jr = w->jr;
	uint64_t until = now + 100000000ULL; /* re-check the stop flag */
	uint64_t to = (uint64_t)jr->job->timeout_us * 1000;
	if (jr->t_end)
		until = min_u64(until, jr->t_end);
	if (!w->measuring)
		until = min_u64(until, jr->t_measure);
	if (jr->ival_ns && now >= jr->t_measure)
		until = min_u64(until, jr->t_measure + (w->ival_k + 1) * jr->ival_ns);
	if (to && w->tq_head != NONE)
		until = min_u64(until, w->conns[w->tq_head].t_phase + to);
	if (w->navail && !w->quota_done)
		until = min_u64(until, w->send_gap ? w->next_send : now);
	return until > now ? until - now : 0;
}

#define MAX_EVENTS 256

static int wait_events(struct tsl_worker *w, struct epoll_event *evs,
		       uint64_t ns)
{
	static atomic_int no_pwait2;
	if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL),
				      .tv_nsec = (long)(ns % 1000000000ULL)};
		int n = epoll_pwait2(w->epfd, evs, MAX_EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store(&no_pwait2, 1);
	}
	return epoll_wait(w->epfd, evs, MAX_EVENTS, (int)((ns + 999999) / 1000000));
}

static void run_loop(struct tsl_worker *w)
{
	struct tsl_jobrun *jr = w->jr;
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		uint64_t now = tsl_now_ns();
		tsl_worker_tick(w, now);
		if (atomic_load_explicit(&tsl_stop, memory_order_relaxed)) {
			w->t_stop = now;
			return;
		}
		if (jr->t_end && now >= jr->t_end) {
			w->t_stop = jr->t_end;
			return;
		}
		expire(w, now);
		pump(w, now);
		if (w->quota_done && w->inflight == 0) {
			w->t_stop = now;
			return;
		}
		int n = wait_events(w, evs, wait_ns(w, now));
		if (n < 0 && errno != EINTR) {
			snprintf(w->errmsg, sizeof(w->errmsg), "epoll_wait: %s", strerror(errno));
			w->t_stop = tsl_now_ns();
			return;
		}
		for (int k = 0; k < n; k++)
			on_event(w, (int)evs[k].data.u64, evs[k].events);
	}
}

int tsl_client_setup(struct tsl_worker *w)
{
	struct tsl_jobrun *jr = w->jr;
	const struct tsl_job *job = jr->job;
	uint64_t conc = (uint64_t)job->concurrency, nt = (uint64_t)jr->nthreads;
	uint64_t id = (uint64_t)w->id;

	w->nconns = (uint32_t)(conc / nt + (id < conc % nt));
	w->conns = calloc(w->nconns, sizeof(*w->conns));
	w->avail = calloc(w->nconns, sizeof(*w->avail));
	w->rx_len = RX_BUF;
	w->rx = malloc(w->rx_len);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!w->conns || !w->avail || !w->rx || w->epfd < 0 ||
	    jr->eng->build_request(job, &w->req, &w->req_len)) {
		snprintf(w->errmsg, sizeof(w->errmsg), "client setup: %s", strerror(errno));
		return -1;
	}
	w->persistent = jr->eng->persistent(job);
	w->recycle = job->recycle && job->close_mode == TSL_CLOSE_FIN;
	w->spare = calloc(2 * (size_t)w->nconns, sizeof(*w->spare));
	if (!w->spare) {
		snprintf(w->errmsg, sizeof(w->errmsg), "client setup: %s", strerror(errno));
		return -1;
	}
	w->tq_head = w->tq_tail = NONE;
	for (uint32_t i = 0; i < w->nconns; i++)
		w->conns[i].fd = -1;
	w->conn_quota = UINT64_MAX;
	if (job->connections) {
		uint64_t c = (uint64_t)job->connections;
		w->conn_quota = c / nt + (id < c % nt);
	}
	if (job->rate > 0) {
		double per_thread = job->rate / (double)nt;
		w->send_gap = (uint64_t)(1e9 / per_thread);
		if (!w->send_gap)
			w->send_gap = 1;
	}
	w->src_next = (uint32_t)id;
	tsl_stats_reset(&w->st);
	tsl_hist_reset(&w->cur.total);
	return 0;
}

void tsl_worker_free(struct tsl_worker *w)
{
	if (w->conns)
		for (uint32_t i = 0; i < w->nconns; i++)
			if (w->conns[i].fd >= 0)
				close(w->conns[i].fd);
	for (uint32_t fd = 0; fd < w->fd_cap; fd++)
		if (w->fd_slot[fd] == PARKED || w->fd_slot[fd] == SPARE)
			close((int)fd);
	if (w->epfd > 0)
		close(w->epfd);
	if (w->lfd > 0)
		close(w->lfd);
	free(w->conns);
	free(w->avail);
	free(w->fd_slot);
	free(w->spare);
	free(w->req);
	free(w->rx);
	free(w->srv);
	w->conns = NULL;
	w->fd_slot = NULL;
	w->spare = NULL;
	w->fd_cap = w->nspare = w->nparked = 0;
	w->epfd = w->lfd = -1;
}

static void start_slots(struct tsl_worker *w, uint64_t now)
{
	for (uint32_t i = 0; i < w->nconns; i++) {
		/* open loop + persistent: connect every slot up front */
		if (w->send_gap && w->persistent && w->conn_quota) {
			int e = conn_open(w, i, now);
			if (e)
				count_error(w, (enum tsl_err)(e - 1), now);
		}
		avail_push(w, i);
	}
	w->next_send = now;
}

void *tsl_client_main(void *arg)
{
	struct tsl_worker *w = arg;
	uint64_t now = tsl_now_ns();

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	/* open loop: wake at the intended send time, not up to 50 us later */
	if (w->send_gap)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	start_slots(w, now);
	run_loop(w);
	getrusage(RUSAGE_THREAD, &w->ru1);
	if (!w->measuring)
		w->ru0 = w->ru1;
	/* open connections of a persistent engine count as completed; a crr
	 * connection cut mid-transaction does not */
	w->recycle = 0;
	for (uint32_t i = 0; i < w->nconns; i++)
		if (w->conns[i].fd >= 0)
			conn_close(w, i, w->persistent || w->conns[i].state == TSL_CS_IDLE,
				   w->t_stop - 1); /* still inside the window */
	atomic_store_explicit(&w->finished, 1, memory_order_release);
	return NULL;
}
