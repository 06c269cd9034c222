/* Connection tables, the local-port allocator and the descriptor table,
 * each behind a small ops interface, allocated in the stack's arena.  The
 * shared ("global") variants take a lock; lk is the calling core's pair of
 * counters for that structure (lock.h), counted on every acquisition. */
#ifndef RS_TABLE_H
#define RS_TABLE_H

#include <stdint.h>

struct rs_arena;

/* Key and chain link shared by everything that lives in a table. */
enum { RS_HK_TCB = 1, RS_HK_TW = 2, RS_HK_LISTEN = 3 };
struct rs_hnode {
	struct rs_hnode *next;
	uint32_t laddr, raddr;   /* host order; listen: raddr 0 */
	uint16_t lport, rport;
	uint8_t kind;            /* RS_HK_* */
	uint8_t core;            /* owning core index, or RS_CORE_PARKED */
	uint8_t local;           /* in its core's own table, not the global */
};

/* Owner of a connection parked on a global accept queue: no core (the
 * one that accepts it adopts it; frames wait for it, tcp_park.c). */
#define RS_CORE_PARKED 0xffu

/* Called with the bucket of a key locked: the node or NULL. */
typedef int (*rs_table_fn)(struct rs_hnode *n, void *arg);

/* Established table (TCBs and TIME_WAIT entries) keyed by 4-tuple, and
 * listen table keyed by (laddr or INADDR_ANY, lport). */
struct rs_table_ops {
	const char *name;
	void *(*create)(struct rs_arena *a, uint32_t buckets, int *err);
	void (*destroy)(void *t);
	/* RS_ERROR if the key is already present. */
	int (*insert)(void *t, struct rs_hnode *n, uint64_t *lk);
	void (*remove)(void *t, struct rs_hnode *n, uint64_t *lk);
	/* Exact 4-tuple (listen: raddr = rport = 0; the caller retries with
	 * laddr 0 for wildcard listeners).  *owner receives the owning core
	 * read under the bucket lock: a node owned by another core must not
	 * be dereferenced. */
	struct rs_hnode *(*lookup)(void *t, uint32_t laddr, uint16_t lport,
				   uint32_t raddr, uint16_t rport,
				   unsigned *owner, uint64_t *lk);
	/* Find the key and call fn(node or NULL, arg) under the bucket's
	 * lock; returns fn's value.  The one way to change a node's owner. */
	int (*with)(void *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
		    uint16_t rport, rs_table_fn fn, void *arg, uint64_t *lk);
	uint32_t (*count)(void *t);
};
/* global: bucket locks, shared by the cores; local: one core's, no lock */
extern const struct rs_table_ops rs_table_global, rs_table_local;
/* rs_table_local.lookup as a direct call (inlined where it is hot) */
struct rs_hnode *rs_ltable_lookup(void *t, uint32_t laddr, uint16_t lport,
				  uint32_t raddr, uint16_t rport,
				  unsigned *owner);

/* Local ports: explicit binds and listeners are counted per port;
 * ephemeral ports for connect are picked by trying 4-tuples in the
 * established table. */
struct rs_port_ops {
	const char *name;
	void *(*create)(struct rs_arena *a, uint16_t lo, uint16_t hi,
			uint64_t seed, int *err);
	void (*destroy)(void *p);
	/* Reserve port for bind; port 0 picks a free ephemeral one.  Returns
	 * the port or -EADDRINUSE / -EADDRNOTAVAIL. */
	int (*bind)(void *p, uint16_t port, int reuse, uint64_t *lk);
	void (*unbind)(void *p, uint16_t port, uint64_t *lk);
	/* A starting point and range for the ephemeral search of connect. */
	void (*range)(void *p, uint32_t raddr, uint16_t rport, uint16_t *lo,
		      uint16_t *hi, uint32_t *start);
	/* Non-zero if the port is held by bind/listen. */
	int (*bound)(void *p, uint16_t port);
};
extern const struct rs_port_ops rs_port_global;

/* Descriptor numbers -> objects: per numbers for each of ncores cores. */
struct rs_fd_ops {
	const char *name;
	void *(*create)(struct rs_arena *a, uint32_t per, unsigned ncores,
			int *err);
	void (*destroy)(void *t);
	/* fd, -1 when full; core: the calling core */
	int (*alloc)(void *t, unsigned core, void *obj, uint64_t *lk);
	void (*release)(void *t, unsigned core, int fd, uint64_t *lk);
	/* NULL if not open on core */
	void *(*get)(void *t, unsigned core, int fd);
	uint32_t (*max)(void *t);   /* the highest number a core can hold */
};
/* global: lowest free number under one lock, numbers unique in the stack;
 * local: per-core pools, each core numbering its own 1..per */
extern const struct rs_fd_ops rs_fd_global, rs_fd_local;

#endif
