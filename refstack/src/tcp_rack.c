/* RACK-TLP (RFC 8985).  RACK: a segment is lost when a segment sent
 * after it has been delivered and it has had a round trip plus a
 * reordering window to arrive - by time, not by counting duplicate ACKs,
 * so that lost retransmissions are found the same way as lost originals.
 * TLP: when a flight's tail is lost (or the ACKs of it), a probe after
 * about two round trips draws the ACK that lets RACK see the loss instead
 * of waiting for the retransmission timeout. */
#include "tcp.h"

/* RFC 8985 6.2: did (t1, e1) go out after (t2, e2)?  Ties on the time
 * (one poll step sends many segments at the same now) by sequence. */
static int sent_after(uint64_t t1, uint32_t e1, uint64_t t2, uint32_t e2)
{
	return t1 > t2 || (t1 == t2 && rs_seq_gt(e1, e2));
}

/* Step 2 and 3 for one newly delivered (acknowledged or SACKed) record. */
void rs_rack_delivered(struct rs_tcb *t, const struct rs_txrec *r,
		       struct rs_ackinfo *ai)
{
	uint64_t rtt = t->core->now - r->xmit;
	uint32_t end = rs_txrec_end(r);

	if (r->flags & RS_TXR_EVER_RETRANS) {
		/* delivered sooner than any round trip: the ACK is for the
		 * original, not for the retransmission (ambiguous) */
		if (rtt < (uint64_t)t->min_rtt_us * 1000u)
			return;
	} else {
		if (rtt > ai->rtt_ns)
			ai->rtt_ns = rtt;
		if (rs_seq_lt(end, t->rack_fack))
			t->flags |= TF_REORDER; /* it arrived after later data */
	}
	if (rs_seq_gt(end, t->rack_fack))
		t->rack_fack = end;
	/* the RTT of the latest delivery, also of one sent earlier (a
	 * reordered segment's short trip must not make every segment
	 * still on its way look late) */
	t->rack_rtt_us = (uint32_t)RS_MIN(rtt / 1000u, 60000000ull);
	if (sent_after(r->xmit, end, t->rack_xmit, t->rack_end)) {
		t->rack_xmit = r->xmit;
		t->rack_end = end;
	}
}

/* A D-SACK: the reordering window grows by min_rtt/4, at most once per
 * round trip, and stays so for 16 recoveries (step 4). */
void rs_rack_dsack(struct rs_tcb *t)
{
	t->flags |= TF_REORDER;
	if (rs_seq_lt(t->snd_una, t->dsack_round))
		return;
	if (t->reo_steps < 255)
		t->reo_steps++;
	t->reo_persist = 16;
	t->dsack_round = t->snd_max;
}

static uint64_t reo_wnd_ns(const struct rs_tcb *t)
{
	uint64_t w;

	if (!(t->flags & TF_REORDER)) {
		/* no reordering seen: as quick as three duplicate ACKs */
		if ((t->flags & (TF_RECOVERY | TF_LOSS)) ||
		    t->txq.sacked >= 3u * t->mss)
			return 0;
	}
	w = (uint64_t)t->min_rtt_us / 4u * (t->reo_steps ? t->reo_steps : 1);
	return RS_MIN(w, (uint64_t)t->srtt_us) * 1000u;
}

/* Step 5.  Records in sequence order were first sent in that order, so
 * the walk stops at the first never-retransmitted one that was not sent
 * before the latest delivery: every later one was (re)sent after it. */
uint32_t rs_rack_detect_loss(struct rs_tcb *t)
{
	uint64_t now = t->core->now, reo, wait = 0;
	uint64_t rtt = (uint64_t)t->rack_rtt_us * 1000u;
	uint32_t lost = 0;

	if (!t->rack_xmit)
		return 0;
	if (!t->txq.n) { /* nothing outstanding: nothing to wait for */
		if (t->t_reo) {
			t->t_reo = 0;
			rs_tcp_timer_arm(t, 0);
		}
		return 0;
	}
	reo = reo_wnd_ns(t);
	for (uint32_t i = 0; i < t->txq.n; i++) {
		struct rs_txrec *r = rs_txq_at(t, i);
		uint32_t end = rs_txrec_end(r);
		uint64_t due;
		if (r->flags & RS_TXR_SACKED)
			continue;
		if (!sent_after(t->rack_xmit, t->rack_end, r->xmit, end)) {
			if (!(r->flags & RS_TXR_EVER_RETRANS))
				break;
			continue;
		}
		if ((r->flags & (RS_TXR_LOST | RS_TXR_RETRANS)) == RS_TXR_LOST)
			continue; /* lost already, not resent yet */
		due = r->xmit + rtt + reo;
		if (due <= now) {
			if (r->flags & RS_TXR_RETRANS)
				t->core->ctr.tcp_lost_retrans++;
			rs_txq_set(t, r, RS_TXR_LOST, RS_TXR_RETRANS);
			lost++;
		} else if (due - now > wait) {
			wait = due - now;
		}
	}
	t->t_reo = wait ? now + wait : 0;
	rs_tcp_timer_arm(t, t->t_reo);
	return lost;
}

/* ---- TLP (RFC 8985 7) ------------------------------------------------- */

/* 7.2: after new data went out, or an ACK, in the open state.  Not for a
 * connection the application has closed once only its FIN is left: a
 * probe there, while the peer's ACK is merely late, tends to meet a peer
 * that has finished and answers with a reset. */
void rs_tlp_arm(struct rs_tcb *t)
{
	uint64_t now = t->core->now, pto;
	uint32_t flight = t->snd_max - t->snd_una;

	t->t_probe = 0;
	if (!(t->core->stack->conf.options & RS_OPT_TLP) || !flight ||
	    !t->srtt_us || (t->flags & (TF_RECOVERY | TF_LOSS | TF_TLP)) ||
	    t->state < RS_TCP_ESTABLISHED ||
	    (!t->sock && rs_seq_ge(t->snd_una, rs_tcp_data_end(t))))
		return;
	pto = 2ull * t->srtt_us * 1000u;
	if (flight <= t->mss)
		pto += RS_TCP_DELACK_MAX_NS; /* a lone segment's ACK may be delayed */
	if (pto < RS_TCP_TLP_MIN_NS)
		pto = RS_TCP_TLP_MIN_NS;
	/* the probe takes the place of a retransmission timeout due sooner */
	if (t->t_rtx && now + pto > t->t_rtx)
		pto = t->t_rtx > now ? t->t_rtx - now : 1;
	t->t_probe = now + pto;
}

/* The segment a probe resends: the last one the peer has not SACKed (a
 * SACKed one would only come back as a D-SACK, repairing nothing). */
static struct rs_txrec *probe_rec(const struct rs_tcb *t)
{
	for (uint32_t i = t->txq.n; i-- > 0;) {
		struct rs_txrec *r = rs_txq_at(t, i);
		if (!(r->flags & RS_TXR_SACKED))
			return r;
	}
	return NULL;
}

/* 7.3: one new segment if the peer's window has room (beyond cwnd), else
 * the last segment again; then the retransmission timer restarts.  The
 * new segment goes even when short (Nagle) or inside a pacing gap; if
 * nothing could go, the last unSACKed segment goes again. */
void rs_tlp_fire(struct rs_tcb *t)
{
	uint32_t end = rs_tcp_data_end(t), before = t->snd_max;
	struct rs_core *c = t->core;

	if (t->snd_max == t->snd_una || (t->flags & (TF_RECOVERY | TF_LOSS)))
		return;
	c->ctr.tcp_tail_probes++;
	t->flags &= ~(uint32_t)TF_TLP_RETX;
	if (rs_seq_lt(t->snd_nxt, end) &&
	    t->snd_nxt - t->snd_una + t->mss <= t->snd_wnd) {
		t->probe_allow = t->mss;
		rs_tcp_output(t);
		t->probe_allow = 0;
	}
	if (t->snd_max == before) {
		struct rs_txrec *r = probe_rec(t);
		if (!r)
			return;
		rs_tcp_retransmit(t, r);
		t->flags |= TF_TLP_RETX;
		t->tlp_end = rs_txrec_end(r);
	}
	t->flags |= TF_TLP;
	t->tlp_high = t->snd_max;
	rs_tcp_rearm_rtx(t);
}

/* 7.4: did the probe repair a loss?  Then the congestion response is
 * owed (a loss happened, even if no recovery was needed). */
void rs_tlp_ack(struct rs_tcb *t, uint32_t ack, const struct rs_ackinfo *ai)
{
	if (!(t->flags & TF_TLP) || rs_seq_lt(ack, t->tlp_high))
		return;
	if ((t->flags & TF_TLP_RETX) && !ai->dsack_tlp) {
		if (rs_seq_gt(ack, t->tlp_high)) {
			rs_cc_tlp_loss(t);
		} else if (ai->acked || ai->sacked || !ai->dupack) {
			return; /* not decided yet */
		}
	}
	t->flags &= ~(uint32_t)(TF_TLP | TF_TLP_RETX);
}
