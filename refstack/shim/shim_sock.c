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

/* A stack socket behind fd, with shim_lock held and the calling thread's
 * state in *t; NULL (lock not held) if fd is not one.  *f is the object
 * (NULL: a kernel descriptor, pass the call on). */
#define SHIM_ENTER(fd, f, s, t, kernel_call)                                   \
	do {                                                                   \
		f = shim_fd_get(fd);                                           \
		if (!f)                                                        \
			return kernel_call;                                    \
		if (f->kind != SHIM_SOCK)                                      \
			return f->kind ? kernel_call : shim_err(EBADF);        \
		shim_lock_take();                                              \
		t = shim_self();                                               \
		if (!t) {                                                      \
			shim_lock_drop();                                      \
			return -1;                                             \
		}                                                              \
		s = (struct shim_sock *)(void *)f;                             \
		if (shim_foreign(s)) {                                         \
			shim_lock_drop();                                      \
			return -1;                                             \
		}                                                              \
	} while (0)

static int leave(struct shim_sock *s, int r)
{
	int e = errno;

	shim_after(s);
	shim_lock_drop();
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
	shim_lock_take();
	t = shim_self();
	if (!t) {
		shim_lock_drop();
		return -1;
	}
	rsfd = rs_socket(t->core->rc, domain, SOCK_STREAM, 0);
	fd = rsfd < 0 ? -1 : sock_install(t->core, rsfd, type & SOCK_NONBLOCK, type & SOCK_CLOEXEC);
	shim_lock_drop();
	return fd;
}

/* ---- SO_REUSEPORT: later listeners of a port are aliases of the first -- */

#define SHIM_MAX_RP 64
static struct shim_sock *reuseport[SHIM_MAX_RP];

static struct shim_sock *rp_find(uint16_t port)
{
	for (int i = 0; i < SHIM_MAX_RP; i++)
		if (reuseport[i] && reuseport[i]->port == port)
			return reuseport[i];
	return NULL;
}

static void rp_set(struct shim_sock *s, int on)
{
	for (int i = 0; i < SHIM_MAX_RP; i++) {
		if (on && !reuseport[i]) {
			reuseport[i] = s;
			return;
		}
		if (!on && reuseport[i] == s)
			reuseport[i] = NULL;
	}
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct shim_file *f;
	struct shim_sock *s, *twin;
	struct shim_thread *t;
	struct sockaddr_in sin;
	int r;

	SHIM_ENTER(fd, f, s, t, shim_real.bind(fd, addr, len));
	(void)t;
	if (addr && len >= sizeof(sin)) {
		memcpy(&sin, addr, sizeof(sin));
		if (s->no_port && sin.sin_family == AF_INET && sin.sin_port == 0) {
			/* IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect */
			const struct rs_stack_conf *c = rs_stack_conf(rs_core_stack(s->core->rc));
			if (sin.sin_addr.s_addr && sin.sin_addr.s_addr != c->addr.s_addr)
				return leave(s, shim_err(EADDRNOTAVAIL));
			s->bind_addr = sin.sin_addr.s_addr;
			return leave(s, 0);
		}
	}
	r = rs_bind(s->core->rc, s->rsfd, addr, len);
	if (r < 0 && errno == EADDRINUSE && s->reuseport_set && addr &&
	    len >= sizeof(sin)) {
		twin = rp_find(ntohs(sin.sin_port));
		if (twin) {
			s->alias_pending = twin;
			s->port = twin->port;
			return leave(s, 0);
		}
	}
	if (r == 0) {
		socklen_t l = sizeof(sin);
		rs_getsockname(s->core->rc, s->rsfd, (struct sockaddr *)&sin, &l);
		s->port = ntohs(sin.sin_port);
	}
	return leave(s, r);
}

int listen(int fd, int backlog)
{
	struct shim_file *f;
	struct shim_sock *s, *twin;
	struct shim_thread *t;
	int r;

	SHIM_ENTER(fd, f, s, t, shim_real.listen(fd, backlog));
	(void)t;
	twin = s->alias_pending;
	if (twin) {
		if (!twin->listening)
			return leave(s, shim_err(EADDRINUSE));
		s->alias_of = twin;
		s->alias_pending = NULL;
		twin->f.refs++;   /* the alias keeps the listener alive */
		s->listening = 1;
		return leave(s, 0);
	}
	if (s->alias_of)
		return leave(s, 0);
	r = rs_listen(s->core->rc, s->rsfd, backlog);
	if (r < 0 && errno == EADDRINUSE && s->reuseport_set &&
	    (twin = rp_find(s->port)) != NULL && twin->listening) {
		s->alias_of = twin; /* bound with SO_REUSEADDR; listen is shared */
		twin->f.refs++;
		s->listening = 1;
		return leave(s, 0);
	}
	if (r == 0 && !s->listening) {
		s->listening = 1;
		if (s->reuseport_set)
			rp_set(s, 1);
	}
	return leave(s, r);
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
	l = shim_target(s);
	uint64_t end = l->rcvtimeo_ns ? rs_clock_ns() + l->rcvtimeo_ns : UINT64_MAX;
	for (;;) {
		rsfd = rs_accept(l->core->rc, l->rsfd, addr, len);
		if (rsfd >= 0 || errno != EAGAIN || s->f.nonblock)
			break;
		if (shim_wait_sock(t, l, end) < 0)
			return leave(s, -1);
	}
	if (rsfd < 0)
		return leave(s, -1);
	r = sock_install(l->core, rsfd, flags & SOCK_NONBLOCK, flags & SOCK_CLOEXEC);
	return leave(s, r);
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
	uint32_t ev = 0;
	int r;

	SHIM_ENTER(fd, f, s, t, shim_real.connect(fd, addr, len));
	if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC)
		return leave(s, shim_unsupported("connect", "AF_UNSPEC (dissolve)", EOPNOTSUPP));
	if (addr && len >= sizeof(struct sockaddr_in) &&
	    (ntohl(((const struct sockaddr_in *)(const void *)addr)->sin_addr.s_addr) >> 24) == 127)
		return leave(s, shim_unsupported("connect", "loopback destination "
						 "(the stack owns only its interface)", ENETUNREACH));
	r = rs_connect(s->core->rc, s->rsfd, addr, len);
	if (r == 0 || errno != EINPROGRESS || s->f.nonblock)
		return leave(s, r);
	/* blocking connect: wait for the handshake's outcome */
	shim_poll(s->core);
	uint64_t end = s->sndtimeo_ns ? rs_clock_ns() + s->sndtimeo_ns : UINT64_MAX;
	for (;;) {
		rs_sock_events(s->core->rc, s->rsfd, &ev);
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			break;
		if (shim_wait_sock(t, s, end) < 0)
			return leave(s, errno == EAGAIN ? shim_err(EINPROGRESS) : -1);
	}
	r = sock_error(s);
	return leave(s, r ? shim_err(r) : 0);
}

int shutdown(int fd, int how)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;

	SHIM_ENTER(fd, f, s, t, shim_real.shutdown(fd, how));
	(void)t;
	if (s->alias_of || s->listening) /* Linux: shutdown of a listener stops it */
		return leave(s, shim_err(ENOTCONN));
	return leave(s, rs_shutdown(s->core->rc, s->rsfd, how));
}

/* Last descriptor of a file gone (under shim_lock). */
void shim_file_unref(struct shim_file *f)
{
	struct shim_sock *s = shim_sock_of(f);

	if (!s) {
		extern void shim_epoll_free(struct shim_file *f);
		shim_epoll_free(f);
		return;
	}
	shim_epoll_forget_sock(s);
	rp_set(s, 0);
	if (s->core->owned && s->rsfd >= 0) { /* else another process's */
		rs_close(s->core->rc, s->rsfd);
		if (!s->f.nonblock && rs_poll_at(s->core->rc) == 0)
			shim_poll(s->core); /* the FIN leaves now */
		shim_after(s);
	}
	if (s->alias_of) {
		struct shim_sock *l = s->alias_of;
		if (--l->f.refs == 0)
			shim_file_unref(&l->f);
	}
	free(s);
}

int close(int fd)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return shim_real.close(fd);
	if (!f->kind)
		return shim_err(EBADF);
	shim_lock_take();
	f = shim_fd_release(fd);
	if (f)
		shim_file_unref(f);
	shim_lock_drop();
	return 0;
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct shim_file *f;
	struct shim_sock *s, *x;
	struct shim_thread *t;

	SHIM_ENTER(fd, f, s, t, shim_real.getsockname(fd, addr, len));
	(void)t;
	x = shim_target(s);
	if (s->alias_pending)
		x = s->alias_pending;
	return leave(s, rs_getsockname(x->core->rc, x->rsfd, addr, len));
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct shim_file *f;
	struct shim_sock *s;
	struct shim_thread *t;

	SHIM_ENTER(fd, f, s, t, shim_real.getpeername(fd, addr, len));
	(void)t;
	if (s->alias_of)
		return leave(s, shim_err(ENOTCONN));
	return leave(s, rs_getpeername(s->core->rc, s->rsfd, addr, len));
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

	SHIM_ENTER(fd, f, s, t, shim_real.setsockopt(fd, level, name, val, len));
	(void)t;
	return leave(s, shim_setopt(shim_target(s), level, name, val, len));
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
	int r;

	SHIM_ENTER(fd, f, s, t, shim_real.getsockopt(fd, level, name, val, len));
	(void)t;
	x = shim_target(s);
	if (!val || !len)
		return leave(s, shim_err(EFAULT));
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return leave(s, put_tv(val, len, name == SO_RCVTIMEO ? x->rcvtimeo_ns : x->sndtimeo_ns));
	if (level == SOL_SOCKET && name == SO_REUSEPORT && *len >= sizeof(int)) {
		memcpy(val, &(int){ x->reuseport_set }, sizeof(int));
		*len = sizeof(int);
		return leave(s, 0);
	}
	if (opt_default_only(level, name) && *len >= sizeof(int)) {
		memcpy(val, &(int){ 0 }, sizeof(int));
		*len = sizeof(int);
		return leave(s, 0);
	}
	r = rs_getsockopt(x->core->rc, x->rsfd, level, name, val, len);
	if (r < 0 && errno == ENOPROTOOPT)
		r = opt_unsupported("getsockopt", level, name);
	return leave(s, r);
}
