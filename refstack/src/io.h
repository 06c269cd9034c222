/* Packet I/O backends behind one ops table (fio's ioengine_ops habit).
 *
 * A backend moves whole Ethernet frames between one stack core and the
 * outside: memif (in-process rings, tests and micro-benchmarks), afpacket
 * (TPACKET_V3 on a veth or NIC, one socket per core in a FANOUT group),
 * afxdp (AF_XDP sockets per NIC queue, refstack's XDP program).  The stack core calls rx_burst, processes the frames, then
 * rx_release, and batches its replies into one tx_burst per poll step.
 * Backends never call into the stack; the stack never makes system calls
 * except through these ops. */
#ifndef RS_IO_H
#define RS_IO_H

#include <stddef.h>
#include <stdint.h>

enum { RS_IO_OK = 0, RS_IO_RETRY = 1, RS_IO_ERROR = -1 };

#define RS_TX_BATCH 64     /* most frames one tx_burst is given */
#define RS_FRAME_BUF 2048  /* bytes of a frame buffer the stack fills */

/* One frame.  On rx, data points into the backend's ring and stays valid
 * until rx_release; csum_partial says the kernel left the L4 checksum
 * unfinished (TP_STATUS_CSUMNOTREADY / virtio partial csum), so the
 * receiver must not reject it for a bad checksum. */
struct rs_frame {
	uint8_t *data;
	uint32_t len;
	uint8_t csum_partial;
};

struct rs_io_conf {
	const char *ifname;   /* afpacket/afxdp: interface; memif: ring name */
	unsigned queue;       /* this core's index: fanout member / NIC queue */
	unsigned nqueues;     /* cores in the group */
	unsigned fanout_id;   /* PACKET_FANOUT group id (afpacket) */
	unsigned ring_frames; /* ring size hint, 0 = backend default */
	unsigned frame_size;  /* largest frame accepted (MTU + 14), 0 = default */
	void *peer;           /* memif: the ring pair shared with the peer */
	uint32_t addr;        /* the stack's IPv4 address (host order), 0 = none:
			       * afpacket gives the stack a MAC of its own
			       * derived from it (io_afpacket.c) */
};

struct rs_io;                  /* backend-private state */
struct rs_steer;               /* the stack's classifier (steer.h) */

struct rs_io_ops {
	const char *name;
	/* Open the backend for one core; returns NULL and sets *err (negative
	 * errno) on failure. */
	struct rs_io *(*open)(const struct rs_io_conf *conf, int *err);
	/* Receive up to max frames without blocking; returns the count (0 if
	 * none) or RS_IO_ERROR. */
	int (*rx_burst)(struct rs_io *io, struct rs_frame *frames, int max);
	/* Give back the frames returned by the last rx_burst. */
	void (*rx_release)(struct rs_io *io);
	/* Transmit n frames (copied out before return); returns the number
	 * sent, fewer than n when the ring is full (caller counts the drop). */
	int (*tx_burst)(struct rs_io *io, const struct rs_frame *frames, int n);
	/* File descriptor to sleep on (poll/epoll) when idle, or -1.  It is
	 * readable as soon as a frame is waiting. */
	int (*wait_fd)(struct rs_io *io);
	/* Optional: non-zero if a frame is waiting, without a system call (a
	 * read of the ring), so that a caller can spin briefly before it
	 * sleeps on wait_fd. */
	int (*rx_pending)(struct rs_io *io);
	/* Optional: steer received frames in the backend with the stack's
	 * classifier s (steer.h) so that each lands on the core that owns it:
	 * afpacket's fanout program, afxdp's XDP listener map, a memif group.
	 * Called when the core is created (port -1) and whenever the set of
	 * listening ports changes (port: the one that changed); s stays valid
	 * until close.  Returns 0 or a negative errno; frames the backend puts
	 * elsewhere are handed to their owner in software (counted). */
	int (*steer)(struct rs_io *io, const struct rs_steer *s, int port);
	/* The stack's MAC address on the link (6 bytes). */
	void (*mac)(struct rs_io *io, uint8_t mac[6]);
	/* Optional: non-zero if the link offloads the TCP checksum of what
	 * this core sends (veth's and virtio's tx-checksumming): the stack
	 * then writes only the pseudo-header sum, flags every frame
	 * csum_partial, and the receiving end, told so by the flag, does not
	 * check it.  NULL or 0: every checksum is computed. */
	int (*tx_csum_offload)(struct rs_io *io);
	/* Optional: where the next frames can be built in place, in the
	 * link's own ring (tx_burst then has nothing to copy): up to the
	 * returned count of buffers of RS_FRAME_BUF bytes or more, the k-th
	 * at *base + k * *stride, for the frames of the next tx_burst in
	 * order.  Asked after every tx_burst; 0: the core's own buffers.
	 * tx_burst must still take any frame from anywhere. */
	int (*tx_window)(struct rs_io *io, uint8_t **base, uint32_t *stride);
	void (*close)(struct rs_io *io);
};

extern const struct rs_io_ops rs_io_memif;
extern const struct rs_io_ops rs_io_afpacket;
extern const struct rs_io_ops rs_io_afxdp;

/* Find a backend by name ("memif", "afpacket", "afxdp"); NULL if unknown. */
const struct rs_io_ops *rs_io_find(const char *name);

/* Why the last failed open() of this thread failed, as a sentence that
 * names the interface ("" when the backend left only the errno).
 * Backends set it with rs_io_set_why (NULL clears it). */
const char *rs_io_why(void);
void rs_io_set_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
