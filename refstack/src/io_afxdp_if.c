/* afxdp backend, per interface: the option string, the interface's
 * queues, the XDP program (embedded bpftool skeleton, loaded with libbpf,
 * attached through a bpf_link so that it leaves with the process) and the
 * one UMEM that every core's sockets on this interface use. */
#include "io_afxdp_if.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "io.h"
#include "rs_xsk.skel.h"

/* ---- options -------------------------------------------------------------- */

const char *const xsk_xdp_names[] = { "native", "skb", NULL };
const char *const xsk_bind_names[] = { "auto", "copy", "zc", NULL };
static const char *const xsk_steer_names[] = { "none", "xdp", NULL };

struct xsk_opt {
	const char *key;
	size_t off;
	unsigned min, max;
	const char *const *names;   /* enum values, or NULL for a number */
};

static const struct xsk_opt xsk_opt_table[] = {
	{ "xdp", offsetof(struct xsk_opts, xdp), 0, 0, xsk_xdp_names },
	{ "bind", offsetof(struct xsk_opts, bind), 0, 0, xsk_bind_names },
	{ "wakeup", offsetof(struct xsk_opts, wakeup), 0, 1, NULL },
	{ "frames", offsetof(struct xsk_opts, frames), 64, 16384, NULL },
	{ "steer", offsetof(struct xsk_opts, steer), 0, 0, xsk_steer_names },
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

int xsk_opts_parse(struct xsk_opts *o, const char *spec)
{
	char buf[256], *save = NULL, *tok;
	*o = (struct xsk_opts){ .xdp = XDP_NATIVE, .bind = BIND_AUTO,
		.wakeup = 1, .frames = 2048, .steer = STEER_NONE };
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
				      "bind=auto|copy|zc, wakeup=0|1, frames=64..16384, "
				      "steer=none|xdp)", spec, tok, eq ? "=" : "",
				      eq ? eq + 1 : "");
			return -EINVAL;
		}
	}
	if (o->frames & (o->frames - 1)) {
		rs_io_set_why("afxdp: %s: frames=%u is not a power of two", spec, o->frames);
		return -EINVAL;
	}
	return 0;
}

/* ---- the interface: MAC, MTU, queues ------------------------------------- */

int xsk_ifinfo(const char *name, uint8_t mac[6], unsigned *mtu, unsigned *nrxq)
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

/* ---- the XDP program ------------------------------------------------------ */

static __thread int xsk_loading;

/* libbpf's warnings become the reason of a failed open (last one wins);
 * otherwise they are dropped (libbpf has one global print hook). */
static int xsk_libbpf_print(enum libbpf_print_level lvl, const char *fmt,
			    va_list ap)
{
	char line[200];
	if (lvl != LIBBPF_WARN || !xsk_loading)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	rs_io_set_why("libbpf: %s", line);
	return 0;
}

static unsigned xsk_pow2(unsigned n)
{
	unsigned r = 1;
	while (r < n)
		r <<= 1;
	return r;
}

static void xsk_attach_why(const struct xsk_if *x, int rc)
{
	if (rc == -EOPNOTSUPP && x->o.xdp == XDP_NATIVE)
		rs_io_set_why("afxdp: %s: the driver has no native XDP "
			      "(use %s,xdp=skb for generic XDP)", x->name, x->name);
	else if (rc == -EBUSY || rc == -EEXIST)
		rs_io_set_why("afxdp: %s: another XDP program is attached "
			      "(ip link set dev %s xdp off, or xdpgeneric off)",
			      x->name, x->name);
	else
		rs_io_set_why("afxdp: %s: cannot attach XDP in %s mode: %s%s",
			      x->name, xsk_xdp_names[x->o.xdp], strerror(-rc),
			      rc == -ENOSPC ? " (veth: RX queues must be >= the "
			      "peer's TX queues)" : "");
}

static int xsk_prog_attach(struct xsk_if *x)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int rc;

	libbpf_set_print(xsk_libbpf_print);
	xsk_loading = 1;
	x->skel = rs_xsk__open();
	if (!x->skel) {
		rc = -errno;
		xsk_loading = 0;
		rs_io_set_why("afxdp: %s: cannot open the XDP program: %s", x->name,
			      strerror(-rc));
		return rc;
	}
	x->skel->rodata->rfd_cores = xsk_pow2(x->ncores);
	x->skel->rodata->ncores = x->ncores;
	x->skel->rodata->steer = x->o.steer == STEER_XDP;
	rc = rs_xsk__load(x->skel);
	xsk_loading = 0;
	if (rc) {
		rs_io_set_why("afxdp: %s: the kernel refused the XDP program (%s)%s",
			      x->name, strerror(-rc),
			      rc == -EPERM ? ": needs CAP_BPF and CAP_NET_ADMIN" : "");
		return rc;
	}
	lo.flags = x->o.xdp == XDP_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	x->link_fd = bpf_link_create(bpf_program__fd(x->skel->progs.rs_xsk_redirect),
				     x->ifindex, BPF_XDP, &lo);
	if (x->link_fd < 0) {
		rc = -errno;
		xsk_attach_why(x, rc);
		return rc;
	}
	return 0;
}

/* ---- the pools (one UMEM per queue) ------------------------------------------ */

uint64_t xsk_tx_base(const struct xsk_if *x)
{
	return (uint64_t)x->o.frames * XSK_FRAME;
}

static int xsk_pool_make(struct xsk_if *x, unsigned q, struct xsk_pq *pq)
{
	struct xsk_umem_config uc = {
		.fill_size = x->o.frames, .comp_size = x->o.frames / 2,
		.frame_size = XSK_FRAME, .frame_headroom = 0, .flags = 0,
	};
	uint32_t idx = 0;
	int rc;

	pq->area_len = (size_t)(x->o.frames + x->o.frames / 2) * XSK_FRAME;
	pq->area = mmap(NULL, pq->area_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pq->area == MAP_FAILED) {
		pq->area = NULL;
		rc = -errno;
		rs_io_set_why("afxdp: %s: cannot map %zu bytes of UMEM for queue %u: %s",
			      x->name, pq->area_len, q, strerror(-rc));
		return rc;
	}
	rc = xsk_umem__create(&pq->umem, pq->area, pq->area_len, &pq->fill,
			      &pq->comp, &uc);
	if (rc == -EAFNOSUPPORT)
		rs_io_set_why("afxdp: %s: this kernel has no AF_XDP sockets "
			      "(CONFIG_XDP_SOCKETS)", x->name);
	else if (rc)
		rs_io_set_why("afxdp: %s: cannot register the UMEM of queue %u (%zu "
			      "bytes): %s", x->name, q, pq->area_len, strerror(-rc));
	if (rc)
		return rc;
	/* every RX frame to the fill ring, which has room for all of them */
	xsk_ring_prod__reserve(&pq->fill, x->o.frames, &idx);
	for (unsigned i = 0; i < x->o.frames; i++)
		*xsk_ring_prod__fill_addr(&pq->fill, idx + i) = (uint64_t)i * XSK_FRAME;
	xsk_ring_prod__submit(&pq->fill, x->o.frames);
	return 0;
}

int xsk_pool(struct xsk_if *x, unsigned q, struct xsk_pq **out)
{
	struct xsk_pq *pq = &x->pq[q];
	int rc = pq->umem ? 0 : xsk_pool_make(x, q, pq);

	*out = pq;
	return rc;
}

static void xsk_pools_free(struct xsk_if *x)
{
	for (unsigned q = 0; q < RS_XSK_MAX_QUEUES; q++) {
		struct xsk_pq *pq = &x->pq[q];
		if (pq->umem)
			xsk_umem__delete(pq->umem);
		if (pq->area)
			munmap(pq->area, pq->area_len);
		pthread_spin_destroy(&pq->lock);
	}
}

int xsk_map_set(struct xsk_if *x, unsigned q, unsigned core, int fd)
{
	__u32 key = RS_XSK_KEY(q, core);
	int mfd = bpf_map__fd(x->skel->maps.xsks);
	int rc = fd < 0 ? bpf_map_delete_elem(mfd, &key)
			: bpf_map_update_elem(mfd, &key, &fd, 0);

	if (rc < 0 && fd >= 0) {
		rc = -errno;
		rs_io_set_why("afxdp: %s: cannot enter queue %u's socket in the XSK "
			      "map: %s", x->name, q, strerror(-rc));
	}
	return rc;
}

void xsk_prog_qstats(struct xsk_if *x, unsigned q, struct rs_xsk_qstats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct rs_xsk_qstats *v;
	__u32 key = q;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	if (bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.qstats), &key, v) == 0)
		for (int c = 0; c < ncpu; c++) {
			out->rx += v[c].rx;
			out->pass += v[c].pass;
			out->home += v[c].home;
			out->away += v[c].away;
			out->rss += v[c].rss;
			out->steered += v[c].steered;
		}
	free(v);
}

/* ---- the registry ------------------------------------------------------------ */

static pthread_mutex_t xsk_ifs_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct xsk_if *xsk_ifs;

void xsk_if_lock(void)
{
	pthread_mutex_lock(&xsk_ifs_mutex);
}

void xsk_if_unlock(void)
{
	pthread_mutex_unlock(&xsk_ifs_mutex);
}

static void xsk_if_free(struct xsk_if *x)
{
	xsk_pools_free(x);
	if (x->link_fd >= 0)
		close(x->link_fd);
	rs_xsk__destroy(x->skel);
	free(x);
}

static int xsk_if_make(const struct xsk_opts *o, unsigned ncores, unsigned nrxq,
		       struct xsk_if **out)
{
	struct xsk_if *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	strcpy(x->name, o->ifname);
	x->ifindex = (int)if_nametoindex(o->ifname);
	x->ncores = ncores;
	x->nrxq = nrxq;
	x->o = *o;
	x->link_fd = -1;
	for (unsigned q = 0; q < RS_XSK_MAX_QUEUES; q++)
		pthread_spin_init(&x->pq[q].lock, PTHREAD_PROCESS_PRIVATE);
	rc = xsk_prog_attach(x);
	if (rc) {
		xsk_if_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

int xsk_if_get(const struct xsk_opts *o, unsigned ncores, unsigned nrxq,
	       struct xsk_if **out)
{
	struct xsk_if *x;
	int rc = 0;

	xsk_if_lock();
	for (x = xsk_ifs; x; x = x->next)
		if (strcmp(x->name, o->ifname) == 0)
			break;
	if (x && (x->ncores != ncores || x->o.xdp != o->xdp || x->o.steer != o->steer ||
		  x->o.frames != o->frames)) {
		rs_io_set_why("afxdp: %s: already opened with other settings (%u cores, "
			      "xdp=%s, frames=%u, steer=%s)", o->ifname, x->ncores,
			      xsk_xdp_names[x->o.xdp], x->o.frames,
			      xsk_steer_names[x->o.steer]);
		rc = -EINVAL;
		goto out;
	}
	if (!x) {
		rc = xsk_if_make(o, ncores, nrxq, &x);
		if (rc)
			goto out;
		x->next = xsk_ifs;
		xsk_ifs = x;
	}
	x->refs++;
	*out = x;
out:
	xsk_if_unlock();
	return rc;
}

void xsk_if_put(struct xsk_if *x)
{
	xsk_if_lock();
	if (--x->refs == 0) {
		struct xsk_if **pp = &xsk_ifs;
		while (*pp != x)
			pp = &(*pp)->next;
		*pp = x->next;
		xsk_if_free(x);
	}
	xsk_if_unlock();
}

void xsk_rfd_set(struct xsk_if *x, int on)
{
	x->skel->bss->rfd_off = !on;  /* the mmapped .bss: read by the next frame */
}

int xsk_listen_set(struct xsk_if *x, uint16_t port, int on)
{
	int fd = bpf_map__fd(x->skel->maps.listen_ports);
	__u32 key = port >> 6;
	__u64 w = 0, bit = 1ull << (port & 63);
	int rc;

	xsk_if_lock();  /* read-modify-write of a word shared by 64 ports */
	rc = bpf_map_lookup_elem(fd, &key, &w);
	if (rc == 0) {
		w = on ? w | bit : w & ~bit;
		rc = bpf_map_update_elem(fd, &key, &w, BPF_ANY);
	}
	xsk_if_unlock();
	return rc < 0 ? -errno : 0;
}
