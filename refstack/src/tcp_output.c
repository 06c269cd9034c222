/* Segment emission: the output loop (window, Nagle, FIN), one xmit that
 * writes a segment into the core's transmit batch, and replies without a
 * TCB.  Output is deferred: TCBs are put on the core's output list and
 * run once per poll step, so ACKs ride on data.  Two pure ACKs wait one
 * application turn (to the end of the next poll step): the handshake's
 * last, which the client's request then carries, and the ACK of a FIN,
 * which the close's FIN carries (tcp.h: rs_tcp_ack_after_app). */
#include "tcp.h"

uint32_t rs_tcp_data_end(const struct rs_tcb *t)
{
	return t->snd_buf_seq + t->snd.len;
}

void rs_tcp_schedule(struct rs_tcb *t)
{
	if (t->flags & TF_OUTQ)
		return;
	t->flags |= TF_OUTQ;
	rs_list_add_tail(&t->core->outq, &t->olink);
}

/* An ACK marked TF_ACK_APP waits once: at the end of the poll step that
 * asked for it, if it is all the output there is and the application can
 * still add to it (a socket, ESTABLISHED or CLOSE_WAIT, nothing queued,
 * no FIN, no loss to repair).  It stays on the list without the mark and
 * goes at the end of the next step, with whatever the application wrote
 * or closed meanwhile. */
static int ack_waits_for_app(struct rs_tcb *t)
{
	if ((t->flags & (TF_ACK_APP | TF_FIN_QUEUED | TF_DETACHED)) !=
		    TF_ACK_APP ||
	    !t->sock ||
	    (t->state != RS_TCP_ESTABLISHED && t->state != RS_TCP_CLOSE_WAIT) ||
	    t->snd_nxt != rs_tcp_data_end(t) || t->txq.lost_pending)
		return 0;
	t->flags &= ~(uint32_t)TF_ACK_APP;
	return 1;
}

/* At the end of a poll step (hold 1).  The TCBs that wait stay on the
 * list: rs_poll_at() says 0 while it is not empty, so a caller about to
 * sleep polls once more first, and they leave then, never later.  hold 0
 * (rs_core_flush): everything goes. */
void rs_tcp_run_outq(struct rs_core *c, int hold)
{
	struct rs_list wait;

	rs_list_init(&wait);
	while (!rs_list_empty(&c->outq)) {
		struct rs_tcb *t = RS_CONTAINER(c->outq.next, struct rs_tcb,
						olink);
		rs_list_del(&t->olink);
		if (hold && ack_waits_for_app(t)) {
			rs_list_add_tail(&wait, &t->olink);
			continue;
		}
		t->flags &= ~(uint32_t)TF_OUTQ;
		rs_tcp_output(t);
	}
	rs_list_splice_tail(&c->outq, &wait);
}

static void fill_ts(const struct rs_tcb *t, struct rs_tcp_seg *s)
{
	s->opts |= RS_TCPOPT_TS;
	s->tsval = rs_tcp_ts_now(t->core) + t->ts_offset;
	s->tsecr = t->ts_recent;
}

static void syn_options(const struct rs_tcb *t, struct rs_tcp_seg *s)
{
	const struct rs_stack_conf *conf = &t->core->stack->conf;
	int active = t->state == RS_TCP_SYN_SENT && !(s->flags & RS_TH_ACK);

	s->opts = RS_TCPOPT_MSS;
	s->mss = conf->mss;
	if (active ? (conf->options & RS_OPT_WSCALE) : (t->flags & TF_WSCALE)) {
		s->opts |= RS_TCPOPT_WSCALE;
		s->wscale = t->rcv_wscale;
	}
	if (active ? (conf->options & RS_OPT_TIMESTAMPS) : (t->flags & TF_TS))
		fill_ts(t, s);
	if (active ? (conf->options & RS_OPT_SACK) : (t->flags & TF_SACK))
		s->opts |= RS_TCPOPT_SACKOK;
	s->wnd = (uint16_t)RS_MIN(t->rcv.cap, 65535u);
}

/* RFC 2018 4: SACK blocks for the queued out-of-order data, the block
 * holding the latest segment first, then the others in sequence order. */
static void fill_sack(const struct rs_tcb *t, struct rs_tcp_seg *s)
{
	unsigned max = (t->flags & TF_TS) ? 3 : 4, first = 0;

	for (unsigned i = 0; i < t->nooo; i++)
		if (rs_seq_le(t->ooo[i].start, t->ooo_recent) &&
		    rs_seq_lt(t->ooo_recent, t->ooo[i].end))
			first = i;
	s->opts |= RS_TCPOPT_SACK;
	s->sack[0].start = t->ooo[first].start;
	s->sack[0].end = t->ooo[first].end;
	s->nsack = 1;
	for (unsigned i = 0; i < t->nooo && s->nsack < max; i++) {
		if (i == first)
			continue;
		s->sack[s->nsack].start = t->ooo[i].start;
		s->sack[s->nsack].end = t->ooo[i].end;
		s->nsack++;
	}
}

/* The retransmission counters, and the SYN's RTT timing (Karn: not a
 * retransmitted one; data is timed by the scoreboard). */
static void xmit_account(struct rs_tcb *t, uint32_t seq, uint32_t seglen,
			 uint8_t flags)
{
	struct rs_core *c = t->core;

	if (!seglen)
		return;
	if (rs_seq_lt(seq, t->snd_max)) {
		c->ctr.tcp_retrans_segs++;
		t->retransmits++;
		t->flags &= ~(uint32_t)TF_RTT;
	} else if (flags & RS_TH_SYN) {
		t->flags |= TF_RTT;
		t->rtt_start = c->now;
	}
}

void rs_tcp_xmit(struct rs_tcb *t, uint32_t seq, uint32_t len, uint8_t flags)
{
	struct rs_core *c = t->core;
	uint8_t *buf = rs_tx_buf(c);
	uint8_t *p = buf + RS_ETH_HLEN + RS_IP_HLEN;
	struct rs_tcp_seg s; /* emit reads an option's fields only with its
			      * flag in opts: the rest stays unwritten */
	uint32_t hl;

	s.sport = t->h.lport;
	s.dport = t->h.rport;
	s.seq = seq;
	s.ack = (flags & RS_TH_ACK) ? t->rcv_nxt : 0;
	s.flags = flags;
	s.opts = 0;
	s.nsack = 0;
	s.len = len;
	if (flags & RS_TH_SYN) {
		syn_options(t, &s);
		if (flags & RS_TH_ACK)
			t->rcv_adv = t->rcv_nxt + s.wnd;
	} else {
		s.wnd = rs_tcp_rcv_wnd(t);
		if (t->flags & TF_TS)
			fill_ts(t, &s);
		if ((t->flags & TF_SACK) && t->nooo && (flags & RS_TH_ACK))
			fill_sack(t, &s);
	}
	hl = rs_tcp_hlen(&s);
	if (len)
		rs_ring_read_at(&t->snd, seq - t->snd_buf_seq, p + hl, len);
	rs_tcp_emit(p, &s, t->h.laddr, t->h.raddr, c->tx_csum_partial);
	rs_ipv4_output(c, buf, t->h.raddr, RS_IPPROTO_TCP, hl + len);
	c->ctr.tcp_tx_segs++;
	if (flags & RS_TH_RST)
		c->ctr.tcp_rst_tx++;
	if (flags & RS_TH_ACK) {
		t->flags &= ~(uint32_t)(TF_ACK_NOW | TF_DELACK | TF_ACK_APP);
		t->rcv_unacked = 0;
		t->t_delack = 0;
	}
	xmit_account(t, seq, len + !!(flags & RS_TH_SYN) + !!(flags & RS_TH_FIN),
		     flags);
}

void rs_tcp_send_syn(struct rs_tcb *t)
{
	uint8_t flags = t->state == RS_TCP_SYN_SENT ? RS_TH_SYN
						    : RS_TH_SYN | RS_TH_ACK;

	rs_tcp_xmit(t, t->iss, 0, flags);
	if (t->snd_max == t->iss)
		t->snd_nxt = t->snd_max = t->iss + 1;
	rs_tcp_rearm_rtx(t);
}

void rs_tcp_send_ack(struct rs_tcb *t)
{
	rs_tcp_xmit(t, t->snd_nxt, 0, RS_TH_ACK);
}

void rs_tcp_send_rst(struct rs_tcb *t)
{
	rs_tcp_xmit(t, t->snd_nxt, 0, RS_TH_RST | RS_TH_ACK);
}

/* Bytes cwnd lets go now against the RFC 6675 pipe (a tail loss probe
 * may go beyond). */
static uint32_t cwnd_room(const struct rs_tcb *t)
{
	uint32_t pipe = rs_tcp_pipe(t), w = t->cwnd + t->probe_allow;

	return w > pipe ? w - pipe : 0;
}

/* New data also needs the peer's window. */
static uint32_t send_room(const struct rs_tcb *t)
{
	uint32_t out = t->snd_nxt - t->snd_una;
	uint32_t rwnd = t->snd_wnd > out ? t->snd_wnd - out : 0;

	return RS_MIN(rwnd, cwnd_room(t));
}

/* Pacing (a congestion control that sets pacing_rate): a segment may
 * leave once pace_at has come, and moves it on by its length at the rate.
 * pace_at lags at most a burst behind now (2 ms at the rate, at least two
 * segments): the poll loop sleeps in whole milliseconds, so finer spacing
 * than that would only lose rate; the ACK clock spreads the rest. */
#define PACE_BURST_NS 2000000ull

void rs_tcp_pace_sent(struct rs_tcb *t, uint32_t len)
{
	uint64_t now = t->core->now, rate = t->pacing_rate, burst, floor;

	if (!rate)
		return;
	burst = RS_MAX(PACE_BURST_NS, 2ull * t->mss * 1000000000ull / rate);
	floor = now > burst ? now - burst : 0;
	if (t->pace_at < floor)
		t->pace_at = floor;
	t->pace_at += (uint64_t)len * 1000000000ull / rate;
}

/* Must the next segment wait?  Then the pacing timer is set.  Not a
 * tail loss probe: it is due when its timer fires. */
static int pace_wait(struct rs_tcb *t)
{
	if (!t->pacing_rate || t->pace_at <= t->core->now || t->probe_allow)
		return 0;
	t->t_pace = t->pace_at;
	return 1;
}

/* The segments marked lost go first, in sequence order, as cwnd allows
 * (with nothing in flight one always goes, or recovery would stall). */
static void retransmit_lost(struct rs_tcb *t)
{
	for (uint32_t i = 0; i < t->txq.n && t->txq.lost_pending; i++) {
		struct rs_txrec *r = rs_txq_at(t, i);
		if ((r->flags & (RS_TXR_LOST | RS_TXR_RETRANS)) != RS_TXR_LOST)
			continue;
		if (cwnd_room(t) < r->len && rs_tcp_pipe(t) > 0)
			break;
		if (pace_wait(t))
			break;
		rs_tcp_retransmit(t, r);
	}
}

static void sent_new(struct rs_tcb *t, uint32_t seq, uint32_t seglen)
{
	rs_txq_add(t, seq, seglen);
	t->snd_nxt = seq + seglen;
	if (rs_seq_gt(t->snd_nxt, t->snd_max))
		t->snd_max = t->snd_nxt;
	if (t->flags & TF_RECOVERY)
		t->prr_out += seglen;
	if (t->probe_allow)
		t->probe_allow = seglen < t->probe_allow ? t->probe_allow - seglen : 0;
}

/* Nagle with Minshall's rule, as Linux (tcp_minshall_check): a short
 * segment waits only while an earlier short one is unacknowledged.  The
 * short rest of a write goes behind its full segments at once - held, it
 * would be the only data left to send at a transfer's tail, and a lost
 * retransmission before it would have no later delivery to reveal it
 * (RACK) but a retransmission timeout. */
static int short_unacked(const struct rs_tcb *t)
{
	return rs_seq_gt(t->snd_sml, t->snd_una) &&
	       rs_seq_le(t->snd_sml, t->snd_nxt);
}

/* One data segment at snd_nxt, or RS_RETRY when something holds it. */
static int output_one(struct rs_tcb *t, uint32_t end)
{
	uint32_t room = send_room(t);
	uint32_t flight = t->snd_nxt - t->snd_una;
	uint32_t avail = end - t->snd_nxt;
	uint32_t len;
	uint8_t flags = RS_TH_ACK;

	if (!room || rs_txq_room(t) != RS_OK || pace_wait(t))
		return RS_RETRY;
	len = RS_MIN(RS_MIN((uint32_t)t->mss, avail), room);
	if (len < t->mss && flight > 0) {
		if (len < avail)
			return RS_RETRY; /* sender SWS avoidance */
		if (!(t->flags & (TF_NODELAY | TF_FIN_QUEUED)) &&
		    !t->probe_allow && short_unacked(t))
			return RS_RETRY; /* Nagle (RFC 9293 3.7.4); a probe
					  * goes regardless, as Linux's */
	}
	if (len < t->mss)
		t->snd_sml = t->snd_nxt + len;
	if (len == avail) {
		flags |= RS_TH_PSH;
		if (t->flags & TF_FIN_QUEUED)
			flags |= RS_TH_FIN;
	}
	rs_tcp_xmit(t, t->snd_nxt, len, flags);
	sent_new(t, t->snd_nxt, len + !!(flags & RS_TH_FIN));
	rs_tcp_pace_sent(t, len);
	return RS_OK;
}

static int can_send_data(int state)
{
	return state == RS_TCP_ESTABLISHED || state == RS_TCP_CLOSE_WAIT ||
	       state == RS_TCP_FIN_WAIT_1 || state == RS_TCP_CLOSING ||
	       state == RS_TCP_LAST_ACK;
}

void rs_tcp_output(struct rs_tcb *t)
{
	uint32_t end = rs_tcp_data_end(t), before = t->snd_max;

	if (t->flags & TF_DETACHED)
		return;
	if (!can_send_data(t->state)) {
		if ((t->flags & TF_ACK_NOW) && t->state != RS_TCP_SYN_SENT)
			rs_tcp_send_ack(t);
		return;
	}
	if (t->txq.lost_pending)
		retransmit_lost(t);
	while (rs_seq_lt(t->snd_nxt, end) && output_one(t, end) == RS_OK)
		;
	rs_rate_check_app_limited(t);
	if ((t->flags & TF_FIN_QUEUED) && t->snd_nxt == end &&
	    rs_txq_room(t) == RS_OK) {
		rs_tcp_xmit(t, end, 0, RS_TH_ACK | RS_TH_FIN);
		sent_new(t, end, 1);
	}
	if (t->flags & TF_ACK_NOW)
		rs_tcp_send_ack(t);
	if (t->snd_wnd == 0 && rs_seq_lt(t->snd_nxt, end) &&
	    t->snd_una == t->snd_max && !t->t_persist) {
		t->t_persist = t->core->now +
			       (uint64_t)RS_MIN(t->rto_us << t->backoff,
						RS_TCP_RTO_MAX_US) * 1000u;
	}
	if (t->snd_max != t->snd_una && !t->t_rtx)
		rs_tcp_rearm_rtx(t);
	else if (t->snd_max != before)
		rs_tlp_arm(t); /* RFC 8985 7.2: after new data */
	/* what this call may have set: pacing, persist, the probe */
	rs_tcp_timer_arm(t, rs_timer_min(rs_timer_min(t->t_pace, t->t_persist),
					 t->t_probe));
}

void rs_tcp_send_raw(struct rs_core *c, uint32_t laddr, uint16_t lport,
		     uint32_t raddr, uint16_t rport, uint32_t seq,
		     uint32_t ack, uint8_t flags, uint16_t wnd,
		     const uint32_t *ts)
{
	uint8_t *buf = rs_tx_buf(c);
	uint8_t *p = buf + RS_ETH_HLEN + RS_IP_HLEN;
	struct rs_tcp_seg s = {
		.sport = lport,
		.dport = rport,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.wnd = wnd,
	};
	uint32_t hl;

	if (ts) {
		s.opts = RS_TCPOPT_TS;
		s.tsval = ts[0];
		s.tsecr = ts[1];
	}
	hl = rs_tcp_emit(p, &s, laddr, raddr, c->tx_csum_partial);
	rs_ipv4_output(c, buf, raddr, RS_IPPROTO_TCP, hl);
	c->ctr.tcp_tx_segs++;
	if (flags & RS_TH_RST)
		c->ctr.tcp_rst_tx++;
}

/* RFC 9293 3.10.7.1: reply to a segment for no connection. */
void rs_tcp_reset_reply(struct rs_core *c, const struct rs_ipv4 *ip,
			const struct rs_tcp_seg *seg)
{
	uint32_t seglen = seg->len + !!(seg->flags & RS_TH_SYN) +
			  !!(seg->flags & RS_TH_FIN);

	if (seg->flags & RS_TH_RST)
		return;
	if (seg->flags & RS_TH_ACK)
		rs_tcp_send_raw(c, ip->dst, seg->dport, ip->src, seg->sport,
				seg->ack, 0, RS_TH_RST, 0, NULL);
	else
		rs_tcp_send_raw(c, ip->dst, seg->dport, ip->src, seg->sport,
				0, seg->seq + seglen, RS_TH_RST | RS_TH_ACK, 0,
				NULL);
}
