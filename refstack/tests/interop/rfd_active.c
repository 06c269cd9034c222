/* Active connections from a multi-core refstack on afpacket: core k's
 * thread opens CONNS crr connections (64 bytes out, 64 back, the server
 * closes) to a Linux server, one after the other.  Prints per core the
 * connections completed and the counters of where the replies landed, and
 * whether every source port was of the core's RFD class (port & (R-1) =
 * k).  With rfd the fanout's classic-BPF program must put every reply on
 * the core that connected (steer_away = 0); without it the 4-tuple hash
 * spreads them and the software hand-off moves the others.  The last
 * line, elapsed_s=, is the wall time of the connections (bench/rfd-active.sh).
 * IF "afxdp:SPEC" runs on the afxdp backend instead (SPEC as --if takes it,
 * e.g. veth0,steer=xdp); each core's line then ends with its XDP program's
 * counters (xdp_rss, xdp_away, xdp_steered).
 *
 *   rfd_active IF LOCAL_IP PEER_IP PORT NCORES FEATURES CONNS */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../include/refstack.h"
#include "../../src/io.h"
#include "../../src/io_afxdp.h"

struct worker {
	struct rs_core *core;
	unsigned index, rmask;
	struct sockaddr_in peer;
	long conns;
	long ok, failed, in_class;
};

/* One poll step; when nothing came, spin up to 50 us for a frame (as the
 * apps' busy-poll), then sleep up to 1 ms on the packet socket. */
static void step(struct rs_core *c)
{
	struct pollfd p = { .fd = rs_core_wait_fd(c), .events = POLLIN };
	uint64_t end;

	if (rs_poll(c, rs_clock_ns()) > 0 || rs_poll_at(c) == 0)
		return;
	for (end = rs_clock_ns() + 50000; rs_clock_ns() < end;)
		if (rs_core_rx_pending(c))
			return;
	poll(&p, 1, 1);
}

/* One connection; 1 if the whole exchange completed. */
static int crr(struct worker *w)
{
	struct rs_core *c = w->core;
	char buf[256] = {0};
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd = rs_socket(c, AF_INET, SOCK_STREAM, 0), got = 0, sent = 0;
	uint64_t end = rs_clock_ns() + 3000000000ull;

	if (fd < 0)
		return 0;
	if (rs_connect(c, fd, (struct sockaddr *)&w->peer, sizeof(w->peer)) < 0 &&
	    errno != EINPROGRESS) {
		rs_close(c, fd);
		return 0;
	}
	if (rs_getsockname(c, fd, (struct sockaddr *)&me, &len) == 0 &&
	    (ntohs(me.sin_port) & w->rmask) == w->index)
		w->in_class++;
	while (rs_clock_ns() < end) {
		step(c);
		if (!sent) {
			ssize_t n = rs_send(c, fd, buf, 64, 0);
			if (n == 64)
				sent = 1;
			else if (n < 0 && errno != EAGAIN)
				break;
			continue;
		}
		ssize_t n = rs_recv(c, fd, buf, sizeof(buf), 0);
		if (n > 0)
			got += (int)n;
		else if (n == 0 || errno != EAGAIN)
			break;
	}
	rs_close(c, fd);
	return sent && got == 64;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->conns; i++) {
		if (crr(w))
			w->ok++;
		else
			w->failed++;
	}
	/* the last FINs and ACKs */
	for (uint64_t t = rs_clock_ns() + 200000000ull; rs_clock_ns() < t;)
		step(w->core);
	return NULL;
}

int main(int argc, char **argv)
{
	struct rs_stack_conf conf;
	struct rs_stack *s;
	struct worker w[8];
	pthread_t th[8];
	char err[300];
	long n, conns;
	int e = 0, bad = 0;
	const char *ifname = argv[1];
	const struct rs_io_ops *ops = &rs_io_afpacket;

	if (argc != 8 || (n = atol(argv[5])) < 1 || n > 8 || (conns = atol(argv[7])) < 1) {
		fprintf(stderr, "usage: rfd_active IF LOCAL_IP PEER_IP PORT NCORES(1-8) FEATURES CONNS\n");
		return 2;
	}
	if (strncmp(ifname, "afxdp:", 6) == 0) {
		ifname += 6;
		ops = &rs_io_afxdp;
	}
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, argv[2], &conf.addr);
	conf.netmask.s_addr = htonl(0xffffff00u);
	conf.ncores = (uint32_t)n;
	conf.time_wait_ns = 1000000000ull;
	if (rs_features_parse(argv[6], &conf.features, err, sizeof(err)) != 0) {
		fprintf(stderr, "rfd_active: %s\n", err);
		return 2;
	}
	s = rs_stack_create(&conf, &e);
	if (!s) {
		fprintf(stderr, "rfd_active: stack: %s\n", strerror(-e));
		return 1;
	}
	for (long k = 0; k < n; k++) {
		struct rs_io_conf io = { .ifname = ifname, .queue = (unsigned)k,
			.nqueues = (unsigned)n, .fanout_id = (unsigned)getpid() & 0xffffu };
		memset(&w[k], 0, sizeof(w[k]));
		w[k].core = rs_core_create(s, (unsigned)k, ops, &io, &e);
		if (!w[k].core) {
			fprintf(stderr, "rfd_active: core %ld: %s\n", k, strerror(-e));
			return 1;
		}
		w[k].index = (unsigned)k;
		for (w[k].rmask = 1; w[k].rmask < (unsigned)n; w[k].rmask <<= 1)
			;
		w[k].rmask--;
		w[k].conns = conns;
		w[k].peer.sin_family = AF_INET;
		w[k].peer.sin_port = htons((uint16_t)atoi(argv[4]));
		inet_pton(AF_INET, argv[3], &w[k].peer.sin_addr);
	}
	uint64_t t0 = rs_clock_ns();
	for (long k = 0; k < n; k++)
		pthread_create(&th[k], NULL, run, &w[k]);
	for (long k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	printf("elapsed_s=%.3f\n", (double)(rs_clock_ns() - t0) / 1e9);
	for (long k = 0; k < n; k++) {
		const struct rs_core_counters *c = rs_core_counters(w[k].core);
		printf("core%ld ok=%ld failed=%ld in_class=%ld steer_home=%llu steer_away=%llu "
		       "handoffs=%llu handoff_rx=%llu port_fallback=%llu io_errors=%llu",
		       k, w[k].ok, w[k].failed, w[k].in_class,
		       (unsigned long long)c->steer_home, (unsigned long long)c->steer_away,
		       (unsigned long long)c->xcore_handoffs, (unsigned long long)c->handoff_rx,
		       (unsigned long long)c->steer_port_fallback,
		       (unsigned long long)c->steer_io_errors);
		if (ops == &rs_io_afxdp) {
			struct rs_afxdp_stats st;

			rs_afxdp_stats(rs_core_io(w[k].core).io, &st);
			printf(" xdp_rss=%llu xdp_away=%llu xdp_steered=%llu",
			       (unsigned long long)st.xdp_rss, (unsigned long long)st.xdp_away,
			       (unsigned long long)st.xdp_steered);
		}
		printf("\n");
		bad |= w[k].failed != 0;
	}
	for (long k = n; k-- > 0;)
		rs_core_destroy(w[k].core);
	rs_stack_destroy(s);
	return bad;
}
