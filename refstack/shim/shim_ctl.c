/* Descriptor control on stack sockets: fcntl, ioctl, dup/dup2/dup3,
 * close_range, fstat; and the calls the shim does not carry over to the
 * stack (splice, sendmmsg, recvmmsg), which fail with one warning. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "shim.h"

static int ctl_stack(int fd, struct shim_file *f, int cmd, long arg)
{
	switch (cmd) {
	case F_GETFL:
		return O_RDWR | (f->nonblock ? O_NONBLOCK : 0);
	case F_SETFL:
		if (arg & (O_ASYNC | O_DIRECT))
			return shim_unsupported("fcntl", "F_SETFL O_ASYNC/O_DIRECT", EINVAL);
		f->nonblock = !!(arg & O_NONBLOCK);
		return 0;
	case F_GETFD:
		return shim_fd_cloexec(fd) ? FD_CLOEXEC : 0;
	case F_SETFD:
		shim_fd_set_cloexec(fd, arg & FD_CLOEXEC);
		return 0;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return shim_fd_dup(fd, (int)arg, 0, cmd == F_DUPFD_CLOEXEC);
	default: {
		char what[48];
		snprintf(what, sizeof(what), "command %d (first seen)", cmd);
		return shim_unsupported("fcntl", what, EINVAL);
	}
	}
}

static int do_fcntl(int fd, int cmd, long arg)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f || f->kind == SHIM_EPOLL) {
		if (f && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
			return shim_fd_dup(fd, (int)arg, 0, cmd == F_DUPFD_CLOEXEC);
		return shim_real.fcntl(fd, cmd, arg);
	}
	if (!f->kind)
		return shim_err(EBADF);
	return ctl_stack(fd, f, cmd, arg);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
	struct shim_file *f = shim_fd_get(fd);
	struct shim_sock *s;
	va_list ap;
	void *arg;
	int r, v;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!f || f->kind == SHIM_EPOLL)
		return shim_real.ioctl(fd, req, arg);
	if (!f->kind)
		return shim_err(EBADF);
	s = shim_target((struct shim_sock *)(void *)f);
	switch (req) {
	case FIONBIO:
		memcpy(&v, arg, sizeof(v));
		f->nonblock = !!v;
		return 0;
	case FIONREAD:
		if (!shim_self())
			return -1;
		shim_core_lock(s->core);
		r = rs_sock_nread(s->core->rc, s->rsfd);
		shim_core_unlock(s->core);
		if (r < 0)
			return -1;
		memcpy(arg, &r, sizeof(r));
		return 0;
	case FIOCLEX:
	case FIONCLEX:
		shim_fd_set_cloexec(fd, req == FIOCLEX);
		return 0;
	default: {
		char what[48];
		snprintf(what, sizeof(what), "request 0x%lx (first seen)", req);
		return shim_unsupported("ioctl", what, ENOTTY);
	}
	}
}

int dup(int fd)
{
	struct shim_file *f = shim_fd_get(fd);
	int r;

	if (!f)
		return shim_real.dup(fd);
	if (!f->kind)
		return shim_err(EBADF);
	r = shim_fd_dup(fd, 0, 0, 0);
	return r;
}

int dup3(int oldfd, int newfd, int flags)
{
	struct shim_file *f = shim_fd_get(oldfd);
	int r;

	if (flags & ~O_CLOEXEC)
		return shim_err(EINVAL);
	if (oldfd == newfd)
		return shim_err(EINVAL);
	if (f && !f->kind)
		return shim_err(EBADF);
	if (!f) { /* a kernel file onto a number the shim may hold */
		if (shim_fd_get(newfd))
			shim_fd_evict(newfd);
		r = shim_real.dup3(oldfd, newfd, flags);
	} else {
		r = shim_fd_dup(oldfd, newfd, 1, flags & O_CLOEXEC);
	}
	return r;
}

int dup2(int oldfd, int newfd)
{
	struct shim_file *f = shim_fd_get(oldfd);

	if (oldfd == newfd) { /* only checks oldfd */
		if (f && !f->kind)
			return shim_err(EBADF);
		return f ? newfd : shim_real.dup2(oldfd, newfd);
	}
	if (!f && !shim_fd_get(newfd))
		return shim_real.dup2(oldfd, newfd);
	return dup3(oldfd, newfd, 0);
}

int close_range(unsigned first, unsigned last, int flags)
{
	int r;

	if (!shim_active)
		return shim_real.close_range(first, last, flags);
	r = shim_fd_close_range(first, last, flags);
	return r;
}

/* A stack socket looks like a socket (S_IFSOCK), as fstat on Linux. */
int fstat(int fd, struct stat *st)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f || f->kind == SHIM_EPOLL)
		return shim_real.fstat(fd, st);
	if (!f->kind)
		return shim_err(EBADF);
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFSOCK | 0777;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	st->st_ino = (ino_t)(uintptr_t)f;
	return 0;
}

int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)(void *)st); /* one layout on LP64 */
}

ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags)
{
	struct shim_file *a = shim_fd_get(in), *b = shim_fd_get(out);

	if ((a && a->kind == SHIM_SOCK) || (b && b->kind == SHIM_SOCK))
		return shim_unsupported("splice", "zero-copy through a pipe", EINVAL);
	return shim_real.splice(in, off_in, out, off_out, len, flags);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	struct shim_file *f = shim_fd_get(fd);

	if (f && f->kind == SHIM_SOCK)
		return shim_unsupported("sendmmsg", "batched send", EOPNOTSUPP);
	if (f && !f->kind)
		return shim_err(EBADF);
	return shim_real.sendmmsg(fd, v, n, flags);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *ts)
{
	struct shim_file *f = shim_fd_get(fd);

	if (f && f->kind == SHIM_SOCK)
		return shim_unsupported("recvmmsg", "batched receive", EOPNOTSUPP);
	if (f && !f->kind)
		return shim_err(EBADF);
	return shim_real.recvmmsg(fd, v, n, flags, ts);
}
