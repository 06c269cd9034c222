/* Which table holds a connection, and the demultiplexer.
 *
 * Base: one global table (TCBs and TIME_WAIT entries) with a lock per
 * bucket.  With `estab` each core also has its own table, without locks,
 * for the connections whose every frame lands on that core: children of
 * the core's local listen copy (a flow's frames all hash to one core) and,
 * with `rfd`, active connections whose source port brings the replies
 * home.  Everything else (children of the global listen socket, which
 * another core may accept; active connections without RFD) stays global.
 * A lookup tries the core's table, then the global one only when that is
 * not empty: a core whose connections are all local takes no lock.
 * A stack whose cores come and go under running connections (forked
 * workers: rs_stack_cores_dynamic) or are still joining (a program's
 * threads: rs_stack_cores_joining) keeps every new connection global:
 * its flows are not sure to keep landing on one core.  When the I/O
 * layer's group gets a member, a flow's frames may land on another core
 * (the kernel folds the fanout program's answer by the number of
 * members); a connection in a core's own table is then invisible where
 * they land, and the listener there answers them with a RST. */
#include "tcp.h"

/* The group of cores is final, and this core has received everything
 * the I/O layer steered before its last change. */
static int members_final(const struct rs_core *c)
{
	const struct rs_stack *s = c->stack;

	return !__atomic_load_n(&s->cores_dynamic, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&s->cores_joining, __ATOMIC_ACQUIRE) &&
	       c->join_seen == __atomic_load_n(&s->join_gen, __ATOMIC_RELAXED);
}

int rs_tcp_hash_insert(struct rs_core *c, struct rs_hnode *n, int local)
{
	struct rs_stack *s = c->stack;
	unsigned owner;

	/* cores come and go: a flow may land elsewhere tomorrow */
	if (local && c->ehash && members_final(c)) {
		/* a tuple is unique across both tables */
		if (s->ehash_ops->count(s->ehash) &&
		    s->ehash_ops->lookup(s->ehash, n->laddr, n->lport, n->raddr,
					 n->rport, &owner,
					 &c->ctr.lock_ehash_acquired))
			return RS_ERROR;
		n->local = 1;
		return rs_table_local.insert(c->ehash, n, NULL);
	}
	n->local = 0;
	return s->ehash_ops->insert(s->ehash, n, &c->ctr.lock_ehash_acquired);
}

void rs_tcp_hash_remove(struct rs_core *c, struct rs_hnode *n)
{
	struct rs_stack *s = c->stack;

	if (n->local)
		rs_table_local.remove(c->ehash, n, NULL);
	else
		s->ehash_ops->remove(s->ehash, n, &c->ctr.lock_ehash_acquired);
	n->local = 0;
}

void rs_tcp_hash_globalise(struct rs_core *c, struct rs_hnode *n)
{
	if (!n->local)
		return;
	rs_table_local.remove(c->ehash, n, NULL);
	n->local = 0;
	/* cannot collide: inserts check both tables */
	c->stack->ehash_ops->insert(c->stack->ehash, n,
				    &c->ctr.lock_ehash_acquired);
}

static __attribute__((noinline)) struct rs_hnode *
global_lookup(struct rs_core *c, uint32_t laddr, uint16_t lport,
	      uint32_t raddr, uint16_t rport, unsigned *owner)
{
	struct rs_stack *s = c->stack;

	c->ctr.lookup_estab_global++;
	return s->ehash_ops->lookup(s->ehash, laddr, lport, raddr, rport,
				    owner, &c->ctr.lock_ehash_acquired);
}

/* Each lookup is counted once, by the table that answered: a miss in the
 * core's own table that goes on to the global one is a global lookup. */
struct rs_hnode *rs_tcp_hash_lookup(struct rs_core *c, uint32_t laddr,
				    uint16_t lport, uint32_t raddr,
				    uint16_t rport, unsigned *owner)
{
	if (c->ehash) {
		struct rs_stack *s = c->stack;
		struct rs_hnode *n = rs_ltable_lookup(c->ehash, laddr, lport,
						      raddr, rport, owner);
		if (n || !s->ehash_ops->count(s->ehash)) {
			c->ctr.lookup_estab_local++;
			return n;
		}
	}
	return global_lookup(c, laddr, lport, raddr, rport, owner);
}

int rs_tcp_active_local(const struct rs_core *c, uint16_t lport)
{
	const struct rs_stack_conf *conf = &c->stack->conf;
	uint32_t r = 1;

	if (!c->ehash || !(conf->features & RS_FEAT_RFD))
		return 0;
	while (r < conf->ncores)
		r <<= 1;
	return (lport & (r - 1)) % conf->ncores == c->index;
}

/* Which entry, which core: the connection (or TIME_WAIT entry) of the
 * 4-tuple, else the listener of the destination (processed here: a SYN
 * makes its child on the core it lands on).  Nothing found is ours to
 * answer with a RST.  An entry owned by another core is only read for
 * its owner, never dereferenced. */
void rs_tcp_demux(struct rs_core *c, const struct rs_ipv4 *ip,
		  const struct rs_tcp_seg *seg, struct rs_tcp_demux *dm)
{
	dm->owner = c->index;
	dm->l = NULL;
	dm->g = NULL;
	dm->n = rs_tcp_hash_lookup(c, ip->dst, seg->dport, ip->src, seg->sport,
				   &dm->owner);
	if (!dm->n) {
		dm->owner = c->index;
		rs_tcp_listen_lookup(c, ip->dst, seg->dport, &dm->l, &dm->g);
	}
}
