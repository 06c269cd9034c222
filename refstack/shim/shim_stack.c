/* The process's stack: configuration from the environment (RS_IF, RS_IP,
 * RS_FEATURES, RS_CORES, RS_GATEWAY), created at the first socket call;
 * its cores, one per program thread that makes socket calls; the
 * statistics segment rsctl reads; fork.
 *
 * Fork, until the stack's shared-memory arena exists: the stack's state
 * is private memory, so after fork() only one process may drive it.  The
 * first process that makes a stack call after the fork owns it (a word in
 * a shared page mapped at start-up decides, atomically): nginx's master
 * listens, forks one worker and never touches a socket again, so the
 * worker takes the stack over.  Any other process then gets EIO and one
 * warning on stack calls (close still works). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/io.h"
#include "../src/stats_shm.h"
#include "shim.h"

pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
int shim_active;

static struct rs_stack_conf conf;
static const char *ifname;
static struct rs_stack *stack;
static struct shim_core cores[64];
static unsigned ncreated, next_shared;
static int stack_failed;
static struct rs_shm *shm;
static volatile int *owner;      /* shared page: pid that drives the stack */
static pid_t mypid;
static unsigned fanout_id;
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
	rs_stack_conf_init(&conf);
	/* as Linux: the listen backlog bounds the SYN queue, not a stack cap */
	conf.syn_backlog = 65535;
	/* servers hold many idle connections: Linux's default receive buffer
	 * (tcp_rmem 128 KiB; rings are allocated at first use) and a budget
	 * that 10,000 connections fit in */
	conf.rcvbuf = 128 * 1024;
	conf.max_buf_bytes = UINT32_MAX;
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
	if (rs_features_from_env(&conf.features, err, sizeof(err)) < 0) {
		fprintf(stderr, "refstack-preload: %s\n", err);
		_exit(2);
	}
	v = getenv("RS_CORES");
	if (v && *v) {
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 64)
			die("RS_CORES", v, "want 1..64");
		conf.ncores = (unsigned)n;
	}
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

static void on_kick(void *arg, unsigned core)
{
	(void)arg;
	if (core < RS_ARRAY_LEN(cores))
		shim_kick(cores[core].driver);
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

static void drain(void)
{
	uint64_t end = rs_clock_ns() + SHIM_DRAIN_NS;
	int busy;

	shim_fd_close_stack();
	do {
		busy = 0;
		for (unsigned i = 0; i < ncreated; i++) {
			shim_poll(&cores[i]);
			busy |= rs_core_foreach_socket(cores[i].rc, sock_busy, NULL);
		}
		if (busy) {
			struct pollfd p[64];
			for (unsigned i = 0; i < ncreated; i++)
				p[i] = (struct pollfd){ .fd = cores[i].wait_fd, .events = POLLIN };
			shim_real.poll(p, ncreated, 1);
		}
	} while (busy && rs_clock_ns() < end);
}

static void at_exit(void)
{
	shim_lock_take();
	if (stack && !stack_failed && !shim_disowned())
		drain();
	stack_failed = 1; /* calls still made by other threads fail */
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
	stack = rs_stack_create(&conf, &err);
	if (!stack) {
		fprintf(stderr, "refstack-preload: stack on %s: %s\n", ifname, strerror(-err));
		return -1;
	}
	fanout_id = (unsigned)getpid() & 0xffffu;
	return 0;
}

static struct shim_core *core_for_thread(void)
{
	struct rs_io_conf io = { .ifname = ifname, .nqueues = conf.ncores,
				 .ring_frames = 16384, /* a burst of 10,000 SYNs fits */
				 .fanout_id = conf.ncores > 1 ? fanout_id : 0 };
	struct shim_core *c;
	int err = 0;

	for (unsigned i = 0; i < ncreated; i++)
		if (!cores[i].driver)
			return &cores[i];
	if (ncreated == conf.ncores) /* more threads than cores: share */
		return &cores[next_shared++ % conf.ncores];
	c = &cores[ncreated];
	io.queue = ncreated;
	c->rc = rs_core_create(stack, ncreated, &rs_io_afpacket, &io, &err);
	if (!c->rc) {
		fprintf(stderr, "refstack-preload: core %u on %s (afpacket): %s\n",
			ncreated, ifname, strerror(-err));
		return NULL;
	}
	c->index = ncreated++;
	c->wait_fd = rs_core_wait_fd(c->rc);
	return c;
}

int shim_disowned(void)
{
	pid_t o = owner ? *owner : mypid;

	if (o == mypid)
		return 0;
	/* first stack call since fork: take the stack if its owner is our
	 * parent and it has not made one itself */
	if (o == getppid() && __sync_bool_compare_and_swap(owner, o, mypid)) {
		int err = 0;
		if (stack && !shm)
			shm = rs_shm_create(NULL, conf.ncores, 0, &err);
		return 0;
	}
	return 1;
}

struct shim_thread *shim_self(void)
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
	if (shim_disowned()) {
		shim_unsupported("fork", "the stack moved to another process after fork(): "
				 "more than one forked worker needs the stack's shared arena", EIO);
		return NULL;
	}
	if (!stack && !stack_failed && stack_start() < 0)
		stack_failed = 1;
	if (stack_failed)
		return shim_err(EIO), NULL;
	if (!me->core) {
		me->core = core_for_thread();
		if (!me->core)
			return shim_err(EIO), NULL;
	}
	return me;
}

/* A thread drives the core it waits on: the first thread that sleeps on
 * a driverless core takes it; one that finds its core driven by another
 * moves to a driverless (or new) core if there is one.  So a thread that
 * only makes sockets (tsload's main thread) never holds a core nobody
 * polls. */
void shim_claim(struct shim_thread *t)
{
	struct shim_core *c;

	if (t->core->driver == t)
		return;
	if (!t->core->driver) {
		t->core->driver = t;
		return;
	}
	c = core_for_thread();
	if (c && !c->driver) {
		t->core = c;
		c->driver = t;
	}
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
	int n = rs_poll(c->rc, rs_clock_ns());

	if (n < 0 && !warned) {
		warned = 1;
		fprintf(stderr, "refstack-preload: core %u: packet I/O failed: %s\n",
			c->index, strerror(errno));
	}
	return n;
}

void shim_after(struct shim_sock *s)
{
	if (me && s->core != me->core && rs_poll_at(s->core->rc) == 0)
		shim_poll(s->core);
}

void shim_kick(struct shim_thread *t)
{
	uint64_t one = 1;

	if (!t || t == me || t->kicked)
		return;
	t->kicked = 1;
	if (shim_real.write(t->efd, &one, sizeof(one)) < 0) {
		/* counter full: the thread is awake anyway */
	}
}

/* ---- fork ------------------------------------------------------------------ */

static void fork_prepare(void) { shim_lock_take(); }
static void fork_parent(void) { shim_lock_drop(); }

static void fork_child(void)
{
	pthread_mutex_init(&shim_lock, NULL);
	mypid = getpid();
	/* the forking thread is the only one left: free the others' cores */
	for (unsigned i = 0; i < ncreated; i++)
		if (cores[i].driver != me)
			cores[i].driver = NULL;
	shm = NULL; /* made when this process takes the stack over */
}

__attribute__((constructor)) static void shim_init(void)
{
	shim_real_init();
	mypid = getpid();
	shim_conf();
	if (!shim_active)
		return;
	owner = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (owner == MAP_FAILED)
		owner = NULL;
	else
		*owner = mypid;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
}

/* ---- one warning per unsupported call ------------------------------------- */

int shim_unsupported(const char *call, const char *what, int err)
{
	static const char *seen[64];
	static unsigned nseen;
	unsigned i;

	for (i = 0; i < nseen && strcmp(seen[i], call); i++)
		;
	if (i == nseen && nseen < RS_ARRAY_LEN(seen)) {
		seen[nseen++] = call;
		fprintf(stderr, "refstack-preload: %s: %s on a refstack socket (%s); "
			"further uses fail the same way silently\n",
			call, what, strerror(err));
	}
	return shim_err(err);
}
