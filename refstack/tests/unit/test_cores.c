/* The Fastsocket switches across cores, on virtual cores (lib/vc.h): a
 * two-core client stack against a two-core server stack, frames steered
 * between them as an RSS NIC would.  For each feature set: which table
 * answered (local or global lookups), which queue each accept came from,
 * which shared locks were taken; the accept policy serves the local and
 * the global queue oldest first; nothing is lost when a core goes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/common.h"
#include "../../src/wire.h"
#include "lib/t.h"
#include "lib/vc.h"

#define PORT 80
#define MAXC 512

struct conn {
	unsigned core;
	int fd;
	int state; /* 0 connecting, 1 ping sent, 2 done, -1 failed */
};

struct run {
	struct vc *v;
	struct conn c[MAXC];
	int n;
	int lfd[VC_MAX];         /* server listening socket per core, or -1 */
	unsigned accept_mask;    /* server cores whose application accepts */
	int sfd[VC_MAX][MAXC];   /* accepted, not answered yet */
	int nsfd[VC_MAX];
	int answered, done, failed;
};

static int server_listen(struct vc *v, unsigned k)
{
	struct rs_core *c = v->sd[VC_SERVER].c[k];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	int one = 1, fd = rs_socket(c, AF_INET, SOCK_STREAM, 0);

	rs_setsockopt(c, fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (rs_bind(c, fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(c, fd, 1024))
		return -1;
	vc_listening(v, VC_SERVER, PORT);
	return fd;
}

static void open_conns(struct run *r, int n);

/* Listening sockets; every client core resolves the server's address. */
static void run_init(struct run *r, struct vc *v, unsigned listen_mask,
		     unsigned accept_mask)
{
	struct vc_side *cs = &v->sd[VC_CLIENT];

	memset(r, 0, sizeof(*r));
	r->v = v;
	r->accept_mask = accept_mask;
	for (unsigned k = 0; k < v->sd[VC_SERVER].n; k++)
		r->lfd[k] = (listen_mask >> k) & 1 ? server_listen(v, k) : -1;
	for (unsigned k = 0; k < cs->n; k++) {
		struct sockaddr_in dst = {.sin_family = AF_INET,
					  .sin_port = htons(9)};
		int fd = rs_socket(cs->c[k], AF_INET, SOCK_STREAM, 0);
		inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
		rs_connect(cs->c[k], fd, (struct sockaddr *)&dst, sizeof(dst));
		vc_settle(v); /* ARP, then a RST from the closed port */
		rs_close(cs->c[k], fd);
	}
	vc_settle(v);
}

static void open_conns(struct run *r, int n)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	struct vc_side *cs = &r->v->sd[VC_CLIENT];

	inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
	for (int i = 0; i < n && r->n < MAXC; i++) {
		struct conn *c = &r->c[r->n++];
		c->core = (unsigned)(r->n % (int)cs->n);
		c->fd = rs_socket(cs->c[c->core], AF_INET, SOCK_STREAM, 0);
		rs_connect(cs->c[c->core], c->fd, (struct sockaddr *)&dst,
			   sizeof(dst));
	}
}

/* One round of the applications: clients send ping when connected and
 * read pong; accepting server cores accept and answer. */
static void apps(struct run *r)
{
	struct vc_side *cs = &r->v->sd[VC_CLIENT], *ss = &r->v->sd[VC_SERVER];
	char b[16];

	for (int i = 0; i < r->n; i++) {
		struct conn *c = &r->c[i];
		struct rs_core *cc = cs->c[c->core];
		uint32_t ev = 0;
		if (c->state == 0 && rs_sock_events(cc, c->fd, &ev) == 0 &&
		    (ev & EPOLLOUT) && !(ev & EPOLLERR)) {
			rs_send(cc, c->fd, "ping", 4, 0);
			c->state = 1;
		} else if (c->state == 1 && rs_recv(cc, c->fd, b, sizeof(b), 0) == 4) {
			c->state = memcmp(b, "pong", 4) ? -1 : 2;
			r->done += c->state == 2;
			r->failed += c->state < 0;
			rs_close(cc, c->fd);
		}
	}
	for (unsigned k = 0; k < ss->n; k++) {
		struct rs_core *sc = ss->c[k];
		int fd;
		if (ss->dead[k] || r->lfd[k] < 0 || !((r->accept_mask >> k) & 1))
			continue;
		while (r->nsfd[k] < MAXC &&
		       (fd = rs_accept(sc, r->lfd[k], NULL, NULL)) > 0)
			r->sfd[k][r->nsfd[k]++] = fd;
		for (int i = 0; i < r->nsfd[k]; i++) {
			ssize_t got = rs_recv(sc, r->sfd[k][i], b, sizeof(b), 0);
			if (got < 0 && errno == EAGAIN)
				continue;
			if (got == 4)
				rs_send(sc, r->sfd[k][i], "pong", 4, 0);
			r->answered += got == 4;
			rs_close(sc, r->sfd[k][i]);
			r->sfd[k][i--] = r->sfd[k][--r->nsfd[k]];
		}
	}
}

/* Rounds of 1 ms until every connection is done, then 50 ms for the
 * FIN handshakes (the server's TIME_WAIT, 1 s, still holds). */
static void run_until_closed(struct run *r, int rounds)
{
	for (int i = 0; i < rounds && r->done + r->failed < r->n; i++) {
		vc_advance(r->v, 1000000ull);
		apps(r);
	}
	vc_advance(r->v, 50000000ull);
}

static void run_until_done(struct run *r, int rounds)
{
	run_until_closed(r, rounds);
	vc_advance(r->v, 3000000000ull); /* TIME_WAIT over */
}

static void run_fini(struct run *r)
{
	for (unsigned k = 0; k < r->v->sd[VC_SERVER].n; k++)
		if (r->lfd[k] > 0 && !r->v->sd[VC_SERVER].dead[k])
			rs_close(r->v->sd[VC_SERVER].c[k], r->lfd[k]);
}

/* Counters of the server side, before and after the traffic. */
struct snap {
	uint64_t v[RS_NCOUNTERS];
};

static void snap(const struct vc *v, struct snap *s)
{
	for (int i = 0; i < RS_NCOUNTERS; i++)
		s->v[i] = vc_counter(v, VC_SERVER, rs_counter_names[i]);
}

static uint64_t delta(const struct vc *v, const struct snap *before,
		      const char *name)
{
	for (int i = 0; i < RS_NCOUNTERS; i++)
		if (strcmp(rs_counter_names[i], name) == 0)
			return vc_counter(v, VC_SERVER, name) - before->v[i];
	return UINT64_MAX;
}

static uint64_t shared_locks(const struct vc *v, const struct snap *before)
{
	static const char *const locks[] = {
		"lock_listen_acquired", "lock_acceptq_acquired",
		"lock_ehash_acquired", "lock_ports_acquired",
		"lock_fdtab_acquired", "lock_handoff_acquired"};
	uint64_t sum = 0;

	for (unsigned i = 0; i < RS_ARRAY_LEN(locks); i++)
		sum += delta(v, before, locks[i]);
	return sum;
}

#define CONNS 200

static void traffic(uint32_t feat, const char *name)
{
	struct vc v;
	struct run r;
	struct snap s;

	T_CHECK(vc_init(&v, 2, 0, feat, NULL) == 0, "%s: 2+2 virtual cores", name);
	run_init(&r, &v, 3, 3);
	snap(&v, &s);
	open_conns(&r, CONNS);
	run_until_done(&r, 2000);
	T_CHECK(r.done == CONNS && r.failed == 0 && r.answered == CONNS,
		"%s: %d connections, each ping answered with pong (%d done, %d failed)",
		name, CONNS, r.done, r.failed);
	uint64_t al = delta(&v, &s, "accept_local"), ag = delta(&v, &s, "accept_global");
	uint64_t ll = delta(&v, &s, "lookup_listen_local"),
		 lg = delta(&v, &s, "lookup_listen_global");
	uint64_t el = delta(&v, &s, "lookup_estab_local"),
		 eg = delta(&v, &s, "lookup_estab_global");
	uint64_t ho = delta(&v, &s, "xcore_handoffs"), locks = shared_locks(&v, &s);
	printf("# %s: accepts local %llu global %llu; listen lookups local %llu "
	       "global %llu; estab lookups local %llu global %llu; hand-offs %llu; "
	       "shared locks %llu\n", name, (unsigned long long)al,
	       (unsigned long long)ag, (unsigned long long)ll,
	       (unsigned long long)lg, (unsigned long long)el,
	       (unsigned long long)eg, (unsigned long long)ho,
	       (unsigned long long)locks);
	if (feat & RS_FEAT_LOCAL_LISTEN) {
		T_CHECK(al == CONNS && ag == 0 && lg == 0 && ll >= CONNS &&
				delta(&v, &s, "lock_listen_acquired") == 0 &&
				delta(&v, &s, "lock_acceptq_acquired") == 0,
			"%s: every SYN answered by its core's own listen copy, "
			"every accept from the local queue, no listen/accept lock",
			name);
		T_CHECK(ho == 0, "%s: passive frames never handed off", name);
	} else {
		T_CHECK(ag == CONNS && al == 0 && lg >= CONNS &&
				delta(&v, &s, "tcp_parked") == CONNS &&
				delta(&v, &s, "lock_acceptq_acquired") >= 2 * CONNS,
			"%s: SYNs answered from the global listen socket, every "
			"connection parked and accepted from the global queue "
			"(under its lock)", name);
	}
	if ((feat & RS_FEAT_LOCAL_ESTAB) && (feat & RS_FEAT_LOCAL_LISTEN))
		T_CHECK(eg == 0 && el > 0 &&
				delta(&v, &s, "lock_ehash_acquired") == 0,
			"%s: every established lookup answered by the core's "
			"own table, no bucket lock", name);
	else
		T_CHECK(eg > 0 && delta(&v, &s, "lock_ehash_acquired") > 0,
			"%s: connections in the global table (bucket locks)", name);
	/* a miss in the core's own table that goes on to the global one
	 * is one lookup, counted global (not a local and a global one) */
	if ((feat & RS_FEAT_LOCAL_ESTAB) && !(feat & RS_FEAT_LOCAL_LISTEN))
		T_CHECK(el < eg, "%s: lookups that went on to the global table "
			"counted once, as global (%llu local, %llu global)",
			name, (unsigned long long)el, (unsigned long long)eg);
	if (feat & RS_FEAT_FAST_FD)
		T_CHECK(delta(&v, &s, "lock_fdtab_acquired") == 0,
			"%s: descriptors from per-core pools, no lock", name);
	else
		T_CHECK(delta(&v, &s, "lock_fdtab_acquired") >= 2 * CONNS,
			"%s: descriptors from the one locked table", name);
	if ((feat | RS_FEAT_RFD) == RS_FEAT_ALL)
		T_CHECK(locks == 0 && ho == 0,
			"%s: no shared lock and no hand-off in %d connections",
			name, CONNS);
	run_fini(&r);
	vc_fini(&v);
}

/* accept() serves the local and the global queue oldest first: core 0
 * has a local copy, core 1 none (its SYNs reach the global socket); the
 * accepts on core 0 come out in the order the connections were made. */
static void t_oldest_first(void)
{
	struct vc v;
	struct run r;
	uint16_t made[64], got[64];
	int n = 0, in_order = 1;
	struct snap s;

	vc_init(&v, 2, 0, RS_FEAT_LOCAL_LISTEN, NULL);
	run_init(&r, &v, 1, 0); /* core 0 listens, nobody accepts yet */
	snap(&v, &s);
	for (int i = 0; i < 40; i++) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		open_conns(&r, 1);
		vc_advance(&v, 1000000ull);
		rs_getsockname(v.sd[VC_CLIENT].c[r.c[i].core], r.c[i].fd,
			       (struct sockaddr *)&a, &al);
		made[i] = ntohs(a.sin_port);
	}
	for (int fd; n < 64 && (fd = rs_accept(v.sd[VC_SERVER].c[0], r.lfd[0],
						 NULL, NULL)) > 0; n++) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		rs_getpeername(v.sd[VC_SERVER].c[0], fd, (struct sockaddr *)&a, &al);
		got[n] = ntohs(a.sin_port);
		rs_close(v.sd[VC_SERVER].c[0], fd);
	}
	for (int i = 0; i < n && i < 40; i++)
		in_order &= got[i] == made[i];
	uint64_t al = delta(&v, &s, "accept_local"), ag = delta(&v, &s, "accept_global");
	T_CHECK(n == 40 && in_order && al > 5 && ag > 5,
		"40 connections, %llu via core 0's copy, %llu via the global "
		"socket: accepted in the order they were made (neither queue "
		"starves)", (unsigned long long)al, (unsigned long long)ag);
	vc_advance(&v, 3000000000ull);
	run_fini(&r);
	vc_fini(&v);
}

/* Drop every client frame but SYNs on their way to core 1 (so its
 * children stay in SYN_RECV) while hold is set. */
static int hold;
static int hold_filter(void *arg, unsigned from, const uint8_t *f,
		       uint32_t len, uint64_t *delay)
{
	(void)arg;
	(void)delay;
	if (!hold || from != 0 || len < 54 || f[12] != 8 || f[23] != 6)
		return RS_MEMIF_PASS;
	return (f[14 + 20 + 13] & RS_TH_SYN) ? RS_MEMIF_PASS : RS_MEMIF_DROP;
}

/* Nothing is lost when a core goes: core 1 holds >= 100 established
 * connections it never accepts and a few in SYN_RECV; it is destroyed;
 * core 0 accepts every one of them and every client gets its answer. */
static void t_core_gone(uint32_t feat, const char *name)
{
	struct vc v;
	struct run r;
	struct rs_table_sizes t1;
	struct snap s;
	uint64_t queued;

	vc_init(&v, 2, 0, feat, NULL);
	run_init(&r, &v, 3, 1); /* both listen, only core 0 accepts */
	open_conns(&r, 300);
	run_until_done(&r, 50);
	hold = 1;
	rs_memif_set_filter(v.sd[VC_SERVER].pair[1], hold_filter, NULL);
	open_conns(&r, 20);
	for (int i = 0; i < 30; i++) {
		vc_advance(&v, 1000000ull);
		apps(&r);
	}
	rs_core_tables(v.sd[VC_SERVER].c[1], &t1);
	queued = t1.established;
	T_CHECK(queued >= 100 && t1.syn_recv > 0 && r.done == r.n - (int)queued - (int)t1.syn_recv,
		"%s: core 1 holds %llu unaccepted connections and %u in SYN_RECV, "
		"the others are done (%d of %d)", name, (unsigned long long)queued,
		t1.syn_recv, r.done, r.n);
	snap(&v, &s);
	hold = 0;
	vc_kill(&v, VC_SERVER, 1);
	run_until_done(&r, 3000);
	T_CHECK(r.done == r.n && r.failed == 0,
		"%s: core 1 destroyed: all %d clients got their answer (%d done)",
		name, r.n, r.done);
	T_CHECK(delta(&v, &s, "accept_global") == queued + t1.syn_recv &&
			delta(&v, &s, "tcp_adopted") >= queued + t1.syn_recv,
		"%s: core 0 adopted and accepted the %llu + %u from the global "
		"socket (%llu)", name, (unsigned long long)queued, t1.syn_recv,
		(unsigned long long)delta(&v, &s, "accept_global"));
	run_fini(&r);
	vc_fini(&v);
}

/* 2+2 virtual cores; the server's core 1 out of the group while its
 * cores are still joining (the shim: rs_stack_cores_joining); core 0
 * listens and accepts. */
static void before_join(struct vc *v, struct run *r, uint32_t feat,
			const char *name)
{
	T_CHECK(vc_init(v, 2, 0, feat, NULL) == 0, "%s: 2+2 virtual cores",
		name);
	rs_stack_cores_joining(v->sd[VC_SERVER].s, 1);
	vc_member(v, VC_SERVER, 1, 0);
	run_init(r, v, 1, 1);
}

/* Core 1 joins the group; the stack is told the group is whole. */
static void join(struct vc *v)
{
	vc_member(v, VC_SERVER, 1, 1);
	rs_stack_cores_joining(v->sd[VC_SERVER].s, 0);
}

/* A core joins the fanout group under running connections, as a
 * program's second thread makes its core while the first one serves
 * (the shim: rs_stack_cores_joining): the server's core 1 is out of the
 * group while N connections are made and queued on core 0, then joins;
 * about half of their frames land on core 1 from then on.  Each is
 * handed to core 0 (the connections are global), none is answered with
 * a RST by core 1's listener; the connections made after the join are
 * in their cores' own tables again. */
static void t_core_joins(uint32_t feat, const char *name)
{
	enum { N = 64 };
	struct vc v;
	struct run r;
	struct snap s;

	before_join(&v, &r, feat, name);
	snap(&v, &s);
	open_conns(&r, N);
	vc_settle(&v); /* established, queued on core 0, nothing sent yet */
	join(&v);
	run_until_done(&r, 2000);
	T_CHECK(r.done == N && r.failed == 0 && r.answered == N,
		"%s: core 1 joined under %d connections of core 0: each ping "
		"answered (%d done, %d failed)", name, N, r.done, r.failed);
	T_CHECK(delta(&v, &s, "tcp_rst_tx") == 0 &&
			delta(&v, &s, "drop_tcp_listen_other") == 0,
		"%s: no RST from core 1's listener (%llu sent)", name,
		(unsigned long long)delta(&v, &s, "tcp_rst_tx"));
	T_CHECK(delta(&v, &s, "steer_away") > 0,
		"%s: core 1 handed their frames to core 0 (%llu)", name,
		(unsigned long long)delta(&v, &s, "steer_away"));
	/* after the join: core 1 listens too; its flows stay on it */
	r.lfd[1] = server_listen(&v, 1);
	r.accept_mask = 3;
	snap(&v, &s);
	open_conns(&r, N);
	run_until_done(&r, 2000);
	T_CHECK(r.done == 2 * N && r.failed == 0,
		"%s: %d more connections after the join (%d done, %d failed)",
		name, N, r.done - N, r.failed);
	if (feat & RS_FEAT_LOCAL_ESTAB)
		T_CHECK(delta(&v, &s, "lookup_estab_local") >= 2 * N &&
				delta(&v, &s, "steer_away") == 0,
			"%s: those are in their cores' own tables (%llu local "
			"lookups, %llu global), no segment landed away from its "
			"owner", name,
			(unsigned long long)delta(&v, &s, "lookup_estab_local"),
			(unsigned long long)delta(&v, &s, "lookup_estab_global"));
	run_fini(&r);
	vc_fini(&v);
}

/* The SYNs of N connections reach core 0 while core 1 is out of the
 * group and wait in its ring; core 1 joins, the stack is told
 * (joining off), and only then does core 0 poll: those SYNs were
 * steered by the old group, and so their children stay global although
 * the group is final (core 0 had not emptied its ring since), and the
 * ACKs that now land on core 1 find them. */
static void t_join_in_flight(uint32_t feat, const char *name)
{
	enum { N = 100 }; /* more than one receive burst */
	struct vc v;
	struct run r;
	struct snap s;

	before_join(&v, &r, feat, name);
	snap(&v, &s);
	open_conns(&r, N);
	for (unsigned k = 0; k < v.sd[VC_CLIENT].n; k++)
		vc_step(&v, VC_CLIENT, k, v.now); /* the SYNs, to core 0 */
	join(&v);
	run_until_done(&r, 2000);
	T_CHECK(r.done == N && r.failed == 0 &&
			delta(&v, &s, "tcp_rst_tx") == 0,
		"%s: SYNs steered before the join, ACKs after: every ping "
		"answered (%d done, %d failed, %llu RST sent)", name, r.done,
		r.failed, (unsigned long long)delta(&v, &s, "tcp_rst_tx"));
	run_fini(&r);
	vc_fini(&v);
}

/* Connections from fixed client ports (a new incarnation of the same
 * pairs later): connection i from port 20000 + 2 i + its core, so that
 * with rfd the replies come home on the client side. */
static void open_conns_from(struct run *r, int n)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	struct vc_side *cs = &r->v->sd[VC_CLIENT];

	inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
	for (int i = 0; i < n && r->n < MAXC; i++) {
		struct conn *c = &r->c[r->n++];
		struct sockaddr_in src = {.sin_family = AF_INET};
		c->state = 0;
		c->core = (unsigned)i % cs->n;
		src.sin_port = htons((uint16_t)(20000 + 2 * i + (int)c->core));
		c->fd = rs_socket(cs->c[c->core], AF_INET, SOCK_STREAM, 0);
		rs_setsockopt(cs->c[c->core], c->fd, SOL_SOCKET, SO_REUSEADDR,
			      &(int){1}, sizeof(int));
		rs_bind(cs->c[c->core], c->fd, (struct sockaddr *)&src, sizeof(src));
		rs_connect(cs->c[c->core], c->fd, (struct sockaddr *)&dst,
			   sizeof(dst));
	}
}

/* TIME_WAIT entries made while core 1 was out of the group are global
 * (their flows were not sure to stay on core 0).  After the join, a new
 * SYN of the same pair lands on core 1, which finds core 0's entry and
 * hands the SYN to core 0; the child made there must be global too: its
 * ACK lands on core 1 again, where a child in core 0's own table is
 * invisible and core 1's listener answered it with a RST. */
static void t_join_tw_reuse(uint32_t feat, const char *name)
{
	enum { N = 64 };
	struct vc v;
	struct run r;
	struct snap s;

	before_join(&v, &r, feat, name);
	open_conns_from(&r, N);
	run_until_closed(&r, 2000); /* the server closed first: TIME_WAIT */
	T_CHECK(r.done == N, "%s: %d connections from fixed ports while core 1 "
		"is out (%d done, %d failed)", name, N, r.done, r.failed);
	join(&v);
	vc_settle(&v); /* core 0's ring empty since: the group is final */
	r.lfd[1] = server_listen(&v, 1);
	r.accept_mask = 3;
	r.n = r.done = r.failed = 0;
	snap(&v, &s);
	open_conns_from(&r, N); /* the same pairs again */
	run_until_closed(&r, 2000);
	T_CHECK(delta(&v, &s, "tcp_tw_reused") > 0 &&
			delta(&v, &s, "steer_away") > 0,
		"%s: new SYNs of the pairs in TIME_WAIT, some handed to core 0 "
		"(%llu reused, %llu handed)", name,
		(unsigned long long)delta(&v, &s, "tcp_tw_reused"),
		(unsigned long long)delta(&v, &s, "steer_away"));
	T_CHECK(r.done == N && r.failed == 0 && delta(&v, &s, "tcp_rst_tx") == 0,
		"%s: every reused pair answered (%d done, %d failed, %llu RST "
		"sent)", name, r.done, r.failed,
		(unsigned long long)delta(&v, &s, "tcp_rst_tx"));
	run_fini(&r);
	vc_fini(&v);
}

/* Descriptor numbers: with fastfd each core numbers its own
 * 1..max_sockets (apps size per-core tables by max_sockets), the same
 * number naming a different socket on each core; base: one table, every
 * number unique in the stack. */
#define FDS 64

static void few_fds(int side, struct rs_stack_conf *conf)
{
	(void)side;
	conf->max_sockets = FDS;
}

static void t_fd_numbers(uint32_t feat, const char *name)
{
	enum { N = 4 };
	static uint8_t seen[N * FDS + 2];
	struct vc v;
	int n[N] = {0}, in_range = 1, unique = 1;
	uint32_t ev;

	memset(seen, 0, sizeof(seen));
	T_CHECK(vc_init(&v, N, feat, feat, few_fds) == 0,
		"%s: %d cores, max_sockets %d", name, N, FDS);
	for (unsigned k = 0; k < N; k++) {
		struct rs_core *c = v.sd[VC_SERVER].c[k];
		int fd;
		while (n[k] <= FDS &&
		       (fd = rs_socket(c, AF_INET, SOCK_STREAM, 0)) >= 0) {
			n[k]++;
			if (fd < 1 || fd > N * FDS) {
				in_range = 0;
				continue;
			}
			if (feat & RS_FEAT_FAST_FD)
				in_range &= fd <= FDS;
			unique &= !seen[fd];
			seen[fd] = 1;
		}
		T_CHECK(n[k] == FDS && errno == EMFILE,
			"%s: core %u opens max_sockets (%d) sockets, then EMFILE "
			"(%d)", name, k, FDS, n[k]);
		if (feat & RS_FEAT_FAST_FD)
			memset(seen, 0, sizeof(seen));
	}
	if (feat & RS_FEAT_FAST_FD) {
		T_CHECK(in_range && unique,
			"%s: every core's descriptors are 1..%d, each once", name,
			FDS);
		struct rs_core *c0 = v.sd[VC_SERVER].c[0],
			       *c1 = v.sd[VC_SERVER].c[1];
		T_CHECK(rs_close(c0, 5) == 0 && rs_close(c0, 5) < 0 &&
				errno == EBADF &&
				rs_sock_events(c1, 5, &ev) == 0,
			"%s: number 5 closed on core 0 is still core 1's socket",
			name);
	} else {
		T_CHECK(in_range && unique,
			"%s: descriptors 1..%d, unique across the cores", name,
			N * FDS);
	}
	vc_fini(&v);
}

int main(void)
{
	static const struct {
		uint32_t f;
		const char *name;
	} sets[] = {
		{0, "base"},
		{RS_FEAT_LOCAL_LISTEN, "listen"},
		{RS_FEAT_LOCAL_ESTAB, "estab"},
		{RS_FEAT_LOCAL_LISTEN | RS_FEAT_LOCAL_ESTAB, "listen,estab"},
		{RS_FEAT_RFD, "rfd"},
		{RS_FEAT_FAST_FD, "fastfd"},
		{RS_FEAT_ALL, "full"},
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < RS_ARRAY_LEN(sets); i++)
		traffic(sets[i].f, sets[i].name);
	t_oldest_first();
	t_fd_numbers(0, "base");
	t_fd_numbers(RS_FEAT_FAST_FD, "fastfd");
	t_fd_numbers(RS_FEAT_ALL, "full");
	t_core_gone(RS_FEAT_LOCAL_LISTEN, "listen");
	t_core_gone(RS_FEAT_ALL, "full");
	t_core_joins(RS_FEAT_LOCAL_LISTEN | RS_FEAT_LOCAL_ESTAB, "listen,estab");
	t_core_joins(RS_FEAT_ALL, "full");
	t_join_in_flight(RS_FEAT_ALL, "full");
	t_join_tw_reuse(RS_FEAT_ALL, "full");
	return t_summary();
}
