/* A core context's life cycle: creation with its I/O backend, buffers and
 * timer heap, destruction.  The poll step is in poll.c, the transmit batch
 * in tx.c, the hand-off queue in handoff.c. */
#include <errno.h>
#include <stdlib.h>

#include "sock.h"

int rs_core_rx_pending(const struct rs_core *c)
{
	return c->io_ops->rx_pending ? c->io_ops->rx_pending(c->io) : 0;
}

unsigned rs_core_index(const struct rs_core *c) { return c->index; }
struct rs_stack *rs_core_stack(const struct rs_core *c) { return c->stack; }

const struct rs_core_counters *rs_core_counters(const struct rs_core *c)
{
	return &c->ctr;
}

static int core_alloc(struct rs_core *c, uint32_t max_conns)
{
	c->txmem = malloc((size_t)RS_TX_BATCH * RS_FRAME_BUF);
	if (rs_handoff_init(c) != RS_OK || rs_arpq_init(c) != RS_OK)
		return RS_ERROR;
	if (!c->txmem)
		return RS_ERROR;
	if (rs_timerq_init(&c->tq, max_conns) != RS_OK)
		return RS_ERROR;
	for (int i = 0; i < RS_TX_BATCH; i++)
		c->txf[i].data = c->txmem + (size_t)i * RS_FRAME_BUF;
	return RS_OK;
}

static void core_free(struct rs_core *c)
{
	free(c->txmem);
	rs_arpq_fini(c);
	rs_handoff_fini(c);
	rs_timerq_fini(&c->tq);
	free(c);
}

static int core_open_io(struct rs_core *c, const struct rs_io_ops *io,
			const struct rs_io_conf *io_conf)
{
	int err = 0;

	if (!io || !io->open || !io->rx_burst || !io->rx_release ||
	    !io->tx_burst || !io->mac || !io->close)
		return -EINVAL;
	c->io_ops = io;
	c->io = io->open(io_conf, &err);
	if (!c->io)
		return err ? err : -EIO;
	io->mac(c->io, c->mac);
	return 0;
}

struct rs_core *rs_core_create(struct rs_stack *s, unsigned index,
			       const struct rs_io_ops *io,
			       const struct rs_io_conf *io_conf, int *err)
{
	struct rs_core *c;
	int rc;

	if (index >= s->conf.ncores || s->cores[index]) {
		*err = -EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->stack = s;
	c->index = index;
	c->ip = s->ip;
	rs_list_init(&c->tcbs);
	rs_list_init(&c->listeners);
	rs_list_init(&c->outq);
	rs_list_init(&c->tw_fifo);
	rs_pool_init(&c->pool, s->conf.max_buf_bytes);
	if (core_alloc(c, s->conf.max_conns) != RS_OK) {
		core_free(c);
		*err = -ENOMEM;
		return NULL;
	}
	rc = core_open_io(c, io, io_conf);
	if (rc) {
		core_free(c);
		*err = rc;
		return NULL;
	}
	__atomic_store_n(&s->cores[index], c, __ATOMIC_RELEASE);
	return c;
}

void rs_core_destroy(struct rs_core *c)
{
	if (!c)
		return;
	rs_sock_close_all(c);
	while (!rs_list_empty(&c->tcbs)) {
		struct rs_tcb *t = RS_CONTAINER(c->tcbs.next, struct rs_tcb,
						link);
		t->sock = NULL;
		t->fd = -1;
		rs_tcb_free(t);
	}
	while (c->sock_free) {
		struct rs_sock *s = c->sock_free;
		c->sock_free = (struct rs_sock *)(void *)s->tcb;
		free(s);
	}
	while (c->tcb_free) {
		struct rs_tcb *t = c->tcb_free;
		c->tcb_free = (struct rs_tcb *)(void *)t->h.next;
		free(t);
	}
	rs_tw_fini(c);
	rs_pool_fini(&c->pool);
	__atomic_store_n(&c->stack->cores[c->index], NULL, __ATOMIC_RELEASE);
	c->io_ops->close(c->io);
	core_free(c);
}
