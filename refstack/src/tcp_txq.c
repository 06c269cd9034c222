/* The send scoreboard: one record per segment between snd_una and
 * snd_max, as it was sent (a retransmission sends the same record again),
 * with the time it was last sent and whether it is SACKed, marked lost or
 * being retransmitted - what RACK (RFC 8985) and the RFC 6675 pipe need.
 * Records are never split: a SACK block that covers part of a record
 * leaves it unSACKed (it is resent whole if lost).  The ring is the
 * TCB's own few records (txq_inline) until a flight needs more; a larger
 * one comes from the core's buffer pool and goes back when everything is
 * acknowledged. */
#include "tcp.h"

#define TXQ_INIT 32u
#define TXQ_MAX 16384u

static uint32_t rec_bytes(const struct rs_txrec *r)
{
	return r->len;
}

struct rs_txrec *rs_txq_at(const struct rs_tcb *t, uint32_t i)
{
	return &t->txq.r[(t->txq.head + i) & (t->txq.cap - 1)];
}

uint32_t rs_txrec_end(const struct rs_txrec *r)
{
	return r->start + r->len;
}

/* Add (sign 1) or remove (-1) a record's bytes from the flag counts. */
static void account(struct rs_txq *q, const struct rs_txrec *r, int sign)
{
	uint32_t b = rec_bytes(r) * (uint32_t)sign;

	if (r->flags & RS_TXR_SACKED)
		q->sacked += b;
	if (r->flags & RS_TXR_LOST)
		q->lost += b;
	if (r->flags & RS_TXR_RETRANS)
		q->retrans += b;
	if ((r->flags & (RS_TXR_LOST | RS_TXR_RETRANS)) == RS_TXR_LOST)
		q->lost_pending += b;
}

void rs_txq_set(struct rs_tcb *t, struct rs_txrec *r, uint8_t set,
		uint8_t clear)
{
	account(&t->txq, r, -1);
	r->flags = (uint8_t)((r->flags & ~clear) | set);
	account(&t->txq, r, 1);
}

static int pooled(const struct rs_tcb *t)
{
	return t->txq.cap > RS_TXQ_INLINE;
}

static int grow(struct rs_tcb *t)
{
	struct rs_txq *q = &t->txq;
	uint32_t cap = pooled(t) ? q->cap * 2 : TXQ_INIT;
	struct rs_txrec *r;

	if (!q->cap) {
		q->r = t->txq_inline;
		q->cap = RS_TXQ_INLINE;
		q->head = 0;
		return RS_OK;
	}
	if (cap > TXQ_MAX)
		return RS_ERROR;
	r = rs_pool_get(&t->core->pool, cap * (uint32_t)sizeof(*r));
	if (!r)
		return RS_ERROR;
	for (uint32_t i = 0; i < q->n; i++)
		r[i] = *rs_txq_at(t, i);
	if (pooled(t))
		rs_pool_put(&t->core->pool, q->r,
			    q->cap * (uint32_t)sizeof(*r));
	q->r = r;
	q->cap = cap;
	q->head = 0;
	return RS_OK;
}

int rs_txq_room(struct rs_tcb *t)
{
	if (t->txq.n < t->txq.cap)
		return RS_OK;
	return grow(t);
}

void rs_txq_add(struct rs_tcb *t, uint32_t seq, uint32_t len)
{
	struct rs_txq *q = &t->txq;
	struct rs_txrec *r;

	if (q->n == q->cap && grow(t) != RS_OK)
		return; /* the caller checked rs_txq_room */
	r = rs_txq_at(t, q->n++);
	r->start = seq;
	r->len = (uint16_t)len;
	r->flags = 0;
	r->pad = 0;
	r->xmit = t->core->now;
	rs_rate_sent(t, r);
}

void rs_txq_fini(struct rs_tcb *t)
{
	struct rs_txq *q = &t->txq;

	if (pooled(t))
		rs_pool_put(&t->core->pool, q->r,
			    q->cap * (uint32_t)sizeof(*q->r));
	memset(q, 0, sizeof(*q));
}

/* Index of the first record that ends after seq (q->n if none). */
uint32_t rs_txq_find(const struct rs_tcb *t, uint32_t seq)
{
	uint32_t lo = 0, hi = t->txq.n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (rs_seq_le(rs_txrec_end(rs_txq_at(t, mid)), seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The cumulative ACK: drop what it covers, clip a record it splits.
 * ai->acked gets what this delivers that no SACK had (RFC 6937
 * DeliveredData is this plus the newly SACKed bytes); each record is
 * delivered to RACK once. */
void rs_txq_ack(struct rs_tcb *t, uint32_t ack, struct rs_ackinfo *ai)
{
	struct rs_txq *q = &t->txq;

	while (q->n) {
		struct rs_txrec *r = rs_txq_at(t, 0);
		if (rs_seq_le(rs_txrec_end(r), ack)) {
			if (!(r->flags & RS_TXR_SACKED)) {
				rs_rack_delivered(t, r, ai);
				rs_rate_delivered(t, r, ai);
				ai->acked += r->len;
			}
			account(q, r, -1);
			q->head = (q->head + 1) & (q->cap - 1);
			q->n--;
			continue;
		}
		if (rs_seq_lt(r->start, ack)) {
			account(q, r, -1);
			ai->acked += ack - r->start;
			r->len = (uint16_t)(rs_txrec_end(r) - ack);
			r->start = ack;
			account(q, r, 1);
		}
		break;
	}
	if (!q->n && pooled(t))
		rs_txq_fini(t);
}

/* RFC 6675 pipe (Linux's packets in flight, in bytes): what was sent and
 * is neither acknowledged, SACKed nor lost, plus what was resent. */
uint32_t rs_tcp_pipe(const struct rs_tcb *t)
{
	uint32_t out = t->snd_max - t->snd_una;
	uint32_t gone = t->txq.sacked + t->txq.lost + t->reno_sacked;

	out = out > gone ? out - gone : 0;
	return out + t->txq.retrans;
}
