/* afpacket backend: one AF_PACKET socket per stack core.
 *
 * RX: a TPACKET_V2 mmap ring of fixed-size frame slots.  The kernel hands
 * each frame over on its own (status TP_STATUS_USER) and wakes the socket
 * at once, so the descriptor is readable as soon as a frame is there;
 * rx_burst takes every ready frame up to the burst size (under load a
 * poll step still gets a full batch), rx_release gives them back.
 * TPACKET_V3 was the first choice and was dropped: it hands frames over
 * a block at a time, when the block is full or its retire timer (>= 1 ms,
 * jiffy-rounded) fires, which put a floor of ~1-4 ms per received frame
 * under light load; at 64 connections in flight V2 did as well
 * (BENCH-NOTES-afpacket.md).
 *
 * TX: sendmmsg() of the whole batch, one system call per tx_burst chunk,
 * with PACKET_QDISC_BYPASS.  A TX ring was tried on paper and rejected: the
 * kernel attaches ring pages to the skb as fragments and, across a veth
 * into another namespace, releases the ring slot (skb_orphan) while the
 * receiver still holds those pages, so reusing the slot would corrupt data
 * queued in the peer's socket.  sendmmsg copies, which is always safe.
 *
 * PACKET_IGNORE_OUTGOING keeps our own TX out of the RX ring (frames marked
 * PACKET_OUTGOING are also dropped by hand for kernels without it).
 * PACKET_FANOUT joins the socket to a group (one member per core).  The
 * default mode, cbpf, runs the stack's classifier as a classic-BPF program
 * (steer_bpf.c, installed with PACKET_FANOUT_DATA through the steer op):
 * the kernel puts each frame on the member the program returns, which is
 * its core when cores joined in index order.  Without RFD the program is
 * the 4-tuple hash alone, as a NIC's RSS.
 *
 * The stack's own MAC (ownmac=1, when the stack's address is known:
 * rs_io_conf.addr): 02:52:a.b.c.d, locally administered, derived
 * from the IP, answered in ARP by the stack.  The interface's kernel then
 * sees every frame for the stack as PACKET_OTHERHOST and drops it at the
 * top of ip_rcv; with the interface's own MAC each frame also went through
 * the namespace's IP routing (ip_route_input_slow, a dst per frame) to be
 * dropped there.  The address is added to the interface's unicast filter
 * (PACKET_MR_UNICAST: a real NIC accepts it, a device without a filter
 * goes promiscuous).  Frames still sent to the interface's MAC (a peer's
 * neighbour entry from before the stack started) are taken as the
 * stack's: their destination is rewritten in the ring, and the stack's
 * next ARP answer teaches the peer the new address.  Off by default: when
 * the kernel takes the address back after the stack (a Linux run after a
 * refstack one in a lab), the peers still hold the stack's MAC for it and
 * the kernel drops their frames until their neighbour entry is re-resolved
 * (flush it, or announce the interface's MAC: arping -U). */
#include "io_afpacket.h"
#include "steer_bpf.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AFP_DEF_BLOCK   (1u << 15)
#define AFP_DEF_FRAMES  4096u
#define AFP_MAX_BATCH   256u

struct afp_opts {
	char ifname[IFNAMSIZ];
	unsigned block;
	unsigned fanout;
	unsigned bypass;
	unsigned batch;
	unsigned ownmac;
};

struct rs_io {
	int fd;
	int ifindex;
	uint8_t mac[6];     /* the stack's */
	int own_mac;        /* ...and not the interface's */
	struct afp_opts o;
	uint8_t *ring;
	size_t ring_len;
	unsigned block_nr;
	unsigned frame_max;
	unsigned frame_size, frame_nr, frames_per_block;
	unsigned rx_head;   /* next frame to look at */
	unsigned rx_taken;  /* frames walked since the last release */
	int in_fanout;      /* joined a group */
	struct sock_filter *prog; /* cbpf: the steering program's buffer */
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct rs_afp_stats st;
};

/* ---- options ---------------------------------------------------------- */

struct afp_fanout_name {
	const char *name;
	int mode;
};

static const struct afp_fanout_name afp_fanouts[] = {
	{ "cbpf", PACKET_FANOUT_CBPF },
	{ "hash", PACKET_FANOUT_HASH },
	{ "lb", PACKET_FANOUT_LB },
	{ "cpu", PACKET_FANOUT_CPU },
	{ "rnd", PACKET_FANOUT_RND },
	{ "qm", PACKET_FANOUT_QM },
};

int rs_afp_fanout_mode(const char *name)
{
	for (size_t i = 0; i < sizeof(afp_fanouts) / sizeof(afp_fanouts[0]); i++)
		if (strcmp(name, afp_fanouts[i].name) == 0)
			return afp_fanouts[i].mode;
	return -1;
}

struct afp_opt {
	const char *key;
	size_t off;
	unsigned min, max;
	int is_fanout;
};

static const struct afp_opt afp_opt_table[] = {
	{ "block", offsetof(struct afp_opts, block), 4096, 1u << 22, 0 },
	{ "fanout", offsetof(struct afp_opts, fanout), 0, 0, 1 },
	{ "bypass", offsetof(struct afp_opts, bypass), 0, 1, 0 },
	{ "batch", offsetof(struct afp_opts, batch), 1, AFP_MAX_BATCH, 0 },
	{ "ownmac", offsetof(struct afp_opts, ownmac), 0, 1, 0 },
};

static int afp_opt_set(struct afp_opts *o, const char *key, const char *val)
{
	for (size_t i = 0; i < sizeof(afp_opt_table) / sizeof(afp_opt_table[0]); i++) {
		const struct afp_opt *d = &afp_opt_table[i];
		unsigned *dst = (unsigned *)((char *)o + d->off);
		if (strcmp(key, d->key) != 0)
			continue;
		if (d->is_fanout) {
			int m = rs_afp_fanout_mode(val);
			if (m < 0)
				return -EINVAL;
			*dst = (unsigned)m;
			return 0;
		}
		char *end;
		errno = 0;
		unsigned long v = strtoul(val, &end, 0);
		if (errno || *end || end == val || v < d->min || v > d->max)
			return -EINVAL;
		*dst = (unsigned)v;
		return 0;
	}
	return -EINVAL;
}

/* "ifname,key=val,key=val" → opts.  Returns 0 or -EINVAL. */
static int afp_opts_parse(struct afp_opts *o, const char *spec)
{
	char buf[256];
	*o = (struct afp_opts){ .block = AFP_DEF_BLOCK,
		.fanout = PACKET_FANOUT_CBPF, .bypass = 1, .batch = 64 };
	if (!spec || strlen(spec) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, spec);
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	if (!tok || strlen(tok) >= IFNAMSIZ)
		return -EINVAL;
	strcpy(o->ifname, tok);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		if (afp_opt_set(o, tok, eq + 1) < 0)
			return -EINVAL;
	}
	if (o->block & (o->block - 1))
		return -EINVAL;
	return 0;
}

/* ---- open ------------------------------------------------------------- */

/* 02:52 ('R') then the address: locally administered, unicast, one per
 * stack address on the segment. */
static void afp_own_mac(uint8_t mac[6], uint32_t addr)
{
	mac[0] = 0x02;
	mac[1] = 0x52;
	mac[2] = (uint8_t)(addr >> 24);
	mac[3] = (uint8_t)(addr >> 16);
	mac[4] = (uint8_t)(addr >> 8);
	mac[5] = (uint8_t)addr;
}

static int afp_ifinfo(struct rs_io *io, unsigned *mtu)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, io->o.ifname);
	io->ifindex = (int)if_nametoindex(io->o.ifname);
	if (io->ifindex == 0)
		return -errno;
	if (ioctl(io->fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	memcpy(io->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(io->fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	*mtu = (unsigned)ifr.ifr_mtu;
	return 0;
}

static int afp_setopt(int fd, int level, int name, int val)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0)
		return -errno;
	return 0;
}

static int afp_mmap(struct rs_io *io)
{
	io->ring = mmap(NULL, io->ring_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_LOCKED | MAP_POPULATE, io->fd, 0);
	if (io->ring == MAP_FAILED) /* MAP_LOCKED may exceed RLIMIT_MEMLOCK */
		io->ring = mmap(NULL, io->ring_len, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_POPULATE, io->fd, 0);
	if (io->ring == MAP_FAILED) {
		io->ring = NULL;
		return -errno;
	}
	return 0;
}

/* Fixed-size frame slots, each handed to user space (and the socket
 * woken) as soon as the kernel has written it - no block timer. */
static int afp_ring(struct rs_io *io, unsigned ring_frames)
{
	/* the kernel puts the MAC header at TPACKET_ALIGN(hdrlen + 16) minus
	 * the MAC length; reserve that plus the frame */
	unsigned hdr = TPACKET_ALIGN(TPACKET2_HDRLEN + 16);
	unsigned frame = 2048;
	while (frame < io->frame_max + hdr)
		frame <<= 1;
	if (frame > io->o.block)
		return -EMSGSIZE;
	io->frame_size = frame;
	io->frames_per_block = io->o.block / frame;
	io->block_nr = (ring_frames + io->frames_per_block - 1) /
		       io->frames_per_block;
	if (io->block_nr < 1)
		io->block_nr = 1;
	io->frame_nr = io->frames_per_block * io->block_nr;
	struct tpacket_req req = {
		.tp_block_size = io->o.block,
		.tp_block_nr = io->block_nr,
		.tp_frame_size = frame,
		.tp_frame_nr = io->frame_nr,
	};
	int rc = afp_setopt(io->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
	if (rc < 0)
		return rc;
	if (setsockopt(io->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return -errno;
	io->ring_len = (size_t)io->o.block * io->block_nr;
	return afp_mmap(io);
}

static int afp_sockopts(struct rs_io *io)
{
	int rc = afp_setopt(io->fd, SOL_PACKET, PACKET_QDISC_BYPASS,
			    (int)io->o.bypass);
	if (rc < 0)
		return rc;
	rc = afp_setopt(io->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
	if (rc < 0 && rc != -ENOPROTOOPT) /* older kernel: filtered by hand */
		return rc;
	/* a larger send buffer so a burst never sees EAGAIN; best effort */
	(void)afp_setopt(io->fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
	return 0;
}

static int afp_bind(struct rs_io *io, const struct rs_io_conf *conf)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = io->ifindex,
	};
	if (bind(io->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	if (io->own_mac) {
		struct packet_mreq mr = { .mr_ifindex = io->ifindex,
			.mr_type = PACKET_MR_UNICAST, .mr_alen = 6 };
		memcpy(mr.mr_address, io->mac, 6);
		if (setsockopt(io->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
			       sizeof(mr)) < 0)
			return -errno;
	}
	if (conf->nqueues <= 1 && conf->fanout_id == 0)
		return 0;
	unsigned id = conf->fanout_id ? conf->fanout_id
				      : ((unsigned)getpid() & 0xffffu);
	int rc = afp_setopt(io->fd, SOL_PACKET, PACKET_FANOUT,
			    (int)((id & 0xffffu) | (io->o.fanout << 16)));
	io->in_fanout = rc == 0;
	return rc;
}

/* The classifier as the group's program (any member may replace it; the
 * stack serialises the calls). */
static int afp_steer(struct rs_io *io, const struct rs_steer *s, int port)
{
	(void)port;
	if (!io->in_fanout || io->o.fanout != PACKET_FANOUT_CBPF)
		return 0;
	if (!io->prog)
		io->prog = calloc(RS_STEER_BPF_MAX, sizeof(*io->prog));
	if (!io->prog)
		return -ENOMEM;
	int n = rs_steer_bpf(s, io->prog, RS_STEER_BPF_MAX);
	if (n < 0)
		return n;
	struct sock_fprog fp = { .len = (unsigned short)n, .filter = io->prog };
	if (setsockopt(io->fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof(fp)) < 0)
		return -errno;
	return 0;
}

static int afp_tx_alloc(struct rs_io *io)
{
	io->msgs = calloc(io->o.batch, sizeof(*io->msgs));
	io->iov = calloc(io->o.batch, sizeof(*io->iov));
	if (!io->msgs || !io->iov)
		return -ENOMEM;
	for (unsigned i = 0; i < io->o.batch; i++) {
		io->msgs[i].msg_hdr.msg_iov = &io->iov[i];
		io->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void afp_close(struct rs_io *io)
{
	if (!io)
		return;
	if (io->ring)
		munmap(io->ring, io->ring_len);
	if (io->fd >= 0)
		close(io->fd);
	free(io->msgs);
	free(io->iov);
	free(io->prog);
	free(io);
}

static int afp_setup(struct rs_io *io, const struct rs_io_conf *conf)
{
	unsigned mtu = 0;
	int rc = afp_opts_parse(&io->o, conf->ifname);
	if (rc < 0)
		return rc;
	/* protocol 0: nothing is queued before the ring exists and we bind */
	io->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (io->fd < 0)
		return -errno;
	rc = afp_ifinfo(io, &mtu);
	if (rc < 0)
		return rc;
	io->own_mac = io->o.ownmac && conf->addr;
	if (io->own_mac)
		afp_own_mac(io->mac, conf->addr);
	io->frame_max = conf->frame_size ? conf->frame_size : mtu + ETH_HLEN;
	rc = afp_ring(io, conf->ring_frames ? conf->ring_frames : AFP_DEF_FRAMES);
	if (rc < 0)
		return rc;
	rc = afp_sockopts(io);
	if (rc < 0)
		return rc;
	rc = afp_bind(io, conf);
	if (rc < 0)
		return rc;
	return afp_tx_alloc(io);
}

static struct rs_io *afp_open(const struct rs_io_conf *conf, int *err)
{
	struct rs_io *io = calloc(1, sizeof(*io));
	if (!io) {
		*err = -ENOMEM;
		return NULL;
	}
	io->fd = -1;
	int rc = afp_setup(io, conf);
	if (rc < 0) {
		*err = rc;
		afp_close(io);
		return NULL;
	}
	*err = 0;
	return io;
}

/* ---- RX --------------------------------------------------------------- */

static struct tpacket2_hdr *afp_frame(struct rs_io *io, unsigned i)
{
	return (struct tpacket2_hdr *)(io->ring +
		(size_t)(i / io->frames_per_block) * io->o.block +
		(size_t)(i % io->frames_per_block) * io->frame_size);
}

static void afp_rx_release(struct rs_io *io)
{
	for (; io->rx_taken; io->rx_taken--) {
		struct tpacket2_hdr *h = afp_frame(io, io->rx_head);
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		if (++io->rx_head == io->frame_nr) {
			io->rx_head = 0;
			io->st.rx_wraps++;
		}
	}
}

static const struct sockaddr_ll *afp_sll(const struct tpacket2_hdr *h)
{
	return (const struct sockaddr_ll *)((const uint8_t *)h +
					    TPACKET_ALIGN(sizeof(*h)));
}

/* Is this ready frame one to hand out?  Counts the ones that are not. */
static int afp_acceptable(struct rs_io *io, const struct tpacket2_hdr *h,
			  uint32_t status)
{
	const struct sockaddr_ll *sll = afp_sll(h);
	if (sll->sll_pkttype == PACKET_OUTGOING) {
		io->st.rx_outgoing++;
		return 0;
	}
	if (h->tp_snaplen != h->tp_len || h->tp_len > io->frame_max ||
	    (status & TP_STATUS_COPY)) {
		io->st.rx_oversize++;
		return 0;
	}
	return 1;
}

/* Frames stay ours from rx_burst to rx_release, so the pointers handed
 * out stay valid while the stack processes them.  Frames skipped before
 * the first one handed out go back at once (the caller releases only
 * after a burst that returned frames). */
static int afp_rx_burst(struct rs_io *io, struct rs_frame *frames, int max)
{
	int n = 0;
	while (n < max && io->rx_taken < io->frame_nr) {
		unsigned i = (io->rx_head + io->rx_taken) % io->frame_nr;
		struct tpacket2_hdr *h = afp_frame(io, i);
		uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		if (!(status & TP_STATUS_USER))
			break;
		io->rx_taken++;
		if (!afp_acceptable(io, h, status)) {
			if (n == 0)
				afp_rx_release(io);
			continue;
		}
		frames[n].data = (uint8_t *)h + h->tp_mac;
		if (io->own_mac && afp_sll(h)->sll_pkttype == PACKET_HOST)
			memcpy(frames[n].data, io->mac, 6); /* to the interface's MAC */
		frames[n].len = h->tp_snaplen;
		frames[n].csum_partial = (status & TP_STATUS_CSUMNOTREADY) != 0;
		io->st.rx_csum_partial += frames[n].csum_partial;
		io->st.rx_frames++;
		n++;
	}
	return n;
}

static int afp_rx_pending(struct rs_io *io)
{
	unsigned i = (io->rx_head + io->rx_taken) % io->frame_nr;
	return (__atomic_load_n(&afp_frame(io, i)->tp_status, __ATOMIC_ACQUIRE) &
		TP_STATUS_USER) != 0;
}

/* ---- TX --------------------------------------------------------------- */

static int afp_tx_chunk(struct rs_io *io, const struct rs_frame *frames, int n)
{
	for (int i = 0; i < n; i++) {
		io->iov[i].iov_base = frames[i].data;
		io->iov[i].iov_len = frames[i].len;
	}
	io->st.tx_calls++;
	int rc = sendmmsg(io->fd, io->msgs, (unsigned)n, MSG_DONTWAIT);
	if (rc < 0)
		rc = 0;  /* ENOBUFS/EAGAIN/...: the frame at the head is lost */
	io->st.tx_frames += (uint64_t)rc;
	return rc;
}

static int afp_tx_burst(struct rs_io *io, const struct rs_frame *frames, int n)
{
	int sent = 0;
	while (sent < n) {
		int k = n - sent;
		if (k > (int)io->o.batch)
			k = (int)io->o.batch;
		int rc = afp_tx_chunk(io, frames + sent, k);
		sent += rc;
		if (rc < k) {
			io->st.tx_errors += (uint64_t)(n - sent);
			break;
		}
	}
	return sent;
}

/* ---- misc ------------------------------------------------------------- */

static int afp_wait_fd(struct rs_io *io)
{
	return io->fd;
}

static void afp_mac(struct rs_io *io, uint8_t mac[6])
{
	memcpy(mac, io->mac, 6);
}

void rs_afp_stats(struct rs_io *io, struct rs_afp_stats *st)
{
	struct tpacket_stats ks;
	socklen_t len = sizeof(ks);
	if (getsockopt(io->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
		io->st.rx_kernel_drops += ks.tp_drops;
	*st = io->st;
}

const struct rs_io_ops rs_io_afpacket = {
	.name = "afpacket",
	.open = afp_open,
	.rx_burst = afp_rx_burst,
	.rx_release = afp_rx_release,
	.tx_burst = afp_tx_burst,
	.wait_fd = afp_wait_fd,
	.rx_pending = afp_rx_pending,
	.steer = afp_steer,
	.mac = afp_mac,
	.close = afp_close,
};
