/* TCP timers: each TCB keeps absolute deadlines (retransmission, delayed
 * ACK, persist, misc, tail loss probe, RACK reordering) and sits in the
 * core's binary heap under the earliest one.  RTO per RFC 6298 with
 * Karn's algorithm (samples only from data sent once) and backoff. */
#include <errno.h>

#include "arena.h"
#include "tcp.h"

int rs_timerq_init(struct rs_timerq *q, uint32_t cap, struct rs_arena *a)
{
	q->arena = a;
	q->h = rs_mem_zalloc(a, ((size_t)cap + 1) * sizeof(*q->h));
	q->n = 0;
	q->cap = cap;
	return q->h ? RS_OK : RS_ERROR;
}

void rs_timerq_fini(struct rs_timerq *q)
{
	rs_mem_free(q->arena, q->h);
	q->h = NULL;
}

static void heap_set(struct rs_timerq *q, uint32_t i, struct rs_tcb *t)
{
	q->h[i] = t;
	t->heap_idx = i;
}

static void sift_up(struct rs_timerq *q, uint32_t i)
{
	struct rs_tcb *t = q->h[i];

	while (i > 1 && q->h[i / 2]->deadline > t->deadline) {
		heap_set(q, i, q->h[i / 2]);
		i /= 2;
	}
	heap_set(q, i, t);
}

static void sift_down(struct rs_timerq *q, uint32_t i)
{
	struct rs_tcb *t = q->h[i];

	for (;;) {
		uint32_t l = 2 * i, m = i;
		uint64_t md = t->deadline;
		if (l <= q->n && q->h[l]->deadline < md) {
			m = l;
			md = q->h[l]->deadline;
		}
		if (l + 1 <= q->n && q->h[l + 1]->deadline < md)
			m = l + 1;
		if (m == i)
			break;
		heap_set(q, i, q->h[m]);
		i = m;
	}
	heap_set(q, i, t);
}

static void heap_remove(struct rs_timerq *q, struct rs_tcb *t)
{
	uint32_t i = t->heap_idx;
	struct rs_tcb *last = q->h[q->n--];

	t->heap_idx = 0;
	if (last == t)
		return;
	heap_set(q, i, last);
	sift_up(q, i);
	sift_down(q, last->heap_idx);
}

static int heap_grow(struct rs_timerq *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 64;
	struct rs_tcb **h = rs_mem_zalloc(q->arena, ((size_t)cap + 1) * sizeof(*h));

	if (!h)
		return RS_ERROR;
	memcpy(h, q->h, ((size_t)q->n + 1) * sizeof(*h));
	rs_mem_free(q->arena, q->h);
	q->h = h;
	q->cap = cap;
	return RS_OK;
}

void rs_tcp_timer_unlink(struct rs_tcb *t)
{
	if (t->heap_idx)
		heap_remove(&t->core->tq, t);
	t->deadline = 0;
}

/* The earliest of the timers that are on (0 = off): minus one, an off
 * timer wraps to the largest value, so a plain minimum skips it. */
static uint64_t timers_min(const struct rs_tcb *t)
{
	uint64_t a = RS_MIN(t->t_rtx - 1, t->t_delack - 1);
	uint64_t b = RS_MIN(t->t_persist - 1, t->t_misc - 1);
	uint64_t e = RS_MIN(RS_MIN(t->t_probe - 1, t->t_reo - 1), t->t_keep - 1);

	e = RS_MIN(e, t->t_pace - 1);
	return RS_MIN(RS_MIN(a, b), e) + 1;
}

static int heap_insert(struct rs_timerq *q, struct rs_tcb *t)
{
	/* capacity = max_conns; adopted TCBs can go beyond it */
	if (q->n == q->cap && heap_grow(q) != RS_OK)
		return RS_ERROR;
	heap_set(q, ++q->n, t);
	sift_up(q, q->n);
	return RS_OK;
}

/* Lazy: a TCB in the heap keeps its place when its earliest timer moves
 * later or goes off (every ACK pushes the retransmission timer back, so
 * this is the common case); the place is only ever too early, never too
 * late.  When it comes up, rs_tcp_timers_run fires what is due (maybe
 * nothing) and timer_rekey puts it where it belongs. */
void rs_tcp_timer_update(struct rs_tcb *t)
{
	struct rs_timerq *q = &t->core->tq;
	uint64_t d = timers_min(t);

	if (t->heap_idx) {
		if (d && d < t->deadline) {
			t->deadline = d;
			sift_up(q, t->heap_idx);
		}
		return;
	}
	if (!d)
		return;
	t->deadline = d;
	if (heap_insert(q, t) != RS_OK)
		t->deadline = 0;
}

/* After t came up in the heap: its place from its timers, exactly. */
static void timer_rekey(struct rs_tcb *t)
{
	struct rs_timerq *q = &t->core->tq;
	uint64_t d = timers_min(t);

	if (!t->heap_idx) {
		rs_tcp_timer_update(t);
		return;
	}
	if (!d) {
		heap_remove(q, t);
		t->deadline = 0;
		return;
	}
	t->deadline = d;
	sift_up(q, t->heap_idx);
	sift_down(q, t->heap_idx);
}

static uint64_t rto_ns(const struct rs_tcb *t)
{
	uint64_t us = (uint64_t)t->rto_us << RS_MIN(t->backoff, 16);

	return RS_MIN(us, (uint64_t)RS_TCP_RTO_MAX_US) * 1000u;
}

void rs_tcp_rearm_rtx(struct rs_tcb *t)
{
	t->t_rtx = t->snd_max != t->snd_una ? t->core->now + rto_ns(t) : 0;
	rs_tlp_arm(t);
	rs_tcp_timer_arm(t, rs_timer_min(t->t_rtx, t->t_probe));
}

/* RFC 6298 2.2 and 2.3, G = 1 ms. */
void rs_tcp_rtt_sample(struct rs_tcb *t, uint64_t rtt_ns)
{
	uint32_t r = (uint32_t)RS_MIN(rtt_ns / 1000u, 60000000ull);
	uint32_t rto;

	if (r == 0)
		r = 1;
	if (!t->min_rtt_us || r < t->min_rtt_us)
		t->min_rtt_us = r;
	if (!t->srtt_us) {
		t->srtt_us = r;
		t->rttvar_us = r / 2;
	} else {
		uint32_t d = t->srtt_us > r ? t->srtt_us - r : r - t->srtt_us;
		t->rttvar_us = (3 * t->rttvar_us + d) / 4;
		t->srtt_us = (7 * t->srtt_us + r) / 8;
	}
	rto = t->srtt_us + RS_MAX(1000u, 4 * t->rttvar_us);
	t->rto_us = RS_MIN(RS_MAX(rto, RS_TCP_RTO_MIN_US), RS_TCP_RTO_MAX_US);
}

/* The handshake's RTT: timed when the SYN (or SYN,ACK) went once; when
 * it was resent (Karn: which copy was answered?) and there is no estimate
 * yet, the timestamp echo tells (RFC 7323 4.1, as Linux's
 * tcp_ack_update_rtt), in whole milliseconds, at least one.  Without a
 * sample the first data would wait on the 1 s initial RTO and get no
 * tail loss probe. */
void rs_tcp_rtt_syn(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	uint32_t ms;

	if (t->flags & TF_RTT) {
		t->flags &= ~(uint32_t)TF_RTT;
		rs_tcp_rtt_sample(t, t->core->now - t->rtt_start);
		return;
	}
	if (t->srtt_us || !(t->flags & TF_TS) || !(seg->opts & RS_TCPOPT_TS) ||
	    !seg->tsecr)
		return;
	ms = rs_tcp_ts_now(t->core) + t->ts_offset - seg->tsecr;
	if (ms < RS_TCP_RTO_MAX_US / 1000u)
		rs_tcp_rtt_sample(t, (uint64_t)RS_MAX(ms, 1u) * 1000000u);
}

/* Zero-window probe: an ACK one below snd_una draws the peer's window. */
static void persist_fire(struct rs_tcb *t)
{
	struct rs_core *c = t->core;

	c->ctr.tcp_zero_window_probes++;
	rs_tcp_xmit(t, t->snd_una - 1, 0, RS_TH_ACK);
	if (t->backoff < 16)
		t->backoff++;
	t->t_persist = c->now + rto_ns(t);
}

/* RFC 6298 5.4-5.7.  Returns RS_ERROR when the TCB is gone. */
static int rtx_fire(struct rs_tcb *t)
{
	struct rs_core *c = t->core;
	int syn = t->state == RS_TCP_SYN_SENT || t->state == RS_TCP_SYN_RECV;

	c->ctr.tcp_rto_expired++;

	if (++t->retries > (syn ? RS_TCP_SYN_RETRIES : RS_TCP_RETRIES)) {
		c->ctr.tcp_conn_timeouts++;
		rs_tcb_drop(t, ETIMEDOUT);
		return RS_ERROR;
	}
	if (t->backoff < 16)
		t->backoff++;
	t->flags &= ~(uint32_t)TF_RTT;
	if (syn) {
		t->flags |= TF_SYN_RETX;
		rs_tcp_send_syn(t);
		return RS_OK;
	}
	rs_tcp_enter_loss(t);
	if (t->snd_wnd == 0) /* probe the closed window with the ACK */
		rs_tcp_xmit(t, t->snd_una - 1, 0, RS_TH_ACK);
	else
		rs_tcp_output(t);
	t->t_rtx = c->now + rto_ns(t);
	return RS_OK;
}

/* Returns RS_ERROR when the TCB is gone. */
static int tcb_fire(struct rs_tcb *t)
{
	uint64_t now = t->core->now;

	if (t->t_delack && t->t_delack <= now) {
		t->t_delack = 0;
		if (t->flags & TF_DELACK) {
			t->core->ctr.tcp_delayed_acks++;
			rs_tcp_send_ack(t);
		}
	}
	if (t->t_persist && t->t_persist <= now) {
		t->t_persist = 0;
		if (t->snd_wnd == 0 &&
		    rs_seq_lt(t->snd_nxt, rs_tcp_data_end(t)))
			persist_fire(t);
	}
	if (t->t_probe && t->t_probe <= now) {
		t->t_probe = 0;
		rs_tlp_fire(t);
	}
	if (t->t_reo && t->t_reo <= now) {
		t->t_reo = 0;
		rs_tcp_reorder_timeout(t);
	}
	if (t->t_pace && t->t_pace <= now) {
		t->t_pace = 0;
		rs_tcp_output(t); /* the pacing gap is over */
	}
	if (t->t_misc && t->t_misc <= now) {
		t->t_misc = 0;
		t->core->ctr.tcp_conn_timeouts++;
		rs_tcb_drop(t, ETIMEDOUT); /* orphaned FIN_WAIT_2 */
		return RS_ERROR;
	}
	if (t->t_rtx && t->t_rtx <= now) {
		t->t_rtx = 0;
		if (rtx_fire(t) != RS_OK)
			return RS_ERROR;
	}
	if (t->t_keep && t->t_keep <= now) {
		t->t_keep = 0;
		if (rs_tcp_keepalive_fire(t) != RS_OK)
			return RS_ERROR;
	}
	return RS_OK;
}

void rs_tcp_timers_run(struct rs_core *c)
{
	struct rs_timerq *q = &c->tq;

	while (q->n && q->h[1]->deadline <= c->now) {
		struct rs_tcb *t = q->h[1];
		if (tcb_fire(t) == RS_OK)
			timer_rekey(t);
	}
	if (!rs_list_empty(&c->tw_fifo) &&
	    RS_CONTAINER(c->tw_fifo.next, struct rs_tw, fifo)->expire <= c->now)
		rs_tw_expire(c);
}

uint64_t rs_tcp_next_timer(const struct rs_core *c)
{
	uint64_t d = c->tq.n ? c->tq.h[1]->deadline : UINT64_MAX;

	if (!rs_list_empty(&c->tw_fifo)) {
		const struct rs_tw *tw =
			RS_CONTAINER(c->tw_fifo.next, struct rs_tw, fifo);
		if (tw->expire < d)
			d = tw->expire;
	}
	return d;
}
