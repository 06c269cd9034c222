/* Arenas.  The heap arena is libc's malloc (so that ASan sees every block).
 * A shared arena is one MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE mapping:
 * pages are only backed once touched, fork() children inherit it at the
 * same address.  Inside it: a bump pointer and one free list per
 * power-of-two size class, under one spinlock in the mapping itself (so
 * every process that shares it sees the same lock).  Blocks never move or
 * coalesce; the stack keeps per-core free lists on top (TCBs, TIME_WAIT
 * entries, sockets, buffers), so the hot path rarely reaches this lock. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../include/refstack.h"
#include "arena.h"
#include "lock.h"

#define ARENA_MAGIC 0x52534152454e4131ull /* "RSARENA1" */
#define ARENA_CLASSES 40                  /* 16 B << 0 .. 16 B << 39 */
#define BLOCK_MAGIC 0x52534231u

struct block {                 /* 16 bytes before every block */
	uint32_t magic;
	uint32_t cls;
	struct block *next;    /* on a free list */
};

struct rs_arena {
	uint64_t magic;
	struct rs_lock lock;
	uint64_t lockctr[5];   /* lock.h: acquisitions, contended, waits, recovered */
	size_t size;           /* bytes mapped */
	size_t top;            /* bump offset from the arena start */
	size_t in_use;         /* bytes in live blocks (with headers) */
	struct block *free[ARENA_CLASSES];
};

_Static_assert(sizeof(struct block) == 16, "16-byte block header");

struct rs_arena *rs_arena_create_shared(size_t bytes, int *err)
{
	struct rs_arena *a;
	size_t hdr = (sizeof(*a) + 63) & ~(size_t)63;

	rs_lock_init(); /* owner ids, before any fork */
	if (bytes < hdr + 4096) {
		*err = -EINVAL;
		return NULL;
	}
	a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	a->magic = ARENA_MAGIC;
	a->size = bytes;
	a->top = hdr;
	*err = 0;
	return a;
}

void rs_arena_destroy(struct rs_arena *a)
{
	if (a && a->magic == ARENA_MAGIC)
		munmap(a, a->size);
}

size_t rs_arena_in_use(const struct rs_arena *a)
{
	return a ? __atomic_load_n(&a->in_use, __ATOMIC_RELAXED) : 0;
}

uint64_t rs_arena_locks(const struct rs_arena *a)
{
	return a ? __atomic_load_n(&a->lockctr[0], __ATOMIC_RELAXED) : 0;
}

static unsigned class_of(size_t n)
{
	unsigned k = 0;

	while (k < ARENA_CLASSES - 1 && ((size_t)16 << k) < n)
		k++;
	return k;
}

static void *shared_alloc(struct rs_arena *a, size_t n, int *fresh)
{
	unsigned k = class_of(n);
	size_t sz = (size_t)16 << k;
	struct block *b = NULL;

	if (((size_t)16 << k) < n)
		return NULL;
	rs_lock_take(&a->lock, a->lockctr);
	/* one store takes a block (lock.h: a holder killed here leaks it) */
	if (a->free[k]) {
		b = a->free[k];
		__atomic_store_n(&a->free[k], b->next, __ATOMIC_RELEASE);
		*fresh = 0;
	} else if (a->top + sizeof(*b) + sz <= a->size) {
		b = (struct block *)(void *)((char *)a + a->top);
		__atomic_store_n(&a->top, a->top + sizeof(*b) + sz,
				 __ATOMIC_RELEASE);
		*fresh = 1; /* never touched: zero */
	}
	if (b)
		__atomic_store_n(&a->in_use, a->in_use + sizeof(*b) + sz,
				 __ATOMIC_RELAXED);
	rs_lock_give(&a->lock);
	if (!b)
		return NULL;
	b->magic = BLOCK_MAGIC;
	b->cls = k;
	b->next = NULL;
	return b + 1;
}

void *rs_mem_alloc(struct rs_arena *a, size_t n)
{
	int fresh;

	if (!a)
		return malloc(n ? n : 1);
	return shared_alloc(a, n, &fresh);
}

void *rs_mem_zalloc(struct rs_arena *a, size_t n)
{
	int fresh = 0;
	void *p;

	if (!a)
		return calloc(1, n ? n : 1);
	p = shared_alloc(a, n, &fresh);
	if (p && !fresh)
		memset(p, 0, n);
	return p;
}

void rs_mem_free(struct rs_arena *a, void *p)
{
	struct block *b;

	if (!p)
		return;
	if (!a) {
		free(p);
		return;
	}
	b = (struct block *)p - 1;
	if (b->magic != BLOCK_MAGIC || b->cls >= ARENA_CLASSES)
		abort(); /* not a block of this arena: memory corruption */
	rs_lock_take(&a->lock, a->lockctr);
	b->next = a->free[b->cls];
	__atomic_store_n(&a->free[b->cls], b, __ATOMIC_RELEASE); /* publishes b */
	__atomic_store_n(&a->in_use,
			 a->in_use - (sizeof(*b) + ((size_t)16 << b->cls)),
			 __ATOMIC_RELAXED);
	rs_lock_give(&a->lock);
}
