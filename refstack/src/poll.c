/* The top of a core: one run-to-completion step in the caller's thread.
 *
 *   ring --rx_burst--> rs_rx_parse (headers, owner) --+-- ours: rs_rx_deliver
 *                                                     +-- not: rs_handoff_push
 *                                                     +-- parked: kept for
 *                                                         its adopter
 *   hand-off queue, frames of connections this core adopted --> the same
 *   then timers, deferred output, listeners (park, wake, adopt), one
 *   transmit flush, statistics.
 *
 * A frame's path is one way: it is steered here, whole, before any
 * protocol processing; nothing below this file sends a frame elsewhere. */
#include <errno.h>

#include "arena.h"

#include "tcp.h"

/* ARP tables are per core, but a reply lands on whichever core the
 * fanout picks: every core learns it (the one that asked may not be the
 * one that received it, and its frames wait for that answer). */
static void arp_reply_to_all(struct rs_core *c, const struct rs_pkt *p,
			     const struct rs_frame *f, unsigned hops)
{
	unsigned n = c->stack->conf.ncores;

	if (n < 2 || hops || p->eth.len < 8 || rs_get16(p->eth.payload + 6) != 2)
		return;
	/* only to cores that exist: a free slot (the shim's stack has
	 * slots for forked workers) is no frame lost */
	for (unsigned i = 0; i < n; i++)
		if (i != c->index &&
		    __atomic_load_n(&c->stack->cores[i], __ATOMIC_ACQUIRE))
			rs_handoff_push(c, i, f, hops);
}

static void rx_one(struct rs_core *c, const struct rs_frame *f, unsigned hops)
{
	struct rs_pkt p;
	unsigned owner;

	if (rs_rx_parse(c, f, &p) != RS_OK)
		return;
	if (p.kind == RS_PKT_ARP)
		arp_reply_to_all(c, &p, f, hops);
	owner = p.dm.owner;
	if (p.kind == RS_PKT_TCP && !hops) {
		if (owner == c->index)
			c->ctr.steer_home++;
		else
			c->ctr.steer_away++;
	}
	if (owner == RS_CORE_PARKED) {
		owner = rs_tcp_park_frame(c, &p, f);
		if (owner == RS_CORE_PARKED)
			return;
		if (owner == c->index) { /* adopted here meanwhile: again */
			rx_one(c, f, hops + 1);
			return;
		}
	}
	if (owner != c->index) {
		rs_handoff_push(c, owner, f, hops);
		return;
	}
	rs_rx_deliver(c, &p);
}

/* Frames that waited for the connections this core adopted. */
static void replay(struct rs_core *c)
{
	struct rs_pending *pf = c->replay;

	c->replay = NULL;
	c->replay_tail = &c->replay;
	while (pf) {
		struct rs_pending *next = pf->next;
		struct rs_frame f = {.data = pf->data,
				     .len = pf->len,
				     .csum_partial = pf->csum_partial};
		c->ctr.handoff_rx++;
		rx_one(c, &f, 1);
		rs_mem_free(c->stack->arena, pf);
		pf = next;
	}
}

int rs_poll(struct rs_core *c, uint64_t now_ns)
{
	const struct rs_stack_conf *conf = &c->stack->conf;
	/* read before the burst: a short burst then proves that the frames
	 * steered before that join are behind this core (tcp_hash.c) */
	uint32_t join_gen = __atomic_load_n(&c->stack->join_gen, __ATOMIC_ACQUIRE);
	int n;

	if (now_ns > c->now)
		c->now = now_ns;
	c->ctr.polls++;
	n = c->io_ops->rx_burst(c->io, c->rxf, RS_RX_BURST);
	if (n < 0) {
		errno = EIO;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		c->ctr.rx_frames++;
		c->ctr.rx_bytes += c->rxf[i].len;
		rx_one(c, &c->rxf[i], 0);
	}
	if (n)
		c->io_ops->rx_release(c->io);
	if (RS_UNLIKELY(join_gen != c->join_seen) && n < RS_RX_BURST)
		c->join_seen = join_gen;
	if (conf->ncores > 1)
		rs_handoff_drain(c, rx_one);
	if (c->replay)
		replay(c);
	rs_tcp_timers_run(c);
	rs_tcp_run_outq(c, 1);
	rs_tcp_listen_poll(c);
	rs_tx_flush(c);
	if (conf->stats_publish && conf->publish && c->now >= c->next_publish) {
		c->next_publish = c->now + conf->publish_interval_ns;
		conf->publish(c, c->now, conf->publish_arg);
	}
	return n;
}

void rs_core_flush(struct rs_core *c)
{
	rs_tcp_run_outq(c, 0);
	rs_tx_flush(c);
}

uint64_t rs_poll_at(const struct rs_core *c)
{
	if (!rs_list_empty(&c->outq) || c->ntx || c->replay ||
	    __atomic_load_n(&c->handoff.n, __ATOMIC_RELAXED))
		return 0;
	return rs_tcp_next_timer(c);
}

int rs_core_wait_fd(const struct rs_core *c)
{
	return c->io_ops->wait_fd ? c->io_ops->wait_fd(c->io) : -1;
}

int rs_core_rx_pending(const struct rs_core *c)
{
	return c->io_ops->rx_pending ? c->io_ops->rx_pending(c->io) : 0;
}
