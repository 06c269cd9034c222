/* Sleeping.  An idle program thread sleeps in the kernel, never spins: in
 * poll() on its core's packet socket (frames arrived), its own eventfd
 * (another thread changed something it waits for, or handed a frame to
 * its core) and the program's kernel descriptors of the call, with the
 * core's next TCP timer as the timeout.  A thread registers itself on
 * every object it waits for before dropping shim_lock, and whoever
 * changes such an object (the readiness hook, under shim_lock) writes its
 * eventfd, so no wake-up is lost between the check and the sleep. */
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

static void waiter_del(struct shim_file *f, struct shim_wait *w)
{
	for (struct shim_wait **pp = &f->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

int shim_block(struct shim_thread *t, struct shim_file **objs, int nobj,
	       struct pollfd *kfds, int nk, uint64_t deadline_ns,
	       const sigset_t *sigmask)
{
	struct shim_wait wbuf[8], *w = nobj <= 8 ? wbuf : calloc((size_t)nobj, sizeof(*w));
	struct pollfd pbuf[16], *p = nk + 2 <= 16 ? pbuf : calloc((size_t)nk + 2, sizeof(*p));
	uint64_t at;
	int r, err;

	shim_claim(t);
	at = rs_poll_at(t->core->rc);
	if (!w || !p) {
		if (w != wbuf)
			free(w);
		if (p != pbuf)
			free(p);
		return shim_err(ENOMEM);
	}
	for (int i = 0; i < nobj; i++) {
		w[i].t = t;
		w[i].next = objs[i]->waiters;
		objs[i]->waiters = &w[i];
	}
	for (int i = 0; i < nk; i++)
		p[i] = kfds[i];
	p[nk] = (struct pollfd){ .fd = t->core->wait_fd, .events = POLLIN };
	p[nk + 1] = (struct pollfd){ .fd = t->efd, .events = POLLIN };
	shim_lock_drop();
	if (sigmask) {
		int ms = timeout_ms(at < deadline_ns ? at : deadline_ns);
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		r = shim_real.ppoll(p, (nfds_t)nk + 2, ms < 0 ? NULL : &ts, sigmask);
	} else {
		r = shim_real.poll(p, (nfds_t)nk + 2, timeout_ms(at < deadline_ns ? at : deadline_ns));
	}
	err = errno;
	shim_lock_take();
	for (int i = 0; i < nobj; i++)
		waiter_del(objs[i], &w[i]);
	if (r > 0 && (p[nk].revents & (POLLERR | POLLHUP | POLLNVAL)))
		shim_core_dead(t->core);
	if (r > 0 && (p[nk + 1].revents & POLLIN)) {
		uint64_t v;
		if (shim_real.read(t->efd, &v, sizeof(v)) < 0) {
			/* drained by a racing read: nothing to do */
		}
	}
	t->kicked = 0;
	for (int i = 0; i < nk; i++)
		kfds[i].revents = p[i].revents;
	if (w != wbuf)
		free(w);
	if (p != pbuf)
		free(p);
	shim_poll(t->core);
	if (r < 0)
		return shim_err(err);
	return r;
}

int shim_wait_sock(struct shim_thread *t, struct shim_sock *s,
		   uint64_t deadline_ns)
{
	struct shim_file *f = &s->f;

	if (deadline_ns != UINT64_MAX && rs_clock_ns() >= deadline_ns)
		return shim_err(EAGAIN);
	return shim_block(t, &f, 1, NULL, 0, deadline_ns, NULL) < 0 ? -1 : 0;
}
