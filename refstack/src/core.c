/* A core context: its I/O backend, transmit batch, timers, and the poll
 * step that runs everything to completion in the caller's thread. */
#include <errno.h>
#include <stdlib.h>

#include "tcp.h"

uint8_t *rs_tx_buf(struct rs_core *c)
{
	if (RS_UNLIKELY(c->ntx == RS_TX_BATCH))
		rs_tx_flush(c);
	return c->txf[c->ntx].data;
}

void rs_tx_flush(struct rs_core *c)
{
	int n = c->ntx, sent = 0;

	if (!n)
		return;
	for (int tries = 0; tries < 2 && sent < n; tries++) {
		int r = c->io_ops->tx_burst(c->io, c->txf + sent, n - sent);
		if (r < 0)
			break;
		sent += r;
	}
	for (int i = 0; i < sent; i++)
		c->ctr.tx_bytes += c->txf[i].len;
	c->ctr.tx_frames += (uint64_t)sent;
	c->ctr.tx_ring_full += (uint64_t)(n - sent);
	c->ntx = 0;
}

void rs_handoff_push(struct rs_core *to, const struct rs_frame *f)
{
	const uint8_t *frame = f->data;
	uint32_t len = f->len;
	struct rs_handoff *h = &to->handoff;
	const struct rs_stack_conf *conf = &to->stack->conf;
	uint32_t before = 0;

	pthread_mutex_lock(&h->lock);
	before = h->n;
	if (h->q && h->n < RS_HANDOFF_MAX && len <= RS_FRAME_BUF) {
		memcpy(h->q[h->n].data, frame, len);
		h->q[h->n].len = len;
		h->q[h->n].csum_partial = f->csum_partial;
		h->n++;
	}
	pthread_mutex_unlock(&h->lock);
	if (!before && conf->kick) /* the owner sleeps at most until now */
		conf->kick(conf->kick_arg, to->index);
}

static void handoff_drain(struct rs_core *c)
{
	struct rs_handoff *h = &c->handoff;
	struct rs_pending *q;
	uint32_t n;

	if (!__atomic_load_n(&h->n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&h->lock);
	q = h->q;
	n = h->n;
	h->q = h->spare;
	h->spare = q;
	h->n = 0;
	pthread_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct rs_frame f = {.data = q[i].data, .len = q[i].len,
				     .csum_partial = q[i].csum_partial};
		rs_eth_input(c, &f);
	}
}

int rs_poll(struct rs_core *c, uint64_t now_ns)
{
	const struct rs_stack_conf *conf = &c->stack->conf;
	int n;

	if (now_ns > c->now)
		c->now = now_ns;
	c->ctr.polls++;
	n = c->io_ops->rx_burst(c->io, c->rxf, RS_RX_BURST);
	if (n < 0) {
		errno = EIO;
		return -1;
	}
	for (int i = 0; i < n; i++)
		rs_eth_input(c, &c->rxf[i]);
	c->cur_frame = NULL;
	if (n)
		c->io_ops->rx_release(c->io);
	if (conf->ncores > 1)
		handoff_drain(c);
	c->cur_frame = NULL;
	rs_tcp_timers_run(c);
	rs_tcp_run_outq(c);
	rs_tx_flush(c);
	if (conf->stats_publish && conf->publish && c->now >= c->next_publish) {
		c->next_publish = c->now + conf->publish_interval_ns;
		conf->publish(c, c->now, conf->publish_arg);
	}
	return n;
}

uint64_t rs_poll_at(const struct rs_core *c)
{
	if (!rs_list_empty(&c->outq) || c->ntx)
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

unsigned rs_core_index(const struct rs_core *c) { return c->index; }
struct rs_stack *rs_core_stack(const struct rs_core *c) { return c->stack; }

const struct rs_core_counters *rs_core_counters(const struct rs_core *c)
{
	return &c->ctr;
}

static int core_alloc(struct rs_core *c, uint32_t max_conns)
{
	c->txmem = malloc((size_t)RS_TX_BATCH * RS_FRAME_BUF);
	c->pending = malloc(sizeof(struct rs_pending) * RS_ARP_PENDING);
	if (c->stack->conf.ncores > 1) {
		c->handoff.q = malloc(sizeof(struct rs_pending) * RS_HANDOFF_MAX);
		c->handoff.spare =
			malloc(sizeof(struct rs_pending) * RS_HANDOFF_MAX);
		if (!c->handoff.q || !c->handoff.spare)
			return RS_ERROR;
	}
	if (!c->txmem || !c->pending)
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
	free(c->pending);
	free(c->handoff.q);
	free(c->handoff.spare);
	rs_timerq_fini(&c->tq);
	pthread_mutex_destroy(&c->handoff.lock);
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
	pthread_mutex_init(&c->handoff.lock, NULL);
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

void rs_sock_close_all(struct rs_core *c);

void rs_core_destroy(struct rs_core *c)
{
	if (!c)
		return;
	rs_sock_close_all(c);
	while (!rs_list_empty(&c->tcbs)) {
		struct rs_tcb *t = RS_CONTAINER(c->tcbs.next, struct rs_tcb,
						link);
		t->sock = NULL;
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
