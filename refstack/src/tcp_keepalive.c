/* TCP keepalive (RFC 9293 3.8.4) with Linux's semantics (tcp_timer.c
 * tcp_keepalive_timer): a connection with SO_KEEPALIVE that received
 * nothing for TCP_KEEPIDLE seconds (7200) gets a probe, an ACK carrying
 * snd_una - 1, which a live peer answers with an ACK; unanswered, one
 * more every TCP_KEEPINTVL (75), and when TCP_KEEPCNT (9) probes went
 * unanswered the connection is reset and the application gets
 * ETIMEDOUT.  Any acceptable segment with an ACK counts as an answer
 * (tcp_input.c stamps rcv_tstamp and clears the probe count).  While data
 * is in flight the retransmission timer decides, not keepalive.  The
 * timer is one more TCB deadline (t_keep): received segments only stamp
 * the time, the timer checks it when it expires. */
#include <errno.h>

#include "tcp.h"

#define KA_IDLE_S 7200
#define KA_INTVL_S 75
#define KA_CNT 9
#define NS 1000000000ull

int rs_tcp_keepalive_get(const struct rs_keepalive *ka, int name)
{
	switch (name) {
	case TCP_KEEPIDLE:
		return ka->idle_s ? ka->idle_s : KA_IDLE_S;
	case TCP_KEEPINTVL:
		return ka->intvl_s ? ka->intvl_s : KA_INTVL_S;
	default:
		return ka->cnt ? ka->cnt : KA_CNT;
	}
}

static uint64_t idle_ns(const struct rs_tcb *t)
{
	return (uint64_t)rs_tcp_keepalive_get(&t->ka, TCP_KEEPIDLE) * NS;
}

void rs_tcp_keepalive_set(struct rs_tcb *t, int on,
			  const struct rs_keepalive *ka)
{
	t->ka = *ka;
	if (on)
		t->flags |= TF_KEEPALIVE;
	else
		t->flags &= ~(uint32_t)TF_KEEPALIVE;
	if (!t->rcv_tstamp)
		t->rcv_tstamp = t->core->now;
	if (!on && !t->t_keep)
		return; /* off and not armed (every new connection without it) */
	t->t_keep = on ? t->core->now + idle_ns(t) : 0;
	rs_tcp_timer_arm(t, t->t_keep);
}

static int probing_state(int s)
{
	return s >= RS_TCP_ESTABLISHED && s <= RS_TCP_LAST_ACK;
}

int rs_tcp_keepalive_fire(struct rs_tcb *t)
{
	struct rs_core *c = t->core;
	uint64_t idle = idle_ns(t), elapsed, next;

	if (!(t->flags & TF_KEEPALIVE))
		return RS_OK;
	if (!probing_state(t->state) || t->snd_max != t->snd_una) {
		t->t_keep = c->now + idle; /* not idle: look again later */
		return RS_OK;
	}
	elapsed = c->now - t->rcv_tstamp;
	if (elapsed < idle) {
		next = idle - elapsed;
	} else if (t->ka_probes >= rs_tcp_keepalive_get(&t->ka, TCP_KEEPCNT)) {
		c->ctr.tcp_keepalive_timeouts++;
		rs_tcp_send_rst(t);
		rs_tcb_drop(t, ETIMEDOUT);
		return RS_ERROR;
	} else {
		c->ctr.tcp_keepalive_probes++;
		rs_tcp_xmit(t, t->snd_una - 1, 0, RS_TH_ACK);
		t->ka_probes++;
		next = (uint64_t)rs_tcp_keepalive_get(&t->ka, TCP_KEEPINTVL) * NS;
	}
	t->t_keep = c->now + next;
	return RS_OK;
}
