/* Byte rings and the per-core buffer pool. */
#include "arena.h"
#include "buf.h"
#include "common.h"

void rs_pool_init(struct rs_bufpool *pool, uint64_t limit,
		  struct rs_arena *arena)
{
	memset(pool, 0, sizeof(*pool));
	pool->limit = limit;
	pool->arena = arena;
}

void rs_pool_fini(struct rs_bufpool *pool)
{
	for (unsigned i = 0; i < RS_POOL_CLASSES; i++) {
		void *p = pool->cls[i].free;
		while (p) {
			void *next;
			memcpy(&next, p, sizeof(next));
			rs_mem_free(pool->arena, p);
			p = next;
		}
		pool->cls[i].free = NULL;
	}
}

void *rs_pool_get(struct rs_bufpool *pool, uint32_t size)
{
	void *p;

	if (pool->used + size > pool->limit)
		return NULL;
	for (unsigned i = 0; i < RS_POOL_CLASSES; i++) {
		if (pool->cls[i].size == size && pool->cls[i].free) {
			p = pool->cls[i].free;
			memcpy(&pool->cls[i].free, p, sizeof(void *));
			pool->used += size;
			return p;
		}
	}
	p = rs_mem_alloc(pool->arena, size);
	if (p)
		pool->used += size;
	return p;
}

void rs_pool_put(struct rs_bufpool *pool, void *p, uint32_t size)
{
	pool->used -= size;
	for (unsigned i = 0; i < RS_POOL_CLASSES; i++) {
		if (pool->cls[i].size == 0)
			pool->cls[i].size = size;
		if (pool->cls[i].size == size) {
			memcpy(p, &pool->cls[i].free, sizeof(void *));
			pool->cls[i].free = p;
			return;
		}
	}
	rs_mem_free(pool->arena, p);
}

int rs_ring_ensure(struct rs_ring *r, struct rs_bufpool *pool)
{
	if (r->mem)
		return RS_OK;
	r->mem = rs_pool_get(pool, r->cap);
	r->head = 0;
	return r->mem ? RS_OK : RS_ERROR;
}

void rs_ring_release(struct rs_ring *r, struct rs_bufpool *pool)
{
	if (!r->mem)
		return;
	rs_pool_put(pool, r->mem, r->cap);
	r->mem = NULL;
	r->head = 0;
	r->len = 0;
}

int rs_ring_grow(struct rs_ring *r, struct rs_bufpool *pool, uint32_t cap)
{
	uint8_t *m;

	if (!r->mem) {
		r->cap = cap;
		return RS_OK;
	}
	m = rs_pool_get(pool, cap);
	if (!m)
		return RS_ERROR;
	rs_ring_read_at(r, 0, m, r->len);
	rs_pool_put(pool, r->mem, r->cap);
	r->mem = m;
	r->head = 0;
	r->cap = cap;
	return RS_OK;
}

void rs_ring_write_at(struct rs_ring *r, uint32_t off, const void *src,
		      uint32_t n)
{
	uint32_t pos = r->head + off;
	uint32_t first;

	if (pos >= r->cap)
		pos -= r->cap;
	first = RS_MIN(n, r->cap - pos);
	memcpy(r->mem + pos, src, first);
	if (n > first)
		memcpy(r->mem, (const uint8_t *)src + first, n - first);
}

void rs_ring_read_at(const struct rs_ring *r, uint32_t off, void *dst,
		     uint32_t n)
{
	uint32_t pos = r->head + off;
	uint32_t first;

	if (pos >= r->cap)
		pos -= r->cap;
	first = RS_MIN(n, r->cap - pos);
	memcpy(dst, r->mem + pos, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, r->mem, n - first);
}

void rs_ring_consume(struct rs_ring *r, uint32_t n)
{
	r->head += n;
	if (r->head >= r->cap)
		r->head -= r->cap;
	r->len -= n;
}
