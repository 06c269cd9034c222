/* BBR congestion control (Cardwell et al., "BBR: Congestion-Based
 * Congestion Control", ACM Queue 2016; draft-ietf-ccwg-bbr's BBRv1 core,
 * as Linux's tcp_bbr.c).  A model of the path instead of a reaction to
 * loss: the bottleneck bandwidth is the maximum delivery rate
 * (tcp_rate.c) of the last 10 round trips, the propagation delay the
 * minimum RTT of the last 10 s; the connection paces at gain x bandwidth
 * and keeps cwnd at gain x their product (the BDP).  The state machine:
 * Startup (gain 2/ln 2, until the bandwidth stops growing by 25 % for 3
 * rounds), Drain (the queue Startup built), ProbeBW (cycling 5/4, 3/4,
 * then 1 for 6 phases of a min RTT each), and ProbeRTT (4 segments for
 * 200 ms and a round, when the min RTT is 10 s old).  Random loss does not
 * lower the model; a recovery conserves packets for its first round and
 * restores cwnd when it ends.  Everything in bytes and core-time ns. */
#include <string.h>

#include "tcp.h"

enum { BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW, BBR_PROBE_RTT };

#define BBR_UNIT 256u
#define BBR_HIGH_GAIN 739u                        /* 2/ln(2) */
#define BBR_DRAIN_GAIN (BBR_UNIT * BBR_UNIT / BBR_HIGH_GAIN)
#define BBR_CWND_GAIN (2u * BBR_UNIT)             /* ProbeBW */
#define BBR_CYCLE_LEN 8u
#define BBR_BW_ROUNDS 10u                         /* max filter window */
#define BBR_MIN_RTT_NS 10000000000ull             /* min RTT window */
#define BBR_PROBE_RTT_NS 200000000ull
#define BBR_FULL_BW_THRESH (BBR_UNIT * 5u / 4u)   /* still growing: +25 % */
#define BBR_FULL_BW_ROUNDS 3u
#define BBR_MIN_SEGS 4u
#define BBR_PACING_MARGIN 99u                     /* pace 1 % below */

static const uint16_t cycle_gain[BBR_CYCLE_LEN] = {
	BBR_UNIT * 5 / 4, BBR_UNIT * 3 / 4, BBR_UNIT, BBR_UNIT,
	BBR_UNIT,         BBR_UNIT,         BBR_UNIT, BBR_UNIT,
};

static uint64_t max_bw(const struct rs_bbr *b)
{
	return b->bw[0];
}

/* Windowed max of (round, bw): Kathleen Nichols' three-sample filter
 * (the best, second and third best of sub-windows), as lib/minmax.c. */
static void bw_set(struct rs_bbr *b, int i, uint32_t round, uint64_t v)
{
	b->bw[i] = v;
	b->bw_round[i] = round;
}

static void bw_shift(struct rs_bbr *b, uint32_t round, uint64_t v)
{
	bw_set(b, 0, b->bw_round[1], b->bw[1]);
	bw_set(b, 1, b->bw_round[2], b->bw[2]);
	bw_set(b, 2, round, v);
}

static void bw_filter(struct rs_bbr *b, uint32_t round, uint64_t v)
{
	uint32_t win = BBR_BW_ROUNDS, dt;

	if (v >= b->bw[0] || round - b->bw_round[2] > win) {
		for (int i = 0; i < 3; i++)
			bw_set(b, i, round, v);
		return;
	}
	if (v >= b->bw[1]) {
		bw_set(b, 1, round, v);
		bw_set(b, 2, round, v);
	} else if (v >= b->bw[2]) {
		bw_set(b, 2, round, v);
	}
	dt = round - b->bw_round[0];
	if (dt > win) {
		bw_shift(b, round, v);
		if (round - b->bw_round[0] > win)
			bw_shift(b, round, v);
	} else if (b->bw_round[1] == b->bw_round[0] && dt > win / 4) {
		bw_set(b, 1, round, v);
		bw_set(b, 2, round, v);
	} else if (b->bw_round[2] == b->bw_round[1] && dt > win / 2) {
		bw_set(b, 2, round, v);
	}
}

/* gain x bandwidth x min RTT, bytes (the initial window without an RTT) */
static uint32_t bdp(const struct rs_tcb *t, uint64_t bw, uint32_t gain)
{
	uint64_t w;

	if (!t->bbr.min_rtt_us)
		return rs_cc_initial_window(t);
	w = bw * t->bbr.min_rtt_us / 1000000u;
	w = w * gain / BBR_UNIT;
	return (uint32_t)RS_MIN(w, 0x3fffffffull);
}

static void set_pacing_rate(struct rs_tcb *t, uint64_t bw, uint32_t gain)
{
	uint64_t rate = bw * gain / BBR_UNIT * BBR_PACING_MARGIN / 100u;

	if (rate && (t->bbr.full_bw_reached || rate > t->pacing_rate))
		t->pacing_rate = rate;
}

/* Before a bandwidth sample: the initial window over the handshake's RTT
 * (1 ms without one), at Startup's gain. */
static void init_pacing_rate(struct rs_tcb *t)
{
	uint64_t rtt_us = t->srtt_us ? t->srtt_us : 1000u;

	t->pacing_rate = (uint64_t)t->cwnd * 1000000u / rtt_us *
			 BBR_HIGH_GAIN / BBR_UNIT;
}

static void bbr_init(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	memset(b, 0, sizeof(*b));
	b->mode = BBR_STARTUP;
	b->pacing_gain = b->cwnd_gain = BBR_HIGH_GAIN;
	b->min_rtt_us = t->min_rtt_us;
	b->min_rtt_stamp = t->core->now;
	b->next_round_delivered = t->delivered;
	t->pace_at = 0;
	init_pacing_rate(t);
}

/* A new round starts when a segment sent after the last round's end is
 * delivered; then the sample goes into the max filter (app-limited ones
 * only when they raise it). */
static void update_bw(struct rs_tcb *t, const struct rs_rate_sample *rs)
{
	struct rs_bbr *b = &t->bbr;

	b->round_start = 0;
	if (!rs->valid || !rs->interval_ns)
		return;
	if ((int32_t)(rs->prior_delivered - b->next_round_delivered) >= 0) {
		b->next_round_delivered = t->delivered;
		b->round++;
		b->round_start = 1;
		b->conservation = 0;
	}
	if (!rs->app_limited || rs->rate >= max_bw(b))
		bw_filter(b, b->round, rs->rate);
}

static void enter_probe_bw(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	b->mode = BBR_PROBE_BW;
	/* a phase other than the 3/4 one, from the ISN (Linux: random) */
	b->cycle_idx = (uint8_t)(2u + t->iss % (BBR_CYCLE_LEN - 1)) %
		       BBR_CYCLE_LEN;
	b->cycle_stamp = t->core->now;
}

/* ProbeBW: the next phase after a min RTT; the probing phase runs until
 * it filled gain x BDP (or saw loss), the draining one until the queue is
 * gone. */
static void update_cycle(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	struct rs_bbr *b = &t->bbr;
	uint64_t now = t->core->now;
	int full, adv;

	if (b->mode != BBR_PROBE_BW)
		return;
	full = now - b->cycle_stamp > (uint64_t)b->min_rtt_us * 1000u;
	if (b->pacing_gain == BBR_UNIT)
		adv = full;
	else if (b->pacing_gain > BBR_UNIT)
		adv = full && (a->lost ||
			       a->prior_pipe >= bdp(t, max_bw(b), b->pacing_gain));
	else
		adv = full || a->prior_pipe <= bdp(t, max_bw(b), BBR_UNIT);
	if (!adv)
		return;
	b->cycle_idx = (uint8_t)((b->cycle_idx + 1) % BBR_CYCLE_LEN);
	b->cycle_stamp = now;
}

/* Startup ends when three rounds in a row did not raise the bandwidth by
 * 25 %: the pipe is full. */
static void check_full_bw(struct rs_tcb *t, const struct rs_rate_sample *rs)
{
	struct rs_bbr *b = &t->bbr;

	if (b->full_bw_reached || !b->round_start || rs->app_limited)
		return;
	if (max_bw(b) * BBR_UNIT >= b->full_bw * BBR_FULL_BW_THRESH) {
		b->full_bw = max_bw(b);
		b->full_bw_cnt = 0;
		return;
	}
	if (++b->full_bw_cnt >= BBR_FULL_BW_ROUNDS)
		b->full_bw_reached = 1;
}

static void check_drain(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	if (b->mode == BBR_STARTUP && b->full_bw_reached)
		b->mode = BBR_DRAIN;
	if (b->mode == BBR_DRAIN &&
	    rs_tcp_pipe(t) <= bdp(t, max_bw(b), BBR_UNIT))
		enter_probe_bw(t);
}

static void save_cwnd(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	if (!b->in_loss && b->mode != BBR_PROBE_RTT)
		b->prior_cwnd = t->cwnd;
	else
		b->prior_cwnd = RS_MAX(b->prior_cwnd, t->cwnd);
}

static void probe_rtt(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;
	uint64_t now = t->core->now;
	uint32_t pipe = rs_tcp_pipe(t);

	/* what is sent now says nothing about the bandwidth */
	t->app_limited = (t->delivered + pipe) ? t->delivered + pipe : 1;
	if (!b->probe_rtt_done && pipe <= BBR_MIN_SEGS * t->mss) {
		b->probe_rtt_done = now + BBR_PROBE_RTT_NS;
		b->probe_rtt_round_done = 0;
		b->next_round_delivered = t->delivered;
		return;
	}
	if (!b->probe_rtt_done)
		return;
	if (b->round_start)
		b->probe_rtt_round_done = 1;
	if (!b->probe_rtt_round_done || now < b->probe_rtt_done)
		return;
	b->min_rtt_stamp = now;
	t->cwnd = RS_MAX(t->cwnd, b->prior_cwnd);
	if (b->full_bw_reached) {
		enter_probe_bw(t);
	} else {
		b->mode = BBR_STARTUP;
	}
	t->core->ctr.tcp_bbr_probe_rtt++;
}

/* The min RTT filter; when it is 10 s old, ProbeRTT drains the queue to
 * measure the path again. */
static void update_min_rtt(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	struct rs_bbr *b = &t->bbr;
	uint64_t now = t->core->now;
	int expired = now > b->min_rtt_stamp + BBR_MIN_RTT_NS;

	if (a->rtt_us && (!b->min_rtt_us || a->rtt_us < b->min_rtt_us ||
			  expired)) {
		b->min_rtt_us = a->rtt_us;
		b->min_rtt_stamp = now;
	}
	if (expired && b->mode != BBR_PROBE_RTT) {
		save_cwnd(t);
		b->mode = BBR_PROBE_RTT;
		b->probe_rtt_done = 0;
	}
	if (b->mode == BBR_PROBE_RTT)
		probe_rtt(t);
}

/* pacing and cwnd gain by mode (ProbeBW's pacing gain: cycle_gain) */
static const uint16_t mode_gain[4][2] = {
	[BBR_STARTUP] = {BBR_HIGH_GAIN, BBR_HIGH_GAIN},
	[BBR_DRAIN] = {BBR_DRAIN_GAIN, BBR_HIGH_GAIN},
	[BBR_PROBE_BW] = {BBR_UNIT, BBR_CWND_GAIN},
	[BBR_PROBE_RTT] = {BBR_UNIT, BBR_UNIT},
};

static void update_gains(struct rs_bbr *b)
{
	b->pacing_gain = b->mode == BBR_PROBE_BW ? cycle_gain[b->cycle_idx]
						 : mode_gain[b->mode][0];
	b->cwnd_gain = mode_gain[b->mode][1];
}

/* What one pacing burst may carry, as Linux's bbr_tso_segs_goal: a
 * millisecond at the pacing rate, at least two segments, at most 64 KB
 * (Linux's TSO/GSO ceiling; refstack's bursts are up to 2 ms). */
static uint32_t burst_goal(const struct rs_tcb *t)
{
	uint64_t b = t->pacing_rate / 1000u;

	b = RS_MIN(b, 65536u);
	b = b / t->mss * t->mss;
	return (uint32_t)RS_MAX(b, 2u * t->mss);
}

/* cwnd toward gain x BDP plus three bursts for the ACKs' and the pacing
 * bursts' quantisation (Linux's bbr_quantization_budget: with a min RTT
 * far below the RTT most segments see - reordering that lets a few
 * skip the queue - this is what keeps the pipe full), by what was
 * delivered; during the first
 * round of a recovery no more than what left the network.  Without SACK
 * a duplicate ACK is a guess (the pipe already counts it), not a
 * delivery: it does not grow cwnd (limited transmit stays one segment per
 * duplicate ACK, RFC 3042). */
static void set_cwnd(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	struct rs_bbr *b = &t->bbr;
	uint32_t mss = t->mss, cwnd = t->cwnd, target;
	uint32_t acked = a->una_advanced || a->rs->valid ? a->delivered : 0;

	if (!acked)
		goto done;
	if (a->lost)
		cwnd = cwnd > a->lost + mss ? cwnd - a->lost : mss;
	if (b->conservation) {
		cwnd = RS_MAX(cwnd, rs_tcp_pipe(t) + acked);
		goto done;
	}
	target = bdp(t, max_bw(b), b->cwnd_gain) + 3u * burst_goal(t);
	if (b->mode == BBR_PROBE_BW && b->cycle_idx == 0)
		target += 2u * mss;
	if (b->full_bw_reached)
		cwnd = RS_MIN(cwnd + acked, target);
	else if (cwnd < target || t->delivered < RS_TCP_IW_SEGS * mss)
		cwnd += acked;
	cwnd = RS_MAX(cwnd, BBR_MIN_SEGS * mss);
done:
	if (b->mode == BBR_PROBE_RTT)
		cwnd = RS_MIN(cwnd, BBR_MIN_SEGS * mss);
	t->cwnd = cwnd;
}

static void bbr_ack(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	struct rs_bbr *b = &t->bbr;

	update_bw(t, a->rs);
	update_cycle(t, a);
	check_full_bw(t, a->rs);
	check_drain(t);
	update_min_rtt(t, a);
	update_gains(b);
	if (max_bw(b))
		set_pacing_rate(t, max_bw(b), b->pacing_gain);
	else
		init_pacing_rate(t);
	set_cwnd(t, a);
}

/* Fast recovery: packet conservation for a round (one segment may go at
 * once: the retransmission). */
static void bbr_enter_recovery(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	save_cwnd(t);
	b->in_loss = 1;
	b->conservation = 1;
	b->next_round_delivered = t->delivered;
	t->cwnd = rs_tcp_pipe(t) + t->mss;
}

static void bbr_reorder_loss(struct rs_tcb *t)
{
	t->cwnd = RS_MAX(t->cwnd, rs_tcp_pipe(t) + t->mss);
}

/* The episode is over: the window it had before. */
static void bbr_exit_recovery(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	t->cwnd = RS_MAX(t->cwnd, b->prior_cwnd);
	b->in_loss = 0;
	b->conservation = 0;
}

/* A timeout: one segment, grown back by what is delivered (the model is
 * kept); the window before it comes back when the recovery ends. */
static void bbr_rto(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	save_cwnd(t);
	b->in_loss = 1;
	b->conservation = 0;
	b->full_bw = 0;
	b->round_start = 1;
	t->cwnd = t->mss;
}

static void bbr_undo(struct rs_tcb *t)
{
	struct rs_bbr *b = &t->bbr;

	b->full_bw = 0;
	b->full_bw_cnt = 0;
	bbr_exit_recovery(t);
}

static void bbr_tlp_loss(struct rs_tcb *t)
{
	(void)t; /* the model saw the loss; random loss is not a signal */
}

static void bbr_info(const struct rs_tcb *t, struct rs_sock_info *i)
{
	static const char *const modes[] = {
		[BBR_STARTUP] = "startup",
		[BBR_DRAIN] = "drain",
		[BBR_PROBE_BW] = "probe_bw",
		[BBR_PROBE_RTT] = "probe_rtt",
	};

	i->cc_mode = modes[t->bbr.mode];
	i->bw = max_bw(&t->bbr);
	i->min_rtt_us = t->bbr.min_rtt_us;
}

const struct rs_cc_ops rs_cc_bbr = {
	.name = "bbr",
	.rate = 1,
	.init = bbr_init,
	.ack = bbr_ack,
	.enter_recovery = bbr_enter_recovery,
	.reorder_loss = bbr_reorder_loss,
	.exit_recovery = bbr_exit_recovery,
	.rto = bbr_rto,
	.undo = bbr_undo,
	.tlp_loss = bbr_tlp_loss,
	.info = bbr_info,
};
