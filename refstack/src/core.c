/* A core context's life cycle: creation with its I/O backend, buffers and
 * timer heap, destruction.  The poll step is in poll.c, the transmit batch
 * in tx.c, the hand-off queue in handoff.c. */
#include <errno.h>

#include "arena.h"
#include "sock.h"
#include "tcp.h"

unsigned rs_core_index(const struct rs_core *c) { return c->index; }
struct rs_stack *rs_core_stack(const struct rs_core *c) { return c->stack; }

const struct rs_core_counters *rs_core_counters(const struct rs_core *c)
{
	return &c->ctr;
}

static int core_alloc(struct rs_core *c, uint32_t max_conns)
{
	struct rs_arena *a = c->stack->arena;

	c->txmem = rs_mem_alloc(a, (size_t)RS_TX_BATCH * RS_FRAME_BUF);
	if (rs_handoff_init(c) != RS_OK || rs_arpq_init(c) != RS_OK)
		return RS_ERROR;
	if (!c->txmem)
		return RS_ERROR;
	if (c->stack->conf.features & RS_FEAT_LOCAL_ESTAB) {
		int err = 0;
		c->ehash = rs_table_local.create(a, c->stack->conf.hash_buckets,
						 &err);
		if (!c->ehash)
			return RS_ERROR;
	}
	if (c->stack->conf.features & RS_FEAT_LOCAL_LISTEN) {
		int err = 0;
		c->lhash = rs_table_local.create(a, 64, &err);
		if (!c->lhash)
			return RS_ERROR;
	}
	if (rs_timerq_init(&c->tq, max_conns, a) != RS_OK)
		return RS_ERROR;
	for (int i = 0; i < RS_TX_BATCH; i++)
		c->txf[i].data = c->txmem + (size_t)i * RS_FRAME_BUF;
	return RS_OK;
}

static void core_free(struct rs_core *c)
{
	struct rs_arena *a = c->stack->arena;

	rs_mem_free(a, c->txmem);
	rs_arpq_fini(c);
	rs_handoff_fini(c);
	rs_timerq_fini(&c->tq);
	if (c->ehash)
		rs_table_local.destroy(c->ehash);
	if (c->lhash)
		rs_table_local.destroy(c->lhash);
	rs_mem_free(a, c);
}

/* Every frame of the batch says whether its TCP checksum is left to the
 * link (io.h: tx_csum_offload). */
static void core_csum_offload(struct rs_core *c, int on)
{
	c->tx_csum_partial = (uint8_t)!!on;
	for (int i = 0; i < RS_TX_BATCH; i++)
		c->txf[i].csum_partial = c->tx_csum_partial;
}

int rs_core_io_open(struct rs_core *c, const struct rs_io_ops *io,
		    const struct rs_io_conf *io_conf)
{
	int err = 0;
	struct rs_io_conf conf;

	if (!io || !io->open || !io->rx_burst || !io->rx_release ||
	    !io->tx_burst || !io->mac || !io->close)
		return -EINVAL;
	conf = *io_conf;
	if (!conf.addr)
		conf.addr = c->ip;
	c->io_ops = io;
	c->io = io->open(&conf, &err);
	if (!c->io)
		return err ? err : -EIO;
	io->mac(c->io, c->mac);
	core_csum_offload(c, io->tx_csum_offload && io->tx_csum_offload(c->io));
	rs_tx_window(c);
	return 0;
}

/* A core whose I/O belongs to another process: receives nothing, every
 * transmitted frame is a drop (counted by the caller). */
static int none_rx(struct rs_io *io, struct rs_frame *f, int max)
{
	(void)io, (void)f, (void)max;
	return 0;
}
static void none_release(struct rs_io *io) { (void)io; }
static int none_tx(struct rs_io *io, const struct rs_frame *f, int n)
{
	(void)io, (void)f, (void)n;
	return 0;
}
static void none_mac(struct rs_io *io, uint8_t mac[6]) { (void)io, (void)mac; }
static void none_close(struct rs_io *io) { (void)io; }
static const struct rs_io_ops io_none = {
	.name = "none",
	.rx_burst = none_rx,
	.rx_release = none_release,
	.tx_burst = none_tx,
	.mac = none_mac,
	.close = none_close,
};

void rs_core_io_close(struct rs_core *c)
{
	c->io_ops->close(c->io);
	c->io_ops = &io_none;
	c->io = NULL;
	core_csum_offload(c, 0);
	c->txw_n = 0;
}

struct rs_core_io rs_core_io(const struct rs_core *c)
{
	return (struct rs_core_io){ .ops = c->io_ops, .io = c->io };
}

int rs_core_adopt(struct rs_core *c, const struct rs_io_ops *io,
		  const struct rs_io_conf *io_conf)
{
	int rc = rs_core_io_open(c, io, io_conf);

	if (rc)
		return rc;
	rs_sock_core_orphans(c);
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
	c = rs_mem_zalloc(s->arena, sizeof(*c));
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
	rs_list_init(&c->parkq);
	rs_list_init(&c->hidden);
	c->replay_tail = &c->replay;
	rs_pool_init(&c->pool, s->conf.max_buf_bytes, s->arena);
	if (core_alloc(c, s->conf.max_conns) != RS_OK) {
		core_free(c);
		*err = -ENOMEM;
		return NULL;
	}
	rc = rs_core_io_open(c, io, io_conf);
	if (rc) {
		core_free(c);
		*err = rc;
		return NULL;
	}
	rs_steer_attach(c);
	__atomic_store_n(&s->cores[index], c, __ATOMIC_RELEASE);
	return c;
}

void rs_core_destroy(struct rs_core *c)
{
	if (!c)
		return;
	/* what it has not accepted goes to the other cores (tcp_listen.c) */
	rs_tcp_listen_core_fini(c);
	rs_sock_core_fini(c);
	while (!rs_list_empty(&c->tcbs)) {
		struct rs_tcb *t = RS_CONTAINER(c->tcbs.next, struct rs_tcb,
						link);
		t->sock = NULL;
		t->fd = -1;
		rs_tcb_free(t);
	}
	while (c->tcb_free) {
		struct rs_tcb *t = c->tcb_free;
		c->tcb_free = (struct rs_tcb *)(void *)t->h.next;
		rs_mem_free(c->stack->arena, t);
	}
	rs_tw_fini(c);
	while (c->replay) {
		struct rs_pending *pf = c->replay;
		c->replay = pf->next;
		rs_mem_free(c->stack->arena, pf);
	}
	rs_pool_fini(&c->pool);
	__atomic_store_n(&c->stack->cores[c->index], NULL, __ATOMIC_RELEASE);
	c->io_ops->close(c->io);
	core_free(c);
}
