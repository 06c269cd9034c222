/* The ACK field (RFC 9293 3.10.7.4 fifth check, RFC 5961 5.2): advance
 * snd_una, free the send buffer, sample RTT (Karn), update the send
 * window, count duplicate ACKs. */
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
			rs_tcp_timer_update(t);
			rs_tcp_schedule(t);
		}
	}
	return changed;
}

static void new_ack(struct rs_tcb *t, uint32_t ack)
{
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
	t->prev_una = t->snd_una;
	t->snd_una = ack;
	if (t->nsacked)
		rs_seqset_trim(t->sacked, &t->nsacked, ack);
	t->limited = 0;
	if (rs_seq_lt(t->snd_nxt, ack))
		t->snd_nxt = ack;
	if ((t->flags & TF_RTT) && rs_seq_ge(ack, t->rtt_seq)) {
		t->flags &= ~(uint32_t)TF_RTT;
		rs_tcp_rtt_sample(t, c->now - t->rtt_start);
	}
	t->backoff = 0;
	t->retries = 0;
	rs_cc_ack(t, acked);
	t->dupacks = 0;
	rs_tcp_rearm_rtx(t);
	if (data)
		rs_tcp_notify(t);
	rs_tcp_schedule(t);
}

int rs_tcp_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	struct rs_core *c = t->core;
	uint32_t ack = seg->ack;
	int shrank;

	if (rs_seq_gt(ack, t->snd_max) ||
	    rs_seq_lt(ack, t->snd_una - t->max_snd_wnd)) {
		c->ctr.drop_tcp_bad_ack++;
		rs_tcp_challenge_ack(t);
		return RS_ERROR;
	}
	if (rs_seq_lt(ack, t->snd_una))
		return RS_OK; /* old duplicate ACK: ignore the ACK field */
	shrank = window_update(t, seg);
	if (seg->nsack)
		rs_sack_update(t, seg);
	if (rs_seq_gt(ack, t->snd_una)) {
		new_ack(t, ack);
		return RS_OK;
	}
	/* RFC 5681 2: duplicate ACK */
	if (seg->len == 0 && !(seg->flags & (RS_TH_SYN | RS_TH_FIN)) &&
	    !shrank && t->snd_max != t->snd_una) {
		c->ctr.tcp_dupacks++;
		if (t->dupacks < 255)
			t->dupacks++;
		rs_cc_dupack(t);
	}
	return RS_OK;
}
