/* Socket objects and descriptors: socket, bind, listen, accept, close. */
#include "arena.h"
#include "sock.h"

void *rs_file_get(struct rs_core *c, int fd, int type)
{
	struct rs_file *f = c->stack->fd_ops->get(c->stack->fds, c->index, fd);

	if (!f || f->core != c) {
		errno = EBADF;
		return NULL;
	}
	if (f->type != type) {
		errno = type == RS_FILE_SOCK ? ENOTSOCK : EINVAL;
		return NULL;
	}
	return f;
}

struct rs_sock *rs_sock_get(struct rs_core *c, int fd)
{
	return rs_file_get(c, fd, RS_FILE_SOCK);
}

int rs_sockaddr_in(const struct sockaddr *addr, socklen_t len, uint32_t *ip,
		   uint16_t *port)
{
	struct sockaddr_in sin;

	if (!addr || len < (socklen_t)sizeof(sin))
		return rs_err(EINVAL);
	memcpy(&sin, addr, sizeof(sin));
	if (sin.sin_family != AF_INET)
		return rs_err(EAFNOSUPPORT);
	*ip = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

void rs_sockaddr_out(uint32_t ip, uint16_t port, struct sockaddr *addr,
		     socklen_t *len)
{
	struct sockaddr_in sin;

	if (!addr || !len)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(ip);
	sin.sin_port = htons(port);
	memcpy(addr, &sin, RS_MIN((size_t)*len, sizeof(sin)));
	*len = sizeof(sin);
}

static struct rs_sock *sock_new(struct rs_core *c)
{
	struct rs_stack *st = c->stack;
	struct rs_sock *s;

	if (c->nsockets >= st->conf.max_sockets) {
		errno = EMFILE;
		return NULL;
	}
	s = c->sock_free;
	if (s) {
		c->sock_free = (struct rs_sock *)(void *)s->tcb;
		memset(s, 0, sizeof(*s));
	} else {
		s = rs_mem_zalloc(st->arena, sizeof(*s));
		if (!s) {
			errno = ENOMEM;
			return NULL;
		}
	}
	s->f.type = RS_FILE_SOCK;
	s->f.core = c;
	s->f.fd = st->fd_ops->alloc(st->fds, c->index, s,
				    &c->ctr.lock_fdtab_acquired);
	if (s->f.fd < 0) {
		s->tcb = (struct rs_tcb *)(void *)c->sock_free;
		c->sock_free = s;
		errno = EMFILE;
		return NULL;
	}
	s->sndbuf = st->conf.sndbuf;
	s->rcvbuf = st->conf.rcvbuf;
	rs_list_init(&s->epi.rlink);
	rs_list_init(&s->epi.ilink);
	c->nsockets++;
	return s;
}

static void sock_free(struct rs_sock *s)
{
	struct rs_core *c = s->f.core;

	rs_epoll_forget(s);
	c->stack->fd_ops->release(c->stack->fds, c->index, s->f.fd,
				  &c->ctr.lock_fdtab_acquired);
	c->nsockets--;
	s->tcb = (struct rs_tcb *)(void *)c->sock_free; /* free-list link */
	c->sock_free = s;
}

int rs_socket(struct rs_core *c, int domain, int type, int protocol)
{
	struct rs_sock *s;

	if (domain != AF_INET)
		return rs_err(EAFNOSUPPORT);
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return rs_err(EPROTONOSUPPORT);
	s = sock_new(c);
	return s ? s->f.fd : -1;
}

int rs_bind(struct rs_core *c, int fd, const struct sockaddr *addr,
	    socklen_t len)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	uint32_t ip;
	uint16_t port;
	int rc;

	if (!s)
		return -1;
	if (rs_sockaddr_in(addr, len, &ip, &port))
		return -1;
	if (s->bound || s->tcb || s->lst)
		return rs_err(EINVAL);
	if (ip != 0 && ip != c->ip)
		return rs_err(EADDRNOTAVAIL);
	rc = c->stack->port_ops->bind(c->stack->ports, port,
				      s->reuseaddr || s->reuseport,
				      &c->ctr.lock_ports_acquired);
	if (rc < 0)
		return rs_err(-rc);
	s->bound = 1;
	s->laddr = ip;
	s->lport = (uint16_t)rc;
	return 0;
}

/* s starts listening (joining the global listen socket of its address
 * when reuseport or `listen` allows).  The steps are ordered for a
 * forked worker killed between any two (SIGKILL): what the core's
 * adopter finds is whole or harmless.  Joined to the global socket
 * only, l is unreachable (a leak; the adopter makes its own copy);
 * s->lst before the core's list, so that the adopter, which keeps a
 * dead process's listening sockets (rs_sock_core_orphans), keeps this
 * one and rs_listen_copy finds it; the core's own listen table last,
 * since SYNs landing on the core find l there: a copy in the table and
 * not on the list answered SYNs into an accept queue nobody takes from
 * (a replacement worker made a second copy beside it). */
static int listener_new(struct rs_core *c, struct rs_sock *s, uint32_t backlog,
			int reuseport)
{
	struct rs_listener *l;
	int rc;

	l = rs_mem_zalloc(c->stack->arena, sizeof(*l));
	if (!l)
		return rs_err(ENOMEM);
	l->h.laddr = s->laddr;
	l->h.lport = s->lport;
	l->h.kind = RS_HK_LISTEN;
	l->h.core = (uint8_t)c->index;
	l->sock = s;
	l->fd = s->f.fd;
	l->sndbuf = s->sndbuf;
	l->rcvbuf = s->rcvbuf;
	l->nodelay = s->nodelay;
	l->sndbuf_lock = s->sndbuf_lock;
	l->backlog = backlog;
	rs_list_init(&l->acceptq);
	rs_list_init(&l->synq);
	rs_list_init(&l->llink); /* unlinked, a close finds it so */
	rc = rs_tcp_listen_start(c, l, reuseport);
	if (rc) {
		rs_mem_free(c->stack->arena, l);
		return rs_err(-rc);
	}
	RS_TEST_POINT("listener_new.started");
	s->lst = l;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* in this order, for SIGKILL */
	rs_list_add_tail(&c->listeners, &l->llink);
	c->nlisten++;
	rs_steer_listen(c, l->h.lport, 1);
	RS_TEST_POINT("listener_new.listed");
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rs_tcp_listen_local(c, l);
	return 0;
}

/* A second socket may listen on an address already listened on (by this
 * core or another) with SO_REUSEPORT: it joins the address's global
 * listen socket (tcp_listen.c). */
int rs_listen(struct rs_core *c, int fd, int backlog)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	if (s->tcb)
		return rs_err(EINVAL);
	backlog = backlog < 1 ? 1 : backlog > 65535 ? 65535 : backlog;
	if (s->lst) {
		s->lst->backlog = (uint32_t)backlog;
		return 0;
	}
	if (!s->bound) {
		struct sockaddr_in any = {.sin_family = AF_INET};
		if (rs_bind(c, fd, (struct sockaddr *)&any, sizeof(any)))
			return -1;
	}
	return listener_new(c, s, (uint32_t)backlog, s->reuseport);
}

int rs_accept(struct rs_core *c, int fd, struct sockaddr *addr,
	      socklen_t *len)
{
	struct rs_sock *s = rs_sock_get(c, fd), *ns;
	struct rs_listener *l;
	struct rs_tcb *t;

	if (!s)
		return -1;
	l = s->lst;
	if (!l)
		return rs_err(EINVAL);
	if (!rs_tcp_listen_ready(l))
		return rs_err(EAGAIN);
	ns = sock_new(c);
	if (!ns)
		return -1;
	t = rs_tcp_accept(c, l);
	if (!t) {
		sock_free(ns);
		return rs_err(EAGAIN);
	}
	t->sock = ns;
	t->fd = ns->f.fd;
	ns->tcb = t;
	ns->nodelay = !!(t->flags & TF_NODELAY);
	ns->sndbuf_lock = !!(t->flags & TF_SNDBUF_LOCK);
	ns->keepalive = s->keepalive;
	ns->ka = s->ka;
	rs_tcp_keepalive_set(t, ns->keepalive, &ns->ka);
	ns->sndbuf = t->snd.cap;
	ns->rcvbuf = t->rcv.cap;
	c->ctr.tcp_accepts++;
	rs_sockaddr_out(t->h.raddr, t->h.rport, addr, len);
	return ns->f.fd;
}

/* Closing a listener: its connections nobody accepted go to the other
 * sockets of its address, or are aborted when it was the last. */
static void listener_close(struct rs_core *c, struct rs_listener *l)
{
	rs_steer_listen(c, l->h.lport, 0);
	rs_list_del(&l->llink);
	rs_tcp_listen_stop(c, l);
	c->nlisten--;
	rs_mem_free(c->stack->arena, l);
}

/* Forked workers.  Core c's copy of the listening socket gfd of core gc
 * (made before fork): a listening socket of c joined to the same global
 * listen socket (with `listen` it is c's local copy, with its own SYN
 * and accept queues).  Returns its descriptor on c, or the one of the
 * copy c already has (a dead process's core taken over). */
int rs_listen_copy(struct rs_core *c, struct rs_core *gc, int gfd)
{
	struct rs_sock *gs = rs_sock_get(gc, gfd), *ns;
	struct rs_list *p;
	int rc;

	if (!gs)
		return -1;
	if (!gs->lst || c == gc)
		return rs_err(EINVAL);
	for (p = c->listeners.next; p != &c->listeners; p = p->next) {
		struct rs_listener *l = RS_CONTAINER(p, struct rs_listener, llink);
		if (l->g == gs->lst->g) {
			rs_tcp_listen_local(c, l); /* its maker may have died first */
			return l->fd;
		}
	}
	ns = sock_new(c);
	if (!ns)
		return -1;
	ns->laddr = gs->laddr; /* not bound: the global socket holds the port */
	ns->lport = gs->lport;
	ns->reuseaddr = gs->reuseaddr;
	ns->reuseport = gs->reuseport;
	ns->keepalive = gs->keepalive;
	ns->ka = gs->ka;
	ns->nodelay = gs->nodelay;
	ns->sndbuf_lock = gs->sndbuf_lock;
	ns->sndbuf = gs->sndbuf;
	ns->rcvbuf = gs->rcvbuf;
	rc = listener_new(c, ns, gs->lst->backlog, 1);
	if (rc < 0) {
		int e = errno;
		sock_free(ns);
		return rs_err(e);
	}
	return ns->f.fd;
}

/* Core c taken over from a process that died: close what that process
 * had open, as the kernel does at exit (connections get their FIN, or a
 * RST with unread data), except the listening sockets, whose queued
 * connections the new process accepts; their readiness pointers were the
 * dead process's and are cleared. */
void rs_sock_core_orphans(struct rs_core *c)
{
	void *fds = c->stack->fds;
	const struct rs_fd_ops *ops = c->stack->fd_ops;
	uint32_t max = ops->max(fds);

	for (int fd = 0; fd <= (int)max; fd++) {
		struct rs_file *f = ops->get(fds, c->index, fd);
		if (!f || f->core != c)
			continue;
		if (f->type == RS_FILE_SOCK && ((struct rs_sock *)(void *)f)->lst) {
			((struct rs_sock *)(void *)f)->user = NULL;
			continue;
		}
		if (f->type == RS_FILE_SOCK && ((struct rs_sock *)(void *)f)->tcb)
			c->ctr.tcp_orphans_closed++; /* a connection */
		rs_close(c, f->fd);
	}
}

/* Orderly release (RFC 9293 3.10.4 CLOSE) or abort. */
static void conn_close(struct rs_tcb *t, int abort)
{
	t->sock = NULL;
	t->fd = -1;
	if (t->flags & TF_DETACHED) {
		rs_tcb_free(t);
		return;
	}
	if (t->state == RS_TCP_SYN_SENT) {
		rs_tcb_drop(t, 0);
		return;
	}
	if (abort || t->rcv.len) {
		rs_tcp_send_rst(t);
		rs_tcb_drop(t, ECONNRESET);
		return;
	}
	switch (t->state) {
	case RS_TCP_SYN_RECV:
	case RS_TCP_ESTABLISHED:
		t->flags |= TF_FIN_QUEUED;
		rs_tcp_set_state(t, RS_TCP_FIN_WAIT_1);
		break;
	case RS_TCP_CLOSE_WAIT:
		t->flags |= TF_FIN_QUEUED;
		rs_tcp_set_state(t, RS_TCP_LAST_ACK);
		break;
	case RS_TCP_FIN_WAIT_2:
		t->t_misc = t->core->now + RS_TCP_FIN_TIMEOUT_NS;
		rs_tcp_timer_arm(t, t->t_misc);
		break;
	default:
		break;
	}
	rs_tcp_schedule(t);
}

int rs_close(struct rs_core *c, int fd)
{
	struct rs_file *f = c->stack->fd_ops->get(c->stack->fds, c->index, fd);
	struct rs_sock *s;

	if (f && f->core == c && f->type == RS_FILE_EPOLL) {
		rs_epoll_free((struct rs_epoll *)(void *)f);
		return 0;
	}
	s = rs_sock_get(c, fd);
	if (!s)
		return -1;
	if (s->lst)
		listener_close(c, s->lst);
	if (s->tcb)
		conn_close(s->tcb, s->linger_on && s->linger_secs == 0);
	if (s->bound)
		c->stack->port_ops->unbind(c->stack->ports, s->lport,
					   &c->ctr.lock_ports_acquired);
	sock_free(s);
	return 0;
}

void rs_sock_core_fini(struct rs_core *c)
{
	void *fds = c->stack->fds;
	const struct rs_fd_ops *ops = c->stack->fd_ops;
	uint32_t max = ops->max(fds);

	for (int fd = 0; fd <= (int)max; fd++) {
		struct rs_file *f = ops->get(fds, c->index, fd);
		if (f && f->core == c)
			rs_close(c, f->fd);
	}
	while (c->sock_free) {
		struct rs_sock *s = c->sock_free;
		c->sock_free = (struct rs_sock *)(void *)s->tcb;
		rs_mem_free(c->stack->arena, s);
	}
}
