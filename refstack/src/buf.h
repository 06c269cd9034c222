/* Byte rings for socket buffers and the per-core pool they come from.
 * A ring is allocated when data first needs it and returned to the pool
 * as soon as it is empty, so idle connections hold no buffer memory. */
#ifndef RS_BUF_H
#define RS_BUF_H

#include <stdint.h>

struct rs_ring {
	uint8_t *mem;     /* NULL while empty and unallocated */
	uint32_t cap;     /* bytes, set from SO_SNDBUF/SO_RCVBUF */
	uint32_t head;    /* offset of the first byte */
	uint32_t len;     /* bytes stored from head (in-order part) */
};

#define RS_POOL_CLASSES 4

struct rs_arena;

struct rs_bufpool {
	struct rs_arena *arena;
	uint64_t limit;   /* bytes that may be handed out */
	uint64_t used;    /* bytes handed out */
	struct {
		uint32_t size;
		void *free;   /* singly linked through the first word */
	} cls[RS_POOL_CLASSES];
};

void rs_pool_init(struct rs_bufpool *pool, uint64_t limit,
		  struct rs_arena *arena);
void rs_pool_fini(struct rs_bufpool *pool);
/* size bytes counted against the limit (NULL beyond it), and back. */
void *rs_pool_get(struct rs_bufpool *pool, uint32_t size);
void rs_pool_put(struct rs_bufpool *pool, void *p, uint32_t size);

/* Make sure the ring has memory; RS_ERROR when the pool is exhausted. */
int rs_ring_ensure(struct rs_ring *r, struct rs_bufpool *pool);
/* Give the memory back if the ring is empty (extra: bytes beyond len that
 * are still in use, e.g. out-of-order data). */
void rs_ring_release(struct rs_ring *r, struct rs_bufpool *pool);
/* A larger capacity, the bytes kept (cap >= len); RS_ERROR (unchanged)
 * when the pool has no memory for it. */
int rs_ring_grow(struct rs_ring *r, struct rs_bufpool *pool, uint32_t cap);
/* Copy n bytes at logical offset off (from head); off + n <= cap. */
void rs_ring_write_at(struct rs_ring *r, uint32_t off, const void *src,
		      uint32_t n);
void rs_ring_read_at(const struct rs_ring *r, uint32_t off, void *dst,
		     uint32_t n);
/* Drop n bytes from the head. */
void rs_ring_consume(struct rs_ring *r, uint32_t n);

#endif
