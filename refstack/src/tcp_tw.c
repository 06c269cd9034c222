/* Compact TIME_WAIT (RFC 9293 3.10.7.4, RFC 6191): a 72-byte entry in the
 * established table and in a per-core FIFO (the duration is constant, so
 * expiry order is insertion order). */
#include "arena.h"
#include "tcp.h"

_Static_assert(sizeof(struct rs_tw) <= 128, "TIME_WAIT entry too large");

static struct rs_tw *tw_alloc(struct rs_core *c)
{
	struct rs_tw *tw = c->tw_free;

	if (c->ntw >= c->stack->conf.max_time_wait)
		return NULL;
	if (tw) {
		c->tw_free = (struct rs_tw *)(void *)tw->h.next;
		return tw;
	}
	return rs_mem_alloc(c->stack->arena, sizeof(*tw));
}

void rs_tcp_time_wait(struct rs_tcb *t)
{
	struct rs_core *c = t->core;
	struct rs_tw *tw = tw_alloc(c);

	rs_tcb_detach(t);
	if (tw) {
		memset(tw, 0, sizeof(*tw));
		tw->h.laddr = t->h.laddr;
		tw->h.raddr = t->h.raddr;
		tw->h.lport = t->h.lport;
		tw->h.rport = t->h.rport;
		tw->h.kind = RS_HK_TW;
		tw->h.core = (uint8_t)c->index;
		tw->snd_nxt = t->snd_max;
		tw->rcv_nxt = t->rcv_nxt;
		tw->ts = !!(t->flags & TF_TS);
		tw->ts_recent = t->ts_recent;
		tw->ts_offset = t->ts_offset;
		tw->wnd = rs_tcp_rcv_wnd(t);
		tw->expire = c->now + c->stack->conf.time_wait_ns;
		if (c->stack->ehash_ops->insert(c->stack->ehash, &tw->h,
						&c->ctr.lock_ehash) == RS_OK) {
			rs_list_add_tail(&c->tw_fifo, &tw->fifo);
			c->ntw++;
			c->ctr.tcp_tw_created++;
		} else {
			rs_mem_free(c->stack->arena, tw);
		}
	} else {
		c->ctr.tcp_tw_overflow++;
	}
	rs_tcp_set_state(t, RS_TCP_TIME_WAIT);
	if (!t->sock)
		rs_tcb_free(t);
}

void rs_tw_kill(struct rs_core *c, struct rs_tw *tw)
{
	c->stack->ehash_ops->remove(c->stack->ehash, &tw->h, &c->ctr.lock_ehash);
	rs_list_del(&tw->fifo);
	c->ntw--;
	tw->h.next = (struct rs_hnode *)(void *)c->tw_free;
	c->tw_free = tw;
}

static void tw_ack(struct rs_core *c, const struct rs_tw *tw)
{
	uint32_t ts[2] = {rs_tcp_ts_now(c) + tw->ts_offset, tw->ts_recent};

	rs_tcp_send_raw(c, tw->h.laddr, tw->h.lport, tw->h.raddr, tw->h.rport,
			tw->snd_nxt, tw->rcv_nxt, RS_TH_ACK, tw->wnd,
			tw->ts ? ts : NULL);
}

/* A new SYN may reuse the pair if it is clearly newer (RFC 6191). */
static int syn_is_newer(const struct rs_tw *tw, const struct rs_tcp_seg *seg)
{
	if (tw->ts && (seg->opts & RS_TCPOPT_TS))
		return rs_seq_gt(seg->tsval, tw->ts_recent);
	return rs_seq_gt(seg->seq, tw->rcv_nxt);
}

void rs_tw_input(struct rs_core *c, struct rs_tw *tw, const struct rs_ipv4 *ip,
		 const struct rs_tcp_seg *seg)
{
	if (seg->flags & RS_TH_RST) {
		if (seg->seq == tw->rcv_nxt) {
			c->ctr.tcp_rst_rx++;
			rs_tw_kill(c, tw);
		}
		return;
	}
	if ((seg->flags & RS_TH_SYN) && !(seg->flags & RS_TH_ACK) &&
	    syn_is_newer(tw, seg)) {
		struct rs_listener *l;
		unsigned owner = c->index;

		c->ctr.tcp_tw_reused++;
		rs_tw_kill(c, tw);
		l = rs_tcp_listen_lookup(c, ip->dst, seg->dport, &owner);
		if (l && owner == c->index)
			rs_tcp_listen_input(c, l, ip, seg);
		return;
	}
	if (seg->flags & RS_TH_FIN) {
		/* retransmitted FIN: ACK and restart the 2MSL wait */
		tw->expire = c->now + c->stack->conf.time_wait_ns;
		rs_list_del(&tw->fifo);
		rs_list_add_tail(&c->tw_fifo, &tw->fifo);
		tw_ack(c, tw);
		return;
	}
	if (seg->len || (seg->flags & RS_TH_SYN))
		tw_ack(c, tw);
}

void rs_tw_expire(struct rs_core *c)
{
	while (!rs_list_empty(&c->tw_fifo)) {
		struct rs_tw *tw =
			RS_CONTAINER(c->tw_fifo.next, struct rs_tw, fifo);
		if (tw->expire > c->now)
			break;
		c->ctr.tcp_tw_expired++;
		rs_tw_kill(c, tw);
	}
}

void rs_tw_fini(struct rs_core *c)
{
	while (!rs_list_empty(&c->tw_fifo))
		rs_tw_kill(c, RS_CONTAINER(c->tw_fifo.next, struct rs_tw,
					   fifo));
	while (c->tw_free) {
		struct rs_tw *tw = c->tw_free;
		c->tw_free = (struct rs_tw *)(void *)tw->h.next;
		rs_mem_free(c->stack->arena, tw);
	}
}
