/* The ACK field (RFC 9293 3.10.7.4 fifth check, RFC 5961 5.2): update the
 * send window, put the SACK blocks and the cumulative ACK on the
 * scoreboard, free the send buffer, take an RTT sample, count duplicate
 * ACKs; then loss recovery and congestion control (tcp_recovery.c). */
#include "tcp.h"

/* RFC 9293 3.10.7.4: update the window if the segment is newer.  Returns
 * non-zero if the window shrank.  (RFC 5681 2 (e) wants any change to
 * disqualify a duplicate ACK; a receiver whose application keeps reading
 * - Linux with autotuning - grows its window in every duplicate ACK, and
 * without SACK that would turn each loss into a timeout.  A growing
 * window is therefore not held against a duplicate ACK.) */
static int window_update(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	uint32_t wnd = (uint32_t)seg->wnd << t->snd_wscale;
	int changed = 0;

	if (rs_seq_lt(t->snd_wl1, seg->seq) ||
	    (t->snd_wl1 == seg->seq && rs_seq_le(t->snd_wl2, seg->ack))) {
		changed = wnd < t->snd_wnd;
		t->snd_wnd = wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
		if (wnd && t->t_persist) {
			t->t_persist = 0;
			t->backoff = 0;
			rs_tcp_timer_arm(t, 0);
			rs_tcp_schedule(t);
		}
	}
	return changed;
}

/* Without SACK, Linux's accounting of duplicate ACKs as delivered
 * segments: a partial or full ACK fills one hole and eats the rest. */
static void reno_acked(struct rs_tcb *t, uint32_t acked)
{
	uint32_t eaten = acked > t->mss ? acked - t->mss : 0;

	t->reno_sacked = t->reno_sacked > eaten ? t->reno_sacked - eaten : 0;
	t->dupacks = 0;
}

static void new_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		    struct rs_ackinfo *ai)
{
	uint32_t ack = seg->ack;
	struct rs_core *c = t->core;
	uint32_t acked = ack - t->snd_una;
	uint32_t data = 0;

	if (rs_seq_gt(ack, t->snd_buf_seq)) {
		data = RS_MIN(ack - t->snd_buf_seq, t->snd.len);
		if (data) {
			rs_ring_consume(&t->snd, data);
			t->snd_buf_seq += data;
			if (t->snd.len == 0)
				rs_ring_release(&t->snd, &c->pool);
		}
	}
	rs_txq_ack(t, ack, ai);
	ai->una_advanced = 1;
	if ((t->flags & TF_RTT) || !t->srtt_us) /* the SYN,ACK's (passive open) */
		rs_tcp_rtt_syn(t, seg);
	t->snd_una = ack;
	if (rs_seq_lt(t->snd_nxt, ack))
		t->snd_nxt = ack;
	if (!(t->flags & TF_SACK))
		reno_acked(t, acked);
	t->backoff = 0;
	t->retries = 0;
	if (data)
		rs_tcp_notify(t);
}

/* RFC 5681 2: a duplicate ACK.  Without SACK each one stands for a
 * segment that left the network (at most all but one outstanding). */
static void dup_ack(struct rs_tcb *t, struct rs_ackinfo *ai)
{
	uint32_t out = rs_cc_flight(t), holes;

	t->core->ctr.tcp_dupacks++;
	ai->dupack = 1;
	if (t->flags & TF_SACK)
		return;
	if (t->dupacks < 255)
		t->dupacks++;
	holes = RS_MAX(t->txq.lost, (uint32_t)t->mss);
	t->reno_sacked = RS_MIN(t->reno_sacked + t->mss,
				out > holes ? out - holes : 0);
}

/* Send buffer autotuning (Linux's tcp_sndbuf_expand): the application
 * found the buffer full while cwnd had room - what fills it is SACKed
 * data above a hole, which stays until the hole is repaired, and with a
 * fixed buffer a lost retransmission there leaves nothing new to send
 * whose delivery would reveal it (RACK) but a retransmission timeout.
 * The buffer grows to four times cwnd (Linux's is about six: two
 * segments' memory per segment of cwnd), in powers of two, to at most
 * RS_TCP_SNDBUF_MAX; not when SO_SNDBUF was set. */
static void sndbuf_expand(struct rs_tcb *t)
{
	uint32_t cap = t->snd.cap;

	t->flags &= ~(uint32_t)TF_SNDBUF_FULL;
	if (rs_tcp_pipe(t) >= t->cwnd)
		return; /* cwnd is the limit, not the buffer */
	while (cap < RS_TCP_SNDBUF_MAX && cap < 4u * t->cwnd)
		cap *= 2;
	if (cap > t->snd.cap &&
	    rs_ring_grow(&t->snd, &t->core->pool,
			 RS_MIN(cap, RS_TCP_SNDBUF_MAX)) == RS_OK)
		t->core->ctr.tcp_sndbuf_grown++;
}

int rs_tcp_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	struct rs_core *c = t->core;
	struct rs_ackinfo ai = {0};
	uint32_t ack = seg->ack, prior_pipe;
	int shrank;

	if (rs_seq_gt(ack, t->snd_max) ||
	    rs_seq_lt(ack, t->snd_una - t->max_snd_wnd)) {
		c->ctr.drop_tcp_bad_ack++;
		rs_tcp_challenge_ack(t);
		return RS_ERROR;
	}
	if (rs_seq_lt(ack, t->snd_una))
		return RS_OK; /* old duplicate ACK: ignore the ACK field */
	prior_pipe = rs_tcp_pipe(t);
	shrank = window_update(t, seg);
	if (seg->nsack)
		rs_sack_update(t, seg, &ai);
	if (rs_seq_gt(ack, t->snd_una))
		new_ack(t, seg, &ai);
	else if (seg->len == 0 && !(seg->flags & (RS_TH_SYN | RS_TH_FIN)) &&
		 !shrank && t->snd_max != t->snd_una)
		dup_ack(t, &ai);
	if (ai.rtt_ns)
		rs_tcp_rtt_sample(t, ai.rtt_ns);
	rs_rate_gen(t, &ai);
	if (t->snd_max != t->snd_una || ai.una_advanced)
		rs_tcp_recovery_ack(t, seg, &ai, prior_pipe);
	if (ai.una_advanced) {
		rs_tcp_rearm_rtx(t);
		if ((t->flags & (TF_SNDBUF_FULL | TF_SNDBUF_LOCK)) ==
		    TF_SNDBUF_FULL)
			sndbuf_expand(t);
	}
	if (ai.una_advanced || ai.sacked || ai.dupack)
		rs_tcp_schedule(t);
	return RS_OK;
}
