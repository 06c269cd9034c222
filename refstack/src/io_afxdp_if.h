/* afxdp backend, private: what the cores of one process share per
 * interface (io_afxdp_if.c) and the per-core sockets use (io_afxdp.c). */
#ifndef RS_IO_AFXDP_IF_H
#define RS_IO_AFXDP_IF_H

#include <net/if.h>
#include <pthread.h>
#include <stdint.h>

#include <xdp/xsk.h>

#include "../bpf/rs_xsk_shared.h"

#define XSK_FRAME      2048u
#define XSK_HEADROOM   256u /* XDP_PACKET_HEADROOM in front of the data */

enum { XDP_NATIVE, XDP_SKB };
enum { BIND_AUTO, BIND_COPY, BIND_ZC };
enum { STEER_NONE, STEER_XDP };

struct xsk_opts {
	char ifname[IFNAMSIZ];
	unsigned xdp;
	unsigned bind;
	unsigned wakeup;
	unsigned frames;
	unsigned steer;
};

extern const char *const xsk_xdp_names[];
extern const char *const xsk_bind_names[];

/* The buffer pool of one NIC queue: a UMEM of its own (`frames` RX
 * frames, then frames/2 TX frames for the core whose first queue it is),
 * its fill and completion rings, shared by every socket bound to the queue
 * (the owner's and, with steer=xdp, the other cores' guest sockets); the
 * fill ring then takes a lock.  One UMEM per queue, not one for all:
 * sockets share a queue's pool only when bound with the fd of a socket on
 * that same queue, and libxdp always binds with its UMEM's first socket. */
struct xsk_pq {
	void *area;
	size_t area_len;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	pthread_spinlock_t lock;
};

/* One interface with the program attached, shared by the process's
 * cores, and the pools of its queues (made by the first socket there). */
struct xsk_if {
	struct xsk_if *next;
	char name[IFNAMSIZ];
	int ifindex;
	unsigned nrxq, ncores;
	struct xsk_opts o;         /* of the first open: all must agree */
	unsigned refs;
	struct rs_xsk *skel;
	int link_fd;
	struct xsk_pq pq[RS_XSK_MAX_QUEUES];
};

/* "ifname,key=val,..." -> opts; -EINVAL with the reason in rs_io_why. */
int xsk_opts_parse(struct xsk_opts *o, const char *spec);
/* The interface's MAC, MTU and RX queue count. */
int xsk_ifinfo(const char *name, uint8_t mac[6], unsigned *mtu, unsigned *nrxq);
/* Find or make the interface record (program attached); takes a
 * reference.  Sockets are made and deleted under xsk_if_lock. */
int xsk_if_get(const struct xsk_opts *o, unsigned ncores, unsigned nrxq,
	       struct xsk_if **out);
void xsk_if_put(struct xsk_if *x);
void xsk_if_lock(void);
void xsk_if_unlock(void);
/* Queue q's pool, its UMEM registered and its RX frames given to the
 * kernel (on first use, under xsk_if_lock). */
int xsk_pool(struct xsk_if *x, unsigned q, struct xsk_pq **out);
/* UMEM address of the first TX frame in a queue's pool. */
uint64_t xsk_tx_base(const struct xsk_if *x);
/* Enter a socket in the XSK map at (queue, core) (fd < 0: remove it). */
int xsk_map_set(struct xsk_if *x, unsigned q, unsigned core, int fd);
/* Tell the program whether the stack steers by RFD (on) or by hash. */
void xsk_rfd_set(struct xsk_if *x, int on);
/* Set or clear a port in the program's listener bitmap. */
int xsk_listen_set(struct xsk_if *x, uint16_t port, int on);
/* The XDP program's counters summed over CPUs for queue q. */
void xsk_prog_qstats(struct xsk_if *x, unsigned q, struct rs_xsk_qstats *out);

#endif
