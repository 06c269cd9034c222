/* Sender side of SACK (RFC 2018), a simplified RFC 6675: the scoreboard of
 * SACKed ranges above snd_una, loss detection by SACKed bytes (a receiver
 * that compresses its duplicate ACKs - Linux - still triggers recovery),
 * and one retransmitted hole per incoming ACK during recovery. */
#include "tcp.h"

void rs_sack_update(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	if (!(t->flags & TF_SACK))
		return;
	for (unsigned k = 0; k < seg->nsack; k++) {
		uint32_t s = seg->sack[k].start, e = seg->sack[k].end;
		/* D-SACKs and blocks outside what we sent are ignored */
		if (!rs_seq_lt(s, e) || !rs_seq_gt(s, t->snd_una) ||
		    rs_seq_gt(e, t->snd_max))
			continue;
		(void)rs_seqset_add(t->sacked, &t->nsacked, RS_OOO_MAX, s, e);
	}
}

uint32_t rs_sack_bytes(const struct rs_tcb *t)
{
	uint32_t b = 0;

	for (unsigned i = 0; i < t->nsacked; i++)
		b += t->sacked[i].end - t->sacked[i].start;
	return b;
}

/* RFC 6675 IsLost(snd_una): more than (DupThresh - 1) * SMSS SACKed. */
int rs_sack_head_lost(const struct rs_tcb *t)
{
	return t->nsacked && rs_sack_bytes(t) > 2u * t->mss;
}

/* Retransmit (up to one MSS of) the first hole at or above
 * max(snd_una, rtx_high) that lies below SACKed data.  Returns RS_OK if a
 * segment went out. */
int rs_sack_retransmit(struct rs_tcb *t)
{
	uint32_t h = rs_seq_gt(t->rtx_high, t->snd_una) ? t->rtx_high
							: t->snd_una;
	uint32_t end = rs_tcp_data_end(t), len;

	for (unsigned i = 0; i < t->nsacked; i++) {
		const struct rs_seqrange *r = &t->sacked[i];
		if (rs_seq_le(r->end, h))
			continue;
		if (rs_seq_le(r->start, h)) {
			h = r->end; /* inside SACKed data: skip it */
			continue;
		}
		len = RS_MIN(r->start - h, (uint32_t)t->mss);
		if (rs_seq_gt(h + len, end))
			len = rs_seq_gt(end, h) ? end - h : 0;
		if (!len)
			return RS_RETRY;
		t->flags &= ~(uint32_t)TF_RTT; /* Karn */
		rs_tcp_xmit(t, h, len, RS_TH_ACK);
		t->rtx_high = h + len;
		return RS_OK;
	}
	return RS_RETRY;
}

/* RFC 6675 pipe, simplified: octets sent above the highest SACKed one,
 * plus retransmitted octets below it that are not SACKed. */
uint32_t rs_sack_pipe(const struct rs_tcb *t)
{
	uint32_t high = t->sacked[t->nsacked - 1].end;
	uint32_t pipe = rs_seq_gt(t->snd_nxt, high) ? t->snd_nxt - high : 0;
	uint32_t rtop = rs_seq_lt(t->rtx_high, high) ? t->rtx_high : high;
	uint32_t at = t->snd_una;

	for (unsigned i = 0; i < t->nsacked && rs_seq_lt(at, rtop); i++) {
		uint32_t s = t->sacked[i].start;
		if (rs_seq_gt(s, at))
			pipe += (rs_seq_lt(s, rtop) ? s : rtop) - at;
		if (rs_seq_gt(t->sacked[i].end, at))
			at = t->sacked[i].end;
	}
	return pipe;
}

/* During SACK recovery: retransmit holes, then let new data go, while the
 * pipe is below cwnd (RFC 6675 5 (C)). */
void rs_sack_recover(struct rs_tcb *t)
{
	for (int n = 0; n < 64 && rs_sack_pipe(t) < t->cwnd; n++)
		if (rs_sack_retransmit(t) != RS_OK)
			break;
	rs_tcp_schedule(t);
}
