/* Listening sockets across cores.
 *
 * Every listening address has one global listen socket (struct
 * rs_glisten) in the stack's listen table, shared under locks; each
 * listening socket of a core (struct rs_listener) belongs to it.  A SYN is
 * processed on the core it lands on: with `listen` the core's own copy
 * answers it (its own table, SYN and accept queues: no lock, no other
 * core's memory); else, or when the core has no copy, the global socket
 * does, through the core's hidden listener for it (the core's SYN queue
 * for g), and the child, once established, is parked on the global
 * accept queue: owned by no core, its frames kept for it, until a core
 * accepts it and adopts it (with one core there is nobody else: queued,
 * not parked).
 *
 * accept() on a core takes the oldest connection of its local queue and
 * the global one (enqueue stamps): first come, first served across both,
 * so neither queue can starve the other (Fastsocket alternated every
 * other call, which starves neither but serves a burst on one side half
 * as fast).  The global queue is looked at through one relaxed load of
 * its length: a core with only local traffic takes no lock.
 *
 * Nothing is lost when a core goes: when a local copy is closed (or its
 * core destroyed) while other sockets listen on the address, its SYN_RECV
 * children go to the core's hidden listener (or, when the core goes, are
 * parked on the global socket, and a core adopts them at its next poll:
 * their handshake goes on there) and its queued connections are parked
 * on the global socket and accepted by another core.  SYNs that would
 * have reached the copy find the global socket. */
#include <errno.h>

#include "arena.h"
#include "tcp.h"

#define RS_PARKED_MAX 32 /* frames kept per parked connection */

static void g_get(struct rs_glisten *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

void rs_glisten_put(struct rs_core *c, struct rs_glisten *g)
{
	if (g && __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0)
		rs_mem_free(c->stack->arena, g);
}

static int ref_fn(struct rs_hnode *n, void *arg)
{
	struct rs_glisten **out = arg;

	if (!n)
		return 0;
	*out = RS_CONTAINER(n, struct rs_glisten, h);
	g_get(*out);
	return 1;
}

static struct rs_glisten *glisten_find(struct rs_core *c, uint32_t addr,
				       uint16_t port)
{
	struct rs_stack *s = c->stack;
	struct rs_glisten *g = NULL;

	c->ctr.lookup_listen_global++;
	s->lhash_ops->with(s->lhash, addr, port, 0, 0, ref_fn, &g,
			   &c->ctr.lock_listen_acquired);
	return g;
}

void rs_tcp_listen_lookup(struct rs_core *c, uint32_t addr, uint16_t port,
			  struct rs_listener **l, struct rs_glisten **g)
{
	struct rs_hnode *n = NULL;
	unsigned owner;

	*l = NULL;
	*g = NULL;
	if (c->lhash) { /* counted when it answers; a miss goes global */
		n = rs_table_local.lookup(c->lhash, addr, port, 0, 0, &owner,
					  NULL);
		if (!n)
			n = rs_table_local.lookup(c->lhash, 0, port, 0, 0,
						  &owner, NULL);
		if (n) {
			c->ctr.lookup_listen_local++;
			*l = RS_CONTAINER(n, struct rs_listener, h);
			return;
		}
	}
	if (__atomic_load_n(&c->stack->nlisten_addr, __ATOMIC_RELAXED))
		*g = glisten_find(c, addr, port);
	if (!*g)
		*g = glisten_find(c, 0, port);
}

/* ---- listen / close ---------------------------------------------------- */

static struct rs_glisten *glisten_new(struct rs_core *c,
				      const struct rs_listener *l)
{
	struct rs_glisten *g = rs_mem_zalloc(c->stack->arena, sizeof(*g));

	if (!g)
		return NULL;
	g->h.laddr = l->h.laddr;
	g->h.lport = l->h.lport;
	g->h.kind = RS_HK_LISTEN;
	g->h.core = RS_CORE_PARKED;
	rs_list_init(&g->acceptq);
	rs_list_init(&g->embryos);
	g->backlog = l->backlog;
	g->sndbuf = l->sndbuf;
	g->rcvbuf = l->rcvbuf;
	g->nodelay = l->nodelay;
	g->sndbuf_lock = l->sndbuf_lock;
	g->refs = 1; /* the first socket's */
	g->nsock = 1;
	return g;
}

/* ---- the global socket's lock ------------------------------------------ */

#define RS_LIST_REPAIR_MAX (1u << 24)

/* List q's back links rebuilt from its forward chain (lock.h: the forward
 * chain is a list after any store); its length.  A chain that does not
 * come back to q (never seen: it would take a store out of order) is
 * dropped whole: its connections are lost, the socket goes on. */
static uint32_t list_repair(struct rs_list *q)
{
	struct rs_list *prev = q, *p = q->next;
	uint32_t n = 0;

	for (; p != q && p && n < RS_LIST_REPAIR_MAX; p = p->next, n++) {
		p->prev = prev;
		prev = p;
	}
	if (p != q) {
		rs_list_init(q);
		return 0;
	}
	q->prev = prev;
	return n;
}

static void head_stamp_update(struct rs_glisten *g);

/* g's lock; taken over from a process killed while it held it (a worker
 * killed with SIGKILL), the queues are made whole again: back links from
 * the forward chains, the counts from the lists, and the listeners are
 * told (gen).  What the dead process was moving between its hands and a
 * queue at that moment is lost with it. */
void rs_glisten_lock(struct rs_core *c, struct rs_glisten *g)
{
	if (RS_LIKELY(!rs_lock_take(&g->lock, &c->ctr.lock_acceptq_acquired)))
		return;
	__atomic_store_n(&g->nacceptq, list_repair(&g->acceptq),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&g->nembryos, list_repair(&g->embryos),
			 __ATOMIC_RELAXED);
	head_stamp_update(g);
	__atomic_store_n(&g->gen, g->gen + 1, __ATOMIC_RELEASE);
}

/* Join g if it is still open; 0 when it was closed under us. */
static int glisten_join(struct rs_core *c, struct rs_glisten *g,
			const struct rs_listener *l)
{
	int ok;

	rs_glisten_lock(c, g);
	ok = !g->closed;
	if (ok) {
		g->nsock++;
		if (l->backlog > g->backlog)
			g->backlog = l->backlog;
	}
	rs_lock_give(&g->lock);
	return ok;
}

static int attach_global(struct rs_core *c, struct rs_listener *l,
			 int reuseport)
{
	struct rs_stack *s = c->stack;

	for (int tries = 0; tries < 1000; tries++) {
		struct rs_glisten *g = glisten_find(c, l->h.laddr, l->h.lport);

		if (g) {
			/* with `listen` every core may have its copy */
			if (!reuseport && !(s->conf.features &
					    RS_FEAT_LOCAL_LISTEN)) {
				rs_glisten_put(c, g);
				return -EADDRINUSE;
			}
			if (glisten_join(c, g, l)) {
				l->g = g; /* keeps the lookup's reference */
				return 0;
			}
			rs_glisten_put(c, g); /* closing: gone in a moment */
			continue;
		}
		g = glisten_new(c, l);
		if (!g)
			return -ENOMEM;
		if (s->lhash_ops->insert(s->lhash, &g->h,
					 &c->ctr.lock_listen_acquired) == RS_OK) {
			if (g->h.laddr)
				__atomic_fetch_add(&s->nlisten_addr, 1,
						   __ATOMIC_RELAXED);
			l->g = g;
			return 0;
		}
		rs_mem_free(s->arena, g); /* another core made it first */
	}
	return -EADDRINUSE;
}

int rs_tcp_listen_start(struct rs_core *c, struct rs_listener *l,
			int reuseport)
{
	int rc = attach_global(c, l, reuseport);

	if (rc)
		return rc;
	l->gen_seen = __atomic_load_n(&l->g->gen, __ATOMIC_RELAXED);
	return 0;
}

void rs_tcp_listen_local(struct rs_core *c, struct rs_listener *l)
{
	unsigned owner;

	if (!c->lhash || l->in_local)
		return;
	/* inserted by a process killed before it could say so */
	if (rs_table_local.lookup(c->lhash, l->h.laddr, l->h.lport, 0, 0,
				  &owner, NULL) == &l->h ||
	    rs_table_local.insert(c->lhash, &l->h, NULL) == RS_OK)
		l->in_local = 1;
}

/* ---- parking and adoption ---------------------------------------------- */

static uint32_t ring_bytes(const struct rs_tcb *t)
{
	return (t->snd.mem ? t->snd.cap : 0) + (t->rcv.mem ? t->rcv.cap : 0);
}

static int synchronized(int s)
{
	return s >= RS_TCP_ESTABLISHED && s <= RS_TCP_LAST_ACK;
}

/* t joins or leaves core c's bookkeeping (lists, timers, counts). */
static void core_link(struct rs_core *c, struct rs_tcb *t, int in)
{
	int d = in ? 1 : -1;

	if (in) {
		t->core = c;
		rs_list_add_tail(&c->tcbs, &t->link);
		rs_tcp_timer_update(t);
	} else {
		rs_tcp_timer_unlink(t);
		rs_list_del(&t->link);
		rs_list_del(&t->olink);
		t->flags &= ~(uint32_t)TF_OUTQ;
	}
	c->ntcb += (uint32_t)d;
	c->nsynrecv += (uint32_t)(d * (t->state == RS_TCP_SYN_RECV));
	c->nestab += (uint32_t)(d * synchronized(t->state));
	c->pool.used += (uint64_t)(int64_t)(d * (int64_t)ring_bytes(t));
}

struct owner_arg {
	unsigned owner;
	struct rs_pending *frames;
	struct rs_tcb *t;
	const struct rs_frame *f;
	struct rs_core *c;
};

static int set_owner_fn(struct rs_hnode *n, void *arg)
{
	struct owner_arg *a = arg;

	if (!n)
		return RS_ERROR;
	n->core = (uint8_t)a->owner;
	if (a->owner != RS_CORE_PARKED) {
		a->frames = a->t->parked;
		a->t->parked = NULL;
		a->t->nparked = 0;
	}
	return RS_OK;
}

static struct rs_pending *set_owner(struct rs_core *c, struct rs_tcb *t,
				    unsigned owner)
{
	struct owner_arg a = {.owner = owner, .t = t};
	struct rs_stack *s = c->stack;

	s->ehash_ops->with(s->ehash, t->h.laddr, t->h.lport, t->h.raddr,
			   t->h.rport, set_owner_fn, &a,
			   &c->ctr.lock_ehash_acquired);
	return a.frames;
}

/* t (parked, off every list) becomes core c's; the frames that waited
 * for it are processed at c's next poll. */
static void adopt(struct rs_core *c, struct rs_tcb *t)
{
	struct rs_pending *f = set_owner(c, t, c->index);

	core_link(c, t, 1);
	while (f) {
		struct rs_pending *next = f->next;
		f->next = NULL;
		*c->replay_tail = f;
		c->replay_tail = &f->next;
		f = next;
	}
	c->ctr.tcp_adopted++;
}

static void glisten_kick(struct rs_core *c)
{
	const struct rs_stack_conf *conf = &c->stack->conf;

	if (!conf->kick)
		return;
	for (unsigned i = 0; i < conf->ncores; i++)
		if (i != c->index)
			conf->kick(conf->kick_arg, i);
}

static void head_stamp_update(struct rs_glisten *g)
{
	uint64_t st = rs_list_empty(&g->acceptq)
			      ? 0
			      : RS_CONTAINER(g->acceptq.next, struct rs_tcb,
					     alink)->qstamp;
	__atomic_store_n(&g->head_stamp, st, __ATOMIC_RELAXED);
}

static void drop_orphan(struct rs_tcb *t)
{
	rs_tcp_send_rst(t);
	rs_tcb_drop(t, ECONNABORTED);
}

/* t, owned by c, child of g (SYN_RECV or established), goes to g's
 * queues: parked when other cores could take it, else still c's. */
static void glisten_enqueue(struct rs_core *c, struct rs_tcb *t)
{
	struct rs_glisten *g = t->gparent;
	int park = c->stack->conf.ncores > 1, est = t->state != RS_TCP_SYN_RECV;
	int was_empty;

	if (!est && !park)
		return; /* nobody else could go on with its handshake */
	if (park) {
		rs_tcp_hash_globalise(c, &t->h);
		core_link(c, t, 0);
		set_owner(c, t, RS_CORE_PARKED);
		t->core = NULL; /* nobody's until adopted */
	}
	rs_glisten_lock(c, g);
	if (g->closed) {
		rs_lock_give(&g->lock);
		if (park)
			adopt(c, t);
		drop_orphan(t);
		return;
	}
	was_empty = !g->nacceptq && !g->nembryos;
	if (est) {
		rs_list_add_tail(&g->acceptq, &t->alink);
		t->flags |= TF_ACCEPTQ;
		__atomic_store_n(&g->nacceptq, g->nacceptq + 1,
				 __ATOMIC_RELAXED);
		head_stamp_update(g);
	} else {
		rs_list_add_tail(&g->embryos, &t->alink);
		__atomic_store_n(&g->nembryos, g->nembryos + 1,
				 __ATOMIC_RELAXED);
	}
	__atomic_store_n(&g->gen, g->gen + 1, __ATOMIC_RELEASE);
	rs_lock_give(&g->lock);
	if (park) /* t is not ours to touch any more */
		c->ctr.tcp_parked++;
	if (was_empty)
		glisten_kick(c);
}

/* Take g's first connection off a list (acceptq or embryos). */
static struct rs_tcb *glisten_take(struct rs_core *c, struct rs_glisten *g,
				   int embryo)
{
	struct rs_list *q = embryo ? &g->embryos : &g->acceptq;
	uint32_t *n = embryo ? &g->nembryos : &g->nacceptq;
	struct rs_tcb *t = NULL;

	rs_glisten_lock(c, g);
	if (!rs_list_empty(q)) {
		t = RS_CONTAINER(q->next, struct rs_tcb, alink);
		rs_list_del(&t->alink);
		t->flags &= ~(uint32_t)TF_ACCEPTQ;
		__atomic_store_n(n, *n - 1, __ATOMIC_RELAXED);
		if (!embryo)
			head_stamp_update(g);
	}
	rs_lock_give(&g->lock);
	if (t && t->h.core == RS_CORE_PARKED)
		adopt(c, t);
	return t;
}

/* An established child of listener l (queued, not accepted) is parked
 * on the global socket g. */
static void child_to_global(struct rs_core *c, struct rs_tcb *t,
			    struct rs_glisten *g)
{
	rs_tcp_child_unlink(t);
	t->gparent = g;
	g_get(g);
	glisten_enqueue(c, t);
}

/* A SYN_RECV child moves from listener l to h, of the same core. */
static void synq_move(struct rs_tcb *t, struct rs_listener *l,
		      struct rs_listener *h)
{
	int proven = !!(t->flags & TF_PROVEN);

	rs_synq_del(l, t);
	rs_synq_add(h, t, proven);
	t->parent = h;
}

struct rs_listener *rs_tcp_hidden(struct rs_core *c, struct rs_glisten *g)
{
	struct rs_listener *h = g->hidden[c->index];

	if (h)
		return h;
	h = rs_mem_zalloc(c->stack->arena, sizeof(*h));
	if (!h)
		return NULL;
	h->h = g->h;
	h->h.next = NULL;
	h->g = g;
	h->fd = -1;
	h->hidden = 1;
	h->backlog = g->backlog;
	h->sndbuf = g->sndbuf;
	h->rcvbuf = g->rcvbuf;
	h->nodelay = g->nodelay;
	h->sndbuf_lock = g->sndbuf_lock;
	rs_list_init(&h->acceptq);
	rs_list_init(&h->synq);
	rs_list_add_tail(&c->hidden, &h->llink);
	g_get(g);
	g->hidden[c->index] = h;
	return h;
}

/* A hidden listener goes (its global socket closed, or its core): its
 * SYN_RECV children are reset. */
static void hidden_free(struct rs_core *c, struct rs_listener *h)
{
	struct rs_glisten *g = h->g;

	while (!rs_list_empty(&h->synq)) {
		struct rs_tcb *t = RS_CONTAINER(h->synq.next, struct rs_tcb,
						alink);
		rs_tcp_send_rst(t);
		rs_tcb_drop(t, ECONNABORTED);
	}
	rs_list_del(&h->llink);
	g->hidden[c->index] = NULL;
	rs_mem_free(c->stack->arena, h);
	rs_glisten_put(c, g);
}

int rs_tcp_listen_full(const struct rs_listener *l)
{
	if (l->hidden)
		return __atomic_load_n(&l->g->nacceptq, __ATOMIC_RELAXED) >=
		       l->g->backlog;
	return l->nacceptq >= l->backlog;
}

void rs_tcp_listen_stop(struct rs_core *c, struct rs_listener *l)
{
	struct rs_stack *s = c->stack;
	struct rs_glisten *g = l->g;
	struct rs_list *p, *next;
	int last;

	if (l->in_local)
		rs_table_local.remove(c->lhash, &l->h, NULL);
	l->in_local = 0;
	rs_glisten_lock(c, g);
	last = --g->nsock == 0;
	if (last)
		__atomic_store_n(&g->closed, 1, __ATOMIC_RELEASE);
	rs_lock_give(&g->lock);
	if (last) {
		s->lhash_ops->remove(s->lhash, &g->h,
				     &c->ctr.lock_listen_acquired);
		if (g->h.laddr)
			__atomic_fetch_sub(&s->nlisten_addr, 1,
					   __ATOMIC_RELAXED);
	}
	for (p = c->tcbs.next; p != &c->tcbs; p = next) {
		struct rs_tcb *t = RS_CONTAINER(p, struct rs_tcb, link);
		struct rs_listener *h;
		next = p->next;
		if (t->parent == l && !last && t->state != RS_TCP_SYN_RECV)
			child_to_global(c, t, g);
		else if (t->parent == l && !last && (h = rs_tcp_hidden(c, g)))
			synq_move(t, l, h);
		else if (t->parent == l || (last && t->gparent == g))
			drop_orphan(t);
	}
	if (last) { /* the connections nobody accepted are aborted */
		struct rs_tcb *t;
		while ((t = glisten_take(c, g, 0)) || (t = glisten_take(c, g, 1)))
			drop_orphan(t);
	}
	rs_glisten_put(c, g);
}

/* ---- accept -------------------------------------------------------------- */

int rs_tcp_listen_ready(const struct rs_listener *l)
{
	return l->nacceptq ||
	       __atomic_load_n(&l->g->nacceptq, __ATOMIC_RELAXED);
}

struct rs_tcb *rs_tcp_accept(struct rs_core *c, struct rs_listener *l)
{
	struct rs_glisten *g = l->g;
	struct rs_tcb *t = NULL;

	if (__atomic_load_n(&g->nacceptq, __ATOMIC_RELAXED) &&
	    (rs_list_empty(&l->acceptq) ||
	     __atomic_load_n(&g->head_stamp, __ATOMIC_RELAXED) <=
		     RS_CONTAINER(l->acceptq.next, struct rs_tcb, alink)
			     ->qstamp))
		t = glisten_take(c, g, 0);
	if (t) {
		c->ctr.accept_global++;
	} else if (!rs_list_empty(&l->acceptq)) {
		t = RS_CONTAINER(l->acceptq.next, struct rs_tcb, alink);
		c->ctr.accept_local++;
	} else {
		return NULL;
	}
	rs_tcp_child_unlink(t);
	return t;
}

/* ---- the poll step -------------------------------------------------------- */

/* An adopted SYN_RECV orphan: its handshake goes on in this core's
 * hidden listener for its global socket. */
static void embryo_home(struct rs_core *c, struct rs_tcb *t)
{
	struct rs_glisten *g = t->gparent;
	struct rs_listener *h = rs_tcp_hidden(c, g);

	if (!h) {
		drop_orphan(t);
		return;
	}
	rs_tcp_child_unlink(t); /* off g */
	rs_synq_add(h, t, 0);
	t->parent = h;
}

void rs_tcp_listen_poll(struct rs_core *c)
{
	struct rs_list *p, *next;

	while (!rs_list_empty(&c->parkq)) {
		struct rs_tcb *t = RS_CONTAINER(c->parkq.next, struct rs_tcb,
						alink);
		rs_list_del(&t->alink);
		t->flags &= ~(uint32_t)TF_PARKQ;
		glisten_enqueue(c, t);
	}
	for (p = c->listeners.next; p != &c->listeners; p = p->next) {
		struct rs_listener *l = RS_CONTAINER(p, struct rs_listener,
						     llink);
		struct rs_glisten *g = l->g;
		uint32_t gen = __atomic_load_n(&g->gen, __ATOMIC_ACQUIRE);
		struct rs_tcb *t;

		if (gen != l->gen_seen) {
			l->gen_seen = gen;
			if (__atomic_load_n(&g->nacceptq, __ATOMIC_RELAXED))
				rs_tcp_notify_listener(c, l);
		}
		while (__atomic_load_n(&g->nembryos, __ATOMIC_RELAXED) &&
		       (t = glisten_take(c, g, 1)))
			embryo_home(c, t);
	}
	for (p = c->hidden.next; p != &c->hidden; p = next) {
		struct rs_listener *h = RS_CONTAINER(p, struct rs_listener,
						     llink);
		next = p->next;
		if (__atomic_load_n(&h->g->closed, __ATOMIC_ACQUIRE))
			hidden_free(c, h);
	}
}

static int park_frame_fn(struct rs_hnode *n, void *arg)
{
	struct owner_arg *a = arg;
	struct rs_tcb *t;
	struct rs_pending *pf, **pp;

	if (!n) {
		a->owner = a->c->index; /* gone: answered here (RST) */
		return RS_OK;
	}
	a->owner = n->core;
	if (n->core != RS_CORE_PARKED || n->kind != RS_HK_TCB)
		return RS_OK;
	t = RS_CONTAINER(n, struct rs_tcb, h);
	pf = t->nparked < RS_PARKED_MAX
		     ? rs_mem_alloc(a->c->stack->arena, sizeof(*pf))
		     : NULL;
	if (!pf) {
		a->c->ctr.drop_parked_full++;
		return RS_OK;
	}
	memcpy(pf->data, a->f->data, a->f->len);
	pf->len = a->f->len;
	pf->csum_partial = a->f->csum_partial;
	pf->hops = 0;
	pf->next = NULL;
	for (pp = &t->parked; *pp; pp = &(*pp)->next)
		;
	__atomic_store_n(pp, pf, __ATOMIC_RELEASE); /* lock.h: last */
	t->nparked++;
	a->c->ctr.xcore_handoffs++; /* to its adopter, through the TCB */
	return RS_OK;
}

unsigned rs_tcp_park_frame(struct rs_core *c, const struct rs_pkt *p,
			   const struct rs_frame *f)
{
	struct owner_arg a = {.c = c, .f = f};
	struct rs_stack *s = c->stack;

	if (f->len > RS_FRAME_BUF) {
		c->ctr.drop_parked_full++;
		return RS_CORE_PARKED;
	}
	s->ehash_ops->with(s->ehash, p->ip.dst, p->seg.dport, p->ip.src,
			   p->seg.sport, park_frame_fn, &a,
			   &c->ctr.lock_ehash_acquired);
	return a.owner;
}

void rs_tcp_listen_core_fini(struct rs_core *c)
{
	struct rs_list *p, *next;

	rs_tcp_listen_poll(c); /* the to-park list */
	for (p = c->tcbs.next; p != &c->tcbs; p = next) {
		struct rs_tcb *t = RS_CONTAINER(p, struct rs_tcb, link);
		struct rs_listener *l = t->parent;
		next = p->next;
		if (!l || t->state != RS_TCP_SYN_RECV ||
		    __atomic_load_n(&l->g->closed, __ATOMIC_ACQUIRE))
			continue;
		rs_tcp_child_unlink(t);
		t->gparent = l->g;
		g_get(l->g);
		glisten_enqueue(c, t); /* an orphan: adopted elsewhere */
	}
	while (!rs_list_empty(&c->hidden))
		hidden_free(c, RS_CONTAINER(c->hidden.next, struct rs_listener,
					    llink));
}
