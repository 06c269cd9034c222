/* Virtual-core benchmark: two stacks of N cores each in one process
 * (tests/unit/lib/vc.h: every core on a memif pair, frames steered to a
 * core of the other stack as the I/O layer would), both with one feature
 * set, driven in turn by one thread with a virtual clock (10 us per
 * loop), C connections in flight, T in total (connect, request, response,
 * close).  passive: the measured stack listens and the other connects to
 * it; active: the measured stack connects out (as haproxy does) to a
 * listener on the other.  Prints, for the measured stack over the run:
 * shared-lock acquisitions (every lock_*_acquired), cross-core hand-offs,
 * global table lookups; bench/vcores.sh makes them per connection and
 * adds instructions per connection from callgrind (both stacks),
 * repeatable because time is virtual.
 *   vcores -s SET -N cores -m passive|active [-n T] [-c C] */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/unit/lib/vc.h"
#include "crr_app.h"

#define MAXC 1024
#define PORT 80
struct srv {
	int lfd;
	int conns[4096];
	int n;
};

static void server_step(struct rs_core *c, struct srv *s)
{
	char buf[256];
	int fd;

	while (s->n < 4096 && (fd = rs_accept(c, s->lfd, NULL, NULL)) > 0)
		s->conns[s->n++] = fd;
	for (int i = 0; i < s->n; i++) {
		ssize_t n = rs_recv(c, s->conns[i], buf, sizeof(buf), 0);
		if (n <= 0 && errno == EAGAIN)
			continue;
		if (n > 0)
			rs_send(c, s->conns[i], RESP, sizeof(RESP) - 1, 0);
		rs_close(c, s->conns[i]);
		s->conns[i--] = s->conns[--s->n];
	}
}

/* Poll a core only when it has work (a frame waiting, output, a timer
 * due), as an event loop sleeping on the core's wait fd would: idle
 * cores cost nothing per connection.  Non-zero if it was polled. */
static int busy_step(struct vc *v, int side, unsigned k)
{
	struct rs_core *c = v->sd[side].c[k];

	if (!v->sd[side].pending[k] && rs_poll_at(c) > v->now)
		return 0;
	v->sd[side].pending[k] = 0; /* one thread: no race with deliver */
	vc_step(v, side, k, v->now);
	return 1;
}

static uint64_t sum(const struct vc *v, int side, const char *const *names)
{
	uint64_t t = 0;

	for (; *names; names++)
		t += vc_counter(v, side, *names);
	return t;
}

static const char *const LOCKS[] = {
	"lock_listen_acquired", "lock_acceptq_acquired", "lock_ehash_acquired",
	"lock_ports_acquired", "lock_fdtab_acquired", "lock_handoff_acquired",
	NULL};
static const char *const HANDOFFS[] = {"xcore_handoffs", NULL};
static const char *const GLOBAL[] = {"lookup_estab_global",
				     "lookup_listen_global", NULL};

/* Tables sized for the concurrency, not for a server: set-up stays small
 * under callgrind at 24 cores (per-connection costs do not depend on it). */
static void small(int side, struct rs_stack_conf *conf)
{
	(void)side;
	conf->hash_buckets = 4096;
	conf->max_sockets = 4096;
	conf->max_conns = 4096;
	conf->max_time_wait = 1u << 16;
}

int main(int argc, char **argv)
{
	static struct vc v;
	static struct srv srv[VC_MAX];
	static struct cli k[MAXC];
	long total = 2000, conc = 16, done = 0, started = 0;
	unsigned n = 1;
	uint32_t feat = 0;
	int active = 0, opt, meas, cli;
	char err[300];
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	uint64_t l0, h0, g0, t0;

	while ((opt = getopt(argc, argv, "s:N:m:n:c:")) != -1) {
		if (opt == 's' && rs_features_parse(optarg, &feat, err, sizeof(err))) {
			fprintf(stderr, "vcores: -s: %s\n", err);
			return 2;
		} else if (opt == 'N') {
			n = (unsigned)atoi(optarg);
		} else if (opt == 'm') {
			active = strcmp(optarg, "active") == 0;
			if (!active && strcmp(optarg, "passive")) {
				fprintf(stderr, "vcores: -m passive|active, not %s\n", optarg);
				return 2;
			}
		} else if (opt == 'n') {
			total = atol(optarg);
		} else if (opt == 'c') {
			conc = atol(optarg);
		} else if (opt != 's') {
			fprintf(stderr, "usage: vcores -s SET -N cores -m passive|active "
					"[-n total] [-c concurrency]\n");
			return 2;
		}
	}
	if (n < 1 || n > VC_MAX || conc < 1 || conc > MAXC || total < 1) {
		fprintf(stderr, "vcores: -N 1..%d, -c 1..%d, -n >= 1\n", VC_MAX, MAXC);
		return 2;
	}
	if (vc_init(&v, n, feat, feat, small)) {
		fprintf(stderr, "vcores: set-up failed\n");
		return 1;
	}
	meas = VC_SERVER;              /* the stack whose counters we print */
	cli = active ? VC_SERVER : VC_CLIENT; /* the side that connects */
	inet_pton(AF_INET, cli == VC_CLIENT ? "198.18.21.2" : "198.18.21.1",
		  &dst.sin_addr);
	vc_listening(&v, !cli, PORT);
	for (unsigned i = 0; i < n; i++) {
		struct rs_core *c = v.sd[!cli].c[i];
		struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(PORT)};
		int one = 1;
		srv[i].lfd = rs_socket(c, AF_INET, SOCK_STREAM, 0);
		rs_setsockopt(c, srv[i].lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (rs_bind(c, srv[i].lfd, (struct sockaddr *)&any, sizeof(any)) ||
		    rs_listen(c, srv[i].lfd, 4096)) {
			perror("vcores: listen");
			return 1;
		}
	}
	for (long i = 0; i < conc; i++)
		k[i].core = (unsigned)i % n;
	vc_settle(&v);
	l0 = sum(&v, meas, LOCKS);
	h0 = sum(&v, meas, HANDOFFS);
	g0 = sum(&v, meas, GLOBAL);
	t0 = rs_clock_ns();
	while (done < total) {
		for (long i = 0; i < conc; i++) {
			int r = client_step(v.sd[cli].c[k[i].core], &k[i], &started,
					    total, &dst);
			if (r < 0) {
				perror("vcores: client");
				return 1;
			}
			done += r;
		}
		v.now += 10000;
		for (unsigned i = 0; i < n; i++) {
			busy_step(&v, cli, i);
			if (busy_step(&v, !cli, i)) {
				server_step(v.sd[!cli].c[i], &srv[i]);
				busy_step(&v, !cli, i);
			}
			busy_step(&v, cli, i);
		}
	}
	printf("set %s cores %u mode %s connections %ld concurrency %ld "
	       "seconds %.3f locks %llu handoffs %llu global_lookups %llu\n",
	       rs_features_name(feat, err, sizeof(err)), n,
	       active ? "active" : "passive", done, conc,
	       (double)(rs_clock_ns() - t0) / 1e9,
	       (unsigned long long)(sum(&v, meas, LOCKS) - l0),
	       (unsigned long long)(sum(&v, meas, HANDOFFS) - h0),
	       (unsigned long long)(sum(&v, meas, GLOBAL) - g0));
	for (unsigned i = 0; i < n; i++)
		rs_close(v.sd[!cli].c[i], srv[i].lfd);
	vc_fini(&v);
	return 0;
}
