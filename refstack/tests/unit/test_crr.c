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

/* What the link carries: TCP frames, and how many of them (and of their
 * IPv4 headers) a receiver checking every checksum would accept. */
struct wire_count {
	unsigned tcp, tcp_csum_ok, ip_csum_ok;
};

static uint32_t sum16(uint32_t s, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static int csum_ok(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static int count_frame(void *arg, unsigned from, const uint8_t *f,
		       uint32_t len, uint64_t *delay)
{
	struct wire_count *w = arg;
	const uint8_t *ip = f + 14;
	uint32_t ihl, tlen, s;

	(void)from, (void)delay;
	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 6)
		return RS_MEMIF_PASS;
	ihl = (uint32_t)(ip[0] & 15) * 4;
	tlen = (uint32_t)(ip[2] << 8 | ip[3]);
	w->tcp++;
	w->ip_csum_ok += csum_ok(sum16(0, ip, ihl));
	s = sum16(0, ip + 12, 8) + 6 + (tlen - ihl); /* pseudo-header */
	w->tcp_csum_ok += csum_ok(sum16(s, ip + ihl, tlen - ihl));
	return RS_MEMIF_PASS;
}

/* rs_memif_set_csum_offload: frames leave with only the pseudo-header
 * sum in the TCP checksum (a checking receiver would drop every one), the
 * IPv4 header checksum stays, and the receiving stack, told by the
 * frame's flag, accepts them: connections complete byte-exact.  Without
 * it every checksum is whole. */
static void t_csum_offload(void)
{
	struct wire_count on = {0}, off = {0};
	struct tb tb;
	int lfd, good = 0;

	for (int offload = 0; offload < 2; offload++) {
		struct wire_count *w = offload ? &on : &off;
		tb_csum_offload = offload;
		if (tb_init(&tb, NULL))
			return;
		rs_memif_set_filter(tb.pair, count_frame, w);
		lfd = tb_listen(&tb, 80, 16);
		for (int i = 0; i < 50; i++) {
			good += one_crr(&tb, lfd, 0);
			tb.now += 100000;
		}
		rs_close(tb.c[1], lfd);
		tb_fini(&tb);
	}
	tb_csum_offload = 0;
	T_CHECK(good == 100, "offload off and on: 50 connections each "
		"byte-exact (%d)", good);
	T_CHECK(off.tcp >= 400 && off.tcp_csum_ok == off.tcp &&
			off.ip_csum_ok == off.tcp,
		"without offload every TCP and IPv4 checksum is whole "
		"(%u/%u/%u)", off.tcp_csum_ok, off.ip_csum_ok, off.tcp);
	T_CHECK(on.tcp == off.tcp && on.ip_csum_ok == on.tcp,
		"with offload the same %u frames, IPv4 checksums whole (%u)",
		on.tcp, on.ip_csum_ok);
	T_CHECK(on.tcp_csum_ok == 0,
		"with offload no TCP checksum is computed (%u of %u would "
		"pass a check)", on.tcp_csum_ok, on.tcp);
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

/* An application that answers at once, as memif_crr's: the client writes
 * its request as soon as connect completes and closes on end of stream,
 * one poll of each stack per turn.  Six segments per connection: SYN,
 * SYN,ACK, request (carrying the handshake's last ACK), response+FIN,
 * FIN (carrying the ACK of response+FIN), ACK. */
static void t_six_segments(void)
{
	struct tb tb;
	struct sockaddr_in dst = tb_addr(TB_SERVER_IP, 80);
	uint64_t c0, s0, c1, s1;
	char buf[256];
	int lfd, cfd, sfd = -1, sent = 0, done = 0;

	if (tb_init(&tb, NULL))
		return;
	lfd = tb_listen(&tb, 80, 16);
	c0 = rs_core_counters(tb.c[0])->tcp_tx_segs;
	s0 = rs_core_counters(tb.c[1])->tcp_tx_segs;
	cfd = rs_socket(tb.c[0], AF_INET, SOCK_STREAM, 0);
	rs_connect(tb.c[0], cfd, (struct sockaddr *)&dst, sizeof(dst));
	for (int i = 0; i < 100 && !done; i++) {
		ssize_t n;
		rs_poll(tb.c[0], tb.now);
		rs_poll(tb.c[1], tb.now);
		if (sfd < 0)
			sfd = rs_accept(tb.c[1], lfd, NULL, NULL);
		if (sfd > 0 && rs_recv(tb.c[1], sfd, buf, sizeof(buf), 0) > 0) {
			rs_send(tb.c[1], sfd, "HTTP/1.0 200 OK\r\n\r\nhello", 24, 0);
			rs_close(tb.c[1], sfd);
			sfd = 0;
		}
		if (!sent)
			sent = rs_send(tb.c[0], cfd, "GET /", 5, 0) == 5;
		else {
			while ((n = rs_recv(tb.c[0], cfd, buf, sizeof(buf), 0)) > 0)
				;
			if (n == 0) {
				rs_close(tb.c[0], cfd);
				done = 1;
			}
		}
		tb.now += 10000;
	}
	tb_settle(&tb);
	c1 = rs_core_counters(tb.c[0])->tcp_tx_segs - c0;
	s1 = rs_core_counters(tb.c[1])->tcp_tx_segs - s0;
	T_CHECK(done && c1 == 3 && s1 == 3,
		"an application answering at once: 6 segments per connection "
		"(client %llu: SYN, request+ACK, FIN+ACK; server %llu: SYN,ACK, "
		"response+FIN, ACK)",
		(unsigned long long)c1, (unsigned long long)s1);
	T_CHECK(tb_saw(&tb, 0, "LAST_ACK", "CLOSED") &&
			tb_saw(&tb, 1, "FIN_WAIT_2", "TIME_WAIT"),
		"... and both ends closed (client LAST_ACK => CLOSED, server "
		"TIME_WAIT)");
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
	t_csum_offload();
	t_six_segments();
	return t_summary();
}
