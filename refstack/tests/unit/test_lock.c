/* The shared spinlock's owner and recovery (src/lock.h), across real
 * processes on a MAP_SHARED page as in the shim's arena: a lock held by a
 * process killed with SIGKILL is taken over (also while the dead process
 * is an unreaped zombie), counted, and the word names the new holder; a
 * live holder that keeps the lock for a long time is waited for, never
 * robbed; a global accept queue whose lock is taken over from a process
 * killed in the middle of a list operation is repaired (back links from
 * the forward chain, counts, head stamp). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/stack.h"
#include "../../src/tcp.h"
#include "lib/t.h"

struct shared {
	struct rs_lock lock;
	int held;
	uint64_t ctr[5];
};

static struct shared *sh;

static void msleep(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A child that takes the lock, says so, then holds it for hold_ms (0:
 * until killed); returns its pid. */
static pid_t holder(unsigned hold_ms)
{
	pid_t p = fork();

	if (p == 0) {
		uint64_t ctr[5] = {0};
		rs_lock_take(&sh->lock, ctr);
		__atomic_store_n(&sh->held, 1, __ATOMIC_RELEASE);
		if (!hold_ms)
			for (;;)
				pause();
		msleep(hold_ms);
		rs_lock_give(&sh->lock);
		_exit(0);
	}
	while (p > 0 && !__atomic_load_n(&sh->held, __ATOMIC_ACQUIRE))
		msleep(1);
	return p;
}

static void killed_holder(int reap_late)
{
	uint64_t t0, waited;
	pid_t p;
	int rc, st;

	memset(sh, 0, sizeof(*sh));
	p = holder(0);
	T_CHECK(p > 0 && __atomic_load_n(&sh->lock.v, __ATOMIC_RELAXED) == (uint32_t)p,
		"the lock word names its holder (pid %d)", (int)p);
	kill(p, SIGKILL);
	if (!reap_late)
		waitpid(p, &st, 0);
	else
		msleep(20); /* dead, not reaped: a zombie */
	t0 = rs_lock_clock();
	rc = rs_lock_take(&sh->lock, sh->ctr);
	waited = rs_lock_clock() - t0;
	T_CHECK(rc == RS_LOCK_RECOVERED, "%s: rs_lock_take returns RS_LOCK_RECOVERED (%d)",
		reap_late ? "holder killed, a zombie" : "holder killed and reaped", rc);
	T_CHECK(sh->ctr[RS_LK_RECOVERED] == 1 && sh->ctr[RS_LK_CONTENDED] == 1 &&
			sh->ctr[RS_LK_ACQUIRED] == 1,
		"counted: 1 acquired, 1 contended, 1 recovered");
	T_CHECK(waited >= RS_LOCK_PATIENCE_NS && waited < 1000000000ull,
		"taken over after the patience, within a second (%.1f ms)", waited / 1e6);
	T_CHECK(sh->lock.v == (uint32_t)getpid(), "the word names the new holder");
	rs_lock_give(&sh->lock);
	T_CHECK(rs_lock_take(&sh->lock, sh->ctr) == 0 && sh->ctr[RS_LK_CONTENDED] == 1,
		"then free: taken at once, no recovery");
	rs_lock_give(&sh->lock);
	if (reap_late)
		waitpid(p, &st, 0);
}

static void live_holder(void)
{
	uint64_t t0, waited;
	pid_t p;
	int rc, st;

	memset(sh, 0, sizeof(*sh));
	p = holder(60);
	t0 = rs_lock_clock();
	rc = rs_lock_take(&sh->lock, sh->ctr);
	waited = rs_lock_clock() - t0;
	T_CHECK(rc == 0 && sh->ctr[RS_LK_RECOVERED] == 0,
		"a live holder (60 ms, asleep) is waited for, not robbed");
	T_CHECK(waited >= 30000000ull, "waited for its release (%.1f ms)", waited / 1e6);
	rs_lock_give(&sh->lock);
	waitpid(p, &st, 0);
}

/* ---- a global accept queue left half-changed by a killed holder ---------- */

static pid_t dead_pid(void)
{
	pid_t p = fork();
	int st;

	if (p == 0)
		_exit(0);
	waitpid(p, &st, 0);
	return p;
}

static int list_ok(struct rs_list *q, uint32_t n)
{
	uint32_t k = 0;

	for (struct rs_list *p = q->next; p != q; p = p->next, k++)
		if (p->next->prev != p || p->prev->next != p || k > n)
			return 0;
	return k == n && q->prev->next == q;
}

static void queue_repaired(void)
{
	struct rs_core *c = calloc(1, sizeof(*c));
	struct rs_glisten *g = calloc(1, sizeof(*g));
	struct rs_tcb *t = calloc(5, sizeof(*t));
	struct rs_list *n2, *n4;

	rs_list_init(&g->acceptq);
	rs_list_init(&g->embryos);
	for (int i = 0; i < 4; i++) {
		t[i].qstamp = 100 + (uint64_t)i;
		rs_list_add_tail(&g->acceptq, &t[i].alink);
	}
	/* the head taken by a process killed between the two stores of
	 * rs_list_del: the forward chain skips it, the back link does not */
	n2 = &t[0].alink;
	n2->prev->next = n2->next;
	/* an embryo added by one killed before add_tail's last store */
	rs_list_add_tail(&g->embryos, &t[4].alink);
	n4 = &t[3].alink;
	rs_list_del(n4);
	n4->prev = g->acceptq.prev;
	n4->next = &g->acceptq;
	g->acceptq.prev->next = n4; /* forward in, head->prev not yet */
	g->nacceptq = 4;                /* its count not yet updated either */
	g->nembryos = 7;
	g->lock.v = (uint32_t)dead_pid();
	rs_glisten_lock(c, g);
	T_CHECK(c->ctr.lock_acceptq_recovered == 1, "accept queue's lock taken over from the dead process");
	T_CHECK(list_ok(&g->acceptq, 3) && g->nacceptq == 3,
		"accept queue whole again: 3 connections linked both ways, counted 3 (%u)", g->nacceptq);
	T_CHECK(g->acceptq.next == &t[1].alink && g->acceptq.prev == &t[3].alink,
		"the one being taken is gone, the one being added is in, at the tail");
	T_CHECK(g->head_stamp == 101, "head stamp of the new head (%llu)",
		(unsigned long long)g->head_stamp);
	T_CHECK(list_ok(&g->embryos, 1) && g->nembryos == 1, "embryo list recounted (%u)", g->nembryos);
	rs_lock_give(&g->lock);
	free(t);
	free(g);
	free(c);
}

int main(void)
{
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	killed_holder(0);
	killed_holder(1);
	live_holder();
	queue_repaired();
	return t_summary();
}
