/* Loss recovery as a sender, on a virtual clock: RACK finds a lost
 * retransmission without a timeout (RFC 8985), a timeout resends only
 * what was not SACKed, fast recovery spreads the reduction over the ACKs
 * (PRR, RFC 6937), a D-SACK undoes a spurious reduction, and bulk
 * transfers through a lossy, delaying, reordering memif link need no
 * retransmission timeout at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../../src/common.h"
#include "../../src/sock.h"
#include "../../src/tcp.h"
#include "lib/link.h"
#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define MS 1000000ull
#define SEG 1460u

static const struct rs_tcp_seg sackok = {
	.opts = RS_TCPOPT_MSS | RS_TCPOPT_SACKOK, .mss = 1460};

/* A SACK-enabled connection from peer port sport; *snd = its next seq. */
static int estab(struct peer *p, uint16_t sport, uint32_t *snd)
{
	int lfd = peer_listen(p, 80, 16);

	*snd = peer_open(p, sport, 80, 1000, &sackok);
	return *snd && lfd >= 0 ? rs_accept(p->c, lfd, NULL, NULL) : -1;
}

/* An ACK of una from the peer with SACK blocks [b[2i], b[2i+1]). */
static void sack(struct peer *p, uint16_t sport, uint32_t una,
		 const uint32_t *b, unsigned nb)
{
	struct rs_tcp_seg o = {0};

	o.opts = nb ? RS_TCPOPT_SACK : 0;
	o.nsack = (uint8_t)nb;
	for (unsigned i = 0; i < nb; i++) {
		o.sack[i].start = b[2 * i];
		o.sack[i].end = b[2 * i + 1];
	}
	peer_tx(p, sport, 80, A, 1001, una, 65535, NULL, 0, &o);
}

static struct rs_sock_info info;

static int grab(const struct rs_sock_info *i, void *arg)
{
	(void)arg;
	if (i->fd >= 0 && strcmp(i->state, "LISTEN"))
		info = *i;
	return 0;
}

static uint32_t cwnd_of(struct peer *p)
{
	rs_core_foreach_socket(p->c, grab, NULL);
	return info.cwnd;
}

static int count_seq(const struct pseg *r, int n, uint32_t seq)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += r[i].seq == seq && r[i].len > 0;
	return k;
}

static void t_lost_retransmission(void)
{
	static char buf[20 * SEG];
	struct peer p;
	struct pseg r[64];
	uint32_t s, b[4];
	int fd, n;

	peer_init(&p, NULL);
	fd = estab(&p, 45000, &s);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 64);
	T_CHECK(n == 10, "initial window: 10 segments (%d)", n);
	peer_advance(&p, MS);
	/* segment 1 lost: segments 2-4 SACKed */
	b[0] = s + SEG;
	b[1] = s + 4 * SEG;
	sack(&p, 45000, s, b, 1);
	n = peer_rx(&p, r, 64);
	T_CHECK(count_seq(r, n, s) == 1, "3 segments SACKed above it: segment 1 resent (%d sent)", n);
	/* the retransmission is lost too; the rest of the window arrives
	 * and lets new data out, which arrives as well */
	peer_advance(&p, MS);
	b[1] = s + 10 * SEG;
	sack(&p, 45000, s, b, 1);
	n = peer_rx(&p, r, 64);
	T_CHECK(n >= 1 && count_seq(r, n, s) == 0,
		"more SACKs: new data goes out (%d segments)", n);
	peer_advance(&p, MS);
	b[1] = s + (10 + (uint32_t)n) * SEG;
	sack(&p, 45000, s, b, 1);
	n = peer_rx(&p, r, 64);
	T_CHECK(count_seq(r, n, s) == 1 &&
			peer_counter(&p, "tcp_lost_retrans") == 1,
		"RACK: the lost retransmission is resent once later data is "
		"SACKed (lost_retrans %llu)",
		(unsigned long long)peer_counter(&p, "tcp_lost_retrans"));
	T_CHECK(peer_counter(&p, "tcp_rto_expired") == 0,
		"no retransmission timeout");
	peer_fini(&p);
}

static void t_rto_keeps_sack(void)
{
	static char buf[10 * SEG];
	struct peer p;
	struct pseg r[64];
	uint32_t s, b[4];
	int fd, n, resent_sacked = 0, seg6 = 0;

	peer_init(&p, NULL);
	fd = estab(&p, 45001, &s);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	peer_rx(&p, r, 64);
	peer_advance(&p, MS);
	/* holes at segments 1 and 6; both retransmissions get lost */
	b[0] = s + SEG;
	b[1] = s + 5 * SEG;
	b[2] = s + 6 * SEG;
	b[3] = s + 10 * SEG;
	sack(&p, 45001, s, b, 2);
	n = peer_rx(&p, r, 64);
	T_CHECK(count_seq(r, n, s) == 1 && count_seq(r, n, s + 5 * SEG) == 1,
		"both holes resent (%d segments)", n);
	for (int i = 0; i < 300 && peer_counter(&p, "tcp_rto_expired") == 0; i++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 64);
	}
	T_CHECK(peer_counter(&p, "tcp_rto_expired") == 1 && count_seq(r, n, s) == 1,
		"retransmission timeout: segment 1 again");
	/* segment 1 arrives: ACK of 1-5, SACK of 7-10 */
	sack(&p, 45001, s + 5 * SEG, b + 2, 1);
	for (int i = 0; i < 10; i++) {
		n = peer_rx(&p, r, 64);
		for (int k = 0; k < n; k++) {
			resent_sacked += r[k].len && rs_seq_ge(r[k].seq, s + 6 * SEG);
			seg6 += r[k].len && r[k].seq == s + 5 * SEG;
		}
		peer_advance(&p, MS);
	}
	T_CHECK(seg6 == 1 && resent_sacked == 0,
		"after the timeout only the hole is resent, not the SACKed "
		"segments 7-10 (%d of them resent)", resent_sacked);
	peer_fini(&p);
}

/* Each test names its congestion control: the stack's default is not
 * what a test of one algorithm may rely on. */
static uint32_t conf_cc;

static void cc_conf(int side, struct rs_stack_conf *conf)
{
	(void)side;
	conf->cc = conf_cc;
}

/* reno: PRR halves the flight over the recovery's ACKs; bbr: packet
 * conservation for the first round (one segment out per one delivered,
 * the model is not cut by a loss). */
static void t_prr(uint32_t cc)
{
	static char buf[60 * SEG];
	struct peer p;
	struct pseg r[64];
	uint32_t s, b[2], una;
	int fd, n, sent[10], total = 0, burst = 0;

	conf_cc = cc;
	peer_init(&p, cc_conf);
	fd = estab(&p, 45002, &s);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n = peer_rx(&p, r, 64);
	/* ACK the initial window: slow start doubles cwnd to 20 segments */
	peer_advance(&p, MS);
	sack(&p, 45002, s + (uint32_t)n * SEG, NULL, 0);
	una = s + (uint32_t)n * SEG;
	n = peer_rx(&p, r, 64);
	T_CHECK(n == 20, "20 segments in flight (%d)", n);
	peer_advance(&p, MS);
	/* the first of them lost, the others SACKed one ACK at a time */
	b[0] = una + SEG;
	for (int k = 0; k < 3; k++) {
		b[1] = una + (uint32_t)(2 + k) * SEG;
		sack(&p, 45002, una, b, 1);
	}
	n = peer_rx(&p, r, 64);
	T_CHECK(count_seq(r, n, una) == 1 && peer_counter(&p, "tcp_fast_retrans") == 1,
		"third SACK: fast recovery, the hole resent");
	for (int k = 0; k < 10; k++) {
		b[1] = una + (uint32_t)(5 + k) * SEG;
		sack(&p, 45002, una, b, 1);
		sent[k] = peer_rx(&p, r, 64);
		total += sent[k];
		burst |= sent[k] > 1;
	}
	if (cc == RS_CC_RENO)
		T_CHECK(total >= 4 && total <= 6 && !burst,
			"reno PRR: over 10 ACKs, about one new segment per two "
			"ACKs, none in bursts (%d %d %d %d %d %d %d %d %d %d)",
			sent[0], sent[1], sent[2], sent[3], sent[4], sent[5],
			sent[6], sent[7], sent[8], sent[9]);
	else
		T_CHECK(total == 10 && !burst,
			"bbr: one new segment per SACKed one, none in bursts "
			"(%d %d %d %d %d %d %d %d %d %d)", sent[0], sent[1],
			sent[2], sent[3], sent[4], sent[5], sent[6], sent[7],
			sent[8], sent[9]);
	peer_fini(&p);
}

static void t_dsack_undo(void)
{
	static char buf[10 * SEG];
	struct peer p;
	struct pseg r[64];
	uint32_t s, b[2], before;
	int fd;

	peer_init(&p, NULL);
	fd = estab(&p, 45003, &s);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	peer_rx(&p, r, 64);
	before = cwnd_of(&p);
	peer_advance(&p, MS);
	b[0] = s + SEG;
	b[1] = s + 4 * SEG;
	sack(&p, 45003, s, b, 1);
	peer_rx(&p, r, 64);
	T_CHECK(peer_counter(&p, "tcp_fast_retrans") == 1 && cwnd_of(&p) < before,
		"reordering looks like a loss: fast recovery, cwnd cut");
	/* segment 1 was only late: everything ACKed, its copy D-SACKed */
	b[0] = s;
	b[1] = s + SEG;
	peer_advance(&p, MS);
	sack(&p, 45003, s + 10 * SEG, b, 1);
	peer_rx(&p, r, 64);
	T_CHECK(peer_counter(&p, "tcp_spurious_undo") == 1 &&
			peer_counter(&p, "tcp_dsacks") == 1 && cwnd_of(&p) >= before,
		"D-SACK of the only retransmission: the reduction is undone "
		"(cwnd %u, was %u)", cwnd_of(&p), before);
	peer_fini(&p);
}

/* Closing many idle connections at once: only FINs are out, and their
 * ACKs come late (the peer's side is busy).  No tail loss probe for
 * connections the application has closed: a probe there mostly meets a
 * peer that has finished and answers with a reset. */
static void t_no_probe_on_close(void)
{
	struct peer p;
	struct pseg r[64];
	uint32_t s[64];
	int fd[64], lfd, fins = 0, n;

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 16);
	for (int i = 0; i < 64; i++) {
		s[i] = peer_open(&p, (uint16_t)(46000 + i), 80, 1000, &sackok);
		fd[i] = rs_accept(p.c, lfd, NULL, NULL);
		/* one exchange each, so that there is an RTT estimate */
		rs_send(p.c, fd[i], "x", 1, 0);
		peer_rx(&p, r, 64);
		peer_advance(&p, MS);
		sack(&p, (uint16_t)(46000 + i), s[i] + 1, NULL, 0);
		peer_rx(&p, r, 64);
	}
	for (int i = 0; i < 64; i++)
		rs_close(p.c, fd[i]);
	for (int t = 0; t < 150; t++) {
		n = peer_rx(&p, r, 64);
		for (int k = 0; k < n; k++)
			fins += !!(r[k].flags & RS_TH_FIN);
		peer_advance(&p, MS);
	}
	T_CHECK(fins == 64 && peer_counter(&p, "tcp_tail_probes") == 0,
		"64 closed connections whose FIN ACKs take 150 ms: 64 FINs, no "
		"tail loss probe (%llu)",
		(unsigned long long)peer_counter(&p, "tcp_tail_probes"));
	peer_fini(&p);
}

/* The tail of a transfer: every segment of it lost, and a short rest
 * held (Nagle: an earlier short segment is unacknowledged).  The tail
 * loss probe must still send something - the short rest, as Linux's
 * probe ignores Nagle - instead of leaving it to the retransmission
 * timeout. */
static void t_probe_past_nagle(uint32_t cc)
{
	static char buf[4 * SEG + 500];
	struct peer p;
	struct pseg r[64];
	uint32_t s;
	int fd, n, probe_len = -1;

	conf_cc = cc;
	peer_init(&p, cc_conf);
	fd = estab(&p, 45004, &s);
	rs_send(p.c, fd, buf, 100, 0);
	n = peer_rx(&p, r, 64);
	rs_send(p.c, fd, buf, sizeof(buf), 0);
	n += peer_rx(&p, r, 64);
	T_CHECK(n == 5, "%s: 100 bytes, then 4 full segments out, the 500-byte "
		"rest held (Nagle) (%d)", rs_cc_name(cc), n);
	/* all of them lost */
	for (int ms = 0; ms < 150 && probe_len < 0; ms++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 64);
		for (int k = 0; k < n; k++)
			if (r[k].len > 0)
				probe_len = (int)r[k].len;
	}
	T_CHECK(probe_len == 500 && peer_counter(&p, "tcp_tail_probes") == 1 &&
			peer_counter(&p, "tcp_rto_expired") == 0,
		"%s: within 150 ms a tail loss probe sends the short rest "
		"(%d bytes), no timeout", rs_cc_name(cc), probe_len);
	peer_fini(&p);
}

/* The first SYN,ACK is lost, the second answered: the handshake cannot
 * be timed (Karn), but the ACK's timestamp echo says which copy it
 * answers.  Without that sample the first data would wait on the 1 s
 * initial RTO, with no tail loss probe. */
static void t_synack_resent_rtt(void)
{
	struct rs_tcp_seg o = {.opts = RS_TCPOPT_MSS | RS_TCPOPT_SACKOK |
				       RS_TCPOPT_TS,
			       .mss = 1460, .tsval = 100};
	struct peer p;
	struct pseg r[8];
	uint32_t s = 0, rto, srtt;
	uint64_t t0;
	int lfd, fd, n, resent = 0;

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 16);
	peer_tx(&p, 45005, 80, RS_TH_SYN, 1000, 0, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8); /* lost */
	for (int ms = 0; ms < 1500 && !s; ms++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 8);
		if (n == 1 && r[0].flags == (RS_TH_SYN | RS_TH_ACK))
			s = r[0].seq + 1;
	}
	peer_advance(&p, 2 * MS);
	o.opts = RS_TCPOPT_TS;
	o.tsval = 101;
	o.tsecr = r[0].tsval;
	peer_tx(&p, 45005, 80, A, 1001, s, 65535, NULL, 0, &o);
	peer_rx(&p, r, 8);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	cwnd_of(&p);
	rto = info.rto_us;
	srtt = info.srtt_us;
	T_CHECK(s && fd >= 0 && srtt >= 1000 && srtt <= 3000 && rto < 300000,
		"SYN,ACK resent: the RTT from the timestamp echo (srtt %u us, "
		"RTO %u us)", srtt, rto);
	rs_send(p.c, fd, "request", 7, 0);
	peer_rx(&p, r, 8); /* lost */
	t0 = p.now;
	for (int ms = 0; ms < 1000 && !resent; ms++) {
		peer_advance(&p, MS);
		n = peer_rx(&p, r, 8);
		for (int k = 0; k < n; k++)
			resent |= r[k].len == 7;
	}
	T_CHECK(resent && p.now - t0 < 300 * MS,
		"... so the lost first data goes again after %llu ms (not the "
		"1 s initial RTO)", (unsigned long long)((p.now - t0) / MS));
	peer_fini(&p);
}

/* ---- bulk transfers through a lossy memif link ------------------------ */

/* The server (fd sfd) sends bytes of a known pattern to the client (cfd),
 * the clock in 0.1 ms steps, for at most max_ns; returns the bytes
 * received, *bad the wrong ones.  consistent (or NULL): cleared when the
 * server's scoreboard is found wrong after a step (scoreboard_ok). */
static int scoreboard_ok(struct rs_core *c, int fd);

static uint64_t pump(struct tb *tb, int sfd, int cfd, uint64_t bytes,
		     uint64_t max_ns, int *bad, int *consistent)
{
	static uint8_t buf[65536];
	uint64_t sent = 0, rcvd = 0, start = tb->now;
	ssize_t n;

	while (sfd >= 0 && rcvd < bytes && tb->now - start < max_ns) {
		for (; sent < bytes; sent += (uint64_t)n) {
			size_t want = sizeof(buf) < bytes - sent ? sizeof(buf)
								 : bytes - sent;
			for (size_t i = 0; i < want; i++)
				buf[i] = (uint8_t)((sent + i) * 7);
			n = rs_send(tb->c[1], sfd, buf, want, 0);
			if (n <= 0)
				break;
		}
		while ((n = rs_recv(tb->c[0], cfd, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				*bad += buf[i] != (uint8_t)((rcvd + (uint64_t)i) * 7);
			rcvd += (uint64_t)n;
		}
		tb_advance(tb, MS / 10);
		if (consistent)
			*consistent &= scoreboard_ok(tb->c[1], sfd);
	}
	return rcvd;
}

static void bulk(unsigned loss, unsigned reorder, uint64_t bytes, uint32_t cc)
{
	/* every frame takes 1 ms (2 ms round trip) unless lost or
	 * reordered, both ways */
	struct link l = {.rng = 0x9e3779b97f4a7c15ull, .prop_ns = MS,
			 .loss = loss, .reorder = reorder, .both = 1};
	struct tb tb;
	uint64_t rcvd, start;
	const struct rs_core_counters *k;
	int lfd, cfd, sfd, bad = 0;

	conf_cc = cc;
	if (tb_init(&tb, cc_conf))
		return;
	rs_memif_set_filter(tb.pair, link_filter, &l);
	lfd = tb_listen(&tb, 5001, 16);
	cfd = tb_connect(&tb, 5001);
	tb_advance(&tb, 50 * MS);
	sfd = rs_accept(tb.c[1], lfd, NULL, NULL);
	start = tb.now;
	rcvd = pump(&tb, sfd, cfd, bytes, 300000 * MS, &bad, NULL);
	k = rs_core_counters(tb.c[1]);
	T_CHECK(rcvd == bytes && !bad,
		"%s: %u.%u%% loss, %u%% reordered, 1 ms each way: %llu bytes exact",
		rs_cc_name(cc), loss / 10, loss % 10, reorder / 10,
		(unsigned long long)rcvd);
	T_CHECK(k->tcp_rto_expired == 0,
		"... recovered without a retransmission timeout (%llu RTOs, "
		"%llu retransmitted, %.3f s virtual)",
		(unsigned long long)k->tcp_rto_expired,
		(unsigned long long)k->tcp_retrans_segs,
		(double)(tb.now - start) / 1e9);
	rs_memif_set_filter(tb.pair, NULL, NULL);
	tb_fini(&tb);
}

/* ---- the scoreboard and the send buffer on a lossy bottleneck -------- */

/* Like Linux's autotuned receive window: the client (side 0) offers 4 MB,
 * so that the server's send buffer is what limits it. */
static void wide_conf(int side, struct rs_stack_conf *conf)
{
	conf->cc = conf_cc;
	if (side == 0)
		conf->rcvbuf = 4u << 20;
}

struct xfer {
	int exact;          /* every byte, in order */
	int consistent;     /* no scoreboard record SACKed and in flight */
	uint64_t rtos, grown;
	uint32_t sndbuf;    /* the server's SO_SNDBUF at the end */
	double secs;
};

/* No record may be SACKed and also counted as a retransmission in
 * flight: the pipe would count it until the cumulative ACK, and no SACK
 * would ever take it out again. */
static int scoreboard_ok(struct rs_core *c, int fd)
{
	struct rs_sock *so = rs_sock_get(c, fd);
	struct rs_tcb *t = so ? so->tcb : NULL;

	for (uint32_t i = 0; t && i < t->txq.n; i++)
		if ((rs_txq_at(t, i)->flags & (RS_TXR_SACKED | RS_TXR_RETRANS)) ==
		    (RS_TXR_SACKED | RS_TXR_RETRANS))
			return 0;
	return 1;
}

/* bytes from the server to the client through l (its loss from the
 * first data on: the handshake sees only the delay), the scoreboard
 * checked after every step; sndbuf: the server's SO_SNDBUF, 0 = none
 * (autotuned). */
static struct xfer lossy_xfer(struct link l, uint64_t bytes, int sndbuf)
{
	struct xfer x = {.consistent = 1};
	unsigned loss = l.loss;
	struct tb tb;
	uint64_t rcvd, start;
	int lfd, cfd, sfd = -1, bad = 0;
	socklen_t sl = sizeof(sndbuf);

	conf_cc = RS_CC_BBR;
	if (tb_init(&tb, wide_conf))
		return x;
	l.now = &tb.now;
	l.loss = 0;
	rs_memif_set_filter(tb.pair, link_filter, &l);
	lfd = tb_listen(&tb, 5001, 16);
	cfd = tb_connect(&tb, 5001);
	for (int w = 0; w < 100 && sfd < 0; w++) {
		tb_advance(&tb, 50 * MS);
		sfd = rs_accept(tb.c[1], lfd, NULL, NULL);
	}
	if (sfd >= 0 && sndbuf)
		rs_setsockopt(tb.c[1], sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			      sizeof(sndbuf));
	l.loss = loss;
	start = tb.now;
	rcvd = pump(&tb, sfd, cfd, bytes, 60000 * MS, &bad, &x.consistent);
	x.exact = rcvd == bytes && !bad;
	x.rtos = rs_core_counters(tb.c[1])->tcp_rto_expired;
	x.grown = rs_core_counters(tb.c[1])->tcp_sndbuf_grown;
	if (sfd >= 0)
		rs_getsockopt(tb.c[1], sfd, SOL_SOCKET, SO_SNDBUF, &x.sndbuf, &sl);
	x.secs = (double)(tb.now - start) / 1e9;
	rs_memif_set_filter(tb.pair, NULL, NULL);
	tb_fini(&tb);
	return x;
}

static struct link bottleneck(unsigned loss, uint64_t prop_ns, uint64_t rate,
			      uint64_t seed)
{
	return (struct link){.rng = 0x9e3779b97f4a7c15ull * seed,
			     .prop_ns = prop_ns, .rate = rate,
			     .queue_ns = 2 * MS, .loss = loss, .both = 1};
}

/* Two paths (seeds) on which a tail loss probe resent a segment the peer
 * had SACKed (the last one): it stayed counted in flight, and after the
 * next timeout cwnd (one segment) had no room for the lost one - nothing
 * was resent until the third timeout dropped the SACK marks.  The probe
 * now resends the last segment not SACKed. */
static void t_probe_skips_sacked(void)
{
	static const struct {
		unsigned loss;
		uint64_t prop_ns, rate, seed;
	} c[] = {
		{50, MS, 50000000, 18},
		{100, 50000, 100000000, 13},
	};

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct xfer x = lossy_xfer(bottleneck(c[i].loss, c[i].prop_ns,
						      c[i].rate, c[i].seed),
					   2u << 20, 0);
		T_CHECK(x.exact && x.consistent,
			"%u%% loss both ways, %llu us each way, %llu MB/s "
			"(seed %llu): 2 MB exact, no SACKed segment counted in "
			"flight (%llu RTOs, %.3f s virtual)", c[i].loss / 10,
			(unsigned long long)(c[i].prop_ns / 1000),
			(unsigned long long)(c[i].rate / 1000000),
			(unsigned long long)c[i].seed,
			(unsigned long long)x.rtos, x.secs);
	}
}

/* 10 % loss, 1 ms each way, 50 MB/s, four paths (seeds): SACKed data
 * above the holes fills a fixed 256 KB send buffer while cwnd has room;
 * autotuned, it grows (as Linux's), and SO_SNDBUF keeps it fixed. */
static void t_sndbuf_autotune(void)
{
	uint64_t rto[2] = {0, 0};
	double secs[2] = {0, 0};
	int ok[2] = {1, 1};
	uint32_t grew_to = 0;

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct link l = bottleneck(100, MS, 50000000, seed);
		struct xfer a = lossy_xfer(l, 2u << 20, 0);
		struct xfer f = lossy_xfer(l, 2u << 20, 256 * 1024);
		ok[0] &= a.exact && a.grown >= 1 && a.sndbuf > 256u * 1024;
		ok[1] &= f.exact && f.grown == 0 && f.sndbuf == 256u * 1024;
		grew_to = RS_MAX(grew_to, a.sndbuf);
		rto[0] += a.rtos;
		rto[1] += f.rtos;
		secs[0] += a.secs;
		secs[1] += f.secs;
	}
	T_CHECK(ok[0], "autotuned: the send buffer grows (to %u bytes at "
		"most), 4 x 2 MB exact (%llu RTOs, %.3f s virtual in all)",
		grew_to, (unsigned long long)rto[0], secs[0]);
	T_CHECK(ok[1], "SO_SNDBUF 256 KB: it stays, 4 x 2 MB exact (%llu "
		"RTOs, %.3f s virtual in all)", (unsigned long long)rto[1],
		secs[1]);
}

int main(void)
{
	t_lost_retransmission();
	t_rto_keeps_sack();
	t_prr(RS_CC_RENO);
	t_prr(RS_CC_BBR);
	t_dsack_undo();
	t_no_probe_on_close();
	t_probe_past_nagle(RS_CC_RENO);
	t_probe_past_nagle(RS_CC_BBR);
	t_synack_resent_rtt();
	bulk(50, 0, 2u << 20, RS_CC_RENO);
	bulk(30, 100, 2u << 20, RS_CC_RENO);
	bulk(50, 0, 2u << 20, RS_CC_BBR);
	bulk(30, 100, 2u << 20, RS_CC_BBR);
	t_probe_skips_sacked();
	t_sndbuf_autotune();
	return t_summary();
}
