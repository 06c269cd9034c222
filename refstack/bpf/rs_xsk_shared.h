/* Types shared by the XDP program (bpf/rs_xsk.bpf.c) and the afxdp
 * backend (src/io_afxdp.c). */
#ifndef RS_XSK_SHARED_H
#define RS_XSK_SHARED_H

#include <linux/types.h>

#define RS_XSK_MAX_QUEUES 64
#define RS_XSK_MAX_CORES 64

/* XSK map key of the socket that core `core` has on queue `q`: the
 * queue's owner (q % ncores) has one on each queue it owns; with steering
 * in XDP every other core has a guest socket there too. */
#define RS_XSK_KEY(q, core) ((q) * RS_XSK_MAX_CORES + (core))

/* Per queue, per CPU; the backend sums the CPUs. */
struct rs_xsk_qstats {
	__u64 rx;     /* frames seen by the program */
	__u64 pass;   /* no socket on the queue: given to the kernel */
	__u64 home;   /* TCP, RFD owner is this queue's core */
	__u64 away;   /* TCP, RFD owner is another core */
	__u64 rss;    /* TCP, passive side: RSS placement is right */
	__u64 steered; /* away, moved by XDP to the owner's guest socket */
};

#endif
