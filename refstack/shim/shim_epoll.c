/* epoll with kernel and stack descriptors in one set.
 *
 * The program's epoll descriptor is a real kernel epoll: its kernel
 * descriptors are registered there as usual.  Stack sockets are items of
 * the shim's own list for that set (one item per set and descriptor, so a
 * socket can be in several sets, as haproxy's listeners are in every
 * thread's), kept ready by the stack's readiness hook; epoll_wait reports
 * them with Linux's level/edge/one-shot rules.  To sleep, a thread adds
 * its core's packet socket and its wake-up eventfd to the kernel set once
 * (with data words no program can produce: see SHIM_COOKIE) and sleeps in
 * the real epoll_wait, with the core's next timer as the timeout. */
#include <errno.h>
#include <stdlib.h>

#include "shim.h"

/* Non-canonical on x86-64 and aarch64 (no user pointer), and no fd. */
#define SHIM_COOKIE 0x52535f53484d0000ull
#define SHIM_COOKIE_MASK 0xffffffffffff0000ull
#define SHIM_EP_MODES (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

static struct shim_epoll *epoll_of(int epfd)
{
	struct shim_file *f = shim_fd_get(epfd);

	return f && f->kind == SHIM_EPOLL ? (struct shim_epoll *)(void *)f : NULL;
}

uint32_t shim_sock_events(struct shim_sock *s)
{
	uint32_t ev = 0;

	s = shim_target(s);
	if (rs_sock_events(s->core->rc, s->rsfd, &ev) < 0)
		return EPOLLERR | EPOLLHUP;
	return ev;
}

static void item_ready(struct shim_epitem *it)
{
	struct shim_epoll *ep = it->ep;

	if (it->on_ready || !(it->events & ~(uint32_t)SHIM_EP_MODES))
		return;
	it->on_ready = 1;
	rs_list_add_tail(&ep->ready, &it->rlink);
	for (struct shim_wait *w = ep->f.waiters; w; w = w->next)
		shim_kick(w->t);
}

/* The stack's readiness hook (under shim_lock). */
void shim_sock_wake(void *arg, void *user)
{
	struct shim_sock *s = user;

	(void)arg;
	for (struct shim_epitem *it = s->items; it; it = it->snext)
		item_ready(it);
	for (struct shim_wait *w = s->f.waiters; w; w = w->next)
		shim_kick(w->t);
}

static void item_free(struct shim_epitem *it)
{
	struct shim_epitem **pp;

	for (pp = &it->s->items; *pp; pp = &(*pp)->snext) {
		if (*pp == it) {
			*pp = it->snext;
			break;
		}
	}
	if (it->on_ready)
		rs_list_del(&it->rlink);
	rs_list_del(&it->ilink);
	free(it);
}

/* Socket s (or an alias) closed: its registrations go, as in Linux when
 * the last descriptor of a file is closed. */
void shim_epoll_forget_sock(struct shim_sock *s)
{
	struct shim_sock *x = shim_target(s);
	struct shim_epitem *it = x->items, *next;

	for (; it; it = next) {
		next = it->snext;
		if (it->owner == s || x == s)
			item_free(it);
	}
}

void shim_epoll_free(struct shim_file *f)
{
	struct shim_epoll *ep = (struct shim_epoll *)(void *)f;

	while (!rs_list_empty(&ep->items))
		item_free(RS_CONTAINER(ep->items.next, struct shim_epitem, ilink));
	free(ep);
}

int epoll_create1(int flags)
{
	int kfd = shim_real.epoll_create1(flags);
	struct shim_epoll *ep;

	if (kfd < 0 || !shim_active)
		return kfd;
	if ((unsigned)kfd >= shim_fd_limit() || !(ep = calloc(1, sizeof(*ep)))) {
		shim_real.close(kfd);
		return shim_err((unsigned)kfd >= shim_fd_limit() ? EMFILE : ENOMEM);
	}
	ep->f.kind = SHIM_EPOLL;
	rs_list_init(&ep->items);
	rs_list_init(&ep->ready);
	shim_lock_take();
	shim_fd_set(kfd, &ep->f);
	shim_lock_drop();
	return kfd;
}

int epoll_create(int size)
{
	if (size <= 0)
		return shim_err(EINVAL);
	return epoll_create1(0);
}

static struct shim_epitem *item_find(struct shim_epoll *ep, struct shim_sock *x, int fd)
{
	for (struct shim_epitem *it = x->items; it; it = it->snext)
		if (it->ep == ep && it->fd == fd)
			return it;
	return NULL;
}

static void item_set(struct shim_epitem *it, const struct epoll_event *ev)
{
	it->events = ev->events | EPOLLERR | EPOLLHUP;
	it->data = ev->data;
	if (it->on_ready) {
		rs_list_del(&it->rlink);
		it->on_ready = 0;
	}
	if (shim_sock_events(it->s) & it->events)
		item_ready(it);
}

static int ctl_stack(struct shim_epoll *ep, int op, int fd, struct shim_sock *s,
		     struct epoll_event *ev)
{
	struct shim_sock *x = shim_target(s);
	struct shim_epitem *it = item_find(ep, x, fd);

	if (op != EPOLL_CTL_DEL && !ev)
		return shim_err(EFAULT);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return shim_err(EEXIST);
		it = calloc(1, sizeof(*it));
		if (!it)
			return shim_err(ENOMEM);
		it->ep = ep;
		it->s = x;
		it->owner = s;
		it->fd = fd;
		rs_list_init(&it->rlink);
		rs_list_add_tail(&ep->items, &it->ilink);
		it->snext = x->items;
		x->items = it;
		item_set(it, ev);
		return 0;
	case EPOLL_CTL_MOD:
		if (!it)
			return shim_err(ENOENT);
		if (ev->events & EPOLLEXCLUSIVE)
			return shim_err(EINVAL);
		item_set(it, ev);
		return 0;
	case EPOLL_CTL_DEL:
		if (!it)
			return shim_err(ENOENT);
		item_free(it);
		return 0;
	default:
		return shim_err(EINVAL);
	}
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_epoll *ep = epoll_of(epfd);
	struct shim_file *f = shim_fd_get(fd);
	int r;

	if (!f || !ep)
		return shim_real.epoll_ctl(epfd, op, fd, ev);
	if (!f->kind)
		return shim_err(EBADF);
	if (f->kind == SHIM_EPOLL) {
		if (!rs_list_empty(&((struct shim_epoll *)(void *)f)->items))
			shim_unsupported("epoll_ctl", "an epoll set holding stack sockets "
					 "nested in another (the outer one sees only its kernel part)",
					 0);
		return shim_real.epoll_ctl(epfd, op, fd, ev);
	}
	shim_lock_take();
	r = ctl_stack(ep, op, fd, (struct shim_sock *)(void *)f, ev);
	shim_lock_drop();
	return r;
}

/* Take ready stack items into events (under shim_lock). */
static int collect(struct shim_epoll *ep, struct epoll_event *events, int max)
{
	struct rs_list keep;
	int n = 0;

	rs_list_init(&keep);
	while (n < max && !rs_list_empty(&ep->ready)) {
		struct shim_epitem *it = RS_CONTAINER(ep->ready.next, struct shim_epitem, rlink);
		uint32_t m = shim_sock_events(it->s) & it->events;

		rs_list_del(&it->rlink);
		it->on_ready = 0;
		if (!m)
			continue;
		events[n].events = m;
		events[n].data = it->data;
		n++;
		if (it->events & EPOLLONESHOT) {
			it->events &= (uint32_t)SHIM_EP_MODES;
		} else if (!(it->events & EPOLLET)) {
			it->on_ready = 1;
			rs_list_add_tail(&keep, &it->rlink);
		}
	}
	while (!rs_list_empty(&keep)) {
		struct rs_list *p = keep.next;
		rs_list_del(p);
		rs_list_add_tail(&ep->ready, p);
	}
	return n;
}

/* Make sure t can sleep in this kernel set (under shim_lock). */
static int arm(struct shim_epoll *ep, int epfd, struct shim_thread *t, unsigned *slot)
{
	struct epoll_event ev = { .events = EPOLLIN };

	unsigned i;

	for (i = 0; i < ep->narmed && ep->armed[i] != t; i++)
		;
	if (i == ep->narmed) {
		if (ep->narmed == SHIM_EP_ARMED)
			return shim_err(ENOSPC);
		ev.data.u64 = SHIM_COOKIE | (i << 1);
		if (shim_real.epoll_ctl(epfd, EPOLL_CTL_ADD, t->efd, &ev) < 0 && errno != EEXIST)
			return -1;
		ep->armed[i] = t;
		ep->armed_fd[i] = -1;
		ep->narmed++;
	}
	*slot = i;
	if (ep->armed_fd[i] == t->core->wait_fd)
		return 0;
	/* first wait, or the thread moved to another core (shim_claim) */
	if (ep->armed_fd[i] >= 0)
		shim_real.epoll_ctl(epfd, EPOLL_CTL_DEL, ep->armed_fd[i], NULL);
	ev.data.u64 = SHIM_COOKIE | (i << 1) | 1;
	if (t->core->wait_fd >= 0 &&
	    shim_real.epoll_ctl(epfd, EPOLL_CTL_ADD, t->core->wait_fd, &ev) < 0 && errno != EEXIST)
		return -1;
	ep->armed_fd[i] = t->core->wait_fd;
	return 0;
}

/* Drop our own entries from what the kernel reported. */
static int filter(struct shim_epoll *ep, int epfd, struct epoll_event *ev, int n,
		  struct shim_thread *t)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		uint64_t d = ev[i].data.u64;
		if ((d & SHIM_COOKIE_MASK) != SHIM_COOKIE) {
			ev[k++] = ev[i];
			continue;
		}
		if ((d & 1) && (ev[i].events & (EPOLLERR | EPOLLHUP)) &&
		    ep->armed[(d & 0xffff) >> 1] == t && t->core->wait_fd >= 0) {
			shim_real.epoll_ctl(epfd, EPOLL_CTL_DEL, t->core->wait_fd, NULL);
			shim_core_dead(t->core);
		}
		if (!(d & 1) && ep->armed[(d & 0xffff) >> 1] == t) {
			uint64_t v;
			if (shim_real.read(t->efd, &v, sizeof(v)) < 0) {
				/* already drained */
			}
			t->kicked = 0;
		}
	}
	return k;
}

static int wait_kernel(int epfd, struct epoll_event *ev, int max, int ms, const sigset_t *mask)
{
	return mask ? shim_real.epoll_pwait(epfd, ev, max, ms, mask)
		    : shim_real.epoll_wait(epfd, ev, max, ms);
}

static int ms_until(uint64_t until)
{
	uint64_t now = rs_clock_ns();

	if (until == UINT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	return (int)RS_MIN((until - now + 999999) / 1000000, (uint64_t)0x7fffffff);
}

static int shim_epoll_wait(int epfd, struct shim_epoll *ep, struct epoll_event *events,
			   int max, int timeout, const sigset_t *mask)
{
	uint64_t end = shim_deadline(timeout);
	unsigned gen = shim_sig_gen();
	struct shim_thread *t;
	struct shim_wait w;
	unsigned slot;
	int n, k;

	if (max <= 0 || !events)
		return shim_err(EINVAL);
	if (rs_list_empty(&ep->items) && !shim_current())
		return wait_kernel(epfd, events, max, timeout, mask);
	shim_lock_take();
	t = shim_self();
	if (!t) {
		shim_lock_drop();
		return -1;
	}
	for (;;) {
		shim_poll(t->core);
		n = collect(ep, events, max);
		shim_lock_drop();
		if (n < max) {
			k = shim_real.epoll_wait(epfd, events + n, max - n, 0);
			if (k > 0) {
				shim_lock_take();
				n += filter(ep, epfd, events + n, k, t);
				shim_lock_drop();
			} else if (k < 0 && !n) {
				return -1;
			}
		}
		if (n > 0 || timeout == 0 || rs_clock_ns() >= end)
			return n;
		shim_lock_take();
		shim_claim(t);
		if (arm(ep, epfd, t, &slot) < 0) {
			shim_lock_drop();
			return -1;
		}
		if (!rs_list_empty(&ep->ready) || rs_poll_at(t->core->rc) == 0)
			continue;
		if (shim_sig_gen() != gen) { /* a handler ran since the call began */
			shim_lock_drop();
			return shim_err(EINTR);
		}
		w.t = t;
		w.next = ep->f.waiters;
		ep->f.waiters = &w;
		uint64_t at = rs_poll_at(t->core->rc);
		shim_lock_drop();
		k = wait_kernel(epfd, events, max, ms_until(at < end ? at : end), mask);
		int e = errno;
		shim_lock_take();
		for (struct shim_wait **pp = &ep->f.waiters; *pp; pp = &(*pp)->next) {
			if (*pp == &w) {
				*pp = w.next;
				break;
			}
		}
		if (k < 0) {
			shim_lock_drop();
			return shim_err(e);
		}
		k = filter(ep, epfd, events, k, t);
		if (k > 0) {
			shim_lock_drop();
			return k;
		}
	}
}

int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	struct shim_epoll *ep = epoll_of(epfd);

	if (!ep)
		return shim_real.epoll_wait(epfd, events, max, timeout);
	return shim_epoll_wait(epfd, ep, events, max, timeout, NULL);
}

int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
		const sigset_t *mask)
{
	struct shim_epoll *ep = epoll_of(epfd);

	if (!ep)
		return shim_real.epoll_pwait(epfd, events, max, timeout, mask);
	return shim_epoll_wait(epfd, ep, events, max, timeout, mask);
}
