/* Congestion control: slow start and congestion avoidance counting the
 * bytes delivered (RFC 5681; as Linux, no per-ACK limit in slow start),
 * initial window 10 (RFC 6928), NewReno's
 * halving (RFC 6582) applied by Proportional Rate Reduction during fast
 * recovery (RFC 6937, as Linux does it), one segment after a timeout, and
 * the undo of a reduction that proves spurious.  Loss detection and the
 * recovery states are tcp_recovery.c's. */
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
	t->cwnd_acc = 0;
	t->reo_steps = 1;
	t->dsack_round = t->snd_una;
}

static uint32_t half_flight(const struct rs_tcb *t)
{
	return RS_MAX(rs_cc_flight(t) / 2, 2u * t->mss);
}

/* Open or timeout recovery: grow, but only a window that is in use (an
 * application-limited flow must not build a cwnd it never tested). */
void rs_cc_ack(struct rs_tcb *t, uint32_t delivered, uint32_t prior_pipe)
{
	uint32_t mss = t->mss;

	if (!delivered)
		return;
	if (t->cwnd < t->ssthresh) {
		if (prior_pipe * 2 < t->cwnd)
			return;
		t->cwnd = RS_MIN(t->cwnd + delivered, t->ssthresh);
		return;
	}
	if (prior_pipe + 2u * mss < t->cwnd)
		return;
	t->cwnd_acc += delivered;
	if (t->cwnd_acc >= t->cwnd) {
		t->cwnd_acc -= t->cwnd;
		t->cwnd += mss;
	}
}

static void save_for_undo(struct rs_tcb *t)
{
	t->prior_cwnd = t->cwnd;
	t->prior_ssthresh = t->ssthresh;
}

void rs_cc_enter_recovery(struct rs_tcb *t)
{
	save_for_undo(t);
	t->ssthresh = half_flight(t);
	t->prr_delivered = 0;
	t->prr_out = 0;
	t->recover_fs = RS_MAX(rs_cc_flight(t), 1u);
}

/* RFC 6937 on each ACK of the recovery: above ssthresh send in proportion
 * to what was delivered (PRR), below it grow back toward ssthresh no
 * faster than slow start (the slow-start reduction bound: one segment
 * more than delivered, which keeps the ACK clock going when the recovery
 * finds retransmissions lost).  The first ACK always lets the fast
 * retransmit out. */
void rs_cc_prr(struct rs_tcb *t, uint32_t delivered)
{
	uint32_t pipe = rs_tcp_pipe(t), mss = t->mss;
	int64_t sndcnt;

	t->prr_delivered += delivered;
	if (pipe > t->ssthresh) {
		uint64_t d = (uint64_t)t->prr_delivered * t->ssthresh +
			     t->recover_fs - 1;
		sndcnt = (int64_t)(d / t->recover_fs) - t->prr_out;
	} else {
		int64_t lim = (int64_t)t->prr_delivered - t->prr_out;
		if (lim < (int64_t)delivered)
			lim = delivered;
		sndcnt = RS_MIN((int64_t)(t->ssthresh - pipe), lim + mss);
	}
	if (sndcnt < (t->prr_out ? 0 : (int64_t)mss))
		sndcnt = t->prr_out ? 0 : mss;
	t->cwnd = pipe + (uint32_t)sndcnt;
}

void rs_cc_exit_recovery(struct rs_tcb *t)
{
	t->cwnd = t->ssthresh;
	t->cwnd_acc = 0;
}

/* RFC 5681 3.1 (5.5 of RFC 6298): one segment, ssthresh halved once per
 * episode (a repeated timeout of the same data does not halve again). */
void rs_cc_rto(struct rs_tcb *t)
{
	if (!(t->flags & TF_LOSS) || t->retries <= 1) {
		if (!(t->flags & (TF_LOSS | TF_RECOVERY)))
			save_for_undo(t);
		t->ssthresh = half_flight(t);
	}
	t->cwnd = t->mss;
	t->cwnd_acc = 0;
}

void rs_cc_undo(struct rs_tcb *t)
{
	t->cwnd = RS_MAX(t->cwnd, t->prior_cwnd);
	t->ssthresh = RS_MAX(t->ssthresh, t->prior_ssthresh);
	t->cwnd_acc = 0;
}

/* A loss repaired by a tail loss probe: the reduction recovery would have
 * made, at once. */
void rs_cc_tlp_loss(struct rs_tcb *t)
{
	t->ssthresh = RS_MAX(t->cwnd / 2, 2u * t->mss);
	t->cwnd = t->ssthresh;
	t->cwnd_acc = 0;
}
