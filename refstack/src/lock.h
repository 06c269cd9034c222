/* The one lock of state shared between cores (and between processes when
 * the stack lives in a shared arena): a test-and-test-and-set spinlock in
 * one word, so it works in any memory the stack is placed in.  Every
 * acquisition is counted by the core that takes it: ctr points at five
 * adjacent per-core counters (RS_CORE_COUNTERS lists them as
 * lock_X_acquired, lock_X_contended, lock_X_wait_ns, lock_X_wait_max_ns,
 * lock_X_recovered): acquisitions, those that had to wait, the time
 * waited (read from the clock only when the lock was found taken), and
 * those taken over from a dead holder.
 *
 * Owner and recovery.  The word holds the holder's process id (0: free),
 * so that a process killed while it held a lock of the shared arena
 * (SIGKILL of a forked worker) does not stop every other process: a
 * waiter that has spun RS_LOCK_PATIENCE_NS looks at the holder, and if
 * that process is gone (kill(pid, 0) says ESRCH) takes the lock over
 * from it with one compare-and-swap (two waiters cannot both win) and
 * rs_lock_take returns RS_LOCK_RECOVERED.  A live holder is never robbed,
 * however long it holds (preempted, stopped): only death frees a lock.
 * Threads of one process share the id, and a thread never dies alone.
 *
 * What a dead holder leaves: every critical section under these locks is
 * written so that memory is consistent after each of its stores, with the
 * store that publishes a change last (release stores; rs_list's forward
 * chain first): a free-list push or pop, a hash-chain insert or unlink, a
 * port or descriptor bit, a parked frame appended.  Dying in the middle
 * at worst leaks what the dead process was taking (a block, a port, a
 * descriptor number, a connection it was queueing).  Two structures
 * cannot be kept so with single stores and are repaired by the process
 * that recovers their lock: a global accept queue (doubly linked lists
 * and their counts: tcp_listen.c rebuilds them from the forward chains)
 * and a hand-off queue (its buffer swap, handoff.c).
 * A pid reused by a new process before anyone waited makes the lock
 * look held by a live process: the waiters hang as before (pids cycle
 * through pid_max, 4 million here, so this needs a death under the
 * lock and 4 million forks before the next acquisition). */
#ifndef RS_LOCK_H
#define RS_LOCK_H

#include <stdint.h>
#include <time.h>

#include "common.h"

struct rs_lock {
	uint32_t v;                /* the holder's pid, 0 = free */
};

enum { RS_LK_ACQUIRED, RS_LK_CONTENDED, RS_LK_WAIT_NS, RS_LK_WAIT_MAX_NS,
       RS_LK_RECOVERED };

#define RS_LOCK_RECOVERED 1
/* a waiter looks at the holder after spinning this long (critical
 * sections last well under a microsecond; the look is a system call) */
#define RS_LOCK_PATIENCE_NS 1000000ull

/* This process's id as lock owner (lock.c; set again in a fork child). */
extern uint32_t rs_lock_me;
uint32_t rs_lock_init(void);
/* Non-zero if process pid is gone. */
int rs_lock_owner_dead(uint32_t pid);

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

static inline int rs_lock_try(struct rs_lock *l, uint32_t old, uint32_t me)
{
	return __atomic_compare_exchange_n(&l->v, &old, me, 0, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* The counters are written with the lock held: counters shared by every
 * user of a lock (the shared arena's) stay exact without atomics.  Out of
 * line (cold): the uncontended path stays a few instructions and its
 * callers keep their registers. */
static __attribute__((noinline, cold, unused)) int
rs_lock_wait(struct rs_lock *l, uint64_t *ctr, uint32_t me)
{
	uint64_t t0 = rs_lock_clock(), look = t0 + RS_LOCK_PATIENCE_NS, w;
	uint32_t spins = 0, v;
	int rc = 0;

	for (;;) {
		v = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
		if (!v) {
			if (rs_lock_try(l, 0, me))
				break;
			continue;
		}
		rs_cpu_relax();
		if (++spins % 1024 || rs_lock_clock() < look)
			continue;
		look = rs_lock_clock() + RS_LOCK_PATIENCE_NS;
		if (v != me && rs_lock_owner_dead(v) && rs_lock_try(l, v, me)) {
			rc = RS_LOCK_RECOVERED;
			break;
		}
	}
	w = rs_lock_clock() - t0;
	ctr[RS_LK_CONTENDED]++;
	ctr[RS_LK_WAIT_NS] += w;
	if (w > ctr[RS_LK_WAIT_MAX_NS])
		ctr[RS_LK_WAIT_MAX_NS] = w;
	if (rc)
		ctr[RS_LK_RECOVERED]++;
	return rc;
}

/* 0, or RS_LOCK_RECOVERED: taken over from a dead holder (the caller
 * repairs what needs it; see above). */
static inline int rs_lock_take(struct rs_lock *l, uint64_t *ctr)
{
	uint32_t me = __atomic_load_n(&rs_lock_me, __ATOMIC_RELAXED);
	int rc = 0;

	if (RS_UNLIKELY(!me))
		me = rs_lock_init();
	if (RS_UNLIKELY(!rs_lock_try(l, 0, me)))
		rc = rs_lock_wait(l, ctr, me);
	ctr[RS_LK_ACQUIRED]++;
	return rc;
}

static inline void rs_lock_give(struct rs_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

#endif
