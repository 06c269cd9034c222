/* Frames for a connection owned by another core: copied whole (data,
 * length, checksum-partial flag) into the owner's queue, processed there
 * at its next poll.  The stock-kernel baseline would process them where
 * they land under the socket lock; the owner-only rule keeps every TCB
 * single-threaded instead.  A frame is handed on at most RS_HANDOFF_HOPS
 * times (ownership can move while it travels), then dropped and counted. */
#include "arena.h"
#include "stack.h"

#define RS_HANDOFF_HOPS 2

int rs_handoff_init(struct rs_core *c)
{
	struct rs_handoff *h = &c->handoff;
	struct rs_arena *a = c->stack->arena;

	if (c->stack->conf.ncores == 1)
		return RS_OK;
	h->q = rs_mem_alloc(a, sizeof(struct rs_pending) * RS_HANDOFF_MAX);
	h->spare = rs_mem_alloc(a, sizeof(struct rs_pending) * RS_HANDOFF_MAX);
	return h->q && h->spare ? RS_OK : RS_ERROR;
}

void rs_handoff_fini(struct rs_core *c)
{
	rs_mem_free(c->stack->arena, c->handoff.q);
	rs_mem_free(c->stack->arena, c->handoff.spare);
	c->handoff.q = c->handoff.spare = NULL;
}

/* The lock taken over from a process killed inside a drain, between the
 * two stores of the swap: q and spare name one buffer (the other one is
 * lost with the frames the dead process took).  A new spare. */
static void handoff_lock(struct rs_core *c, struct rs_handoff *h)
{
	if (RS_LIKELY(!rs_lock_take(&h->lock, &c->ctr.lock_handoff_acquired)))
		return;
	if (h->q && h->q == h->spare)
		h->spare = rs_mem_alloc(c->stack->arena,
					sizeof(struct rs_pending) * RS_HANDOFF_MAX);
	if (!h->spare) /* no memory: no more hand-offs to this core */
		h->q = NULL;
}

void rs_handoff_push(struct rs_core *from, unsigned owner,
		     const struct rs_frame *f, unsigned hops)
{
	struct rs_stack *s = from->stack;
	struct rs_core *to = NULL;
	struct rs_handoff *h;
	int queued = 0, was_empty;

	if (owner < s->conf.ncores)
		to = __atomic_load_n(&s->cores[owner], __ATOMIC_ACQUIRE);
	if (!to || hops >= RS_HANDOFF_HOPS || f->len > RS_FRAME_BUF) {
		from->ctr.drop_handoff_lost++;
		return;
	}
	h = &to->handoff;
	handoff_lock(from, h);
	was_empty = h->n == 0;
	if (h->q && h->n < RS_HANDOFF_MAX) {
		struct rs_pending *p = &h->q[h->n];
		memcpy(p->data, f->data, f->len);
		p->len = f->len;
		p->csum_partial = f->csum_partial;
		p->hops = (uint8_t)(hops + 1);
		/* the owner peeks at n without the lock; after the frame
		 * (lock.h: a pusher killed before it queued nothing) */
		__atomic_store_n(&h->n, h->n + 1, __ATOMIC_RELEASE);
		queued = 1;
	}
	rs_lock_give(&h->lock);
	if (queued)
		from->ctr.xcore_handoffs++;
	else
		from->ctr.drop_handoff_full++;
	if (queued && was_empty && s->conf.kick) /* the owner may be asleep */
		s->conf.kick(s->conf.kick_arg, owner);
}

void rs_handoff_drain(struct rs_core *c, rs_handoff_fn fn)
{
	struct rs_handoff *h = &c->handoff;
	struct rs_pending *q;
	uint32_t n;

	if (!__atomic_load_n(&h->n, __ATOMIC_RELAXED))
		return;
	handoff_lock(c, h);
	q = h->q;
	n = h->n;
	if (!q || !h->spare) {
		rs_lock_give(&h->lock);
		return;
	}
	/* n first: killed after it, the frames are forgotten, nothing else
	 * (lock.h); killed inside the swap, handoff_lock repairs */
	__atomic_store_n(&h->n, 0, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->q = h->spare;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->spare = q;
	rs_lock_give(&h->lock);
	c->ctr.handoff_rx += n;
	for (uint32_t i = 0; i < n; i++) {
		struct rs_frame f = {.data = q[i].data,
				     .len = q[i].len,
				     .csum_partial = q[i].csum_partial};
		fn(c, &f, q[i].hops);
	}
}
