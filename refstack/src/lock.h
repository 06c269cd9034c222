/* The one lock of state shared between cores (and between processes when
 * the stack lives in a shared arena): a test-and-test-and-set spinlock in
 * one word, so it works in any memory the stack is placed in.  Every
 * acquisition is counted by the core that takes it: ctr points at four
 * adjacent per-core counters (RS_CORE_COUNTERS lists them as
 * lock_X_acquired, lock_X_contended, lock_X_wait_ns, lock_X_wait_max_ns):
 * acquisitions, those that had to wait, and the time waited, read from
 * the clock only when the lock was found taken. */
#ifndef RS_LOCK_H
#define RS_LOCK_H

#include <stdint.h>
#include <time.h>

#include "common.h"

struct rs_lock {
	uint32_t v;
};

enum { RS_LK_ACQUIRED, RS_LK_CONTENDED, RS_LK_WAIT_NS, RS_LK_WAIT_MAX_NS };

static inline void rs_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline uint64_t rs_lock_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The counters are written with the lock held: counters shared by every
 * user of a lock (the shared arena's) stay exact without atomics.  Out of
 * line (cold): the uncontended path stays a few instructions and its
 * callers keep their registers. */
static __attribute__((noinline, cold, unused)) void
rs_lock_wait(struct rs_lock *l, uint64_t *ctr)
{
	uint64_t t0 = rs_lock_clock(), w;

	do {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
			rs_cpu_relax();
	} while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE));
	w = rs_lock_clock() - t0;
	ctr[RS_LK_CONTENDED]++;
	ctr[RS_LK_WAIT_NS] += w;
	if (w > ctr[RS_LK_WAIT_MAX_NS])
		ctr[RS_LK_WAIT_MAX_NS] = w;
}

static inline void rs_lock_take(struct rs_lock *l, uint64_t *ctr)
{
	if (RS_UNLIKELY(__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)))
		rs_lock_wait(l, ctr);
	ctr[RS_LK_ACQUIRED]++;
}

static inline void rs_lock_give(struct rs_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

#endif
