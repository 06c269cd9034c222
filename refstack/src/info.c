/* Inspection: counter names, socket snapshots, table sizes. */
#include <arpa/inet.h>

#include "lock.h"
#include "tcp.h"

const char *const rs_counter_names[RS_NCOUNTERS] = {
#define RS_X_NAME(name, desc) #name,
	RS_CORE_COUNTERS(RS_X_NAME)
#undef RS_X_NAME
};

const char *const rs_counter_descs[RS_NCOUNTERS] = {
#define RS_X_DESC(name, desc) desc,
	RS_CORE_COUNTERS(RS_X_DESC)
#undef RS_X_DESC
};

/* rs_lock_take counts into five adjacent counters (lock.h) */
#define RS_LOCK_CTRS(x)                                                      \
	_Static_assert(offsetof(struct rs_core_counters, x##_wait_max_ns) == \
			       offsetof(struct rs_core_counters, x##_acquired) + \
				       RS_LK_WAIT_MAX_NS * sizeof(uint64_t) && \
			       offsetof(struct rs_core_counters, x##_wait_ns) == \
			       offsetof(struct rs_core_counters, x##_acquired) + \
				       RS_LK_WAIT_NS * sizeof(uint64_t) && \
			       offsetof(struct rs_core_counters, x##_contended) == \
			       offsetof(struct rs_core_counters, x##_acquired) + \
				       RS_LK_CONTENDED * sizeof(uint64_t) && \
			       offsetof(struct rs_core_counters, x##_recovered) == \
			       offsetof(struct rs_core_counters, x##_acquired) + \
				       RS_LK_RECOVERED * sizeof(uint64_t), \
		       #x ": acquired, contended, wait_ns, wait_max_ns, recovered in order")
RS_LOCK_CTRS(lock_listen);
RS_LOCK_CTRS(lock_acceptq);
RS_LOCK_CTRS(lock_ehash);
RS_LOCK_CTRS(lock_ports);
RS_LOCK_CTRS(lock_fdtab);
RS_LOCK_CTRS(lock_handoff);

_Static_assert(sizeof(struct rs_core_counters) ==
		       RS_NCOUNTERS * sizeof(uint64_t),
	       "counters must be a plain uint64_t array");

static void addr_out(struct sockaddr_in *sin, uint32_t ip, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(ip);
	sin->sin_port = htons(port);
}

static void tcb_info(const struct rs_tcb *t, struct rs_sock_info *i)
{
	memset(i, 0, sizeof(*i));
	i->fd = t->fd;
	i->core = t->core->index;
	i->state = rs_tcp_state_names[t->state];
	addr_out(&i->local, t->h.laddr, t->h.lport);
	addr_out(&i->remote, t->h.raddr, t->h.rport);
	i->snd_queue = t->snd.len;
	i->rcv_queue = t->rcv.len;
	i->rto_us = t->rto_us;
	i->srtt_us = t->srtt_us;
	i->cwnd = t->cwnd;
	i->ssthresh = t->ssthresh;
	i->snd_wnd = t->snd_wnd;
	i->rcv_wnd = rs_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt
						       : 0;
	i->mss = t->mss;
	i->retransmits = t->retransmits;
	i->cc_mode = "";
	if (t->cc) {
		i->cc = t->cc->name;
		i->pacing_rate = t->pacing_rate;
		t->cc->info(t, i);
	}
}

int rs_core_foreach_socket(struct rs_core *c, rs_sock_cb cb, void *arg)
{
	struct rs_sock_info i;
	struct rs_list *p;
	int rc;

	for (p = c->listeners.next; p != &c->listeners; p = p->next) {
		const struct rs_listener *l =
			RS_CONTAINER(p, struct rs_listener, llink);
		memset(&i, 0, sizeof(i));
		i.fd = l->fd;
		i.core = c->index;
		i.state = "LISTEN";
		addr_out(&i.local, l->h.laddr, l->h.lport);
		addr_out(&i.remote, 0, 0);
		i.accept_queue = l->nacceptq;
		rc = cb(&i, arg);
		if (rc)
			return rc;
	}
	for (p = c->tcbs.next; p != &c->tcbs; p = p->next) {
		tcb_info(RS_CONTAINER(p, struct rs_tcb, link), &i);
		rc = cb(&i, arg);
		if (rc)
			return rc;
	}
	return 0;
}

void rs_core_tables(const struct rs_core *c, struct rs_table_sizes *t)
{
	t->sockets = c->nsockets;
	t->listen = c->nlisten;
	t->syn_recv = c->nsynrecv;
	t->established = c->nestab;
	t->time_wait = c->ntw;
}
