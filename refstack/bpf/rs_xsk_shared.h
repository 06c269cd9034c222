/* Types shared by the XDP program (bpf/rs_xsk.bpf.c) and the afxdp
 * backend (src/io_afxdp.c). */
#ifndef RS_XSK_SHARED_H
#define RS_XSK_SHARED_H

#include <linux/types.h>

#define RS_XSK_MAX_QUEUES 64

/* Per queue, per CPU; the backend sums the CPUs. */
struct rs_xsk_qstats {
	__u64 rx;     /* frames seen by the program */
	__u64 pass;   /* no socket on the queue: given to the kernel */
	__u64 home;   /* TCP, RFD owner is this queue's core */
	__u64 away;   /* TCP, RFD owner is another core: software hand-off */
	__u64 rss;    /* TCP, passive side: RSS placement is right */
};

#endif
