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
	uint32_t count;          /* global: atomic (locks are per bucket) */
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

static void *t_create(struct rs_arena *a, uint32_t buckets, int *err)
{
	struct gtable *t = rs_mem_zalloc(a, sizeof(*t));
	uint32_t n = 1;

	while (n < buckets)
		n <<= 1;
	if (!t)
		goto error;
	t->arena = a;
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

/* The operations are written once with `locked` a constant: the local
 * table's copies (locked = 0) carry no lock code at all, so a lookup in a
 * core's own table is a hash and a walk (no spill of registers around a
 * lock that is never taken). */
static inline void b_lock(int locked, struct gbucket *b, uint64_t *lk)
{
	if (locked)
		rs_lock_take(&b->lock, lk);
}

static inline void b_unlock(int locked, struct gbucket *b)
{
	if (locked)
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

static inline void count_add(int locked, struct gtable *t, int32_t d)
{
	if (locked) /* buckets have their own locks */
		__atomic_fetch_add(&t->count, (uint32_t)d, __ATOMIC_RELAXED);
	else
		t->count += (uint32_t)d;
}

static inline int t_insert(int locked, void *tp, struct rs_hnode *n,
			   uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b = bucket_of(t, n);
	int rc = RS_OK;

	b_lock(locked, b, lk);
	for (struct rs_hnode *x = b->head; x; x = x->next) {
		if (key_eq(x, n->laddr, n->lport, n->raddr, n->rport)) {
			rc = RS_ERROR;
			goto out;
		}
	}
	n->next = b->head;
	__atomic_store_n(&b->head, n, __ATOMIC_RELEASE); /* lock.h: last */
	count_add(locked, t, 1);
out:
	b_unlock(locked, b);
	return rc;
}

static inline void t_remove(int locked, void *tp, struct rs_hnode *n,
			    uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b = bucket_of(t, n);

	b_lock(locked, b, lk);
	for (struct rs_hnode **pp = &b->head; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			__atomic_store_n(pp, n->next, __ATOMIC_RELEASE);
			count_add(locked, t, -1);
			break;
		}
	}
	n->next = NULL;
	b_unlock(locked, b);
}

static inline struct rs_hnode *t_lookup(int locked, void *tp, uint32_t laddr,
					uint16_t lport, uint32_t raddr,
					uint16_t rport, unsigned *owner,
					uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b =
		&t->b[ghash(laddr, lport, raddr, rport) & t->mask];
	struct rs_hnode *x;

	b_lock(locked, b, lk);
	for (x = b->head; x; x = x->next) {
		if (key_eq(x, laddr, lport, raddr, rport)) {
			*owner = x->core;
			break;
		}
	}
	b_unlock(locked, b);
	return x;
}

static inline int t_with(int locked, void *tp, uint32_t laddr, uint16_t lport,
			 uint32_t raddr, uint16_t rport, rs_table_fn fn,
			 void *arg, uint64_t *lk)
{
	struct gtable *t = tp;
	struct gbucket *b =
		&t->b[ghash(laddr, lport, raddr, rport) & t->mask];
	struct rs_hnode *x;
	int rc;

	b_lock(locked, b, lk);
	for (x = b->head; x; x = x->next)
		if (key_eq(x, laddr, lport, raddr, rport))
			break;
	rc = fn(x, arg);
	b_unlock(locked, b);
	return rc;
}

static uint32_t g_count(void *tp)
{
	return __atomic_load_n(&((struct gtable *)tp)->count, __ATOMIC_RELAXED);
}

static uint32_t l_count(void *tp)
{
	return ((struct gtable *)tp)->count;
}

/* the two sets of copies: lk is unused (NULL) in the local ones */
#define TABLE_OPS(P, LOCKED)                                                  \
	static int P##_insert(void *t, struct rs_hnode *n, uint64_t *lk)      \
	{                                                                     \
		return t_insert(LOCKED, t, n, lk);                            \
	}                                                                     \
	static void P##_remove(void *t, struct rs_hnode *n, uint64_t *lk)     \
	{                                                                     \
		t_remove(LOCKED, t, n, lk);                                   \
	}                                                                     \
	static struct rs_hnode *P##_lookup(void *t, uint32_t la, uint16_t lp, \
					   uint32_t ra, uint16_t rp,          \
					   unsigned *owner, uint64_t *lk)     \
	{                                                                     \
		return t_lookup(LOCKED, t, la, lp, ra, rp, owner, lk);        \
	}                                                                     \
	static int P##_with(void *t, uint32_t la, uint16_t lp, uint32_t ra,   \
			    uint16_t rp, rs_table_fn fn, void *arg,           \
			    uint64_t *lk)                                     \
	{                                                                     \
		return t_with(LOCKED, t, la, lp, ra, rp, fn, arg, lk);        \
	}
TABLE_OPS(g, 1)
TABLE_OPS(l, 0)

struct rs_hnode *rs_ltable_lookup(void *t, uint32_t laddr, uint16_t lport,
				  uint32_t raddr, uint16_t rport,
				  unsigned *owner)
{
	return t_lookup(0, t, laddr, lport, raddr, rport, owner, NULL);
}

const struct rs_table_ops rs_table_global = {
	.name = "global",
	.create = t_create,
	.destroy = g_destroy,
	.insert = g_insert,
	.remove = g_remove,
	.lookup = g_lookup,
	.with = g_with,
	.count = g_count,
};

const struct rs_table_ops rs_table_local = {
	.name = "local",
	.create = t_create,
	.destroy = g_destroy,
	.insert = l_insert,
	.remove = l_remove,
	.lookup = l_lookup,
	.with = l_with,
	.count = l_count,
};
