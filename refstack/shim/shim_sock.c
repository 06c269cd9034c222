/* Socket lifecycle on the stack: socket, bind, listen, accept(4), connect,
 * shutdown, close, names and options.  Each call on a kernel descriptor
 * goes straight to libc. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* A stack socket behind fd, with the calling thread's state in *t; *f
 * is the object (NULL: a kernel descriptor, pass the call on).  The
 * socket's core lock is taken by the caller: SHIM_ENTER_LOCKED. */
#define SHIM_ENTER(fd, f, s, t, kernel_call)                                   \
	do {                                                                   \
		f = shim_fd_get(fd);                                           \
		if (!f)                                                        \
			return kernel_call;                                    \
		if (f->kind != SHIM_SOCK)                                      \
			return f->kind ? kernel_call : shim_err(EBADF);        \
		t = shim_self();                                               \
		if (!t)                                                        \
			return -1;                                             \
		s = (struct shim_sock *)(void *)f;                             \
		if (shim_foreign(s))                                           \
			return -1;                                             \
	} while (0)
/* ... and with the core lock of the socket whose stack state answers
 * (held: s, or the listener s is an alias of), which leave() drops. */
#define SHIM_ENTER_LOCKED(fd, f, s, t, held, kernel_call)                      \
	do {                                                                   \
		SHIM_ENTER(fd, f, s, t, kernel_call);                          \
		held = shim_target(s);                                         \
		shim_core_lock(held->core);                                    \
	} while (0)

/* The call on s is over: its core's lock goes (shim_after). */
static int leave(struct shim_sock *s, int r)
{
	int e = errno;

	shim_after(s);
	errno = e;
	return r;
}

static struct shim_sock *sock_new(struct shim_core *c, int rsfd)
{
	struct shim_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->f.kind = SHIM_SOCK;
	s->core = c;
	s->rsfd = rsfd;
	rs_sock_set_user(c->rc, rsfd, s);
	return s;
}

/* A new descriptor for a new stack socket rsfd; closes rsfd on failure. */
static int sock_install(struct shim_core *c, int rsfd, int nonblock, int cloexec)
{
	struct shim_sock *s = sock_new(c, rsfd);
	int fd, e;

	if (!s) {
		rs_close(c->rc, rsfd);
		return shim_err(ENOMEM);
	}
	s->f.nonblock = !!nonblock;
	fd = shim_fd_new(&s->f, cloexec);
	if (fd < 0) {
		e = errno;
		rs_close(c->rc, rsfd);
		free(s);
		return shim_err(e);
	}
	return fd;
}

int socket(int domain, int type, int protocol)
{
	struct shim_thread *t;
	int rsfd, fd;

	if (!shim_active || domain != AF_INET ||
	    (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return shim_real.socket(domain, type, protocol);
	t = shim_self();
	if (!t)
		return -1;
	shim_core_lock(t->core);
	rsfd = rs_socket(t->core->rc, domain, SOCK_STREAM, 0);
	fd = rsfd < 0 ? -1 : sock_install(t->core, rsfd, type & SOCK_NONBLOCK, type & SOCK_CLOEXEC);
	shim_core_unlock(t->core);
	return fd;
}

/* ---- SO_REUSEPORT: later listeners of a port are aliases of the first --
 * (the table under shim_lock).  Every SO_REUSEPORT socket bound to the
 * address and port of a listener of this process becomes its alias, even
 * though the stack would let it listen on its own: two listeners of one
 * address on one core are two accept queues, and the stack answers SYNs
 * from one of them only (a core's listen table holds one socket per
 * address), so a thread or worker waiting on the other one never saw a
 * connection (nginx's per-worker reuseport sockets, tsload's per-thread
 * ones: no transaction at 2 cores with `listen`).  An alias shares the
 * first one's queue and its copy on every core. */

#define SHIM_MAX_RP 64
static struct shim_sock *reuseport[SHIM_MAX_RP];

/* The listener of port (and, unless any, of address addr) */
static struct shim_sock *rp_find(uint16_t port, uint32_t addr, int any)
{
	struct shim_sock *r = NULL;

	shim_lock_take();
	for (int i = 0; i < SHIM_MAX_RP && !r; i++)
		if (reuseport[i] && reuseport[i]->port == port &&
		    (any || reuseport[i]->addr == addr))
			r = reuseport[i];
	shim_lock_drop();
	return r;
}

static void rp_set(struct shim_sock *s, int on)
{
	shim_lock_take();
	for (int i = 0; i < SHIM_MAX_RP; i++) {
		if (on && !reuseport[i]) {
			reuseport[i] = s;
			break;
		}
		if (!on && reuseport[i] == s)
			reuseport[i] = NULL;
	}
	shim_lock_drop();
}

/* ---- listeners' copies on the cores of other threads ---------------------- */

static struct shim_sock *copy_find(struct shim_sock *l, struct shim_core *c)
{
	if (l->core == c)
		return l;
	for (struct shim_sock *x = __atomic_load_n(&l->copies, __ATOMIC_ACQUIRE); x;
	     x = __atomic_load_n(&x->next_copy, __ATOMIC_ACQUIRE))
		if (x->core == c)
			return x;
	return NULL;
}

struct shim_sock *shim_copy_on(struct shim_sock *s, struct shim_core *c)
{
	struct shim_sock *l = shim_target(s), *x;
	int rsfd;

	if (!l->listening || !c->owned || !l->core->owned)
		return l;
	x = copy_find(l, c);
	if (x)
		return x;
	/* made under c's lock: no other thread makes the same copy */
	shim_core_lock(c);
	x = copy_find(l, c);
	if (!x) {
		rsfd = rs_listen_copy(c->rc, l->core->rc, l->rsfd);
		x = rsfd < 0 ? NULL : calloc(1, sizeof(*x));
		if (x) {
			x->f.kind = SHIM_SOCK;
			x->f.nonblock = 1;
			x->core = c;
			x->rsfd = rsfd;
			x->port = l->port;
			x->addr = l->addr;
			x->listening = 1;
			x->copy_of = l;
			rs_sock_set_user(c->rc, rsfd, x);
			shim_lock_take();
			x->next_copy = l->copies;
			__atomic_store_n(&l->copies, x, __ATOMIC_RELEASE);
			shim_lock_drop();
		} else if (rsfd >= 0) {
			rs_close(c->rc, rsfd);
		}
	}
	shim_core_unlock(c);
	return x ? x : l; /* no copy: the listener's own core, shared */
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct shim_file *f;
	struct shim_sock *s, *twin;
	struct shim_thread *t;
	struct shim_sock *held;
	struct sockaddr_in sin = { 0 };
	int r;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.bind(fd, addr, len));
	(void)t;
	if (addr && len >= sizeof(sin)) {
		memcpy(&sin, addr, sizeof(sin));
		if (s->no_port && sin.sin_family == AF_INET && sin.sin_port == 0) {
			/* IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect */
			const struct rs_stack_conf *c = rs_stack_conf(rs_core_stack(s->core->rc));
			if (sin.sin_addr.s_addr && sin.sin_addr.s_addr != c->addr.s_addr)
				return leave(held, shim_err(EADDRNOTAVAIL));
			s->bind_addr = sin.sin_addr.s_addr;
			return leave(held, 0);
		}
	}
	twin = s->reuseport_set && addr && len >= sizeof(sin) &&
			       sin.sin_family == AF_INET && sin.sin_port
		       ? rp_find(ntohs(sin.sin_port), sin.sin_addr.s_addr, 0)
		       : NULL;
	r = twin ? 0 : rs_bind(s->core->rc, s->rsfd, addr, len);
	if (r < 0 && errno == EADDRINUSE && s->reuseport_set && addr &&
	    len >= sizeof(sin))
		twin = rp_find(ntohs(sin.sin_port), 0, 1);
	if (twin) {
		s->alias_pending = twin;
		s->port = twin->port;
		s->addr = twin->addr;
		return leave(held, 0);
	}
	if (r == 0) {
		socklen_t l = sizeof(sin);
		rs_getsockname(s->core->rc, s->rsfd, (struct sockaddr *)&sin, &l);
		s->port = ntohs(sin.sin_port);
		s->addr = sin.sin_addr.s_addr;
	}
	return leave(held, r);
}

int listen(int fd, int backlog)
{
	struct shim_file *f;
	struct shim_sock *s, *twin;
	struct shim_thread *t;
	struct shim_sock *held;
	int r;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.listen(fd, backlog));
	(void)t;
	twin = s->alias_pending;
	if (twin) {
		if (!twin->listening)
			return leave(held, shim_err(EADDRINUSE));
		s->alias_of = twin;
		s->alias_pending = NULL;
		/* the alias keeps the listener alive */
		__atomic_add_fetch(&twin->f.refs, 1, __ATOMIC_RELAXED);
		s->listening = 1;
		return leave(held, 0);
	}
	if (s->alias_of)
		return leave(held, 0);
	r = rs_listen(s->core->rc, s->rsfd, backlog);
	if (r < 0 && errno == EADDRINUSE && s->reuseport_set &&
	    (twin = rp_find(s->port, 0, 1)) != NULL && twin->listening) {
		s->alias_of = twin; /* bound with SO_REUSEADDR; listen is shared */
		__atomic_add_fetch(&twin->f.refs, 1, __ATOMIC_RELAXED);
		s->listening = 1;
		return leave(held, 0);
	}
	if (r == 0 && !s->listening) {
		s->listening = 1;
		if (s->reuseport_set)
			rp_set(s, 1);
	}
	return leave(held, r);
}

static int do_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct shim_file *f;
	struct shim_sock *s, *l;
	struct shim_thread *t;
	int rsfd, r;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return shim_err(EINVAL);
	SHIM_ENTER(fd, f, s, t, shim_real.accept4(fd, addr, len, flags));
	/* on the calling thread's core: its copy of the listener */
	l = shim_here(s, t);
	shim_core_lock(l->core);
	uint64_t end = shim_target(s)->rcvtimeo_ns ? rs_clock_ns() + shim_target(s)->rcvtimeo_ns
						   : UINT64_MAX;
	for (;;) {
		rsfd = rs_accept(l->core->rc, l->rsfd, addr, len);
		if (rsfd >= 0 || errno != EAGAIN || s->f.nonblock)
			break;
		if (shim_wait_sock(t, l, end) < 0)
			return leave(l, -1);
	}
	if (rsfd < 0)
		return leave(l, -1);
	r = sock_install(l->core, rsfd, flags & SOCK_NONBLOCK, flags & SOCK_CLOEXEC);
	return leave(l, r);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!shim_fd_get(fd))
		return shim_real.accept(fd, addr, len);
	return do_accept(fd, addr, len, 0);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return do_accept(fd, addr, len, flags);
}

static int sock_error(struct shim_sock *s)
{
	int e = 0;
	socklen_t l = sizeof(e);

	rs_getsockopt(s->core->rc, s->rsfd, SOL_SOCKET, SO_ERROR, &e, &l);
	return e;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;
	struct shim_sock *held;
	uint32_t ev = 0;
	int r;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.connect(fd, addr, len));
	if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC)
		return leave(held, shim_unsupported("connect", "AF_UNSPEC (dissolve)", EOPNOTSUPP));
	if (addr && len >= sizeof(struct sockaddr_in) &&
	    (ntohl(((const struct sockaddr_in *)(const void *)addr)->sin_addr.s_addr) >> 24) == 127)
		return leave(held, shim_unsupported("connect", "loopback destination "
						 "(the stack owns only its interface)", ENETUNREACH));
	r = rs_connect(s->core->rc, s->rsfd, addr, len);
	if (r == 0 || errno != EINPROGRESS || s->f.nonblock)
		return leave(held, r);
	/* blocking connect: wait for the handshake's outcome */
	shim_poll(s->core);
	uint64_t end = s->sndtimeo_ns ? rs_clock_ns() + s->sndtimeo_ns : UINT64_MAX;
	for (;;) {
		rs_sock_events(s->core->rc, s->rsfd, &ev);
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			break;
		if (shim_wait_sock(t, s, end) < 0)
			return leave(held, errno == EAGAIN ? shim_err(EINPROGRESS) : -1);
	}
	r = sock_error(s);
	return leave(held, r ? shim_err(r) : 0);
}

int shutdown(int fd, int how)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;
	struct shim_sock *held;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.shutdown(fd, how));
	(void)t;
	if (s->alias_of || s->listening) /* Linux: shutdown of a listener stops it */
		return leave(held, shim_err(ENOTCONN));
	return leave(held, rs_shutdown(s->core->rc, s->rsfd, how));
}

/* The stack side of s (a socket or a listener's copy) closes. */
static void sock_close(struct shim_sock *s, struct shim_sock *owner)
{
	struct shim_core *c = s->core;

	shim_core_lock(c);
	shim_epoll_forget_sock(s, owner);
	if (owner == s && c->owned && s->rsfd >= 0) { /* else another process's */
		rs_close(c->rc, s->rsfd);
		s->rsfd = -1;
		if (!s->f.nonblock && rs_poll_at(c->rc) == 0)
			shim_poll(c); /* the FIN leaves now */
		if (shim_current() && c != shim_current()->core && rs_poll_at(c->rc) == 0)
			shim_poll_foreign(c);
	}
	shim_core_unlock(c);
}

/* Last descriptor of a file gone (holding no lock).  A listener's copies
 * close with it; an alias takes only its own registrations away. */
void shim_file_unref(struct shim_file *f)
{
	struct shim_sock *s = shim_sock_of(f), *x, *next;

	if (!s) {
		extern void shim_epoll_free(struct shim_file *f);
		shim_epoll_free(f);
		return;
	}
	rp_set(s, 0);
	if (s->alias_of) {
		struct shim_sock *l = s->alias_of;
		sock_close(l, s);
		for (x = __atomic_load_n(&l->copies, __ATOMIC_ACQUIRE); x; x = x->next_copy)
			sock_close(x, s);
		if (__atomic_sub_fetch(&l->f.refs, 1, __ATOMIC_ACQ_REL) == 0)
			shim_file_unref(&l->f);
	} else {
		for (x = s->copies; x; x = next) {
			next = x->next_copy;
			sock_close(x, x);
			free(x);
		}
	}
	sock_close(s, s);
	free(s);
}

int close(int fd)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return shim_real.close(fd);
	if (!f->kind)
		return shim_err(EBADF);
	f = shim_fd_release(fd);
	if (f)
		shim_file_unref(f);
	return 0;
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct shim_file *f;
	struct shim_sock *s, *x;
	struct shim_thread *t;
	struct shim_sock *held;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.getsockname(fd, addr, len));
	(void)t;
	x = shim_target(s);
	if (s->alias_pending) { /* answered by the listener it will join */
		x = s->alias_pending;
		if (x->core != held->core) {
			shim_core_unlock(held->core);
			held = x;
			shim_core_lock(held->core);
		}
	}
	return leave(held, rs_getsockname(x->core->rc, x->rsfd, addr, len));
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;
	struct shim_sock *held;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.getpeername(fd, addr, len));
	(void)t;
	if (s->alias_of)
		return leave(held, shim_err(ENOTCONN));
	return leave(held, rs_getpeername(s->core->rc, s->rsfd, addr, len));
}

/* ---- options ---------------------------------------------------------------
 * The stack answers SOL_SOCKET and TCP options it knows (refstack.h).  The
 * shim adds SO_RCVTIMEO/SO_SNDTIMEO (its blocking calls honour them),
 * IP_BIND_ADDRESS_NO_PORT, and accepts with success, and no effect, the
 * options that only tune timing or segmentation on Linux and have no
 * counterpart in refstack (listed in refstack/shim/README.md).  Anything
 * else fails with ENOPROTOOPT and one warning. */
struct ignored_opt {
	int level, name;
	const char *what;
};
static const struct ignored_opt ignored[] = {
	{ IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK" },
	{ IPPROTO_TCP, TCP_CORK, "TCP_CORK" },
};

/* Options refstack has no machinery for, whose value 0 means "off, the
 * default": setting 0 is the truth and succeeds, reading gives 0; any
 * other value is unsupported (haproxy sets the first two to 0 on every
 * listener and reads TCP_FASTOPEN). */
static const struct ignored_opt default_only[] = {
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT" },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT" },
	{ IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN" },
};

static int opt_default_only(int level, int name)
{
	for (size_t i = 0; i < RS_ARRAY_LEN(default_only); i++)
		if (default_only[i].level == level && default_only[i].name == name)
			return 1;
	return 0;
}

static int opt_ignored(int level, int name)
{
	for (size_t i = 0; i < RS_ARRAY_LEN(ignored); i++)
		if (ignored[i].level == level && ignored[i].name == name)
			return 1;
	return 0;
}

static int opt_unsupported(const char *call, int level, int name)
{
	char what[64];

	snprintf(what, sizeof(what), "level %d option %d (first seen)", level, name);
	return shim_unsupported(call, what, ENOPROTOOPT);
}

static uint64_t tv_ns(const void *val, socklen_t len)
{
	struct timeval tv;

	if (len < sizeof(tv))
		return 0;
	memcpy(&tv, val, sizeof(tv));
	return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

static int shim_setopt(struct shim_sock *s, int level, int name,
		       const void *val, socklen_t len)
{
	int v = 0;

	if (!val)
		return shim_err(EFAULT);
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		if (len < sizeof(struct timeval))
			return shim_err(EINVAL);
		*(name == SO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns) = tv_ns(val, len);
		return 0;
	}
	if (len >= sizeof(int))
		memcpy(&v, val, sizeof(int));
	if (level == IPPROTO_IP && name == IP_BIND_ADDRESS_NO_PORT) {
		s->no_port = !!v;
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_REUSEPORT)
		s->reuseport_set = !!v;
	if (opt_ignored(level, name))
		return len < sizeof(int) ? shim_err(EINVAL) : 0;
	if (opt_default_only(level, name) && len >= sizeof(int) && v == 0)
		return 0;
	if (rs_setsockopt(s->core->rc, s->rsfd, level, name, val, len) == 0)
		return 0;
	if (errno == ENOPROTOOPT)
		return opt_unsupported("setsockopt", level, name);
	return -1;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;
	struct shim_sock *held;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.setsockopt(fd, level, name, val, len));
	(void)t;
	return leave(held, shim_setopt(shim_target(s), level, name, val, len));
}

static int put_tv(void *val, socklen_t *len, uint64_t ns)
{
	struct timeval tv = { (time_t)(ns / 1000000000u), (suseconds_t)(ns % 1000000000u / 1000) };

	if (*len < sizeof(tv))
		return shim_err(EINVAL);
	memcpy(val, &tv, sizeof(tv));
	*len = sizeof(tv);
	return 0;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_file *f;
	struct shim_sock *s, *x;
	struct shim_thread *t;
	struct shim_sock *held;
	int r;

	SHIM_ENTER_LOCKED(fd, f, s, t, held, shim_real.getsockopt(fd, level, name, val, len));
	(void)t;
	x = shim_target(s);
	if (!val || !len)
		return leave(held, shim_err(EFAULT));
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return leave(held, put_tv(val, len, name == SO_RCVTIMEO ? x->rcvtimeo_ns : x->sndtimeo_ns));
	if (level == SOL_SOCKET && name == SO_REUSEPORT && *len >= sizeof(int)) {
		memcpy(val, &(int){ x->reuseport_set }, sizeof(int));
		*len = sizeof(int);
		return leave(held, 0);
	}
	if (opt_default_only(level, name) && *len >= sizeof(int)) {
		memcpy(val, &(int){ 0 }, sizeof(int));
		*len = sizeof(int);
		return leave(held, 0);
	}
	r = rs_getsockopt(x->core->rc, x->rsfd, level, name, val, len);
	if (r < 0 && errno == ENOPROTOOPT)
		r = opt_unsupported("getsockopt", level, name);
	return leave(held, r);
}
