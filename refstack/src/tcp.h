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
#define RS_TCP_DEFAULT_MSS 536

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
uint32_t rs_tcp_ts_now(const struct rs_core *c);
/* Negotiate options from a SYN (passive: from the peer's SYN; active:
 * from the SYN-ACK). */
void rs_tcp_syn_options(struct rs_tcb *t, const struct rs_tcp_seg *seg);
void rs_tcp_established(struct rs_tcb *t);
/* Listener children: queue for accept, or drop. */
void rs_tcp_child_ready(struct rs_tcb *t);
void rs_tcp_child_unlink(struct rs_tcb *t);

/* tcp_input.c: a segment of this core (dm from rs_tcp_demux) */
void rs_tcp_input(struct rs_core *c, const struct rs_ipv4 *ip,
		  const struct rs_tcp_seg *seg, const struct rs_tcp_demux *dm);
int rs_tcp_listen_input(struct rs_core *c, struct rs_listener *l,
			const struct rs_ipv4 *ip, const struct rs_tcp_seg *seg);
void rs_tcp_challenge_ack(struct rs_tcb *t);
/* Listener for (addr, port): exact address first, then INADDR_ANY. */
struct rs_listener *rs_tcp_listen_lookup(struct rs_core *c, uint32_t addr,
					 uint16_t port, unsigned *owner);
struct rs_listener *rs_listen_copy_for(struct rs_core *c, struct rs_listener *l,
				       unsigned *owner);

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

/* tcp_output.c */
void rs_tcp_output(struct rs_tcb *t);
void rs_tcp_schedule(struct rs_tcb *t);
void rs_tcp_run_outq(struct rs_core *c);
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
/* Recompute the TCB's deadline from its timers and fix its heap place. */
void rs_tcp_timer_update(struct rs_tcb *t);
void rs_tcp_timers_run(struct rs_core *c);
uint64_t rs_tcp_next_timer(const struct rs_core *c);
void rs_tcp_rearm_rtx(struct rs_tcb *t);
void rs_tcp_rtt_sample(struct rs_tcb *t, uint64_t rtt_ns);

/* tcp_cc.c: NewReno (RFC 5681, RFC 6582) */
void rs_cc_init(struct rs_tcb *t);
void rs_cc_ack(struct rs_tcb *t, uint32_t acked);
void rs_cc_dupack(struct rs_tcb *t);
void rs_cc_rto(struct rs_tcb *t);
uint32_t rs_cc_flight(const struct rs_tcb *t);

/* tcp_cookie.c */
void rs_cookie_synack(struct rs_core *c, const struct rs_ipv4 *ip,
		      const struct rs_tcp_seg *seg);
uint16_t rs_cookie_check(struct rs_core *c, const struct rs_ipv4 *ip,
			 const struct rs_tcp_seg *seg);

/* tcp_sack.c */
void rs_sack_update(struct rs_tcb *t, const struct rs_tcp_seg *seg);
uint32_t rs_sack_bytes(const struct rs_tcb *t);
int rs_sack_head_lost(const struct rs_tcb *t);
int rs_sack_retransmit(struct rs_tcb *t);
uint32_t rs_sack_pipe(const struct rs_tcb *t);
void rs_sack_recover(struct rs_tcb *t);

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
