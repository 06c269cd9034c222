/* Loss recovery as a sender: after an ACK has updated the scoreboard,
 * find what is lost (RACK with SACK; NewReno's duplicate ACKs and partial
 * ACKs without), enter, run and leave fast recovery (cwnd by PRR), undo a
 * reduction that proves spurious, and the timeout's recovery: everything
 * not SACKed is marked lost and resent from one segment of cwnd, slow
 * start, while SACKed data is kept (Linux's way; a peer that reneges shows
 * it by SACKing the head, and then the marks go).  Retransmissions always
 * come from the scoreboard, never by moving snd_nxt back. */
#include "tcp.h"

/* RFC 5827 early retransmit (peers without SACK): with fewer than four
 * segments out and nothing new to send, one duplicate ACK fewer than
 * outstanding segments is enough. */
static uint8_t dupthresh(const struct rs_tcb *t)
{
	uint32_t segs = (rs_cc_flight(t) + t->mss - 1) / t->mss;

	if (segs >= 4 || rs_seq_lt(t->snd_max, rs_tcp_data_end(t)))
		return 3;
	return (uint8_t)(segs > 1 ? segs - 1 : 1);
}

static uint32_t mark_head_lost(struct rs_tcb *t)
{
	struct rs_txrec *r;

	if (!t->txq.n)
		return 0;
	r = rs_txq_at(t, 0);
	if (r->flags & (RS_TXR_LOST | RS_TXR_SACKED))
		return 0;
	rs_txq_set(t, r, RS_TXR_LOST, RS_TXR_RETRANS);
	return 1;
}

/* Without SACK (Linux's tcp_newreno_mark_lost): the head is lost after
 * dupthresh duplicate ACKs, and in recovery after each partial ACK. */
static uint32_t newreno_mark_lost(struct rs_tcb *t, int una_advanced)
{
	if (!(t->flags & (TF_RECOVERY | TF_LOSS)) && t->dupacks >= dupthresh(t))
		return mark_head_lost(t);
	if ((t->flags & TF_RECOVERY) && una_advanced)
		return mark_head_lost(t);
	return 0;
}

static void unmark_lost(struct rs_tcb *t)
{
	for (uint32_t i = 0; i < t->txq.n; i++)
		rs_txq_set(t, rs_txq_at(t, i), 0, RS_TXR_LOST);
}

static int ts_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* The episode's retransmissions were all unnecessary: every one came back
 * D-SACKed, or (Eifel, RFC 3522) the ACK echoes a timestamp from before
 * the first of them, so the original got through. */
static int may_undo(const struct rs_tcb *t, const struct rs_tcp_seg *seg,
		    const struct rs_ackinfo *ai)
{
	if (!(t->flags & TF_UNDO) || !(t->flags & TF_RETRANS_TS))
		return 0;
	if (!t->undo_retrans && ai->dsack)
		return 1;
	return (t->flags & TF_TS) && (seg->opts & RS_TCPOPT_TS) && seg->tsecr &&
	       rs_seq_gt(t->snd_una, t->undo_marker) &&
	       ts_before(seg->tsecr, t->retrans_ts);
}

static void undo(struct rs_tcb *t)
{
	t->core->ctr.tcp_spurious_undo++;
	rs_cc_undo(t);
	unmark_lost(t);
	t->flags &= ~(uint32_t)(TF_RECOVERY | TF_LOSS | TF_UNDO);
	t->recover = t->snd_una;
}

static void begin_episode(struct rs_tcb *t)
{
	t->flags |= TF_UNDO;
	t->undo_marker = t->snd_una;
	t->undo_retrans = 0;
	t->flags &= ~(uint32_t)TF_RETRANS_TS;
	t->recover = t->snd_max;
	t->flags &= ~(uint32_t)(TF_TLP | TF_TLP_RETX);
	t->t_probe = 0;
}

static void enter_recovery(struct rs_tcb *t)
{
	t->core->ctr.tcp_fast_retrans++;
	rs_cc_enter_recovery(t);
	begin_episode(t);
	t->flags |= TF_RECOVERY;
}

static void leave_recovery(struct rs_tcb *t)
{
	rs_cc_exit_recovery(t);
	t->flags &= ~(uint32_t)(TF_RECOVERY | TF_LOSS | TF_UNDO);
	if (t->reo_persist)
		t->reo_persist--;
	else
		t->reo_steps = 1;
}

static uint32_t detect_loss(struct rs_tcb *t, int una_advanced)
{
	if (t->flags & TF_SACK)
		return rs_rack_detect_loss(t);
	return newreno_mark_lost(t, una_advanced);
}

void rs_tcp_recovery_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg,
			 const struct rs_ackinfo *ai, uint32_t prior_pipe)
{
	int una_advanced = ai->una_advanced;
	uint32_t delivered = ai->acked + ai->sacked, lost = t->txq.lost;

	if (!(t->flags & TF_SACK) && ai->dupack)
		delivered += t->mss; /* a duplicate ACK: one segment left */
	if ((t->flags & (TF_RECOVERY | TF_LOSS)) && may_undo(t, seg, ai))
		undo(t);
	detect_loss(t, una_advanced);
	rs_tlp_ack(t, seg->ack, ai);
	if ((t->flags & (TF_RECOVERY | TF_LOSS)) &&
	    rs_seq_ge(t->snd_una, t->recover))
		leave_recovery(t);
	if (!(t->flags & (TF_RECOVERY | TF_LOSS)) && t->txq.lost)
		enter_recovery(t);
	rs_cc_ack(t, &(struct rs_cc_ack){
		.delivered = delivered,
		.prior_pipe = prior_pipe,
		.lost = t->txq.lost > lost ? t->txq.lost - lost : 0,
		.rtt_us = (uint32_t)RS_MIN(ai->rtt_ns / 1000u, 60000000ull),
		.una_advanced = (uint8_t)una_advanced,
		.rs = &ai->rs,
	});
}

/* RACK's reordering timer: the records it waited for are due. */
void rs_tcp_reorder_timeout(struct rs_tcb *t)
{
	if (!rs_rack_detect_loss(t))
		return;
	if (!(t->flags & (TF_RECOVERY | TF_LOSS)))
		enter_recovery(t);
	rs_cc_reorder_loss(t);
	rs_tcp_output(t);
}

/* RFC 6298 5.4-5.6 and RFC 5681 3.1: after a retransmission timeout. */
void rs_tcp_enter_loss(struct rs_tcb *t)
{
	int reneged = t->txq.n && (rs_txq_at(t, 0)->flags & RS_TXR_SACKED);

	rs_cc_rto(t);
	if (!(t->flags & TF_LOSS) || t->retries <= 1)
		begin_episode(t);
	t->flags &= ~(uint32_t)TF_RECOVERY;
	t->flags |= TF_LOSS;
	t->recover = t->snd_max;
	t->dupacks = 0;
	t->reno_sacked = 0;
	for (uint32_t i = 0; i < t->txq.n; i++) {
		struct rs_txrec *r = rs_txq_at(t, i);
		if (reneged || t->backoff > 2)
			rs_txq_set(t, r, 0, RS_TXR_SACKED);
		if (!(r->flags & RS_TXR_SACKED))
			rs_txq_set(t, r, RS_TXR_LOST, RS_TXR_RETRANS);
	}
	t->t_reo = 0;
}

void rs_tcp_retransmit(struct rs_tcb *t, struct rs_txrec *r)
{
	uint32_t data_end = rs_tcp_data_end(t), end = rs_txrec_end(r);
	uint32_t len = (rs_seq_gt(end, data_end) ? data_end : end) - r->start;
	uint8_t flags = RS_TH_ACK;

	if (end == data_end + 1 && (t->flags & TF_FIN_QUEUED))
		flags |= RS_TH_FIN;
	if (rs_seq_ge(end, data_end))
		flags |= RS_TH_PSH;
	rs_rate_sent(t, r);
	rs_tcp_xmit(t, r->start, len, flags);
	rs_tcp_pace_sent(t, len);
	rs_txq_set(t, r, RS_TXR_RETRANS | RS_TXR_EVER_RETRANS, 0);
	r->xmit = t->core->now;
	if (t->flags & TF_UNDO) {
		t->undo_retrans++;
		if (!(t->flags & TF_RETRANS_TS)) {
			t->flags |= TF_RETRANS_TS;
			t->retrans_ts = rs_tcp_ts_now(t->core) + t->ts_offset;
		}
	}
	if (t->flags & TF_RECOVERY)
		t->prr_out += r->len;
}
