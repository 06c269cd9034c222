/* afxdp backend, per core: its AF_XDP sockets, RX and TX.  What the cores
 * share per interface (program, UMEM, each queue's fill and completion
 * rings) is in io_afxdp_if.c.
 *
 * Sockets of a core: one on each NIC queue it owns (queue q belongs to
 * core q % ncores; it transmits on the first), and with steer=xdp a guest
 * socket on every other queue, which the XDP program uses for the frames
 * of connections this core owns that arrived there.  All sockets on a
 * queue share its buffer pool (XDP_SHARED_UMEM on the same queue), hence
 * its fill ring, which is then refilled under the queue's lock.
 *
 * RX: rx_burst peeks each socket's RX ring in turn; the descriptors stay
 * unreleased (so the frames stay ours) until rx_release, which gives the
 * same addresses back to the fill ring of the socket's queue.
 *
 * TX: frames are copied into free TX frames of this core and put on the
 * TX ring; the kernel is kicked with sendto() when it asks for it
 * (need_wakeup) or always without need_wakeup.  In copy mode one sendto()
 * sends at most 32 frames (the kernel's TX_BATCH_SIZE), so the kick loops
 * while the kernel still has descriptors to take. */
#include "io_afxdp.h"
#include "io_afxdp_if.h"
#include "steer.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define XSK_MAXS 64u   /* sockets per core */

struct xsk_s {
	unsigned q;
	int guest;                  /* on another core's queue */
	struct xsk_socket *xsk;
	struct xsk_pq *pq;
	struct xsk_ring_cons rx;
	uint32_t rx_idx, rx_n;      /* descriptors held since rx_burst */
};

struct rs_io {
	struct xsk_opts o;
	struct xsk_if *xif;
	unsigned core;
	uint8_t mac[6];
	unsigned frame_max;
	struct xsk_ring_prod tx;
	unsigned ns, next_s;
	struct xsk_s s[XSK_MAXS];
	int ep;                     /* epoll over the sockets if more than one */
	uint64_t *tx_free;          /* free TX frame addresses */
	unsigned ntx_free, ntx;
	struct rs_afxdp_stats st;
};

/* ---- sockets ---------------------------------------------------------------- */

static __u16 xsk_bind_flags(const struct xsk_opts *o)
{
	__u16 f = o->wakeup ? XDP_USE_NEED_WAKEUP : 0;
	if (o->bind == BIND_COPY)
		f |= XDP_COPY;
	else if (o->bind == BIND_ZC)
		f |= XDP_ZEROCOPY;
	return f;
}

static void xsk_bind_why(const struct rs_io *io, unsigned q, int rc)
{
	rs_io_set_why("afxdp: %s: cannot bind an AF_XDP socket to queue %u "
		      "(bind=%s): %s%s", io->o.ifname, q, xsk_bind_names[io->o.bind],
		      strerror(-rc), rc == -EOPNOTSUPP || rc == -EPROTONOSUPPORT ?
		      " (the driver has no zero-copy: bind=copy)" :
		      rc == -EBUSY ? " (queue already has a socket)" : "");
}

/* Socket k of this core, on queue q; the first one transmits.  Under the
 * interface lock (libxdp's UMEM and queue contexts are not thread-safe). */
static int xsk_socket_make(struct rs_io *io, unsigned k, unsigned q, int guest)
{
	struct xsk_if *x = io->xif;
	struct xsk_s *s = &io->s[k];
	struct xsk_socket_config sc = {
		.rx_size = io->o.frames,
		.tx_size = k == 0 ? io->o.frames / 2 : 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = xsk_bind_flags(&io->o),
	};
	int rc = xsk_pool(x, q, &s->pq);

	s->q = q;
	s->guest = guest;
	if (rc)
		return rc;
	rc = xsk_socket__create_shared(&s->xsk, io->o.ifname, q, s->pq->umem, &s->rx,
				       k == 0 ? &io->tx : NULL, &s->pq->fill,
				       &s->pq->comp, &sc);
	if (rc) {
		s->xsk = NULL;
		xsk_bind_why(io, q, rc);
		return rc;
	}
	return xsk_map_set(x, q, io->core, xsk_socket__fd(s->xsk));
}

static int xsk_sockets(struct rs_io *io)
{
	struct xsk_if *x = io->xif;
	unsigned k = 0;
	int rc = 0;

	xsk_if_lock();
	for (unsigned q = io->core; q < x->nrxq && !rc; q += x->ncores) {
		io->ns = k + 1;
		rc = xsk_socket_make(io, k++, q, 0);
	}
	for (unsigned q = 0; q < x->nrxq && !rc && io->o.steer == STEER_XDP; q++) {
		if (q % x->ncores == io->core)
			continue;
		io->ns = k + 1;
		rc = xsk_socket_make(io, k++, q, 1);
	}
	xsk_if_unlock();
	return rc;
}

static void xsk_zc_query(struct rs_io *io)
{
	struct xdp_options opt = { 0 };
	socklen_t len = sizeof(opt);
	if (getsockopt(xsk_socket__fd(io->s[0].xsk), SOL_XDP, XDP_OPTIONS, &opt,
		       &len) == 0)
		io->st.zerocopy = (opt.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

/* A core with several sockets sleeps on all of them: one epoll fd. */
static int xsk_epoll(struct rs_io *io)
{
	io->ep = epoll_create1(EPOLL_CLOEXEC);
	if (io->ep < 0)
		return -errno;
	for (unsigned k = 0; k < io->ns; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = k };
		if (epoll_ctl(io->ep, EPOLL_CTL_ADD, xsk_socket__fd(io->s[k].xsk),
			      &ev) < 0)
			return -errno;
	}
	return 0;
}

static int xsk_tx_frames(struct rs_io *io)
{
	uint64_t base = xsk_tx_base(io->xif);

	io->ntx = io->o.frames / 2;
	io->tx_free = calloc(io->ntx, sizeof(*io->tx_free));
	if (!io->tx_free)
		return -ENOMEM;
	for (unsigned i = 0; i < io->ntx; i++)
		io->tx_free[io->ntx_free++] = base + (uint64_t)i * XSK_FRAME;
	return 0;
}

static void xsk_close(struct rs_io *io)
{
	if (!io)
		return;
	if (io->xif) {
		xsk_if_lock();
		for (unsigned k = 0; k < io->ns; k++) {
			if (!io->s[k].xsk)
				continue;
			/* the first socket of the UMEM lives on in the UMEM's fd:
			 * out of the map, so that XDP stops feeding it */
			xsk_map_set(io->xif, io->s[k].q, io->core, -1);
			xsk_socket__delete(io->s[k].xsk);
		}
		xsk_if_unlock();
		xsk_if_put(io->xif);
	}
	if (io->ep >= 0)
		close(io->ep);
	free(io->tx_free);
	free(io);
}

static int xsk_check_queues(const struct rs_io *io, unsigned ncores,
			    unsigned nrxq, unsigned core)
{
	unsigned own = (nrxq - core + ncores - 1) / ncores;

	if (nrxq < ncores) {
		rs_io_set_why("afxdp: %s has %u RX queue%s for %u cores: every core "
			      "needs its own queue (ethtool -L %s combined %u; veth: "
			      "numrxqueues %u numtxqueues %u)", io->o.ifname, nrxq,
			      nrxq == 1 ? "" : "s", ncores, io->o.ifname, ncores,
			      ncores, ncores);
		return -ERANGE;
	}
	if (core >= ncores || ncores > RS_XSK_MAX_CORES || nrxq > RS_XSK_MAX_QUEUES ||
	    own + (io->o.steer == STEER_XDP ? nrxq - own : 0) > XSK_MAXS) {
		rs_io_set_why("afxdp: %s: core %u of %u with %u RX queues is out of "
			      "range (at most %u cores, %u queues, %u sockets a core)",
			      io->o.ifname, core, ncores, nrxq, RS_XSK_MAX_CORES,
			      RS_XSK_MAX_QUEUES, XSK_MAXS);
		return -ERANGE;
	}
	return 0;
}

static int xsk_setup(struct rs_io *io, const struct rs_io_conf *conf)
{
	unsigned mtu = 0, nrxq = 1, ncores = conf->nqueues ? conf->nqueues : 1;
	int rc = xsk_opts_parse(&io->o, conf->ifname);

	if (rc)
		return rc;
	if (!if_nametoindex(io->o.ifname)) {
		rc = -errno;
		rs_io_set_why("afxdp: no interface %s in this network namespace",
			      io->o.ifname);
		return rc;
	}
	rc = xsk_ifinfo(io->o.ifname, io->mac, &mtu, &nrxq);
	if (rc) {
		rs_io_set_why("afxdp: %s: cannot read MAC/MTU: %s", io->o.ifname,
			      strerror(-rc));
		return rc;
	}
	io->frame_max = conf->frame_size ? conf->frame_size : mtu + 14;
	if (io->frame_max > XSK_FRAME - XSK_HEADROOM) {
		rs_io_set_why("afxdp: %s: MTU %u does not fit a %u-byte UMEM frame "
			      "(at most %u)", io->o.ifname, mtu, XSK_FRAME,
			      XSK_FRAME - XSK_HEADROOM - 14);
		return -EMSGSIZE;
	}
	io->core = conf->queue;
	rc = xsk_check_queues(io, ncores, nrxq, io->core);
	if (!rc)
		rc = xsk_if_get(&io->o, ncores, nrxq, &io->xif);
	if (!rc)
		rc = xsk_sockets(io);
	if (!rc)
		rc = xsk_tx_frames(io);
	if (rc)
		return rc;
	xsk_zc_query(io);
	io->st.nqueues = io->ns;
	return io->ns > 1 ? xsk_epoll(io) : 0;
}

static struct rs_io *xsk_open(const struct rs_io_conf *conf, int *err)
{
	struct rs_io *io = calloc(1, sizeof(*io));
	int rc;

	rs_io_set_why(NULL);
	if (!io) {
		*err = -ENOMEM;
		return NULL;
	}
	io->ep = -1;
	rc = xsk_setup(io, conf);
	if (rc) {
		if (!rs_io_why()[0])
			rs_io_set_why("afxdp: %s: %s", conf->ifname ? conf->ifname : "?",
				      strerror(-rc));
		*err = rc;
		xsk_close(io);
		return NULL;
	}
	*err = 0;
	return io;
}

/* ---- RX ------------------------------------------------------------------- */

/* Give the held RX frames of a socket back to its queue's fill ring.  The
 * ring has room for every RX frame of the queue, so the reserve cannot
 * fall short; if it did, the frames would be lost to the queue (counted). */
static void xsk_rx_recycle(struct rs_io *io, struct xsk_s *s)
{
	struct xsk_pq *pq = s->pq;
	int shared = io->o.steer == STEER_XDP;
	uint32_t fidx = 0;

	if (shared)
		pthread_spin_lock(&pq->lock);
	if (xsk_ring_prod__reserve(&pq->fill, s->rx_n, &fidx) != s->rx_n) {
		io->st.rx_fill_empty++;
	} else {
		for (uint32_t i = 0; i < s->rx_n; i++)
			*xsk_ring_prod__fill_addr(&pq->fill, fidx + i) =
				xsk_umem__extract_addr(
					xsk_ring_cons__rx_desc(&s->rx, s->rx_idx + i)->addr);
		xsk_ring_prod__submit(&pq->fill, s->rx_n);
	}
	if (shared)
		pthread_spin_unlock(&pq->lock);
	xsk_ring_cons__release(&s->rx, s->rx_n);
	s->rx_n = 0;
	if (io->o.wakeup && xsk_ring_prod__needs_wakeup(&pq->fill))
		recvfrom(xsk_socket__fd(s->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static int xsk_rx_socket(struct rs_io *io, struct xsk_s *s,
			 struct rs_frame *frames, int max)
{
	uint32_t idx = 0, n = xsk_ring_cons__peek(&s->rx, (uint32_t)max, &idx);
	int m = 0;

	s->rx_idx = idx;
	s->rx_n = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx + i);
		if (d->len > io->frame_max) {
			io->st.rx_oversize++;
			continue;
		}
		frames[m].data = xsk_umem__get_data(s->pq->area, d->addr);
		frames[m].len = d->len;
		frames[m].csum_partial = 0;
		m++;
	}
	io->st.rx_frames += (uint64_t)m;
	io->st.rx_guest += s->guest ? (uint64_t)m : 0;
	if (n && !m)               /* nothing handed out: no rx_release follows */
		xsk_rx_recycle(io, s);
	return m;
}

static int xsk_rx_burst(struct rs_io *io, struct rs_frame *frames, int max)
{
	int n = 0;

	/* start with a different socket each time so none is starved */
	for (unsigned i = 0; i < io->ns && n < max; i++) {
		struct xsk_s *s = &io->s[(io->next_s + i) % io->ns];
		if (s->rx_n == 0)
			n += xsk_rx_socket(io, s, frames + n, max - n);
	}
	io->next_s = (io->next_s + 1) % io->ns;
	return n;
}

static void xsk_rx_release(struct rs_io *io)
{
	for (unsigned k = 0; k < io->ns; k++)
		if (io->s[k].rx_n)
			xsk_rx_recycle(io, &io->s[k]);
}

/* A frame waits on some socket's RX ring (a read of its producer index,
 * no system call): lets the apps spin briefly before they sleep. */
static int xsk_rx_pending(struct rs_io *io)
{
	for (unsigned k = 0; k < io->ns; k++) {
		const struct xsk_s *s = &io->s[k];
		if (__atomic_load_n(s->rx.producer, __ATOMIC_ACQUIRE) !=
		    *s->rx.consumer + s->rx_n)
			return 1;
	}
	return 0;
}

/* ---- TX (first socket; its queue's completion ring is this core's) -------- */

static void xsk_tx_reap(struct rs_io *io)
{
	struct xsk_ring_cons *cq = &io->s[0].pq->comp;
	uint32_t idx = 0, n = xsk_ring_cons__peek(cq, io->ntx, &idx);

	for (uint32_t i = 0; i < n; i++)
		io->tx_free[io->ntx_free++] = *xsk_ring_cons__comp_addr(cq, idx + i);
	if (n)
		xsk_ring_cons__release(cq, n);
}

/* Descriptors on the TX ring the kernel has not taken yet. */
static uint32_t xsk_tx_pending(const struct xsk_ring_prod *tx)
{
	return *tx->producer - __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE);
}

static void xsk_tx_kick(struct rs_io *io, int n)
{
	int fd = xsk_socket__fd(io->s[0].xsk);

	if (io->o.wakeup && !xsk_ring_prod__needs_wakeup(&io->tx))
		return;
	/* 32 frames per call in copy mode: a bounded number of calls */
	for (int tries = n / 32 + 2; tries > 0 && xsk_tx_pending(&io->tx); tries--) {
		io->st.tx_kicks++;
		if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EBUSY && errno != EINTR)
			break;       /* ENOBUFS, ENETDOWN, ...: try again next burst */
	}
}

static int xsk_tx_burst(struct rs_io *io, const struct rs_frame *frames, int n)
{
	uint32_t idx = 0, k;

	xsk_tx_reap(io);
	k = (uint32_t)n < io->ntx_free ? (uint32_t)n : io->ntx_free;
	k = xsk_ring_prod__reserve(&io->tx, k, &idx);
	for (uint32_t i = 0; i < k; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&io->tx, idx + i);
		uint32_t len = frames[i].len < XSK_FRAME ? frames[i].len : XSK_FRAME;
		d->addr = io->tx_free[--io->ntx_free];
		d->len = len;
		d->options = 0;
		memcpy(xsk_umem__get_data(io->s[0].pq->area, d->addr), frames[i].data, len);
	}
	if (k)
		xsk_ring_prod__submit(&io->tx, k);
	if (k || xsk_tx_pending(&io->tx))
		xsk_tx_kick(io, (int)k);
	io->st.tx_frames += k;
	io->st.tx_ring_full += (uint64_t)n - k;
	return (int)k;
}

/* ---- misc ----------------------------------------------------------------- */

static int xsk_wait_fd(struct rs_io *io)
{
	return io->ep >= 0 ? io->ep : xsk_socket__fd(io->s[0].xsk);
}

static void xsk_mac(struct rs_io *io, uint8_t mac[6])
{
	memcpy(mac, io->mac, 6);
}

void rs_afxdp_stats(struct rs_io *io, struct rs_afxdp_stats *st)
{
	*st = io->st;
	for (unsigned k = 0; k < io->ns; k++) {
		struct xdp_statistics ks;
		struct rs_xsk_qstats q;
		socklen_t len = sizeof(ks);
		if (getsockopt(xsk_socket__fd(io->s[k].xsk), SOL_XDP, XDP_STATISTICS,
			       &ks, &len) == 0) {
			st->rx_dropped += ks.rx_dropped;
			st->rx_ring_full += ks.rx_ring_full;
			st->rx_fill_ring_empty += ks.rx_fill_ring_empty_descs;
			st->tx_invalid += ks.tx_invalid_descs;
		}
		if (io->s[k].guest)
			continue;   /* the program counts per queue: its owner's */
		xsk_prog_qstats(io->xif, io->s[k].q, &q);
		st->xdp_rx += q.rx;
		st->xdp_pass += q.pass;
		st->xdp_home += q.home;
		st->xdp_away += q.away;
		st->xdp_rss += q.rss;
		st->xdp_steered += q.steered;
	}
}

int rs_afxdp_set_listener(struct rs_io *io, uint16_t port, int on)
{
	return xsk_listen_set(io->xif, port, on);
}

/* The stack's listener set into the XDP program's map (the program
 * applies RFD's rule, steer.h, with it, if the stack has RFD on): one port
 * when it changes, all of them when a core is created. */
static int xsk_steer(struct rs_io *io, const struct rs_steer *s, int port)
{
	int rc = 0;

	xsk_rfd_set(io->xif, s->rfd);
	if (port >= 0)
		return rs_afxdp_set_listener(io, (uint16_t)port,
					     rs_steer_listening(s, (uint32_t)port));
	for (uint32_t p = 0; p < 65536 && !rc; p++)
		if (rs_steer_listening(s, p))
			rc = rs_afxdp_set_listener(io, (uint16_t)p, 1);
	return rc;
}

const struct rs_io_ops rs_io_afxdp = {
	.name = "afxdp",
	.open = xsk_open,
	.rx_burst = xsk_rx_burst,
	.rx_release = xsk_rx_release,
	.tx_burst = xsk_tx_burst,
	.wait_fd = xsk_wait_fd,
	.rx_pending = xsk_rx_pending,
	.steer = xsk_steer,
	.mac = xsk_mac,
	.close = xsk_close,
};
