/* refstack: a user-space TCP/IPv4 stack organised per core.
 *
 * Model.  A stack (struct rs_stack) holds N core contexts (struct rs_core).
 * Tables (listen, established + TIME_WAIT, local ports, descriptors) are
 * global to the stack, shared by its cores under per-bucket locks; a
 * connection is processed only by the core that owns it (a frame arriving
 * on another core is handed over).  A descriptor is valid only on the core
 * that created it (EBADF elsewhere).
 * Each core is driven by exactly one thread, which calls rs_poll(core, now)
 * in a loop: receive a burst from the core's packet I/O backend, process it,
 * run expired timers, flush the transmit batch.  The socket calls below are
 * made from that same thread, on descriptors that belong to that core; they
 * never block (every socket is non-blocking) and fail with -1 and errno set
 * to the value Linux would use.  Time only enters through rs_poll's now_ns
 * (any monotonic clock in nanoseconds, real or virtual); socket calls use the
 * time of the last rs_poll.
 *
 * Addresses, option names and epoll flags are the Linux ones (AF_INET,
 * struct sockaddr_in, SOL_SOCKET/SO_ERROR, IPPROTO_TCP/TCP_NODELAY,
 * EPOLLIN...), so that an LD_PRELOAD shim can pass them through unchanged.
 */
#ifndef REFSTACK_H
#define REFSTACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rs_stack;
struct rs_core;
struct rs_arena;    /* where a stack's state lives (below) */
struct rs_io_ops;   /* src/io.h: packet I/O backend ops table */
struct rs_io_conf;  /* src/io.h: backend configuration for one core */

/* ---------------------------------------------------------------- config */

/* Feature switches: the Fastsocket ideas, each on its own (README.md says
 * what each one changes).  A set is spelt the same way everywhere (apps'
 * --features, RS_FEATURES, rsctl, the harness's refstack:SET): "base"
 * (none), "full" (all), or a comma list of the names below, e.g.
 * "listen,rfd". */
enum {
	RS_FEAT_LOCAL_LISTEN = 1u << 0, /* "listen": per-core listen tables */
	RS_FEAT_LOCAL_ESTAB = 1u << 1,  /* "estab": per-core established tables */
	RS_FEAT_RFD = 1u << 2,          /* "rfd": receive flow deliver */
	RS_FEAT_FAST_FD = 1u << 3,      /* "fastfd": per-core descriptor pools */
	RS_FEAT_ALL = (1u << 4) - 1,    /* "full" */
};

struct rs_feature {
	const char *name;        /* "listen", "estab", "rfd", "fastfd" */
	uint32_t bit;            /* RS_FEAT_* */
	const char *help;
};
/* Every feature, in the canonical order of set names. */
extern const struct rs_feature rs_features[];
extern const unsigned rs_nfeatures;

/* Parse a feature set ("base", "full", or "a,b,...").  0 and *features on
 * success; -1 with a message in err (naming the word at fault and listing
 * the valid names) otherwise.  err may be NULL. */
int rs_features_parse(const char *spec, uint32_t *features, char *err,
		      size_t errlen);
/* The canonical spelling of a set into buf ("base", "full" or the comma
 * list in rs_features order); returns buf. */
const char *rs_features_name(uint32_t features, char *buf, size_t len);
/* RS_FEATURES from the environment: *features unchanged and 0 when it is
 * unset or empty; otherwise as rs_features_parse (the message names the
 * variable). */
int rs_features_from_env(uint32_t *features, char *err, size_t errlen);

/* Protocol options (all on by default). */
enum {
	RS_OPT_WSCALE = 1u << 0,     /* RFC 7323 window scaling */
	RS_OPT_TIMESTAMPS = 1u << 1, /* RFC 7323 timestamps */
	RS_OPT_DELACK = 1u << 3,     /* delayed ACKs */
	RS_OPT_SACK = 1u << 4,       /* RFC 2018 SACK (and D-SACK, RACK) */
	RS_OPT_TLP = 1u << 5,        /* tail loss probes (RFC 8985 7) */
};

/* SYN cookies (rs_stack_conf.syncookies), Linux's tcp_syncookies. */
enum {
	RS_SYNCOOKIES_OFF = 0,       /* never; a full SYN backlog keeps a
				      * quarter for peers with history and
				      * drops the oldest embryonic first */
	RS_SYNCOOKIES_ON_FULL = 1,   /* when a listener's SYN backlog is full
				      * (the default) */
	RS_SYNCOOKIES_ALWAYS = 2,    /* answer every SYN with a cookie */
};

/* Congestion control (rs_stack_conf.cc), spelt as in Linux's
 * tcp_congestion_control: the same names for apps' --cc, the shim's RS_CC
 * and rsctl.  tcp_cc.c's table decides what exists. */
enum {
	RS_CC_RENO = 0,              /* NewReno with PRR (loss-based) */
	RS_CC_BBR = 1,               /* BBR (model-based; default) */
	RS_CC_COUNT
};
/* Name of cc ("?" when out of range). */
const char *rs_cc_name(uint32_t cc);
/* 0 and *cc from a name, else -1 with a message listing the names. */
int rs_cc_parse(const char *name, uint32_t *cc, char *err, size_t errlen);
/* RS_CC from the environment: *cc unchanged and 0 when unset or empty,
 * otherwise as rs_cc_parse (the message names RS_CC). */
int rs_cc_from_env(uint32_t *cc, char *err, size_t errlen);

typedef void (*rs_publish_fn)(struct rs_core *core, uint64_t now_ns,
			      void *arg);
/* State-change trace: called on every TCP state change (old => new). */
typedef void (*rs_trace_fn)(void *arg, unsigned core, int fd,
			    const char *old_state, const char *new_state);
/* Readiness hook for a caller that multiplexes events itself (the
 * LD_PRELOAD shim): called on the owning core, from inside rs_poll or a
 * socket call, whenever the events of a socket may have changed, with the
 * pointer given to rs_sock_set_user (sockets without one are skipped). */
typedef void (*rs_sock_wake_fn)(void *arg, void *user);
/* Called, on the sender's thread, after a frame was handed to core `core`
 * (see rs_poll): a caller whose threads sleep should wake that core's. */
typedef void (*rs_kick_fn)(void *arg, unsigned core);

struct rs_stack_conf {
	struct in_addr addr;     /* local IPv4 address (required) */
	struct in_addr netmask;  /* default 255.255.255.0 */
	struct in_addr gateway;  /* INADDR_ANY = none (only on-link peers) */
	unsigned ncores;         /* core contexts, default 1 */
	uint64_t time_wait_ns;   /* TIME_WAIT duration, default 1 s */
	uint32_t sndbuf;         /* initial send buffer, default 256 KiB; it
				  * grows to 4 MiB (autotuning, as Linux's)
				  * unless SO_SNDBUF is set */
	uint32_t rcvbuf;         /* default SO_RCVBUF, default 256 KiB */
	uint32_t max_sockets;    /* descriptors per core, default 65536 */
	uint32_t max_conns;      /* TCBs per core (incl. SYN_RECV), 65536 */
	uint32_t max_time_wait;  /* TIME_WAIT entries per core, 1 << 20 */
	uint32_t max_buf_bytes;  /* buffer memory per core, default 1 GiB */
	uint32_t syn_backlog;    /* SYN_RECV cap per listener, default 1024 */
	uint32_t syncookies;     /* RS_SYNCOOKIES_*, default ON_FULL */
	uint32_t cc;             /* RS_CC_*, default RS_CC_BBR */
	uint32_t hash_buckets;   /* global table buckets, default 65536 */
	uint16_t mss;            /* our MSS, default 1460 */
	uint16_t port_lo;        /* ephemeral ports, default 32768 */
	uint16_t port_hi;        /* ... to 60999 inclusive */
	uint32_t options;        /* RS_OPT_*, default all */
	uint32_t features;       /* RS_FEAT_*, default 0 (base) */
	uint64_t seed;           /* ISN/port secret; 0 = rs_host_secret() */
	struct rs_arena *arena;  /* NULL: the process heap; see rs_arena */
	/* Statistics publishing: when stats_publish is set and publish is
	 * not NULL, rs_poll calls publish(core, now, publish_arg) at most
	 * once per publish_interval_ns (default 100 ms). */
	int stats_publish;
	rs_publish_fn publish;
	void *publish_arg;
	uint64_t publish_interval_ns;
	rs_trace_fn trace;       /* optional state-change trace */
	void *trace_arg;
	rs_sock_wake_fn sock_wake; /* optional readiness hook */
	void *sock_wake_arg;
	rs_kick_fn kick;         /* optional cross-core wake-up hook */
	void *kick_arg;
};

/* Fill conf with the defaults above (addr left 0.0.0.0). */
void rs_stack_conf_init(struct rs_stack_conf *conf);

/* The secret every refstack process of the host shares (one per boot, in
 * RS_HOST_SECRET, created by the first caller), as the kernel keeps one:
 * ISNs and timestamps of a 4-tuple go on increasing across restarts.
 * 0 when the file cannot be made or read. */
#define RS_HOST_SECRET "/dev/shm/refstack-secret"
uint64_t rs_host_secret(void);

/* Create a stack; NULL with *err = negative errno on failure. */
struct rs_stack *rs_stack_create(const struct rs_stack_conf *conf, int *err);
/* Destroy the stack; all cores must have been destroyed first. */
void rs_stack_destroy(struct rs_stack *stack);
const struct rs_stack_conf *rs_stack_conf(const struct rs_stack *stack);
/* From now on cores join and leave the packet I/O while connections run
 * (processes forked as cores, workers replaced or reloaded): the fanout
 * group's members change, so a flow's frames may land on another core
 * than the one they landed on so far.  Every new connection then goes in
 * the global table, which every core searches (with `estab` the local
 * tables stay empty: a connection in one would be reset by the core its
 * frames land on).  Call before the first fork. */
void rs_stack_cores_dynamic(struct rs_stack *stack);
/* The same while a program's cores join one by one (threads that each
 * make theirs at their first socket call or wait, after connections are
 * already running on the first ones): on 1, every new connection goes in
 * the global table.  Off (0) once the last core has joined: each core
 * puts new connections in its own table again from its first poll that
 * finds its receive ring empty (the frames the I/O layer steered before
 * the last join, by the old members, are then behind it).  Connections
 * made meanwhile stay global: every core finds them and hands their
 * frames to the owner. */
void rs_stack_cores_joining(struct rs_stack *stack, int on);

/* Create core context number index (0..ncores-1) bound to an I/O backend,
 * which is opened with io_conf.  The MAC address comes from the backend.
 * NULL with *err = negative errno on failure. */
struct rs_core *rs_core_create(struct rs_stack *stack, unsigned index,
			       const struct rs_io_ops *io,
			       const struct rs_io_conf *io_conf, int *err);
void rs_core_destroy(struct rs_core *core);
/* Forked processes sharing a stack (see rs_arena).  rs_core_io_close:
 * close this process's copy of the core's packet I/O (after fork, in the
 * process that will not drive it); the core then receives nothing and
 * transmits nothing until a process adopts it.  rs_core_adopt: drive a
 * core whose process died (or gave its I/O up): open a new backend for
 * it in this process and close every socket the previous process had
 * open except listening ones (their queued connections wait for this
 * process's accept).  0 or a negative errno. */
void rs_core_io_close(struct rs_core *core);
/* The core's packet I/O as this process holds it: saved before fork(), a
 * child closes its inherited copy with ops->close(io) without touching
 * the core (shared with the parent, which closes its own). */
struct rs_core_io {
	const struct rs_io_ops *ops;
	struct rs_io *io;
};
struct rs_core_io rs_core_io(const struct rs_core *core);
/* Open packet I/O for a core of this process whose I/O was closed. */
int rs_core_io_open(struct rs_core *core, const struct rs_io_ops *io,
		    const struct rs_io_conf *io_conf);
int rs_core_adopt(struct rs_core *core, const struct rs_io_ops *io,
		  const struct rs_io_conf *io_conf);
unsigned rs_core_index(const struct rs_core *core);
struct rs_stack *rs_core_stack(const struct rs_core *core);

/* ----------------------------------------------------------------- arena */

/* Where a stack's state lives: tables, cores, TCBs, TIME_WAIT entries,
 * sockets, listeners, epoll sets, buffers, hand-off queues.  NULL (the
 * default) is the process heap.  A shared arena is one mapping made
 * before fork(): every child sees it at the same address, so all the
 * stack's pointers are valid in all of them, and each child can run cores
 * of the one stack:
 *
 *     struct rs_arena *a = rs_arena_create_shared(1ull << 30, &err);
 *     conf.arena = a;  conf.ncores = N;
 *     struct rs_stack *s = rs_stack_create(&conf, &err);   // before fork
 *     ... fork() ...
 *     // child k: its own packet I/O, opened here, in this process
 *     struct rs_core *c = rs_core_create(s, k, &rs_io_afpacket, &io, &err);
 *     ... rs_poll(c, ...), socket calls on c, from this process only ...
 *     rs_core_destroy(c);                                   // in the child
 *
 * Process-local (never shared): the I/O backend's state (packet socket,
 * mmap'd ring; memif endpoints), and whatever the hooks' arguments point
 * at (publish/trace/sock_wake/kick).  A core is driven by one thread of
 * one process; rs_stack_destroy and rs_arena_destroy by the creator once
 * every core is destroyed.  The arena's memory is MAP_NORESERVE: bytes
 * is an upper bound, pages are backed when first touched. */
struct rs_arena *rs_arena_create_shared(size_t bytes, int *err);
/* Unmap (in this process; children keep their mapping until they exit). */
void rs_arena_destroy(struct rs_arena *arena);
/* Bytes in live blocks, and lock acquisitions of the arena's allocator
 * (all processes together); 0 for the heap (NULL). */
size_t rs_arena_in_use(const struct rs_arena *arena);
uint64_t rs_arena_locks(const struct rs_arena *arena);

/* ------------------------------------------------------------------ poll */

/* One run-to-completion step: receive a burst, process it, run the timers
 * due at now_ns, flush the transmit batch.  Returns the number of frames
 * received (>= 0), or -1 with errno set if the backend failed. */
int rs_poll(struct rs_core *core, uint64_t now_ns);
/* When rs_poll must run next: 0 if work is pending now (socket calls made
 * since the last poll queue their segments for the next rs_poll; an ACK
 * that the last poll held for the application's answer - the handshake's
 * last ACK, the ACK of a FIN - leaves at the next rs_poll, with the
 * request or FIN written meanwhile or alone), else the absolute time (ns)
 * of the next timer, UINT64_MAX if none.  A caller may sleep on
 * rs_core_wait_fd until then, and only then: one that sleeps without
 * asking holds those segments. */
uint64_t rs_poll_at(const struct rs_core *core);
/* Send now whatever output is queued, the ACKs held for the application
 * included, without receiving: for a thread that polled a core it does not
 * drive (that core's own thread may be asleep until its next timer). */
void rs_core_flush(struct rs_core *core);
/* File descriptor to sleep on when idle (the backend's), or -1.  It
 * becomes readable as soon as a frame arrives. */
int rs_core_wait_fd(const struct rs_core *core);
/* Non-zero if a received frame is waiting, checked without a system call
 * (0 when the backend cannot tell).  For a bounded busy-poll before
 * sleeping on rs_core_wait_fd: at low load it saves a wake-up per frame. */
int rs_core_rx_pending(const struct rs_core *core);
/* CLOCK_MONOTONIC in ns: a convenience for callers (the core never reads
 * a clock itself). */
uint64_t rs_clock_ns(void);

/* --------------------------------------------------------------- sockets */

/* domain AF_INET, type SOCK_STREAM (SOCK_NONBLOCK/SOCK_CLOEXEC accepted and
 * ignored: every socket is non-blocking).  Errors: EAFNOSUPPORT,
 * EPROTONOSUPPORT, EMFILE (descriptor table full), ENOMEM. */
int rs_socket(struct rs_core *core, int domain, int type, int protocol);
/* EADDRINUSE, EADDRNOTAVAIL (not our address), EINVAL (already bound). */
int rs_bind(struct rs_core *core, int fd, const struct sockaddr *addr,
	    socklen_t len);
int rs_listen(struct rs_core *core, int fd, int backlog);
/* Forked workers: core's copy of the listening socket gfd of core gc
 * (the global listener, made before fork).  A SYN is taken by the copy of
 * the core it lands on, else by another core's copy; the global listener
 * only when there is none.  Each copy has its own accept queue; closing
 * one aborts only its queue.  Returns the copy's descriptor on core (the
 * existing one if core already has a copy of gfd: a core adopted from a
 * dead process), -1 with errno (EINVAL: gfd is not a global listener). */
int rs_listen_copy(struct rs_core *core, struct rs_core *gc, int gfd);
/* EAGAIN when no connection is ready. */
int rs_accept(struct rs_core *core, int fd, struct sockaddr *addr,
	      socklen_t *len);
/* Returns -1/EINPROGRESS; completion is reported by EPOLLOUT and SO_ERROR
 * (0, ECONNREFUSED, ETIMEDOUT, ECONNRESET).  EADDRNOTAVAIL when no local
 * port is free, ENETUNREACH when the peer is off-link and there is no
 * gateway, ENOBUFS when the core has no free TCB (max_conns),
 * EALREADY/EISCONN when called again. */
int rs_connect(struct rs_core *core, int fd, const struct sockaddr *addr,
	       socklen_t len);
/* Copies into the send buffer (segments go out at the next rs_poll);
 * EAGAIN when full or still connecting, ENOTCONN, EPIPE after
 * shutdown(SHUT_WR), ECONNRESET after a reset, ENOBUFS when buffer
 * memory is exhausted. */
ssize_t rs_send(struct rs_core *core, int fd, const void *buf, size_t len,
		int flags);
/* 0 at end of stream; EAGAIN when nothing is buffered; flags: MSG_PEEK. */
ssize_t rs_recv(struct rs_core *core, int fd, void *buf, size_t len,
		int flags);
int rs_shutdown(struct rs_core *core, int fd, int how);
/* Closes the descriptor.  Unsent data is still sent and FIN follows
 * (unless SO_LINGER with l_linger 0, or unread received data: abortive
 * close with RST).  Closing an epoll descriptor is also done here. */
int rs_close(struct rs_core *core, int fd);
/* SOL_SOCKET: SO_ERROR, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE,
 * SO_LINGER, SO_RCVBUF, SO_SNDBUF, SO_TYPE, SO_ACCEPTCONN, SO_DOMAIN,
 * SO_PROTOCOL (get only for the last four); IPPROTO_TCP: TCP_NODELAY,
 * TCP_MAXSEG.  ENOPROTOOPT otherwise.  SO_REUSEPORT is recorded and
 * reported; sharing a port between listeners is the caller's (the shim
 * makes later listeners of a process aliases of the first); SO_KEEPALIVE
 * is recorded, inherited by accepted sockets and reported (no probes are
 * sent: connections here live far shorter than any keepalive time). */
int rs_getsockopt(struct rs_core *core, int fd, int level, int name,
		  void *val, socklen_t *len);
int rs_setsockopt(struct rs_core *core, int fd, int level, int name,
		  const void *val, socklen_t len);
int rs_getsockname(struct rs_core *core, int fd, struct sockaddr *addr,
		   socklen_t *len);
int rs_getpeername(struct rs_core *core, int fd, struct sockaddr *addr,
		   socklen_t *len);
/* Attach a caller's pointer to a socket, passed to conf.sock_wake. */
int rs_sock_set_user(struct rs_core *core, int fd, void *user);
/* The socket's current epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP,
 * EPOLLRDHUP and the *NORM twins) into *events; -1 with EBADF/ENOTSOCK. */
int rs_sock_events(struct rs_core *core, int fd, uint32_t *events);
/* Bytes ready to read (FIONREAD); -1 with EBADF/ENOTSOCK, EINVAL for a
 * listener. */
int rs_sock_nread(struct rs_core *core, int fd);
/* TCP state name of fd ("ESTABLISHED"...), NULL with EBADF. */
const char *rs_sock_state(struct rs_core *core, int fd);

/* ----------------------------------------------------------------- epoll */

/* Level-triggered readiness on this core's descriptors, Linux semantics
 * for EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP; EPOLLET and
 * EPOLLONESHOT are honoured.  A socket can be in one epoll set at a time.
 * rs_epoll_wait never blocks: the caller sleeps on rs_core_wait_fd /
 * rs_poll_at and calls rs_poll in between. */
int rs_epoll_create(struct rs_core *core);
int rs_epoll_ctl(struct rs_core *core, int epfd, int op, int fd,
		 struct epoll_event *ev);
int rs_epoll_wait(struct rs_core *core, int epfd, struct epoll_event *events,
		  int maxevents);

/* -------------------------------------------------------------- counters */

/* Per-core counters: X(name, description).  Tools iterate this list. */
#define RS_CORE_COUNTERS(X)                                                  \
	X(rx_frames, "frames received")                                      \
	X(rx_bytes, "bytes received")                                        \
	X(tx_frames, "frames transmitted")                                   \
	X(tx_bytes, "bytes transmitted")                                     \
	X(tx_ring_full, "frames dropped: backend tx ring full")              \
	X(polls, "poll steps")                                               \
	X(drop_eth_malformed, "dropped: malformed Ethernet frame")           \
	X(drop_eth_not_ours, "dropped: not our MAC")                         \
	X(drop_eth_type, "dropped: unsupported ethertype")                   \
	X(drop_arp_malformed, "dropped: malformed ARP")                      \
	X(drop_ip_malformed, "dropped: malformed IPv4 header")               \
	X(drop_ip_csum, "dropped: bad IPv4 checksum")                        \
	X(drop_ip_not_ours, "dropped: not our IPv4 address")                 \
	X(drop_ip_martian_src, "dropped: source cannot be a peer (RFC 1122)") \
	X(drop_ip_land, "dropped: source is our own address (LAND)")        \
	X(drop_ip_fragment, "dropped: IPv4 fragment")                        \
	X(drop_ip_proto, "dropped: unsupported IP protocol")                 \
	X(drop_icmp_malformed, "dropped: malformed or bad-checksum ICMP")    \
	X(drop_tcp_malformed, "dropped: malformed TCP header")               \
	X(drop_tcp_csum, "dropped: bad TCP checksum")                        \
	X(drop_tcp_no_socket, "dropped: no socket (RST sent)")               \
	X(drop_tcp_out_of_window, "dropped: segment out of window")          \
	X(drop_tcp_bad_ack, "dropped: unacceptable ACK")                     \
	X(drop_tcp_syn_fin, "dropped: SYN with FIN to a listener")           \
	X(drop_tcp_listen_other, "dropped: RST or no SYN/ACK to a listener") \
	X(drop_tcp_no_buffer, "dropped: no receive buffer memory")           \
	X(drop_syn_backlog, "dropped: SYN, listener backlog full")           \
	X(tcp_syn_evicted, "embryonic dropped for a newer SYN (backlog full)") \
	X(tcp_syncookies_sent, "SYN cookies sent (backlog full)")            \
	X(tcp_syncookies_ok, "connections made from a valid SYN cookie")    \
	X(tcp_syncookies_failed, "ACKs with an invalid or stale SYN cookie") \
	X(drop_accept_queue, "dropped: SYN, accept queue full")              \
	X(drop_no_tcb, "dropped: SYN, no free TCB")                          \
	X(drop_arp_pending, "dropped: frame waiting for ARP, queue full")    \
	X(drop_arp_timeout, "dropped: frame waited 3 s for an ARP reply")    \
	X(drop_no_route, "dropped: no route to destination")                 \
	X(arp_requests_rx, "ARP requests received")                          \
	X(arp_replies_rx, "ARP replies received")                            \
	X(arp_requests_tx, "ARP requests sent")                              \
	X(icmp_echo, "ICMP echo requests answered")                          \
	X(tcp_rx_segs, "TCP segments received")                              \
	X(tcp_tx_segs, "TCP segments sent")                                  \
	X(tcp_active_opens, "TCP active opens (connect)")                    \
	X(tcp_passive_opens, "TCP passive opens (SYN accepted)")             \
	X(tcp_accepts, "connections accepted")                               \
	X(tcp_estab_resets, "resets received in synchronized states")        \
	X(tcp_rst_rx, "RST segments received and accepted")                  \
	X(tcp_rst_tx, "RST segments sent")                                   \
	X(tcp_challenge_acks, "RFC 5961 challenge ACKs sent")                \
	X(tcp_syn_reset_resend, "SYNs resent at once after resetting a stale ACK") \
	X(tcp_retrans_segs, "segments retransmitted")                        \
	X(tcp_rto_expired, "retransmission timeouts")                        \
	X(tcp_fast_retrans, "fast recoveries entered (fast retransmits)")    \
	X(tcp_lost_retrans, "retransmissions found lost again (RACK)")      \
	X(tcp_dsacks, "D-SACK blocks received (data that arrived twice)")   \
	X(tcp_spurious_undo, "cwnd reductions undone (spurious retransmits)") \
	X(tcp_bbr_probe_rtt, "BBR ProbeRTT phases completed")              \
	X(tcp_tail_probes, "tail loss probes sent")                          \
	X(tcp_sndbuf_grown, "send buffers grown (autotuning)")               \
	X(tcp_dupacks, "duplicate ACKs received")                            \
	X(tcp_dup_segs, "duplicate segments received")                       \
	X(tcp_ooo_segs, "out-of-order segments queued")                      \
	X(tcp_ooo_overlap, "segments overlapping queued data (first copy kept)") \
	X(tcp_delayed_acks, "delayed ACKs sent")                             \
	X(tcp_zero_window_probes, "zero-window probes sent")                 \
	X(tcp_keepalive_probes, "keepalive probes sent (SO_KEEPALIVE)")       \
	X(tcp_keepalive_timeouts, "connections reset: keepalive unanswered")  \
	X(tcp_conn_timeouts, "connections dropped after retries")            \
	X(tcp_tw_created, "TIME_WAIT entries created")                       \
	X(tcp_tw_expired, "TIME_WAIT entries expired")                       \
	X(tcp_tw_reused, "TIME_WAIT entries reused by a new SYN/connect")    \
	X(tcp_tw_overflow, "TIME_WAIT table full: entry skipped")            \
	X(enobufs, "ENOBUFS returned to the application")                    \
	X(lock_listen_acquired, "global listen table: lock acquisitions")    \
	X(lock_listen_contended, "global listen table: acquisitions that waited") \
	X(lock_listen_wait_ns, "global listen table: ns waited for the lock") \
	X(lock_listen_wait_max_ns, "global listen table: longest wait, ns")  \
	X(lock_listen_recovered, "global listen table: locks taken over from a dead process") \
	X(lock_acceptq_acquired, "global accept queues: lock acquisitions")  \
	X(lock_acceptq_contended, "global accept queues: acquisitions that waited") \
	X(lock_acceptq_wait_ns, "global accept queues: ns waited for the lock") \
	X(lock_acceptq_wait_max_ns, "global accept queues: longest wait, ns") \
	X(lock_acceptq_recovered, "global accept queues: locks taken over from a dead process") \
	X(lock_ehash_acquired, "global established table: lock acquisitions") \
	X(lock_ehash_contended, "global established table: acquisitions that waited") \
	X(lock_ehash_wait_ns, "global established table: ns waited for the lock") \
	X(lock_ehash_wait_max_ns, "global established table: longest wait, ns") \
	X(lock_ehash_recovered, "global established table: locks taken over from a dead process") \
	X(lock_ports_acquired, "port allocator: lock acquisitions")          \
	X(lock_ports_contended, "port allocator: acquisitions that waited")  \
	X(lock_ports_wait_ns, "port allocator: ns waited for the lock")      \
	X(lock_ports_wait_max_ns, "port allocator: longest wait, ns")        \
	X(lock_ports_recovered, "port allocator: locks taken over from a dead process") \
	X(lock_fdtab_acquired, "global descriptor table: lock acquisitions") \
	X(lock_fdtab_contended, "global descriptor table: acquisitions that waited") \
	X(lock_fdtab_wait_ns, "global descriptor table: ns waited for the lock") \
	X(lock_fdtab_wait_max_ns, "global descriptor table: longest wait, ns") \
	X(lock_fdtab_recovered, "global descriptor table: locks taken over from a dead process") \
	X(lock_handoff_acquired, "hand-off queues: lock acquisitions")       \
	X(lock_handoff_contended, "hand-off queues: acquisitions that waited") \
	X(lock_handoff_wait_ns, "hand-off queues: ns waited for the lock")   \
	X(lock_handoff_wait_max_ns, "hand-off queues: longest wait, ns")     \
	X(lock_handoff_recovered, "hand-off queues: locks taken over from a dead process") \
	X(lookup_estab_local, "established lookups answered by the core's own table") \
	X(lookup_estab_global, "established lookups in the global table")    \
	X(lookup_listen_local, "SYNs answered by the core's own listen table") \
	X(lookup_listen_global, "listener lookups in the global listen table") \
	X(accept_local, "connections accepted from the core's own queue")    \
	X(accept_global, "connections accepted from a global accept queue")  \
	X(tcp_parked, "connections parked on a global accept queue")         \
	X(tcp_adopted, "parked connections adopted by this core")            \
	X(tcp_orphans_closed, "connections of a dead process closed by the process that adopted its core") \
	X(xcore_handoffs, "frames handed to the owning core")                \
	X(handoff_rx, "frames received from other cores' hand-offs")         \
	X(drop_handoff_full, "dropped: owner core's hand-off queue full")    \
	X(drop_handoff_lost, "dropped: owner core gone or frame re-handed")  \
	X(drop_parked_full, "dropped: frame for a parked connection, its queue full") \
	X(steer_home, "TCP segments that landed on their owner core (I/O-layer steering, or luck)") \
	X(steer_away, "TCP segments that landed on another core than their owner (handed off)") \
	X(steer_port_fallback, "RFD connect: no free port of this core's class, another taken") \
	X(steer_io_errors, "the backend refused the steering classifier (software hand-off only)")

struct rs_core_counters {
#define RS_X_FIELD(name, desc) uint64_t name;
	RS_CORE_COUNTERS(RS_X_FIELD)
#undef RS_X_FIELD
};

enum {
#define RS_X_COUNT(name, desc) +1
	RS_NCOUNTERS = 0 RS_CORE_COUNTERS(RS_X_COUNT)
#undef RS_X_COUNT
};

/* Names and descriptions indexed like the fields (as uint64_t[]). */
extern const char *const rs_counter_names[RS_NCOUNTERS];
extern const char *const rs_counter_descs[RS_NCOUNTERS];

const struct rs_core_counters *rs_core_counters(const struct rs_core *core);

/* One socket as shown by the inspection tool. */
struct rs_sock_info {
	int fd;                  /* -1: embryonic (SYN_RECV, not accepted) */
	unsigned core;
	const char *state;       /* static string, e.g. "ESTABLISHED" */
	struct sockaddr_in local;
	struct sockaddr_in remote;
	uint32_t snd_queue;      /* bytes sent or queued, not yet acked */
	uint32_t rcv_queue;      /* bytes received, not yet read */
	uint32_t accept_queue;   /* listeners: connections ready to accept */
	uint32_t rto_us;
	uint32_t srtt_us;
	uint32_t cwnd;           /* bytes */
	uint32_t ssthresh;       /* bytes */
	uint32_t snd_wnd;        /* peer's window, bytes */
	uint32_t rcv_wnd;        /* our window, bytes */
	uint16_t mss;            /* send MSS */
	uint64_t retransmits;
	const char *cc;          /* congestion control name (connections) */
	const char *cc_mode;     /* its state, e.g. BBR's "probe_bw"; "" */
	uint64_t pacing_rate;    /* bytes/s, 0 = not paced */
	uint64_t bw;             /* the model's bottleneck bandwidth, bytes/s */
	uint32_t min_rtt_us;     /* the model's min RTT */
};

/* Calls cb for every socket owned by the core (listeners, connections,
 * embryonic ones; not TIME_WAIT entries, which are only counted).  Stops
 * and returns cb's value if it returns non-zero; 0 otherwise. */
typedef int (*rs_sock_cb)(const struct rs_sock_info *info, void *arg);
int rs_core_foreach_socket(struct rs_core *core, rs_sock_cb cb, void *arg);

struct rs_table_sizes {
	uint32_t sockets;        /* open descriptors (incl. epoll) */
	uint32_t listen;         /* listening sockets */
	uint32_t syn_recv;       /* embryonic connections */
	uint32_t established;    /* connections in a synchronized state */
	uint32_t time_wait;      /* compact TIME_WAIT entries */
};
void rs_core_tables(const struct rs_core *core, struct rs_table_sizes *t);

/* ----------------------------------------------------------------- memif */

/* An in-process ring pair joining two cores (possibly of two stacks, or
 * of processes sharing an arena: rs_memif_pair_create_in places the rings
 * there; each process opens its own end).
 * Pass it as rs_io_conf.peer with rs_io_conf.queue = side (0 or 1) and
 * rs_io_memif as backend.  Frames are copied.  The MAC of side s is
 * 02:00:00:00:00:(s+1). */
struct rs_memif_pair;
struct rs_memif_pair *rs_memif_pair_create(unsigned ring_frames,
					   unsigned frame_size);
struct rs_memif_pair *rs_memif_pair_create_in(struct rs_arena *arena,
					      unsigned ring_frames,
					      unsigned frame_size);
void rs_memif_pair_destroy(struct rs_memif_pair *pair);
/* TCP checksum offload on the link, as veth's tx-checksumming (Linux's
 * default on veth and loopback): a core that opens the pair after this
 * call writes only the pseudo-header sum and flags its frames
 * csum_partial; the receiving stack, told so by the flag, does not check
 * them (the IPv4 header checksum is still computed and checked).  Off by
 * default: every checksum computed and verified.  A benchmark figure
 * taken with it says so (memif_crr -o). */
void rs_memif_set_csum_offload(struct rs_memif_pair *pair, int on);

/* Test hook, called for every frame sent by side from_side.  Return
 * RS_MEMIF_PASS, RS_MEMIF_DROP, RS_MEMIF_DUP (deliver twice; both
 * after *delay_ns if the filter set it) or RS_MEMIF_DELAY (deliver when
 * the pair clock reaches now + *delay_ns; later frames may overtake it:
 * reordering). */
enum { RS_MEMIF_PASS, RS_MEMIF_DROP, RS_MEMIF_DUP, RS_MEMIF_DELAY };
typedef int (*rs_memif_filter_fn)(void *arg, unsigned from_side,
				  const uint8_t *frame, uint32_t len,
				  uint64_t *delay_ns);
void rs_memif_set_filter(struct rs_memif_pair *pair, rs_memif_filter_fn fn,
			 void *arg);
/* The pair's virtual clock, used only to release delayed frames. */
void rs_memif_set_clock(struct rs_memif_pair *pair, uint64_t now_ns);

/* Join pairs[0..n-1] (n <= 64, none grouped yet) into one link of n
 * queues per side, as a multi-queue NIC: pair k carries queue k.  A frame
 * sent on side s of any of them is put on the queue that the receiving
 * side's classifier picks (the stack of the cores on side s^1 registers
 * it through the backend's steer op: the 4-tuple hash as RSS, RFD's port
 * rule with rfd; steer.h), so with pair k opened by core k a frame lands
 * where a NIC steering like afpacket's fanout program would put it
 * (frames it cannot classify, ARP and ICMP, on queue 0).  A
 * side without a registered classifier gets frames on the pair they were
 * sent on.  Queues of a group take several senders (a lock per ring).
 * Destroy every pair of the group (the group goes with the last).
 * Returns 0 or -EINVAL. */
int rs_memif_pair_group(struct rs_memif_pair **pairs, unsigned n);

#ifdef __cplusplus
}
#endif
#endif
