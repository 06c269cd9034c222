/* Real threads on the shared state: for every feature set, 2 and then 4
 * threads, thread k driving core k of a client stack and core k of a
 * server stack (lib/vc.h steers frames between them as a NIC would).
 * Every server core listens on one port (SO_REUSEPORT: one global listen
 * socket, and with `listen` a local copy per core); each thread's clients
 * make connect-request-response-close cycles, each server core answers
 * whatever it accepts, so that base parks connections on the global
 * queue, other cores adopt them and frames are handed across threads.
 * Built twice: ASan/UBSan and ThreadSanitizer (test_threads_tsan). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../../src/common.h"
#include "lib/t.h"
#include "lib/vc.h"

#define CONNS 150      /* per thread and run */
#define INFLIGHT 8
#define PORT 80

struct worker {
	struct vc *v;
	unsigned k;
	int lfd;
	int *all_done;         /* clients done, all threads (atomic) */
	int total;
	int done, bad, answered;
};

struct cconn {
	int fd, state;         /* 0 free, 1 connecting, 2 ping sent */
};

static void client_step(struct worker *w, struct cconn *c, int *started)
{
	struct rs_core *cc = w->v->sd[VC_CLIENT].c[w->k];
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	char b[8];
	uint32_t ev = 0;

	inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
	if (c->state == 0 && *started < CONNS) {
		c->fd = rs_socket(cc, AF_INET, SOCK_STREAM, 0);
		rs_connect(cc, c->fd, (struct sockaddr *)&dst, sizeof(dst));
		c->state = 1;
		(*started)++;
	} else if (c->state == 1 && rs_sock_events(cc, c->fd, &ev) == 0 &&
		   (ev & (EPOLLOUT | EPOLLERR))) {
		if (ev & EPOLLERR) {
			w->bad++;
			rs_close(cc, c->fd);
			c->state = 0;
			return;
		}
		rs_send(cc, c->fd, "ping", 4, 0);
		c->state = 2;
	} else if (c->state == 2) {
		ssize_t n = rs_recv(cc, c->fd, b, sizeof(b), 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 4 && memcmp(b, "pong", 4) == 0)
			w->done++;
		else
			w->bad++;
		__atomic_add_fetch(w->all_done, 1, __ATOMIC_RELAXED);
		rs_close(cc, c->fd);
		c->state = 0;
	}
}

static void server_step(struct worker *w, int *sfd, int *nsfd)
{
	struct rs_core *sc = w->v->sd[VC_SERVER].c[w->k];
	char b[8];
	int fd;

	while (*nsfd < 64 && (fd = rs_accept(sc, w->lfd, NULL, NULL)) > 0)
		sfd[(*nsfd)++] = fd;
	for (int i = 0; i < *nsfd; i++) {
		ssize_t n = rs_recv(sc, sfd[i], b, sizeof(b), 0);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n == 4)
			rs_send(sc, sfd[i], "pong", 4, 0);
		w->answered += n == 4;
		rs_close(sc, sfd[i]);
		sfd[i--] = sfd[--*nsfd];
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct cconn c[INFLIGHT] = {{0}};
	int sfd[64], nsfd = 0, started = 0;
	uint64_t end = rs_clock_ns() + 60000000000ull;

	while (__atomic_load_n(w->all_done, __ATOMIC_RELAXED) < w->total &&
	       rs_clock_ns() < end) {
		uint64_t now = rs_clock_ns();
		vc_step(w->v, VC_CLIENT, w->k, now);
		vc_step(w->v, VC_SERVER, w->k, now);
		for (int i = 0; i < INFLIGHT; i++)
			client_step(w, &c[i], &started);
		server_step(w, sfd, &nsfd);
	}
	/* what is still in flight for the others: a few more steps */
	for (int i = 0; i < 2000; i++) {
		uint64_t now = rs_clock_ns();
		vc_step(w->v, VC_CLIENT, w->k, now);
		vc_step(w->v, VC_SERVER, w->k, now);
		server_step(w, sfd, &nsfd);
	}
	return NULL;
}

static void warm(struct vc *v)
{
	for (unsigned k = 0; k < v->sd[VC_CLIENT].n; k++) {
		struct rs_core *cc = v->sd[VC_CLIENT].c[k];
		struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
		int fd = rs_socket(cc, AF_INET, SOCK_STREAM, 0);
		inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
		rs_connect(cc, fd, (struct sockaddr *)&dst, sizeof(dst));
		v->now = rs_clock_ns();
		vc_settle(v);
		rs_close(cc, fd);
	}
}

static void one(uint32_t feat, unsigned n)
{
	struct vc v;
	struct worker w[VC_MAX];
	pthread_t th[VC_MAX];
	int all_done = 0, done = 0, bad = 0, answered = 0;
	char name[64];
	uint64_t parked, locks;

	rs_features_name(feat, name, sizeof(name));
	if (vc_init(&v, n, 0, feat, NULL) != 0) {
		T_CHECK(0, "%s, %u threads: stacks", name, n);
		return;
	}
	vc_listening(&v, VC_SERVER, PORT);
	for (unsigned k = 0; k < n; k++) {
		struct rs_core *sc = v.sd[VC_SERVER].c[k];
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
		int one = 1;
		w[k] = (struct worker){.v = &v, .k = k, .all_done = &all_done,
				       .total = (int)n * CONNS};
		w[k].lfd = rs_socket(sc, AF_INET, SOCK_STREAM, 0);
		rs_setsockopt(sc, w[k].lfd, SOL_SOCKET, SO_REUSEPORT, &one,
			      sizeof(one));
		rs_bind(sc, w[k].lfd, (struct sockaddr *)&a, sizeof(a));
		rs_listen(sc, w[k].lfd, 1024);
	}
	warm(&v);
	for (unsigned k = 0; k < n; k++)
		pthread_create(&th[k], NULL, run, &w[k]);
	for (unsigned k = 0; k < n; k++) {
		pthread_join(th[k], NULL);
		done += w[k].done;
		bad += w[k].bad;
		answered += w[k].answered;
	}
	parked = vc_counter(&v, VC_SERVER, "tcp_parked");
	locks = vc_counter(&v, VC_SERVER, "lock_ehash_acquired") +
		vc_counter(&v, VC_SERVER, "lock_fdtab_acquired");
	T_CHECK(done == (int)n * CONNS && bad == 0 && answered == done,
		"%s, %u threads: %d connections completed concurrently, %d failed "
		"(%llu parked and adopted, %llu hand-offs)", name, n, done, bad,
		(unsigned long long)parked,
		(unsigned long long)vc_counter(&v, VC_SERVER, "xcore_handoffs"));
	if ((feat | RS_FEAT_RFD) == RS_FEAT_ALL)
		T_CHECK(parked == 0 && locks == 0,
			"%s, %u threads: nothing parked, no table or descriptor lock",
			name, n);
	for (unsigned k = 0; k < n; k++)
		rs_close(v.sd[VC_SERVER].c[k], w[k].lfd);
	vc_fini(&v);
}

int main(void)
{
	static const uint32_t sets[] = {
		0, RS_FEAT_LOCAL_LISTEN, RS_FEAT_LOCAL_ESTAB, RS_FEAT_RFD,
		RS_FEAT_FAST_FD, RS_FEAT_ALL,
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned n = 2; n <= 4; n += 2)
		for (unsigned i = 0; i < RS_ARRAY_LEN(sets); i++)
			one(sets[i], n);
	return t_summary();
}
