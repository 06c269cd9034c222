/* Every TCP state transition of RFC 9293 3.3.2, driven by a scripted peer
 * over memif on a virtual clock: passive and active open, simultaneous
 * open and close, both close orders, TIME_WAIT expiry, RST in each state
 * (RFC 5961 challenge ACKs for in-window RSTs and SYNs), out-of-window
 * and duplicate segments, unacceptable ACKs. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../../src/common.h"
#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define F RS_TH_FIN
#define R RS_TH_RST
#define P RS_TH_PSH

static int listen_on(struct peer *p, uint16_t port, int backlog)
{
	struct sockaddr_in a = tb_addr("0.0.0.0", port);
	int fd = rs_socket(p->c, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || rs_bind(p->c, fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(p->c, fd, backlog))
		return -1;
	return fd;
}

/* An established connection accepted on the stack: returns the fd, sets
 * *snd (the stack's next seq).  Peer's next seq is 1001. */
static int estab(struct peer *p, int lfd, uint16_t sport, uint32_t *snd)
{
	*snd = peer_open(p, sport, 80, 1000, NULL);
	if (!*snd)
		return -1;
	return rs_accept(p->c, lfd, NULL, NULL);
}

static void t_passive_open(void)
{
	struct peer p;
	struct pseg r[4];
	int lfd, n, fd;
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_WSCALE |
				       RS_TCPOPT_TS,
			       .mss = 1460, .wscale = 7, .tsval = 555};

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 40000, 80, S, 1000, 0, 65535, NULL, 0, &o);
	n = peer_rx(&p, r, 4);
	T_CHECK(n == 1 && r[0].flags == (S | A) && r[0].ack == 1001,
		"LISTEN: SYN answered by SYN,ACK acking ISN+1");
	T_CHECK(peer_saw(&p, "CLOSED", "SYN_RECV"), "CLOSED => SYN_RECV (passive)");
	T_CHECK((r[0].opts & RS_TCPOPT_MSS) && r[0].mss == 1460 &&
			(r[0].opts & RS_TCPOPT_WSCALE) && r[0].ws == 3 &&
			(r[0].opts & RS_TCPOPT_TS) && r[0].tsecr == 555,
		"SYN,ACK carries MSS 1460, wscale 3 (256 KiB buffer), TS echo");
	T_CHECK(rs_accept(p.c, lfd, NULL, NULL) < 0 && errno == EAGAIN,
		"accept: EAGAIN before the handshake completes");
	o.opts = RS_TCPOPT_TS;
	o.tsval = 556;
	o.tsecr = r[0].tsval;
	peer_tx(&p, 40000, 80, A, 1001, r[0].seq + 1, 100, NULL, 0, &o);
	peer_rx(&p, r, 4);
	T_CHECK(peer_saw(&p, "SYN_RECV", "ESTABLISHED"), "SYN_RECV => ESTABLISHED");
	fd = rs_accept(p.c, lfd, NULL, NULL);
	T_CHECK(fd > 0, "accept returns the connection");
	peer_fini(&p);
}

static void t_active_open(void)
{
	struct peer p;
	struct pseg r[4];
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fd, n, e = -1;
	socklen_t el = sizeof(e);

	peer_init(&p, NULL);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	T_CHECK(rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == EINPROGRESS,
		"connect: EINPROGRESS");
	T_CHECK(rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == EALREADY,
		"connect again: EALREADY");
	n = peer_rx(&p, r, 4);
	T_CHECK(n == 1 && r[0].flags == S && r[0].dport == 8080,
		"CLOSED => SYN_SENT: SYN sent");
	/* bad ACK in SYN_SENT: RST <SEQ=SEG.ACK> */
	peer_tx(&p, 8080, r[0].sport, S | A, 5000, r[0].seq + 77, 65535, NULL,
		0, NULL);
	struct pseg b[4];
	n = peer_rx(&p, b, 4);
	T_CHECK(n == 1 && b[0].flags == R && b[0].seq == r[0].seq + 77,
		"SYN_SENT: unacceptable ACK draws RST with SEQ=SEG.ACK");
	T_CHECK(strcmp(rs_sock_state(p.c, fd), "SYN_SENT") == 0,
		"SYN_SENT: still SYN_SENT after a bad ACK");
	peer_tx(&p, 8080, r[0].sport, S | A, 5000, r[0].seq + 1, 65535, NULL, 0,
		NULL);
	n = peer_rx(&p, b, 4);
	T_CHECK(n == 0 && rs_poll_at(p.c) == 0,
		"SYN_SENT => ESTABLISHED: the ACK of the SYN,ACK waits for the "
		"application's turn (and rs_poll_at says poll again now)");
	n = peer_rx(&p, b, 4);
	T_CHECK(n == 1 && b[0].flags == A && b[0].ack == 5001 &&
			b[0].seq == r[0].seq + 1 && b[0].len == 0,
		"... the application wrote nothing: the next poll step sends the "
		"pure ACK of the SYN,ACK");
	T_CHECK(rs_poll_at(p.c) != 0, "... and nothing waits any more");
	T_CHECK(strcmp(rs_sock_state(p.c, fd), "ESTABLISHED") == 0 &&
			rs_getsockopt(p.c, fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 &&
			e == 0,
		"ESTABLISHED, SO_ERROR 0");
	peer_fini(&p);
}

/* Frames on the wire now, without polling the stack. */
static int wire_frames(struct peer *p)
{
	struct rs_frame rx[8];
	int n = rs_io_memif.rx_burst(p->wire, rx, 8);

	if (n > 0)
		rs_io_memif.rx_release(p->wire);
	return n;
}

/* An active open answered: connect, check the one SYN (r[0]), send its
 * SYN,ACK; *after is what the stack sent next, read into r[1..3]. */
static int syn_acked(struct peer *p, struct pseg *r, int *after)
{
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fd = rs_socket(p->c, AF_INET, SOCK_STREAM, 0);

	rs_connect(p->c, fd, (struct sockaddr *)&dst, sizeof(dst));
	T_CHECK(peer_rx(p, r, 4) == 1 && r[0].flags == S, "SYN sent");
	peer_tx(p, 8080, r[0].sport, S | A, 5000, r[0].seq + 1, 65535, NULL, 0,
		NULL);
	*after = peer_rx(p, r + 1, 3);
	return fd;
}

/* rs_core_flush sends a held ACK without a poll (the shim calls it after
 * polling a core that another thread drives). */
static void t_flush_held_ack(void)
{
	struct peer p;
	struct pseg r[4];
	int n;

	peer_init(&p, NULL);
	syn_acked(&p, r, &n);
	T_CHECK(n == 0 && rs_poll_at(p.c) == 0, "SYN,ACK received: the ACK is held");
	rs_core_flush(p.c);
	n = wire_frames(&p);
	T_CHECK(n == 1 && rs_poll_at(p.c) != 0,
		"rs_core_flush sends it without a poll (%d frame(s)), nothing "
		"held after", n);
	peer_fini(&p);
}

/* The handshake's last ACK rides on the request the application writes
 * when connect completes: one segment, not two. */
static void t_active_open_request(void)
{
	struct peer p;
	struct pseg r[4];
	int fd, n;

	peer_init(&p, NULL);
	fd = syn_acked(&p, r, &n);
	T_CHECK(n == 0, "SYN,ACK received: no pure ACK yet");
	T_CHECK(rs_send(p.c, fd, "GET /", 5, 0) == 5,
		"the application writes its request");
	n = peer_rx(&p, r + 1, 3);
	T_CHECK(n == 1 && r[1].flags == (A | P) && r[1].ack == 5001 &&
			r[1].seq == r[0].seq + 1 && r[1].len == 5,
		"the request carries the ACK of the SYN,ACK (%d segment(s))", n);
	n = peer_rx(&p, r + 1, 3);
	T_CHECK(n == 0, "... and no separate ACK follows");
	peer_fini(&p);
}

static void t_refused(void)
{
	struct peer p;
	struct pseg r[4];
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fd, e = 0;
	socklen_t el = sizeof(e);

	peer_init(&p, NULL);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst));
	peer_rx(&p, r, 4);
	peer_tx(&p, 8080, r[0].sport, R | A, 0, r[0].seq + 2, 0, NULL, 0, NULL);
	peer_rx(&p, r + 1, 3);
	T_CHECK(strcmp(rs_sock_state(p.c, fd), "SYN_SENT") == 0,
		"SYN_SENT: RST with a wrong ACK is ignored");
	peer_tx(&p, 8080, r[0].sport, R | A, 0, r[0].seq + 1, 0, NULL, 0, NULL);
	peer_rx(&p, r + 1, 3);
	rs_getsockopt(p.c, fd, SOL_SOCKET, SO_ERROR, &e, &el);
	T_CHECK(e == ECONNREFUSED, "SYN_SENT: RST => CLOSED, SO_ERROR ECONNREFUSED");
	peer_fini(&p);
}

static void t_simultaneous_open(void)
{
	struct peer p;
	struct pseg r[4];
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fd, n;

	peer_init(&p, NULL);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst));
	peer_rx(&p, r, 4);
	peer_tx(&p, 8080, r[0].sport, S, 7000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r + 1, 3);
	T_CHECK(n == 1 && r[1].flags == (S | A) && r[1].seq == r[0].seq &&
			r[1].ack == 7001,
		"simultaneous open: SYN_SENT + SYN => SYN_RECV, SYN,ACK with our ISS");
	T_CHECK(peer_saw(&p, "SYN_SENT", "SYN_RECV"), "SYN_SENT => SYN_RECV");
	peer_tx(&p, 8080, r[0].sport, S | A, 7000, r[0].seq + 1, 65535, NULL, 0,
		NULL);
	peer_rx(&p, r + 1, 3);
	/* our SYN,ACK crossed theirs: the ACK completes it */
	peer_tx(&p, 8080, r[0].sport, A, 7001, r[0].seq + 1, 65535, NULL, 0,
		NULL);
	peer_rx(&p, r + 1, 3);
	T_CHECK(strcmp(rs_sock_state(p.c, fd), "ESTABLISHED") == 0,
		"simultaneous open: SYN_RECV => ESTABLISHED (%s)",
		rs_sock_state(p.c, fd));
	peer_fini(&p);
}

static void t_active_close(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	struct rs_table_sizes ts;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 40001, &snd);
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (F | A) && r[0].seq == snd,
		"ESTABLISHED => FIN_WAIT_1: FIN sent");
	peer_tx(&p, 40001, 80, A, 1001, snd + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "FIN_WAIT_1", "FIN_WAIT_2"), "FIN_WAIT_1 => FIN_WAIT_2");
	peer_tx(&p, 40001, 80, F | A, 1001, snd + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"FIN_WAIT_2 => TIME_WAIT: FIN acknowledged");
	T_CHECK(peer_saw(&p, "FIN_WAIT_2", "TIME_WAIT"), "FIN_WAIT_2 => TIME_WAIT");
	peer_tx(&p, 40001, 80, F | A, 1001, snd + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"TIME_WAIT: retransmitted FIN is acknowledged again");
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.time_wait == 1, "one compact TIME_WAIT entry");
	peer_advance(&p, 999000000ull);
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.time_wait == 1, "TIME_WAIT still there before 1 s");
	peer_advance(&p, 2000000ull);
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.time_wait == 0, "TIME_WAIT => CLOSED after the configured 1 s");
	peer_tx(&p, 40001, 80, A, 1002, snd + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & R) && r[0].seq == snd + 1,
		"after TIME_WAIT: a stray ACK draws RST (CLOSED)");
	peer_fini(&p);
}

static void t_fin_ack_together(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 40002, &snd);
	rs_close(p.c, fd);
	peer_rx(&p, r, 8);
	peer_tx(&p, 40002, 80, F | A, 1001, snd + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 1002 && peer_saw(&p, "FIN_WAIT_1", "FIN_WAIT_2") &&
			peer_saw(&p, "FIN_WAIT_2", "TIME_WAIT"),
		"FIN_WAIT_1 + FIN,ACK => TIME_WAIT");
	peer_fini(&p);
}

static void t_passive_close(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	char b[8];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 40003, &snd);
	peer_tx(&p, 40003, 80, F | A, 1001, snd, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0 && rs_poll_at(p.c) == 0,
		"ESTABLISHED => CLOSE_WAIT: the FIN's ACK waits for the "
		"application's turn (rs_poll_at 0)");
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1002,
		"... the application did not close: the next poll step "
		"acknowledges the FIN");
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) == 0, "recv returns 0 (EOF)");
	T_CHECK(rs_send(p.c, fd, "late", 4, 0) == 4,
		"CLOSE_WAIT: sending is still allowed");
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].len == 4, "CLOSE_WAIT: data goes out");
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & F) && r[0].seq == snd + 4,
		"CLOSE_WAIT => LAST_ACK: FIN sent");
	peer_tx(&p, 40003, 80, A, 1002, snd + 5, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "LAST_ACK", "CLOSED"), "LAST_ACK => CLOSED");
	peer_fini(&p);
}

/* The ACK of the peer's FIN rides on the FIN of the close that the
 * application answers end of stream with. */
static void t_passive_close_merged(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	char b[8];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 40013, &snd);
	peer_tx(&p, 40013, 80, P | A, 1001, snd, 65535, "req", 3, NULL);
	peer_tx(&p, 40013, 80, F | A, 1004, snd, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0, "data and FIN received: no pure ACK yet");
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) == 3 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) == 0,
		"the application reads the data and end of stream");
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (F | A) && r[0].ack == 1005 &&
			r[0].seq == snd,
		"the close's FIN carries the ACK of data and FIN (%d segment(s))",
		n);
	T_CHECK(peer_saw(&p, "CLOSE_WAIT", "LAST_ACK"), "CLOSE_WAIT => LAST_ACK");
	peer_tx(&p, 40013, 80, A, 1005, snd + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "LAST_ACK", "CLOSED"), "LAST_ACK => CLOSED");
	peer_fini(&p);
}

static void t_simultaneous_close(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 40004, &snd);
	rs_close(p.c, fd);
	peer_rx(&p, r, 8);
	peer_tx(&p, 40004, 80, F | A, 1001, snd, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 1002 && peer_saw(&p, "FIN_WAIT_1", "CLOSING"),
		"FIN_WAIT_1 + FIN (ours unacked) => CLOSING");
	peer_tx(&p, 40004, 80, A, 1002, snd + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "CLOSING", "TIME_WAIT"), "CLOSING => TIME_WAIT");
	peer_fini(&p);
}

/* Drive a fresh connection to state st; returns fd (-1 if closed) and the
 * stack's next sequence number. */
enum { ST_EST, ST_FW1, ST_FW2, ST_CW, ST_CLOSING, ST_LA, ST_TW };
static int drive(struct peer *p, int lfd, uint16_t port, int st, uint32_t *snd)
{
	struct pseg r[8];
	int fd = estab(p, lfd, port, snd);

	switch (st) {
	case ST_EST:
		return fd;
	case ST_CW:
	case ST_LA:
		peer_tx(p, port, 80, F | A, 1001, *snd, 65535, NULL, 0, NULL);
		peer_rx(p, r, 8);
		if (st == ST_LA) {
			rs_close(p->c, fd);
			peer_rx(p, r, 8);
			return -1;
		}
		return fd;
	default:
		rs_close(p->c, fd);
		peer_rx(p, r, 8);
		if (st == ST_FW2 || st == ST_TW) {
			peer_tx(p, port, 80, A, 1001, *snd + 1, 65535, NULL, 0,
				NULL);
			peer_rx(p, r, 8);
		}
		if (st == ST_CLOSING || st == ST_TW) {
			peer_tx(p, port, 80, F | A, 1001,
				st == ST_TW ? *snd + 1 : *snd, 65535, NULL, 0,
				NULL);
			peer_rx(p, r, 8);
		}
		return -1;
	}
}

static void t_rst_each_state(void)
{
	static const struct {
		int st;
		const char *name;
	} sts[] = {{ST_EST, "ESTABLISHED"}, {ST_FW1, "FIN_WAIT_1"},
		   {ST_FW2, "FIN_WAIT_2"},  {ST_CW, "CLOSE_WAIT"},
		   {ST_CLOSING, "CLOSING"}, {ST_LA, "LAST_ACK"},
		   {ST_TW, "TIME_WAIT"}};
	struct peer p;
	struct pseg r[8];

	for (unsigned i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		uint16_t port = (uint16_t)(41000 + i);
		uint32_t snd;
		int lfd, fd, n, e = 0;
		uint32_t rcv;
		struct rs_table_sizes ts;
		socklen_t el = sizeof(e);

		peer_init(&p, NULL);
		lfd = listen_on(&p, 80, 16);
		fd = drive(&p, lfd, port, sts[i].st, &snd);
		rcv = (sts[i].st == ST_EST || sts[i].st == ST_FW1 ||
		       sts[i].st == ST_FW2) ? 1001 : 1002;
		/* in-window but not exact: challenge ACK, no state change */
		uint64_t ch = peer_counter(&p, "tcp_challenge_acks");
		peer_tx(&p, port, 80, R, rcv + 10, 0, 0, NULL, 0, NULL);
		n = peer_rx(&p, r, 8);
		if (sts[i].st != ST_TW)
			T_CHECK(n == 1 && r[0].flags == A && r[0].ack == rcv &&
					peer_counter(&p, "tcp_challenge_acks") == ch + 1,
				"%s: in-window RST with wrong SEQ => challenge ACK",
				sts[i].name);
		/* out of window: ignored silently */
		peer_tx(&p, port, 80, R, rcv + 10000000, 0, 0, NULL, 0, NULL);
		n = peer_rx(&p, r, 8);
		T_CHECK(n == 0, "%s: out-of-window RST ignored", sts[i].name);
		peer_tx(&p, port, 80, R, rcv, 0, 0, NULL, 0, NULL);
		peer_rx(&p, r, 8);
		rs_core_tables(p.c, &ts);
		T_CHECK(ts.established == 0 && ts.time_wait == 0,
			"%s: exact RST => CLOSED, tables empty", sts[i].name);
		if (fd > 0 && sts[i].st == ST_EST) {
			rs_getsockopt(p.c, fd, SOL_SOCKET, SO_ERROR, &e, &el);
			T_CHECK(e == ECONNRESET,
				"%s: SO_ERROR ECONNRESET after RST", sts[i].name);
		}
		peer_fini(&p);
	}
}

static void t_rst_syn_recv(void)
{
	struct peer p;
	struct pseg r[8];
	struct rs_table_sizes ts;
	int lfd, n;

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 42000, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	peer_tx(&p, 42000, 80, R, 1001, 0, 0, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.syn_recv == 0 && peer_saw(&p, "SYN_RECV", "CLOSED"),
		"SYN_RECV: RST removes the embryonic connection");
	T_CHECK(peer_open(&p, 42001, 80, 5000, NULL) != 0 &&
			rs_accept(p.c, lfd, NULL, NULL) > 0,
		"the listener still accepts afterwards");
	/* retransmitted SYN in SYN_RECV: SYN,ACK again */
	peer_tx(&p, 42002, 80, S, 3000, 0, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	peer_tx(&p, 42002, 80, S, 3000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r + 1, 7);
	T_CHECK(n == 1 && r[1].flags == (S | A) && r[1].seq == r[0].seq,
		"SYN_RECV: retransmitted SYN => same SYN,ACK again");
	/* wrong ACK in SYN_RECV: RST */
	peer_tx(&p, 42002, 80, A, 3001, r[0].seq + 99, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r + 1, 7);
	T_CHECK(n == 1 && r[1].flags == R && r[1].seq == r[0].seq + 99,
		"SYN_RECV: unacceptable ACK => RST <SEQ=SEG.ACK>");
	peer_fini(&p);
}

static void t_window_checks(void)
{
	struct peer p;
	struct pseg r[8];
	uint32_t snd;
	int lfd, fd, n;
	char b[64];

	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	fd = estab(&p, lfd, 43000, &snd);
	peer_tx(&p, 43000, 80, A | P, 1001, snd, 65535, "hello", 5, NULL);
	peer_rx(&p, r, 8);
	/* duplicate (old) segment: ACK, data not delivered twice */
	peer_tx(&p, 43000, 80, A | P, 1001, snd, 65535, "hello", 5, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1006,
		"duplicate segment => ACK of RCV.NXT");
	T_CHECK(rs_recv(p.c, fd, b, sizeof(b), 0) == 5, "data delivered once");
	T_CHECK(peer_counter(&p, "tcp_dup_segs") == 1, "counted as duplicate");
	/* beyond the window */
	peer_tx(&p, 43000, 80, A, 1006 + 10000000, snd, 65535, "x", 1, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A && r[0].ack == 1006 &&
			peer_counter(&p, "drop_tcp_out_of_window") == 1,
		"out-of-window segment => ACK, dropped and counted");
	/* partially old segment: the new part is kept */
	peer_tx(&p, 43000, 80, A | P, 1003, snd, 65535, "lloworld", 8, NULL);
	peer_advance(&p, 50000000ull);
	n = (int)rs_recv(p.c, fd, b, sizeof(b), 0);
	T_CHECK(n == 5 && memcmp(b, "world", 5) == 0,
		"overlapping segment trimmed to its new bytes");
	/* ACK for data never sent: challenge ACK (RFC 5961 5.2), dropped */
	uint64_t ch = peer_counter(&p, "tcp_challenge_acks");
	peer_rx(&p, r, 8);
	peer_tx(&p, 43000, 80, A | P, 1011, snd + 5000, 65535, "zz", 2, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].ack == 1011 &&
			peer_counter(&p, "tcp_challenge_acks") == ch + 1 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) < 0,
		"ACK above SND.NXT => challenge ACK, segment dropped");
	/* SYN in ESTABLISHED: challenge ACK (RFC 5961 4) */
	peer_tx(&p, 43000, 80, S, 1011, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == A &&
			strcmp(rs_sock_state(p.c, fd), "ESTABLISHED") == 0,
		"SYN in ESTABLISHED => challenge ACK, connection kept");
	/* segment for nobody: RST */
	peer_tx(&p, 43999, 80, A, 1, 77, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == R && r[0].seq == 77,
		"ACK to no connection => RST <SEQ=SEG.ACK>");
	peer_tx(&p, 43999, 81, S, 1, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == (R | A) && r[0].ack == 2,
		"SYN to a closed port => RST,ACK");
	peer_fini(&p);
}

static void t_more_transitions(void)
{
	struct peer p;
	struct pseg r[8];
	int lfd, fd, n;

	/* SYN_RECV + ACK,FIN => ESTABLISHED => CLOSE_WAIT */
	peer_init(&p, NULL);
	lfd = listen_on(&p, 80, 16);
	peer_tx(&p, 49000, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	peer_tx(&p, 49000, 80, A | F | P, 1001, r[0].seq + 1, 65535, "bye", 3,
		NULL);
	n = peer_rx(&p, r + 1, 7);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	char b[8];
	T_CHECK(fd > 0 && strcmp(rs_sock_state(p.c, fd), "CLOSE_WAIT") == 0 &&
			n == 1 && r[1].ack == 1005 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) == 3 &&
			rs_recv(p.c, fd, b, sizeof(b), 0) == 0,
		"SYN_RECV + ACK,data,FIN => CLOSE_WAIT, data and EOF readable");
	/* LISTEN => CLOSED with children: RST to each */
	peer_tx(&p, 49001, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	uint32_t s1 = r[0].seq;
	peer_open(&p, 49002, 80, 2000, NULL);
	rs_close(p.c, lfd);
	n = peer_rx(&p, r, 8);
	int rsts = 0;
	for (int i = 0; i < n; i++)
		rsts += (r[i].flags & R) != 0;
	struct rs_table_sizes ts;
	rs_core_tables(p.c, &ts);
	T_CHECK(rsts == 2 && ts.syn_recv == 0 && ts.listen == 0 &&
			ts.established == 1,
		"listener closed: SYN_RECV child and unaccepted child reset "
		"(%d RSTs), the accepted one lives", rsts);
	(void)s1;
	peer_tx(&p, 49003, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & R), "closed port: SYN => RST");
	peer_fini(&p);

	/* simultaneous open, then close in SYN_RECV => FIN_WAIT_1 */
	peer_init(&p, NULL);
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst));
	peer_rx(&p, r, 8);
	peer_tx(&p, 8080, r[0].sport, S, 7000, 0, 65535, NULL, 0, NULL);
	peer_rx(&p, r + 1, 7);
	rs_close(p.c, fd);
	T_CHECK(peer_saw(&p, "SYN_RECV", "FIN_WAIT_1"), "SYN_RECV => FIN_WAIT_1 on close");
	peer_tx(&p, 8080, r[0].sport, A, 7001, r[0].seq + 1, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r + 1, 7);
	T_CHECK(n == 1 && (r[1].flags & F) && r[1].seq == r[0].seq + 1,
		"after the handshake ACK the FIN goes out");
	peer_fini(&p);
}

/* One connection of a 4-tuple that the peer closed first, then the next
 * one 100 us later from the same port: the peer (as Linux does) holds
 * the first in TIME_WAIT and accepts the new SYN only if its sequence
 * number is beyond the old connection's and its timestamp not older
 * (PAWS, RFC 6191).  Otherwise it answers with an ACK of the old
 * connection and the connect stalls for a retransmission timeout. */
static int open_from(struct peer *p, uint16_t sport, struct pseg *syn)
{
	struct sockaddr_in src = tb_addr("0.0.0.0", sport);
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fd = rs_socket(p->c, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || rs_bind(p->c, fd, (struct sockaddr *)&src, sizeof(src)))
		return -1;
	rs_connect(p->c, fd, (struct sockaddr *)&dst, sizeof(dst));
	return peer_rx(p, syn, 1) == 1 && syn->flags == S ? fd : -1;
}

static void t_reuse_after_peer_close(void)
{
	struct peer p;
	struct pseg syn, r[8];
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_TS, .tsval = 7000};
	uint32_t last_ts, end_seq;
	int fd, n;

	peer_init(&p, NULL);
	fd = open_from(&p, 40001, &syn);
	T_CHECK(fd >= 0 && (syn.opts & RS_TCPOPT_TS), "first SYN, with timestamps");
	last_ts = syn.tsval;
	o.tsecr = syn.tsval;
	peer_tx(&p, 8080, 40001, S | A, 5000, syn.seq + 1, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	T_CHECK(rs_send(p.c, fd, "0123456789", 10, 0) == 10, "send 10 bytes");
	peer_rx(&p, r, 8);
	o.tsval++;
	peer_tx(&p, 8080, 40001, F | A, 5001, syn.seq + 11, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & F), "close: FIN (LAST_ACK)");
	if (n >= 1)
		last_ts = r[n - 1].tsval;
	end_seq = syn.seq + 12; /* SYN, 10 bytes, FIN */
	peer_tx(&p, 8080, 40001, A, 5002, end_seq, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "LAST_ACK", "CLOSED"),
		"peer closed first: LAST_ACK => CLOSED");
	peer_advance(&p, 100000ull);
	fd = open_from(&p, 40001, &syn);
	T_CHECK(fd >= 0, "second SYN from the same port 100 us later");
	T_CHECK(rs_seq_gt(syn.seq, end_seq),
		"its ISN is beyond everything the first connection sent");
	T_CHECK(!rs_seq_lt(syn.tsval, last_ts),
		"its timestamp is not older than the first connection's last");
	peer_fini(&p);
}

/* The peer answers our SYN with the ACK of an older connection on the
 * 4-tuple (its TIME_WAIT did not take the SYN as a new incarnation): RST
 * for that ACK, and the SYN again at once rather than after the 1 s
 * initial RTO (RFC 9293 3.5.1); a second stale ACK only gets its RST. */
static void t_stale_ack_resend(void)
{
	struct peer p;
	struct pseg syn, r[8];
	int fd, n;

	peer_init(&p, NULL);
	fd = open_from(&p, 40002, &syn);
	T_CHECK(fd >= 0, "SYN from port 40002");
	peer_tx(&p, 8080, 40002, A, 9000, syn.seq - 5000, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 2 && r[0].flags == R && r[0].seq == syn.seq - 5000,
		"stale ACK: RST with its ACK number as sequence");
	T_CHECK(n == 2 && r[1].flags == S && r[1].seq == syn.seq,
		"... and the same SYN again at once");
	T_CHECK(peer_counter(&p, "tcp_syn_reset_resend") == 1, "counted");
	peer_tx(&p, 8080, 40002, A, 9000, syn.seq - 5000, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && r[0].flags == R, "a second stale ACK: only its RST");
	peer_tx(&p, 8080, 40002, S | A, 7000, syn.seq + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(peer_saw(&p, "SYN_SENT", "ESTABLISHED"), "the new SYN,ACK establishes");
	peer_fini(&p);
}

int main(void)
{
	t_more_transitions();
	t_passive_open();
	t_active_open();
	t_active_open_request();
	t_flush_held_ack();
	t_refused();
	t_simultaneous_open();
	t_active_close();
	t_fin_ack_together();
	t_passive_close();
	t_passive_close_merged();
	t_simultaneous_close();
	t_rst_each_state();
	t_rst_syn_recv();
	t_window_checks();
	t_reuse_after_peer_close();
	t_stale_ack_resend();
	return t_summary();
}
