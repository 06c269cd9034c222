/* TCP segment arrival (RFC 9293 3.10.7): table lookup, then one function
 * per state group.  Every drop is counted. */
#include <errno.h>

#include "tcp.h"

static void sync_input(struct rs_tcb *t, const struct rs_tcp_seg *seg);

/* A child of listener l in SYN_RECV, in the established table. */
static struct rs_tcb *child_new(struct rs_core *c, struct rs_listener *l,
				const struct rs_ipv4 *ip,
				const struct rs_tcp_seg *seg, uint32_t irs,
				int proven)
{
	struct rs_tcb *t = rs_tcb_new(c, l->sndbuf, l->rcvbuf);

	if (!t) {
		c->ctr.drop_no_tcb++;
		return NULL;
	}
	t->h.laddr = ip->dst;
	t->h.lport = seg->dport;
	t->h.raddr = ip->src;
	t->h.rport = seg->sport;
	/* the core's own table (estab) unless another core may adopt it or
	 * find its frames (c->syn_global) */
	if (rs_tcp_hash_insert(c, &t->h,
			       (!l->hidden && !c->syn_global) ||
				       c->stack->conf.ncores == 1) != RS_OK) {
		t->h.lport = 0;
		rs_tcb_free(t);
		return NULL;
	}
	t->irs = irs;
	t->rcv_nxt = irs + 1;
	t->rcv_adv = t->rcv_nxt;
	if (l->nodelay)
		t->flags |= TF_NODELAY;
	if (l->sndbuf_lock)
		t->flags |= TF_SNDBUF_LOCK;
	t->parent = l;
	rs_synq_add(l, t, proven);
	rs_tcp_set_state(t, RS_TCP_SYN_RECV);
	c->ctr.tcp_passive_opens++;
	return t;
}

static void set_iss(struct rs_tcb *t, uint32_t iss)
{
	t->iss = iss;
	t->snd_una = t->snd_sml = iss;
	t->snd_nxt = t->snd_max = iss + 1;
	t->snd_buf_seq = iss + 1;
	t->recover = iss;
	t->ts_offset = rs_tcp_ts_offset(t->core, &t->h);
}

/* The ACK of a cookie SYN,ACK: rebuild the child (the MSS from the
 * cookie, the other options from its timestamp), then process the ACK as
 * in SYN_RECV. */
static void cookie_accept(struct rs_core *c, struct rs_listener *l,
			  const struct rs_ipv4 *ip,
			  const struct rs_tcp_seg *seg, uint16_t mss)
{
	struct rs_tcb *t;

	if (rs_tcp_listen_full(l)) {
		c->ctr.drop_accept_queue++;
		return;
	}
	t = child_new(c, l, ip, seg, seg->seq - 1, 0);
	if (!t)
		return;
	c->ctr.tcp_syncookies_ok++;
	t->mss = t->rcv_mss = RS_MIN(mss, c->stack->conf.mss);
	t->rcv_adv = t->rcv_nxt + RS_MIN(t->rcv.cap, 65535u);
	set_iss(t, seg->ack - 1);
	rs_cookie_options(t, seg);
	sync_input(t, seg);
}

/* RFC 9293 3.10.7.2: LISTEN. */
int rs_tcp_listen_input(struct rs_core *c, struct rs_listener *l,
			const struct rs_ipv4 *ip, const struct rs_tcp_seg *seg)
{
	int cookies = rs_synq_cookies_recent(c, l), proven;
	struct rs_tcb *t;

	if (seg->flags & RS_TH_RST) {
		c->ctr.drop_tcp_listen_other++;
		return RS_OK;
	}
	if (seg->flags & RS_TH_ACK) {
		uint16_t mss = 0;
		if (cookies && !(seg->flags & RS_TH_SYN))
			mss = rs_cookie_check(c, ip, seg);
		if (mss) {
			cookie_accept(c, l, ip, seg, mss);
			return RS_OK;
		}
		c->ctr.tcp_syncookies_failed += (uint64_t)cookies;
		rs_tcp_reset_reply(c, ip, seg);
		return RS_OK;
	}
	if (!(seg->flags & RS_TH_SYN)) {
		c->ctr.drop_tcp_listen_other++;
		return RS_OK;
	}
	if (seg->flags & RS_TH_FIN) { /* Linux discards a SYN with FIN */
		c->ctr.drop_tcp_syn_fin++;
		return RS_OK;
	}
	if (rs_tcp_listen_full(l)) {
		c->ctr.drop_accept_queue++;
		return RS_RETRY;
	}
	switch (rs_synq_admit(c, l, ip->src, &proven)) {
	case RS_SYNQ_COOKIE:
		rs_cookie_synack(c, l, ip, seg);
		return RS_OK;
	case RS_SYNQ_DROP:
		c->ctr.drop_syn_backlog++;
		return RS_RETRY;
	default:
		break;
	}
	t = child_new(c, l, ip, seg, seg->seq, proven);
	if (!t)
		return RS_ERROR;
	rs_tcp_syn_options(t, seg);
	set_iss(t, rs_tcp_isn(c, &t->h));
	t->snd_nxt = t->snd_max = t->iss; /* the SYN,ACK goes out now */
	rs_tcp_send_syn(t);
	return RS_OK;
}

/* RFC 9293 3.10.7.3: SYN-SENT. */
static void syn_sent_input(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	struct rs_core *c = t->core;
	int ack_ok = 0;

	if (seg->flags & RS_TH_ACK) {
		if (rs_seq_le(seg->ack, t->iss) ||
		    rs_seq_gt(seg->ack, t->snd_max)) {
			c->ctr.drop_tcp_bad_ack++;
			if (seg->flags & RS_TH_RST)
				return;
			rs_tcp_send_raw(c, t->h.laddr, t->h.lport,
					t->h.raddr, t->h.rport, seg->ack,
					0, RS_TH_RST, 0, NULL);
			/* A bare ACK: of an old connection on this 4-tuple, the
			 * peer kept it in TIME_WAIT and did not take our SYN
			 * as a new incarnation (RFC 6191: our ISN and
			 * timestamp are not above its last ones, e.g. the
			 * port was last used by another stack on this
			 * address).  The reset ends that TIME_WAIT (RFC 9293
			 * 3.5.1, half-open discovery: "A then retries"): the
			 * SYN goes again now, not after the 1 s initial RTO.
			 * Once per connection, so that a peer that ignores
			 * resets (RFC 1337) is not answered at wire speed. */
			if (!(seg->flags & RS_TH_SYN) &&
			    !(t->flags & TF_SYN_RESET)) {
				t->flags |= TF_SYN_RESET;
				t->flags &= ~(uint32_t)TF_RTT; /* Karn */
				c->ctr.tcp_syn_reset_resend++;
				rs_tcp_send_syn(t);
			}
			return;
		}
		ack_ok = 1;
	}
	if (seg->flags & RS_TH_RST) {
		if (ack_ok) {
			c->ctr.tcp_rst_rx++;
			rs_tcb_drop(t, ECONNREFUSED);
		}
		return;
	}
	if (!(seg->flags & RS_TH_SYN))
		return;
	t->irs = seg->seq;
	t->rcv_nxt = seg->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	rs_tcp_syn_options(t, seg);
	if (ack_ok) {
		t->snd_una = seg->ack;
		rs_tcp_rtt_syn(t, seg);
		t->backoff = 0;
		t->retries = 0;
		t->t_rtx = 0;
		rs_tcp_timer_arm(t, 0);
		rs_tcp_established(t);
		rs_tcp_ack_after_app(t); /* the request carries it */
		rs_tcp_schedule(t);
		return;
	}
	/* Simultaneous open: SYN-RECEIVED, send SYN,ACK with our ISS.  The
	 * congestion control starts now: the socket's close can take this
	 * TCB to FIN_WAIT_1 without rs_tcp_established. */
	rs_cc_init(t);
	rs_tcp_set_state(t, RS_TCP_SYN_RECV);
	rs_tcp_send_syn(t);
}

void rs_tcp_challenge_ack(struct rs_tcb *t)
{
	struct rs_core *c = t->core;
	uint64_t sec = c->now / 1000000000ull;

	if (sec != c->challenge_second) {
		c->challenge_second = sec;
		c->challenge_count = 0;
	}
	if (c->challenge_count >= 1000)
		return;
	c->challenge_count++;
	c->ctr.tcp_challenge_acks++;
	rs_tcp_send_ack(t);
}

static int seq_acceptable(const struct rs_tcb *t, uint32_t seq,
			  uint32_t seglen)
{
	uint32_t wnd = rs_seq_gt(t->rcv_adv, t->rcv_nxt)
			       ? t->rcv_adv - t->rcv_nxt
			       : 0;

	if (seglen == 0) {
		if (wnd == 0)
			return seq == t->rcv_nxt;
		return rs_seq_le(t->rcv_nxt, seq) &&
		       rs_seq_lt(seq, t->rcv_nxt + wnd);
	}
	if (wnd == 0)
		return 0;
	return (rs_seq_le(t->rcv_nxt, seq) &&
		rs_seq_lt(seq, t->rcv_nxt + wnd)) ||
	       (rs_seq_le(t->rcv_nxt, seq + seglen - 1) &&
		rs_seq_lt(seq + seglen - 1, t->rcv_nxt + wnd));
}

/* Second check: RST (RFC 5961 3.2: exact match resets, in-window gets a
 * challenge ACK). */
static void rst_input(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	struct rs_core *c = t->core;

	if (seg->seq != t->rcv_nxt) {
		rs_tcp_challenge_ack(t);
		return;
	}
	c->ctr.tcp_rst_rx++;
	switch (t->state) {
	case RS_TCP_SYN_RECV:
		/* passive: back to LISTEN (the listener stays); active:
		 * connection refused */
		rs_tcb_drop(t, ECONNREFUSED);
		return;
	case RS_TCP_ESTABLISHED:
	case RS_TCP_FIN_WAIT_1:
	case RS_TCP_FIN_WAIT_2:
	case RS_TCP_CLOSE_WAIT:
		c->ctr.tcp_estab_resets++;
		rs_tcb_drop(t, ECONNRESET);
		return;
	default: /* CLOSING, LAST_ACK */
		rs_tcb_drop(t, 0);
		return;
	}
}

/* Unacceptable segment: ACK it (unless RST) and drop. */
static void not_acceptable(struct rs_tcb *t, const struct rs_tcp_seg *seg,
			   uint32_t seglen)
{
	struct rs_core *c = t->core;

	if (rs_seq_le(seg->seq + seglen, t->rcv_nxt))
		c->ctr.tcp_dup_segs++;
	else
		c->ctr.drop_tcp_out_of_window++;
	if (seg->flags & RS_TH_RST)
		return;
	rs_tcp_ack_now(t);
	rs_tcp_schedule(t);
}

/* SYN-RECEIVED: the ACK of our SYN,ACK completes the handshake. */
static int syn_recv_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	struct rs_core *c = t->core;

	if (!rs_seq_lt(t->snd_una, seg->ack) ||
	    rs_seq_gt(seg->ack, t->snd_max)) {
		c->ctr.drop_tcp_bad_ack++;
		rs_tcp_send_raw(c, t->h.laddr, t->h.lport, t->h.raddr,
				t->h.rport, seg->ack, 0, RS_TH_RST, 0, NULL);
		return RS_ERROR;
	}
	if (t->parent && rs_tcp_listen_full(t->parent)) {
		c->ctr.drop_accept_queue++;
		return RS_ERROR;
	}
	t->snd_wnd = (uint32_t)seg->wnd << t->snd_wscale;
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = seg->seq;
	t->snd_wl2 = seg->ack;
	rs_tcp_established(t);
	rs_tcp_child_ready(t);
	return RS_OK;
}

/* After the ACK moved snd_una: our FIN acknowledged?  Returns RS_ERROR
 * when the TCB is gone. */
static int fin_acked_transitions(struct rs_tcb *t)
{
	int fin_acked = (t->flags & TF_FIN_QUEUED) && t->snd_una == t->snd_max &&
			t->snd_max == rs_tcp_data_end(t) + 1;

	if (!fin_acked)
		return RS_OK;
	switch (t->state) {
	case RS_TCP_FIN_WAIT_1:
		rs_tcp_set_state(t, RS_TCP_FIN_WAIT_2);
		if (!t->sock) {
			t->t_misc = t->core->now + RS_TCP_FIN_TIMEOUT_NS;
			rs_tcp_timer_arm(t, t->t_misc);
		}
		return RS_OK;
	case RS_TCP_CLOSING:
		rs_tcp_time_wait(t);
		return RS_ERROR;
	case RS_TCP_LAST_ACK:
		rs_tcb_drop(t, 0);
		return RS_ERROR;
	default:
		return RS_OK;
	}
}

/* Trim the segment to the receive window; returns the payload bounds. */
static void trim(const struct rs_tcb *t, const struct rs_tcp_seg *seg,
		 uint32_t *seq, const uint8_t **data, uint32_t *len,
		 uint8_t *flags)
{
	uint32_t wend = t->rcv_adv;

	*seq = seg->seq;
	*data = seg->data;
	*len = seg->len;
	*flags = seg->flags;
	if (rs_seq_lt(*seq, t->rcv_nxt)) {
		uint32_t d = t->rcv_nxt - *seq;
		if (d >= *len) {
			if (d > *len)
				*flags &= (uint8_t)~RS_TH_FIN;
			*data += *len;
			*len = 0;
		} else {
			*data += d;
			*len -= d;
		}
		*seq = t->rcv_nxt;
	}
	if (rs_seq_gt(*seq + *len, wend)) {
		*len = rs_seq_gt(wend, *seq) ? wend - *seq : 0;
		*flags &= (uint8_t)~RS_TH_FIN;
	}
}

/* Seventh and eighth checks: text and FIN. */
static void text_and_fin(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	uint32_t seq, len;
	const uint8_t *data;
	uint8_t flags;

	trim(t, seg, &seq, &data, &len, &flags);
	if (len && t->state >= RS_TCP_ESTABLISHED &&
	    t->state <= RS_TCP_FIN_WAIT_2) {
		if (!t->sock && t->state != RS_TCP_ESTABLISHED) {
			/* data for a closed socket: RFC 9293 3.10.4 abort */
			rs_tcp_send_rst(t);
			rs_tcb_drop(t, ECONNRESET);
			return;
		}
		rs_tcp_data(t, seg, seq, data, len);
	}
	if (!(flags & RS_TH_FIN))
		return;
	if (t->state == RS_TCP_CLOSE_WAIT || t->state == RS_TCP_CLOSING ||
	    t->state == RS_TCP_LAST_ACK || (t->flags & TF_FIN_RCVD)) {
		rs_tcp_ack_now(t); /* retransmitted FIN */
		return;
	}
	if (seq + len == t->rcv_nxt) {
		rs_tcp_fin(t);
	} else {
		t->flags |= TF_FIN_OOO;
		rs_tcp_ack_now(t);
		t->fin_seq = seq + len;
	}
}

/* RFC 7323 5.3: PAWS.  Returns RS_ERROR if the segment is to be dropped. */
static int paws(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		uint32_t seglen)
{
	if (!(t->flags & TF_TS) || !(seg->opts & RS_TCPOPT_TS) ||
	    (seg->flags & RS_TH_RST))
		return RS_OK;
	if (rs_seq_lt(seg->tsval, t->ts_recent)) {
		not_acceptable(t, seg, seglen);
		return RS_ERROR;
	}
	if (rs_seq_le(seg->seq, t->rcv_nxt))
		t->ts_recent = seg->tsval;
	return RS_OK;
}

/* RFC 9293 3.10.7.4: every state from SYN-RECEIVED on. */
static void sync_input(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	uint32_t seglen = seg->len + !!(seg->flags & RS_TH_SYN) +
			  !!(seg->flags & RS_TH_FIN);

	if (t->state == RS_TCP_SYN_RECV && (seg->flags & RS_TH_SYN) &&
	    !(seg->flags & RS_TH_ACK) && seg->seq == t->irs) {
		rs_tcp_send_syn(t); /* retransmitted SYN */
		return;
	}
	if (!seq_acceptable(t, seg->seq, seglen)) {
		not_acceptable(t, seg, seglen);
		return;
	}
	if (paws(t, seg, seglen) != RS_OK)
		return;
	if (seg->flags & RS_TH_RST) {
		rst_input(t, seg);
		return;
	}
	if (seg->flags & RS_TH_SYN) { /* RFC 5961 4.2 */
		rs_tcp_challenge_ack(t);
		return;
	}
	if (!(seg->flags & RS_TH_ACK))
		return;
	t->rcv_tstamp = t->core->now; /* keepalive: the peer is alive */
	t->ka_probes = 0;
	if (t->state == RS_TCP_SYN_RECV && syn_recv_ack(t, seg) != RS_OK)
		return;
	if (rs_tcp_ack(t, seg) != RS_OK)
		return;
	if (fin_acked_transitions(t) != RS_OK)
		return;
	text_and_fin(t, seg);
}

static void tcb_input(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	if (t->state == RS_TCP_SYN_SENT)
		syn_sent_input(t, seg);
	else
		sync_input(t, seg);
	/* the TCB may be gone; rs_tcp_schedule'd ones are on the outq and
	 * freed TCBs were removed from it */
}

void rs_tcp_input(struct rs_core *c, const struct rs_ipv4 *ip,
		  const struct rs_tcp_seg *seg, const struct rs_tcp_demux *dm)
{
	c->ctr.tcp_rx_segs++;
	if (dm->n) {
		if (dm->n->kind == RS_HK_TCB)
			tcb_input(RS_CONTAINER(dm->n, struct rs_tcb, h), seg);
		else
			rs_tw_input(c, RS_CONTAINER(dm->n, struct rs_tw, h),
				    ip, seg);
		return;
	}
	if (dm->l || dm->g) {
		struct rs_listener *l = dm->l ? dm->l : rs_tcp_hidden(c, dm->g);
		if (l)
			rs_tcp_listen_input(c, l, ip, seg);
		else
			c->ctr.drop_no_tcb++;
		rs_glisten_put(c, dm->g);
		return;
	}
	c->ctr.drop_tcp_no_socket++;
	rs_tcp_reset_reply(c, ip, seg);
}
