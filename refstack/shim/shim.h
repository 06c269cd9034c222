/* librefstack-preload.so: unmodified programs on refstack through
 * LD_PRELOAD.  Internal declarations shared by the shim's files.
 *
 * Model.  The shim owns one refstack stack per process (RS_IF, RS_IP,
 * RS_FEATURES, RS_CORES; see rs-run).  Every program thread that makes a
 * socket call drives a core of it: the first such thread core 0, the next
 * core 1... (threads beyond RS_CORES share cores round robin).  AF_INET
 * stream sockets live on the stack; everything else (files, pipes, AF_UNIX,
 * eventfd, UDP, AF_INET6...) stays in the kernel and is passed through.
 *
 * Locking: threads run in parallel, each on its own core.
 *   - core->lock (one per core): the core (every rs_* call on it, its
 *     polls) and the shim state of the sockets on it (their epoll
 *     registrations, waiters, cached readiness).  The core's driving
 *     thread takes it uncontended; another thread takes it only for a
 *     call on a socket of that core (a connection handed between
 *     threads).  The stack's readiness hook runs under it.  A thread holds
 *     at most one core lock, except the rare ordered pair (lower index
 *     first) of shim_core_lock2.
 *   - ep->lock (one per epoll set): its items and ready list, taken
 *     under a core lock (the hook) or alone (epoll_wait), never the
 *     other way round: epoll_wait reports the readiness cached in each
 *     item by whoever held the socket's core lock.
 *   - shim_lock: the descriptor table, the cores of the process (which
 *     thread drives which), SO_REUSEPORT twins, listener copies' lists.
 *     A leaf: nothing is locked under it.
 * None is held across a system call that can block.  What is shared
 * between cores inside the stack is under the stack's own counted locks
 * (lock.h).  Forked processes share the stack's tables the same way (see
 * shim_stack.c).
 *
 * Descriptors: see shim_fd.c.  Waiting: see shim_wait.c. */
#ifndef RS_SHIM_H
#define RS_SHIM_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../include/refstack.h"
#include "../src/common.h"

/* ---- the real libc functions (shim_real.c) ---------------------------- */
#define SHIM_REAL_FUNCS(X)                                                     \
	X(int, socket, (int, int, int))                                        \
	X(int, bind, (int, const struct sockaddr *, socklen_t))                \
	X(int, listen, (int, int))                                             \
	X(int, accept, (int, struct sockaddr *, socklen_t *))                  \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int))            \
	X(int, connect, (int, const struct sockaddr *, socklen_t))             \
	X(ssize_t, read, (int, void *, size_t))                                \
	X(ssize_t, write, (int, const void *, size_t))                         \
	X(ssize_t, readv, (int, const struct iovec *, int))                    \
	X(ssize_t, writev, (int, const struct iovec *, int))                   \
	X(ssize_t, recv, (int, void *, size_t, int))                           \
	X(ssize_t, send, (int, const void *, size_t, int))                     \
	X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *,     \
			      socklen_t *))                                    \
	X(ssize_t, sendto, (int, const void *, size_t, int,                    \
			    const struct sockaddr *, socklen_t))               \
	X(ssize_t, recvmsg, (int, struct msghdr *, int))                       \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int))                 \
	X(int, recvmmsg, (int, struct mmsghdr *, unsigned, int,                \
			  struct timespec *))                                  \
	X(int, sendmmsg, (int, struct mmsghdr *, unsigned, int))               \
	X(ssize_t, sendfile, (int, int, off_t *, size_t))                      \
	X(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned))   \
	X(int, close, (int))                                                   \
	X(int, close_range, (unsigned, unsigned, int))                         \
	X(int, shutdown, (int, int))                                           \
	X(int, getsockname, (int, struct sockaddr *, socklen_t *))             \
	X(int, getpeername, (int, struct sockaddr *, socklen_t *))             \
	X(int, getsockopt, (int, int, int, void *, socklen_t *))               \
	X(int, setsockopt, (int, int, int, const void *, socklen_t))           \
	X(int, fcntl, (int, int, ...))                                         \
	X(int, ioctl, (int, unsigned long, ...))                               \
	X(int, dup, (int))                                                     \
	X(int, dup2, (int, int))                                               \
	X(int, dup3, (int, int, int))                                          \
	X(int, poll, (struct pollfd *, nfds_t, int))                           \
	X(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *,       \
		       const sigset_t *))                                      \
	X(int, epoll_create1, (int))                                           \
	X(int, epoll_ctl, (int, int, int, struct epoll_event *))               \
	X(int, epoll_wait, (int, struct epoll_event *, int, int))              \
	X(int, epoll_pwait, (int, struct epoll_event *, int, int,              \
			     const sigset_t *))                                \
	X(int, fstat, (int, struct stat *))                                    \
	X(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))  \
	X(pid_t, fork, (void))

struct shim_real {
#define SHIM_X_PTR(ret, name, args) ret(*name) args;
	SHIM_REAL_FUNCS(SHIM_X_PTR)
#undef SHIM_X_PTR
};
extern struct shim_real shim_real;
void shim_real_init(void);

/* ---- objects ------------------------------------------------------------ */
enum { SHIM_SOCK = 1, SHIM_EPOLL = 2 };

struct shim_thread;
struct shim_wait {               /* one blocked thread on one object */
	struct shim_thread *t;
	struct shim_wait *next;
};

/* An open file description: shared by dup'ed descriptors (O_NONBLOCK
 * lives here, as in the kernel). */
struct shim_file {
	uint8_t kind;            /* SHIM_* */
	uint8_t nonblock;
	unsigned refs;           /* descriptors naming it (atomic) */
	struct shim_wait *waiters; /* under the socket's core lock / ep->lock */
};

struct shim_core;
struct shim_epitem;
struct shim_sock {
	struct shim_file f;
	struct shim_core *core;
	int rsfd;                /* the stack's descriptor on core */
	struct shim_epitem *items; /* epoll registrations */
	struct shim_sock *alias_of; /* SO_REUSEPORT: later listener of a port */
	struct shim_sock *alias_pending; /* bound onto a reuseport listener */
	/* A listener used by threads on other cores gets a copy on each of
	 * them (rs_listen_copy), so that a thread accepts on its own core:
	 * the copies hang off the listener (next_copy, under shim_lock to
	 * add, read without), each names its listener (copy_of). */
	struct shim_sock *copies, *next_copy, *copy_of;
	uint32_t bind_addr;      /* IP_BIND_ADDRESS_NO_PORT: address kept */
	uint32_t addr;           /* bound address (network order) */
	uint16_t port;           /* bound port (host order) */
	uint8_t reuseport_set;   /* setsockopt(SO_REUSEPORT) seen */
	uint8_t no_port;         /* IP_BIND_ADDRESS_NO_PORT */
	uint8_t listening;
	uint64_t rcvtimeo_ns, sndtimeo_ns; /* SO_RCVTIMEO/SO_SNDTIMEO, 0 = none */
};
/* The socket whose stack state answers for s (itself, or the listener a
 * SO_REUSEPORT twin is an alias of). */
static inline struct shim_sock *shim_target(struct shim_sock *s)
{
	return s->alias_of ? s->alias_of : s;
}
struct shim_core;
/* The socket that answers for s on core c: for a listener, its copy on c
 * (made at the first use, under c's lock: call it holding none), else
 * s's target. */
struct shim_sock *shim_copy_on(struct shim_sock *s, struct shim_core *c);

struct shim_epitem {
	struct shim_epoll *ep;
	struct shim_sock *s;     /* the socket whose events are watched */
	struct shim_sock *owner; /* the one named by fd (s, or an alias) */
	int fd;                  /* the number it was registered under */
	uint32_t events;
	uint32_t revents;        /* s's events when last looked at (cached) */
	epoll_data_t data;
	struct rs_list ilink;    /* ep->items */
	struct rs_list rlink;    /* ep->ready */
	uint8_t on_ready;
	struct shim_epitem *snext; /* s->items */
};

#define SHIM_EP_ARMED 8
struct shim_core;
struct shim_epoll {
	struct shim_file f;
	pthread_mutex_t lock;
	struct shim_core *core;  /* of the thread that waits on it: its
				  * listener items watch that core's copy */
	struct rs_list items;
	struct rs_list ready;
	/* threads whose wake-up eventfd and core packet socket are in this
	 * kernel epoll set (added at their first wait on it) */
	struct shim_thread *armed[SHIM_EP_ARMED];
	int armed_fd[SHIM_EP_ARMED]; /* the packet socket added for it */
	unsigned narmed;
};

/* ---- the stack, cores, threads (shim_stack.c) ------------------------- */
struct shim_core {
	pthread_mutex_t lock;    /* the core and its sockets (see top) */
	struct rs_core *rc;
	unsigned index;          /* the stack's core (slot) number */
	int wait_fd;             /* the backend's packet socket, -1 once dead */
	struct shim_thread *driver;
	uint8_t owned;           /* this process drives it (else inherited) */
	uint8_t io;              /* its packet I/O is open in this process */
	struct rs_core_io saved; /* at fork: the child's copy to close */
};
/* The packet socket reported an error (the interface went away): stop
 * sleeping on it, say so once (under c->lock). */
void shim_core_dead(struct shim_core *c);

struct shim_thread {
	int efd;                 /* eventfd: wake-ups from other threads */
	struct shim_core *core;  /* changed only by the thread itself */
	uint8_t kicked;          /* atomic */
};

extern pthread_mutex_t shim_lock;
extern int shim_active;          /* a stack is configured (RS_IF set) */

static inline void shim_lock_take(void) { pthread_mutex_lock(&shim_lock); }
static inline void shim_lock_drop(void) { pthread_mutex_unlock(&shim_lock); }
static inline void shim_core_lock(struct shim_core *c) { pthread_mutex_lock(&c->lock); }
static inline void shim_core_unlock(struct shim_core *c) { pthread_mutex_unlock(&c->lock); }
/* Two cores' locks in the one order (lower address first; a and b may
 * be the same core). */
void shim_core_lock2(struct shim_core *a, struct shim_core *b);
void shim_core_unlock2(struct shim_core *a, struct shim_core *b);

/* The calling thread, with its core (the stack is created at the first
 * call).  NULL with errno set (EIO after a printed reason) if the stack
 * cannot run.  Called holding no lock. */
struct shim_thread *shim_self(void);
/* Before a wait: make t the driver of its core, or move it to one that
 * has none (holding no lock). */
void shim_claim(struct shim_thread *t);
/* The socket that answers for s on the calling thread's core. */
static inline struct shim_sock *shim_here(struct shim_sock *s, struct shim_thread *t)
{
	return shim_copy_on(s, t->core);
}
/* The calling thread if it already drives a core, else NULL (no stack
 * is made: for calls that need one only when sockets are involved). */
struct shim_thread *shim_current(void);
/* Poll core now (receive, timers, transmit).  Under c->lock. */
int shim_poll(struct shim_core *c);
void shim_poll_foreign(struct shim_core *c);
/* Poll the calling thread's own core (takes and drops its lock). */
void shim_poll_own(struct shim_thread *t);
/* After a call on s (under s->core->lock, which it drops): s's readiness
 * is cached in its epoll items again, and what the call queued leaves at
 * once if s is not on the caller's core. */
void shim_after(struct shim_sock *s);
void shim_kick(struct shim_thread *t);
uint64_t shim_fast_fd(void);     /* non-zero: the fastfd switch is on */
/* A call on s, a connection inherited through fork() from the process
 * that drives its core: -1 with EIO and one warning.  An alias answers
 * through its listener (inherited listeners live on the child's core). */
static inline int shim_foreign(struct shim_sock *s)
{
	extern int shim_unsupported(const char *, const char *, int);
	if (shim_target(s)->core->owned)
		return 0;
	return shim_unsupported("fork", "a connection made before fork() is used only "
				"by the process that made it (listening sockets are shared)", EIO);
}

/* ---- descriptors (shim_fd.c) ------------------------------------------ */
/* The object behind descriptor fd, NULL for a kernel descriptor. */
struct shim_file *shim_fd_get(int fd);
static inline struct shim_sock *shim_sock_of(struct shim_file *f)
{
	return f && f->kind == SHIM_SOCK ? (struct shim_sock *)(void *)f : NULL;
}
/* The descriptor table's calls take shim_lock themselves; a file whose
 * last name went is returned for the caller to shim_file_unref (holding
 * no lock). */
/* A new descriptor number for f (refs += 1).  -1 with errno EMFILE. */
int shim_fd_new(struct shim_file *f, int cloexec);
/* Name f under the kernel descriptor kfd already made (epoll). */
void shim_fd_set(int kfd, struct shim_file *f);
/* Forget descriptor fd; returns the file when this was its last name. */
struct shim_file *shim_fd_release(int fd);
int shim_fd_cloexec(int fd);
void shim_fd_set_cloexec(int fd, int on);
/* dup (exact 0: lowest free >= arg) or dup2/dup3 (exact 1: arg) of the
 * stack descriptor oldfd.  Returns the new number or -1 with errno. */
int shim_fd_dup(int oldfd, int arg, int exact, int cloexec);
/* newfd is about to be replaced by a kernel descriptor (dup2 of a kernel
 * fd onto it): drop what the shim had under that number (unrefs it). */
void shim_fd_evict(int newfd);
/* close_range over a mixed range. */
int shim_fd_close_range(unsigned first, unsigned last, int flags);
uint32_t shim_fd_limit(void);
/* At exit: close the stack side of every stack socket (objects kept),
 * but the listening ones when a child process inherits them. */
void shim_fd_close_stack(int keep_listeners);

/* ---- files and sockets ---------------------------------------------------- */
void shim_file_unref(struct shim_file *f);  /* holding no lock */
void shim_sock_wake(void *arg, void *user); /* the stack's readiness hook */
/* s's registrations go (under s->core->lock): all of them, or (an alias
 * closing) those made through owner. */
void shim_epoll_forget_sock(struct shim_sock *s, struct shim_sock *owner);
/* s's events now, cached in its epoll items (under s->core->lock). */
uint32_t shim_sock_update(struct shim_sock *s);
uint32_t shim_sock_events(struct shim_sock *s); /* under s->core->lock */

/* ---- waiting (shim_wait.c) ------------------------------------------------- */
/* t waits on socket s (under s->core->lock): whoever changes s kicks it. */
void shim_wait_add(struct shim_sock *s, struct shim_wait *w, struct shim_thread *t);
void shim_wait_del(struct shim_sock *s, struct shim_wait *w);
/* Sleep (holding no lock) until kicked, a packet arrived for t's core,
 * its core's next timer, or deadline_ns (UINT64_MAX = none); also on
 * extra kernel descriptors (kfds, nk; their revents are filled in); then
 * poll the core.  Returns -1 with EINTR when a signal interrupted it. */
int shim_sleep(struct shim_thread *t, struct pollfd *kfds, int nk,
	       uint64_t deadline_ns, const sigset_t *sigmask);
/* Blocking helper for a call on one socket, under s->core->lock (dropped
 * while sleeping): wait for a change on s (the caller retries its call).
 * -1 with EINTR, or EAGAIN when deadline_ns passed
 * (SO_RCVTIMEO/SO_SNDTIMEO, as Linux reports them). */
int shim_wait_sock(struct shim_thread *t, struct shim_sock *s,
		   uint64_t deadline_ns);
uint64_t shim_deadline(int timeout_ms);

/* Signals handled by the calling thread so far (shim_signal.c): a wait
 * that sees it move returns EINTR instead of sleeping. */
unsigned shim_sig_gen(void);

/* ---- errors ------------------------------------------------------------- */
/* One warning per call name on stderr, then errno = err, return -1. */
int shim_unsupported(const char *call, const char *what, int err);
static inline int shim_err(int e)
{
	extern int *__errno_location(void);
	*__errno_location() = e;
	return -1;
}

#endif
