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
	uint8_t core;            /* owning core index */
};

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
	uint32_t (*count)(void *t);
};
extern const struct rs_table_ops rs_table_global;

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

/* Descriptor numbers -> objects. */
struct rs_fd_ops {
	const char *name;
	void *(*create)(struct rs_arena *a, uint32_t max, int *err);
	void (*destroy)(void *t);
	int (*alloc)(void *t, void *obj, uint64_t *lk); /* fd, -1 when full */
	void (*release)(void *t, int fd, uint64_t *lk);
	void *(*get)(void *t, int fd);            /* NULL if not open */
	uint32_t (*max)(void *t);
};
extern const struct rs_fd_ops rs_fd_global;

#endif
