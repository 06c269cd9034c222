/* Receiving text and FIN (RFC 9293 3.10.7.4 seventh and eighth checks):
 * in-order data goes to the receive ring, out-of-order data is written at
 * its place in the same ring and remembered as intervals - a byte already
 * queued keeps its first copy (Linux's choice: a later overlapping segment
 * with other bytes is how data is inserted into a stream); delayed ACKs
 * (RFC 5681 4.2); the advertised window never shrinks (RFC 9293 3.8.6). */
#include "tcp.h"

uint32_t rs_tcp_rcv_space(const struct rs_tcb *t)
{
	return t->rcv.cap - t->rcv.len;
}

/* The right edge moves only forward and only by at least one MSS (or to
 * the full buffer), so that duplicate ACKs carry an unchanged window
 * (RFC 5681 2 (e)) and the peer is not fed tiny updates. */
uint16_t rs_tcp_rcv_wnd(struct rs_tcb *t)
{
	uint32_t space = rs_tcp_rcv_space(t);
	uint32_t max = 65535u << t->rcv_wscale;
	uint32_t edge, win;

	if (space > max)
		space = max;
	edge = t->rcv_nxt + (space & ~((1u << t->rcv_wscale) - 1));
	if (rs_seq_gt(edge, t->rcv_adv) &&
	    (edge - t->rcv_adv >= t->rcv_mss ||
	     !rs_seq_gt(t->rcv_adv, t->rcv_nxt)))
		t->rcv_adv = edge;
	win = rs_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	return (uint16_t)RS_MIN(win >> t->rcv_wscale, 65535u);
}

/* In-order data reached the first hole: swallow the queued intervals. */
static void ooo_drain(struct rs_tcb *t)
{
	unsigned k = 0;

	while (k < t->nooo && rs_seq_le(t->ooo[k].start, t->rcv_nxt)) {
		if (rs_seq_gt(t->ooo[k].end, t->rcv_nxt)) {
			uint32_t adv = t->ooo[k].end - t->rcv_nxt;
			t->rcv_nxt += adv;
			t->rcv.len += adv;
		}
		k++;
	}
	if (k) {
		memmove(&t->ooo[0], &t->ooo[k],
			(t->nooo - k) * sizeof(t->ooo[0]));
		t->nooo = (uint8_t)(t->nooo - k);
		rs_tcp_ack_now(t); /* RFC 5681 4.2: hole filled */
	}
}

static void ack_policy(struct rs_tcb *t, uint32_t len)
{
	struct rs_core *c = t->core;

	t->rcv_unacked += len;
	if (t->rcv_unacked >= 2u * t->rcv_mss) {
		rs_tcp_send_ack(t); /* every second full segment, now */
		return;
	}
	if (!(c->stack->conf.options & RS_OPT_DELACK)) {
		rs_tcp_ack_now(t);
	} else if (!(t->flags & TF_DELACK)) {
		t->flags |= TF_DELACK;
		t->t_delack = c->now + RS_TCP_DELACK_NS;
		rs_tcp_timer_arm(t, t->t_delack);
	}
	rs_tcp_schedule(t);
}

/* Write [seq, seq + len) at its place in the ring, but only where no
 * out-of-order data is queued. */
static void write_gaps(struct rs_tcb *t, uint32_t seq, const uint8_t *data,
		       uint32_t len)
{
	uint32_t at = seq, end = seq + len, overlap = 0;

	for (unsigned i = 0; i < t->nooo && rs_seq_lt(at, end); i++) {
		const struct rs_seqrange *r = &t->ooo[i];
		if (rs_seq_le(r->end, at))
			continue;
		if (!rs_seq_lt(r->start, end))
			break;
		if (rs_seq_lt(at, r->start))
			rs_ring_write_at(&t->rcv, t->rcv.len + (at - t->rcv_nxt),
					 data + (at - seq), r->start - at);
		overlap = 1;
		at = rs_seq_lt(r->end, end) ? r->end : end;
	}
	if (rs_seq_lt(at, end))
		rs_ring_write_at(&t->rcv, t->rcv.len + (at - t->rcv_nxt),
				 data + (at - seq), end - at);
	t->core->ctr.tcp_ooo_overlap += overlap;
}

void rs_tcp_data(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		 uint32_t seq, const uint8_t *data, uint32_t len)
{
	struct rs_core *c = t->core;
	uint32_t off = seq - t->rcv_nxt;

	RS_UNUSED(seg);
	if (t->rcv.len + off + len > t->rcv.cap) {
		len = t->rcv.len + off < t->rcv.cap
			      ? t->rcv.cap - t->rcv.len - off
			      : 0;
		if (!len)
			return;
	}
	if (rs_ring_ensure(&t->rcv, &c->pool) != RS_OK) {
		c->ctr.drop_tcp_no_buffer++;
		return;
	}
	write_gaps(t, seq, data, len);
	if (off) {
		c->ctr.tcp_ooo_segs++;
		/* no room: the data stays unacknowledged */
		(void)rs_seqset_add(t->ooo, &t->nooo, RS_OOO_MAX, seq, seq + len);
		t->ooo_recent = seq;
		rs_tcp_send_ack(t); /* one duplicate ACK per segment, now */
		return;
	}
	t->rcv_nxt += len;
	t->rcv.len += len;
	if (t->nooo)
		ooo_drain(t);
	ack_policy(t, len);
	if ((t->flags & TF_FIN_OOO) && t->rcv_nxt == t->fin_seq) {
		t->flags &= ~(uint32_t)TF_FIN_OOO;
		rs_tcp_fin(t);
		return;
	}
	rs_tcp_notify(t);
}

/* Eighth check: the FIN is in order (rcv_nxt == its sequence number). */
void rs_tcp_fin(struct rs_tcb *t)
{
	t->rcv_nxt++;
	t->flags |= TF_FIN_RCVD;
	if (t->state == RS_TCP_ESTABLISHED && t->sock)
		rs_tcp_ack_after_app(t); /* the close's FIN carries it */
	else
		rs_tcp_ack_now(t);
	rs_tcp_notify(t);
	switch (t->state) {
	case RS_TCP_SYN_RECV:
	case RS_TCP_ESTABLISHED:
		rs_tcp_set_state(t, RS_TCP_CLOSE_WAIT);
		break;
	case RS_TCP_FIN_WAIT_1:
		rs_tcp_set_state(t, RS_TCP_CLOSING);
		break;
	case RS_TCP_FIN_WAIT_2:
		rs_tcp_send_ack(t);
		rs_tcp_time_wait(t);
		return;
	default:
		break;
	}
	rs_tcp_schedule(t);
}

void rs_tcp_rcvd(struct rs_tcb *t)
{
	uint32_t adv = rs_seq_gt(t->rcv_adv, t->rcv_nxt)
			       ? t->rcv_adv - t->rcv_nxt
			       : 0;
	/* what can be offered: the buffer, within the scaled 16-bit field
	 * (without window scaling, 64 KiB of a 256 KiB buffer) */
	uint32_t space = RS_MIN(rs_tcp_rcv_space(t), 65535u << t->rcv_wscale);
	uint32_t syn_wnd;

	if (t->rcv.len == 0 && t->nooo == 0)
		rs_ring_release(&t->rcv, &t->core->pool);
	if ((t->flags & (TF_DETACHED | TF_FIN_RCVD)) || space <= adv)
		return;
	/* RFC 9293 3.8.6.2.2: update when the window opens by 2 MSS or
	 * half the buffer */
	if (space - adv < 2u * t->rcv_mss && space - adv < t->rcv.cap / 2)
		return;
	/* The peer still holds the window of our SYN,ACK (at most 64 KiB,
	 * unscaled) and has used less than half of it: it is not short of
	 * window, so no pure update (Linux's test in tcp_cleanup_rbuf); the
	 * next segment out carries the new window.  Else every request read
	 * out of a fresh passive connection cost a pure ACK that the reply
	 * carries anyway: one frame in nine of a proxied request. */
	syn_wnd = RS_MIN(t->rcv.cap, 65535u);
	if (t->rcv_adv == t->irs + 1 + syn_wnd && adv > syn_wnd / 2)
		return;
	rs_tcp_ack_now(t);
	rs_tcp_schedule(t);
}
