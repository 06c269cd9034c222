/* The one lock of state shared between cores (and between processes when
 * the stack lives in a shared arena): a test-and-test-and-set spinlock in
 * one word, so it works in any memory the stack is placed in.  Every
 * acquisition is counted by the core that takes it: ctr points at a pair
 * of adjacent per-core counters, [0] acquisitions, [1] those that had to
 * wait (RS_CORE_COUNTERS lists them as lock_X, lock_X_contended). */
#ifndef RS_LOCK_H
#define RS_LOCK_H

#include <stdint.h>

#include "common.h"

struct rs_lock {
	uint32_t v;
};

static inline void rs_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline void rs_lock_take(struct rs_lock *l, uint64_t *ctr)
{
	ctr[0]++;
	if (RS_LIKELY(!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)))
		return;
	ctr[1]++;
	do {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
			rs_cpu_relax();
	} while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE));
}

static inline void rs_lock_give(struct rs_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

#endif
