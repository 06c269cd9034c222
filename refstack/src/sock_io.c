/* Connection calls: connect (ephemeral port search), send, recv,
 * shutdown. */
#include "sock.h"

/* The n-th candidate port of the search: every port of [lo, hi], or
 * with RFD only those = core (mod R), so that the replies' destination
 * port steers them home (steer.h). */
struct port_walk {
	uint32_t first, step, count;
};

static void port_walk_init(struct port_walk *w, const struct rs_core *c,
			   uint16_t lo, uint16_t hi, int rfd, uint32_t rmask)
{
	uint32_t k = c->index & rmask;

	w->first = lo;
	w->step = 1;
	w->count = (uint32_t)(hi - lo) + 1;
	if (!rfd)
		return;
	w->first = (lo & ~rmask) | k;
	if (w->first < lo)
		w->first += rmask + 1;
	w->step = rmask + 1;
	w->count = w->first > hi ? 0 : (hi - w->first) / w->step + 1;
}

/* Try the candidates from start on; RS_OK with t->h.lport inserted, else
 * the first TIME_WAIT entry of this core found on the way in *reuse. */
static int port_search(struct rs_core *c, struct rs_tcb *t,
		       const struct port_walk *w, uint32_t start,
		       struct rs_tw **reuse)
{
	struct rs_stack *st = c->stack;

	for (uint32_t i = 0; i < w->count; i++) {
		uint16_t port = (uint16_t)(w->first +
					   ((start + i) % w->count) * w->step);
		struct rs_hnode *x;
		unsigned owner = ~0u;

		if (st->port_ops->bound(st->ports, port))
			continue;
		t->h.lport = port;
		if (rs_tcp_hash_insert(c, &t->h, rs_tcp_active_local(c, port)) ==
		    RS_OK)
			return RS_OK;
		x = rs_tcp_hash_lookup(c, t->h.laddr, port, t->h.raddr,
				       t->h.rport, &owner);
		if (!*reuse && x && owner == c->index && x->kind == RS_HK_TW)
			*reuse = RS_CONTAINER(x, struct rs_tw, h);
	}
	return RS_ERROR;
}

/* Find a free 4-tuple for an active open; a TIME_WAIT entry of this core
 * is reused only when no port is free (RFC 6191 territory).  With RFD,
 * a port of this core's class first; if that class is exhausted, any
 * port (counted: its replies land elsewhere and are handed back). */
static int pick_port(struct rs_core *c, struct rs_tcb *t)
{
	struct rs_stack *st = c->stack;
	struct rs_tw *reuse = NULL;
	struct port_walk w;
	uint16_t lo, hi;
	uint32_t start, rmask;
	int rfd = rs_steer_port_class(c, &rmask);

	st->port_ops->range(st->ports, t->h.raddr, t->h.rport, &lo, &hi,
			    &start);
	port_walk_init(&w, c, lo, hi, rfd, rmask);
	if (port_search(c, t, &w, start, &reuse) == RS_OK)
		return RS_OK;
	if (rfd && !reuse) {
		port_walk_init(&w, c, lo, hi, 0, 0);
		if (port_search(c, t, &w, start, &reuse) == RS_OK) {
			c->ctr.steer_port_fallback++;
			return RS_OK;
		}
	}
	if (!reuse) {
		t->h.lport = 0;
		return RS_ERROR;
	}
	t->h.lport = reuse->h.lport;
	c->ctr.tcp_tw_reused++;
	rs_tw_kill(c, reuse);
	if (rs_tcp_hash_insert(c, &t->h, rs_tcp_active_local(c, t->h.lport)) ==
	    RS_OK)
		return RS_OK;
	t->h.lport = 0;
	return RS_ERROR;
}

static int connect_check(struct rs_core *c, struct rs_sock *s,
			 uint32_t ip)
{
	uint32_t nexthop;

	if (s->lst)
		return rs_err(EISCONN);
	if (s->tcb) {
		if (s->tcb->state == RS_TCP_SYN_SENT ||
		    s->tcb->state == RS_TCP_SYN_RECV)
			return rs_err(EALREADY);
		return rs_err(EISCONN);
	}
	if (rs_route(c, ip, &nexthop) != RS_OK || ip == 0)
		return rs_err(ENETUNREACH);
	return 0;
}

int rs_connect(struct rs_core *c, int fd, const struct sockaddr *addr,
	       socklen_t len)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	struct rs_tcb *t;
	uint32_t ip;
	uint16_t port;

	if (!s || rs_sockaddr_in(addr, len, &ip, &port) ||
	    connect_check(c, s, ip))
		return -1;
	t = rs_tcb_new(c, s->sndbuf, s->rcvbuf);
	if (!t) {
		c->ctr.enobufs++;
		return rs_err(ENOBUFS);
	}
	t->h.laddr = c->ip;
	t->h.raddr = ip;
	t->h.rport = port;
	if (s->bound) {
		t->h.lport = s->lport;
		if (rs_tcp_hash_insert(c, &t->h,
				       rs_tcp_active_local(c, t->h.lport)) !=
		    RS_OK) {
			t->h.lport = 0;
			rs_tcb_free(t);
			return rs_err(EADDRINUSE);
		}
	} else if (pick_port(c, t) != RS_OK) {
		rs_tcb_free(t);
		return rs_err(EADDRNOTAVAIL);
	}
	t->iss = rs_tcp_isn(c, &t->h);
	t->snd_una = t->snd_nxt = t->snd_max = t->snd_sml = t->iss;
	t->snd_buf_seq = t->iss + 1;
	t->recover = t->iss;
	t->ts_offset = rs_tcp_ts_offset(c, &t->h);
	if (s->nodelay)
		t->flags |= TF_NODELAY;
	if (s->sndbuf_lock)
		t->flags |= TF_SNDBUF_LOCK;
	t->sock = s;
	t->fd = s->f.fd;
	s->tcb = t;
	rs_tcp_set_state(t, RS_TCP_SYN_SENT);
	rs_tcp_keepalive_set(t, s->keepalive, &s->ka);
	c->ctr.tcp_active_opens++;
	rs_tcp_send_syn(t);
	return rs_err(EINPROGRESS);
}

static int send_state_error(struct rs_sock *s, struct rs_tcb *t)
{
	if (!t)
		return rs_err(s->lst ? ENOTCONN : ENOTCONN);
	if (t->so_error) {
		int e = t->so_error;
		t->so_error = 0;
		return rs_err(e);
	}
	if (t->state == RS_TCP_SYN_SENT || t->state == RS_TCP_SYN_RECV)
		return rs_err(EAGAIN);
	if (s->shut_wr || (t->flags & TF_FIN_QUEUED) ||
	    (t->state != RS_TCP_ESTABLISHED && t->state != RS_TCP_CLOSE_WAIT))
		return rs_err(EPIPE);
	return 0;
}

ssize_t rs_send(struct rs_core *c, int fd, const void *buf, size_t len,
		int flags)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	struct rs_tcb *t;
	uint32_t space, n;

	RS_UNUSED(flags);
	if (!s)
		return -1;
	t = s->tcb;
	if (send_state_error(s, t))
		return -1;
	space = t->snd.cap - t->snd.len;
	if (!space) {
		t->flags |= TF_SNDBUF_FULL;
		return rs_err(EAGAIN);
	}
	if (!len)
		return 0;
	if (rs_ring_ensure(&t->snd, &c->pool) != RS_OK) {
		c->ctr.enobufs++;
		return rs_err(ENOBUFS);
	}
	n = (uint32_t)RS_MIN((size_t)space, len);
	if (n < len)
		t->flags |= TF_SNDBUF_FULL;
	rs_ring_write_at(&t->snd, t->snd.len, buf, n);
	t->snd.len += n;
	rs_tcp_schedule(t);
	return (ssize_t)n;
}

static ssize_t recv_empty(struct rs_sock *s, struct rs_tcb *t)
{
	if (t->flags & TF_FIN_RCVD)
		return 0;
	if (t->so_error) {
		int e = t->so_error;
		t->so_error = 0;
		return rs_err(e);
	}
	if (t->state == RS_TCP_CLOSED || (t->flags & TF_SHUT_RD))
		return 0;
	RS_UNUSED(s);
	return rs_err(EAGAIN);
}

ssize_t rs_recv(struct rs_core *c, int fd, void *buf, size_t len, int flags)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	struct rs_tcb *t;
	uint32_t n;

	if (!s)
		return -1;
	t = s->tcb;
	if (!t)
		return rs_err(ENOTCONN);
	if (t->rcv.len == 0)
		return recv_empty(s, t);
	if (!len)
		return 0;
	n = (uint32_t)RS_MIN((size_t)t->rcv.len, len);
	rs_ring_read_at(&t->rcv, 0, buf, n);
	if (!(flags & MSG_PEEK)) {
		rs_ring_consume(&t->rcv, n);
		rs_tcp_rcvd(t);
	}
	return (ssize_t)n;
}

int rs_shutdown(struct rs_core *c, int fd, int how)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	struct rs_tcb *t;

	if (!s)
		return -1;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return rs_err(EINVAL);
	t = s->tcb;
	if (!t || t->state == RS_TCP_SYN_SENT || t->state == RS_TCP_SYN_RECV)
		return rs_err(ENOTCONN);
	if (how != SHUT_WR)
		t->flags |= TF_SHUT_RD;
	if (how == SHUT_RD || s->shut_wr)
		return 0;
	s->shut_wr = 1;
	if (t->state == RS_TCP_ESTABLISHED) {
		t->flags |= TF_FIN_QUEUED;
		rs_tcp_set_state(t, RS_TCP_FIN_WAIT_1);
	} else if (t->state == RS_TCP_CLOSE_WAIT) {
		t->flags |= TF_FIN_QUEUED;
		rs_tcp_set_state(t, RS_TCP_LAST_ACK);
	}
	rs_tcp_schedule(t);
	rs_sock_wake(s);
	return 0;
}
