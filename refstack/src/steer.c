/* The stack's flow-steering state: the input of the classifier of
 * steer.h (cores, R, RFD on or off, the ports with a listener), kept in
 * the arena with the stack, and handed to each core's backend so that
 * the I/O layer puts a frame on the core that owns it.  The bitmap
 * changes only when a port gets its first listener or loses its last;
 * the backend is told under one lock so that two cores listening at
 * once cannot install their programs out of order. */
#include <errno.h>

#include "arena.h"
#include "stack.h"

static uint32_t pow2_mask(uint32_t n)
{
	uint32_t r = 1;

	while (r < n)
		r <<= 1;
	return r - 1;
}

int rs_steer_create(struct rs_stack *s)
{
	struct rs_steering *st = rs_mem_zalloc(s->arena, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->cls.ncores = s->conf.ncores;
	st->cls.rmask = pow2_mask(s->conf.ncores);
	st->cls.rfd = !!(s->conf.features & RS_FEAT_RFD);
	s->steer = st;
	return 0;
}

void rs_steer_destroy(struct rs_stack *s)
{
	rs_mem_free(s->arena, s->steer);
	s->steer = NULL;
}

static void tell_backend(struct rs_core *c, int port)
{
	if (c->io_ops->steer &&
	    c->io_ops->steer(c->io, &c->stack->steer->cls, port) < 0)
		c->ctr.steer_io_errors++;
}

void rs_steer_attach(struct rs_core *c)
{
	struct rs_steering *st = c->stack->steer;

	rs_lock_take(&st->lock, &c->ctr.lock_listen);
	tell_backend(c, -1);
	rs_lock_give(&st->lock);
}

void rs_steer_listen(struct rs_core *c, uint16_t port, int on)
{
	struct rs_steering *st = c->stack->steer;
	uint8_t *byte = &st->cls.listen[port >> 3];
	uint8_t bit = (uint8_t)(1u << (port & 7));
	int changed;

	rs_lock_take(&st->lock, &c->ctr.lock_listen);
	if (on)
		changed = st->refs[port]++ == 0;
	else
		changed = st->refs[port] && --st->refs[port] == 0;
	if (changed) {
		/* other cores read the bitmap without the lock */
		__atomic_store_n(byte, on ? *byte | bit : *byte & ~bit,
				 __ATOMIC_RELAXED);
		tell_backend(c, port);
	}
	rs_lock_give(&st->lock);
}

int rs_steer_port_class(const struct rs_core *c, uint32_t *rmask)
{
	const struct rs_steer *s = &c->stack->steer->cls;

	*rmask = s->rmask;
	return s->rfd && s->ncores > 1;
}
