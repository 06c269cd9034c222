/* afpacket backend: one AF_PACKET socket per stack core.
 *
 * RX: a TPACKET_V3 mmap ring.  The kernel packs frames into blocks and
 * hands a block over when it is full or when the retire timer (tov) fires;
 * rx_burst walks the user-owned blocks frame by frame, rx_release gives
 * back every block that has been walked to its end (a block still being
 * walked stays ours, so frames handed out from it stay valid).
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
 * PACKET_FANOUT joins the socket to a group (one member per core); the mode
 * is an option so the next issue can plug its classic-BPF steering in. */
#include "io_afpacket.h"

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
	unsigned tov;
	unsigned block;
	unsigned fanout;
	unsigned bypass;
	unsigned batch;
};

struct rs_io {
	int fd;
	int ifindex;
	uint8_t mac[6];
	struct afp_opts o;
	uint8_t *ring;
	size_t ring_len;
	unsigned block_nr;
	unsigned frame_max;
	unsigned held;      /* first block walked to its end, not released */
	unsigned nheld;     /* how many such blocks */
	struct tpacket3_hdr *pkt; /* next frame of the block being walked */
	uint32_t left;      /* frames left in that block */
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
	{ "tov", offsetof(struct afp_opts, tov), 1, 1000, 0 },
	{ "block", offsetof(struct afp_opts, block), 4096, 1u << 22, 0 },
	{ "fanout", offsetof(struct afp_opts, fanout), 0, 0, 1 },
	{ "bypass", offsetof(struct afp_opts, bypass), 0, 1, 0 },
	{ "batch", offsetof(struct afp_opts, batch), 1, AFP_MAX_BATCH, 0 },
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
	*o = (struct afp_opts){ .tov = 1, .block = AFP_DEF_BLOCK,
		.fanout = PACKET_FANOUT_HASH, .bypass = 1, .batch = 64 };
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

static int afp_ring(struct rs_io *io, unsigned ring_frames)
{
	/* room for the V3 block header, frame header and sockaddr_ll */
	unsigned hdr = 48 + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) +
		TPACKET_ALIGN(sizeof(struct sockaddr_ll)) + 16;
	if (io->frame_max + hdr > io->o.block)
		return -EMSGSIZE;  /* MTU/frame_size too big for one block */
	unsigned frame = 2048;
	while (frame < io->frame_max + hdr)
		frame <<= 1;
	if (frame > io->o.block)
		frame = io->o.block;
	unsigned long bytes = (unsigned long)ring_frames * frame;
	io->block_nr = (unsigned)((bytes + io->o.block - 1) / io->o.block);
	if (io->block_nr < 4)
		io->block_nr = 4;
	struct tpacket_req3 req = {
		.tp_block_size = io->o.block,
		.tp_block_nr = io->block_nr,
		.tp_frame_size = frame,
		.tp_frame_nr = (io->o.block / frame) * io->block_nr,
		.tp_retire_blk_tov = io->o.tov,
	};
	int rc = afp_setopt(io->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3);
	if (rc < 0)
		return rc;
	if (setsockopt(io->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return -errno;
	io->ring_len = (size_t)io->o.block * io->block_nr;
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
	if (conf->nqueues <= 1 && conf->fanout_id == 0)
		return 0;
	unsigned id = conf->fanout_id ? conf->fanout_id
				      : ((unsigned)getpid() & 0xffffu);
	return afp_setopt(io->fd, SOL_PACKET, PACKET_FANOUT,
			  (int)((id & 0xffffu) | (io->o.fanout << 16)));
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

static struct tpacket_block_desc *afp_block(struct rs_io *io, unsigned i)
{
	return (struct tpacket_block_desc *)(io->ring + (size_t)i * io->o.block);
}

/* Open the next user-owned block; 0 if none is ready. */
static int afp_block_open(struct rs_io *io)
{
	if (io->nheld == io->block_nr)
		return 0;
	unsigned cur = (io->held + io->nheld) % io->block_nr;
	struct tpacket_block_desc *bd = afp_block(io, cur);
	uint32_t status = __atomic_load_n(&bd->hdr.bh1.block_status,
					  __ATOMIC_ACQUIRE);
	if (!(status & TP_STATUS_USER))
		return 0;
	io->st.rx_blocks++;
	io->left = bd->hdr.bh1.num_pkts;
	io->pkt = (struct tpacket3_hdr *)((uint8_t *)bd +
					  bd->hdr.bh1.offset_to_first_pkt);
	if (io->left == 0) {
		io->pkt = NULL;
		io->nheld++;
	}
	return 1;
}

/* Take the current frame into *f if it is acceptable; advance. */
static int afp_take(struct rs_io *io, struct rs_frame *f)
{
	struct tpacket3_hdr *h = io->pkt;
	const struct sockaddr_ll *sll = (const struct sockaddr_ll *)
		((uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	int ok = 0;
	if (sll->sll_pkttype == PACKET_OUTGOING) {
		io->st.rx_outgoing++;
	} else if (h->tp_snaplen != h->tp_len || h->tp_len > io->frame_max) {
		io->st.rx_oversize++;
	} else {
		f->data = (uint8_t *)h + h->tp_mac;
		f->len = h->tp_snaplen;
		f->csum_partial = (h->tp_status & TP_STATUS_CSUMNOTREADY) != 0;
		io->st.rx_csum_partial += f->csum_partial;
		io->st.rx_frames++;
		ok = 1;
	}
	if (--io->left == 0) {
		io->pkt = NULL;
		io->nheld++;
	} else {
		io->pkt = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
	}
	return ok;
}

static int afp_rx_burst(struct rs_io *io, struct rs_frame *frames, int max)
{
	int n = 0;
	while (n < max) {
		if (!io->pkt && !afp_block_open(io))
			break;
		if (io->pkt && afp_take(io, &frames[n]))
			n++;
	}
	return n;
}

static void afp_rx_release(struct rs_io *io)
{
	while (io->nheld > 0) {
		struct tpacket_block_desc *bd = afp_block(io, io->held);
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
				 __ATOMIC_RELEASE);
		io->held = (io->held + 1) % io->block_nr;
		io->nheld--;
	}
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
	struct tpacket_stats_v3 ks;
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
	.mac = afp_mac,
	.close = afp_close,
};
