/* Shared scaffolding of the refstack apps (rs-httpd, rs-fetch, rs-crrd):
 * a stack of one or --cores N cores on the afpacket backend (one socket
 * per core in one fanout group, joined in core order, one thread per
 * core) with statistics published for rsctl, the poll/sleep loop and a
 * table-driven command line.  Header-only (static inline) because the
 * build makes one binary per C file in apps/. */
#ifndef RS_APP_H
#define RS_APP_H

#include "../include/refstack.h"
#include "../src/io.h"
#include "../src/stats_shm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- command line: one table per app drives parsing and --help ------- */

enum { APP_FLAG, APP_LONG, APP_STR };

struct app_opt {
	const char *name;     /* "--port" */
	int type;
	void *dst;            /* long * or const char ** */
	const char *help;
};

static inline void app_usage(const char *prog, const char *args,
			     const struct app_opt *t, size_t n, FILE *f)
{
	fprintf(f, "usage: %s [options] %s\n", prog, args);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-14s %s\n", t[i].name, t[i].help);
}

/* Parses argv ("--name value" or "--name=value"); positional arguments
 * are collected into pos[] (max npos).  Returns the number of
 * positionals, or -1 after printing an error. */
static inline int app_parse(int argc, char **argv, const struct app_opt *t,
			    size_t n, const char *args, char **pos, int npos)
{
	int np = 0, i;
	for (i = 1; i < argc; i++) {
		size_t k = 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			app_usage(argv[0], args, t, n, stdout);
			exit(0);
		}
		if (argv[i][0] != '-') {
			if (np >= npos)
				goto bad;
			pos[np++] = argv[i];
			continue;
		}
		const char *eq = strchr(argv[i], '=');
		size_t nl = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
		while (k < n && (strncmp(argv[i], t[k].name, nl) != 0 ||
				 t[k].name[nl] != '\0'))
			k++;
		if (k == n)
			goto bad;
		if (t[k].type == APP_FLAG) {
			if (eq)
				goto bad;
			*(long *)t[k].dst = 1;
			continue;
		}
		if (!eq && i + 1 >= argc)
			goto bad;
		const char *v = eq ? eq + 1 : argv[++i];
		if (t[k].type == APP_STR) {
			*(const char **)t[k].dst = v;
			continue;
		}
		char *end;
		long x = strtol(v, &end, 0);
		if (*end || end == v) {
			fprintf(stderr, "%s: %s: bad number '%s'\n", argv[0], t[k].name, v);
			return -1;
		}
		*(long *)t[k].dst = x;
	}
	return np;
bad:
	fprintf(stderr, "%s: bad or incomplete argument '%s'\n", argv[0],
		argv[i < argc ? i : argc - 1]);
	app_usage(argv[0], args, t, n, stderr);
	return -1;
}

/* ---- the stack --------------------------------------------------------- */

struct app_net {
	const char *io;       /* backend name (rs_io_find), default afpacket */
	const char *ifname;   /* interface spec with the backend's options */
	const char *ip;
	long prefix;
	long time_wait_ms;
	long rcvbuf, sndbuf;
	long no_stats;
	const char *features; /* feature set; NULL: RS_FEATURES, else base */
	long busy_poll_us;    /* spin this long before sleeping, -1 = default */
	long cores;           /* stack cores, one thread each (default 1) */
	long syncookies;      /* RS_SYNCOOKIES_*, -1 = the stack's default */
	const char *cc;       /* congestion control; NULL: RS_CC, else reno */
};

#define APP_MAX_CORES 16
#define APP_NET_INIT { .prefix = 24, .busy_poll_us = -1, .cores = 1, .syncookies = -1 }

#define APP_NET_OPTS(n)                                                      \
	{ "--io", APP_STR, &(n).io, "packet I/O backend: afpacket (default) or afxdp" }, \
	{ "--if", APP_STR, &(n).ifname, "interface with backend options (e.g. rs-x-s0,batch=32)" }, \
	{ "--ip", APP_STR, &(n).ip, "the stack's IPv4 address (default 198.18.20.2)" }, \
	{ "--prefix", APP_LONG, &(n).prefix, "netmask length (default 24)" }, \
	{ "--time-wait-ms", APP_LONG, &(n).time_wait_ms, "TIME_WAIT duration (default: stack's)" }, \
	{ "--rcvbuf", APP_LONG, &(n).rcvbuf, "socket receive buffer bytes" }, \
	{ "--sndbuf", APP_LONG, &(n).sndbuf, "socket send buffer bytes" }, \
	{ "--no-stats", APP_FLAG, &(n).no_stats, "do not publish /dev/shm/refstack.<pid>" }, \
	{ "--features", APP_STR, &(n).features, "feature set: base, full or a list of listen,estab,rfd,fastfd (default: $RS_FEATURES, else base)" }, \
	{ "--busy-poll", APP_LONG, &(n).busy_poll_us, "us to spin for a frame before sleeping (default 50, 0 = off)" }, \
	{ "--cores", APP_LONG, &(n).cores, "stack cores, one thread and one fanout socket each (default 1)" }, \
	{ "--syncookies", APP_LONG, &(n).syncookies, "SYN cookies as Linux's tcp_syncookies: 0 never, 1 when a listener's SYN backlog is full (default), 2 always" }, \
	{ "--cc", APP_STR, &(n).cc, "congestion control: reno or bbr (default: $RS_CC, else reno)" }

struct app {
	struct rs_stack *stack;
	struct rs_core *core;
	struct rs_shm *shm;
	uint64_t busy_ns;
	/* with --cores > 1: the other cores hand frames (and parked
	 * connections) to this one and write efd while it sleeps */
	int efd;
	int asleep;
};

/* Default busy-poll budget (see app_idle and BENCH-NOTES-afpacket.md). */
#define APP_BUSY_POLL_US 50

static volatile sig_atomic_t app_stop;

static inline void app_on_signal(int sig)
{
	(void)sig;
	app_stop = 1;
}

static inline void app_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --features over RS_FEATURES over base. */
static inline int app_features(const struct app_net *n, struct rs_stack_conf *c,
			       const char *prog)
{
	char err[300];
	if (n->features) {
		if (rs_features_parse(n->features, &c->features, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "%s: --features: %s\n", prog, err);
		return -1;
	}
	if (rs_features_from_env(&c->features, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "%s: %s\n", prog, err);
	return -1;
}

/* --cc over RS_CC over the stack's default. */
static inline int app_cc(const struct app_net *n, struct rs_stack_conf *c,
			 const char *prog)
{
	char err[240];
	if (n->cc ? rs_cc_parse(n->cc, &c->cc, err, sizeof(err))
		  : rs_cc_from_env(&c->cc, err, sizeof(err))) {
		fprintf(stderr, "%s: %s%s\n", prog, n->cc ? "--cc: " : "", err);
		return -1;
	}
	return 0;
}

static inline int app_conf(const struct app_net *n, struct rs_stack_conf *c,
			   const char *prog)
{
	rs_stack_conf_init(c);
	if (inet_pton(AF_INET, n->ip ? n->ip : "198.18.20.2", &c->addr) != 1 ||
	    n->prefix < 1 || n->prefix > 30) {
		fprintf(stderr, "%s: bad --ip/--prefix\n", prog);
		return -1;
	}
	c->netmask.s_addr = htonl(~0u << (32 - n->prefix));
	if (n->time_wait_ms > 0)
		c->time_wait_ns = (uint64_t)n->time_wait_ms * 1000000u;
	if (n->rcvbuf > 0)
		c->rcvbuf = (uint32_t)n->rcvbuf;
	if (n->sndbuf > 0)
		c->sndbuf = (uint32_t)n->sndbuf;
	if (n->syncookies > RS_SYNCOOKIES_ALWAYS) {
		fprintf(stderr, "%s: --syncookies %ld: 0, 1 or 2\n", prog, n->syncookies);
		return -1;
	}
	if (n->syncookies >= 0)
		c->syncookies = (uint32_t)n->syncookies;
	if (app_cc(n, c, prog) != 0)
		return -1;
	return app_features(n, c, prog);
}

/* The stack's kick hook (kick_arg: the cores' apps): a frame or a
 * parked connection waits on core `core`; wake its thread if it sleeps.
 * Without it the owner of a connection whose frames all land elsewhere
 * sees them only when its own timers wake it (up to the idle cap, 50 ms),
 * which a rate-based sender (bbr) takes for the path's bandwidth. */
static inline void app_kick(void *arg, unsigned core)
{
	struct app *t = ((struct app **)arg)[core];
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the frame before asleep */
	if (t->efd >= 0 && __atomic_exchange_n(&t->asleep, 0, __ATOMIC_SEQ_CST) &&
	    write(t->efd, &one, sizeof(one)) < 0) {
		/* counter full: the thread wakes anyway */
	}
}

/* Destroy the cores of a[0..n-1] (last first), their stack and the
 * statistics segment. */
static inline void app_close_cores(struct app **a, unsigned n)
{
	for (unsigned k = n; k-- > 0;)
		if (a[k]->core)
			rs_core_destroy(a[k]->core);
	for (unsigned k = 0; k < n; k++)
		if (a[k]->efd >= 0) {
			close(a[k]->efd);
			a[k]->efd = -1;
		}
	if (a[0]->stack)
		rs_stack_destroy(a[0]->stack);
	rs_shm_destroy(a[0]->shm);
	for (unsigned k = 0; k < n; k++)
		memset(a[k], 0, sizeof(*a[k]));
}

static inline void app_close(struct app *a)
{
	app_close_cores(&a, 1);
}

static inline int app_check(const struct app_net *n, unsigned ncores,
			    const struct rs_io_ops *ops, const char *prog)
{
	if (!n->ifname) {
		fprintf(stderr, "%s: --if INTERFACE is required\n", prog);
		return -1;
	}
	if (!ops || strcmp(ops->name, "memif") == 0) {
		fprintf(stderr, "%s: --io %s: unknown backend (afpacket, afxdp)\n",
			prog, n->io);
		return -1;
	}
	if (n->busy_poll_us > 1000000) {
		fprintf(stderr, "%s: --busy-poll %ld: at most 1000000 us\n", prog,
			n->busy_poll_us);
		return -1;
	}
	if (ncores < 1 || ncores > APP_MAX_CORES) {
		fprintf(stderr, "%s: --cores %ld: 1 to %d\n", prog, n->cores,
			APP_MAX_CORES);
		return -1;
	}
	return 0;
}

/* One stack of n cores: a[k] gets core k (created in index order, so the
 * afpacket fanout's member k is core k), all share the stack and a[0]
 * holds the statistics segment. */
static inline int app_open_cores(struct app **a, unsigned n,
				 const struct app_net *net, const char *prog)
{
	struct rs_stack_conf c;
	struct rs_io_conf io = { .ifname = net->ifname, .nqueues = n,
		.fanout_id = n > 1 ? ((unsigned)getpid() & 0xffffu) : 0 };
	const struct rs_io_ops *ops = rs_io_find(net->io ? net->io : "afpacket");
	struct rs_shm *shm = NULL;
	struct rs_stack *stack;
	int err = 0;
	for (unsigned k = 0; k < n; k++) {
		memset(a[k], 0, sizeof(*a[k]));
		a[k]->efd = -1;
	}
	if (app_check(net, n, ops, prog) < 0 || app_conf(net, &c, prog) < 0)
		return -1;
	c.ncores = n;
	for (unsigned k = 0; k < n && n > 1; k++) {
		a[k]->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (a[k]->efd < 0) {
			fprintf(stderr, "%s: core %u: eventfd: %s\n", prog, k, strerror(errno));
			app_close_cores(a, n);
			return -1;
		}
	}
	if (n > 1) {
		c.kick = app_kick;
		c.kick_arg = a;
	}
	if (!net->no_stats) {
		shm = rs_shm_create(NULL, c.ncores, 0, &err);
		if (!shm) {
			fprintf(stderr, "%s: statistics segment: %s\n", prog, strerror(-err));
			return -1;
		}
		c.stats_publish = 1;
		c.publish = rs_shm_publish;
		c.publish_arg = shm;
	}
	stack = rs_stack_create(&c, &err);
	a[0]->shm = shm;
	a[0]->stack = stack;
	for (unsigned k = 0; k < n && stack; k++) {
		a[k]->stack = stack;
		a[k]->busy_ns = (uint64_t)(net->busy_poll_us < 0 ? APP_BUSY_POLL_US
							      : net->busy_poll_us) * 1000u;
		io.queue = k;
		a[k]->core = rs_core_create(stack, k, ops, &io, &err);
		if (a[k]->core)
			continue;
		if (rs_io_why()[0])
			fprintf(stderr, "%s: core %u: %s\n", prog, k, rs_io_why());
		else
			fprintf(stderr, "%s: core %u: %s on %s: %s\n", prog, k, ops->name,
				net->ifname, strerror(-err));
		app_close_cores(a, n);
		return -1;
	}
	if (!stack) {
		fprintf(stderr, "%s: stack on %s: %s\n", prog, net->ifname, strerror(-err));
		app_close_cores(a, n);
		return -1;
	}
	return 0;
}

static inline int app_open(struct app *a, const struct app_net *n,
			   const char *prog)
{
	if (n->cores != 1) {
		fprintf(stderr, "%s: --cores %ld: this program runs one core\n", prog,
			n->cores);
		return -1;
	}
	return app_open_cores(&a, 1, n, prog);
}

/* fn(arg[k]) for k = 1..n-1 in threads of their own and fn(arg[0]) in the
 * caller's; returns when all are done (-1 if a thread did not start). */
static inline int app_run_cores(unsigned n, void *(*fn)(void *), void **arg)
{
	pthread_t th[APP_MAX_CORES];
	unsigned started = 1;
	int rc = 0;
	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, fn, arg[started]) != 0) {
			rc = -1;
			app_stop = 1;
			break;
		}
	fn(arg[0]);
	for (unsigned k = 1; k < started; k++)
		pthread_join(th[k], NULL);
	return rc;
}

/* One loop turn: poll the stack; returns frames received or -1. */
static inline int app_poll(struct app *a)
{
	return rs_poll(a->core, rs_clock_ns());
}

static inline void app_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Spin until a frame is waiting, the next timer is due or the budget is
 * spent; 1 if the caller should poll now. */
static inline int app_spin(struct app *a, uint64_t at, uint64_t *now)
{
	uint64_t end = *now + a->busy_ns;
	if (at < end)
		end = at;
	while (*now < end) {
		if (rs_core_rx_pending(a->core) || !rs_poll_at(a->core))
			return 1;
		app_cpu_relax();
		*now = rs_clock_ns();
	}
	return at <= *now;
}

/* Sleep on the backend until traffic, the next timer or cap_ms; first
 * spin up to the busy-poll budget (at low load the next frame is usually
 * there within tens of microseconds, and a wake-up costs more). */
static inline void app_idle(struct app *a, int cap_ms)
{
	uint64_t at = rs_poll_at(a->core), now = rs_clock_ns();
	int ms = cap_ms;
	if (a->busy_ns && app_spin(a, at, &now))
		return;
	/* asleep before the last look at the hand-off queue (app_kick
	 * reads it after queueing) */
	__atomic_store_n(&a->asleep, 1, __ATOMIC_SEQ_CST);
	at = rs_poll_at(a->core);
	if (at != UINT64_MAX) {
		uint64_t d = at > now ? (at - now + 999999) / 1000000 : 0;
		if (d < (uint64_t)ms)
			ms = (int)d;
	}
	struct pollfd p[2] = {
		{ .fd = rs_core_wait_fd(a->core), .events = POLLIN },
		{ .fd = a->efd, .events = POLLIN },
	};
	if (ms > 0 && p[0].fd >= 0)
		poll(p, a->efd >= 0 ? 2 : 1, ms);
	__atomic_store_n(&a->asleep, 0, __ATOMIC_SEQ_CST);
	uint64_t v;
	if ((p[1].revents & POLLIN) && read(a->efd, &v, sizeof(v)) < 0) {
		/* taken already: nothing to clear */
	}
}

static inline int app_parse_addr(const char *s, uint16_t defport,
				 struct sockaddr_in *sa)
{
	char host[64];
	size_t hl = strcspn(s, ":/");
	const char *colon = s[hl] == ':' ? s + hl : NULL;
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(defport);
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (p < 1 || p > 65535 || (*end && *end != '/'))
			return -1;
		sa->sin_port = htons((uint16_t)p);
	}
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

#endif
