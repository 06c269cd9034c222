/* Descriptor numbers of stack sockets.
 *
 * The scheme: every stack descriptor is also an open number in the
 * kernel's descriptor table of the process, held there by a file the shim
 * owns, so the kernel can never hand that number to anything else — no
 * offset or range guess that a busy program could run into (the kernel
 * allocates the lowest free number; an occupied one is never free).  The
 * numbers stay small and dense, as programs expect of descriptors
 * (haproxy refuses any fd >= its maxsock, tsload and select() index
 * tables by fd).
 *
 *   fastfd off (the kernel baseline): each stack socket gets a kernel file
 *     of its own, memfd_create("refstack-socket"): the kernel allocates a
 *     file, inode and dentry per socket as it does for its own sockets,
 *     and `ls -l /proc/PID/fd` / lsof show one "/memfd:refstack-socket"
 *     entry per socket.  close() releases it.
 *   fastfd on: one placeholder file per process,
 *     memfd_create("refstack-fastfd"), is duplicated onto a number the
 *     first time the stack needs one (fcntl F_DUPFD_CLOEXEC: one system
 *     call, the kernel picks the lowest free number); afterwards numbers
 *     are recycled from the shim's pool with no system call at all, and
 *     no kernel file is made or freed per socket.  /proc/PID/fd shows every
 *     pooled number as "/memfd:refstack-fastfd".  A pooled number not in
 *     use is reserved: close(), read()... on it fail with EBADF, as on a
 *     closed descriptor, and never reach the kernel.
 *
 * dup/dup2/dup3/F_DUPFD of a stack descriptor duplicate the kernel entry
 * too (so the new number is held the same way) and name the same open
 * file description; dup2 of a kernel descriptor onto a stack or pooled
 * number first drops the shim's claim.  close_range skips pooled numbers.
 * The kernel entries are always close-on-exec (a stack socket cannot
 * outlive exec, its state is in the process); FD_CLOEXEC as the program
 * sets it is kept per descriptor by the shim and reported by F_GETFD.
 * Numbers >= SHIM_FD_MAX are always kernel descriptors.
 *
 * The table is read without a lock (atomic pointers); its changes and the
 * pool are under shim_lock, taken here. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_FD_MAX (1u << 20)

static struct shim_file reserved_file;   /* kind 0: a pooled, unused number */
static struct shim_file *fdtab[SHIM_FD_MAX];
static uint8_t fd_cloexec[SHIM_FD_MAX];
static int *pool;                        /* free reserved numbers */
static uint32_t npool, pool_cap;
static int placeholder = -1;
static uint32_t hiwater;

uint32_t shim_fd_limit(void) { return SHIM_FD_MAX; }

struct shim_file *shim_fd_get(int fd)
{
	if ((unsigned)fd >= SHIM_FD_MAX)
		return NULL;
	return __atomic_load_n(&fdtab[fd], __ATOMIC_ACQUIRE);
}

static void fd_put(int fd, struct shim_file *f)
{
	__atomic_store_n(&fdtab[fd], f, __ATOMIC_RELEASE);
	if (f && (uint32_t)fd >= hiwater)
		__atomic_store_n(&hiwater, (uint32_t)fd + 1, __ATOMIC_RELAXED);
}

static int pool_push(int fd)
{
	if (npool == pool_cap) {
		uint32_t cap = pool_cap ? pool_cap * 2 : 1024;
		int *p = realloc(pool, cap * sizeof(*p));
		if (!p)
			return -1;
		pool = p;
		pool_cap = cap;
	}
	pool[npool++] = fd;
	fd_put(fd, &reserved_file);
	return 0;
}

static void pool_remove(int fd)
{
	for (uint32_t i = 0; i < npool; i++) {
		if (pool[i] == fd) {
			pool[i] = pool[--npool];
			break;
		}
	}
	fd_put(fd, NULL);
}

/* A kernel number for a new stack descriptor. */
static int kernel_number(void)
{
	if (!shim_fast_fd())
		return memfd_create("refstack-socket", MFD_CLOEXEC);
	if (npool) {
		int fd = pool[--npool];
		fd_put(fd, NULL);
		return fd;
	}
	if (placeholder < 0) {
		placeholder = memfd_create("refstack-fastfd", MFD_CLOEXEC);
		if (placeholder < 0)
			return -1;
		if ((unsigned)placeholder < SHIM_FD_MAX)
			fd_put(placeholder, &reserved_file);
	}
	return shim_real.fcntl(placeholder, F_DUPFD_CLOEXEC, 0);
}

static void ref(struct shim_file *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

static int unref(struct shim_file *f)
{
	return __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

int shim_fd_new(struct shim_file *f, int cloexec)
{
	int fd;

	shim_lock_take();
	fd = kernel_number();
	if (fd < 0) {
		int e = errno == ENFILE ? ENFILE : EMFILE;
		shim_lock_drop();
		return shim_err(e);
	}
	if ((unsigned)fd >= SHIM_FD_MAX) {
		shim_real.close(fd);
		shim_lock_drop();
		return shim_err(EMFILE);
	}
	fd_cloexec[fd] = !!cloexec;
	ref(f);
	fd_put(fd, f);
	shim_lock_drop();
	return fd;
}

void shim_fd_set(int kfd, struct shim_file *f)
{
	shim_lock_take();
	fd_cloexec[kfd] = 0;
	ref(f);
	fd_put(kfd, f);
	shim_lock_drop();
}

/* Give the number back: to the pool (fastfd socket) or to the kernel. */
static void number_release(int fd, struct shim_file *f)
{
	if (f->kind == SHIM_SOCK && shim_fast_fd() && pool_push(fd) == 0)
		return;
	fd_put(fd, NULL);
	shim_real.close(fd);
}

static struct shim_file *release_locked(int fd)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f || !f->kind)
		return NULL;
	number_release(fd, f);
	return unref(f) ? f : NULL;
}

struct shim_file *shim_fd_release(int fd)
{
	struct shim_file *f;

	shim_lock_take();
	f = release_locked(fd);
	shim_lock_drop();
	return f;
}

int shim_fd_cloexec(int fd) { return fd_cloexec[fd]; }
void shim_fd_set_cloexec(int fd, int on) { fd_cloexec[fd] = !!on; }

/* Under shim_lock: the file to unref when this was its last name. */
static struct shim_file *evict_locked(int fd)
{
	struct shim_file *f = shim_fd_get(fd);

	if (!f)
		return NULL;
	if (!f->kind) {
		if (fd == placeholder)
			placeholder = -1; /* the next pooled number makes another */
		pool_remove(fd);
		return NULL;
	}
	fd_put(fd, NULL);
	return unref(f) ? f : NULL;
}

void shim_fd_evict(int fd)
{
	struct shim_file *f;

	shim_lock_take();
	f = evict_locked(fd);
	shim_lock_drop();
	if (f)
		shim_file_unref(f);
}

int shim_fd_dup(int oldfd, int arg, int exact, int cloexec)
{
	struct shim_file *f = shim_fd_get(oldfd), *gone = NULL;
	int fd;

	shim_lock_take();
	if (!exact) {
		fd = shim_real.fcntl(oldfd, F_DUPFD_CLOEXEC, arg);
	} else {
		if (arg == oldfd) {
			shim_lock_drop();
			return arg;
		}
		if ((unsigned)arg >= SHIM_FD_MAX) {
			shim_lock_drop();
			return shim_err(EBADF);
		}
		gone = evict_locked(arg);
		fd = shim_real.dup3(oldfd, arg, O_CLOEXEC);
	}
	if (fd >= 0 && (unsigned)fd >= SHIM_FD_MAX) {
		shim_real.close(fd);
		fd = shim_err(EMFILE);
	}
	if (fd >= 0) {
		fd_cloexec[fd] = !!cloexec;
		ref(f);
		fd_put(fd, f);
	}
	shim_lock_drop();
	if (gone) {
		int e = errno;
		shim_file_unref(gone);
		errno = e;
	}
	return fd;
}

int shim_fd_close_range(unsigned first, unsigned last, int flags)
{
	unsigned hw = __atomic_load_n(&hiwater, __ATOMIC_RELAXED);
	unsigned top = last < hw ? last : hw - 1, from = first;

	if (first > last)
		return shim_err(EINVAL);
	for (unsigned fd = first; hw && fd <= top; fd++) {
		struct shim_file *f = shim_fd_get((int)fd);
		if (!f)
			continue;
		if (from < fd &&
		    shim_real.close_range(from, fd - 1, flags) < 0)
			return -1;
		from = fd + 1;
		if (!f->kind)
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC) {
			fd_cloexec[fd] = 1;
			continue;
		}
		f = shim_fd_release((int)fd);
		if (f)
			shim_file_unref(f);
	}
	if (from <= last && from >= first)
		return shim_real.close_range(from, last, flags);
	return 0;
}

void shim_fd_close_stack(void)
{
	for (uint32_t fd = 0; fd < __atomic_load_n(&hiwater, __ATOMIC_RELAXED); fd++) {
		struct shim_sock *s = shim_sock_of(shim_fd_get((int)fd));
		if (!s)
			continue;
		for (struct shim_sock *x = s->copies; x; x = x->next_copy) {
			shim_core_lock(x->core);
			if (x->rsfd >= 0 && x->core->owned) {
				rs_close(x->core->rc, x->rsfd);
				x->rsfd = -1;
			}
			shim_core_unlock(x->core);
		}
		shim_core_lock(s->core);
		if (s->rsfd >= 0 && s->core->owned) {
			rs_close(s->core->rc, s->rsfd);
			s->rsfd = -1;
		}
		shim_core_unlock(s->core);
	}
}
