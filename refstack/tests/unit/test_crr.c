/* Connect-request-response-close over memif: handshake, data both ways,
 * orderly close from the server, TIME_WAIT on the server, repeated many
 * times; counters and tables afterwards. */
#include <errno.h>
#include <string.h>

#include "lib/t.h"
#include "lib/tb.h"

static int one_crr(struct tb *tb, int lfd, int verbose)
{
	struct rs_core *cc = tb->c[0], *sc = tb->c[1];
	char buf[256];
	int cfd, sfd, ok = 1;
	ssize_t n;

	cfd = tb_connect(tb, 80);
	if (verbose)
		T_CHECK(cfd > 0 && strcmp(rs_sock_state(cc, cfd), "ESTABLISHED") == 0,
			"client ESTABLISHED after handshake (%s)",
			cfd > 0 ? rs_sock_state(cc, cfd) : "no fd");
	sfd = rs_accept(sc, lfd, NULL, NULL);
	if (verbose)
		T_CHECK(sfd > 0, "server accepts the connection");
	if (sfd <= 0)
		return 0;
	n = rs_send(cc, cfd, "GET / HTTP/1.0\r\n\r\n", 18, 0);
	ok &= n == 18;
	tb_settle(tb);
	n = rs_recv(sc, sfd, buf, sizeof(buf), 0);
	ok &= n == 18 && memcmp(buf, "GET / HTTP/1.0\r\n\r\n", 18) == 0;
	if (verbose)
		T_CHECK(n == 18, "server receives the 18-byte request (%zd)", n);
	n = rs_send(sc, sfd, "HTTP/1.0 200 OK\r\n\r\nhello", 24, 0);
	ok &= n == 24;
	rs_close(sc, sfd);
	tb_settle(tb);
	n = rs_recv(cc, cfd, buf, sizeof(buf), 0);
	ok &= n == 24 && memcmp(buf + 19, "hello", 5) == 0;
	if (verbose)
		T_CHECK(n == 24, "client receives the response (%zd)", n);
	n = rs_recv(cc, cfd, buf, sizeof(buf), 0);
	ok &= n == 0;
	if (verbose) {
		T_CHECK(n == 0, "client sees end of stream (%zd)", n);
		T_CHECK(strcmp(rs_sock_state(cc, cfd), "CLOSE_WAIT") == 0,
			"client in CLOSE_WAIT (%s)", rs_sock_state(cc, cfd));
	}
	rs_close(cc, cfd);
	tb_settle(tb);
	return ok;
}

static void one_port(int side, struct rs_stack_conf *c)
{
	if (side == 0)
		c->port_lo = c->port_hi = 40000;
}

/* The client closes first and keeps TIME_WAIT; with a single local port
 * the next connect must reuse that entry. */
static void t_client_tw_reuse(void)
{
	struct tb tb;
	struct rs_table_sizes ts;
	char buf[16];
	int lfd, ok = 1;

	if (tb_init(&tb, one_port))
		return;
	lfd = tb_listen(&tb, 80, 16);
	for (int i = 0; i < 3; i++) {
		int cfd = tb_connect(&tb, 80);
		int sfd = rs_accept(tb.c[1], lfd, NULL, NULL);
		ok &= cfd > 0 && sfd > 0;
		rs_send(tb.c[0], cfd, "ping", 4, 0);
		tb_settle(&tb);
		ok &= rs_recv(tb.c[1], sfd, buf, sizeof(buf), 0) == 4;
		rs_close(tb.c[0], cfd);
		tb_settle(&tb);
		ok &= rs_recv(tb.c[1], sfd, buf, sizeof(buf), 0) == 0;
		rs_close(tb.c[1], sfd);
		tb_settle(&tb);
		tb.now += 1000000;
	}
	rs_core_tables(tb.c[0], &ts);
	T_CHECK(ok && ts.time_wait == 1,
		"one local port: 3 connections in a row, client TIME_WAIT 1");
	T_CHECK(rs_core_counters(tb.c[0])->tcp_tw_reused == 2,
		"connect reused the client's TIME_WAIT entry twice (%llu)",
		(unsigned long long)rs_core_counters(tb.c[0])->tcp_tw_reused);
	tb_fini(&tb);
}

int main(void)
{
	struct tb tb;
	struct rs_table_sizes ts;
	const struct rs_core_counters *sc, *cc;
	int lfd, good = 0;

	if (tb_init(&tb, NULL))
		return 1;
	lfd = tb_listen(&tb, 80, 128);
	T_CHECK(lfd > 0, "server listens on :80");
	T_CHECK(one_crr(&tb, lfd, 1), "first connection byte-exact");
	T_CHECK(tb_saw(&tb, 1, "SYN_RECV", "ESTABLISHED"),
		"server SYN_RECV => ESTABLISHED");
	T_CHECK(tb_saw(&tb, 1, "FIN_WAIT_2", "TIME_WAIT"),
		"server FIN_WAIT_2 => TIME_WAIT");
	T_CHECK(tb_saw(&tb, 0, "LAST_ACK", "CLOSED"),
		"client LAST_ACK => CLOSED");
	rs_core_tables(tb.c[1], &ts);
	T_CHECK(ts.time_wait == 1 && ts.established == 0,
		"server: one TIME_WAIT entry, nothing established (tw=%u est=%u)",
		ts.time_wait, ts.established);
	for (int i = 0; i < 2000; i++) {
		good += one_crr(&tb, lfd, 0);
		tb.now += 100000; /* 100 us per connection */
	}
	T_CHECK(good == 2000, "2000 more connections byte-exact (%d)", good);
	sc = rs_core_counters(tb.c[1]);
	cc = rs_core_counters(tb.c[0]);
	T_CHECK(sc->tcp_accepts == 2001, "server accepted 2001 (%llu)",
		(unsigned long long)sc->tcp_accepts);
	T_CHECK(cc->tcp_retrans_segs == 0 && sc->tcp_retrans_segs == 0,
		"no retransmissions");
	T_CHECK(sc->tcp_rst_tx == 0 && cc->tcp_rst_tx == 0, "no resets");
	tb_advance(&tb, 2000000000ull);
	rs_core_tables(tb.c[1], &ts);
	T_CHECK(ts.time_wait == 0, "TIME_WAIT entries expire after 1 s (%u)",
		ts.time_wait);
	T_CHECK(sc->tcp_tw_expired == sc->tcp_tw_created,
		"every TIME_WAIT entry expired (%llu/%llu)",
		(unsigned long long)sc->tcp_tw_expired,
		(unsigned long long)sc->tcp_tw_created);
	rs_close(tb.c[1], lfd);
	tb_fini(&tb);
	t_client_tw_reuse();
	return t_summary();
}
