/* NewReno: slow start and congestion avoidance counting the bytes
 * delivered (RFC 5681; as Linux, no per-ACK limit in slow start), initial
 * window 10 (RFC 6928), NewReno's halving (RFC 6582) applied by
 * Proportional Rate Reduction during fast recovery (RFC 6937, as Linux
 * does it), one segment after a timeout, and the undo of a reduction
 * that proves spurious.  Loss detection and the recovery states are
 * tcp_recovery.c's. */
#include "tcp.h"

static void reno_init(struct rs_tcb *t)
{
	(void)t;
}

static uint32_t half_flight(const struct rs_tcb *t)
{
	return RS_MAX(rs_cc_flight(t) / 2, 2u * t->mss);
}

/* Open or timeout recovery: grow, but only a window that is in use (an
 * application-limited flow must not build a cwnd it never tested). */
static void grow(struct rs_tcb *t, uint32_t delivered, uint32_t prior_pipe)
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

static void reno_enter_recovery(struct rs_tcb *t)
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
static void prr(struct rs_tcb *t, uint32_t delivered)
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

static void reno_ack(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	if (t->flags & TF_RECOVERY)
		prr(t, a->delivered);
	else if (a->una_advanced) /* RFC 5681: grow on ACKs of new data only */
		grow(t, a->delivered, a->prior_pipe);
}

static void reno_reorder_loss(struct rs_tcb *t)
{
	if (t->flags & TF_RECOVERY)
		prr(t, 0);
}

static void reno_exit_recovery(struct rs_tcb *t)
{
	if (!(t->flags & TF_RECOVERY))
		return;
	t->cwnd = t->ssthresh;
	t->cwnd_acc = 0;
}

/* RFC 5681 3.1 (5.5 of RFC 6298): one segment, ssthresh halved once per
 * episode (a repeated timeout of the same data does not halve again). */
static void reno_rto(struct rs_tcb *t)
{
	if (!(t->flags & TF_LOSS) || t->retries <= 1) {
		if (!(t->flags & (TF_LOSS | TF_RECOVERY)))
			save_for_undo(t);
		t->ssthresh = half_flight(t);
	}
	t->cwnd = t->mss;
	t->cwnd_acc = 0;
}

static void reno_undo(struct rs_tcb *t)
{
	t->cwnd = RS_MAX(t->cwnd, t->prior_cwnd);
	t->ssthresh = RS_MAX(t->ssthresh, t->prior_ssthresh);
	t->cwnd_acc = 0;
}

/* A loss repaired by a tail loss probe: the reduction recovery would have
 * made, at once. */
static void reno_tlp_loss(struct rs_tcb *t)
{
	t->ssthresh = RS_MAX(t->cwnd / 2, 2u * t->mss);
	t->cwnd = t->ssthresh;
	t->cwnd_acc = 0;
}

static void reno_info(const struct rs_tcb *t, struct rs_sock_info *i)
{
	i->cc_mode = t->flags & TF_RECOVERY ? "recovery"
		     : t->flags & TF_LOSS   ? "loss"
		     : t->cwnd < t->ssthresh ? "slow_start"
					     : "avoidance";
}

const struct rs_cc_ops rs_cc_reno = {
	.name = "reno",
	.rate = 0,
	.init = reno_init,
	.ack = reno_ack,
	.enter_recovery = reno_enter_recovery,
	.reorder_loss = reno_reorder_loss,
	.exit_recovery = reno_exit_recovery,
	.rto = reno_rto,
	.undo = reno_undo,
	.tlp_loss = reno_tlp_loss,
	.info = reno_info,
};
