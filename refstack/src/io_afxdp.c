/* afxdp backend: AF_XDP sockets, one per NIC queue a core owns, all of a
 * core's sockets on one UMEM (libxdp's xsk API), fed by the XDP program
 * bpf/rs_xsk.bpf.c (embedded through its bpftool skeleton, loaded and
 * attached with libbpf once per interface and process).
 *
 * UMEM of a core: for each of its queues, `frames` RX frames (handed to the
 * fill ring at open, recycled to it at rx_release), then frames/2 TX
 * frames on a free stack (back from the completion ring).
 *
 * RX: rx_burst peeks each queue's RX ring in turn; the descriptors stay
 * unreleased (so the frames stay ours) until rx_release, which gives the
 * same addresses back to that queue's fill ring.
 *
 * TX (first queue only): frames are copied into free TX frames and put on
 * the TX ring; the kernel is kicked with sendto() when it asks for it
 * (need_wakeup) or always without need_wakeup.  In copy mode one sendto()
 * sends at most 32 frames (the kernel's TX_BATCH_SIZE), so the kick loops
 * while the kernel still has descriptors to take. */
#include "io_afxdp.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "../bpf/rs_xsk_shared.h"
#include "rs_xsk.skel.h"

#define XSK_FRAME      2048u
#define XSK_HEADROOM   256u /* XDP_PACKET_HEADROOM in front of the data */
#define XSK_MAXQ       16u  /* queues per core */

enum { XDP_NATIVE, XDP_SKB };
enum { BIND_AUTO, BIND_COPY, BIND_ZC };

struct xsk_opts {
	char ifname[IFNAMSIZ];
	unsigned xdp;
	unsigned bind;
	unsigned wakeup;
	unsigned frames;
};

/* One interface with the program attached, shared by the process's cores. */
struct xsk_if {
	struct xsk_if *next;
	char name[IFNAMSIZ];
	int ifindex;
	unsigned nrxq;
	unsigned ncores;
	unsigned xdp;
	unsigned refs;
	struct rs_xsk *skel;
	int link_fd;
};

struct xsk_q {
	unsigned id;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	uint32_t rx_idx, rx_n;      /* descriptors held since rx_burst */
};

struct rs_io {
	struct xsk_opts o;
	struct xsk_if *xif;
	uint8_t mac[6];
	unsigned frame_max;
	void *area;
	size_t area_len;
	struct xsk_umem *umem;
	struct xsk_ring_prod tx;
	unsigned nq, next_q;
	struct xsk_q q[XSK_MAXQ];
	int ep;                     /* epoll over the sockets if more than one */
	uint64_t *tx_free;          /* free TX frame addresses */
	unsigned ntx_free, ntx;
	struct rs_afxdp_stats st;
};

/* ---- why open failed ---------------------------------------------------- */

static __thread int xsk_in_open;

/* libbpf's warnings become the reason of a failed open (last one wins);
 * outside open they are dropped (libbpf has one global print hook). */
static int xsk_libbpf_print(enum libbpf_print_level lvl, const char *fmt,
			    va_list ap)
{
	char line[200];
	if (lvl != LIBBPF_WARN || !xsk_in_open)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	rs_io_set_why("libbpf: %s", line);
	return 0;
}

/* ---- options -------------------------------------------------------------- */

struct xsk_opt {
	const char *key;
	size_t off;
	unsigned min, max;
	const char *const *names;   /* enum values, or NULL for a number */
};

static const char *const xsk_xdp_names[] = { "native", "skb", NULL };
static const char *const xsk_bind_names[] = { "auto", "copy", "zc", NULL };

static const struct xsk_opt xsk_opt_table[] = {
	{ "xdp", offsetof(struct xsk_opts, xdp), 0, 0, xsk_xdp_names },
	{ "bind", offsetof(struct xsk_opts, bind), 0, 0, xsk_bind_names },
	{ "wakeup", offsetof(struct xsk_opts, wakeup), 0, 1, NULL },
	{ "frames", offsetof(struct xsk_opts, frames), 64, 16384, NULL },
};

static int xsk_opt_value(const struct xsk_opt *d, const char *val, unsigned *dst)
{
	if (d->names) {
		for (unsigned i = 0; d->names[i]; i++)
			if (strcmp(val, d->names[i]) == 0) {
				*dst = i;
				return 0;
			}
		return -EINVAL;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(val, &end, 0);
	if (errno || *end || end == val || v < d->min || v > d->max)
		return -EINVAL;
	*dst = (unsigned)v;
	return 0;
}

static int xsk_opt_set(struct xsk_opts *o, const char *key, const char *val)
{
	for (size_t i = 0; i < sizeof(xsk_opt_table) / sizeof(xsk_opt_table[0]); i++) {
		const struct xsk_opt *d = &xsk_opt_table[i];
		if (strcmp(key, d->key) == 0)
			return xsk_opt_value(d, val, (unsigned *)((char *)o + d->off));
	}
	return -EINVAL;
}

/* "ifname,key=val,..." -> opts; -EINVAL (with the reason) if malformed. */
static int xsk_opts_parse(struct xsk_opts *o, const char *spec)
{
	char buf[256], *save = NULL, *tok;
	*o = (struct xsk_opts){ .xdp = XDP_NATIVE, .bind = BIND_AUTO,
		.wakeup = 1, .frames = 2048 };
	if (!spec || strlen(spec) >= sizeof(buf)) {
		rs_io_set_why("afxdp: missing or overlong interface spec");
		return -EINVAL;
	}
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strlen(tok) >= IFNAMSIZ) {
		rs_io_set_why("afxdp: bad interface name in '%s'", spec);
		return -EINVAL;
	}
	strcpy(o->ifname, tok);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		if (!eq || xsk_opt_set(o, tok, eq + 1) < 0) {
			rs_io_set_why("afxdp: %s: bad option '%s%s%s' (keys: xdp=native|skb, "
				      "bind=auto|copy|zc, wakeup=0|1, frames=64..16384)",
				      spec, tok, eq ? "=" : "", eq ? eq + 1 : "");
			return -EINVAL;
		}
	}
	if (o->frames & (o->frames - 1)) {
		rs_io_set_why("afxdp: %s: frames=%u is not a power of two", spec, o->frames);
		return -EINVAL;
	}
	return 0;
}

/* ---- the interface: queues, MAC, MTU -------------------------------------- */

static int xsk_ifinfo(const char *name, uint8_t mac[6], unsigned *mtu,
		      unsigned *nrxq)
{
	struct ifreq ifr;
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	*mtu = (unsigned)ifr.ifr_mtu;
	/* RX queues = rx-only + combined channels; no channel info: one */
	ifr.ifr_data = (void *)&ch;
	*nrxq = 1;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0 && ch.rx_count + ch.combined_count > 0)
		*nrxq = ch.rx_count + ch.combined_count;
out:
	close(fd);
	return rc;
}

/* ---- the XDP program, once per interface ---------------------------------- */

static pthread_mutex_t xsk_ifs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsk_if *xsk_ifs;

static unsigned xsk_pow2(unsigned n)
{
	unsigned r = 1;
	while (r < n)
		r <<= 1;
	return r;
}

static int xsk_prog_attach(struct xsk_if *x)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int rc;

	x->skel = rs_xsk__open();
	if (!x->skel) {
		rc = -errno;
		rs_io_set_why("afxdp: %s: cannot open the XDP program: %s", x->name,
			      strerror(-rc));
		return rc;
	}
	x->skel->rodata->rfd_cores = xsk_pow2(x->ncores);
	x->skel->rodata->ncores = x->ncores;
	rc = rs_xsk__load(x->skel);
	if (rc) {
		rs_io_set_why("afxdp: %s: the kernel refused the XDP program (%s)%s",
			      x->name, strerror(-rc),
			      rc == -EPERM ? ": needs CAP_BPF and CAP_NET_ADMIN" : "");
		return rc;
	}
	lo.flags = x->xdp == XDP_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	x->link_fd = bpf_link_create(bpf_program__fd(x->skel->progs.rs_xsk_redirect),
				     x->ifindex, BPF_XDP, &lo);
	if (x->link_fd < 0) {
		rc = -errno;
		if (rc == -EOPNOTSUPP && x->xdp == XDP_NATIVE)
			rs_io_set_why("afxdp: %s: the driver has no native XDP "
				      "(use %s,xdp=skb for generic XDP)", x->name, x->name);
		else if (rc == -EBUSY || rc == -EEXIST)
			rs_io_set_why("afxdp: %s: another XDP program is attached "
				      "(ip link set dev %s xdp off, or xdpgeneric off)",
				      x->name, x->name);
		else
			rs_io_set_why("afxdp: %s: cannot attach XDP in %s mode: %s%s",
				      x->name, xsk_xdp_names[x->xdp], strerror(-rc),
				      rc == -ENOSPC ? " (veth: RX queues must be >= the "
				      "peer's TX queues)" : "");
		return rc;
	}
	return 0;
}

static void xsk_if_free(struct xsk_if *x)
{
	if (x->link_fd >= 0)
		close(x->link_fd);
	rs_xsk__destroy(x->skel);
	free(x);
}

/* Find or make the interface record (program attached); takes a ref. */
static int xsk_if_get(const struct xsk_opts *o, unsigned ncores,
		      unsigned nrxq, struct xsk_if **out)
{
	struct xsk_if *x;
	int rc = 0;

	pthread_mutex_lock(&xsk_ifs_lock);
	for (x = xsk_ifs; x; x = x->next)
		if (strcmp(x->name, o->ifname) == 0)
			break;
	if (x && (x->ncores != ncores || x->xdp != o->xdp)) {
		rs_io_set_why("afxdp: %s: already opened with %u cores, xdp=%s",
			      o->ifname, x->ncores, xsk_xdp_names[x->xdp]);
		rc = -EINVAL;
		goto out;
	}
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x) {
			rc = -ENOMEM;
			goto out;
		}
		strcpy(x->name, o->ifname);
		x->ifindex = (int)if_nametoindex(o->ifname);
		x->ncores = ncores;
		x->nrxq = nrxq;
		x->xdp = o->xdp;
		x->link_fd = -1;
		libbpf_set_print(xsk_libbpf_print);
		rc = xsk_prog_attach(x);
		if (rc) {
			xsk_if_free(x);
			goto out;
		}
		x->next = xsk_ifs;
		xsk_ifs = x;
	}
	x->refs++;
	*out = x;
out:
	pthread_mutex_unlock(&xsk_ifs_lock);
	return rc;
}

static void xsk_if_put(struct xsk_if *x)
{
	pthread_mutex_lock(&xsk_ifs_lock);
	if (--x->refs == 0) {
		struct xsk_if **pp = &xsk_ifs;
		while (*pp != x)
			pp = &(*pp)->next;
		*pp = x->next;
		xsk_if_free(x);
	}
	pthread_mutex_unlock(&xsk_ifs_lock);
}

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

static int xsk_umem_make(struct rs_io *io, unsigned nq)
{
	unsigned rx = io->o.frames, tx = io->o.frames / 2;
	struct xsk_umem_config uc = {
		.fill_size = rx, .comp_size = tx, .frame_size = XSK_FRAME,
		.frame_headroom = 0, .flags = 0,
	};
	int rc;

	io->area_len = (size_t)(rx * nq + tx) * XSK_FRAME;
	io->area = mmap(NULL, io->area_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (io->area == MAP_FAILED) {
		io->area = NULL;
		return -errno;
	}
	io->tx_free = calloc(tx, sizeof(*io->tx_free));
	if (!io->tx_free)
		return -ENOMEM;
	io->ntx = tx;
	for (unsigned i = 0; i < tx; i++)
		io->tx_free[io->ntx_free++] = (uint64_t)(rx * nq + i) * XSK_FRAME;
	rc = xsk_umem__create(&io->umem, io->area, io->area_len, &io->q[0].fill,
			      &io->q[0].comp, &uc);
	if (rc == -EAFNOSUPPORT)
		rs_io_set_why("afxdp: %s: this kernel has no AF_XDP sockets "
			      "(CONFIG_XDP_SOCKETS)", io->o.ifname);
	else if (rc)
		rs_io_set_why("afxdp: %s: cannot register the UMEM (%zu bytes): %s",
			      io->o.ifname, io->area_len, strerror(-rc));
	return rc;
}

/* Give queue k's RX frames to its fill ring. */
static int xsk_fill_all(struct rs_io *io, unsigned k)
{
	struct xsk_q *q = &io->q[k];
	uint32_t idx;

	if (xsk_ring_prod__reserve(&q->fill, io->o.frames, &idx) != io->o.frames)
		return -ENOSPC;
	for (unsigned i = 0; i < io->o.frames; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
			(uint64_t)(k * io->o.frames + i) * XSK_FRAME;
	xsk_ring_prod__submit(&q->fill, io->o.frames);
	return 0;
}

static int xsk_socket_make(struct rs_io *io, unsigned k)
{
	struct xsk_q *q = &io->q[k];
	struct xsk_socket_config sc = {
		.rx_size = io->o.frames,
		.tx_size = k == 0 ? io->o.frames / 2 : 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = xsk_bind_flags(&io->o),
	};
	int rc;

	if (k == 0)
		rc = xsk_socket__create(&q->xsk, io->o.ifname, q->id, io->umem,
					&q->rx, &io->tx, &sc);
	else
		rc = xsk_socket__create_shared(&q->xsk, io->o.ifname, q->id,
					       io->umem, &q->rx, NULL, &q->fill,
					       &q->comp, &sc);
	if (rc) {
		q->xsk = NULL;
		rs_io_set_why("afxdp: %s: cannot bind an AF_XDP socket to queue %u "
			      "(bind=%s): %s%s", io->o.ifname, q->id,
			      xsk_bind_names[io->o.bind], strerror(-rc),
			      rc == -EOPNOTSUPP || rc == -EPROTONOSUPPORT ?
			      " (the driver has no zero-copy: bind=copy)" :
			      rc == -EBUSY ? " (queue already has a socket)" : "");
		return rc;
	}
	rc = xsk_fill_all(io, k);
	if (rc)
		return rc;
	rc = xsk_socket__update_xskmap(q->xsk,
				       bpf_map__fd(io->xif->skel->maps.xsks));
	if (rc)
		rs_io_set_why("afxdp: %s: cannot enter queue %u's socket in the XSK map: %s",
			      io->o.ifname, q->id, strerror(-rc));
	return rc;
}

static void xsk_zc_query(struct rs_io *io)
{
	struct xdp_options opt = { 0 };
	socklen_t len = sizeof(opt);
	if (getsockopt(xsk_socket__fd(io->q[0].xsk), SOL_XDP, XDP_OPTIONS, &opt,
		       &len) == 0)
		io->st.zerocopy = (opt.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

static void xsk_close(struct rs_io *io)
{
	if (!io)
		return;
	for (unsigned k = 0; k < io->nq; k++)
		if (io->q[k].xsk)
			xsk_socket__delete(io->q[k].xsk);
	if (io->umem)
		xsk_umem__delete(io->umem);
	if (io->area)
		munmap(io->area, io->area_len);
	if (io->xif)
		xsk_if_put(io->xif);
	if (io->ep >= 0)
		close(io->ep);
	free(io->tx_free);
	free(io);
}

static int xsk_queues(struct rs_io *io, const struct rs_io_conf *conf,
		      unsigned nrxq)
{
	unsigned ncores = conf->nqueues ? conf->nqueues : 1;

	if (nrxq < ncores) {
		rs_io_set_why("afxdp: %s has %u RX queue%s for %u cores: every core "
			      "needs its own queue (ethtool -L %s combined %u; veth: "
			      "numrxqueues %u numtxqueues %u)", io->o.ifname, nrxq,
			      nrxq == 1 ? "" : "s", ncores, io->o.ifname, ncores,
			      ncores, ncores);
		return -ERANGE;
	}
	if (conf->queue >= ncores || nrxq > RS_XSK_MAX_QUEUES ||
	    (nrxq - conf->queue + ncores - 1) / ncores > XSK_MAXQ) {
		rs_io_set_why("afxdp: %s: core %u of %u with %u RX queues is out of "
			      "range (at most %u queues, %u per core)", io->o.ifname,
			      conf->queue, ncores, nrxq, RS_XSK_MAX_QUEUES, XSK_MAXQ);
		return -ERANGE;
	}
	for (unsigned q = conf->queue; q < nrxq; q += ncores)
		io->q[io->nq++].id = q;
	return 0;
}

/* A core with several queues sleeps on all of them: one epoll fd. */
static int xsk_epoll(struct rs_io *io)
{
	io->ep = epoll_create1(EPOLL_CLOEXEC);
	if (io->ep < 0)
		return -errno;
	for (unsigned k = 0; k < io->nq; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = k };
		if (epoll_ctl(io->ep, EPOLL_CTL_ADD, xsk_socket__fd(io->q[k].xsk),
			      &ev) < 0)
			return -errno;
	}
	return 0;
}

static int xsk_setup(struct rs_io *io, const struct rs_io_conf *conf)
{
	unsigned mtu = 0, nrxq = 1, nq;
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
	rc = xsk_queues(io, conf, nrxq);
	if (rc)
		return rc;
	nq = io->nq;
	io->nq = 0;                /* sockets made so far, for close */
	rc = xsk_if_get(&io->o, conf->nqueues ? conf->nqueues : 1, nrxq, &io->xif);
	if (rc)
		return rc;
	rc = xsk_umem_make(io, nq);
	if (rc)
		return rc;
	for (unsigned k = 0; k < nq; k++) {
		io->nq = k + 1;
		rc = xsk_socket_make(io, k);
		if (rc)
			return rc;
	}
	xsk_zc_query(io);
	io->st.nqueues = nq;
	return nq > 1 ? xsk_epoll(io) : 0;
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
	xsk_in_open = 1;
	rc = xsk_setup(io, conf);
	xsk_in_open = 0;
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

static void xsk_rx_recycle(struct rs_io *io, struct xsk_q *q);

static int xsk_rx_queue(struct rs_io *io, struct xsk_q *q,
			struct rs_frame *frames, int max)
{
	uint32_t idx = 0, n = xsk_ring_cons__peek(&q->rx, (uint32_t)max, &idx);
	int m = 0;

	q->rx_idx = idx;
	q->rx_n = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		if (d->len > io->frame_max) {
			io->st.rx_oversize++;
			continue;
		}
		frames[m].data = xsk_umem__get_data(io->area, d->addr);
		frames[m].len = d->len;
		frames[m].csum_partial = 0;
		m++;
	}
	io->st.rx_frames += (uint64_t)m;
	if (n && !m)               /* nothing handed out: no rx_release follows */
		xsk_rx_recycle(io, q);
	return m;
}

static int xsk_rx_burst(struct rs_io *io, struct rs_frame *frames, int max)
{
	int n = 0;

	/* start with a different queue each time so none is starved */
	for (unsigned i = 0; i < io->nq && n < max; i++) {
		struct xsk_q *q = &io->q[(io->next_q + i) % io->nq];
		if (q->rx_n == 0)
			n += xsk_rx_queue(io, q, frames + n, max - n);
	}
	io->next_q = (io->next_q + 1) % io->nq;
	return n;
}

/* Recycle the held RX frames of a queue into its fill ring.  The fill ring
 * has room for every RX frame of the queue, so the reserve cannot fall
 * short; if it did, the frames would be lost to the queue (counted). */
static void xsk_rx_recycle(struct rs_io *io, struct xsk_q *q)
{
	uint32_t fidx = 0;

	if (xsk_ring_prod__reserve(&q->fill, q->rx_n, &fidx) != q->rx_n) {
		io->st.rx_fill_empty++;
	} else {
		for (uint32_t i = 0; i < q->rx_n; i++)
			*xsk_ring_prod__fill_addr(&q->fill, fidx + i) =
				xsk_umem__extract_addr(
					xsk_ring_cons__rx_desc(&q->rx, q->rx_idx + i)->addr);
		xsk_ring_prod__submit(&q->fill, q->rx_n);
	}
	xsk_ring_cons__release(&q->rx, q->rx_n);
	q->rx_n = 0;
	if (io->o.wakeup && xsk_ring_prod__needs_wakeup(&q->fill))
		recvfrom(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static void xsk_rx_release(struct rs_io *io)
{
	for (unsigned k = 0; k < io->nq; k++)
		if (io->q[k].rx_n)
			xsk_rx_recycle(io, &io->q[k]);
}

/* ---- TX ------------------------------------------------------------------- */

static void xsk_tx_reap(struct rs_io *io)
{
	struct xsk_ring_cons *cq = &io->q[0].comp;
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
	int fd = xsk_socket__fd(io->q[0].xsk);

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
		memcpy(xsk_umem__get_data(io->area, d->addr), frames[i].data, len);
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
	return io->ep >= 0 ? io->ep : xsk_socket__fd(io->q[0].xsk);
}

static void xsk_mac(struct rs_io *io, uint8_t mac[6])
{
	memcpy(mac, io->mac, 6);
}

static void xsk_kernel_stats(struct rs_io *io, struct rs_afxdp_stats *st)
{
	for (unsigned k = 0; k < io->nq; k++) {
		struct xdp_statistics ks;
		socklen_t len = sizeof(ks);
		if (getsockopt(xsk_socket__fd(io->q[k].xsk), SOL_XDP, XDP_STATISTICS,
			       &ks, &len) < 0)
			continue;
		st->rx_dropped += ks.rx_dropped;
		st->rx_ring_full += ks.rx_ring_full;
		st->rx_fill_ring_empty += ks.rx_fill_ring_empty_descs;
		st->tx_invalid += ks.tx_invalid_descs;
	}
}

static void xsk_prog_stats(struct rs_io *io, struct rs_afxdp_stats *st)
{
	int ncpu = libbpf_num_possible_cpus(), fd;
	struct rs_xsk_qstats *v;

	if (ncpu <= 0)
		return;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return;
	fd = bpf_map__fd(io->xif->skel->maps.qstats);
	for (unsigned k = 0; k < io->nq; k++) {
		__u32 key = io->q[k].id;
		if (bpf_map_lookup_elem(fd, &key, v) < 0)
			continue;
		for (int c = 0; c < ncpu; c++) {
			st->xdp_rx += v[c].rx;
			st->xdp_pass += v[c].pass;
			st->xdp_home += v[c].home;
			st->xdp_away += v[c].away;
			st->xdp_rss += v[c].rss;
		}
	}
	free(v);
}

void rs_afxdp_stats(struct rs_io *io, struct rs_afxdp_stats *st)
{
	*st = io->st;
	xsk_kernel_stats(io, st);
	xsk_prog_stats(io, st);
}

int rs_afxdp_set_listener(struct rs_io *io, uint16_t port, int on)
{
	int fd = bpf_map__fd(io->xif->skel->maps.listen_ports);
	__u32 key = port >> 6;
	__u64 w = 0, bit = 1ull << (port & 63);

	if (bpf_map_lookup_elem(fd, &key, &w) < 0)
		return -errno;
	w = on ? w | bit : w & ~bit;
	return bpf_map_update_elem(fd, &key, &w, BPF_ANY) < 0 ? -errno : 0;
}

const struct rs_io_ops rs_io_afxdp = {
	.name = "afxdp",
	.open = xsk_open,
	.rx_burst = xsk_rx_burst,
	.rx_release = xsk_rx_release,
	.tx_burst = xsk_tx_burst,
	.wait_fd = xsk_wait_fd,
	.mac = xsk_mac,
	.close = xsk_close,
};
