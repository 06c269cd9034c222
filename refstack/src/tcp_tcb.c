/* TCB life cycle: allocation from a per-core free list, the one state
 * setter, detaching from the tables, option negotiation, listener
 * children. */
#include <errno.h>

#include "arena.h"
#include "tcp.h"

const char *const rs_tcp_state_names[RS_TCP_NSTATES] = {
	[RS_TCP_CLOSED] = "CLOSED",
	[RS_TCP_LISTEN] = "LISTEN",
	[RS_TCP_SYN_SENT] = "SYN_SENT",
	[RS_TCP_SYN_RECV] = "SYN_RECV",
	[RS_TCP_ESTABLISHED] = "ESTABLISHED",
	[RS_TCP_FIN_WAIT_1] = "FIN_WAIT_1",
	[RS_TCP_FIN_WAIT_2] = "FIN_WAIT_2",
	[RS_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[RS_TCP_CLOSING] = "CLOSING",
	[RS_TCP_LAST_ACK] = "LAST_ACK",
	[RS_TCP_TIME_WAIT] = "TIME_WAIT",
};

uint8_t rs_tcp_wscale_for(uint32_t cap)
{
	uint8_t s = 0;

	while (s < RS_TCP_MAX_WSCALE && (cap >> s) > 65535)
		s++;
	return s;
}

struct rs_tcb *rs_tcb_new(struct rs_core *c, uint32_t sndbuf,
			  uint32_t rcvbuf)
{
	struct rs_tcb *t = c->tcb_free;

	if (c->ntcb >= c->stack->conf.max_conns)
		return NULL;
	if (t) {
		c->tcb_free = (struct rs_tcb *)(void *)t->h.next;
		memset(t, 0, sizeof(*t));
	} else {
		t = rs_mem_zalloc(c->stack->arena, sizeof(*t));
		if (!t)
			return NULL;
	}
	t->core = c;
	t->fd = -1;
	t->h.kind = RS_HK_TCB;
	t->h.core = (uint8_t)c->index;
	t->snd.cap = sndbuf;
	t->rcv.cap = rcvbuf;
	t->rcv_wscale = (c->stack->conf.options & RS_OPT_WSCALE)
				? rs_tcp_wscale_for(rcvbuf)
				: 0;
	t->rto_us = RS_TCP_RTO_INIT_US;
	t->mss = RS_TCP_DEFAULT_MSS;
	t->rcv_mss = RS_TCP_DEFAULT_MSS;
	rs_list_add_tail(&c->tcbs, &t->link);
	rs_list_init(&t->alink);
	rs_list_init(&t->olink);
	c->ntcb++;
	return t;
}

void rs_tcb_free(struct rs_tcb *t)
{
	struct rs_core *c = t->core;

	rs_tcb_detach(t);
	if (t->state != RS_TCP_CLOSED && t->state != RS_TCP_TIME_WAIT)
		rs_tcp_set_state(t, RS_TCP_CLOSED);
	rs_ring_release(&t->rcv, &c->pool);
	rs_list_del(&t->link);
	rs_list_del(&t->olink);
	c->ntcb--;
	t->h.next = (struct rs_hnode *)(void *)c->tcb_free;
	c->tcb_free = t;
}

void rs_tcb_detach(struct rs_tcb *t)
{
	struct rs_core *c = t->core;

	if (t->flags & TF_DETACHED)
		return;
	t->flags |= TF_DETACHED;
	if (t->h.lport)
		rs_tcp_hash_remove(c, &t->h);
	rs_tcp_child_unlink(t);
	t->t_rtx = t->t_delack = t->t_persist = t->t_misc = t->t_probe = 0;
	t->t_reo = t->t_pace = 0;
	rs_tcp_timer_unlink(t); /* out of the heap now: it may be freed */
	rs_txq_fini(t);
	rs_ring_release(&t->snd, &c->pool);
	t->snd.len = 0;
	t->nooo = 0;
	rs_list_del(&t->olink);
	t->flags &= ~(uint32_t)TF_OUTQ;
}

void rs_tcb_drop(struct rs_tcb *t, int err)
{
	rs_tcb_detach(t);
	rs_tcp_set_state(t, RS_TCP_CLOSED);
	if (t->sock) {
		t->so_error = err;
		rs_tcp_notify(t);
	} else {
		rs_tcb_free(t);
	}
}

static int synchronized(int s)
{
	return s >= RS_TCP_ESTABLISHED && s <= RS_TCP_LAST_ACK;
}

void rs_tcp_set_state(struct rs_tcb *t, int state)
{
	struct rs_core *c = t->core;
	const struct rs_stack_conf *conf = &c->stack->conf;
	int old = t->state;

	if (old == state)
		return;
	c->nsynrecv -= (old == RS_TCP_SYN_RECV);
	c->nsynrecv += (state == RS_TCP_SYN_RECV);
	c->nestab -= (uint32_t)synchronized(old);
	c->nestab += (uint32_t)synchronized(state);
	t->state = (uint8_t)state;
	if (conf->trace)
		conf->trace(conf->trace_arg, c->index, t->fd,
			    rs_tcp_state_names[old], rs_tcp_state_names[state]);
}

/* F(4-tuple, secret) of RFC 6528: ISNs and timestamp offsets. */
static uint64_t tuple_hash(const struct rs_core *c, const struct rs_hnode *k)
{
	uint64_t h = c->stack->conf.seed;

	h ^= ((uint64_t)k->laddr << 32 | k->raddr) * 0x9e3779b97f4a7c15ull;
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
	h ^= ((uint64_t)k->lport << 16 | k->rport) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* RFC 6528: a secret hash of the 4-tuple plus a clock.  The clock ticks
 * every 64 ns as Linux's does, so a SYN that reuses a 4-tuple soon after
 * its last connection still starts beyond everything that connection
 * sent and a peer holding it in TIME_WAIT accepts the SYN (RFC 6191). */
uint32_t rs_tcp_isn(struct rs_core *c, const struct rs_hnode *k)
{
	return (uint32_t)tuple_hash(c, k) + (uint32_t)(c->now >> 6);
}

/* The timestamp offset depends on the 4-tuple only (no clock): the
 * timestamps of successive connections of one 4-tuple keep increasing,
 * so the peer's PAWS check never rejects the SYN of a reuse. */
uint32_t rs_tcp_ts_offset(const struct rs_core *c, const struct rs_hnode *k)
{
	return (uint32_t)(tuple_hash(c, k) >> 32);
}

uint32_t rs_tcp_ts_now(const struct rs_core *c)
{
	return (uint32_t)(c->now / 1000000u);
}

void rs_tcp_syn_options(struct rs_tcb *t, const struct rs_tcp_seg *seg)
{
	const struct rs_stack_conf *conf = &t->core->stack->conf;
	uint16_t mss = (seg->opts & RS_TCPOPT_MSS) && seg->mss ? seg->mss
							     : RS_TCP_DEFAULT_MSS;

	t->mss = RS_MIN(mss, conf->mss);
	if (t->mss < 64)
		t->mss = 64;
	t->rcv_mss = t->mss;
	if ((conf->options & RS_OPT_WSCALE) && (seg->opts & RS_TCPOPT_WSCALE)) {
		t->flags |= TF_WSCALE;
		t->snd_wscale = seg->wscale;
	} else {
		t->snd_wscale = 0;
		t->rcv_wscale = 0;
	}
	if ((conf->options & RS_OPT_TIMESTAMPS) && (seg->opts & RS_TCPOPT_TS)) {
		t->flags |= TF_TS;
		t->ts_recent = seg->tsval;
		t->mss -= 12;
	}
	if ((conf->options & RS_OPT_SACK) && (seg->opts & RS_TCPOPT_SACKOK))
		t->flags |= TF_SACK;
	t->snd_wnd = seg->wnd; /* never scaled in a SYN (RFC 7323 2.2) */
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = seg->seq;
	t->snd_wl2 = seg->ack;
}

void rs_tcp_established(struct rs_tcb *t)
{
	rs_tcp_set_state(t, RS_TCP_ESTABLISHED);
	rs_synq_peer_seen(t->core, t->h.raddr);
	rs_cc_init(t);
	rs_tcp_notify(t);
}

/* Established: onto its listener's accept queue or, for a hidden
 * listener's child, onto the core's to-park list: parked on the global
 * queue at the end of this poll step (tcp_listen.c). */
void rs_tcp_child_ready(struct rs_tcb *t)
{
	struct rs_listener *l = t->parent;
	struct rs_core *c = t->core;

	if (!l)
		return;
	rs_synq_del(l, t);
	t->qstamp = c->now;
	if (l->hidden) {
		t->parent = NULL;
		t->gparent = l->g;
		__atomic_add_fetch(&l->g->refs, 1, __ATOMIC_RELAXED);
		rs_list_add_tail(&c->parkq, &t->alink);
		t->flags |= TF_PARKQ;
		if (c->stack->conf.ncores == 1) /* nobody else: queue it now */
			rs_tcp_listen_poll(c);
		return;
	}
	rs_list_add_tail(&l->acceptq, &t->alink);
	l->nacceptq++;
	t->flags |= TF_ACCEPTQ;
	rs_tcp_notify_listener(c, l);
}

void rs_tcp_notify_listener(struct rs_core *c, struct rs_listener *l)
{
	if (l->sock)
		c->stack->sock_event(l->sock);
}

static void gchild_unlink(struct rs_tcb *t)
{
	struct rs_glisten *g = t->gparent;
	struct rs_core *c = t->core;

	if (t->flags & TF_PARKQ) {
		rs_list_del(&t->alink);
		t->flags &= ~(uint32_t)TF_PARKQ;
	} else if (t->flags & TF_ACCEPTQ) { /* one core: queued, not parked */
		rs_glisten_lock(c, g);
		rs_list_del(&t->alink);
		__atomic_store_n(&g->nacceptq, g->nacceptq - 1,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&g->head_stamp,
				 rs_list_empty(&g->acceptq)
					 ? 0
					 : RS_CONTAINER(g->acceptq.next,
							struct rs_tcb, alink)
						   ->qstamp,
				 __ATOMIC_RELAXED);
		rs_lock_give(&g->lock);
		t->flags &= ~(uint32_t)TF_ACCEPTQ;
	}
	t->gparent = NULL;
	rs_glisten_put(c, g);
}

void rs_tcp_child_unlink(struct rs_tcb *t)
{
	struct rs_listener *l = t->parent;

	if (t->gparent) {
		gchild_unlink(t);
		return;
	}
	if (!l)
		return;
	if (t->flags & TF_ACCEPTQ) {
		rs_list_del(&t->alink);
		l->nacceptq--;
		t->flags &= ~(uint32_t)TF_ACCEPTQ;
	} else {
		rs_synq_del(l, t);
	}
	t->parent = NULL;
}
