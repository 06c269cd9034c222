/* SO_KEEPALIVE with Linux's semantics on a virtual clock: the defaults
 * (7200 s idle, 75 s between probes, 9 probes), a live peer answering
 * every probe keeps the connection, a dead peer is reset after the last
 * probe and the application gets ETIMEDOUT; TCP_KEEPIDLE / TCP_KEEPINTVL /
 * TCP_KEEPCNT change the timing, are inherited by accepted sockets and
 * bounded as Linux bounds them; traffic postpones the first probe. */
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>

#include "lib/peer.h"
#include "lib/t.h"

#define S 1000000000ull
#define A RS_TH_ACK
#define R RS_TH_RST

static const struct rs_tcp_seg mss = {.opts = RS_TCPOPT_MSS, .mss = 1460};

static int opt(struct peer *p, int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (rs_getsockopt(p->c, fd, name == SO_KEEPALIVE ? SOL_SOCKET : IPPROTO_TCP,
			  name, &v, &l) < 0)
		return -1;
	return v;
}

static int set(struct peer *p, int fd, int name, int v)
{
	return rs_setsockopt(p->c, fd, name == SO_KEEPALIVE ? SOL_SOCKET : IPPROTO_TCP,
			     name, &v, sizeof(v));
}

/* An accepted connection from sport; *snd the stack's next sequence. */
static int accepted(struct peer *p, int lfd, uint16_t sport, uint32_t *snd)
{
	*snd = peer_open(p, sport, 80, 1000, &mss);
	return rs_accept(p->c, lfd, NULL, NULL);
}

/* Advance by ns in one-second steps; the keepalive probes seen (the
 * stack's ACKs at snd - 1), answered by the peer when `answer`. */
static int run(struct peer *p, uint64_t ns, uint16_t sport, uint32_t snd,
	       int answer, int *rst)
{
	struct pseg r[8];
	int probes = 0;

	for (uint64_t t = 0; t < ns; t += S) {
		int n;
		peer_advance(p, S);
		n = peer_rx(p, r, 8);
		for (int i = 0; i < n; i++) {
			if (r[i].flags & R) {
				*rst = 1;
				continue;
			}
			if (r[i].dport != sport || r[i].seq != snd - 1 || r[i].len)
				continue;
			probes++;
			if (answer)
				peer_tx(p, sport, 80, A, 1001, snd, 65535, NULL, 0, NULL);
		}
	}
	return probes;
}

static void t_defaults(void)
{
	struct peer p;
	uint32_t snd;
	int lfd, fd, rst = 0, probes;
	char b[4];

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 8);
	fd = accepted(&p, lfd, 40000, &snd);
	T_CHECK(opt(&p, fd, SO_KEEPALIVE) == 0 && opt(&p, fd, TCP_KEEPIDLE) == 7200 &&
			opt(&p, fd, TCP_KEEPINTVL) == 75 && opt(&p, fd, TCP_KEEPCNT) == 9,
		"defaults: off, 7200 s / 75 s / 9 as Linux");
	probes = run(&p, 7300 * S, 40000, snd, 0, &rst);
	T_CHECK(probes == 0 && !rst, "without SO_KEEPALIVE an idle connection is never probed");
	T_CHECK(set(&p, fd, SO_KEEPALIVE, 1) == 0 && opt(&p, fd, SO_KEEPALIVE) == 1,
		"SO_KEEPALIVE on a connection");
	probes = run(&p, 7199 * S, 40000, snd, 0, &rst);
	T_CHECK(probes == 0, "no probe before 7200 s idle (%d)", probes);
	probes = run(&p, 2 * S, 40000, snd, 0, &rst);
	T_CHECK(probes == 1, "first probe at 7200 s: an ACK with snd_una - 1, no data (%d)", probes);
	probes = run(&p, 8 * 75 * S - S, 40000, snd, 0, &rst);
	T_CHECK(probes == 8 && !rst, "then one every 75 s: 9 in all, unanswered (%d more)", probes);
	probes = run(&p, 76 * S, 40000, snd, 0, &rst);
	T_CHECK(rst && probes == 0,
		"a dead peer: reset 75 s after the 9th probe (7200 + 9 x 75 s)");
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) < 0 && errno == ETIMEDOUT,
		"the application gets ETIMEDOUT");
	T_CHECK(peer_counter(&p, "tcp_keepalive_probes") == 9 &&
			peer_counter(&p, "tcp_keepalive_timeouts") == 1,
		"counted: 9 probes, 1 timeout");
	rs_close(p.c, fd);
	peer_fini(&p);
}

static void t_live_peer(void)
{
	struct peer p;
	uint32_t snd;
	int lfd, fd, rst = 0, probes;
	char b[8];

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 8);
	T_CHECK(set(&p, lfd, SO_KEEPALIVE, 1) == 0 && set(&p, lfd, TCP_KEEPIDLE, 10) == 0 &&
			set(&p, lfd, TCP_KEEPINTVL, 2) == 0 && set(&p, lfd, TCP_KEEPCNT, 3) == 0,
		"TCP_KEEPIDLE 10, TCP_KEEPINTVL 2, TCP_KEEPCNT 3 on the listener");
	fd = accepted(&p, lfd, 40001, &snd);
	T_CHECK(opt(&p, fd, SO_KEEPALIVE) == 1 && opt(&p, fd, TCP_KEEPIDLE) == 10 &&
			opt(&p, fd, TCP_KEEPINTVL) == 2 && opt(&p, fd, TCP_KEEPCNT) == 3,
		"the accepted socket inherits them");
	probes = run(&p, 100 * S, 40001, snd, 1, &rst);
	T_CHECK(probes >= 9 && probes <= 10 && !rst,
		"a live peer answers every probe (one per 10 s idle: %d): the connection stays", probes);
	T_CHECK(rs_send(p.c, fd, "hi", 2, 0) == 2, "and still carries data");
	run(&p, S, 40001, snd, 0, &rst);
	peer_tx(&p, 40001, 80, A, 1001, snd + 2, 65535, NULL, 0, NULL);
	snd += 2;
	/* traffic postpones the first probe: data every 5 s for 60 s */
	probes = 0;
	for (int i = 0; i < 12; i++) {
		probes += run(&p, 5 * S, 40001, snd, 0, &rst);
		peer_tx(&p, 40001, 80, A, 1001, snd, 65535, NULL, 0, NULL);
	}
	T_CHECK(probes == 0 && !rst, "a segment from the peer every 5 s: no probe (%d)", probes);
	probes = run(&p, 10 * S + 3 * 2 * S + S, 40001, snd, 0, &rst);
	T_CHECK(probes == 3 && rst, "peer gone: 3 probes 2 s apart, then reset (%d)", probes);
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) < 0 && errno == ETIMEDOUT,
		"ETIMEDOUT after TCP_KEEPIDLE + TCP_KEEPCNT x TCP_KEEPINTVL");
	rs_close(p.c, fd);
	peer_fini(&p);
}

static void t_bounds(void)
{
	struct peer p;
	int lfd;

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 8);
	T_CHECK(set(&p, lfd, TCP_KEEPIDLE, 0) < 0 && errno == EINVAL &&
			set(&p, lfd, TCP_KEEPIDLE, 32768) < 0 && errno == EINVAL &&
			set(&p, lfd, TCP_KEEPINTVL, 0) < 0 && errno == EINVAL &&
			set(&p, lfd, TCP_KEEPCNT, 128) < 0 && errno == EINVAL,
		"out of Linux's bounds (1..32767 s, 1..127 probes): EINVAL");
	T_CHECK(set(&p, lfd, TCP_KEEPIDLE, 32767) == 0 && opt(&p, lfd, TCP_KEEPIDLE) == 32767 &&
			set(&p, lfd, TCP_KEEPCNT, 127) == 0 && opt(&p, lfd, TCP_KEEPCNT) == 127,
		"the bounds themselves are accepted and read back");
	peer_fini(&p);
}

int main(void)
{
	t_defaults();
	t_live_peer();
	t_bounds();
	return t_summary();
}
