/* afxdp backend: AF_XDP sockets (libxdp) fed by refstack's XDP program.
 *
 * Opened through rs_io_afxdp (io.h) once per stack core.  Tuning rides in
 * the interface name, as for afpacket:
 *
 *     "rs-s0"                       defaults
 *     "rs-s0,xdp=skb,bind=copy"     generic XDP, copy mode
 *
 * Keys (one table in io_afxdp.c drives parsing):
 *   xdp     XDP attach mode: native (driver; default) or skb (generic)
 *   bind    XSK bind mode: auto (zero-copy if the driver can, else copy;
 *           default), copy, zc (zero-copy or fail)
 *   wakeup  XDP_USE_NEED_WAKEUP (1, default): system calls only when the
 *           kernel asks for them
 *   frames  UMEM frames per queue for RX (power of two, 64..16384, default
 *           2048); each core has half as many for TX
 *   steer   none (default): a frame goes to the socket of its arrival
 *           queue's core; xdp: every core also has a guest socket on every
 *           other queue, and the XDP program delivers a TCP segment of a
 *           connection RFD gives another core to that core's guest socket
 *           on the arrival queue (no software hand-off, no copy; the
 *           queue's fill ring is then shared under a lock)
 *
 * Queues: the interface's RX queues are shared out among the cores, core k
 * owning every queue q with q % ncores == k (one socket per queue it owns;
 * it transmits on its first; each queue has a UMEM of its own, shared by
 * the sockets bound to it).  With as many queues as cores that is one
 * socket per core on the queue of that core.  Fewer
 * queues than cores is refused: a core without a queue would never
 * receive.  What the backend expects from the NIC:
 *   - RX queues >= cores (ethtool -L IF combined N; veth: numrxqueues N);
 *   - the steering RFD wants, where the NIC can do it: for the replies to
 *     active connections, ethtool ntuple rules sending TCP segments from a
 *     remote service port P to a local port with low bits K to queue K
 *     (ethtool -N IF flow-type tcp4 src-port P dst-port K m 0xffff&~(R-1)
 *     action K, K < R = cores rounded up to 2^k), RSS for the rest; where
 *     it cannot (veth, NICs without ntuple), every frame is received on
 *     its arrival queue and the stack's software hand-off moves it to the
 *     owner core; the XDP program counts how many frames that is
 *     (rs_afxdp_stats: xdp_away).  BENCH-NOTES-afxdp.md says why XDP
 *     itself cannot move a frame to another queue's socket;
 *   - no other XDP program on the interface (the backend attaches its own
 *     through a bpf_link, removed when the process exits, even by a crash);
 *   - GRO/LRO off, MTU + 14 <= frame size - 256 (2048-byte frames).
 *
 * open() fails with a negative errno and leaves a sentence naming the
 * interface and the reason in rs_io_why(). */
#ifndef RS_IO_AFXDP_H
#define RS_IO_AFXDP_H

#include <stdint.h>

#include "io.h"

struct rs_afxdp_stats {
	uint64_t rx_frames;        /* frames handed to the stack */
	uint64_t rx_oversize;      /* dropped: longer than frame_size */
	uint64_t rx_guest;         /* received on guest sockets (steer=xdp) */
	uint64_t rx_fill_empty;    /* rx_burst found the fill ring short */
	uint64_t tx_frames;        /* frames put on the TX ring */
	uint64_t tx_ring_full;     /* refused: no TX frame or slot free */
	uint64_t tx_kicks;         /* sendto() wake-ups */
	uint64_t rx_dropped;       /* kernel XDP_STATISTICS: rx_dropped */
	uint64_t rx_ring_full;     /* kernel: rx ring full */
	uint64_t rx_fill_ring_empty; /* kernel: fill ring empty */
	uint64_t tx_invalid;       /* kernel: invalid TX descriptors */
	/* the XDP program, over this core's queues */
	uint64_t xdp_rx, xdp_pass, xdp_home, xdp_away, xdp_rss, xdp_steered;
	uint32_t zerocopy;         /* 1 if bound in zero-copy mode */
	uint32_t nqueues;          /* sockets of this core (own + guest) */
};

void rs_afxdp_stats(struct rs_io *io, struct rs_afxdp_stats *st);

/* Tell the XDP program that a listener exists (on=1) or no longer exists
 * on a TCP port, for RFD's passive/active classification. */
int rs_afxdp_set_listener(struct rs_io *io, uint16_t port, int on);

#endif
