/* memif: an in-process ring pair joining two cores.  Ring s carries the
 * frames sent by side s; each ring is single-producer single-consumer
 * (safe across two threads).  A frame's csum_partial flag travels with it,
 * as a veth passes a checksum left to offload.  A test hook may drop, duplicate or delay
 * frames; delayed frames are released by the pair's virtual clock (that
 * path is for single-threaded tests).  Pairs joined in a group are the
 * queues of one link, and a sent frame goes to the queue the receiving
 * stack's classifier picks (steer.h), as RSS or RFD would steer it.
 * A lone pair without a filter lets the sender build its frames in the
 * free slots after the ring's tail (tx_window): sending them is then
 * publishing their lengths and the new tail, with no copy. */
#include <errno.h>
#include <stdlib.h>

#include "../include/refstack.h"
#include "arena.h"
#include "common.h"
#include "io.h"
#include "lock.h"
#include "steer.h"

#define MEMIF_PARTIAL (1u << 31) /* in lens[]: csum_partial */

struct memif_ring {
	struct rs_lock lock; /* grouped: several senders */
	uint32_t head;  /* consumer */
	uint32_t tail;  /* producer */
	uint32_t *lens; /* length | MEMIF_PARTIAL */
	uint8_t *slots;
};

struct memif_delayed {
	struct memif_delayed *next;
	uint64_t due;
	uint32_t len;
	uint32_t partial;
	uint8_t data[];
};

struct memif_group {
	struct rs_arena *arena;
	unsigned n, live;
	struct rs_memif_pair *pairs[64];
	/* the classifier of the stack that receives on side s */
	const struct rs_steer *steer[2];
};

struct rs_memif_pair {
	struct rs_arena *arena;
	struct memif_group *group;
	unsigned gindex;
	uint32_t nslots;        /* power of two */
	uint32_t slot_size;
	struct memif_ring ring[2];
	struct memif_delayed *delayed[2]; /* by sending side */
	rs_memif_filter_fn filter;
	void *filter_arg;
	uint64_t clock;
	uint8_t csum_offload;   /* rs_memif_set_csum_offload */
	struct rs_io *open[2];
};

struct rs_io {
	struct rs_memif_pair *pair;
	unsigned side;
	uint32_t rx_taken;
};

struct rs_memif_pair *rs_memif_pair_create(unsigned ring_frames,
					   unsigned frame_size)
{
	return rs_memif_pair_create_in(NULL, ring_frames, frame_size);
}

struct rs_memif_pair *rs_memif_pair_create_in(struct rs_arena *a,
					      unsigned ring_frames,
					      unsigned frame_size)
{
	struct rs_memif_pair *p = rs_mem_zalloc(a, sizeof(*p));
	uint32_t n = 1;

	if (!p)
		return NULL;
	p->arena = a;
	if (!ring_frames)
		ring_frames = 1024;
	while (n < ring_frames)
		n <<= 1;
	p->nslots = n;
	p->slot_size = frame_size ? frame_size : 2048;
	for (int s = 0; s < 2; s++) {
		p->ring[s].lens = rs_mem_zalloc(a, n * sizeof(uint32_t));
		p->ring[s].slots = rs_mem_alloc(a, (size_t)n * p->slot_size);
		if (!p->ring[s].lens || !p->ring[s].slots) {
			rs_memif_pair_destroy(p);
			return NULL;
		}
	}
	return p;
}

void rs_memif_pair_destroy(struct rs_memif_pair *p)
{
	if (!p)
		return;
	if (p->group && --p->group->live == 0)
		rs_mem_free(p->group->arena, p->group);
	for (int s = 0; s < 2; s++) {
		rs_mem_free(p->arena, p->ring[s].lens);
		rs_mem_free(p->arena, p->ring[s].slots);
		while (p->delayed[s]) {
			struct memif_delayed *d = p->delayed[s];
			p->delayed[s] = d->next;
			free(d);
		}
	}
	rs_mem_free(p->arena, p);
}

void rs_memif_set_csum_offload(struct rs_memif_pair *p, int on)
{
	p->csum_offload = (uint8_t)!!on;
}

void rs_memif_set_filter(struct rs_memif_pair *p, rs_memif_filter_fn fn,
			 void *arg)
{
	p->filter = fn;
	p->filter_arg = arg;
}

void rs_memif_set_clock(struct rs_memif_pair *p, uint64_t now_ns)
{
	p->clock = now_ns;
}

int rs_memif_pair_group(struct rs_memif_pair **pairs, unsigned n)
{
	struct memif_group *g;

	if (!n || n > 64)
		return -EINVAL;
	for (unsigned k = 0; k < n; k++)
		if (!pairs[k] || pairs[k]->group)
			return -EINVAL;
	g = rs_mem_zalloc(pairs[0]->arena, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->arena = pairs[0]->arena;
	g->n = g->live = n;
	for (unsigned k = 0; k < n; k++) {
		g->pairs[k] = pairs[k];
		pairs[k]->group = g;
		pairs[k]->gindex = k;
	}
	return 0;
}

/* The pair whose ring carries a frame sent on side `side` of p. */
static struct rs_memif_pair *memif_target(struct rs_memif_pair *p,
					  unsigned side, const uint8_t *data,
					  uint32_t len)
{
	struct memif_group *g = p->group;
	const struct rs_steer *s;
	uint32_t q;

	if (!g)
		return p;
	s = __atomic_load_n(&g->steer[side ^ 1], __ATOMIC_ACQUIRE);
	if (!s)
		return p;
	q = rs_steer_frame(s, data, data + len);
	if (q == RS_STEER_ANY) /* ARP, ICMP: queue 0, as the fanout program */
		q = 0;
	return q < g->n ? g->pairs[q] : p;
}

/* A grouped ring has several writers (the cores of one stack) */
static __attribute__((noinline)) void ring_lock(struct memif_ring *r)
{
	uint64_t lk[5] = {0}; /* not a stack lock: uncounted */

	rs_lock_take(&r->lock, lk);
}

/* inline in the transmit loop: a call per frame would save and restore
 * the loop's registers around the copy */
static inline __attribute__((always_inline)) int
ring_put(struct rs_memif_pair *p, struct memif_ring *r, const uint8_t *data,
	 uint32_t len, uint32_t partial)
{
	uint32_t tail, head, i;
	int rc = RS_RETRY;

	if (p->group)
		ring_lock(r);
	tail = r->tail;
	head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (tail - head < p->nslots) {
		uint8_t *slot;
		i = tail & (p->nslots - 1);
		slot = r->slots + (size_t)i * p->slot_size;
		if (data != slot) /* else built in place (memif_tx_window) */
			memcpy(slot, data, len);
		r->lens[i] = len | partial;
		__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
		rc = RS_OK;
	}
	if (p->group)
		rs_lock_give(&r->lock);
	return rc;
}

static struct rs_io *memif_open(const struct rs_io_conf *conf, int *err)
{
	struct rs_memif_pair *p = conf ? conf->peer : NULL;
	struct rs_io *io;

	if (!p || conf->queue > 1 || p->open[conf->queue]) {
		*err = -EINVAL;
		return NULL;
	}
	io = calloc(1, sizeof(*io));
	if (!io) {
		*err = -ENOMEM;
		return NULL;
	}
	io->pair = p;
	io->side = conf->queue;
	p->open[io->side] = io;
	return io;
}

/* Move the due delayed frames sent by the peer into our rx ring. */
static void release_delayed(struct rs_memif_pair *p, unsigned from)
{
	struct memif_delayed **pp = &p->delayed[from];

	while (*pp) {
		struct memif_delayed *d = *pp;
		if (d->due <= p->clock &&
		    ring_put(p, &p->ring[from], d->data, d->len, d->partial) ==
			    RS_OK) {
			*pp = d->next;
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

static int memif_rx_burst(struct rs_io *io, struct rs_frame *frames, int max)
{
	struct rs_memif_pair *p = io->pair;
	unsigned from = io->side ^ 1;
	struct memif_ring *r = &p->ring[from];
	uint32_t head = r->head, tail, n;

	if (p->delayed[from])
		release_delayed(p, from);
	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	n = RS_MIN(tail - head, (uint32_t)max);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (head + k) & (p->nslots - 1);
		frames[k].data = r->slots + (size_t)i * p->slot_size;
		frames[k].len = r->lens[i] & ~MEMIF_PARTIAL;
		frames[k].csum_partial = !!(r->lens[i] & MEMIF_PARTIAL);
	}
	io->rx_taken = n;
	return (int)n;
}

static void memif_rx_release(struct rs_io *io)
{
	struct memif_ring *r = &io->pair->ring[io->side ^ 1];

	__atomic_store_n(&r->head, r->head + io->rx_taken, __ATOMIC_RELEASE);
	io->rx_taken = 0;
}

static int delay_frame(struct rs_memif_pair *p, unsigned side,
		       const struct rs_frame *f, uint64_t delay)
{
	struct memif_delayed *d = malloc(sizeof(*d) + f->len), **pp;

	if (!d)
		return RS_RETRY;
	d->next = NULL;
	d->due = p->clock + delay;
	d->len = f->len;
	d->partial = f->csum_partial ? MEMIF_PARTIAL : 0;
	memcpy(d->data, f->data, f->len);
	for (pp = &p->delayed[side]; *pp; pp = &(*pp)->next)
		;
	*pp = d;
	return RS_OK;
}

/* Frames built in the ring's free slots meet a filter (set after they
 * were built): the filter may drop, delay or duplicate, so they no longer
 * land where they were built - copied out first. */
static const struct rs_frame *unwindow(struct rs_memif_pair *p,
				       unsigned side,
				       const struct rs_frame *frames, int n,
				       struct rs_frame *copy, uint8_t **mem)
{
	const uint8_t *lo = p->ring[side].slots;
	const uint8_t *hi = lo + (size_t)p->nslots * p->slot_size;

	*mem = NULL;
	for (int i = 0; i < n; i++)
		if (frames[i].data >= lo && frames[i].data < hi)
			goto copy;
	return frames;
copy:
	*mem = malloc((size_t)n * RS_FRAME_BUF);
	if (!*mem)
		return frames;
	for (int i = 0; i < n; i++) {
		copy[i] = frames[i];
		copy[i].data = *mem + (size_t)i * RS_FRAME_BUF;
		memcpy(copy[i].data, frames[i].data,
		       RS_MIN(frames[i].len, (uint32_t)RS_FRAME_BUF));
	}
	return copy;
}

/* A lone pair without a filter: every frame to the one ring, in order,
 * the tail published once. */
static int tx_lone(struct rs_memif_pair *p, struct memif_ring *r,
		   const struct rs_frame *frames, int n)
{
	uint32_t tail = r->tail;
	uint32_t room = p->nslots - (tail - __atomic_load_n(&r->head,
							     __ATOMIC_ACQUIRE));
	int i;

	for (i = 0; i < n; i++) {
		const struct rs_frame *f = &frames[i];
		uint32_t k = tail & (p->nslots - 1);
		uint8_t *slot = r->slots + (size_t)k * p->slot_size;

		if (f->len > p->slot_size)
			continue; /* oversize: dropped, like a real link */
		if (!room--)
			break;
		if (f->data != slot) /* else built in place (memif_tx_window) */
			memcpy(slot, f->data, f->len);
		r->lens[k] = f->len | (f->csum_partial ? MEMIF_PARTIAL : 0);
		tail++;
	}
	__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
	return i;
}

static int memif_tx_burst(struct rs_io *io, const struct rs_frame *frames,
			  int n)
{
	struct rs_memif_pair *p = io->pair;
	struct rs_frame copy[RS_TX_BATCH];
	uint8_t *mem = NULL;
	int i;

	if (RS_LIKELY(!p->group && !p->filter))
		return tx_lone(p, &p->ring[io->side], frames, n);
	if (p->filter && n <= RS_TX_BATCH)
		frames = unwindow(p, io->side, frames, n, copy, &mem);
	for (i = 0; i < n; i++) {
		const struct rs_frame *f = &frames[i];
		struct rs_memif_pair *to = memif_target(p, io->side, f->data,
							f->len);
		struct memif_ring *r = &to->ring[io->side];
		uint64_t delay = 0;
		int v = RS_MEMIF_PASS;

		if (f->len > p->slot_size)
			continue; /* oversize: dropped, like a real link */
		if (p->filter)
			v = p->filter(p->filter_arg, io->side, f->data, f->len,
				      &delay);
		if (v == RS_MEMIF_DROP)
			continue;
		if (v == RS_MEMIF_DELAY || (v == RS_MEMIF_DUP && delay)) {
			if (delay_frame(p, io->side, f, delay) != RS_OK)
				break;
			if (v == RS_MEMIF_DUP)
				(void)delay_frame(p, io->side, f, delay);
			continue;
		}
		uint32_t partial = f->csum_partial ? MEMIF_PARTIAL : 0;
		if (ring_put(to, r, f->data, f->len, partial) != RS_OK)
			break;
		if (v == RS_MEMIF_DUP)
			(void)ring_put(to, r, f->data, f->len, partial);
	}
	free(mem);
	return i;
}

/* The free slots after the tail of the ring this side sends on, up to
 * the ring's end (io.h): only for a lone pair without a filter, whose
 * frames land in order exactly there. */
static int memif_tx_window(struct rs_io *io, uint8_t **base, uint32_t *stride)
{
	struct rs_memif_pair *p = io->pair;
	struct memif_ring *r = &p->ring[io->side];
	uint32_t tail = r->tail, i = tail & (p->nslots - 1), n;

	if (p->group || p->filter || p->delayed[io->side] ||
	    p->slot_size < RS_FRAME_BUF)
		return 0;
	n = p->nslots - (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE));
	n = RS_MIN(n, p->nslots - i);
	*base = r->slots + (size_t)i * p->slot_size;
	*stride = p->slot_size;
	return (int)RS_MIN(n, (uint32_t)RS_TX_BATCH);
}

/* Grouped pairs: frames for this side go where s says from now on. */
static int memif_steer(struct rs_io *io, const struct rs_steer *s, int port)
{
	RS_UNUSED(port);
	if (io->pair->group)
		__atomic_store_n(&io->pair->group->steer[io->side], s,
				 __ATOMIC_RELEASE);
	return 0;
}

static int memif_tx_csum_offload(struct rs_io *io)
{
	return io->pair->csum_offload;
}

static int memif_wait_fd(struct rs_io *io)
{
	RS_UNUSED(io);
	return -1;
}

static void memif_mac(struct rs_io *io, uint8_t mac[6])
{
	static const uint8_t base[6] = {0x02, 0, 0, 0, 0, 0};

	memcpy(mac, base, 6);
	mac[5] = (uint8_t)(io->side + 1);
}

static void memif_close(struct rs_io *io)
{
	if (!io)
		return;
	io->pair->open[io->side] = NULL;
	if (io->pair->group) /* its stack's classifier goes with its cores */
		__atomic_store_n(&io->pair->group->steer[io->side], NULL,
				 __ATOMIC_RELEASE);
	free(io);
}

const struct rs_io_ops rs_io_memif = {
	.name = "memif",
	.open = memif_open,
	.rx_burst = memif_rx_burst,
	.rx_release = memif_rx_release,
	.tx_burst = memif_tx_burst,
	.tx_csum_offload = memif_tx_csum_offload,
	.tx_window = memif_tx_window,
	.wait_fd = memif_wait_fd,
	.steer = memif_steer,
	.mac = memif_mac,
	.close = memif_close,
};
