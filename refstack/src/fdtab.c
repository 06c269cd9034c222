/* Descriptor tables.  Base, as the kernel's files_struct: one array per
 * stack, the lowest free number allocated under one lock (a bitmap of
 * open numbers searched from a hint).  fastfd: the same array cut into
 * one range per core, each core allocating from its own pool (never
 * used numbers first, then the most recently freed: a stack of free
 * numbers) without a lock, as mTCP's per-core socket pools and MegaPipe's
 * lightweight sockets do.  A descriptor is only valid on the core that
 * owns it, so with fastfd every core numbers its own 1..max_sockets
 * (core k's number n is index k * max_sockets + n - 1): a program sizing a
 * per-core table by max_sockets, as the kernel's RLIMIT_NOFILE, holds
 * every number.  Lookups read the array without a lock either way: a
 * descriptor is only used by the thread of the core that owns it. */
#include <errno.h>

#include "arena.h"
#include "lock.h"
#include "table.h"

#define RS_FD_BASE 1   /* descriptor numbers start here */

/* A core's pool (fastfd): indexes [base, base + per).  Padded to a cache
 * line, not aligned: the arena's allocations are 16-byte aligned. */
struct fdpool {
	uint32_t fresh;  /* indexes never handed out start here */
	uint32_t nfree;
	uint32_t *free;  /* freed indexes, a stack */
	char pad[64 - 2 * sizeof(uint32_t) - sizeof(uint32_t *)];
};

struct gfd {
	struct rs_arena *arena;
	struct rs_lock lock;
	uint32_t max;
	uint32_t hint;   /* no free number below this index */
	uint64_t *open;  /* bitmap of used indexes */
	void **obj;
	uint32_t per;    /* fastfd: numbers per core */
	unsigned ncores;
	struct fdpool *pool;
};

static void f_destroy(void *tp);

static void *t_create(struct rs_arena *a, uint32_t per, unsigned ncores,
		      int pools, int *err)
{
	struct gfd *t = rs_mem_zalloc(a, sizeof(*t));
	uint32_t max = per * ncores;

	if (!t)
		goto error;
	t->arena = a;
	t->max = max;
	t->per = per;
	t->ncores = ncores;
	t->obj = rs_mem_zalloc(a, (size_t)max * sizeof(void *));
	t->open = rs_mem_zalloc(a, ((size_t)max + 63) / 64 * sizeof(uint64_t));
	if (!t->obj || !t->open)
		goto error;
	if (pools) {
		t->pool = rs_mem_zalloc(a, ncores * sizeof(*t->pool));
		if (!t->pool)
			goto error;
		for (unsigned i = 0; i < ncores; i++) {
			t->pool[i].fresh = i * per;
			t->pool[i].free = rs_mem_alloc(a, per * sizeof(uint32_t));
			if (!t->pool[i].free)
				goto error;
		}
	}
	return t;
error:
	f_destroy(t);
	*err = -ENOMEM;
	return NULL;
}

static void *f_create(struct rs_arena *a, uint32_t per, unsigned ncores,
		      int *err)
{
	return t_create(a, per, ncores, 0, err);
}

static void *p_create(struct rs_arena *a, uint32_t per, unsigned ncores,
		      int *err)
{
	return t_create(a, per, ncores, 1, err);
}

static void f_destroy(void *tp)
{
	struct gfd *t = tp;

	if (!t)
		return;
	for (unsigned i = 0; t->pool && i < t->ncores; i++)
		rs_mem_free(t->arena, t->pool[i].free);
	rs_mem_free(t->arena, t->pool);
	rs_mem_free(t->arena, t->obj);
	rs_mem_free(t->arena, t->open);
	rs_mem_free(t->arena, t);
}

/* Lowest clear bit at or after the hint, or -1. */
static int lowest_free(const struct gfd *t)
{
	for (uint32_t w = t->hint / 64; w < (t->max + 63) / 64; w++) {
		uint64_t used = t->open[w];
		if (w == t->hint / 64)
			used |= (1ull << (t->hint % 64)) - 1;
		if (~used) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(~used);
			return i < t->max ? (int)i : -1;
		}
	}
	return -1;
}

static int f_alloc(void *tp, unsigned core, void *obj, uint64_t *lk)
{
	struct gfd *t = tp;
	int i;

	(void)core;
	rs_lock_take(&t->lock, lk);
	i = lowest_free(t);
	if (i >= 0) {
		t->open[i / 64] |= 1ull << (i % 64);
		__atomic_store_n(&t->obj[i], obj, __ATOMIC_RELEASE);
		t->hint = (uint32_t)i + 1;
	}
	rs_lock_give(&t->lock);
	return i < 0 ? -1 : i + RS_FD_BASE;
}

static void f_release(void *tp, unsigned core, int fd, uint64_t *lk)
{
	struct gfd *t = tp;
	int i = fd - RS_FD_BASE;

	(void)core;
	rs_lock_take(&t->lock, lk);
	__atomic_store_n(&t->obj[i], NULL, __ATOMIC_RELEASE);
	t->open[i / 64] &= ~(1ull << (i % 64));
	if ((uint32_t)i < t->hint)
		t->hint = (uint32_t)i;
	rs_lock_give(&t->lock);
}

static int p_alloc(void *tp, unsigned core, void *obj, uint64_t *lk)
{
	struct gfd *t = tp;
	struct fdpool *p = &t->pool[core];
	uint32_t i;

	(void)lk;
	if (p->nfree)
		i = p->free[--p->nfree];
	else if (p->fresh < (core + 1) * t->per)
		i = p->fresh++;
	else
		return -1;
	__atomic_store_n(&t->obj[i], obj, __ATOMIC_RELEASE);
	return (int)(i - core * t->per) + RS_FD_BASE;
}

static void p_release(void *tp, unsigned core, int fd, uint64_t *lk)
{
	struct gfd *t = tp;
	struct fdpool *p = &t->pool[core];
	uint32_t i = core * t->per + (uint32_t)(fd - RS_FD_BASE);

	(void)lk;
	__atomic_store_n(&t->obj[i], NULL, __ATOMIC_RELEASE);
	p->free[p->nfree++] = i;
}

static void *t_get(const struct gfd *t, uint32_t base, uint32_t n, int fd)
{
	int i = fd - RS_FD_BASE;

	if (i < 0 || (uint32_t)i >= n)
		return NULL;
	return __atomic_load_n(&t->obj[base + (uint32_t)i], __ATOMIC_ACQUIRE);
}

static void *f_get(void *tp, unsigned core, int fd)
{
	const struct gfd *t = tp;

	(void)core;
	return t_get(t, 0, t->max, fd);
}

static void *p_get(void *tp, unsigned core, int fd)
{
	const struct gfd *t = tp;

	return core < t->ncores ? t_get(t, core * t->per, t->per, fd) : NULL;
}

static uint32_t f_max(void *tp)
{
	return ((struct gfd *)tp)->max;
}

static uint32_t p_max(void *tp)
{
	return ((struct gfd *)tp)->per;
}

const struct rs_fd_ops rs_fd_local = {
	.name = "per-core pools",
	.create = p_create,
	.destroy = f_destroy,
	.alloc = p_alloc,
	.release = p_release,
	.get = p_get,
	.max = p_max,
};

const struct rs_fd_ops rs_fd_global = {
	.name = "global",
	.create = f_create,
	.destroy = f_destroy,
	.alloc = f_alloc,
	.release = f_release,
	.get = f_get,
	.max = f_max,
};
