/* poll, ppoll and select over kernel and stack descriptors.  The stack's
 * answer for its sockets comes from their events (the poll bits are the
 * epoll bits on Linux); the kernel's from a zero-timeout poll on the rest
 * of the set (stack entries replaced by -1, which the kernel skips); to
 * sleep, shim_sleep waits on both. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* glibc declares poll's array write-only (access attribute), which is
 * true of the kernel's side only: the events the caller set are read. */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

static int stack_revents(struct pollfd *p, struct shim_file *f)
{
	struct shim_sock *s = (struct shim_sock *)(void *)f;
	uint32_t ev;

	if (!f->kind) {
		p->revents = POLLNVAL;
		return 1;
	}
	shim_core_lock(s->core);
	ev = shim_sock_events(s);
	shim_core_unlock(s->core);
	p->revents = (short)(ev & ((uint32_t)p->events | POLLERR | POLLHUP));
	return p->revents != 0;
}

/* t waits on (or, del, no longer on) the n sockets of objs. */
static void wait_all(struct shim_file **objs, struct shim_wait *w, int n,
		     struct shim_thread *t, int del)
{
	for (int i = 0; i < n; i++) {
		struct shim_sock *s = (struct shim_sock *)(void *)objs[i];
		shim_core_lock(s->core);
		if (del)
			shim_wait_del(s, &w[i]);
		else
			shim_wait_add(s, &w[i], t);
		shim_core_unlock(s->core);
	}
}

static int poll_mixed(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask)
{
	struct shim_file **objs = calloc(n, sizeof(*objs));
	struct shim_file **wait = calloc(n, sizeof(*wait));
	struct shim_wait *w = calloc(n, sizeof(*w));
	struct pollfd *k = calloc(n, sizeof(*k));
	uint64_t end = shim_deadline(timeout);
	unsigned gen = shim_sig_gen();
	struct shim_thread *t;
	int r = -1, nw = 0;

	if (!objs || !wait || !w || !k) {
		errno = ENOMEM;
		goto out;
	}
	t = shim_self();
	if (!t)
		goto out;
	if (timeout != 0) /* before shim_here picks this core's listen copies */
		shim_claim(t);
	for (nfds_t i = 0; i < n; i++) {
		struct shim_file *f = fds[i].fd >= 0 ? shim_fd_get(fds[i].fd) : NULL;
		if (f && f->kind == SHIM_EPOLL)
			f = NULL; /* the kernel half of an epoll set only */
		if (f && f->kind) /* a listener answers from this thread's core */
			f = &shim_here((struct shim_sock *)(void *)f, t)->f;
		objs[i] = f;
		k[i] = fds[i];
		if (f) {
			k[i].fd = -1;
			if (f->kind)
				wait[nw++] = f;
		}
	}
	for (;;) {
		int cnt = 0, kr;
		/* registered before looking: a change from now on kicks t */
		wait_all(wait, w, nw, t, 0);
		shim_poll_own(t);
		for (nfds_t i = 0; i < n; i++)
			if (objs[i])
				cnt += stack_revents(&fds[i], objs[i]);
		kr = shim_real.poll(k, n, 0);
		if (kr < 0) {
			r = -1;
			break;
		}
		for (nfds_t i = 0; i < n; i++)
			if (!objs[i])
				fds[i].revents = k[i].revents;
		cnt += kr;
		if (cnt || timeout == 0 || rs_clock_ns() >= end) {
			r = cnt;
			break;
		}
		if (shim_sig_gen() != gen) {
			errno = EINTR;
			r = -1;
			break;
		}
		kr = shim_sleep(t, k, (int)n, end, mask);
		wait_all(wait, w, nw, t, 1);
		if (kr < 0)
			goto out;
	}
	wait_all(wait, w, nw, t, 1);
out:
	free(objs);
	free(wait);
	free(w);
	free(k);
	return r;
}

static int has_stack(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++) {
		struct shim_file *f = fds[i].fd >= 0 ? shim_fd_get(fds[i].fd) : NULL;
		if (f && f->kind != SHIM_EPOLL)
			return 1;
	}
	return 0;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!shim_active || !has_stack(fds, n))
		return shim_real.poll(fds, n, timeout);
	return poll_mixed(fds, n, timeout, NULL);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return poll(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	int ms = -1;

	if (!shim_active || !has_stack(fds, n))
		return shim_real.ppoll(fds, n, ts, mask);
	if (ts)
		ms = (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
	return poll_mixed(fds, n, ms, mask);
}

/* select: the sets become a pollfd array (POLLPRI for the except set). */
int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	struct pollfd *p;
	int n = 0, r, ms = -1, stack = 0;
	uint64_t start = rs_clock_ns();

	if (nfds < 0 || nfds > FD_SETSIZE)
		return shim_err(EINVAL);
	for (int fd = 0; fd < nfds && !stack; fd++) {
		struct shim_file *f = shim_fd_get(fd);
		if (f && f->kind != SHIM_EPOLL &&
		    ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))))
			stack = 1;
	}
	if (!shim_active || !stack)
		return shim_real.select(nfds, rd, wr, ex, tv);
	p = calloc((size_t)nfds, sizeof(*p));
	if (!p)
		return shim_err(ENOMEM);
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) |
				   (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
				   (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	if (tv)
		ms = (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
	r = poll_mixed(p, (nfds_t)n, ms, NULL);
	if (r >= 0) {
		r = 0;
		if (rd) FD_ZERO(rd);
		if (wr) FD_ZERO(wr);
		if (ex) FD_ZERO(ex);
		for (int i = 0; i < n; i++) {
			short re = p[i].revents;
			if (re & POLLNVAL) {
				free(p);
				return shim_err(EBADF);
			}
			if (rd && (re & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
				FD_SET(p[i].fd, rd);
				r++;
			}
			if (wr && (re & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
				FD_SET(p[i].fd, wr);
				r++;
			}
			if (ex && (re & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				r++;
			}
		}
	}
	if (tv && r >= 0) { /* Linux leaves the time not slept */
		uint64_t el = (rs_clock_ns() - start) / 1000, left = (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
		left = el < left ? left - el : 0;
		tv->tv_sec = (time_t)(left / 1000000u);
		tv->tv_usec = (suseconds_t)(left % 1000000u);
	}
	free(p);
	return r;
}
