/* afpacket backend: tuning options and backend-level counters.
 *
 * The backend is opened through rs_io_afpacket (io.h).  Its tuning rides
 * in the interface name so the generic rs_io_conf stays small:
 *
 *     "rs-s0"                          defaults
 *     "rs-s0,block=65536"              ring allocation unit
 *     "rs-s0,fanout=lb,bypass=0"       fanout mode, qdisc bypass off
 *
 * Keys (one table in io_afpacket.c drives parsing and rs_afp_opts_help):
 *   block   ring allocation unit (TPACKET_V2 blocks of whole frame slots)
 *           in bytes, power of two, >= page (default 32768)
 *   fanout  PACKET_FANOUT mode: cbpf (default: the stack's classifier,
 *           steer.h, as a classic-BPF program) hash lb cpu rnd qm
 *   bypass  PACKET_QDISC_BYPASS on TX (default 1)
 *   batch   frames per sendmmsg call (1..256, default 64)
 *   ownmac  1: the stack's own MAC 02:52:a.b.c.d from rs_io_conf.addr
 *           (default 0, and without an address: the interface's MAC)
 *
 * open() fails with -EINVAL for a bad option, -EMSGSIZE when a frame of
 * frame_size does not fit one block (raise block= or lower the MTU).
 *
 * The descriptor (wait_fd) is readable as soon as a frame waits in the
 * ring; rx_pending tells the same without a system call (for a bounded
 * busy-poll before sleeping).
 *
 * Frames larger than frame_size (conf, default MTU + 14) are dropped and
 * counted: the lab turns GRO/GSO/TSO off on its links (ethtool -K) so the
 * kernel never hands the stack a super-frame; frames whose L4 checksum is
 * still partial (TP_STATUS_CSUMNOTREADY, veth TX checksum offload) are
 * passed up with rs_frame.csum_partial set. */
#ifndef RS_IO_AFPACKET_H
#define RS_IO_AFPACKET_H

#include <stdint.h>

#include "io.h"

struct rs_afp_stats {
	uint64_t rx_frames;        /* frames handed to the stack */
	uint64_t rx_oversize;      /* dropped: longer than frame_size/truncated */
	uint64_t rx_outgoing;      /* dropped: our own TX looped back */
	uint64_t rx_csum_partial;  /* passed up with csum_partial set */
	uint64_t rx_wraps;         /* times the RX ring was walked around */
	uint64_t rx_kernel_drops;  /* PACKET_STATISTICS tp_drops (ring full) */
	uint64_t tx_frames;        /* frames accepted by the kernel */
	uint64_t tx_errors;        /* frames refused (ENOBUFS, ...) */
	uint64_t tx_calls;         /* sendmmsg system calls */
};

/* Fill *st with this socket's counters (kernel drops are fetched, which
 * also resets the kernel's own count; the backend accumulates). */
void rs_afp_stats(struct rs_io *io, struct rs_afp_stats *st);

/* The fanout mode number (PACKET_FANOUT_*) for a name, -1 if unknown. */
int rs_afp_fanout_mode(const char *name);

#endif
