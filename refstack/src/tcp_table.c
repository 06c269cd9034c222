/* Connection tables.  The global one is a hash shared by all cores of a
 * stack with a spinlock per bucket (the stock-kernel baseline); a local
 * one is the same hash owned by one core, read and written only by its
 * thread, without locks (the local listen and established tables). */
#include <errno.h>

#include "arena.h"
#include "lock.h"
#include "table.h"

struct gtable {
	struct rs_arena *arena;
	uint32_t mask;
	uint32_t count;          /* atomic: buckets have their own locks */
	uint8_t locked;          /* 0: a core's own table */
	struct gbucket {
		struct rs_lock lock;
		struct rs_hnode *head;
	} *b;
};

static inline uint32_t ghash(uint32_t laddr, uint16_t lport, uint32_t raddr,
			     uint16_t rport)
{
	uint64_t h = ((uint64_t)raddr << 32 | laddr) * 0x9e3779b97f4a7c15ull;
	h ^= ((uint64_t)rport << 16 | lport) * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

static void *t_create(struct rs_arena *a, uint32_t buckets, int locked,
		      int *err)
{
	struct gtable *t = rs_mem_zalloc(a, sizeof(*t));
	uint32_t n = 1;

	while (n < buckets)
		n <<= 1;
	if (!t)
		goto error;
	t->arena = a;
	t->locked = (uint8_t)locked;
	t->b = rs_mem_zalloc(a, (size_t)n * sizeof(*t->b));
	if (!t->b)
		goto error;
	t->mask = n - 1;
	return t;
error:
	rs_mem_free(a, t);
	*err = -ENOMEM;
	return NULL;
}

static void *g_create(struct rs_arena *a, uint32_t buckets, int *err)
{
	return t_create(a, buckets, 1, err);
}

static void *l_create(struct rs_arena *a, uint32_t buckets, int *err)
{
	return t_create(a, buckets, 0, err);
}

static inline void b_lock(struct gtable *t, struct gbucket *b, uint64_t *lk)
{
	if (t->locked)
		rs_lock_take(&b->lock, lk);
}

static inline void b_unlock(struct gtable *t, struct gbucket *b)
{
	if (t->locked)
		rs_lock_give(&b->lock);
}

static void g_destroy(void *tp)
{
	struct gtable *t = tp;

	if (!t)
		return;
	rs_mem_free(t->arena, t->b);
	rs_mem_free(t->arena, t);
}

static inline int key_eq(const struct rs_hnode *n, uint32_t laddr,
			 uint16_t lport, uint32_t raddr, uint16_t rport)
{
	return n->lport == lport && n->rport == rport && n->laddr == laddr &&
	       n->raddr == raddr;
}

static struct gbucket *bucket_of(struct gtable *t, const struct rs_hnode *n)
{
	return &t->b[ghash(n->laddr, n->lport, n->raddr, n->rport) & t->mask];
}

static int g_insert(void *tp, struct rs_hnode *n, uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b = bucket_of(t, n);
	int rc = RS_OK;

	b_lock(t, b, lk);
	for (struct rs_hnode *x = b->head; x; x = x->next) {
		if (key_eq(x, n->laddr, n->lport, n->raddr, n->rport)) {
			rc = RS_ERROR;
			goto out;
		}
	}
	n->next = b->head;
	__atomic_store_n(&b->head, n, __ATOMIC_RELEASE); /* lock.h: last */
	__atomic_fetch_add(&t->count, 1, __ATOMIC_RELAXED);
out:
	b_unlock(t, b);
	return rc;
}

static void g_remove(void *tp, struct rs_hnode *n, uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b = bucket_of(t, n);

	b_lock(t, b, lk);
	for (struct rs_hnode **pp = &b->head; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			__atomic_store_n(pp, n->next, __ATOMIC_RELEASE);
			__atomic_fetch_sub(&t->count, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	n->next = NULL;
	b_unlock(t, b);
}

static struct rs_hnode *g_lookup(void *tp, uint32_t laddr, uint16_t lport,
				 uint32_t raddr, uint16_t rport,
				 unsigned *owner, uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b =
		&t->b[ghash(laddr, lport, raddr, rport) & t->mask];
	struct rs_hnode *x;

	b_lock(t, b, lk);
	for (x = b->head; x; x = x->next) {
		if (key_eq(x, laddr, lport, raddr, rport)) {
			*owner = x->core;
			break;
		}
	}
	b_unlock(t, b);
	return x;
}

static int g_with(void *tp, uint32_t laddr, uint16_t lport, uint32_t raddr,
		  uint16_t rport, rs_table_fn fn, void *arg, uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b =
		&t->b[ghash(laddr, lport, raddr, rport) & t->mask];
	struct rs_hnode *x;
	int rc;

	b_lock(t, b, lk);
	for (x = b->head; x; x = x->next)
		if (key_eq(x, laddr, lport, raddr, rport))
			break;
	rc = fn(x, arg);
	b_unlock(t, b);
	return rc;
}

static uint32_t g_count(void *tp)
{
	return __atomic_load_n(&((struct gtable *)tp)->count, __ATOMIC_RELAXED);
}

const struct rs_table_ops rs_table_global = {
	.name = "global",
	.create = g_create,
	.destroy = g_destroy,
	.insert = g_insert,
	.remove = g_remove,
	.lookup = g_lookup,
	.with = g_with,
	.count = g_count,
};

const struct rs_table_ops rs_table_local = {
	.name = "local",
	.create = l_create,
	.destroy = g_destroy,
	.insert = g_insert,
	.remove = g_remove,
	.lookup = g_lookup,
	.with = g_with,
	.count = g_count,
};
