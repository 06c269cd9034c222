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
	if (s->rsfd < 0 || rs_sock_events(s->core->rc, s->rsfd, &ev) < 0)
		return EPOLLERR | EPOLLHUP;
	return ev;
}

static int item_active(const struct shim_epitem *it)
{
	return (it->events & ~(uint32_t)SHIM_EP_MODES) != 0; /* not a spent one-shot */
}

/* The events of it's socket are ev now (under the socket's core lock):
 * on or off the set's ready list; wake: the stack reported an event
 * (edge-triggered items are queued only then). */
static void item_update(struct shim_epitem *it, uint32_t ev, int wake)
{
	struct shim_epoll *ep = it->ep;
	int ready = (ev & it->events) && item_active(it);

	pthread_mutex_lock(&ep->lock);
	it->revents = ev;
	if (ready && !it->on_ready && (wake || !(it->events & EPOLLET))) {
		it->on_ready = 1;
		rs_list_add_tail(&ep->ready, &it->rlink);
		for (struct shim_wait *w = ep->f.waiters; w; w = w->next)
			shim_kick(w->t);
	} else if (!ready && it->on_ready) {
		it->on_ready = 0;
		rs_list_del(&it->rlink);
	}
	pthread_mutex_unlock(&ep->lock);
}

/* The stack's readiness hook (under the core lock of s: the stack raises
 * it only on the core that owns the socket). */
void shim_sock_wake(void *arg, void *user)
{
	struct shim_sock *s = user;
	uint32_t ev;

	(void)arg;
	if (s->items) {
		ev = shim_sock_events(s);
		for (struct shim_epitem *it = s->items; it; it = it->snext)
			item_update(it, ev, 1);
	}
	for (struct shim_wait *w = s->f.waiters; w; w = w->next)
		shim_kick(w->t);
}

uint32_t shim_sock_update(struct shim_sock *s)
{
	uint32_t ev;

	if (!s->items)
		return 0;
	ev = shim_sock_events(s);
	for (struct shim_epitem *it = s->items; it; it = it->snext)
		item_update(it, ev, 0);
	return ev;
}

static void item_unlink_sock(struct shim_epitem *it)
{
	for (struct shim_epitem **pp = &it->s->items; *pp; pp = &(*pp)->snext) {
		if (*pp == it) {
			*pp = it->snext;
			break;
		}
	}
}

/* Under the core lock of it->s. */
static void item_free(struct shim_epitem *it)
{
	struct shim_epoll *ep = it->ep;

	item_unlink_sock(it);
	pthread_mutex_lock(&ep->lock);
	if (it->on_ready)
		rs_list_del(&it->rlink);
	rs_list_del(&it->ilink);
	pthread_mutex_unlock(&ep->lock);
	free(it);
}

void shim_epoll_forget_sock(struct shim_sock *s, struct shim_sock *owner)
{
	struct shim_epitem *it = s->items, *next;

	for (; it; it = next) {
		next = it->snext;
		if (it->owner == owner || s == owner)
			item_free(it);
	}
}

static int item_on(struct shim_sock *s, struct shim_epitem *it)
{
	for (struct shim_epitem *x = s->items; x; x = x->snext)
		if (x == it)
			return 1;
	return 0;
}

/* The set's first item, with the core lock of its socket held; NULL when
 * the set is empty. */
static struct shim_epitem *first_item(struct shim_epoll *ep)
{
	for (;;) {
		struct shim_epitem *it;
		struct shim_sock *s;

		pthread_mutex_lock(&ep->lock);
		if (rs_list_empty(&ep->items)) {
			pthread_mutex_unlock(&ep->lock);
			return NULL;
		}
		it = RS_CONTAINER(ep->items.next, struct shim_epitem, ilink);
		s = it->s;
		pthread_mutex_unlock(&ep->lock);
		shim_core_lock(s->core);
		if (item_on(s, it))
			return it;
		shim_core_unlock(s->core); /* freed or moved meanwhile: again */
	}
}

void shim_epoll_free(struct shim_file *f)
{
	struct shim_epoll *ep = (struct shim_epoll *)(void *)f;
	struct shim_epitem *it;

	while ((it = first_item(ep)) != NULL) {
		struct shim_core *c = it->s->core;
		item_free(it);
		shim_core_unlock(c);
	}
	pthread_mutex_destroy(&ep->lock);
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
	pthread_mutex_init(&ep->lock, NULL);
	rs_list_init(&ep->items);
	rs_list_init(&ep->ready);
	shim_fd_set(kfd, &ep->f);
	return kfd;
}

int epoll_create(int size)
{
	if (size <= 0)
		return shim_err(EINVAL);
	return epoll_create1(0);
}

/* The item of (ep, fd) on x or (a listener) one of its copies, with the
 * core lock of the socket it is on held; NULL (no lock held): none. */
static struct shim_epitem *item_lookup(struct shim_epoll *ep, struct shim_sock *x, int fd)
{
	for (struct shim_sock *y = x; y;
	     y = y == x ? __atomic_load_n(&x->copies, __ATOMIC_ACQUIRE) : y->next_copy) {
		shim_core_lock(y->core);
		for (struct shim_epitem *it = y->items; it; it = it->snext)
			if (it->ep == ep && it->fd == fd)
				return it;
		shim_core_unlock(y->core);
	}
	return NULL;
}

/* Under the core lock of it->s. */
static void item_set(struct shim_epitem *it, const struct epoll_event *ev)
{
	pthread_mutex_lock(&it->ep->lock);
	it->events = ev->events | EPOLLERR | EPOLLHUP;
	it->data = ev->data;
	if (it->on_ready) {
		rs_list_del(&it->rlink);
		it->on_ready = 0;
	}
	pthread_mutex_unlock(&it->ep->lock);
	item_update(it, shim_sock_events(it->s), 1);
}

/* A listener's items watch the copy on the core of the thread that waits
 * on the set (the one whose accept() they announce); before any thread
 * waited, the caller's core. */
static struct shim_sock *item_home(struct shim_epoll *ep, struct shim_sock *s,
				   struct shim_thread *t)
{
	struct shim_core *c;

	pthread_mutex_lock(&ep->lock);
	c = ep->core ? ep->core : t->core;
	pthread_mutex_unlock(&ep->lock);
	return shim_copy_on(s, c);
}

static int ctl_add(struct shim_epoll *ep, int fd, struct shim_sock *s,
		   struct epoll_event *ev, struct shim_thread *t)
{
	struct shim_sock *b = item_home(ep, s, t);
	struct shim_epitem *it = calloc(1, sizeof(*it));

	if (!it)
		return shim_err(ENOMEM);
	it->ep = ep;
	it->s = b;
	it->owner = s;
	it->fd = fd;
	rs_list_init(&it->rlink);
	shim_core_lock(b->core);
	pthread_mutex_lock(&ep->lock);
	rs_list_add_tail(&ep->items, &it->ilink);
	pthread_mutex_unlock(&ep->lock);
	it->snext = b->items;
	b->items = it;
	item_set(it, ev);
	shim_core_unlock(b->core);
	return 0;
}

static int ctl_stack(struct shim_epoll *ep, int op, int fd, struct shim_sock *s,
		     struct epoll_event *ev, struct shim_thread *t)
{
	struct shim_epitem *it;
	struct shim_core *c;

	if (op != EPOLL_CTL_DEL && !ev)
		return shim_err(EFAULT);
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return shim_err(EINVAL);
	it = item_lookup(ep, shim_target(s), fd);
	if (op == EPOLL_CTL_ADD) {
		if (it) {
			shim_core_unlock(it->s->core);
			return shim_err(EEXIST);
		}
		return ctl_add(ep, fd, s, ev, t);
	}
	if (!it)
		return shim_err(ENOENT);
	c = it->s->core;
	if (op == EPOLL_CTL_MOD) {
		if (ev->events & EPOLLEXCLUSIVE) {
			shim_core_unlock(c);
			return shim_err(EINVAL);
		}
		item_set(it, ev);
	} else {
		item_free(it);
	}
	shim_core_unlock(c);
	return 0;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_epoll *ep = epoll_of(epfd);
	struct shim_file *f = shim_fd_get(fd);
	struct shim_thread *t;

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
	t = shim_self();
	if (!t)
		return -1;
	return ctl_stack(ep, op, fd, (struct shim_sock *)(void *)f, ev, t);
}

/* The thread that waits on ep drives core c: its listener items move to
 * the copies on c (done once, at the first wait). */
static void ep_bind(struct shim_epoll *ep, struct shim_core *c)
{
	struct shim_epitem *mv[64];
	struct shim_sock *from[64];
	unsigned n = 0;

	pthread_mutex_lock(&ep->lock);
	if (ep->core == c) {
		pthread_mutex_unlock(&ep->lock);
		return;
	}
	ep->core = c;
	for (struct rs_list *p = ep->items.next; p != &ep->items && n < 64; p = p->next) {
		struct shim_epitem *it = RS_CONTAINER(p, struct shim_epitem, ilink);
		if (it->s->listening && it->s->core != c) {
			mv[n] = it;
			from[n++] = it->s;
		}
	}
	pthread_mutex_unlock(&ep->lock);
	for (unsigned i = 0; i < n; i++) {
		struct shim_sock *y = from[i], *to = shim_copy_on(y->copy_of ? y->copy_of : y, c);
		if (to == y)
			continue;
		shim_core_lock2(y->core, to->core);
		if (item_on(y, mv[i])) {
			item_unlink_sock(mv[i]);
			pthread_mutex_lock(&ep->lock);
			mv[i]->s = to;
			pthread_mutex_unlock(&ep->lock);
			mv[i]->snext = to->items;
			to->items = mv[i];
			item_update(mv[i], shim_sock_events(to), 1);
		}
		shim_core_unlock2(y->core, to->core);
	}
}

/* Take ready stack items into events (under ep->lock): the events each
 * item's socket had when its core last looked (the readiness hook, and
 * every call on the socket, keep them). */
static int collect(struct shim_epoll *ep, struct epoll_event *events, int max)
{
	struct rs_list keep;
	int n = 0;

	rs_list_init(&keep);
	while (n < max && !rs_list_empty(&ep->ready)) {
		struct shim_epitem *it = RS_CONTAINER(ep->ready.next, struct shim_epitem, rlink);
		uint32_t m = it->revents & it->events;

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

/* Make sure t can sleep in this kernel set (under ep->lock). */
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

/* Drop our own entries from what the kernel reported (under ep->lock). */
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
			/* not under the core lock (ep->lock is held): only t
			 * itself sleeps on its core's packet socket */
			shim_core_dead(t->core);
		}
		if (!(d & 1) && ep->armed[(d & 0xffff) >> 1] == t) {
			uint64_t v;
			/* cleared first: a later kick writes the eventfd again */
			__atomic_store_n(&t->kicked, 0, __ATOMIC_SEQ_CST);
			if (shim_real.read(t->efd, &v, sizeof(v)) < 0) {
				/* already drained */
			}
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

static void waiter_del(struct shim_epoll *ep, struct shim_wait *w)
{
	for (struct shim_wait **pp = &ep->f.waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static int shim_epoll_wait(int epfd, struct shim_epoll *ep, struct epoll_event *events,
			   int max, int timeout, const sigset_t *mask)
{
	uint64_t end = shim_deadline(timeout), at;
	unsigned gen = shim_sig_gen();
	struct shim_thread *t;
	struct shim_wait w;
	unsigned slot;
	int n, k, e;

	if (max <= 0 || !events)
		return shim_err(EINVAL);
	pthread_mutex_lock(&ep->lock);
	k = rs_list_empty(&ep->items);
	pthread_mutex_unlock(&ep->lock);
	if (k && !shim_current())
		return wait_kernel(epfd, events, max, timeout, mask);
	t = shim_self();
	if (!t)
		return -1;
	if (timeout != 0)
		shim_claim(t);
	for (;;) {
		shim_poll_own(t);
		pthread_mutex_lock(&ep->lock);
		n = collect(ep, events, max);
		pthread_mutex_unlock(&ep->lock);
		if (n < max) {
			k = shim_real.epoll_wait(epfd, events + n, max - n, 0);
			if (k > 0) {
				pthread_mutex_lock(&ep->lock);
				n += filter(ep, epfd, events + n, k, t);
				pthread_mutex_unlock(&ep->lock);
			} else if (k < 0 && !n) {
				return -1;
			}
		}
		if (n > 0 || timeout == 0 || rs_clock_ns() >= end)
			return n;
		shim_claim(t);
		ep_bind(ep, t->core);
		pthread_mutex_lock(&ep->lock);
		if (arm(ep, epfd, t, &slot) < 0) {
			pthread_mutex_unlock(&ep->lock);
			return -1;
		}
		if (!rs_list_empty(&ep->ready)) {
			pthread_mutex_unlock(&ep->lock);
			continue;
		}
		if (shim_sig_gen() != gen) { /* a handler ran since the call began */
			pthread_mutex_unlock(&ep->lock);
			return shim_err(EINTR);
		}
		w.t = t;
		w.next = ep->f.waiters;
		ep->f.waiters = &w;
		pthread_mutex_unlock(&ep->lock);
		shim_core_lock(t->core);
		at = rs_poll_at(t->core->rc);
		shim_core_unlock(t->core);
		k = at == 0 ? 0 : wait_kernel(epfd, events, max, ms_until(at < end ? at : end), mask);
		e = errno;
		pthread_mutex_lock(&ep->lock);
		waiter_del(ep, &w);
		if (k < 0) {
			pthread_mutex_unlock(&ep->lock);
			return shim_err(e);
		}
		k = filter(ep, epfd, events, k, t);
		pthread_mutex_unlock(&ep->lock);
		if (k > 0)
			return k;
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
