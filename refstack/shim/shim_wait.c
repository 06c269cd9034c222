/* Sleeping.  An idle program thread sleeps in the kernel, never spins: in
 * poll() on its core's packet socket (frames arrived), its own eventfd
 * (another thread changed something it waits for, or handed a frame to
 * its core) and the program's kernel descriptors of the call, with the
 * core's next TCP timer as the timeout.  A thread registers itself on
 * every object it waits for before dropping the lock under which it
 * found the object not ready, and whoever changes such an object (the
 * readiness hook, under the same lock) writes its eventfd, so no wake-up
 * is lost between the check and the sleep. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "shim.h"

uint64_t shim_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return rs_clock_ns() + (uint64_t)timeout_ms * 1000000u;
}

static int timeout_ms(uint64_t until)
{
	uint64_t now = rs_clock_ns(), ms;

	if (until == UINT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	ms = (until - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void shim_wait_add(struct shim_sock *s, struct shim_wait *w, struct shim_thread *t)
{
	w->t = t;
	w->next = s->f.waiters;
	s->f.waiters = w;
}

void shim_wait_del(struct shim_sock *s, struct shim_wait *w)
{
	for (struct shim_wait **pp = &s->f.waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

int shim_sleep(struct shim_thread *t, struct pollfd *kfds, int nk,
	       uint64_t deadline_ns, const sigset_t *sigmask)
{
	struct pollfd pbuf[16], *p = nk + 2 <= 16 ? pbuf : calloc((size_t)nk + 2, sizeof(*p));
	struct shim_core *c;
	uint64_t at;
	int r, err, ms;

	if (!p)
		return shim_err(ENOMEM);
	shim_claim(t);
	c = t->core;
	shim_core_lock(c);
	at = rs_poll_at(c->rc);
	for (int i = 0; i < nk; i++)
		p[i] = kfds[i];
	p[nk] = (struct pollfd){ .fd = c->wait_fd, .events = POLLIN };
	p[nk + 1] = (struct pollfd){ .fd = t->efd, .events = POLLIN };
	shim_core_unlock(c);
	ms = timeout_ms(at < deadline_ns ? at : deadline_ns);
	if (sigmask) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		r = shim_real.ppoll(p, (nfds_t)nk + 2, ms < 0 ? NULL : &ts, sigmask);
	} else {
		r = shim_real.poll(p, (nfds_t)nk + 2, ms);
	}
	err = errno;
	/* cleared before anything is looked at again: a kick from now on
	 * writes the eventfd (the next sleep returns at once) */
	__atomic_store_n(&t->kicked, 0, __ATOMIC_SEQ_CST);
	if (r > 0 && (p[nk + 1].revents & POLLIN)) {
		uint64_t v;
		if (shim_real.read(t->efd, &v, sizeof(v)) < 0) {
			/* drained by a racing read: nothing to do */
		}
	}
	for (int i = 0; i < nk; i++)
		kfds[i].revents = p[i].revents;
	shim_core_lock(c);
	if (r > 0 && (p[nk].revents & (POLLERR | POLLHUP | POLLNVAL)))
		shim_core_dead(c);
	shim_poll(c);
	shim_core_unlock(c);
	if (p != pbuf)
		free(p);
	if (r < 0)
		return shim_err(err);
	return r;
}

int shim_wait_sock(struct shim_thread *t, struct shim_sock *s,
		   uint64_t deadline_ns)
{
	struct shim_wait w;
	int r;

	if (deadline_ns != UINT64_MAX && rs_clock_ns() >= deadline_ns)
		return shim_err(EAGAIN);
	shim_wait_add(s, &w, t);
	shim_core_unlock(s->core);
	r = shim_sleep(t, NULL, 0, deadline_ns, NULL);
	shim_core_lock(s->core);
	shim_wait_del(s, &w);
	return r < 0 ? -1 : 0;
}
