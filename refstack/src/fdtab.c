/* The global descriptor table, as the kernel's files_struct: one array per
 * stack, the lowest free number allocated under one lock (a bitmap of
 * open numbers searched from a hint).  Lookups read the array without the
 * lock: a descriptor is only used by the thread of the core that owns it. */
#include <errno.h>

#include "arena.h"
#include "lock.h"
#include "table.h"

#define RS_FD_BASE 1   /* descriptor numbers start here */

struct gfd {
	struct rs_arena *arena;
	struct rs_lock lock;
	uint32_t max;
	uint32_t hint;   /* no free number below this index */
	uint64_t *open;  /* bitmap of used indexes */
	void **obj;
};

static void *f_create(struct rs_arena *a, uint32_t max, int *err)
{
	struct gfd *t = rs_mem_zalloc(a, sizeof(*t));

	if (!t)
		goto error;
	t->arena = a;
	t->obj = rs_mem_zalloc(a, (size_t)max * sizeof(void *));
	t->open = rs_mem_zalloc(a, ((size_t)max + 63) / 64 * sizeof(uint64_t));
	if (!t->obj || !t->open)
		goto error;
	t->max = max;
	return t;
error:
	if (t) {
		rs_mem_free(a, t->obj);
		rs_mem_free(a, t->open);
	}
	rs_mem_free(a, t);
	*err = -ENOMEM;
	return NULL;
}

static void f_destroy(void *tp)
{
	struct gfd *t = tp;

	if (!t)
		return;
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

static int f_alloc(void *tp, void *obj, uint64_t *lk)
{
	struct gfd *t = tp;
	int i;

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

static void f_release(void *tp, int fd, uint64_t *lk)
{
	struct gfd *t = tp;
	int i = fd - RS_FD_BASE;

	rs_lock_take(&t->lock, lk);
	__atomic_store_n(&t->obj[i], NULL, __ATOMIC_RELEASE);
	t->open[i / 64] &= ~(1ull << (i % 64));
	if ((uint32_t)i < t->hint)
		t->hint = (uint32_t)i;
	rs_lock_give(&t->lock);
}

static void *f_get(void *tp, int fd)
{
	struct gfd *t = tp;
	int i = fd - RS_FD_BASE;

	if (i < 0 || (uint32_t)i >= t->max)
		return NULL;
	return __atomic_load_n(&t->obj[i], __ATOMIC_ACQUIRE);
}

static uint32_t f_max(void *tp)
{
	return ((struct gfd *)tp)->max;
}

const struct rs_fd_ops rs_fd_global = {
	.name = "global",
	.create = f_create,
	.destroy = f_destroy,
	.alloc = f_alloc,
	.release = f_release,
	.get = f_get,
	.max = f_max,
};
