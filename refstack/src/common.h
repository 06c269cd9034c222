/* Small shared helpers: three-way returns, intrusive lists, sequence
 * arithmetic, byte order.  No state. */
#ifndef RS_COMMON_H
#define RS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { RS_OK = 0, RS_RETRY = 1, RS_ERROR = -1 };

#define RS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RS_CONTAINER(p, type, member)                                        \
	((type *)(void *)((char *)(p)-offsetof(type, member)))
#define RS_UNUSED(x) ((void)(x))
#define RS_LIKELY(x) __builtin_expect(!!(x), 1)
#define RS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Test points: a multi-step update of shared state calls
 * RS_TEST_POINT("name") between its steps; a test sets rs_test_point
 * (the shim does, from RS_TEST_DIE_AT) to stop the process right there,
 * as a SIGKILL at that instant would.  NULL otherwise: one load. */
extern void (*rs_test_point)(const char *where);
#define RS_TEST_POINT(w)                                                     \
	do {                                                                 \
		if (RS_UNLIKELY(rs_test_point != NULL))                      \
			rs_test_point(w);                                    \
	} while (0)

/* Doubly linked circular list (the kernel's list_head habit). */
struct rs_list {
	struct rs_list *next, *prev;
};

static inline void rs_list_init(struct rs_list *l) { l->next = l->prev = l; }
static inline int rs_list_empty(const struct rs_list *l)
{
	return l->next == l;
}
/* The forward chain changes in one store, ordered before the rest: a
 * process killed between two stores leaves a forward chain that is a list
 * (a shared lock's recovery rebuilds the prev links from it, lock.h). */
static inline void rs_list_add_tail(struct rs_list *head, struct rs_list *n)
{
	n->prev = head->prev;
	n->next = head;
	__atomic_store_n(&head->prev->next, n, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	head->prev = n;
}
static inline void rs_list_del(struct rs_list *n)
{
	__atomic_store_n(&n->prev->next, n->next, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	n->next->prev = n->prev;
	n->next = n->prev = n;
}
/* Every entry of from to the tail of head, from left empty (a core's own
 * lists only: not the one-store forward chain of the two above). */
static inline void rs_list_splice_tail(struct rs_list *head,
				       struct rs_list *from)
{
	if (rs_list_empty(from))
		return;
	from->next->prev = head->prev;
	from->prev->next = head;
	head->prev->next = from->next;
	head->prev = from->prev;
	rs_list_init(from);
}

/* TCP sequence space comparisons (RFC 9293 3.4). */
static inline int rs_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline int rs_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline int rs_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline int rs_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* Network byte order, through memcpy (any alignment) and one byte swap
 * on little-endian hosts: one load or store each, not four. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RS_BE16(v) __builtin_bswap16(v)
#define RS_BE32(v) __builtin_bswap32(v)
#else
#define RS_BE16(v) (v)
#define RS_BE32(v) (v)
#endif
static inline uint16_t rs_get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return RS_BE16(v);
}
static inline uint32_t rs_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return RS_BE32(v);
}
static inline void rs_put16(uint8_t *p, uint16_t v)
{
	v = RS_BE16(v);
	memcpy(p, &v, 2);
}
static inline void rs_put32(uint8_t *p, uint32_t v)
{
	v = RS_BE32(v);
	memcpy(p, &v, 4);
}

/* Internet checksum (RFC 1071): accumulate, then fold. */
uint64_t rs_csum_add(uint64_t sum, const void *data, uint32_t len)
	__attribute__((pure));
uint16_t rs_csum_fold(uint64_t sum);
/* The sum of a 20-byte header (IPv4 without options): five words. */
static inline uint64_t rs_csum_add20(const void *p)
{
	uint32_t w[5];

	memcpy(w, p, 20);
	return (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
}
/* Pseudo-header sum for TCP/UDP over IPv4 (addresses in host order). */
uint64_t rs_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
			uint32_t len);

#endif
