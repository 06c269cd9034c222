/* The data path on stack sockets: read/write, recv/send(to), readv/writev,
 * recvmsg/sendmsg, sendfile, with Linux's blocking, MSG_* and SIGPIPE
 * semantics.  Kernel descriptors go straight to libc. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_RECV_FLAGS (MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_CMSG_CLOEXEC | MSG_NOSIGNAL)
#define SHIM_SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR)

/* The socket behind fd with its core's lock held, or NULL (*t NULL). */
static struct shim_sock *enter(int fd, struct shim_thread **t)
{
	struct shim_file *f = shim_fd_get(fd);
	struct shim_sock *s = shim_sock_of(f);

	*t = shim_self();
	if (!*t || (s && shim_foreign(s))) {
		*t = NULL;
		return NULL;
	}
	shim_core_lock(s->core);
	return s;
}

static ssize_t leave(struct shim_sock *s, ssize_t r, int sigpipe)
{
	int e = errno;

	/* a blocking socket's data leaves now, as from the kernel; an event
	 * loop's (non-blocking) is batched until its next wait */
	if (!s->f.nonblock && rs_poll_at(s->core->rc) == 0)
		shim_poll(s->core);
	shim_after(s);
	if (r < 0 && e == EPIPE && sigpipe)
		raise(SIGPIPE); /* as Linux, unless MSG_NOSIGNAL */
	errno = e;
	return r;
}

static uint64_t deadline(uint64_t timeo_ns)
{
	return timeo_ns ? rs_clock_ns() + timeo_ns : UINT64_MAX;
}

/* ---- receive ----------------------------------------------------------------- */

static ssize_t recv_iov(struct shim_sock *s, const struct iovec *iov, int n, int flags)
{
	ssize_t total = 0;

	for (int i = 0; i < n; i++) {
		ssize_t r;
		if (!iov[i].iov_len)
			continue;
		r = rs_recv(s->core->rc, s->rsfd, iov[i].iov_base, iov[i].iov_len, flags & MSG_PEEK);
		if (r < 0)
			return total ? total : -1;
		total += r;
		if ((size_t)r < iov[i].iov_len || (flags & MSG_PEEK))
			break;
	}
	return total;
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t l = 0;

	for (int i = 0; i < n; i++)
		l += iov[i].iov_len;
	return l;
}

/* Skip done bytes of iov into a private copy (MSG_WAITALL). */
static int iov_advance(struct iovec *dst, const struct iovec *src, int n, size_t done)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (done >= src[i].iov_len) {
			done -= src[i].iov_len;
			continue;
		}
		dst[k].iov_base = (char *)src[i].iov_base + done;
		dst[k].iov_len = src[i].iov_len - done;
		done = 0;
		k++;
	}
	return k;
}

static ssize_t sock_recv(int fd, const struct iovec *iov, int n, int flags)
{
	struct shim_thread *t;
	struct shim_sock *s;
	size_t want = iov_len(iov, n), done = 0;
	struct iovec rest[64];
	uint64_t end;
	ssize_t r;

	if (flags & ~SHIM_RECV_FLAGS)
		return shim_unsupported("recv", "MSG_OOB/MSG_ERRQUEUE/MSG_TRUNC", EOPNOTSUPP);
	if (n < 0 || n > 1024)
		return shim_err(EINVAL);
	s = enter(fd, &t);
	if (!t)
		return -1;
	if (s->alias_of || s->listening)
		return leave(s, shim_err(ENOTCONN), 0);
	end = deadline(s->rcvtimeo_ns);
	for (;;) {
		int k = n;
		const struct iovec *v = iov;
		if (done && n <= 64) {
			k = iov_advance(rest, iov, n, done);
			v = rest;
		}
		r = recv_iov(s, v, k, flags);
		if (r > 0) {
			done += (size_t)r;
			if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || done >= want || n > 64)
				break;
			continue;
		}
		if (r == 0 || errno != EAGAIN || s->f.nonblock || (flags & MSG_DONTWAIT))
			break;
		if (shim_wait_sock(t, s, end) < 0) {
			r = -1;
			break;
		}
	}
	if (done)
		r = (ssize_t)done;
	return leave(s, r, 0);
}

ssize_t read(int fd, void *buf, size_t len)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { buf, len };

	if (!f)
		return shim_real.read(fd, buf, len);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.read(fd, buf, len) : shim_err(EBADF);
	return sock_recv(fd, &v, 1, 0);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();
	return read(fd, buf, len);
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return shim_real.readv(fd, iov, n);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.readv(fd, iov, n) : shim_err(EBADF);
	return sock_recv(fd, iov, n, 0);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { buf, len };

	if (!f)
		return shim_real.recv(fd, buf, len, flags);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.recv(fd, buf, len, flags) : shim_err(EBADF);
	return sock_recv(fd, &v, 1, flags);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		abort();
	return recv(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		 socklen_t *fromlen)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { buf, len };

	if (!f)
		return shim_real.recvfrom(fd, buf, len, flags, from, fromlen);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.recvfrom(fd, buf, len, flags, from, fromlen)
			       : shim_err(EBADF);
	if (fromlen) /* TCP: no source address is returned */
		*fromlen = 0;
	return sock_recv(fd, &v, 1, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *from, socklen_t *fromlen)
{
	if (len > buflen)
		abort();
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct shim_file *f = shim_fd_get(fd);
	ssize_t r;

	if (!f)
		return shim_real.recvmsg(fd, m, flags);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.recvmsg(fd, m, flags) : shim_err(EBADF);
	r = sock_recv(fd, m->msg_iov, (int)m->msg_iovlen, flags);
	if (r >= 0) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return r;
}

/* ---- send ------------------------------------------------------------------- */

/* Copy what fits of iov into the send buffer; blocking sockets wait until
 * all of it is queued, as Linux does. */
static ssize_t sock_send(int fd, const struct iovec *iov, int n, int flags)
{
	struct shim_thread *t;
	struct shim_sock *s;
	ssize_t done = 0, r = 0;
	uint64_t end;
	int nb;

	if (flags & ~SHIM_SEND_FLAGS)
		return shim_unsupported("send", "MSG_OOB/MSG_CONFIRM/MSG_ZEROCOPY/MSG_FASTOPEN", EOPNOTSUPP);
	s = enter(fd, &t);
	if (!t)
		return -1;
	if (s->alias_of || s->listening)
		return leave(s, shim_err(ENOTCONN), 0);
	nb = s->f.nonblock || (flags & MSG_DONTWAIT);
	end = deadline(s->sndtimeo_ns);
	for (int i = 0; i < n; i++) {
		size_t off = 0;
		while (off < iov[i].iov_len) {
			r = rs_send(s->core->rc, s->rsfd, (const char *)iov[i].iov_base + off,
				    iov[i].iov_len - off, 0);
			if (r > 0) {
				off += (size_t)r;
				done += r;
				continue;
			}
			if (r == 0 || errno != EAGAIN || nb)
				goto out;
			/* the stack sends what was queued when it polls */
			shim_poll(s->core);
			if (shim_wait_sock(t, s, end) < 0)
				goto out;
		}
	}
out:
	if (done)
		return leave(s, done, 0);
	return leave(s, r < 0 ? -1 : 0, !(flags & MSG_NOSIGNAL));
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { (void *)buf, len };

	if (!f)
		return shim_real.write(fd, buf, len);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.write(fd, buf, len) : shim_err(EBADF);
	return sock_send(fd, &v, 1, 0);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return shim_real.writev(fd, iov, n);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.writev(fd, iov, n) : shim_err(EBADF);
	if (n < 0 || n > 1024)
		return shim_err(EINVAL);
	return sock_send(fd, iov, n, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { (void *)buf, len };

	if (!f)
		return shim_real.send(fd, buf, len, flags);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.send(fd, buf, len, flags) : shim_err(EBADF);
	return sock_send(fd, &v, 1, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *to, socklen_t tolen)
{
	struct shim_file *f = shim_fd_get(fd);
	struct iovec v = { (void *)buf, len };

	if (!f)
		return shim_real.sendto(fd, buf, len, flags, to, tolen);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.sendto(fd, buf, len, flags, to, tolen) : shim_err(EBADF);
	/* a connected stream socket ignores the address, as tcp_sendmsg */
	return sock_send(fd, &v, 1, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return shim_real.sendmsg(fd, m, flags);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.sendmsg(fd, m, flags) : shim_err(EBADF);
	if (m->msg_controllen)
		return shim_unsupported("sendmsg", "ancillary data", EOPNOTSUPP);
	if ((int)m->msg_iovlen < 0 || m->msg_iovlen > 1024)
		return shim_err(EMSGSIZE);
	return sock_send(fd, m->msg_iov, (int)m->msg_iovlen, flags);
}

/* ---- sendfile: file -> stack socket, chunk by chunk through a buffer ---- */

#define SHIM_SF_CHUNK (64 * 1024)

static ssize_t sendfile_stack(int out, int in, off_t *offset, size_t count)
{
	static __thread char *buf;
	struct shim_file *inf = shim_fd_get(in);
	off_t pos = offset ? *offset : 0;
	size_t done = 0;

	if (inf)  /* from a socket: Linux wants an mmap-able file */
		return shim_err(inf->kind ? EINVAL : EBADF);
	if (!buf && !(buf = malloc(SHIM_SF_CHUNK)))
		return shim_err(ENOMEM);
	while (done < count) {
		size_t want = count - done < SHIM_SF_CHUNK ? count - done : SHIM_SF_CHUNK;
		ssize_t got = offset ? pread(in, buf, want, pos) : shim_real.read(in, buf, want);
		ssize_t sent;
		if (got <= 0) {
			if (got < 0 && !done)
				return -1;
			break;
		}
		sent = send(out, buf, (size_t)got, MSG_NOSIGNAL);
		if (sent < 0) {
			int e = errno;
			if (!offset)
				lseek(in, -got, SEEK_CUR);
			if (done)
				break;
			if (e == EPIPE)
				raise(SIGPIPE);
			return shim_err(e);
		}
		if (sent < got && !offset)
			lseek(in, sent - got, SEEK_CUR);
		pos += sent;
		done += (size_t)sent;
		if (sent < got)
			break;
	}
	if (offset)
		*offset = pos;
	return (ssize_t)done;
}

ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	struct shim_file *f = shim_fd_get(out);

	if (!f)
		return shim_real.sendfile(out, in, offset, count);
	if (f->kind != SHIM_SOCK)
		return f->kind ? shim_real.sendfile(out, in, offset, count) : shim_err(EBADF);
	return sendfile_stack(out, in, offset, count);
}

ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
	return sendfile(out, in, offset, count);
}
