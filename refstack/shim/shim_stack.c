/* The process's stack: configuration from the environment (RS_IF, RS_IP,
 * RS_FEATURES, RS_CORES, RS_GATEWAY), created at the first socket call;
 * its cores, one per program thread that makes socket calls; the
 * statistics segment rsctl reads; fork.
 *
 * Fork.  The stack lives in a shared arena mapped before the first socket
 * exists, so a forked child sees all of it at the same addresses and
 * becomes a core of the same stack (nginx's workers): core slots are
 * claimed in a shared page (the pid that drives each); a child takes a
 * free slot, or the slot of a process that died (its core adopted:
 * its queued connections are still there), opens its own afpacket socket
 * in the fanout group and makes, for every listening socket it inherited,
 * a copy on its core (rs_listen_copy).  After fork() no process keeps
 * receiving on a core it inherited: the child closes its copy of the
 * parent's packet sockets at once, the parent closes its own (a parent
 * that waits on a socket again opens a new one; nginx's master never
 * does).  A process closes on the stack only sockets of its own cores;
 * an inherited connection is usable only by the process that made it. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/io.h"
#include "../src/lock.h"
#include "../src/stats_shm.h"
#include "shim.h"

pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
int shim_active;

#define SHIM_SLOTS 64
#define SHIM_PROCS 256
/* Shared between the processes of one stack (mapped at start-up). */
struct shim_slots {
	pid_t pid[SHIM_SLOTS];           /* driving process, 0 = free */
	struct rs_core *rc[SHIM_SLOTS];  /* the core, once created */
	/* every fork() child sharing the stack, with its parent: an exiting
	 * process hands its listening sockets to a live child */
	struct { pid_t pid, ppid; } procs[SHIM_PROCS];
	int test_died;                   /* RS_TEST_DIE_AT: a child died there */
};

static struct rs_stack_conf conf;
static const char *ifname;
static struct rs_stack *stack;
static struct rs_arena *arena;
static struct shim_core cores[SHIM_SLOTS];     /* this process's view */
static unsigned ncreated, next_shared; /* ncreated: atomic (read without shim_lock) */
static unsigned ncores;          /* RS_CORES: cores per process */
static int stack_failed;
static struct rs_shm *shm;
static struct shim_slots *slots;
static int slot_efd[SHIM_SLOTS]; /* cross-process wake-up per slot */
static pid_t mypid;
static int forked;               /* this process is a fork() child */
static unsigned fanout_id;
static const char *die_at;       /* RS_TEST_DIE_AT */
#define SHIM_ARENA_BYTES (16ull << 30) /* virtual: pages are backed when used */
static __thread struct shim_thread *me __attribute__((tls_model("initial-exec")));

uint64_t shim_fast_fd(void) { return conf.features & RS_FEAT_FAST_FD; }

/* ---- configuration ------------------------------------------------------ */

static void die(const char *var, const char *val, const char *why)
{
	fprintf(stderr, "refstack-preload: %s=%s: %s\n", var, val ? val : "", why);
	_exit(2);
}

static void parse_ip(const char *v)
{
	char buf[64];
	const char *slash = strchr(v, '/');
	long prefix = 24;

	if (strlen(v) >= sizeof(buf))
		die("RS_IP", v, "too long");
	strcpy(buf, v);
	if (slash) {
		char *end;
		buf[slash - v] = '\0';
		prefix = strtol(slash + 1, &end, 10);
		if (*end || prefix < 1 || prefix > 30)
			die("RS_IP", v, "prefix length must be 1..30");
	}
	if (inet_pton(AF_INET, buf, &conf.addr) != 1)
		die("RS_IP", v, "not an IPv4 address (A.B.C.D[/prefix])");
	conf.netmask.s_addr = htonl(~0u << (32 - prefix));
}

/* Read the environment before main: a bad value stops the program with a
 * message naming the variable, before it does anything. */
static void shim_conf(void)
{
	const char *v;
	char *end;

	ifname = getenv("RS_IF");
	if (!ifname || !*ifname)
		return;
	/* a copy: nginx's workers overwrite the environment (process title) */
	ifname = strdup(ifname);
	if (!ifname)
		die("RS_IF", "", "out of memory");
	rs_stack_conf_init(&conf);
	/* as Linux: the listen backlog bounds the SYN queue, not a stack cap */
	conf.syn_backlog = 65535;
	/* servers hold many idle connections: Linux's default receive buffer
	 * (tcp_rmem 128 KiB; rings are allocated at first use) and a budget
	 * that 10,000 connections fit in */
	conf.rcvbuf = 128 * 1024;
	conf.max_buf_bytes = UINT32_MAX;
	ncores = 1;
	v = getenv("RS_IP");
	if (!v || !*v)
		die("RS_IP", v, "required with RS_IF (the stack's address)");
	parse_ip(v);
	char dev[IFNAMSIZ];
	size_t dl = strcspn(ifname, ",");
	if (dl >= IFNAMSIZ)
		die("RS_IF", ifname, "interface name too long");
	memcpy(dev, ifname, dl);
	dev[dl] = '\0';
	if (!if_nametoindex(dev))
		die("RS_IF", ifname, "no such interface in this network namespace");
	char err[256];
	if (rs_features_from_env(&conf.features, err, sizeof(err)) < 0 ||
	    rs_cc_from_env(&conf.cc, err, sizeof(err)) < 0) {
		fprintf(stderr, "refstack-preload: %s\n", err);
		_exit(2);
	}
	v = getenv("RS_CORES");
	if (v && *v) {
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 64)
			die("RS_CORES", v, "want 1..64");
		ncores = (unsigned)n;
	}
	/* slots: this process's cores, forked workers' (old and new ones
	 * during reloads back to back: up to three generations) and the
	 * parent's */
	conf.ncores = ncores * 4 + 2 < SHIM_SLOTS ? ncores * 4 + 2 : SHIM_SLOTS;
	v = getenv("RS_GATEWAY");
	if (v && *v && inet_pton(AF_INET, v, &conf.gateway) != 1)
		die("RS_GATEWAY", v, "not an IPv4 address");
	shim_active = 1;
}

/* ---- the stack ------------------------------------------------------------ */

static void publish(struct rs_core *core, uint64_t now, void *arg)
{
	(void)arg;
	if (shm)
		rs_shm_publish(core, now, shm);
}

static unsigned created(void) { return __atomic_load_n(&ncreated, __ATOMIC_ACQUIRE); }

static struct shim_core *local_core(unsigned index)
{
	for (unsigned i = 0, n = created(); i < n; i++)
		if (cores[i].index == index && __atomic_load_n(&cores[i].io, __ATOMIC_RELAXED))
			return &cores[i];
	return NULL;
}

void shim_core_lock2(struct shim_core *a, struct shim_core *b)
{
	if (a == b) {
		shim_core_lock(a);
		return;
	}
	shim_core_lock(a < b ? a : b);
	shim_core_lock(a < b ? b : a);
}

void shim_core_unlock2(struct shim_core *a, struct shim_core *b)
{
	shim_core_unlock(a);
	if (a != b)
		shim_core_unlock(b);
}

/* A frame was handed to core `core`: wake its thread, in this process or
 * (through the slot's eventfd, made before fork) in another.  Runs under
 * the lock of the core that hands the frame over. */
static void on_kick(void *arg, unsigned core)
{
	struct shim_core *c = local_core(core);
	uint64_t one = 1;

	(void)arg;
	if (c)
		shim_kick(__atomic_load_n(&c->driver, __ATOMIC_ACQUIRE));
	else if (core < SHIM_SLOTS && slot_efd[core] >= 0 &&
		 shim_real.write(slot_efd[core], &one, sizeof(one)) < 0) {
		/* counter full: the thread is awake anyway */
	}
}

/* ---- exit: what the kernel would still send -----------------------------
 * At exit the kernel closes every descriptor and keeps sending queued data
 * and the FIN of each socket after the process is gone.  The stack lives
 * in the process, so exit closes its sockets and polls until their data
 * and FINs are out and acknowledged (or SHIM_DRAIN_NS passed).  Objects
 * are not freed: another thread may still be inside a call. */
#define SHIM_DRAIN_NS 2000000000ull

static int sock_busy(const struct rs_sock_info *i, void *arg)
{
	(void)arg;
	return i->snd_queue || !strcmp(i->state, "FIN_WAIT_1") ||
	       !strcmp(i->state, "CLOSING") || !strcmp(i->state, "LAST_ACK");
}

static void drain(int keep_listeners)
{
	uint64_t end = rs_clock_ns() + SHIM_DRAIN_NS;
	int busy;

	shim_fd_close_stack(keep_listeners);
	do {
		busy = 0;
		for (unsigned i = 0; i < ncreated; i++) {
			shim_core_lock(&cores[i]);
			if (cores[i].io) {
				shim_poll(&cores[i]);
				busy |= rs_core_foreach_socket(cores[i].rc, sock_busy, NULL);
			}
			shim_core_unlock(&cores[i]);
		}
		if (busy) {
			struct pollfd p[SHIM_SLOTS];
			for (unsigned i = 0; i < ncreated; i++)
				p[i] = (struct pollfd){ .fd = cores[i].io ? cores[i].wait_fd : -1,
							.events = POLLIN };
			shim_real.poll(p, ncreated, 1);
		}
	} while (busy && rs_clock_ns() < end);
}

/* A forked worker that exits gives its cores back: their TIME_WAIT
 * entries leave the shared tables with them (else a SYN reusing such a
 * 4-tuple would be handed to a core nobody drives), the slot is free. */
static void cores_destroy(void)
{
	for (unsigned i = 0; i < ncreated; i++) {
		if (!cores[i].owned)
			continue;
		shim_core_lock(&cores[i]);
		rs_core_destroy(cores[i].rc);
		__atomic_store_n(&slots->rc[cores[i].index], NULL, __ATOMIC_RELEASE);
		__atomic_store_n(&slots->pid[cores[i].index], 0, __ATOMIC_RELEASE);
		cores[i].owned = cores[i].io = 0; /* calls on its sockets: EIO */
		shim_core_unlock(&cores[i]);
	}
}

/* ---- the process registry: who shares the stack ------------------------ */

static int alive(pid_t p)
{
	return p > 0 && (kill(p, 0) == 0 || errno != ESRCH);
}

static void proc_register(pid_t pid, pid_t parent)
{
	int i, free_i = -1;

	for (i = 0; i < SHIM_PROCS; i++) {
		pid_t p = __atomic_load_n(&slots->procs[i].pid, __ATOMIC_ACQUIRE);
		if (p == pid)
			return; /* the parent registered it already */
		if (free_i < 0 && (!p || (p > 0 && !alive(p))))
			free_i = i;
	}
	for (i = free_i; i >= 0 && i < SHIM_PROCS; i++) {
		pid_t p = __atomic_load_n(&slots->procs[i].pid, __ATOMIC_ACQUIRE);
		if ((p && (p < 0 || alive(p))) ||
		    !__sync_bool_compare_and_swap(&slots->procs[i].pid, p, -1))
			continue;
		slots->procs[i].ppid = parent;
		__atomic_store_n(&slots->procs[i].pid, pid, __ATOMIC_RELEASE);
		return;
	}
	/* full: this process cannot inherit sockets from an exiting parent */
}

/* fork() is wrapped only to register the child before the parent can
 * exit (a daemon's parent exits at once); children made by libc's own
 * fork (daemon(3)) register themselves in fork_child. */
pid_t fork(void)
{
	pid_t p = shim_real.fork();

	if (p > 0 && slots && stack)
		proc_register(p, mypid);
	return p;
}

static void proc_unregister(void)
{
	for (unsigned i = 0; i < SHIM_PROCS; i++)
		if (__atomic_load_n(&slots->procs[i].pid, __ATOMIC_ACQUIRE) == mypid)
			__atomic_store_n(&slots->procs[i].pid, 0, __ATOMIC_RELEASE);
}

/* A live fork() child of this process, 0 if none. */
static pid_t proc_heir(void)
{
	for (unsigned i = 0; i < SHIM_PROCS; i++) {
		pid_t p = __atomic_load_n(&slots->procs[i].pid, __ATOMIC_ACQUIRE);
		if (p > 0 && slots->procs[i].ppid == mypid && alive(p))
			return p;
	}
	return 0;
}

/* The process exits while a child it forked still shares the stack (a
 * daemon's parent, `daemon on` in nginx: the child is the master): as
 * the kernel keeps a socket open while another process holds it, the
 * listening sockets stay, and the child holds the cores' slots (so that
 * no worker adopts them as a dead process's). */
static void hand_over(pid_t heir)
{
	for (unsigned i = 0; i < ncreated; i++)
		if (cores[i].owned)
			__atomic_store_n(&slots->pid[cores[i].index], heir,
					 __ATOMIC_RELEASE);
}

/* At exit: the cores are drained one by one under their locks (other
 * threads may still be running); the core list is fixed from here on
 * (stack_failed: no new core is made). */
static void at_exit(void)
{
	pid_t heir = slots ? proc_heir() : 0;
	int run;

	shim_lock_take();
	run = stack && !stack_failed;
	__atomic_store_n(&stack_failed, 1, __ATOMIC_RELEASE);
	shim_lock_drop();
	if (run) {
		drain(heir != 0);
		if (heir)
			hand_over(heir);
		else if (forked)
			cores_destroy();
	}
	shim_lock_take();
	proc_unregister();
	if (shm && getpid() == mypid)
		rs_shm_destroy(shm);
	shm = NULL;
	shim_lock_drop();
}

static int stack_start(void)
{
	int err = 0;

	shm = rs_shm_create(NULL, conf.ncores, 0, &err);
	if (!shm)
		fprintf(stderr, "refstack-preload: statistics segment: %s (rsctl will not see this process)\n",
			strerror(-err));
	conf.stats_publish = 1;
	conf.publish = publish;
	conf.sock_wake = shim_sock_wake;
	conf.kick = on_kick;
	arena = rs_arena_create_shared(SHIM_ARENA_BYTES, &err);
	if (!arena) {
		fprintf(stderr, "refstack-preload: shared arena of %llu GiB: %s\n",
			SHIM_ARENA_BYTES >> 30, strerror(-err));
		return -1;
	}
	conf.arena = arena;
	stack = rs_stack_create(&conf, &err);
	if (!stack) {
		fprintf(stderr, "refstack-preload: stack on %s: %s\n", ifname, strerror(-err));
		return -1;
	}
	for (unsigned k = 0; k < conf.ncores; k++)
		slot_efd[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* this process's threads make their cores one by one, a later one
	 * possibly under running connections (a thread takes a core of its
	 * own at its first wait: tsload's server threads start after its
	 * "listening", which the client waits for): each one joins the
	 * fanout group and takes over some flows of the others.  Until the last has joined, connections go global, where
	 * every core finds them (core_for_thread ends it). */
	if (ncores > 1)
		rs_stack_cores_joining(stack, 1);
	fanout_id = (unsigned)getpid() & 0xffffu;
	return 0;
}

/* A core slot for this process: a free one, or one whose process died
 * (*adopt: its core exists and is taken over).  -1 if none is left. */
static int slot_take(int *adopt)
{
	for (unsigned k = 0; k < conf.ncores; k++) {
		pid_t p = __atomic_load_n(&slots->pid[k], __ATOMIC_ACQUIRE);
		if (p == mypid || (p && (kill(p, 0) == 0 || errno != ESRCH)))
			continue;
		if (__sync_bool_compare_and_swap(&slots->pid[k], p, mypid)) {
			*adopt = slots->rc[k] != NULL;
			return (int)k;
		}
	}
	return -1;
}

/* Listening sockets inherited from the parent become copies on this
 * process's first core (under shim_lock). */
static void listeners_inherit(struct shim_core *mine)
{
	for (uint32_t fd = 0; fd < shim_fd_limit(); fd++) {
		struct shim_sock *s = shim_sock_of(shim_fd_get((int)fd));
		int rsfd;
		if (!s || s->core->owned || !s->listening || s->alias_of)
			continue;
		s->copies = NULL; /* the parent's threads' copies stay the parent's */
		rsfd = rs_listen_copy(mine->rc, s->core->rc, s->rsfd);
		if (rsfd < 0) {
			fprintf(stderr, "refstack-preload: fd %u: listening socket inherited "
				"through fork(): no copy on core %u: %s\n",
				fd, mine->index, strerror(errno));
			continue;
		}
		s->core = mine;
		s->rsfd = rsfd;
		rs_sock_set_user(mine->rc, rsfd, s);
	}
}

static int io_open(struct shim_core *c, int adopt)
{
	struct rs_io_conf io = { .ifname = ifname, .nqueues = conf.ncores,
				 .ring_frames = 16384, /* a burst of 10,000 SYNs fits */
				 .fanout_id = fanout_id, .queue = c->index };
	int err = 0;

	if (!c->rc)
		c->rc = rs_core_create(stack, c->index, &rs_io_afpacket, &io, &err);
	else
		err = adopt ? rs_core_adopt(c->rc, &rs_io_afpacket, &io)
			    : rs_core_io_open(c->rc, &rs_io_afpacket, &io);
	if (!c->rc || err) {
		fprintf(stderr, "refstack-preload: core %u on %s (afpacket): %s\n",
			c->index, ifname, strerror(-err));
		return -1;
	}
	c->io = 1;
	c->wait_fd = rs_core_wait_fd(c->rc);
	return 0;
}

static unsigned owned_cores(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ncreated; i++)
		n += cores[i].owned;
	return n;
}

static struct shim_core *core_for_thread(void)
{
	struct shim_core *c;
	unsigned nmine = 0;
	int k, adopt = 0, first;

	for (unsigned i = 0; i < ncreated; i++) {
		if (!cores[i].owned)
			continue;
		if (!cores[i].driver)
			return &cores[i];
		nmine++;
	}
	if (nmine >= ncores) /* more threads than cores: share */
		for (unsigned n = 0; n < ncreated; n++) {
			c = &cores[next_shared++ % ncreated];
			if (c->owned)
				return c;
		}
	k = slot_take(&adopt);
	if (k < 0 || ncreated == SHIM_SLOTS) {
		fprintf(stderr, "refstack-preload: all %u core slots of the stack are taken "
			"(RS_CORES=%u: slots for the cores of this process, its forked "
			"workers and their replacements)\n", conf.ncores, ncores);
		return NULL;
	}
	first = nmine == 0;
	c = &cores[ncreated];
	*c = (struct shim_core){ .index = (unsigned)k, .owned = 1, .wait_fd = -1,
				 .rc = slots->rc[k] };
	pthread_mutex_init(&c->lock, NULL);
	if (io_open(c, adopt) < 0) {
		__atomic_store_n(&slots->pid[k], 0, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n(&slots->rc[k], c->rc, __ATOMIC_RELEASE);
	__atomic_store_n(&ncreated, ncreated + 1, __ATOMIC_RELEASE);
	if (first)
		listeners_inherit(c);
	if (owned_cores() == ncores) /* the group is whole (stack_start) */
		rs_stack_cores_joining(stack, 0);
	return c;
}

static struct shim_thread *self_locked(void);

struct shim_thread *shim_self(void)
{
	struct shim_thread *t;

	if (RS_LIKELY(me && me->core && !__atomic_load_n(&stack_failed, __ATOMIC_ACQUIRE)))
		return me;
	shim_lock_take();
	t = self_locked();
	shim_lock_drop();
	return t;
}

static struct shim_thread *self_locked(void)
{
	if (!me) {
		me = calloc(1, sizeof(*me));
		if (!me)
			return shim_err(ENOMEM), NULL;
		me->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (me->efd < 0) {
			free(me);
			me = NULL;
			return NULL;
		}
	}
	if (!stack && !stack_failed && stack_start() < 0)
		stack_failed = 1;
	if (stack_failed)
		return shim_err(EIO), NULL;
	if (!me->core) {
		me->core = core_for_thread();
		if (!me->core)
			return shim_err(EIO), NULL;
		/* other processes wake this thread through its slot's eventfd */
		if (slot_efd[me->core->index] >= 0 && !me->core->driver)
			shim_real.dup3(slot_efd[me->core->index], me->efd, O_CLOEXEC);
	}
	return me;
}

/* A thread drives the core it waits on: the first thread that enters a
 * wait that may block (epoll_wait, poll, select with a timeout) on a
 * driverless core takes it; one that finds its core driven by another
 * moves to a driverless (or new) core if there is one.  So a thread that
 * only makes sockets (tsload's main thread) never holds a core nobody
 * polls, and a serving thread has its own core from its first wait on,
 * not from the first time it runs out of work (a busy thread might not
 * for the whole run: the cores, and the fanout group, would change under
 * running connections, and one core would serve everything). */
void shim_claim(struct shim_thread *t)
{
	struct shim_core *c = t->core;

	if (__atomic_load_n(&c->driver, __ATOMIC_RELAXED) == t && c->io)
		return;
	if (!c->io && c->owned) { /* a parent after fork: receive again */
		shim_core_lock(c);
		if (!c->io)
			io_open(c, 0);
		shim_core_unlock(c);
	}
	shim_lock_take();
	if (c->driver != t) {
		if (!c->driver) {
			__atomic_store_n(&c->driver, t, __ATOMIC_RELEASE);
		} else {
			c = core_for_thread();
			if (c && !c->driver) {
				t->core = c;
				__atomic_store_n(&c->driver, t, __ATOMIC_RELEASE);
			}
		}
	}
	shim_lock_drop();
}

void shim_core_dead(struct shim_core *c)
{
	if (c->wait_fd < 0)
		return;
	fprintf(stderr, "refstack-preload: core %u: the packet socket on %s reports an error "
		"(interface gone?): the stack receives nothing more\n", c->index, ifname);
	c->wait_fd = -1;
}

struct shim_thread *shim_current(void)
{
	return me && me->core ? me : NULL;
}

int shim_poll(struct shim_core *c)
{
	static int warned;
	int n;

	if (!c->io)
		return 0; /* another process's core, or ours before it receives again */
	n = rs_poll(c->rc, rs_clock_ns());

	if (n < 0 && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
		fprintf(stderr, "refstack-preload: core %u: packet I/O failed: %s\n",
			c->index, strerror(errno));
	}
	return n;
}

/* A core this thread does not drive: nothing may stay queued for that
 * core's next poll (its thread may sleep until its next timer), not even
 * an ACK the stack holds for the application's answer. */
void shim_poll_foreign(struct shim_core *c)
{
	shim_poll(c);
	if (c->io)
		rs_core_flush(c->rc);
}

void shim_poll_own(struct shim_thread *t)
{
	shim_core_lock(t->core);
	shim_poll(t->core);
	shim_core_unlock(t->core);
}

void shim_after(struct shim_sock *s)
{
	struct shim_core *c = s->core;

	shim_sock_update(s);
	if (me && c != me->core && rs_poll_at(c->rc) == 0)
		shim_poll_foreign(c);
	shim_core_unlock(c);
}

void shim_kick(struct shim_thread *t)
{
	uint64_t one = 1;

	if (!t || t == me || __atomic_exchange_n(&t->kicked, 1, __ATOMIC_SEQ_CST))
		return;
	if (shim_real.write(t->efd, &one, sizeof(one)) < 0) {
		/* counter full: the thread is awake anyway */
	}
}

/* ---- fork ------------------------------------------------------------------ */

/* fork() with every lock taken (cores in index order, then shim_lock),
 * so that the child's copy of the shim is consistent; both sides give
 * them back. */
static void fork_prepare(void)
{
	for (unsigned i = 0; i < created(); i++)
		shim_core_lock(&cores[i]);
	shim_lock_take();
	/* workers come and go with their packet sockets: the fanout group
	 * changes under running connections */
	if (stack)
		rs_stack_cores_dynamic(stack);
	for (unsigned i = 0; i < ncreated; i++)
		cores[i].saved = cores[i].io ? rs_core_io(cores[i].rc)
					     : (struct rs_core_io){ 0 };
}

static void fork_unlock(void)
{
	shim_lock_drop();
	for (unsigned i = 0; i < ncreated; i++)
		shim_core_unlock(&cores[i]);
}

/* No process keeps receiving on a core it inherited or had before the
 * fork (a packet socket in the fanout group that nobody polls loses the
 * flows hashed to it).  The parent closes its I/O (and says so in the
 * shared core), the child only its copy of the parent's. */
static void io_drop_all(int child)
{
	for (unsigned i = 0; i < ncreated; i++) {
		if (!cores[i].io)
			continue;
		if (child && cores[i].saved.ops)
			cores[i].saved.ops->close(cores[i].saved.io);
		else if (!child)
			rs_core_io_close(cores[i].rc);
		cores[i].io = 0;
		cores[i].wait_fd = -1;
	}
}

static void fork_parent(void)
{
	io_drop_all(0);
	fork_unlock();
}

static void fork_child(void)
{
	rs_lock_init(); /* the stack's shared locks: this process's id */
	fork_unlock();
	mypid = getpid();
	forked = 1;
	if (stack)
		proc_register(mypid, getppid());
	io_drop_all(1);
	for (unsigned i = 0; i < ncreated; i++) {
		cores[i].owned = 0;
		cores[i].driver = NULL;
	}
	if (me) { /* the forking thread: a core of its own at its next call */
		me->core = NULL;
		shim_real.close(me->efd);
		me->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	shm = NULL;
	if (stack) {
		int err = 0;
		shm = rs_shm_create(NULL, conf.ncores, 0, &err);
	}
}

/* RS_TEST_DIE_AT=POINT (tests only): the first fork() child of the stack
 * that reaches test point POINT (RS_TEST_POINT in the stack) dies there
 * with SIGKILL, as if killed at that instant; the others go on. */
static void test_die(const char *where)
{
	if (forked && !strcmp(where, die_at) &&
	    __sync_bool_compare_and_swap(&slots->test_died, 0, 1))
		raise(SIGKILL);
}

__attribute__((constructor)) static void shim_init(void)
{
	shim_real_init();
	mypid = getpid();
	for (unsigned k = 0; k < SHIM_SLOTS; k++)
		slot_efd[k] = -1;
	shim_conf();
	if (!shim_active)
		return;
	slots = mmap(NULL, sizeof(*slots), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		fprintf(stderr, "refstack-preload: shared page: %s\n", strerror(errno));
		_exit(2);
	}
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
	die_at = getenv("RS_TEST_DIE_AT");
	if (die_at && *die_at) {
		die_at = strdup(die_at); /* nginx's workers overwrite the environment */
		if (die_at)
			rs_test_point = test_die;
	}
}

/* ---- one warning per unsupported call ------------------------------------- */

int shim_unsupported(const char *call, const char *what, int err)
{
	static const char *seen[64];
	static unsigned nseen;
	unsigned i;
	int first = 0;

	shim_lock_take();
	for (i = 0; i < nseen && strcmp(seen[i], call); i++)
		;
	if (i == nseen && nseen < RS_ARRAY_LEN(seen)) {
		seen[nseen++] = call;
		first = 1;
	}
	shim_lock_drop();
	if (first)
		fprintf(stderr, "refstack-preload: %s: %s on a refstack socket (%s); "
			"further uses fail the same way silently\n",
			call, what, strerror(err));
	return shim_err(err);
}
