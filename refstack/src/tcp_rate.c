/* Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation,
 * as Linux's tcp_rate.c): each segment remembers how much the connection
 * had delivered, and when, at the moment it was sent; when it is
 * delivered (cumulatively ACKed or SACKed) the bytes delivered in between
 * over the longer of the send and the ACK intervals is a sample of the
 * delivery rate.  Samples taken while the application left cwnd unused
 * are flagged app-limited (they only say the path is at least that fast).
 * Kept only for a congestion control that asks (ops->rate). */
#include "tcp.h"

static int after32(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* Before r goes out (first time or again). */
void rs_rate_sent(struct rs_tcb *t, struct rs_txrec *r)
{
	uint64_t now = t->core->now;

	if (!t->cc->rate)
		return;
	if (rs_cc_flight(t) == 0) /* nothing outstanding: the intervals restart */
		t->first_tx = t->delivered_time = now;
	r->delivered = t->delivered;
	r->delivered_time = t->delivered_time;
	r->first_tx = t->first_tx;
	if (t->app_limited)
		r->flags |= RS_TXR_APP_LIMITED;
	else
		r->flags &= (uint8_t)~RS_TXR_APP_LIMITED;
}

/* r is delivered now: count it; the newest sent of the ACK's records
 * makes the sample. */
void rs_rate_delivered(struct rs_tcb *t, const struct rs_txrec *r,
		       struct rs_ackinfo *ai)
{
	struct rs_rate_sample *rs = &ai->rs;
	uint64_t now = t->core->now;

	if (!t->cc->rate)
		return;
	t->delivered += r->len;
	t->delivered_time = now;
	if (rs->valid && !after32(r->delivered, rs->prior_delivered) &&
	    r->delivered != rs->prior_delivered)
		return;
	rs->valid = 1;
	rs->prior_delivered = r->delivered;
	rs->prior_time = r->delivered_time;
	rs->app_limited = !!(r->flags & RS_TXR_APP_LIMITED);
	rs->send_elapsed = r->xmit - r->first_tx;
	rs->ack_elapsed = now - r->delivered_time;
	t->first_tx = r->xmit;
}

void rs_rate_gen(struct rs_tcb *t, struct rs_ackinfo *ai)
{
	struct rs_rate_sample *rs = &ai->rs;
	uint64_t min_rtt_ns = (uint64_t)t->min_rtt_us * 1000u;

	if (!t->cc->rate)
		return;
	if (t->app_limited && after32(t->delivered, t->app_limited))
		t->app_limited = 0;
	if (!rs->valid)
		return;
	rs->delivered = t->delivered - rs->prior_delivered;
	rs->interval_ns = RS_MAX(rs->send_elapsed, rs->ack_elapsed);
	/* shorter than a round trip: ACK compression, not a rate */
	if (!rs->interval_ns || rs->interval_ns < min_rtt_ns || !rs->delivered) {
		rs->interval_ns = 0;
		return;
	}
	rs->rate = (uint64_t)rs->delivered * 1000000000ull / rs->interval_ns;
}

/* Output ran out of data with cwnd to spare and nothing to resend: the
 * samples until what is in flight is delivered are app-limited. */
void rs_rate_check_app_limited(struct rs_tcb *t)
{
	uint32_t pipe;

	if (!t->cc->rate || t->txq.lost_pending ||
	    rs_seq_lt(t->snd_nxt, rs_tcp_data_end(t)))
		return;
	pipe = rs_tcp_pipe(t);
	if (pipe + t->mss > t->cwnd)
		return;
	t->app_limited = (t->delivered + pipe) ? t->delivered + pipe : 1;
}
