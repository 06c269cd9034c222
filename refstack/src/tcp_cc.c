/* Congestion control: slow start and congestion avoidance (RFC 5681),
 * initial window 10 (RFC 6928), limited transmit (RFC 3042), fast
 * retransmit and NewReno fast recovery (RFC 6582, with the ACK heuristic
 * of its section 4.2 after a timeout). */
#include "tcp.h"

uint32_t rs_cc_flight(const struct rs_tcb *t)
{
	return t->snd_max - t->snd_una;
}

void rs_cc_init(struct rs_tcb *t)
{
	uint32_t mss = t->mss;

	if (t->flags & TF_SYN_RETX)
		t->cwnd = mss; /* RFC 6298 5.7 */
	else
		t->cwnd = RS_MIN(RS_TCP_IW_SEGS * mss,
				 RS_MAX(2 * mss, 14600u));
	t->ssthresh = 0x7fffffffu;
	t->recover = t->iss;
}

static uint32_t half_flight(const struct rs_tcb *t)
{
	return RS_MAX(rs_cc_flight(t) / 2, 2u * t->mss);
}

/* Retransmit the first unacknowledged segment. */
static void retransmit_head(struct rs_tcb *t)
{
	uint32_t end = rs_tcp_data_end(t);
	uint32_t len = rs_seq_lt(t->snd_una, end) ? end - t->snd_una : 0;
	uint8_t flags = RS_TH_ACK;

	if (len > t->mss)
		len = t->mss;
	if ((t->flags & TF_FIN_QUEUED) && t->snd_una + len == end &&
	    t->snd_max == end + 1)
		flags |= RS_TH_FIN;
	if (len == 0 && !(flags & RS_TH_FIN))
		return;
	t->flags &= ~(uint32_t)TF_RTT; /* Karn */
	rs_tcp_xmit(t, t->snd_una, len, flags);
	if (rs_seq_gt(t->snd_una + len, t->rtx_high))
		t->rtx_high = t->snd_una + len;
}

void rs_cc_ack(struct rs_tcb *t, uint32_t acked)
{
	uint32_t mss = t->mss;

	if (t->flags & TF_RECOVERY) {
		if (rs_seq_ge(t->snd_una, t->recover)) {
			/* full acknowledgment: deflate (RFC 6582 3.2 4) */
			t->cwnd = RS_MIN(t->ssthresh, rs_cc_flight(t) + mss);
			t->flags &= ~(uint32_t)TF_RECOVERY;
			return;
		}
		/* partial acknowledgment: the next hole */
		if (t->nsacked) {
			if (!rs_seq_gt(t->rtx_high, t->snd_una))
				t->rtx_high = t->snd_una;
			rs_sack_recover(t);
			return;
		}
		if (!rs_seq_gt(t->rtx_high, t->snd_una))
			retransmit_head(t);
		t->cwnd = t->cwnd > acked ? t->cwnd - acked : 0;
		if (acked >= mss)
			t->cwnd += mss;
		if (t->cwnd < mss)
			t->cwnd = mss;
		return;
	}
	if (t->cwnd < t->ssthresh)
		t->cwnd += RS_MIN(acked, mss);
	else
		t->cwnd += RS_MAX(1u, mss * mss / t->cwnd);
}

/* RFC 6582 3.2 2 and 4.2: the duplicate ACKs are fresh if the cumulative
 * ACK covers more than recover, or (ACK heuristic) the last advance of
 * the ACK was small, so they cannot be echoes of a go-back-N burst. */
static int recovery_allowed(const struct rs_tcb *t)
{
	if (rs_seq_ge(t->snd_una, t->recover))
		return 1;
	return t->cwnd > t->mss && t->snd_una - t->prev_una <= 4u * t->mss;
}

/* RFC 5827 early retransmit: with fewer than 4 segments outstanding and
 * nothing new to send, one duplicate ACK fewer than outstanding segments
 * is enough. */
static uint8_t dupthresh(const struct rs_tcb *t)
{
	uint32_t segs = (rs_cc_flight(t) + t->mss - 1) / t->mss;

	if (segs >= 4 || rs_seq_lt(t->snd_max, rs_tcp_data_end(t)))
		return 3;
	return (uint8_t)(segs > 1 ? segs - 1 : 1);
}

void rs_cc_dupack(struct rs_tcb *t)
{
	struct rs_core *c = t->core;

	if (t->flags & TF_RECOVERY) {
		if (t->nsacked) {
			rs_sack_recover(t); /* RFC 6675: pipe, no inflation */
			return;
		}
		t->cwnd += t->mss; /* inflate (RFC 6582 3.2 3) */
		rs_tcp_schedule(t);
		return;
	}
	if (t->dupacks < dupthresh(t) && !rs_sack_head_lost(t)) {
		/* RFC 3042: one new segment per early duplicate ACK */
		t->limited = t->dupacks * (uint32_t)t->mss;
		rs_tcp_schedule(t);
		return;
	}
	if (!recovery_allowed(t))
		return;
	t->limited = 0;
	/* RFC 6582 3.2 2: enter fast recovery */
	t->ssthresh = half_flight(t);
	t->recover = t->snd_max;
	t->flags |= TF_RECOVERY;
	c->ctr.tcp_fast_retrans++;
	t->rtx_high = t->snd_una;
	retransmit_head(t);
	if (t->nsacked) {
		t->cwnd = t->ssthresh; /* RFC 6675 5 (4.3) */
		rs_sack_recover(t);
	} else {
		t->cwnd = t->ssthresh + 3 * t->mss;
	}
	rs_tcp_rearm_rtx(t);
}

void rs_cc_rto(struct rs_tcb *t)
{
	t->ssthresh = half_flight(t);
	t->cwnd = t->mss;
	t->flags &= ~(uint32_t)TF_RECOVERY;
	t->recover = t->snd_max;
	t->dupacks = 0;
	t->limited = 0;
	t->nsacked = 0; /* RFC 2018 8: SACKed data may be reneged */
	t->rtx_high = t->snd_una;
}
