/* One server stack in a shared arena, its two cores run by two forked
 * processes (as nginx's workers will be), a two-core client stack in the
 * parent; each server core on its own memif pair (rings in the arena).
 * Connections go through both cores: frames landing on the core that does
 * not own the listener are handed across processes.  At the end the
 * arena's allocator is back to zero bytes in use: nothing leaked. */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/t.h"
#include "lib/tb.h"

#define CONNS 200

struct control {
	int stop[2];
	int ready[2];
	uint64_t accepted[2], handoffs[2], handoff_rx[2];
	int errors[2];
};

static struct control *ctl;

static void serve(struct rs_stack *s, struct rs_memif_pair *pair, unsigned k)
{
	struct rs_io_conf io = {.peer = pair, .queue = 1};
	struct sockaddr_in any = tb_addr("0.0.0.0", 80);
	struct rs_core *c;
	int err = 0, lfd = -1, fds[64], n = 0;
	char buf[16];

	c = rs_core_create(s, k, &rs_io_memif, &io, &err);
	if (!c) {
		ctl->errors[k]++;
		_exit(1);
	}
	if (k == 0) {
		lfd = rs_socket(c, AF_INET, SOCK_STREAM, 0);
		if (rs_bind(c, lfd, (struct sockaddr *)&any, sizeof(any)) ||
		    rs_listen(c, lfd, 64))
			ctl->errors[k]++;
	}
	__atomic_store_n(&ctl->ready[k], 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ctl->stop[k], __ATOMIC_ACQUIRE)) {
		int fd;
		if (rs_poll(c, rs_clock_ns()) == 0 && rs_poll_at(c))
			sched_yield(); /* three processes share two CPUs */
		while (lfd > 0 && n < 64 && (fd = rs_accept(c, lfd, NULL, NULL)) > 0)
			fds[n++] = fd;
		for (int i = 0; i < n; i++) {
			ssize_t r = rs_recv(c, fds[i], buf, sizeof(buf), 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r == 4 && memcmp(buf, "ping", 4) == 0) {
				rs_send(c, fds[i], "pong", 4, 0);
				ctl->accepted[k]++;
			} else {
				ctl->errors[k]++;
			}
			rs_close(c, fds[i]);
			fds[i--] = fds[--n];
		}
	}
	rs_poll(c, rs_clock_ns()); /* what the other core handed over last */
	ctl->handoffs[k] = rs_core_counters(c)->xcore_handoffs;
	ctl->handoff_rx[k] = rs_core_counters(c)->handoff_rx;
	if (lfd > 0)
		rs_close(c, lfd);
	rs_core_destroy(c);
	_exit(0);
}

static void polls(struct rs_core **cc)
{
	uint64_t now = rs_clock_ns();
	if (rs_poll(cc[0], now) + rs_poll(cc[1], now) == 0)
		sched_yield();
}

/* One connection from client core i; 1 if "pong" then EOF came back. */
static int crr(struct rs_core **cc, unsigned i)
{
	struct sockaddr_in dst = tb_addr(TB_SERVER_IP, 80);
	struct rs_core *c = cc[i];
	int fd = rs_socket(c, AF_INET, SOCK_STREAM, 0), sent = 0, got = 0;
	uint64_t end = rs_clock_ns() + 3000000000ull;
	char buf[16];

	rs_connect(c, fd, (struct sockaddr *)&dst, sizeof(dst));
	while (rs_clock_ns() < end) {
		ssize_t r;
		polls(cc);
		if (!sent && rs_send(c, fd, "ping", 4, 0) == 4)
			sent = 1;
		r = rs_recv(c, fd, buf + got, sizeof(buf) - (size_t)got, 0);
		if (r > 0)
			got += (int)r;
		else if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
	}
	rs_close(c, fd);
	polls(cc);
	return got == 4 && memcmp(buf, "pong", 4) == 0;
}

int main(void)
{
	struct rs_stack_conf conf, cconf;
	struct rs_arena *a;
	struct rs_stack *ss, *cs;
	struct rs_memif_pair *pair[2];
	struct rs_core *cc[2];
	pid_t pid[2];
	int err = 0, ok = 0, st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	a = rs_arena_create_shared(256u << 20, &err);
	T_CHECK(a && ctl != MAP_FAILED, "shared arena of 256 MiB mapped");
	if (!a || ctl == MAP_FAILED)
		return t_summary();
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	conf.ncores = 2;
	conf.arena = a;
	conf.max_conns = conf.max_sockets = 1024;
	conf.max_time_wait = 1024;
	conf.hash_buckets = 1024;
	ss = rs_stack_create(&conf, &err);
	pair[0] = rs_memif_pair_create_in(a, 256, 2048);
	pair[1] = rs_memif_pair_create_in(a, 256, 2048);
	T_CHECK(ss && pair[0] && pair[1] && rs_arena_in_use(a) > 0,
		"server stack and memif rings created in the arena");
	rs_stack_conf_init(&cconf);
	inet_pton(AF_INET, TB_CLIENT_IP, &cconf.addr);
	cconf.ncores = 2;
	cs = rs_stack_create(&cconf, &err);
	for (unsigned i = 0; i < 2; i++) {
		struct rs_io_conf io = {.peer = pair[i], .queue = 0};
		cc[i] = rs_core_create(cs, i, &rs_io_memif, &io, &err);
	}
	T_CHECK(cs && cc[0] && cc[1], "two-core client stack in the parent");
	fflush(stdout);
	for (unsigned k = 0; k < 2; k++) {
		pid[k] = fork();
		if (pid[k] == 0)
			serve(ss, pair[k], k);
	}
	for (int i = 0; i < 5000 && !(__atomic_load_n(&ctl->ready[0], __ATOMIC_ACQUIRE) &&
				      __atomic_load_n(&ctl->ready[1], __ATOMIC_ACQUIRE)); i++)
		usleep(1000);
	T_CHECK(ctl->ready[0] && ctl->ready[1],
		"each child attached as core k of the shared stack");
	for (int i = 0; i < CONNS; i++)
		ok += crr(cc, (unsigned)i % 2);
	for (unsigned k = 2; k-- > 0;) { /* core 1 (the one handing) first */
		__atomic_store_n(&ctl->stop[k], 1, __ATOMIC_RELEASE);
		if (waitpid(pid[k], &st, 0) != pid[k] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			ctl->errors[k]++;
	}
	T_CHECK(ok == CONNS, "%d of %d connections through both processes", ok,
		CONNS);
	T_CHECK(ctl->accepted[0] == CONNS && ctl->errors[0] == 0 &&
			ctl->errors[1] == 0,
		"core 0's process served them all, no error in either child");
	T_CHECK(ctl->handoffs[1] > 0 && ctl->handoff_rx[0] == ctl->handoffs[1],
		"core 1's process handed %llu frames to core 0's, all received",
		(unsigned long long)ctl->handoffs[1]);
	for (unsigned i = 0; i < 2; i++)
		rs_core_destroy(cc[i]);
	rs_stack_destroy(cs);
	rs_stack_destroy(ss);
	rs_memif_pair_destroy(pair[0]);
	rs_memif_pair_destroy(pair[1]);
	T_CHECK(rs_arena_in_use(a) == 0,
		"every block of the arena given back (%zu bytes left)",
		rs_arena_in_use(a));
	rs_arena_destroy(a);
	munmap(ctl, sizeof(*ctl));
	return t_summary();
}
