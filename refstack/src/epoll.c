/* Readiness: a socket on an epoll set is put on the set's ready list when
 * something happens to it (rs_sock_wake); rs_epoll_wait then asks the
 * socket for its current events (rs_sock_poll), Linux's ep_poll_callback /
 * ep_send_events split. */
#include "arena.h"
#include "sock.h"

#define RS_EP_MODES (EPOLLET | EPOLLONESHOT)

uint32_t rs_sock_poll(const struct rs_sock *s)
{
	const struct rs_tcb *t = s->tcb;
	uint32_t m = 0;

	if (s->lst)
		return s->lst->nacceptq ? EPOLLIN | EPOLLRDNORM : 0;
	if (!t)
		return EPOLLOUT | EPOLLHUP;
	if (t->so_error)
		m |= EPOLLERR;
	if (t->state == RS_TCP_SYN_SENT || t->state == RS_TCP_SYN_RECV)
		return m;
	if (t->flags & TF_DETACHED)
		return m | EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLHUP |
		       EPOLLRDHUP;
	if (t->rcv.len)
		m |= EPOLLIN | EPOLLRDNORM;
	if (t->flags & TF_FIN_RCVD) {
		m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
		if (t->flags & TF_FIN_QUEUED)
			m |= EPOLLHUP;
	}
	if (!(t->flags & TF_FIN_QUEUED) &&
	    (t->state == RS_TCP_ESTABLISHED || t->state == RS_TCP_CLOSE_WAIT) &&
	    t->snd.cap - t->snd.len >= t->snd.cap / 4)
		m |= EPOLLOUT | EPOLLWRNORM;
	return m;
}

void rs_sock_wake(struct rs_sock *s)
{
	struct rs_epitem *e = &s->epi;
	const struct rs_stack_conf *conf = &s->f.core->stack->conf;

	if (s->user && conf->sock_wake)
		conf->sock_wake(conf->sock_wake_arg, s->user);

	if (e->ep && !e->on_ready && (e->events & ~(uint32_t)RS_EP_MODES)) {
		e->on_ready = 1;
		rs_list_add_tail(&e->ep->ready, &e->rlink);
	}
}

int rs_sock_set_user(struct rs_core *c, int fd, void *user)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	s->user = user;
	return 0;
}

int rs_sock_events(struct rs_core *c, int fd, uint32_t *events)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	*events = rs_sock_poll(s);
	return 0;
}

int rs_sock_nread(struct rs_core *c, int fd)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	if (s->lst)
		return rs_err(EINVAL);
	return s->tcb ? (int)s->tcb->rcv.len : 0;
}

void rs_epoll_forget(struct rs_sock *s)
{
	struct rs_epitem *e = &s->epi;

	if (!e->ep)
		return;
	if (e->on_ready)
		rs_list_del(&e->rlink);
	rs_list_del(&e->ilink);
	e->on_ready = 0;
	e->ep = NULL;
}

int rs_epoll_create(struct rs_core *c)
{
	struct rs_epoll *ep;

	if (c->nsockets >= c->stack->conf.max_sockets)
		return rs_err(EMFILE);
	ep = rs_mem_zalloc(c->stack->arena, sizeof(*ep));
	if (!ep)
		return rs_err(ENOMEM);
	ep->f.type = RS_FILE_EPOLL;
	ep->f.core = c;
	rs_list_init(&ep->ready);
	rs_list_init(&ep->items);
	ep->f.fd = c->stack->fd_ops->alloc(c->stack->fds, ep, &c->ctr.lock_fdtab);
	if (ep->f.fd < 0) {
		rs_mem_free(c->stack->arena, ep);
		return rs_err(EMFILE);
	}
	c->nsockets++;
	return ep->f.fd;
}

void rs_epoll_free(struct rs_epoll *ep)
{
	struct rs_core *c = ep->f.core;

	while (!rs_list_empty(&ep->items)) {
		struct rs_epitem *e =
			RS_CONTAINER(ep->items.next, struct rs_epitem, ilink);
		rs_epoll_forget(RS_CONTAINER(e, struct rs_sock, epi));
	}
	c->stack->fd_ops->release(c->stack->fds, ep->f.fd, &c->ctr.lock_fdtab);
	c->nsockets--;
	rs_mem_free(c->stack->arena, ep);
}

static void epi_set(struct rs_sock *s, const struct epoll_event *ev)
{
	s->epi.events = ev->events | EPOLLERR | EPOLLHUP;
	s->epi.data = ev->data;
	if (s->epi.on_ready) {
		rs_list_del(&s->epi.rlink);
		s->epi.on_ready = 0;
	}
	if (rs_sock_poll(s) & s->epi.events)
		rs_sock_wake(s);
}

int rs_epoll_ctl(struct rs_core *c, int epfd, int op, int fd,
		 struct epoll_event *ev)
{
	struct rs_epoll *ep = rs_file_get(c, epfd, RS_FILE_EPOLL);
	struct rs_sock *s;

	if (!ep)
		return -1;
	if (fd == epfd)
		return rs_err(EINVAL);
	s = rs_sock_get(c, fd);
	if (!s)
		return errno == ENOTSOCK ? rs_err(EPERM) : -1;
	if (op != EPOLL_CTL_DEL && !ev)
		return rs_err(EFAULT);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (s->epi.ep)
			return rs_err(s->epi.ep == ep ? EEXIST : EBUSY);
		s->epi.ep = ep;
		rs_list_add_tail(&ep->items, &s->epi.ilink);
		epi_set(s, ev);
		return 0;
	case EPOLL_CTL_MOD:
		if (s->epi.ep != ep)
			return rs_err(ENOENT);
		epi_set(s, ev);
		return 0;
	case EPOLL_CTL_DEL:
		if (s->epi.ep != ep)
			return rs_err(ENOENT);
		rs_epoll_forget(s);
		return 0;
	default:
		return rs_err(EINVAL);
	}
}

int rs_epoll_wait(struct rs_core *c, int epfd, struct epoll_event *events,
		  int maxevents)
{
	struct rs_epoll *ep = rs_file_get(c, epfd, RS_FILE_EPOLL);
	struct rs_list keep;
	int n = 0;

	if (!ep)
		return -1;
	if (maxevents <= 0 || !events)
		return rs_err(EINVAL);
	rs_list_init(&keep);
	while (n < maxevents && !rs_list_empty(&ep->ready)) {
		struct rs_epitem *e =
			RS_CONTAINER(ep->ready.next, struct rs_epitem, rlink);
		struct rs_sock *s = RS_CONTAINER(e, struct rs_sock, epi);
		uint32_t m = rs_sock_poll(s) & e->events;

		rs_list_del(&e->rlink);
		e->on_ready = 0;
		if (!m)
			continue;
		events[n].events = m;
		events[n].data = e->data;
		n++;
		if (e->events & EPOLLONESHOT)
			e->events &= (uint32_t)RS_EP_MODES;
		else if (!(e->events & EPOLLET)) {
			e->on_ready = 1;
			rs_list_add_tail(&keep, &e->rlink);
		}
	}
	/* level-triggered items go back, behind the ones not yet seen */
	while (!rs_list_empty(&keep)) {
		struct rs_list *p = keep.next;
		rs_list_del(p);
		rs_list_add_tail(&ep->ready, p);
	}
	return n;
}
