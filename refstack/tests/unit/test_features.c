/* TCP features with a scripted peer on a virtual clock: RTO and backoff
 * (RFC 6298, Karn), fast retransmit / NewReno, initial window 10, MSS,
 * window scaling, zero window and persist probes, delayed ACKs,
 * timestamps and PAWS, SYN backlog and accept queue bounds, TIME_WAIT
 * reuse by a newer SYN. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define F RS_TH_FIN
#define R RS_TH_RST
#define P RS_TH_PSH
#define MS 1000000ull

static int listen_on(struct peer *p, uint16_t port, int backlog)
{
	struct sockaddr_in a = tb_addr("0.0.0.0", port);
	int fd = rs_socket(p->c, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || rs_bind(p->c, fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(p->c, fd, backlog))
		return -1;
	return fd;
}

static int estab(struct peer *p, int lfd, uint16_t sport, uint32_t *snd,
		 const struct rs_tcp_seg *o)
{
	static const struct rs_tcp_seg mss1460 = {.opts = RS_TCPOPT_MSS,
						  .mss = 1460};

	*snd = peer_open(p, sport, 80, 1000, o ? o : &mss1460);
	return *snd ? rs_accept(p->c, lfd, NULL, NULL) : -1;
}

static void fill(char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + i % 26);
}

static int grab_info(const struct rs_sock_info *i, void *arg)
{
	if (i->fd < 0 || strcmp(i->state, "LISTEN") == 0)
		return 0;
	*(struct rs_sock_info *)arg = *i;
	return 1;
}

static void conf_no_tlp(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->options &= ~(uint32_t)RS_OPT_TLP;
}

static void t_rto_backoff(void)
{
	struct peer p;
	struct pseg r[16];
	uint32_t snd;
	int lfd, fd, n;
	uint64_t gaps[4];

	peer_init(&p, conf_no_tlp);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44000, &snd, NULL);
	rs_send(p.c, fd, "data", 4, 0);
	n = peer_rx(&p, r, 16);
	T_CHECK(n == 1 && r[0].len == 4, "data segment sent");
	for (int k = 0; k < 4; k++) {
		uint64_t start = p.now;
		n = 0;
		while (n == 0 && p.now - start < 10000 * MS) {
			peer_advance(&p, MS);
			n = peer_rx(&p, r, 16);
		}
		gaps[k] = (p.now - start) / MS;
		T_CHECK(n == 1 && r[0].seq == snd && r[0].len == 4,
			"retransmission %d after %llu ms", k + 1,
			(unsigned long long)gaps[k]);
	}
	T_CHECK(gaps[1] >= 2 * gaps[0] - 2 && gaps[1] <= 2 * gaps[0] + 2 &&
			gaps[2] >= 2 * gaps[1] - 2 && gaps[2] <= 2 * gaps[1] + 2,
		"RTO doubles each time (%llu, %llu, %llu ms)",
		(unsigned long long)gaps[0], (unsigned long long)gaps[1],
		(unsigned long long)gaps[2]);
	T_CHECK(gaps[0] >= 200, "RTO at least the 200 ms floor (%llu)",
		(unsigned long long)gaps[0]);
	/* ACK of the retransmitted data: Karn - no RTT sample from it */
	peer_tx(&p, 44000, 80, A, 1001, snd + 4, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 16);
	T_CHECK(peer_counter(&p, "tcp_rto_expired") == 4 &&
			peer_counter(&p, "tcp_retrans_segs") == 4,
		"4 timeouts, 4 retransmitted segments counted");
	struct rs_sock_info si = {0};
	rs_core_foreach_socket(p.c, grab_info, &si);
	T_CHECK(si.srtt_us < 1000 && si.rto_us == 200000,
		"Karn: the 3 s ACK of a retransmission is not an RTT sample "
		"(srtt %u us, rto %u us)", si.srtt_us, si.rto_us);
	/* the connection times out after the retry limit */
	rs_send(p.c, fd, "more", 4, 0);
	peer_rx(&p, r, 16);
	for (int i = 0; i < 2000 && strcmp(rs_sock_state(p.c, fd), "CLOSED"); i++) {
		peer_advance(&p, 1000 * MS);
		peer_rx(&p, r, 16);
	}
	int e = 0;
	socklen_t el = sizeof(e);
	rs_getsockopt(p.c, fd, SOL_SOCKET, SO_ERROR, &e, &el);
	T_CHECK(e == ETIMEDOUT, "retries exhausted => ETIMEDOUT (%d)", e);
	peer_fini(&p);
}

static void t_fast_retransmit(void)
{
	struct peer p;
	struct pseg r[32];
	uint32_t snd;
	int lfd, fd, n;
	char buf[8 * 1460];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44001, &snd, NULL);
	fill(buf, sizeof(buf));
	T_CHECK(rs_send(p.c, fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf),
		"8 segments queued");
	n = peer_rx(&p, r, 32);
	T_CHECK(n == 8, "8 segments sent at once (IW10 allows it): %d", n);
	/* segment 2 lost: ACK 1, then 3 duplicate ACKs */
	peer_tx(&p, 44001, 80, A, 1001, snd + 1460, 65535, NULL, 0, NULL);
	for (int i = 0; i < 3; i++)
		peer_tx(&p, 44001, 80, A, 1001, snd + 1460, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 32);
	T_CHECK(n >= 1 && r[0].seq == snd + 1460 && r[0].len == 1460,
		"third duplicate ACK => segment 2 retransmitted at once");
	T_CHECK(peer_counter(&p, "tcp_fast_retrans") == 1 &&
			peer_counter(&p, "tcp_dupacks") == 3,
		"one fast retransmit, three dupacks counted");
	/* partial ACK (segment 2 ok, segment 4 lost too): NewReno resends 4 */
	peer_tx(&p, 44001, 80, A, 1001, snd + 3 * 1460, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 32);
	T_CHECK(n >= 1 && r[0].seq == snd + 3 * 1460,
		"partial ACK => next hole retransmitted (NewReno)");
	peer_tx(&p, 44001, 80, A, 1001, snd + 8 * 1460, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 32);
	T_CHECK(peer_counter(&p, "tcp_rto_expired") == 0,
		"recovered without a timeout");
	peer_fini(&p);
}

static void t_iw_mss(void)
{
	struct peer p;
	struct pseg r[64];
	uint32_t snd;
	int lfd, fd, n, ok = 1;
	static char buf[100000];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS, .mss = 536};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44002, &snd, &o);
	fill(buf, sizeof(buf));
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 64);
	for (int i = 0; i < n; i++)
		ok &= r[i].len == 536;
	T_CHECK(n == 10 && ok,
		"peer MSS 536: initial window of 10 segments of 536 bytes (%d)", n);
	peer_fini(&p);
}

static void t_wscale(void)
{
	struct peer p;
	struct pseg r[64];
	uint32_t snd, total = 0;
	int lfd, fd, n;
	static char buf[100000];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_WSCALE,
			       .mss = 1000, .wscale = 2};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44003, &snd, &o);
	fill(buf, sizeof(buf));
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 64);
	/* open cwnd: ACK all, advertise raw window 1500 << 2 = 6000 */
	peer_tx(&p, 44003, 80, A, 1001, snd + 10000, 1500, NULL, 0, NULL);
	n = peer_rx(&p, r, 64);
	for (int i = 0; i < n; i++)
		total += r[i].len;
	T_CHECK(total == 6000,
		"window field 1500 with wscale 2 => 6000 bytes in flight (%u)",
		total);
	T_CHECK(r[0].wnd == (256 * 1024 - 0) >> 3 || r[0].wnd > 8000,
		"our window is advertised scaled by 3 (field %u)", r[0].wnd);
	peer_fini(&p);
}

static void t_zero_window(void)
{
	struct peer p;
	struct pseg r[64];
	uint32_t snd;
	int lfd, fd, n;
	static char buf[20000];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44004, &snd, NULL);
	fill(buf, sizeof(buf));
	rs_send(p.c, fd, buf, 2920, 0);
	peer_rx(&p, r, 64);
	peer_tx(&p, 44004, 80, A, 1001, snd + 2920, 0, NULL, 0, NULL);
	peer_rx(&p, r, 64);
	rs_send(p.c, fd, buf, 5000, 0);
	n = peer_rx(&p, r, 64);
	T_CHECK(n == 0, "zero window: nothing sent (%d)", n);
	int probes = 0;
	for (int i = 0; i < 3000; i++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 64);
		for (int k = 0; k < n; k++) {
			if (r[k].len == 0 && r[k].seq == snd + 2920 - 1)
				probes++;
			peer_tx(&p, 44004, 80, A, 1001, snd + 2920, 0, NULL, 0,
				NULL);
		}
	}
	T_CHECK(probes >= 2 && peer_counter(&p, "tcp_zero_window_probes") >= 2,
		"persist timer sends zero-window probes (%d)", probes);
	T_CHECK(strcmp(rs_sock_state(p.c, fd), "ESTABLISHED") == 0,
		"zero window does not kill the connection");
	peer_tx(&p, 44004, 80, A, 1001, snd + 2920, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 64);
	T_CHECK(n >= 1 && r[0].seq == snd + 2920 && r[0].len > 0,
		"window opens => data resumes");
	peer_fini(&p);
}

static void conf_small_rcvbuf(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->rcvbuf = 16384;
}

static void t_receive_window(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd, seq = 1001;
	int lfd, fd, n;
	static char buf[1460];

	peer_init(&p, conf_small_rcvbuf);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44005, &snd, NULL);
	fill(buf, sizeof(buf));
	/* 16 KiB receive buffer: 60 segments do not fit */
	for (int i = 0; i < 60; i++) {
		peer_tx(&p, 44005, 80, A, seq, snd, 65535, buf, 1460, NULL);
		seq += 1460;
	}
	n = peer_rx(&p, r, 8);
	uint32_t adv_end = r[n - 1].ack + r[n - 1].wnd;
	T_CHECK(n >= 1 && seq - 1460 * 60 < adv_end,
		"receiver advertises a window (%u)", r[n - 1].wnd);
	T_CHECK(peer_counter(&p, "drop_tcp_out_of_window") > 0 &&
			r[n - 1].ack < seq,
		"data beyond the 16 KiB window is not accepted");
	char big[100000];
	ssize_t got = rs_recv(p.c, fd, big, sizeof(big), 0);
	T_CHECK(got > 0 && got <= 16384, "app reads what was accepted (%zd)", got);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].wnd >= 16384 - 1460,
		"window update after the read (%u)", n ? r[0].wnd : 0);
	peer_fini(&p);
}

/* A request read out of a fresh connection: the window offered in the
 * SYN (64 KiB) is far from used up, so the read sends nothing; the reply
 * carries the ACK (as on Linux: no pure ACK per request). */
static void t_no_update_on_read(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	char b[128];

	/* a Linux client: window scaling on (the 256 KiB buffer could be
	 * offered, the SYN,ACK offered 64 KiB) */
	static const struct rs_tcp_seg ws = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_WSCALE,
					     .mss = 1460, .wscale = 7};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44007, &snd, &ws);
	peer_tx(&p, 44007, 80, A, 1001, snd, 65535, "GET / HTTP/1.0\r\n\r\n", 18, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "the request's ACK is delayed (%d segments)", n);
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) == 18, "the request is read");
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "reading a small request sends no window update (%d segments)", n);
	T_CHECK(rs_send(p.c, fd, "HTTP/1.0 200 OK\r\n\r\n", 19, 0) == 19, "the reply is written");
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 19 && r[0].ack == 1001 + 18,
		"the reply carries the ACK (%d segments)", n);
	peer_fini(&p);
}

static void t_delayed_ack(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	static char buf[2920];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44006, &snd, NULL);
	(void)fd;
	peer_tx(&p, 44006, 80, A, 1001, snd, 65535, "x", 1, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "one small segment: ACK delayed");
	peer_advance(&p, 39 * MS);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "no ACK before 40 ms");
	peer_advance(&p, 2 * MS);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 1002 &&
			peer_counter(&p, "tcp_delayed_acks") == 1,
		"delayed ACK after 40 ms");
	fill(buf, sizeof(buf));
	peer_tx(&p, 44006, 80, A, 1002, snd, 65535, buf, 1460, NULL);
	peer_tx(&p, 44006, 80, A, 1002 + 1460, snd, 65535, buf, 1460, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 1002 + 2920,
		"two full segments: immediate ACK");
	peer_fini(&p);
}

static void t_timestamps(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	char b[16];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_TS, .tsval = 1000};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 44007, 80, S, 1000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	snd = r[0].seq + 1;
	o.tsval = 1001;
	o.tsecr = r[0].tsval;
	peer_tx(&p, 44007, 80, A, 1001, snd, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	o.tsval = 1005;
	peer_tx(&p, 44007, 80, A | P, 1001, snd, 65535, "abc", 3, &o);
	peer_rx(&p, r, 8);
	peer_advance(&p, 50 * MS);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].opts & RS_TCPOPT_TS) && r[0].tsecr == 1005,
		"timestamps echoed (TSecr %u)", r[0].tsecr);
	/* PAWS: an old timestamp is dropped with an ACK */
	o.tsval = 900;
	peer_tx(&p, 44007, 80, A | P, 1004, snd, 65535, "old", 3, &o);
	n = peer_rx(&p, r, 8);
	rs_recv(p.c, fd, b, sizeof(b), 0);
	T_CHECK(n == 1 && r[0].ack == 1004 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) < 0,
		"PAWS: segment with an older TSval dropped, ACK sent");
	peer_fini(&p);
}

static void conf_backlog(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->syn_backlog = 4;
	c->syncookies = RS_SYNCOOKIES_OFF;
}

static void t_backlog(void)
{
	struct peer p;
	struct pseg r[16];
	int n;

	peer_init(&p, conf_backlog);
	listen_on(&p, 80, 2);
	for (int i = 0; i < 6; i++)
		peer_tx(&p, (uint16_t)(45000 + i), 80, S, 1000, 0, 65535, NULL,
			0, NULL);
	n = peer_rx(&p, r, 16);
	struct rs_table_sizes ts;
	rs_core_tables(p.c, &ts);
	T_CHECK(n == 6 && ts.syn_recv == 3 &&
			peer_counter(&p, "tcp_syn_evicted") == 3 &&
			peer_counter(&p, "drop_syn_backlog") == 0,
		"SYN backlog 4, no cookies: a peer without history holds at "
		"most 3 of it, each newer SYN drops the oldest (%d SYN,ACKs)", n);
	for (int i = 3; i < 6; i++)
		peer_tx(&p, (uint16_t)(45000 + i), 80, A, 1001, r[i].seq + 1,
			65535, NULL, 0, NULL);
	peer_rx(&p, r + 6, 10);
	T_CHECK(peer_counter(&p, "drop_accept_queue") >= 1,
		"accept queue 2: the completion beyond it is dropped (%llu)",
		(unsigned long long)peer_counter(&p, "drop_accept_queue"));
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.syn_recv == 1 && ts.established == 2,
		"2 established (queued), 1 still SYN_RECV");
	peer_fini(&p);
}

static void t_tw_reuse(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 46000, &snd, NULL);
	rs_close(p.c, fd);
	peer_rx(&p, r, 8);
	peer_tx(&p, 46000, 80, F | A, 1001, snd + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	struct rs_table_sizes ts;
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.time_wait == 1, "server in TIME_WAIT");
	peer_tx(&p, 46000, 80, S, 500, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"TIME_WAIT: old SYN => ACK, no new connection");
	peer_tx(&p, 46000, 80, S, 100000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (S | A) && r[0].ack == 100001 &&
			peer_counter(&p, "tcp_tw_reused") == 1,
		"TIME_WAIT: newer SYN reuses the pair (RFC 6191)");
	peer_fini(&p);
}

/* RFC 6191 with timestamps: the server closed first and holds TIME_WAIT
 * of a connection whose last timestamp from the peer was 5001. */
static void t_tw_reuse_ts(void)
{
	struct peer p;
	struct pseg r[8];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_TS | RS_TCPOPT_MSS,
			       .mss = 1460, .tsval = 5000};
	struct rs_table_sizes ts;
	uint32_t snd = 0;
	int lfd, fd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 46100, 80, S, 1000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (S | A) && (r[0].opts & RS_TCPOPT_TS),
		"SYN,ACK with timestamps");
	if (n == 1)
		snd = r[0].seq + 1;
	o.opts = RS_TCPOPT_TS;
	o.tsecr = r[0].tsval;
	peer_tx(&p, 46100, 80, A, 1001, snd, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	o.tsval = 5001;
	o.tsecr = n ? r[0].tsval : 0;
	peer_tx(&p, 46100, 80, F | A, 1001, snd + 1, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	rs_core_tables(p.c, &ts);
	T_CHECK(fd >= 0 && ts.time_wait == 1, "server in TIME_WAIT");
	o.opts = RS_TCPOPT_TS | RS_TCPOPT_MSS;
	o.tsecr = 0;
	o.tsval = 4000;
	peer_tx(&p, 46100, 80, S, 100000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"older timestamp, later sequence number: ACK, no new connection");
	o.tsval = 5001;
	peer_tx(&p, 46100, 80, S, 500, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"same timestamp, earlier sequence number: ACK, no new connection");
	peer_tx(&p, 46100, 80, S, 100000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (S | A) && r[0].ack == 100001 &&
			peer_counter(&p, "tcp_tw_reused") == 1,
		"same timestamp, later sequence number: reused (RFC 6191)");

	/* the old incarnation without timestamps, the new SYN with them:
	 * honoured whatever its sequence number */
	fd = estab(&p, lfd, 46101, &snd, NULL);
	rs_close(p.c, fd);
	peer_rx(&p, r, 8);
	peer_tx(&p, 46101, 80, F | A, 1001, snd + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	o.tsval = 1;
	peer_tx(&p, 46101, 80, S, 500, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (S | A) && r[0].ack == 501 &&
			peer_counter(&p, "tcp_tw_reused") == 2,
		"old incarnation without timestamps, SYN with them: reused");
	peer_fini(&p);
}

static void t_nagle(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n, one = 1;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44008, &snd, NULL);
	rs_send(p.c, fd, "first", 5, 0);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 5, "small segment sent when nothing is in flight");
	rs_send(p.c, fd, "second", 6, 0);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "Nagle: second small segment waits for the ACK");
	peer_tx(&p, 44008, 80, A, 1001, snd + 5, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 6 && r[0].seq == snd + 5,
		"ACK arrives => the held segment goes");
	rs_setsockopt(p.c, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rs_send(p.c, fd, "third", 5, 0);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 5,
		"TCP_NODELAY: small segment sent with data in flight");
	peer_fini(&p);
}

/* Minshall's rule, as Linux: the short rest of a write goes out behind
 * its full segments at once; a later short segment waits while that one
 * is unacknowledged. */
static void t_nagle_minshall(void)
{
	static char buf[2 * 1460 + 100];
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44009, &snd, NULL);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 3 && r[2].len == 100,
		"two full segments and the 100-byte rest go at once (%d sent)", n);
	rs_send(p.c, fd, "later", 5, 0);
	peer_tx(&p, 44009, 80, A, 1001, snd + 2 * 1460, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "a second short segment waits while the first is "
		"unacknowledged (%d sent)", n);
	peer_tx(&p, 44009, 80, A, 1001, snd + sizeof(buf), 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 5 && r[0].seq == snd + sizeof(buf),
		"its ACK lets the second go");
	peer_fini(&p);
}

/* Sequence numbers wrap around 2^32 in the middle of the data. */
static void t_seq_wrap(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd, seq = 0xfffff000u + 1;
	int lfd, fd, ok = 1;
	char out[1000], in[20000];
	ssize_t got = 0, n;
	static const struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS, .mss = 1460};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	snd = peer_open(&p, 44009, 80, 0xfffff000u, &o);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	for (int i = 0; i < 20; i++) {
		memset(out, 'A' + i, sizeof(out));
		peer_tx(&p, 44009, 80, A, seq, snd, 65535, out, sizeof(out), NULL);
		seq += sizeof(out);
		peer_rx(&p, r, 8);
	}
	while ((n = rs_recv(p.c, fd, in + got, sizeof(in) - (size_t)got, 0)) > 0)
		got += n;
	for (int i = 0; i < 20000 && got == 20000; i++)
		ok &= in[i] == 'A' + i / 1000;
	T_CHECK(got == 20000 && ok && seq < 0x10000,
		"20 kB received across the 2^32 sequence wrap, in order (%zd)", got);
	peer_fini(&p);
}

static void t_limited_early(void)
{
	struct peer p;
	struct pseg r[32];
	uint32_t snd;
	int lfd, fd, n;
	static char buf[20 * 1460];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44010, &snd, NULL);
	fill(buf, sizeof(buf));
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 32);
	T_CHECK(n == 10, "20 segments queued, initial window sends 10");
	/* first segment lost: a duplicate ACK (window growing, like Linux) */
	peer_tx(&p, 44010, 80, A, 1001, snd, 65535, NULL, 0, NULL);
	peer_tx(&p, 44010, 80, A, 1001, snd, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 32);
	T_CHECK(n == 2 && r[0].seq == snd + 10 * 1460 && r[1].seq == snd + 11 * 1460,
		"limited transmit: one new segment per early duplicate ACK (%d)", n);
	peer_fini(&p);

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44011, &snd, NULL);
	rs_send(p.c, fd, buf, 2 * 1460, 0);
	n = peer_rx(&p, r, 32);
	peer_tx(&p, 44011, 80, A, 1001, snd, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 32);
	T_CHECK(n == 1 && r[0].seq == snd && r[0].len == 1460 &&
			peer_counter(&p, "tcp_rto_expired") == 0,
		"early retransmit: 2 segments out, nothing more to send, one "
		"duplicate ACK retransmits");
	peer_fini(&p);
}

static void t_sack_blocks(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, n;
	char buf[1000];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_SACKOK |
				       RS_TCPOPT_TS,
			       .mss = 1460, .tsval = 10};
	struct rs_tcp_seg ts = {.opts = RS_TCPOPT_TS, .tsval = 11};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 44012, 80, S, 1000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].opts & RS_TCPOPT_SACKOK),
		"SACK permitted answered in the SYN,ACK");
	snd = r[0].seq + 1;
	peer_tx(&p, 44012, 80, A, 1001, snd, 65535, NULL, 0, &ts);
	peer_rx(&p, r, 8);
	(void)lfd;
	fill(buf, sizeof(buf));
	/* segment [1001, 2001) lost; [2001, 4001) arrives, then [5001, 6001) */
	peer_tx(&p, 44012, 80, A, 2001, snd, 65535, buf, 1000, &ts);
	peer_tx(&p, 44012, 80, A, 3001, snd, 65535, buf, 1000, &ts);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 2 && r[1].ack == 1001 && r[1].nsack == 1 &&
			r[1].sack[0][0] == 2001 && r[1].sack[0][1] == 4001,
		"duplicate ACK carries SACK block 2001-4001");
	peer_tx(&p, 44012, 80, A, 5001, snd, 65535, buf, 1000, &ts);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].nsack == 2 && r[0].sack[0][0] == 5001 &&
			r[0].sack[0][1] == 6001 && r[0].sack[1][0] == 2001,
		"latest block first (5001-6001), then 2001-4001 (RFC 2018)");
	peer_tx(&p, 44012, 80, A, 1001, snd, 65535, buf, 1000, &ts);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 4001 && r[0].nsack == 1 &&
			r[0].sack[0][0] == 5001,
		"hole filled: ACK 4001, remaining block 5001-6001");
	peer_fini(&p);
}

static void t_tail_probe(void)
{
	struct peer p;
	struct pseg r[16];
	uint32_t snd;
	int lfd, fd, n;
	static char buf[3 * 1460];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 44013, &snd, NULL);
	fill(buf, sizeof(buf));
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 16);
	T_CHECK(n == 3, "3 segments out");
	/* their ACK is lost: nothing comes back */
	n = 0;
	for (int i = 0; i < 50 && n == 0; i++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 16);
	}
	T_CHECK(n == 1 && r[0].seq == snd + 2 * 1460 && r[0].len == 1460 &&
			peer_counter(&p, "tcp_tail_probes") == 1 &&
			peer_counter(&p, "tcp_rto_expired") == 0,
		"tail loss probe: the last segment again after 10 ms, no RTO");
	peer_tx(&p, 44013, 80, A, 1001, snd + 3 * 1460, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 16);
	peer_advance(&p, 1000 * MS);
	T_CHECK(peer_rx(&p, r, 16) == 0 && peer_counter(&p, "tcp_rto_expired") == 0,
		"the probe's ACK settles everything");
	peer_fini(&p);
}

static void conf_cookies(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->syn_backlog = 1;
	c->syncookies = RS_SYNCOOKIES_ON_FULL;
}

/* Accept a connection on lfd; *mss gets its TCP_MAXSEG. */
static int accept_mss(struct peer *p, int lfd, int *mss)
{
	int fd = rs_accept(p->c, lfd, NULL, NULL);
	socklen_t ml = sizeof(*mss);

	*mss = 0;
	rs_getsockopt(p->c, fd, IPPROTO_TCP, TCP_MAXSEG, mss, &ml);
	return fd;
}

static void t_syncookies(void)
{
	struct peer p;
	struct pseg r[8];
	int lfd, fd, n, mss;
	char b[16];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_TS |
				       RS_TCPOPT_WSCALE,
			       .mss = 1400, .wscale = 5, .tsval = 1};
	struct rs_table_sizes ts;

	peer_init(&p, conf_cookies);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 45100, 80, S, 1000, 0, 65535, NULL, 0, &o);
	peer_tx(&p, 45101, 80, S, 5000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	rs_core_tables(p.c, &ts);
	T_CHECK(n == 2 && ts.syn_recv == 1 &&
			peer_counter(&p, "tcp_syncookies_sent") == 1 &&
			r[1].opts == (RS_TCPOPT_MSS | RS_TCPOPT_TS | RS_TCPOPT_WSCALE) &&
			r[1].ack == 5001 && r[1].tsecr == 1 && (r[1].tsval & 31) == 5,
		"backlog 1 full: second SYN answered with a cookie SYN,ACK "
		"(no state kept; the peer's window scale in the timestamp)");
	uint32_t cookie = r[1].seq;
	peer_tx(&p, 45101, 80, A | P, 5001, cookie + 2, 65535, "GET", 3, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & R) &&
			peer_counter(&p, "tcp_syncookies_failed") == 1,
		"ACK with a wrong cookie => RST, counted");
	peer_tx(&p, 45101, 80, A | P, 5001, cookie + 1, 65535, "GET", 3, NULL);
	peer_rx(&p, r, 8);
	fd = accept_mss(&p, lfd, &mss);
	T_CHECK(fd > 0 && peer_counter(&p, "tcp_syncookies_ok") == 1 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) == 3 && mss == 1380,
		"valid cookie ACK => connection rebuilt, its data delivered, "
		"MSS from the cookie table (%d)", mss);
	rs_send(p.c, fd, "200", 3, 0);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].seq == cookie + 1 && r[0].len == 3 &&
			r[0].ack == 5004,
		"the rebuilt connection sends from ISN+1");
	/* a cookie three minutes old is refused (the backlog still full:
	 * cookies are being sent, so ACKs are checked for one) */
	peer_tx(&p, 45102, 80, S, 9000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	cookie = r[0].seq;
	peer_advance(&p, 180ull * 1000 * MS);
	peer_tx(&p, 45103, 80, S, 7000, 0, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	peer_tx(&p, 45102, 80, A, 9001, cookie + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n >= 1 && (r[n - 1].flags & R) &&
			peer_counter(&p, "tcp_syncookies_failed") == 2,
		"stale cookie (3 minutes) refused");
	peer_fini(&p);
}

/* A peer with timestamps keeps them, window scaling and SACK on a
 * cookie connection (the options come back in the echoed timestamp):
 * without timestamps a new SYN on the 4-tuple in TIME_WAIT is judged by
 * its ISN alone, and Linux clients' ISNs often fail that. */
static void t_syncookie_options(void)
{
	struct peer p;
	struct pseg r[8];
	int lfd, fd, n, mss;
	char b[16];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_TS |
				       RS_TCPOPT_WSCALE | RS_TCPOPT_SACKOK,
			       .mss = 1460, .wscale = 7, .tsval = 1000};
	struct rs_tcp_seg ts = {.opts = RS_TCPOPT_TS, .tsval = 1001};

	peer_init(&p, conf_cookies);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 45200, 80, S, 1000, 0, 65535, NULL, 0, &o);
	peer_tx(&p, 45201, 80, S, 5000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 2 && peer_counter(&p, "tcp_syncookies_sent") == 1 &&
			r[1].opts == (RS_TCPOPT_MSS | RS_TCPOPT_TS | RS_TCPOPT_WSCALE |
				      RS_TCPOPT_SACKOK) &&
			r[1].tsecr == 1000 && (r[1].tsval & 31) == (7 | 16),
		"cookie SYN,ACK to a peer with timestamps: TS (wscale 7 + SACK "
		"in its low bits: %u), WSCALE and SACKOK offered", r[1].tsval & 31);
	uint32_t cookie = r[1].seq, syn_ts = r[1].tsval, ws = r[1].ws;
	peer_advance(&p, 5 * MS);
	ts.tsecr = syn_ts;
	peer_tx(&p, 45201, 80, A | P, 5001, cookie + 1, 512, "GET", 3, &ts);
	peer_rx(&p, r, 8);
	fd = accept_mss(&p, lfd, &mss);
	T_CHECK(fd > 0 && peer_counter(&p, "tcp_syncookies_ok") == 1 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) == 3 && mss == 1460 - 12,
		"cookie connection rebuilt with timestamps (MSS %d = 1448)", mss);
	char big[8000];
	memset(big, 'x', sizeof(big));
	n = (int)rs_send(p.c, fd, big, sizeof(big), 0);
	int k = peer_rx(&p, r, 8);
	uint32_t sent = 0;
	for (int i = 0; i < k; i++)
		sent += r[i].len;
	T_CHECK(n > 0 && k >= 1 && (r[0].opts & RS_TCPOPT_TS) && r[0].tsecr == 1001 &&
			(int32_t)(r[0].tsval - syn_ts) >= 0 && sent > 512 * 4,
		"its segments carry timestamps that do not go back (%u >= %u), "
		"the peer's window is scaled (%u bytes sent into 512 << 7)",
		r[0].tsval, syn_ts, sent);
	/* a hole: the stack (receiver) reports the block after it */
	ts.tsval = 1002;
	peer_tx(&p, 45201, 80, A | P, 5004 + 100, cookie + 1, 512, "late", 4, &ts);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 5004 && r[0].nsack == 1 &&
			r[0].sack[0][0] == 5104 && r[0].sack[0][1] == 5108,
		"SACK on: out-of-order data answered with a SACK block");
	T_CHECK(ws > 0, "the stack announced its own window scale (%u)", ws);
	peer_fini(&p);
}

int main(void)
{
	t_syncookies();
	t_syncookie_options();
	t_tail_probe();
	t_sack_blocks();
	t_limited_early();
	t_seq_wrap();
	t_nagle();
	t_nagle_minshall();
	t_rto_backoff();
	t_fast_retransmit();
	t_iw_mss();
	t_wscale();
	t_zero_window();
	t_receive_window();
	t_delayed_ack();
	t_no_update_on_read();
	t_timestamps();
	t_backlog();
	t_tw_reuse();
	t_tw_reuse_ts();
	return t_summary();
}
