/* Compact TIME_WAIT (RFC 9293 3.10.7.4, RFC 6191): a 72-byte entry in the
 * established table and in a per-core FIFO (the duration is constant, so
 * expiry order is insertion order). */
#include "arena.h"
#include "tcp.h"

_Static_assert(sizeof(struct rs_tw) <= 128, "TIME_WAIT entry too large");

/* Entries come from the arena in blocks: every closed connection makes
 * one, and while the population grows (the first TIME_WAIT duration of a
 * busy core) one allocation per block is paid instead of one per entry.
 * An entry is only ever freed by its own core (it expires there, or a
 * connect of the same core reuses it), onto that core's free list; the
 * blocks go back to the arena when the core goes. */
#define TW_BLOCK 64

struct rs_tw_block {
	struct rs_tw_block *next;
	struct rs_tw tw[TW_BLOCK];
};

static void tw_put(struct rs_core *c, struct rs_tw *tw)
{
	tw->h.next = (struct rs_hnode *)(void *)c->tw_free;
	c->tw_free = tw;
}

static struct rs_tw *tw_alloc(struct rs_core *c)
{
	struct rs_tw *tw = c->tw_free;

	if (c->ntw >= c->stack->conf.max_time_wait)
		return NULL;
	if (!tw) {
		struct rs_tw_block *b =
			rs_mem_alloc(c->stack->arena, sizeof(*b));
		if (!b)
			return NULL;
		b->next = c->tw_blocks;
		c->tw_blocks = b;
		for (unsigned i = TW_BLOCK; i-- > 1;)
			tw_put(c, &b->tw[i]);
		return &b->tw[0];
	}
	c->tw_free = (struct rs_tw *)(void *)tw->h.next;
	return tw;
}

void rs_tcp_time_wait(struct rs_tcb *t)
{
	struct rs_core *c = t->core;
	struct rs_tw *tw = tw_alloc(c);
	int local = t->h.local; /* the entry stays in the TCB's table */

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
		if (rs_tcp_hash_insert(c, &tw->h, local) == RS_OK) {
			rs_list_add_tail(&c->tw_fifo, &tw->fifo);
			c->ntw++;
			c->ctr.tcp_tw_created++;
		} else {
			tw_put(c, tw);
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
	rs_tcp_hash_remove(c, &tw->h);
	rs_list_del(&tw->fifo);
	c->ntw--;
	tw_put(c, tw);
}

static void tw_ack(struct rs_core *c, const struct rs_tw *tw)
{
	uint32_t ts[2] = {rs_tcp_ts_now(c) + tw->ts_offset, tw->ts_recent};

	rs_tcp_send_raw(c, tw->h.laddr, tw->h.lport, tw->h.raddr, tw->h.rport,
			tw->snd_nxt, tw->rcv_nxt, RS_TH_ACK, tw->wnd,
			tw->ts ? ts : NULL);
}

/* A new SYN may reuse the pair if it is clearly newer (RFC 6191 2):
 * with timestamps on both incarnations, a later timestamp, or the same
 * one with a later sequence number (a peer whose clock did not tick
 * between the two, e.g. a port reused within its timestamp granularity);
 * when the old one had none, any SYN with timestamps (PAWS protects the
 * new incarnation); else a later sequence number. */
static int syn_is_newer(const struct rs_tw *tw, const struct rs_tcp_seg *seg)
{
	if (seg->opts & RS_TCPOPT_TS) {
		if (!tw->ts)
			return 1;
		if (seg->tsval != tw->ts_recent)
			return rs_seq_gt(seg->tsval, tw->ts_recent);
	}
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
		struct rs_glisten *g;

		c->ctr.tcp_tw_reused++;
		/* an entry of the global table dates from before the group
		 * of cores was final: another core, where the pair's frames
		 * land now, may have found it and handed the SYN here; the
		 * new incarnation stays global, where that core finds it */
		c->syn_global = !tw->h.local;
		rs_tw_kill(c, tw);
		/* any core can answer a SYN: its own copy, else the global
		 * socket (the child is made here either way) */
		rs_tcp_listen_lookup(c, ip->dst, seg->dport, &l, &g);
		if (!l && g)
			l = rs_tcp_hidden(c, g);
		if (l)
			rs_tcp_listen_input(c, l, ip, seg);
		else
			c->ctr.drop_tcp_no_socket++;
		c->syn_global = 0;
		rs_glisten_put(c, g);
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
	c->tw_free = NULL;
	while (c->tw_blocks) {
		struct rs_tw_block *b = c->tw_blocks;
		c->tw_blocks = b->next;
		rs_mem_free(c->stack->arena, b);
	}
}
