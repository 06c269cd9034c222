/* Sender side of SACK (RFC 2018): the blocks of an ACK mark records of the
 * scoreboard SACKed (each one delivered once, for RACK), and a first block
 * below the cumulative ACK or inside the second one is a D-SACK (RFC
 * 2883): data that arrived twice, which says a retransmission was
 * unnecessary (counted for undo) or the path reorders. */
#include "tcp.h"

static int is_dsack(const struct rs_tcp_seg *seg)
{
	uint32_t s = seg->sack[0].start, e = seg->sack[0].end;

	if (rs_seq_le(e, seg->ack))
		return 1;
	return seg->nsack > 1 && rs_seq_ge(s, seg->sack[1].start) &&
	       rs_seq_le(e, seg->sack[1].end);
}

/* Retransmissions that the D-SACK shows were not needed: the undo count
 * of the episode goes down (below snd_una the records are gone: each
 * block counts as one segment, as Linux counts). */
static void dsack(struct rs_tcb *t, uint32_t s, uint32_t e,
		  struct rs_ackinfo *ai)
{
	uint32_t spurious = 0;

	ai->dsack = 1;
	t->core->ctr.tcp_dsacks++;
	if ((t->flags & TF_TLP_RETX) && rs_seq_le(e, t->tlp_end) &&
	    rs_seq_gt(e, t->tlp_end - t->mss - 1))
		ai->dsack_tlp = 1;
	if (rs_seq_le(e, t->snd_una)) {
		spurious = 1;
	} else {
		for (uint32_t i = rs_txq_find(t, s); i < t->txq.n; i++) {
			const struct rs_txrec *r = rs_txq_at(t, i);
			if (!rs_seq_lt(r->start, e))
				break;
			spurious += !!(r->flags & RS_TXR_EVER_RETRANS);
		}
	}
	if ((t->flags & TF_UNDO) && rs_seq_gt(e, t->undo_marker))
		t->undo_retrans = t->undo_retrans > spurious
					  ? t->undo_retrans - spurious
					  : 0;
	rs_rack_dsack(t);
}

/* Mark the records that [s, e) covers entirely. */
static void mark(struct rs_tcb *t, uint32_t s, uint32_t e,
		 struct rs_ackinfo *ai)
{
	for (uint32_t i = rs_txq_find(t, s); i < t->txq.n; i++) {
		struct rs_txrec *r = rs_txq_at(t, i);
		if (!rs_seq_lt(r->start, e))
			break;
		if ((r->flags & RS_TXR_SACKED) || rs_seq_lt(r->start, s) ||
		    rs_seq_gt(rs_txrec_end(r), e))
			continue;
		rs_rack_delivered(t, r, ai);
		rs_rate_delivered(t, r, ai);
		rs_txq_set(t, r, RS_TXR_SACKED, RS_TXR_LOST | RS_TXR_RETRANS);
		ai->sacked += r->len;
	}
}

void rs_sack_update(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		    struct rs_ackinfo *ai)
{
	if (!(t->flags & TF_SACK))
		return;
	for (unsigned k = 0; k < seg->nsack; k++) {
		uint32_t s = seg->sack[k].start, e = seg->sack[k].end;
		if (!rs_seq_lt(s, e))
			continue;
		if (k == 0 && is_dsack(seg)) {
			dsack(t, s, e, ai);
			continue;
		}
		/* blocks outside what is outstanding are ignored */
		if (!rs_seq_gt(s, t->snd_una) || rs_seq_gt(e, t->snd_max))
			continue;
		mark(t, s, e, ai);
	}
}
