/* SYN cookies (RFC 4987 3.6): when tcp_synq.c says so (a full SYN
 * backlog by default), the SYN,ACK carries the connection's state in
 * its ISN and no TCB is kept; the returning ACK rebuilds it.  The cookie:
 * 24 bits of a keyed hash over the 4-tuple and a minute counter, 5 bits of
 * that counter, 3 bits of an MSS table index (the hash covers all of it).
 * A peer that sends timestamps gets the other options as Linux gives
 * them: the SYN,ACK's timestamp carries them in its low 5 bits (the
 * peer's window scale, 15 = none, and SACK permitted), the ACK echoes
 * it.  Without timestamps a cookie connection has none of them - and a
 * new SYN on its 4-tuple in TIME_WAIT is judged by sequence number only,
 * which a Linux client's ISN often fails (a RST and a SYN retry). */
#include "tcp.h"

static const uint16_t cookie_mss[8] = {216, 536, 1200, 1300,
				       1380, 1420, 1440, 1460};

static uint32_t cookie_hash(const struct rs_core *c, uint32_t laddr,
			    uint16_t lport, uint32_t raddr, uint16_t rport,
			    uint32_t irs, uint32_t minute, uint32_t idx)
{
	uint64_t h = c->stack->conf.seed ^ 0x5ca1ab1e5ca1ab1eull;

	h ^= ((uint64_t)laddr << 32 | raddr) * 0x9e3779b97f4a7c15ull;
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
	h ^= ((uint64_t)lport << 48 | (uint64_t)rport << 32 | irs) *
	     0x94d049bb133111ebull;
	h = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)minute << 3 | idx;
	h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h >> 32);
}

static uint32_t minute_now(const struct rs_core *c)
{
	return (uint32_t)(c->now / 60000000000ull);
}

#define COOKIE_TS_BITS 5
#define COOKIE_TS_MASK ((1u << COOKIE_TS_BITS) - 1)
#define COOKIE_TS_NO_WSCALE 0xfu
#define COOKIE_TS_SACK 0x10u

/* The options of a SYN the stack would accept, as cookie timestamp bits;
 * -1 when the SYN (or the stack) has no timestamps. */
static int ts_options(const struct rs_core *c, const struct rs_tcp_seg *seg)
{
	uint32_t o = c->stack->conf.options, bits = COOKIE_TS_NO_WSCALE;

	if (!(o & RS_OPT_TIMESTAMPS) || !(seg->opts & RS_TCPOPT_TS))
		return -1;
	if ((o & RS_OPT_WSCALE) && (seg->opts & RS_TCPOPT_WSCALE))
		bits = RS_MIN(seg->wscale, RS_TCP_MAX_WSCALE);
	if ((o & RS_OPT_SACK) && (seg->opts & RS_TCPOPT_SACKOK))
		bits |= COOKIE_TS_SACK;
	return (int)bits;
}

/* Answer a SYN to listener l with a cookie SYN,ACK. */
void rs_cookie_synack(struct rs_core *c, const struct rs_listener *l,
		      const struct rs_ipv4 *ip, const struct rs_tcp_seg *seg)
{
	uint16_t mss = (seg->opts & RS_TCPOPT_MSS) ? seg->mss : 536;
	uint32_t m = minute_now(c), idx = 0, isn;
	int bits = ts_options(c, seg);
	uint8_t *buf = rs_tx_buf(c);
	struct rs_tcp_seg s = {
		.sport = seg->dport,
		.dport = seg->sport,
		.ack = seg->seq + 1,
		.flags = RS_TH_SYN | RS_TH_ACK,
		.opts = RS_TCPOPT_MSS,
		.wnd = 65535,
	};

	if (mss > c->stack->conf.mss)
		mss = c->stack->conf.mss;
	while (idx < 7 && cookie_mss[idx + 1] <= mss)
		idx++;
	isn = (cookie_hash(c, ip->dst, seg->dport, ip->src, seg->sport,
			   seg->seq, m, idx) & 0xffffff00u) |
	      ((m & 31) << 3) | idx;
	s.seq = isn;
	s.mss = c->stack->conf.mss;
	if (bits >= 0) {
		/* the connection's own clock with the options in the low
		 * bits, never ahead of it (its later timestamps must not
		 * go back) */
		struct rs_hnode k = {.laddr = ip->dst, .lport = seg->dport,
				     .raddr = ip->src, .rport = seg->sport};
		uint32_t now = rs_tcp_ts_now(c) + rs_tcp_ts_offset(c, &k);
		s.tsval = (now & ~COOKIE_TS_MASK) | (uint32_t)bits;
		if (rs_seq_gt(s.tsval, now))
			s.tsval -= COOKIE_TS_MASK + 1;
		s.tsecr = seg->tsval;
		s.opts |= RS_TCPOPT_TS;
		if ((bits & COOKIE_TS_NO_WSCALE) != COOKIE_TS_NO_WSCALE) {
			s.opts |= RS_TCPOPT_WSCALE;
			s.wscale = rs_tcp_wscale_for(l->rcvbuf);
		}
		if (bits & COOKIE_TS_SACK)
			s.opts |= RS_TCPOPT_SACKOK;
	}
	rs_ipv4_output(c, buf, ip->src, RS_IPPROTO_TCP,
		       rs_tcp_emit(buf + RS_ETH_HLEN + RS_IP_HLEN, &s, ip->dst,
				   ip->src, c->tx_csum_partial));
	c->ctr.tcp_tx_segs++;
	c->ctr.tcp_syncookies_sent++;
}

void rs_cookie_options(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	uint32_t o = t->core->stack->conf.options, bits;

	if (!(o & RS_OPT_TIMESTAMPS) || !(seg->opts & RS_TCPOPT_TS)) {
		t->rcv_wscale = t->snd_wscale = 0;
		return;
	}
	bits = seg->tsecr & COOKIE_TS_MASK;
	t->flags |= TF_TS;
	t->ts_recent = seg->tsval;
	t->mss -= 12;
	if ((o & RS_OPT_WSCALE) && (bits & COOKIE_TS_NO_WSCALE) != COOKIE_TS_NO_WSCALE) {
		t->flags |= TF_WSCALE;
		t->snd_wscale = (uint8_t)RS_MIN(bits & COOKIE_TS_NO_WSCALE, RS_TCP_MAX_WSCALE);
	} else {
		t->rcv_wscale = t->snd_wscale = 0;
	}
	if ((o & RS_OPT_SACK) && (bits & COOKIE_TS_SACK))
		t->flags |= TF_SACK;
}

/* An ACK for no connection at a listener: a valid cookie gives the MSS
 * (> 0), else 0. */
uint16_t rs_cookie_check(struct rs_core *c, const struct rs_ipv4 *ip,
			 const struct rs_tcp_seg *seg)
{
	uint32_t cookie = seg->ack - 1, irs = seg->seq - 1;
	uint32_t m = minute_now(c), cm = (cookie >> 3) & 31;

	/* issued this minute or the one before */
	for (uint32_t back = 0; back < 2; back++) {
		uint32_t mm = m - back;
		if ((mm & 31) != cm)
			continue;
		if ((cookie_hash(c, ip->dst, seg->dport, ip->src, seg->sport,
				 irs, mm, cookie & 7) & 0xffffff00u) ==
		    (cookie & 0xffffff00u))
			return cookie_mss[cookie & 7];
	}
	return 0;
}
