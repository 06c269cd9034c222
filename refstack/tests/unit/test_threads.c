/* Two threads, each driving one core of a shared two-core server stack
 * (and its own client stack) through thousands of connect-request-
 * response-close cycles: the global tables (established, listen, ports,
 * descriptors) are used concurrently from both cores. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "lib/t.h"
#include "lib/tb.h"

#define CONNS 3000

struct worker {
	struct rs_memif_pair *pair;
	struct rs_stack *cs;     /* client stack */
	struct rs_core *cc, *sc; /* client core, server core */
	int lfd;
	uint16_t port;
	int done, bad;
};

static void polls(struct worker *w, uint64_t now)
{
	rs_poll(w->cc, now);
	rs_poll(w->sc, now);
	rs_poll(w->cc, now);
	rs_poll(w->sc, now);
}

static int crr(struct worker *w, uint64_t *now)
{
	struct sockaddr_in dst = tb_addr(TB_SERVER_IP, w->port);
	char buf[64];
	int cfd = rs_socket(w->cc, AF_INET, SOCK_STREAM, 0), sfd = -1;
	ssize_t n = -1;

	if (cfd < 0)
		return 0;
	rs_connect(w->cc, cfd, (struct sockaddr *)&dst, sizeof(dst));
	for (int i = 0; i < 20 && sfd < 0; i++) {
		polls(w, *now += 1000);
		sfd = rs_accept(w->sc, w->lfd, NULL, NULL);
	}
	rs_send(w->cc, cfd, "ping", 4, 0);
	for (int i = 0; i < 20 && n != 4 && sfd > 0; i++) {
		polls(w, *now += 1000);
		n = rs_recv(w->sc, sfd, buf, sizeof(buf), 0);
	}
	if (sfd > 0) {
		rs_send(w->sc, sfd, "pong", 4, 0);
		rs_close(w->sc, sfd);
	}
	n = -1;
	for (int i = 0; i < 20 && n != 4; i++) {
		polls(w, *now += 1000);
		n = rs_recv(w->cc, cfd, buf, sizeof(buf), 0);
	}
	int ok = n == 4 && memcmp(buf, "pong", 4) == 0;
	rs_close(w->cc, cfd);
	polls(w, *now += 1000);
	return ok;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t now = 1000000000ull;

	for (int i = 0; i < CONNS; i++) {
		if (crr(w, &now))
			w->done++;
		else
			w->bad++;
	}
	return NULL;
}

int main(void)
{
	struct rs_stack_conf conf;
	struct rs_stack *ss;
	struct worker w[2];
	pthread_t th[2];
	int err = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	conf.ncores = 2;
	ss = rs_stack_create(&conf, &err);
	T_CHECK(ss != NULL, "two-core server stack");
	for (int i = 0; i < 2; i++) {
		struct rs_stack_conf cc;
		struct rs_io_conf c0, c1;
		struct sockaddr_in any;

		memset(&w[i], 0, sizeof(w[i]));
		w[i].pair = rs_memif_pair_create(1024, 2048);
		c0 = (struct rs_io_conf){.peer = w[i].pair, .queue = 0};
		c1 = (struct rs_io_conf){.peer = w[i].pair, .queue = 1};
		rs_stack_conf_init(&cc);
		inet_pton(AF_INET, TB_CLIENT_IP, &cc.addr);
		w[i].cs = rs_stack_create(&cc, &err);
		w[i].cc = rs_core_create(w[i].cs, 0, &rs_io_memif, &c0, &err);
		w[i].sc = rs_core_create(ss, (unsigned)i, &rs_io_memif, &c1, &err);
		w[i].port = (uint16_t)(80 + i);
		any = tb_addr("0.0.0.0", w[i].port);
		w[i].lfd = rs_socket(w[i].sc, AF_INET, SOCK_STREAM, 0);
		rs_bind(w[i].sc, w[i].lfd, (struct sockaddr *)&any, sizeof(any));
		rs_listen(w[i].sc, w[i].lfd, 128);
		polls(&w[i], 1000000000ull);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, run, &w[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		struct rs_table_sizes t;
		rs_core_tables(w[i].sc, &t);
		T_CHECK(w[i].done == CONNS && w[i].bad == 0,
			"core %d: %d connections completed concurrently, %d failed",
			i, w[i].done, w[i].bad);
		T_CHECK(t.established == 0 && t.syn_recv == 0,
			"core %d: nothing left established", i);
		T_CHECK(rs_core_counters(w[i].sc)->xcore_handoffs == 0,
			"core %d: no hand-offs needed (own listener)", i);
	}
	for (int i = 0; i < 2; i++) {
		rs_close(w[i].sc, w[i].lfd);
		rs_core_destroy(w[i].sc);
		rs_core_destroy(w[i].cc);
		rs_stack_destroy(w[i].cs);
		rs_memif_pair_destroy(w[i].pair);
	}
	rs_stack_destroy(ss);
	return t_summary();
}
