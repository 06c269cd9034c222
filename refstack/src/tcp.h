/* TCP internals shared by tcp_*.c.  The TCP core does no I/O: it reads the
 * time from core->now (set by rs_poll) and emits frames into the core's
 * transmit batch. */
#ifndef RS_TCP_H
#define RS_TCP_H

#include "stack.h"

#define RS_TCP_RTO_INIT_US 1000000u
#define RS_TCP_RTO_MIN_US 200000u
#define RS_TCP_RTO_MAX_US 60000000u
#define RS_TCP_DELACK_NS 40000000ull
#define RS_TCP_SYN_RETRIES 6
#define RS_TCP_RETRIES 12
#define RS_TCP_FIN_TIMEOUT_NS 60000000000ull
#define RS_TCP_IW_SEGS 10
#define RS_TCP_TLP_MIN_NS 10000000ull /* tail loss probe floor: 10 ms */
#define RS_TCP_DELACK_MAX_NS 200000000ull /* RFC 8985 WCDelAckT */
#define RS_TCP_DEFAULT_MSS 536
#define RS_TCP_SNDBUF_MAX (4u << 20) /* autotuning's ceiling (tcp_wmem[2]) */

/* tcp_tcb.c */
struct rs_tcb *rs_tcb_new(struct rs_core *c, uint32_t sndbuf,
			  uint32_t rcvbuf);
void rs_tcb_free(struct rs_tcb *t);
/* Out of the established table; buffers and timers released except the
 * receive data an attached socket may still read. */
void rs_tcb_detach(struct rs_tcb *t);
/* Abort: detach, report err to the socket (or free when orphaned). */
void rs_tcb_drop(struct rs_tcb *t, int err);
/* The only place a TCB changes state; traces old => new. */
void rs_tcp_set_state(struct rs_tcb *t, int state);
uint32_t rs_tcp_isn(struct rs_core *c, const struct rs_hnode *k);
/* A connection's timestamp offset: a function of its 4-tuple alone, so a
 * cookie SYN,ACK's timestamp is the connection's own and the timestamps
 * of a reused 4-tuple never go back. */
uint32_t rs_tcp_ts_offset(const struct rs_core *c, const struct rs_hnode *k);
uint32_t rs_tcp_ts_now(const struct rs_core *c);
/* The receive window scale announced for a receive buffer of cap bytes. */
uint8_t rs_tcp_wscale_for(uint32_t cap);
/* Negotiate options from a SYN (passive: from the peer's SYN; active:
 * from the SYN-ACK).  The congestion control starts in
 * rs_tcp_established (rs_cc_init: the RTT of the handshake is known then,
 * and a retransmitted SYN or SYN,ACK gives the one-segment window); until
 * then t->cc is NULL: SYN_SENT and a listener's SYN_RECV child send no
 * data, leave only through rs_tcp_established or a drop, and their
 * retransmission timer does not reach the congestion control.  A
 * simultaneous open's SYN_RECV (which close() takes to FIN_WAIT_1)
 * starts it at once. */
void rs_tcp_syn_options(struct rs_tcb *t, const struct rs_tcp_seg *seg);
void rs_tcp_established(struct rs_tcb *t);
/* Listener children: queue for accept, or drop. */
void rs_tcp_child_ready(struct rs_tcb *t);
void rs_tcp_child_unlink(struct rs_tcb *t);

/* tcp_input.c: a segment of this core (dm from rs_tcp_demux) */
void rs_tcp_input(struct rs_core *c, const struct rs_ipv4 *ip,
		  const struct rs_tcp_seg *seg, const struct rs_tcp_demux *dm);
/* A SYN (or cookie ACK) for listener l of this core: the child is made
 * here. */
int rs_tcp_listen_input(struct rs_core *c, struct rs_listener *l,
			const struct rs_ipv4 *ip, const struct rs_tcp_seg *seg);
void rs_tcp_challenge_ack(struct rs_tcb *t);

/* tcp_hash.c: which table holds a connection (the core's own with
 * `estab` when every frame of it lands on this core, else the global). */
int rs_tcp_hash_insert(struct rs_core *c, struct rs_hnode *n, int local);
void rs_tcp_hash_remove(struct rs_core *c, struct rs_hnode *n);
/* Move n to the global table (before its TCB leaves this core). */
void rs_tcp_hash_globalise(struct rs_core *c, struct rs_hnode *n);
/* Entry of a 4-tuple in this core's table or the global one; *owner is
 * its core (RS_CORE_PARKED: nobody's). */
struct rs_hnode *rs_tcp_hash_lookup(struct rs_core *c, uint32_t laddr,
				    uint16_t lport, uint32_t raddr,
				    uint16_t rport, unsigned *owner);
/* estab: may an active connection from lport live in the core's own
 * table (RFD brings its replies home)? */
int rs_tcp_active_local(const struct rs_core *c, uint16_t lport);

/* tcp_listen.c: listening sockets across cores, parking and adoption */
/* Listener of a SYN to (addr, port): this core's own copy (*l), else the
 * global listen socket (*g, a reference: rs_glisten_put). */
void rs_tcp_listen_lookup(struct rs_core *c, uint32_t addr, uint16_t port,
			  struct rs_listener **l, struct rs_glisten **g);
void rs_glisten_put(struct rs_core *c, struct rs_glisten *g);
/* Take g's lock (rs_lock_give to drop it); repairs g's queues when the
 * lock is taken over from a dead process (lock.h). */
void rs_glisten_lock(struct rs_core *c, struct rs_glisten *g);
/* This core's SYN queue for g (a listener without a socket: its
 * children are parked on g once established); NULL without memory. */
struct rs_listener *rs_tcp_hidden(struct rs_core *c, struct rs_glisten *g);
/* Accept queue full (for a hidden listener: g's). */
int rs_tcp_listen_full(const struct rs_listener *l);
/* l (sock, h.laddr, h.lport, options set) starts listening: joins the
 * global listen socket of its address or creates it.  0 or -EADDRINUSE /
 * -ENOMEM. */
int rs_tcp_listen_start(struct rs_core *c, struct rs_listener *l,
			int reuseport);
/* With `listen`, l (started, on the core's listener list) becomes the
 * core's copy: SYNs landing on the core find it in the core's own table.
 * The last step of making a listener (what a SYN can find must already
 * be whole); again on a copy already in the table it only says so. */
void rs_tcp_listen_local(struct rs_core *c, struct rs_listener *l);
/* l stops: its children move to the global socket while other sockets
 * listen on it, else they are reset (RFC 9293: ECONNABORTED). */
void rs_tcp_listen_stop(struct rs_core *c, struct rs_listener *l);
/* The next connection to accept on l, local or global queue, oldest
 * first (neither can starve); adopted by this core; NULL if none. */
struct rs_tcb *rs_tcp_accept(struct rs_core *c, struct rs_listener *l);
int rs_tcp_listen_ready(const struct rs_listener *l);
/* Poll step: park this step's children of global sockets, wake
 * listeners whose global queue grew, adopt SYN_RECV orphans. */
void rs_tcp_listen_poll(struct rs_core *c);
/* A frame for a parked connection (rx demux said RS_CORE_PARKED): kept
 * for its adopter.  Returns RS_CORE_PARKED when kept or dropped (counted),
 * else the core that owns it now. */
unsigned rs_tcp_park_frame(struct rs_core *c, const struct rs_pkt *p,
			   const struct rs_frame *f);
/* Core destruction: children of global sockets this core still owns and
 * its to-park list go to their global socket. */
void rs_tcp_listen_core_fini(struct rs_core *c);

/* tcp_ack.c: the ACK field (RFC 9293 3.10.7.4 fifth check) */
int rs_tcp_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg);

/* tcp_rcv.c: segment text and FIN (seventh and eighth checks) */
void rs_tcp_data(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		 uint32_t seq, const uint8_t *data, uint32_t len);
void rs_tcp_fin(struct rs_tcb *t);
/* Raw window field to advertise; moves rcv_adv forward. */
uint16_t rs_tcp_rcv_wnd(struct rs_tcb *t);
uint32_t rs_tcp_rcv_space(const struct rs_tcb *t);
/* Called after the application read: window update if worthwhile. */
void rs_tcp_rcvd(struct rs_tcb *t);

/* An ACK at the next output, for a reason that wants it now (loss,
 * a duplicate, a probe): it does not wait for the application. */
static inline void rs_tcp_ack_now(struct rs_tcb *t)
{
	t->flags = (t->flags | TF_ACK_NOW) & ~(uint32_t)TF_ACK_APP;
}

/* An ACK that the application's answer can carry (the handshake's last
 * ACK before the request, the ACK of a FIN before the close's FIN): it
 * may wait until the application's turn ends, unless an ACK is already
 * due for another reason. */
static inline void rs_tcp_ack_after_app(struct rs_tcb *t)
{
	if (!(t->flags & TF_ACK_NOW))
		t->flags |= TF_ACK_NOW | TF_ACK_APP;
}

/* tcp_output.c */
void rs_tcp_output(struct rs_tcb *t);
void rs_tcp_schedule(struct rs_tcb *t);
void rs_tcp_run_outq(struct rs_core *c, int hold);
void rs_tcp_send_syn(struct rs_tcb *t);
/* Emit one segment: seq, len payload bytes from the send ring, flags. */
void rs_tcp_xmit(struct rs_tcb *t, uint32_t seq, uint32_t len, uint8_t flags);
void rs_tcp_send_ack(struct rs_tcb *t);
void rs_tcp_send_rst(struct rs_tcb *t);
/* RST or ACK without a TCB (RFC 9293 3.10.7.1 and TIME_WAIT). */
void rs_tcp_send_raw(struct rs_core *c, uint32_t laddr, uint16_t lport,
		     uint32_t raddr, uint16_t rport, uint32_t seq,
		     uint32_t ack, uint8_t flags, uint16_t wnd,
		     const uint32_t *ts);
void rs_tcp_reset_reply(struct rs_core *c, const struct rs_ipv4 *ip,
			const struct rs_tcp_seg *seg);
uint32_t rs_tcp_data_end(const struct rs_tcb *t);

/* tcp_timer.c */
int rs_timerq_init(struct rs_timerq *q, uint32_t cap, struct rs_arena *a);
void rs_timerq_fini(struct rs_timerq *q);
/* After a change of the TCB's timers: into the heap, or earlier in it
 * (a later deadline leaves its place alone until it comes up). */
void rs_tcp_timer_update(struct rs_tcb *t);
/* The earlier of two timers, 0 = off (an off timer wraps to the largest
 * value minus one, so a plain minimum skips it). */
static inline uint64_t rs_timer_min(uint64_t a, uint64_t b)
{
	return RS_MIN(a - 1, b - 1) + 1;
}
/* After setting timers whose earliest is `when` (0: they were turned off),
 * the others as they were at the last update: a TCB in the heap keeps its
 * place unless `when` comes before it, so only then is the heap touched
 * (rs_tcp_timer_update); most calls (every ACK pushes the RTO back) are a
 * compare. */
static inline void rs_tcp_timer_arm(struct rs_tcb *t, uint64_t when)
{
	if (t->heap_idx && (!when || when >= t->deadline))
		return;
	rs_tcp_timer_update(t);
}
/* Out of the core's heap, deadlines kept (rs_tcp_timer_update puts it
 * back, in whichever core then owns it). */
void rs_tcp_timer_unlink(struct rs_tcb *t);
void rs_tcp_timers_run(struct rs_core *c);
uint64_t rs_tcp_next_timer(const struct rs_core *c);
void rs_tcp_rearm_rtx(struct rs_tcb *t);
/* Keepalive (tcp_keepalive.c): SO_KEEPALIVE on or off with its
 * parameters (re-arms the timer); the timer's expiry (RS_ERROR when the
 * connection was aborted: the peer did not answer). */
void rs_tcp_keepalive_set(struct rs_tcb *t, int on,
			  const struct rs_keepalive *ka);
int rs_tcp_keepalive_fire(struct rs_tcb *t);
/* TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT in effect (defaults filled). */
int rs_tcp_keepalive_get(const struct rs_keepalive *ka, int name);
void rs_tcp_rtt_sample(struct rs_tcb *t, uint64_t rtt_ns);
/* The RTT sample of the segment that completes the handshake (its ACK of
 * the SYN); also without TF_RTT, from its timestamp echo. */
void rs_tcp_rtt_syn(struct rs_tcb *t, const struct rs_tcp_seg *seg);

/* A delivery-rate sample (tcp_rate.c). */
struct rs_rate_sample {
	uint32_t prior_delivered;  /* rs_tcb.delivered when the newest
				    * delivered segment was sent */
	uint32_t delivered;        /* bytes delivered since then */
	uint64_t prior_time;
	uint64_t send_elapsed, ack_elapsed;
	uint64_t interval_ns;      /* 0: no valid sample */
	uint64_t rate;             /* bytes/s */
	uint8_t valid;             /* a segment was delivered */
	uint8_t app_limited;
};

/* What one ACK did to the scoreboard (tcp_ack.c fills it in). */
struct rs_ackinfo {
	uint32_t acked;            /* bytes the cumulative ACK delivered (not
				    * counting those SACKed before) */
	uint32_t sacked;           /* bytes newly SACKed */
	uint64_t rtt_ns;           /* RTT sample (never-retransmitted data), 0 none */
	uint8_t dsack;             /* the ACK carried a D-SACK */
	uint8_t dsack_tlp;         /* ... for the tail loss probe */
	uint8_t dupack;            /* a duplicate ACK (RFC 5681 definition) */
	uint8_t una_advanced;      /* snd_una moved */
	struct rs_rate_sample rs;  /* with cc->rate */
};

/* tcp_txq.c: the send scoreboard */
struct rs_txrec *rs_txq_at(const struct rs_tcb *t, uint32_t i);
uint32_t rs_txrec_end(const struct rs_txrec *r);
/* RS_OK if one more record fits (grows the ring), else RS_ERROR. */
int rs_txq_room(struct rs_tcb *t);
/* A new segment [seq, seq + len) went out now (after rs_txq_room). */
void rs_txq_add(struct rs_tcb *t, uint32_t seq, uint32_t len);
/* Change a record's flags, keeping the byte counts right. */
void rs_txq_set(struct rs_tcb *t, struct rs_txrec *r, uint8_t set,
		uint8_t clear);
uint32_t rs_txq_find(const struct rs_tcb *t, uint32_t seq);
void rs_txq_ack(struct rs_tcb *t, uint32_t ack, struct rs_ackinfo *ai);
void rs_txq_fini(struct rs_tcb *t);
uint32_t rs_tcp_pipe(const struct rs_tcb *t);

/* tcp_sack.c: SACK blocks onto the scoreboard, D-SACK (RFC 2018, 2883) */
void rs_sack_update(struct rs_tcb *t, const struct rs_tcp_seg *seg,
		    struct rs_ackinfo *ai);

/* tcp_rack.c: RACK-TLP (RFC 8985) */
void rs_rack_delivered(struct rs_tcb *t, const struct rs_txrec *r,
		       struct rs_ackinfo *ai);
void rs_rack_dsack(struct rs_tcb *t);
/* Mark lost what RACK says is; arms the reordering timer.  Returns the
 * number of records newly marked. */
uint32_t rs_rack_detect_loss(struct rs_tcb *t);
void rs_tlp_arm(struct rs_tcb *t);
void rs_tlp_fire(struct rs_tcb *t);
void rs_tlp_ack(struct rs_tcb *t, uint32_t ack, const struct rs_ackinfo *ai);

/* tcp_recovery.c: loss detection, fast recovery and timeout recovery */
void rs_tcp_recovery_ack(struct rs_tcb *t, const struct rs_tcp_seg *seg,
			 const struct rs_ackinfo *ai, uint32_t prior_pipe);
void rs_tcp_reorder_timeout(struct rs_tcb *t);
void rs_tcp_enter_loss(struct rs_tcb *t);
/* Retransmit one record of the scoreboard (never a SACKed one: the pipe
 * would count it in flight, and no SACK would take it out again). */
void rs_tcp_retransmit(struct rs_tcb *t, struct rs_txrec *r);

/* tcp_rate.c: delivery-rate estimation
 * (draft-cheng-iccrg-delivery-rate-estimation), for a congestion control
 * with ops->rate */
void rs_rate_sent(struct rs_tcb *t, struct rs_txrec *r);
void rs_rate_delivered(struct rs_tcb *t, const struct rs_txrec *r,
		       struct rs_ackinfo *ai);
/* After the ACK's records were delivered: the sample (ai->rs). */
void rs_rate_gen(struct rs_tcb *t, struct rs_ackinfo *ai);
/* Output found nothing more to send with cwnd to spare. */
void rs_rate_check_app_limited(struct rs_tcb *t);

/* What an ACK tells the congestion control. */
struct rs_cc_ack {
	uint32_t delivered;        /* RFC 6937 DeliveredData, bytes */
	uint32_t prior_pipe;       /* pipe before the ACK */
	uint32_t lost;             /* bytes newly marked lost */
	uint32_t rtt_us;           /* RTT sample of this ACK, 0 = none */
	uint8_t una_advanced;
	const struct rs_rate_sample *rs; /* with ops->rate */
};

/* One congestion control (tcp_cc_reno.c, tcp_cc_bbr.c); tcp_cc.c's
 * table holds them.  Loss detection and the recovery states are
 * tcp_recovery.c's: these only decide cwnd (and the pacing rate). */
struct rs_cc_ops {
	const char *name;
	uint8_t rate;              /* wants delivery-rate samples */
	void (*init)(struct rs_tcb *t);
	/* every ACK that reaches loss recovery (after its state changes) */
	void (*ack)(struct rs_tcb *t, const struct rs_cc_ack *a);
	void (*enter_recovery)(struct rs_tcb *t);
	/* RACK's reordering timer marked data lost (no ACK) */
	void (*reorder_loss)(struct rs_tcb *t);
	/* fast recovery or timeout recovery ends (TF_* still set) */
	void (*exit_recovery)(struct rs_tcb *t);
	void (*rto)(struct rs_tcb *t);
	void (*undo)(struct rs_tcb *t);
	void (*tlp_loss)(struct rs_tcb *t);
	/* the model for inspection (cc_mode, bw, min_rtt_us) */
	void (*info)(const struct rs_tcb *t, struct rs_sock_info *i);
};
extern const struct rs_cc_ops rs_cc_reno, rs_cc_bbr;

/* tcp_cc.c: choose the stack's congestion control and init it */
void rs_cc_init(struct rs_tcb *t);
uint32_t rs_cc_flight(const struct rs_tcb *t);
/* the initial window (RFC 6928; one segment after a SYN timeout) */
uint32_t rs_cc_initial_window(const struct rs_tcb *t);
static inline void rs_cc_ack(struct rs_tcb *t, const struct rs_cc_ack *a)
{
	t->cc->ack(t, a);
}
static inline void rs_cc_enter_recovery(struct rs_tcb *t)
{
	t->cc->enter_recovery(t);
}
static inline void rs_cc_reorder_loss(struct rs_tcb *t)
{
	t->cc->reorder_loss(t);
}
static inline void rs_cc_exit_recovery(struct rs_tcb *t)
{
	t->cc->exit_recovery(t);
}
static inline void rs_cc_rto(struct rs_tcb *t)
{
	t->cc->rto(t);
}
static inline void rs_cc_undo(struct rs_tcb *t)
{
	t->cc->undo(t);
}
static inline void rs_cc_tlp_loss(struct rs_tcb *t)
{
	t->cc->tlp_loss(t);
}

/* tcp_output.c: pacing (rs_tcb.pacing_rate) */
void rs_tcp_pace_sent(struct rs_tcb *t, uint32_t len);

/* tcp_synq.c: the SYN backlog under a flood */
enum { RS_SYNQ_CHILD, RS_SYNQ_COOKIE, RS_SYNQ_DROP };
/* What to do with a SYN from raddr (may evict an old embryonic). */
int rs_synq_admit(struct rs_core *c, struct rs_listener *l, uint32_t raddr,
		  int *proven);
/* Cookies sent lately (or always on): an ACK may carry one. */
int rs_synq_cookies_recent(const struct rs_core *c,
			   const struct rs_listener *l);
void rs_synq_add(struct rs_listener *l, struct rs_tcb *t, int proven);
void rs_synq_del(struct rs_listener *l, struct rs_tcb *t);
void rs_synq_peer_seen(struct rs_core *c, uint32_t ip);

/* tcp_cookie.c */
void rs_cookie_synack(struct rs_core *c, const struct rs_listener *l,
		      const struct rs_ipv4 *ip, const struct rs_tcp_seg *seg);
uint16_t rs_cookie_check(struct rs_core *c, const struct rs_ipv4 *ip,
			 const struct rs_tcp_seg *seg);
/* The options a cookie connection negotiated (from the echoed timestamp);
 * call with the TCB built from the cookie, its ISS set. */
void rs_cookie_options(struct rs_tcb *t, const struct rs_tcp_seg *seg);

/* tcp_tw.c */
void rs_tcp_time_wait(struct rs_tcb *t);
void rs_tw_input(struct rs_core *c, struct rs_tw *tw, const struct rs_ipv4 *ip,
		 const struct rs_tcp_seg *seg);
void rs_tw_expire(struct rs_core *c);
void rs_tw_kill(struct rs_core *c, struct rs_tw *tw);
void rs_tw_fini(struct rs_core *c);

/* Tell the socket layer that something happened to t's socket (no-op
 * for an orphaned TCB) or to l's listening socket. */
static inline void rs_tcp_notify(struct rs_tcb *t)
{
	if (t->sock)
		t->core->stack->sock_event(t->sock);
}
void rs_tcp_notify_listener(struct rs_core *c, struct rs_listener *l);

/* tcp_input.c: the demultiplexer (which table entry, which core) */
void rs_tcp_demux(struct rs_core *c, const struct rs_ipv4 *ip,
		  const struct rs_tcp_seg *seg, struct rs_tcp_demux *dm);

#endif
