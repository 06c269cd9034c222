/* The SYN backlog under a flood.  Linux's three answers, chosen by
 * rs_stack_conf.syncookies as its tcp_syncookies: cookies when a
 * listener's backlog is full (1, the default), always (2), or never (0).
 * Without cookies a full backlog must not lock legitimate clients out for
 * the minutes spoofed entries take to time out: the last quarter of it is
 * kept for peers with history (that completed a handshake with this core
 * in the last hour, as Linux keeps it for peers its metrics cache knows),
 * and instead of refusing a SYN the oldest embryonic connection of a peer
 * without history is dropped, so that the entries of a flood turn over
 * and a new client's handshake, which completes in one round trip, gets a
 * place. */
#include "tcp.h"

#define PEER_MEMORY_S 3600u
#define COOKIE_MEMORY_NS 120000000000ull /* accept cookies this long */

static struct rs_peer_seen *peer_slot(struct rs_core *c, uint32_t ip)
{
	return &c->peers[(ip * 0x9e3779b1u) >> 22 & (RS_PEER_SLOTS - 1)];
}

void rs_synq_peer_seen(struct rs_core *c, uint32_t ip)
{
	struct rs_peer_seen *p = peer_slot(c, ip);

	p->ip = ip;
	p->sec = (uint32_t)(c->now / 1000000000ull) | 1u;
}

static int peer_proven(struct rs_core *c, uint32_t ip)
{
	const struct rs_peer_seen *p = peer_slot(c, ip);
	uint32_t sec = (uint32_t)(c->now / 1000000000ull);

	return p->sec && p->ip == ip && sec - p->sec < PEER_MEMORY_S;
}

/* Drop the oldest SYN_RECV child of a peer without history. */
static int evict_oldest(struct rs_core *c, struct rs_listener *l)
{
	for (struct rs_list *e = l->synq.next; e != &l->synq; e = e->next) {
		struct rs_tcb *t = RS_CONTAINER(e, struct rs_tcb, alink);
		if (t->flags & TF_PROVEN)
			continue;
		c->ctr.tcp_syn_evicted++;
		rs_tcb_drop(t, 0);
		return 1;
	}
	return 0;
}

int rs_synq_admit(struct rs_core *c, struct rs_listener *l, uint32_t raddr,
		  int *proven)
{
	const struct rs_stack_conf *conf = &c->stack->conf;
	uint32_t max = conf->syn_backlog;

	*proven = peer_proven(c, raddr);
	switch (conf->syncookies) {
	case RS_SYNCOOKIES_ALWAYS:
		l->cookie_at = c->now;
		return RS_SYNQ_COOKIE;
	case RS_SYNCOOKIES_ON_FULL:
		if (l->nsyn < max)
			return RS_SYNQ_CHILD;
		l->cookie_at = c->now;
		return RS_SYNQ_COOKIE;
	default:
		break;
	}
	if (l->nsyn < max &&
	    (*proven || l->nsyn - l->nsyn_proven < max - max / 4))
		return RS_SYNQ_CHILD;
	return evict_oldest(c, l) ? RS_SYNQ_CHILD : RS_SYNQ_DROP;
}

int rs_synq_cookies_recent(const struct rs_core *c,
			   const struct rs_listener *l)
{
	return c->stack->conf.syncookies == RS_SYNCOOKIES_ALWAYS ||
	       (l->cookie_at && c->now - l->cookie_at < COOKIE_MEMORY_NS);
}

/* The SYN_RECV child joins or leaves the listener's queue. */
void rs_synq_add(struct rs_listener *l, struct rs_tcb *t, int proven)
{
	rs_list_add_tail(&l->synq, &t->alink);
	l->nsyn++;
	if (proven) {
		t->flags |= TF_PROVEN;
		l->nsyn_proven++;
	}
}

void rs_synq_del(struct rs_listener *l, struct rs_tcb *t)
{
	rs_list_del(&t->alink);
	l->nsyn--;
	if (t->flags & TF_PROVEN) {
		t->flags &= ~(uint32_t)TF_PROVEN;
		l->nsyn_proven--;
	}
}
