/* Allocation of everything a stack owns, in its arena (refstack.h): the
 * process heap by default, or a shared mapping made before fork.  Callers
 * pass the stack's arena (NULL = heap); nothing in the stack calls
 * malloc/free directly except the I/O backends' process-local state. */
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include <stddef.h>

struct rs_arena;

/* n bytes, 16-byte aligned, uninitialised; NULL when the arena is full. */
void *rs_mem_alloc(struct rs_arena *a, size_t n);
/* The same, zeroed. */
void *rs_mem_zalloc(struct rs_arena *a, size_t n);
/* Give back a block of rs_mem_alloc/zalloc (NULL is ignored). */
void rs_mem_free(struct rs_arena *a, void *p);

#endif
