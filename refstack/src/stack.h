/* Internal structures: the stack, its per-core contexts, sockets, TCBs,
 * listeners and compact TIME_WAIT entries. */
#ifndef RS_STACK_H
#define RS_STACK_H

#include "../include/refstack.h"
#include "buf.h"
#include "common.h"
#include "io.h"
#include "lock.h"
#include "seqset.h"
#include "steer.h"
#include "table.h"
#include "wire.h"

#define RS_RX_BURST 64
#define RS_ARP_SLOTS 1024
#define RS_ARPQ_BYTES (256u * 1024u)
#define RS_OOO_MAX 16
#define RS_HANDOFF_MAX 1024
#define RS_PEER_SLOTS 1024

enum rs_tcp_state {
	RS_TCP_CLOSED,
	RS_TCP_LISTEN,
	RS_TCP_SYN_SENT,
	RS_TCP_SYN_RECV,
	RS_TCP_ESTABLISHED,
	RS_TCP_FIN_WAIT_1,
	RS_TCP_FIN_WAIT_2,
	RS_TCP_CLOSE_WAIT,
	RS_TCP_CLOSING,
	RS_TCP_LAST_ACK,
	RS_TCP_TIME_WAIT,
	RS_TCP_NSTATES
};
extern const char *const rs_tcp_state_names[RS_TCP_NSTATES];

/* SO_KEEPALIVE's parameters (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT):
 * 0 = Linux's default (7200 s, 75 s, 9). */
struct rs_keepalive {
	uint16_t idle_s, intvl_s;
	uint8_t cnt;
};

/* TCB flags */
enum {
	TF_ACK_NOW = 1u << 0,    /* send an ACK at the next output */
	TF_DELACK = 1u << 1,     /* an ACK is being delayed */
	TF_FIN_QUEUED = 1u << 2, /* FIN follows the queued data */
	TF_NODELAY = 1u << 3,
	TF_TS = 1u << 4,         /* timestamps negotiated */
	TF_WSCALE = 1u << 5,     /* window scaling negotiated */
	TF_FIN_RCVD = 1u << 6,   /* peer's FIN consumed: end of stream */
	TF_RECOVERY = 1u << 7,   /* fast recovery (PRR) until snd_una >= recover */
	TF_RTT = 1u << 8,        /* the SYN's RTT is being timed */
	TF_OUTQ = 1u << 9,       /* on the core's output list */
	TF_FIN_OOO = 1u << 10,   /* FIN seen beyond a hole: fin_seq */
	TF_SYN_RETX = 1u << 11,  /* SYN was retransmitted: IW = 1 MSS */
	TF_DETACHED = 1u << 12,  /* out of the tables (closed/TIME_WAIT) */
	TF_SHUT_RD = 1u << 13,
	TF_ACCEPTQ = 1u << 14,   /* on the listener's accept queue */
	TF_SACK = 1u << 15,      /* SACK permitted both ways */
	TF_LOSS = 1u << 16,      /* recovery after a timeout until recover */
	TF_REORDER = 1u << 17,   /* the path reorders (RACK reo_wnd > 0) */
	TF_TLP = 1u << 18,       /* a tail loss probe is out: tlp_high */
	TF_TLP_RETX = 1u << 19,  /* ... and it was a retransmission */
	TF_UNDO = 1u << 20,      /* the reduction of this episode may be undone */
	TF_RETRANS_TS = 1u << 21,/* retrans_ts holds the first retransmission's TSval */
	TF_PROVEN = 1u << 22,    /* SYN_RECV child of a peer with history */
	TF_PARKQ = 1u << 23,     /* on the core's to-park list (alink) */
	TF_SYN_RESET = 1u << 24, /* SYN_SENT: a stale ACK was reset, SYN resent */
	TF_KEEPALIVE = 1u << 25, /* SO_KEEPALIVE: probe an idle connection */
	TF_SNDBUF_LOCK = 1u << 26, /* SO_SNDBUF set: the send buffer stays */
	TF_SNDBUF_FULL = 1u << 27, /* the application found it full */
	TF_ACK_APP = 1u << 28,   /* the ACK_NOW may wait one application
				  * turn (tcp_output.c) */
};

/* One transmitted segment on the send scoreboard (tcp_txq.c). */
struct rs_txrec {
	uint32_t start;
	uint16_t len;              /* sequence space (data + FIN) */
	uint8_t flags;             /* RS_TXR_* */
	uint8_t pad;
	uint64_t xmit;             /* last (re)transmission, core time ns */
	/* delivery-rate sampling (tcp_rate.c; only for a congestion control
	 * that asks for it): the connection's state when it was sent */
	uint32_t delivered;        /* rs_tcb.delivered */
	uint32_t pad2;
	uint64_t delivered_time;   /* rs_tcb.delivered_time */
	uint64_t first_tx;         /* rs_tcb.first_tx */
};

enum {
	RS_TXR_SACKED = 1u << 0,
	RS_TXR_LOST = 1u << 1,     /* marked lost, to be retransmitted */
	RS_TXR_RETRANS = 1u << 2,  /* a retransmission of it is in flight */
	RS_TXR_EVER_RETRANS = 1u << 3,
	RS_TXR_APP_LIMITED = 1u << 4, /* sent while the flow was app-limited */
};

/* The scoreboard: records for [snd_una, snd_max) in sequence order, in a
 * ring (power-of-two capacity, grown on demand: the TCB's own
 * RS_TXQ_INLINE records first, then the pool's), and the byte counts the
 * RFC 6675 pipe is made of. */
#define RS_TXQ_INLINE 4u
struct rs_txq {
	struct rs_txrec *r;
	uint32_t cap, head, n;
	uint32_t sacked, lost, retrans; /* bytes with each flag */
	uint32_t lost_pending;     /* bytes LOST and not being retransmitted */
};

/* BBR's model of the path (tcp_cc_bbr.c). */
struct rs_bbr {
	uint64_t bw[3];            /* windowed max filter: best, 2nd, 3rd */
	uint32_t bw_round[3];      /* ... the rounds they were taken in */
	uint64_t full_bw;          /* Startup: bandwidth at the last growth */
	uint64_t min_rtt_stamp;    /* when min_rtt_us was taken */
	uint64_t probe_rtt_done;   /* ProbeRTT ends then (0: not yet) */
	uint64_t cycle_stamp;      /* ProbeBW: this gain phase's start */
	uint32_t min_rtt_us;       /* windowed min RTT, 0 = none yet */
	uint32_t round;            /* round trips counted */
	uint32_t next_round_delivered;
	uint32_t prior_cwnd;       /* saved on loss and ProbeRTT */
	uint16_t pacing_gain, cwnd_gain; /* in 1/256 */
	uint8_t mode;              /* BBR_STARTUP ... BBR_PROBE_RTT */
	uint8_t cycle_idx;
	uint8_t full_bw_cnt;
	uint8_t full_bw_reached;
	uint8_t round_start;
	uint8_t conservation;      /* packet conservation (first recovery round) */
	uint8_t probe_rtt_round_done;
	uint8_t in_loss;           /* a recovery or timeout episode is on */
};

struct rs_cc_ops;
struct rs_core;
struct rs_tw_block;
struct rs_sock;
struct rs_listener;
struct rs_glisten;
struct rs_pending;

struct rs_tcb {
	struct rs_hnode h;         /* established table entry */
	struct rs_core *core;
	struct rs_sock *sock;      /* NULL when not accepted or closed; TCP
				    * only passes it to stack->sock_event */
	int fd;                    /* that socket's descriptor, -1 if none
				    * (trace and inspection) */
	struct rs_listener *parent;/* SYN_RECV / accept queue of a local copy */
	struct rs_glisten *gparent;/* ... or of the global listen socket */
	struct rs_list link;       /* core's TCB list */
	struct rs_list alink;      /* accept queue / to-park list / parked */
	uint64_t qstamp;           /* when it joined an accept queue */
	struct rs_pending *parked; /* frames that came while it was parked */
	uint32_t nparked;
	struct rs_list olink;      /* core's output list */
	uint32_t flags;
	uint8_t state;
	uint8_t snd_wscale, rcv_wscale;
	uint8_t dupacks;           /* without SACK: duplicate ACKs in a row */
	uint8_t retries;
	uint8_t backoff;
	uint8_t nooo;
	uint16_t mss;              /* send MSS (payload per segment) */
	uint16_t rcv_mss;          /* peer's segment size estimate */
	int so_error;
	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_sml;          /* end of the latest short segment sent */
	uint32_t snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	uint32_t snd_buf_seq;      /* sequence number of snd.head */
	uint32_t cwnd, ssthresh, recover;
	uint32_t cwnd_acc;         /* bytes acked toward the next CA increase */
	uint32_t probe_allow;      /* bytes a tail loss probe may send beyond cwnd */
	uint32_t reno_sacked;      /* without SACK: bytes assumed delivered by dupACKs */
	const struct rs_cc_ops *cc;/* congestion control (tcp_cc.c) */
	/* delivery-rate estimation (tcp_rate.c), when cc->rate */
	uint32_t delivered;        /* bytes delivered (ACKed or SACKed) */
	uint32_t app_limited;      /* delivered mark until which samples are
				    * app-limited, 0 = not */
	uint64_t delivered_time;   /* when delivered last grew */
	uint64_t first_tx;         /* send time of the newest delivered */
	uint64_t pacing_rate;      /* bytes/s, 0 = no pacing */
	uint64_t pace_at;          /* the next segment may leave then */
	/* RFC 6937 PRR, for the current recovery */
	uint32_t prr_delivered, prr_out, recover_fs;
	/* undoing a reduction that turns out spurious (D-SACK, timestamps) */
	uint32_t prior_cwnd, prior_ssthresh, undo_retrans, retrans_ts;
	uint32_t undo_marker;      /* snd_una when the episode began */
	/* RFC 8985 RACK-TLP */
	uint64_t rack_xmit;        /* latest send time of delivered data */
	uint32_t rack_end;         /* ... its end */
	uint32_t rack_rtt_us;      /* RTT of that delivery */
	uint32_t rack_fack;        /* highest sequence delivered */
	uint32_t min_rtt_us;
	uint32_t dsack_round;      /* reo_wnd grows once per round trip */
	uint32_t tlp_high;         /* snd_max when the probe went out */
	uint32_t tlp_end;          /* ... the end of the segment it resent */
	uint8_t reo_steps;         /* reo_wnd in min_rtt/4 steps */
	uint8_t reo_persist;       /* recoveries left before reo_steps resets */
	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_adv, fin_seq;
	uint32_t ooo_recent;       /* start of the latest out-of-order data */
	uint32_t rcv_unacked;      /* bytes received since the last ACK */
	/* RFC 7323 */
	uint32_t ts_recent, ts_offset;
	/* RFC 6298 */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint64_t rtt_start;        /* SYN sent (TF_RTT) */
	/* timers: absolute ns, 0 = off; deadline = min, heap_idx in heap */
	uint64_t t_rtx, t_delack, t_persist, t_misc, t_probe, t_reo, t_pace;
	uint64_t t_keep;
	/* keepalive (tcp_keepalive.c): last segment received, probes out */
	uint64_t rcv_tstamp;
	struct rs_keepalive ka;
	uint8_t ka_probes;
	uint64_t deadline;
	uint32_t heap_idx;         /* 0 = not in heap */
	uint64_t retransmits;
	struct rs_ring snd, rcv;
	struct rs_txq txq;         /* what is in flight */
	/* last: rs_tcb_new clears a reused TCB only up to here (read only
	 * below nooo, below txq.n while txq.r points at txq_inline, and by
	 * the congestion control that set them up) */
	struct rs_seqrange ooo[RS_OOO_MAX];   /* received out of order */
	/* the scoreboard's first ring: a short flight (a request, a
	 * response and FIN) takes nothing from the pool (tcp_txq.c) */
	struct rs_txrec txq_inline[RS_TXQ_INLINE];
	/* bbr's model, read only by bbr, which clears it (bbr_init) */
	struct rs_bbr bbr;
};

/* Compact TIME_WAIT entry (issue: at most 128 bytes). */
struct rs_tw {
	struct rs_hnode h;         /* 32 */
	struct rs_list fifo;       /* 16: expiry order (constant duration) */
	uint64_t expire;           /* 8 */
	uint32_t snd_nxt, rcv_nxt; /* 8 */
	uint32_t ts_recent, ts_offset; /* 8 */
	uint16_t wnd;              /* raw window field to advertise */
	uint8_t ts;                /* timestamps in use */
};

/* A listening socket on one core.  Every listening socket of an address
 * belongs to that address's global listen socket (g); with the `listen`
 * feature it is also the core's local copy: in the core's own listen
 * table, with its own SYN and accept queues.  A hidden one has no socket:
 * the SYN queue of a core for the SYNs it answers from g (its children
 * are parked on g once established). */
struct rs_listener {
	struct rs_hnode h;         /* local listen table entry (in_local) */
	struct rs_glisten *g;      /* the global listen socket */
	struct rs_sock *sock;      /* passed to stack->sock_event */
	int fd;                    /* its descriptor (inspection) */
	struct rs_list acceptq;    /* established, not yet accepted */
	struct rs_list synq;       /* SYN_RECV children, oldest first */
	struct rs_list llink;      /* core's listeners (or hidden ones) */
	uint32_t nacceptq, backlog;
	uint32_t nsyn;             /* SYN_RECV children */
	uint32_t nsyn_proven;      /* ... of peers with history */
	uint64_t cookie_at;        /* when it last sent a SYN cookie */
	uint32_t gen_seen;         /* g->gen when last looked at */
	uint8_t in_local;          /* h is in the core's listen table */
	uint8_t hidden;
	/* inherited by the children (the socket's options at listen and
	 * setsockopt after) */
	uint32_t sndbuf, rcvbuf;
	uint8_t nodelay;
	uint8_t sndbuf_lock;       /* SO_SNDBUF was set */
};

/* The global listen socket of (address, port), shared by every core: in
 * the stack's listen table; its accept queue holds connections parked
 * there (owned by no core, adopted by the core that accepts them). */
struct rs_glisten {
	struct rs_hnode h;         /* global listen table entry */
	struct rs_lock lock;       /* the lists and counts below */
	struct rs_list acceptq;    /* established, parked, FIFO */
	struct rs_list embryos;    /* SYN_RECV, parked when their core went */
	uint32_t nacceptq;         /* also read without the lock */
	uint32_t nembryos;         /* also read without the lock */
	uint32_t gen;              /* bumped on every park (wakes listeners) */
	uint64_t head_stamp;       /* qstamp of acceptq's head, 0 = empty */
	uint32_t backlog;
	uint32_t refs;             /* sockets + children + lookups (atomic) */
	uint32_t nsock;            /* listening sockets */
	uint8_t closed;            /* out of the listen table */
	/* the first socket's options, for the children of hidden listeners */
	uint32_t sndbuf, rcvbuf;
	uint8_t nodelay;
	uint8_t sndbuf_lock;
	struct rs_listener *hidden[64]; /* per core, touched by that core */
};

/* Timer heap of TCBs keyed by deadline. */
struct rs_timerq {
	struct rs_arena *arena;
	struct rs_tcb **h;         /* 1-based */
	uint32_t n, cap;
};

/* A peer that completed a handshake with this core (tcp_synq.c). */
struct rs_peer_seen {
	uint32_t ip;
	uint32_t sec;              /* core time, seconds */
};

struct rs_arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t valid;
	uint64_t req_at;           /* last request sent, 0 = never */
	uint64_t learned_at;       /* last reply or request from it */
};

/* A copied frame: waiting for ARP (nexthop) or handed to another core
 * (csum_partial and hops travel with it). */
struct rs_pending {
	struct rs_pending *next;   /* parked frames / replay list */
	uint32_t nexthop;
	uint32_t len;
	uint8_t csum_partial;
	uint8_t hops;              /* hand-offs so far */
	uint8_t data[RS_FRAME_BUF];
};

/* Frames handed to this core by the others: a locked queue, swapped
 * with a spare by the owner so that it holds the lock only briefly. */
struct rs_handoff {
	struct rs_lock lock;
	uint32_t n;
	struct rs_pending *q;      /* RS_HANDOFF_MAX frames */
	struct rs_pending *spare;  /* swapped with q by the owner */
};

struct rs_core {
	struct rs_stack *stack;
	unsigned index;
	uint32_t ip;               /* host order */
	uint8_t mac[6];
	uint64_t now;
	const struct rs_io_ops *io_ops;
	struct rs_io *io;
	struct rs_core_counters ctr;
	/* transmit batch */
	int ntx;
	uint8_t *txmem;            /* RS_TX_BATCH * RS_FRAME_BUF */
	struct rs_frame txf[RS_TX_BATCH];
	/* the first txw_n frames of a batch are built in the link's ring
	 * (io.h tx_window), at txw_base + k * txw_stride */
	int txw_n;
	uint32_t txw_stride;
	uint8_t *txw_base;
	uint8_t tx_csum_partial;   /* the link offloads TCP checksums (io.h) */
	struct rs_frame rxf[RS_RX_BURST];
	uint16_t ip_id;
	/* peers that completed a handshake (SYN flood defence) */
	struct rs_peer_seen peers[RS_PEER_SLOTS];
	/* ARP */
	struct rs_arp_entry arp[RS_ARP_SLOTS];
	struct rs_arpq {           /* frames waiting for ARP (arp.c) */
		uint8_t *mem;      /* RS_ARPQ_BYTES */
		uint32_t start, end;
		uint32_t frames;
	} arpq;
	/* TCP */
	struct rs_timerq tq;
	struct rs_list tcbs;       /* every TCB owned by this core */
	struct rs_list listeners;  /* listening sockets of this core */
	struct rs_list outq;       /* TCBs with output to run */
	struct rs_list tw_fifo;    /* TIME_WAIT entries in expiry order */
	struct rs_list parkq;      /* children of global listeners to park */
	struct rs_list hidden;     /* hidden listeners (tcp_listen.c) */
	struct rs_pending *replay, **replay_tail; /* frames of adopted TCBs */
	void *ehash, *lhash;       /* own tables (estab, listen), or NULL */
	struct rs_tw *tw_free;     /* free TIME_WAIT entries */
	struct rs_tw_block *tw_blocks; /* where they live (tcp_tw.c) */
	struct rs_tcb *tcb_free;   /* free TCBs (linked through h.next) */
	struct rs_sock *sock_free; /* free sockets (linked through tcb) */
	uint32_t ntcb, ntw, nlisten, nsynrecv, nestab, nsockets;
	struct rs_bufpool pool;
	uint64_t challenge_second; /* RFC 5961 rate limit window */
	uint32_t challenge_count;
	uint64_t next_publish;
	struct rs_handoff handoff;
	/* the stack's join_gen when a poll of this core last found its
	 * receive ring empty (tcp_hash.c: local entries again) */
	uint32_t join_seen;
	/* rs_tw_input: the SYN that reuses a pair of the global table makes
	 * a global child (tcp_tw.c) */
	uint8_t syn_global;
};

/* The socket layer's entry point for TCP: something happened to socket s
 * (readable, writable, connected, reset, a connection to accept).  TCP
 * never calls the socket layer otherwise. */
typedef void (*rs_sock_event_fn)(struct rs_sock *s);

struct rs_stack {
	struct rs_stack_conf conf;
	struct rs_arena *arena;    /* conf.arena: where all of this lives */
	rs_sock_event_fn sock_event;
	uint32_t ip, netmask, gateway; /* host order */
	/* the subnet (ip & netmask), and its network and broadcast addresses
	 * as sources (ipv4.c: never a peer), ip itself for prefixes without
	 * them (/31, /32) */
	uint32_t net, net_src, bcast_src;
	const struct rs_table_ops *ehash_ops, *lhash_ops;
	void *ehash, *lhash;
	const struct rs_port_ops *port_ops;
	void *ports;
	const struct rs_fd_ops *fd_ops;
	void *fds;
	struct rs_core **cores;
	uint32_t nlisten_addr;     /* listeners bound to a specific address */
	struct rs_steering *steer; /* steer.c */
	uint8_t cores_dynamic;     /* rs_stack_cores_dynamic: no local estab */
	uint8_t cores_joining;     /* rs_stack_cores_joining: no local estab */
	uint32_t join_gen;         /* joins ended so far (rs_core.join_seen) */
};

/* ---- steer.c: the stack's flow-steering state ---- */
/* The classifier's input (steer.h: cores, R, RFD on or off, the ports
 * with a listener) and the listeners per port behind the bitmap.  The I/O
 * layer steers with it (rs_io_ops.steer); poll.c hands off what it
 * missed. */
struct rs_steering {
	struct rs_lock lock;       /* listener changes (not the data path) */
	uint16_t refs[65536];      /* listeners per TCP port */
	struct rs_steer cls;
};
int rs_steer_create(struct rs_stack *s);
void rs_steer_destroy(struct rs_stack *s);
/* Give core c's backend the classifier (at core creation). */
void rs_steer_attach(struct rs_core *c);
/* A listener on port appeared (on = 1) or went (on = 0) on core c. */
void rs_steer_listen(struct rs_core *c, uint16_t port, int on);
/* RFD: the ephemeral ports of core c are those = c (mod R); 0 without
 * RFD (any port). */
int rs_steer_port_class(const struct rs_core *c, uint32_t *rmask);

/* ---- rx.c: one received frame, parsed once ---- */
enum { RS_PKT_ARP = 1, RS_PKT_ICMP, RS_PKT_TCP };

/* What the connection tables say about a TCP segment (rs_tcp_demux). */
struct rs_tcp_demux {
	struct rs_hnode *n;        /* connection or TIME_WAIT entry, or NULL */
	struct rs_listener *l;     /* local listener when n is NULL, or */
	struct rs_glisten *g;      /* the global one (a reference, dropped
				    * by rs_tcp_input) */
	unsigned owner;            /* core that must process the segment */
};

struct rs_pkt {
	uint8_t kind;              /* RS_PKT_* */
	struct rs_eth eth;
	struct rs_ipv4 ip;
	struct rs_tcp_seg seg;
	struct rs_tcp_demux dm;
};

/* Validate the frame's headers (Ethernet, IPv4, TCP checksums) into *p and
 * find the core that owns it: RS_OK, or RS_ERROR when it was dropped
 * (counted).  p->dm.owner is this core for everything but TCP segments of
 * connections (or listeners) owned by another core. */
int rs_rx_parse(struct rs_core *c, const struct rs_frame *f,
		struct rs_pkt *p);
/* Protocol processing of a parsed frame owned by this core. */
void rs_rx_deliver(struct rs_core *c, struct rs_pkt *p);

/* ---- arp.c / icmp.c ---- */
int rs_arpq_init(struct rs_core *c);
void rs_arpq_fini(struct rs_core *c);
void rs_arp_input(struct rs_core *c, const struct rs_eth *eth);
void rs_icmp_input(struct rs_core *c, const struct rs_ipv4 *ip);

/* ---- tx.c: the transmit batch (the bottom of a core) ---- */
/* Frame buffer with room for Ethernet + IP headers before the payload:
 * payload starts at buf + RS_ETH_HLEN + RS_IP_HLEN.  NULL never: the
 * batch is flushed when full. */
uint8_t *rs_tx_buf(struct rs_core *c);
/* Finish and queue the frame started by rs_tx_buf: IP + Ethernet headers,
 * ARP resolution (the frame waits if needed). */
void rs_ipv4_output(struct rs_core *c, uint8_t *buf, uint32_t dst,
		    uint8_t proto, uint32_t payload_len);
void rs_arp_output(struct rs_core *c, uint32_t nexthop, uint8_t *buf,
		   uint32_t len);
void rs_tx_flush(struct rs_core *c);
/* Ask the backend where the next batch goes (after it changed). */
void rs_tx_window(struct rs_core *c);
int rs_route(const struct rs_core *c, uint32_t dst, uint32_t *nexthop);
/* RS_OK if src can be a peer (RFC 1122 3.2.1.3); the drop is counted. */
int rs_ipv4_check_src(struct rs_core *c, uint32_t src);

/* ---- handoff.c: frames for a connection owned by another core ---- */
/* Copy the whole frame (data, length, checksum-partial flag) into the
 * owner's queue; counted, and dropped (counted) when the queue is full
 * or the owner is gone. */
void rs_handoff_push(struct rs_core *from, unsigned owner,
		     const struct rs_frame *f, unsigned hops);
/* Frames handed to c: each is given to fn in arrival order. */
typedef void (*rs_handoff_fn)(struct rs_core *c, const struct rs_frame *f,
			      unsigned hops);
void rs_handoff_drain(struct rs_core *c, rs_handoff_fn fn);
int rs_handoff_init(struct rs_core *c);
void rs_handoff_fini(struct rs_core *c);

#endif
