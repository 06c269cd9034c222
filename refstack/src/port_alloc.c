/* Global local-port allocator: bind/listen reference counts per port under
 * one lock; connect searches ephemeral ports from a keyed starting point
 * (RFC 6056 algorithm 3, simplified). */
#include <errno.h>

#include "arena.h"
#include "lock.h"
#include "table.h"

struct gports {
	struct rs_arena *arena;
	struct rs_lock lock;
	uint16_t lo, hi;
	uint64_t seed;
	uint32_t next;           /* rotating offset for connect */
	uint32_t next_bind;
	uint16_t refs[65536];    /* binds per port */
	uint8_t reuse[65536];    /* all holders set SO_REUSEADDR */
};

static void *p_create(struct rs_arena *a, uint16_t lo, uint16_t hi,
		      uint64_t seed, int *err)
{
	struct gports *p;

	if (lo == 0 || hi < lo) {
		*err = -EINVAL;
		return NULL;
	}
	p = rs_mem_zalloc(a, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->arena = a;
	p->lo = lo;
	p->hi = hi;
	p->seed = seed;
	return p;
}

static void p_destroy(void *pp)
{
	struct gports *p = pp;

	if (!p)
		return;
	rs_mem_free(p->arena, p);
}

static int pick_free(struct gports *p)
{
	uint32_t n = (uint32_t)(p->hi - p->lo) + 1;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(p->lo + (p->next_bind + i) % n);
		if (p->refs[port] == 0) {
			p->next_bind += i + 1;
			return port;
		}
	}
	return -EADDRNOTAVAIL;
}

static int p_bind(void *pp, uint16_t port, int reuse, uint64_t *lk)
{
	struct gports *p = pp;
	int rc;

	rs_lock_take(&p->lock, lk);
	if (port == 0) {
		rc = pick_free(p);
		if (rc < 0)
			goto out;
		port = (uint16_t)rc;
	} else if (p->refs[port] && !(reuse && p->reuse[port])) {
		rc = -EADDRINUSE;
		goto out;
	}
	if (p->refs[port] == 0)
		p->reuse[port] = (uint8_t)!!reuse;
	__atomic_store_n(&p->refs[port], p->refs[port] + 1, __ATOMIC_RELAXED);
	rc = port;
out:
	rs_lock_give(&p->lock);
	return rc;
}

static void p_unbind(void *pp, uint16_t port, uint64_t *lk)
{
	struct gports *p = pp;

	rs_lock_take(&p->lock, lk);
	if (p->refs[port])
		__atomic_store_n(&p->refs[port], p->refs[port] - 1,
				 __ATOMIC_RELAXED);
	rs_lock_give(&p->lock);
}

static void p_range(void *pp, uint32_t raddr, uint16_t rport, uint16_t *lo,
		    uint16_t *hi, uint32_t *start)
{
	struct gports *p = pp;
	uint64_t h = (((uint64_t)raddr << 16) ^ rport ^ p->seed) *
		     0x9e3779b97f4a7c15ull;

	*lo = p->lo;
	*hi = p->hi;
	*start = (uint32_t)(h >> 40) + __atomic_fetch_add(&p->next, 1,
							   __ATOMIC_RELAXED);
}

static int p_bound(void *pp, uint16_t port)
{
	struct gports *p = pp;

	return __atomic_load_n(&p->refs[port], __ATOMIC_RELAXED) != 0;
}

const struct rs_port_ops rs_port_global = {
	.name = "global",
	.create = p_create,
	.destroy = p_destroy,
	.bind = p_bind,
	.unbind = p_unbind,
	.range = p_range,
	.bound = p_bound,
};
