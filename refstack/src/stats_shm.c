/* Statistics segment: writer (publish hook) and reader (rsctl) sides.
 * See stats_shm.h for the layout and the sequence-counter protocol. */
#include "stats_shm.h"

#include "io_afpacket.h"
#include "io_afxdp.h"
#include "stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Backend counters published after the core's own (afpacket only; zero
 * for other backends).  They come from the core's rs_io, which only the
 * library can see (stack.h), read on the owning thread at publish. */
#define SHM_IO_COUNTERS(X)                                                   \
	X(rx_frames, "afpacket: frames handed to the stack")                 \
	X(rx_oversize, "afpacket: dropped, longer than frame_size/truncated") \
	X(rx_outgoing, "afpacket: dropped, own TX looped back")              \
	X(rx_csum_partial, "afpacket: frames with checksum left to offload") \
	X(rx_wraps, "afpacket: times the RX ring was walked around")         \
	X(rx_kernel_drops, "afpacket: dropped by the kernel, ring full")     \
	X(tx_frames, "afpacket: frames accepted by the kernel")              \
	X(tx_errors, "afpacket: frames refused by the kernel")               \
	X(tx_calls, "afpacket: sendmmsg calls")

/* afxdp's, after afpacket's (zero for other backends) */
#define SHM_XSK_COUNTERS(X)                                                  \
	X(rx_frames, "afxdp: frames handed to the stack")                    \
	X(rx_oversize, "afxdp: dropped, longer than frame_size")             \
	X(rx_guest, "afxdp: received on guest sockets (steer=xdp)")          \
	X(tx_frames, "afxdp: frames put on the TX ring")                     \
	X(tx_ring_full, "afxdp: refused, no TX frame or ring slot free")     \
	X(tx_kicks, "afxdp: sendto() wake-ups of the kernel")                \
	X(rx_dropped, "afxdp: kernel: dropped (XDP_STATISTICS)")             \
	X(rx_ring_full, "afxdp: kernel: dropped, RX ring full")              \
	X(rx_fill_ring_empty, "afxdp: kernel: fill ring found empty")        \
	X(xdp_rx, "afxdp: XDP program: frames on this core's queues")        \
	X(xdp_pass, "afxdp: XDP program: no socket, passed to the kernel")   \
	X(xdp_home, "afxdp: XDP program: TCP, RFD owner is this core")       \
	X(xdp_away, "afxdp: XDP program: TCP, RFD owner is another core")    \
	X(xdp_rss, "afxdp: XDP program: TCP, passive side, left to RSS")     \
	X(xdp_steered, "afxdp: XDP program: away, sent to the owner's guest") \
	X(nqueues, "afxdp: sockets of this core (own queues + guests)")

enum {
#define SHM_X_COUNT(name, desc) +1
	SHM_NAFP = 0 SHM_IO_COUNTERS(SHM_X_COUNT),
	SHM_NIO = SHM_NAFP SHM_XSK_COUNTERS(SHM_X_COUNT)
#undef SHM_X_COUNT
};

_Static_assert(RS_NCOUNTERS + SHM_NIO <= RS_SHM_MAX_COUNTERS,
	       "raise RS_SHM_MAX_COUNTERS");

static const char *const shm_io_names[SHM_NIO] = {
#define SHM_X_NAME(name, desc) "afp_" #name,
	SHM_IO_COUNTERS(SHM_X_NAME)
#undef SHM_X_NAME
#define SHM_X_NAME(name, desc) "xsk_" #name,
	SHM_XSK_COUNTERS(SHM_X_NAME)
#undef SHM_X_NAME
};

static const char *const shm_io_descs[SHM_NIO] = {
#define SHM_X_DESC(name, desc) desc,
	SHM_IO_COUNTERS(SHM_X_DESC)
	SHM_XSK_COUNTERS(SHM_X_DESC)
#undef SHM_X_DESC
};

static void shm_xsk_values(struct rs_core *core, uint64_t *out)
{
	struct rs_afxdp_stats st;
	size_t k = SHM_NAFP;
	rs_afxdp_stats(core->io, &st);
#define SHM_X_VAL(name, desc) out[k++] = st.name;
	SHM_XSK_COUNTERS(SHM_X_VAL)
#undef SHM_X_VAL
}

static void shm_io_values(struct rs_core *core, uint64_t *out)
{
	struct rs_afp_stats st;
	memset(out, 0, SHM_NIO * sizeof(*out));
	if (core->io_ops == &rs_io_afxdp && core->io)
		shm_xsk_values(core, out);
	if (core->io_ops != &rs_io_afpacket || !core->io)
		return;
	rs_afp_stats(core->io, &st);
	size_t k = 0;
#define SHM_X_VAL(name, desc) out[k++] = st.name;
	SHM_IO_COUNTERS(SHM_X_VAL)
#undef SHM_X_VAL
}

struct rs_shm {
	uint8_t *base;
	size_t size;
	int owner;                 /* created (and unlinks) the segment */
	char name[64];
};

#define SHM_RETRIES 1000

static struct rs_shm_hdr *shm_hdr(const struct rs_shm *shm)
{
	return (struct rs_shm_hdr *)(void *)shm->base;
}

static struct rs_shm_core *shm_core(const struct rs_shm *shm, unsigned i)
{
	const struct rs_shm_hdr *h = shm_hdr(shm);
	return (struct rs_shm_core *)(void *)(shm->base + h->core_off +
					      (size_t)i * h->core_size);
}

static size_t shm_core_size(unsigned sock_cap)
{
	size_t sz = sizeof(struct rs_shm_core) +
		    (size_t)sock_cap * sizeof(struct rs_shm_sock);
	return (sz + 63) & ~(size_t)63;
}

static void shm_fill_header(struct rs_shm *shm, unsigned ncores,
			    unsigned sock_cap)
{
	struct rs_shm_hdr *h = shm_hdr(shm);
	h->version = RS_SHM_VERSION;
	h->hdr_size = sizeof(*h);
	h->ncores = ncores;
	h->ncounters = RS_NCOUNTERS + SHM_NIO;
	h->sock_cap = sock_cap;
	h->core_size = (uint32_t)shm_core_size(sock_cap);
	h->core_off = (sizeof(*h) + 63) & ~(uint64_t)63;
	h->pid = (int32_t)getpid();
	for (unsigned i = 0; i < RS_NCOUNTERS; i++) {
		snprintf(h->names[i], RS_SHM_NAME_LEN, "%s", rs_counter_names[i]);
		snprintf(h->descs[i], RS_SHM_DESC_LEN, "%s", rs_counter_descs[i]);
	}
	for (unsigned i = 0; i < SHM_NIO; i++) {
		snprintf(h->names[RS_NCOUNTERS + i], RS_SHM_NAME_LEN, "%s", shm_io_names[i]);
		snprintf(h->descs[RS_NCOUNTERS + i], RS_SHM_DESC_LEN, "%s", shm_io_descs[i]);
	}
	/* the magic last: a reader never trusts a half-written header */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, RS_SHM_MAGIC, 8);
}

static int shm_map(struct rs_shm *shm, int fd, int prot)
{
	shm->base = mmap(NULL, shm->size, prot, MAP_SHARED, fd, 0);
	if (shm->base == MAP_FAILED) {
		shm->base = NULL;
		return -errno;
	}
	return 0;
}

struct rs_shm *rs_shm_create(const char *name, unsigned ncores,
			     unsigned sock_cap, int *err)
{
	struct rs_shm *shm = calloc(1, sizeof(*shm));
	int fd = -1, rc = -ENOMEM;
	if (!shm || ncores == 0)
		goto error;
	if (sock_cap == 0)
		sock_cap = RS_SHM_DEF_SOCKS;
	snprintf(shm->name, sizeof(shm->name), "/%s", name ? name : "");
	if (!name)
		snprintf(shm->name, sizeof(shm->name), "/refstack.%d", (int)getpid());
	shm->size = ((sizeof(struct rs_shm_hdr) + 63) & ~(size_t)63) +
		    (size_t)ncores * shm_core_size(sock_cap);
	/* a stale segment of a dead process with our pid is replaced */
	fd = shm_open(shm->name, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)shm->size) < 0) {
		rc = -errno;
		goto error;
	}
	shm->owner = 1;
	rc = shm_map(shm, fd, PROT_READ | PROT_WRITE);
	if (rc < 0)
		goto error;
	close(fd);
	shm_fill_header(shm, ncores, sock_cap);
	*err = 0;
	return shm;
error:
	if (fd >= 0) {
		close(fd);
		shm_unlink(shm->name);
	}
	free(shm);
	*err = rc;
	return NULL;
}

void rs_shm_destroy(struct rs_shm *shm)
{
	if (!shm)
		return;
	if (shm->base)
		munmap(shm->base, shm->size);
	if (shm->owner)
		shm_unlink(shm->name);
	free(shm);
}

/* ---- writer ------------------------------------------------------------ */

static void shm_sock_copy(struct rs_shm_sock *d, const struct rs_sock_info *s)
{
	memset(d, 0, sizeof(*d));
	d->fd = s->fd;
	d->core = s->core;
	snprintf(d->state, sizeof(d->state), "%s", s->state ? s->state : "?");
	d->laddr = s->local.sin_addr.s_addr;
	d->raddr = s->remote.sin_addr.s_addr;
	d->lport = ntohs(s->local.sin_port);
	d->rport = ntohs(s->remote.sin_port);
	d->snd_queue = s->snd_queue;
	d->rcv_queue = s->rcv_queue;
	d->accept_queue = s->accept_queue;
	d->rto_us = s->rto_us;
	d->srtt_us = s->srtt_us;
	d->cwnd = s->cwnd;
	d->ssthresh = s->ssthresh;
	d->snd_wnd = s->snd_wnd;
	d->rcv_wnd = s->rcv_wnd;
	d->mss = s->mss;
	d->retransmits = s->retransmits;
}

struct shm_sock_ctx {
	struct rs_shm_core *c;
	uint32_t cap, skip;
};

static int shm_sock_cb(const struct rs_sock_info *info, void *arg)
{
	struct shm_sock_ctx *x = arg;
	if (x->c->sock_total++ < x->skip)
		return 0;
	if (x->c->sock_count < x->cap)
		shm_sock_copy(&x->c->socks[x->c->sock_count++], info);
	return 0;
}

static void shm_publish_socks(struct rs_shm *shm, struct rs_core *core,
			      struct rs_shm_core *c)
{
	uint64_t req = __atomic_load_n(&c->sock_req, __ATOMIC_ACQUIRE);
	if (req == c->sock_done)
		return;
	struct shm_sock_ctx x = { c, shm_hdr(shm)->sock_cap,
				  __atomic_load_n(&c->sock_off, __ATOMIC_RELAXED) };
	__atomic_store_n(&c->sock_seq, c->sock_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	c->sock_first = x.skip;
	c->sock_count = 0;
	c->sock_total = 0;
	rs_core_foreach_socket(core, shm_sock_cb, &x);
	__atomic_store_n(&c->sock_seq, c->sock_seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->sock_done, req, __ATOMIC_RELEASE);
}

void rs_shm_publish(struct rs_core *core, uint64_t now_ns, void *arg)
{
	struct rs_shm *shm = arg;
	unsigned i = rs_core_index(core);
	if (!shm || i >= shm_hdr(shm)->ncores)
		return;
	struct rs_shm_core *c = shm_core(shm, i);
	const struct rs_core_counters *cnt = rs_core_counters(core);
	uint64_t io[SHM_NIO];
	shm_io_values(core, io);  /* a system call: outside the write section */
	__atomic_store_n(&shm_hdr(shm)->features,
			 rs_stack_conf(rs_core_stack(core))->features |
				 RS_SHM_FEATURES_SET,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&shm_hdr(shm)->cc,
			 rs_stack_conf(rs_core_stack(core))->cc + 1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(c->counters, cnt, sizeof(*cnt));
	memcpy(c->counters + RS_NCOUNTERS, io, sizeof(io));
	rs_core_tables(core, &c->tables);
	c->publishes++;
	c->now_ns = now_ns;
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
	shm_publish_socks(shm, core, c);
}

/* ---- reader ------------------------------------------------------------ */

static int shm_check(const struct rs_shm *shm)
{
	const struct rs_shm_hdr *h = shm_hdr(shm);
	if (shm->size < sizeof(*h) || memcmp(h->magic, RS_SHM_MAGIC, 8) != 0 ||
	    h->version != RS_SHM_VERSION || h->ncounters > RS_SHM_MAX_COUNTERS ||
	    h->core_size < sizeof(struct rs_shm_core) ||
	    h->core_off + (uint64_t)h->ncores * h->core_size > shm->size ||
	    shm_core_size(h->sock_cap) != h->core_size)
		return -EPROTO;
	return 0;
}

struct rs_shm *rs_shm_attach(const char *path, int *err)
{
	struct rs_shm *shm = calloc(1, sizeof(*shm));
	struct stat st;
	int rc = -ENOMEM;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (!shm || fd < 0 || fstat(fd, &st) < 0) {
		rc = shm ? -errno : rc;
		goto error;
	}
	shm->size = (size_t)st.st_size;
	rc = -EPROTO;
	if (shm->size < sizeof(struct rs_shm_hdr))
		goto error;
	rc = shm_map(shm, fd, PROT_READ | PROT_WRITE);
	if (rc < 0 || (rc = shm_check(shm)) < 0)
		goto error;
	close(fd);
	*err = 0;
	return shm;
error:
	if (fd >= 0)
		close(fd);
	rs_shm_detach(shm);
	*err = rc;
	return NULL;
}

void rs_shm_detach(struct rs_shm *shm)
{
	if (!shm)
		return;
	if (shm->base)
		munmap(shm->base, shm->size);
	free(shm);
}

const struct rs_shm_hdr *rs_shm_header(const struct rs_shm *shm)
{
	return shm_hdr(shm);
}

int rs_shm_read_core(struct rs_shm *shm, unsigned core,
		     struct rs_shm_snap *out)
{
	if (core >= shm_hdr(shm)->ncores)
		return -EINVAL;
	struct rs_shm_core *c = shm_core(shm, core);
	for (int i = 0; i < SHM_RETRIES; i++) {
		uint64_t s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out->counters, c->counters, sizeof(out->counters));
		out->tables = c->tables;
		out->publishes = c->publishes;
		out->now_ns = c->now_ns;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) == s1)
			return 0;
	}
	return -EAGAIN;
}

static void shm_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The page in the segment: its count, -EAGAIN if the writer kept it busy,
 * *first the socket number it starts at. */
static int shm_copy_socks(struct rs_shm *shm, struct rs_shm_core *c,
			  struct rs_shm_sock *out, unsigned cap,
			  uint32_t *total, uint32_t *first)
{
	for (int i = 0; i < SHM_RETRIES; i++) {
		uint64_t s1 = __atomic_load_n(&c->sock_seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		unsigned n = c->sock_count;
		if (n > shm_hdr(shm)->sock_cap)
			n = shm_hdr(shm)->sock_cap;
		if (n > cap)
			n = cap;
		memcpy(out, c->socks, (size_t)n * sizeof(*out));
		*total = c->sock_total;
		*first = c->sock_first;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&c->sock_seq, __ATOMIC_RELAXED) == s1)
			return (int)n;
	}
	return -EAGAIN;
}

int rs_shm_read_socks(struct rs_shm *shm, unsigned core, uint32_t off,
		      struct rs_shm_sock *out, unsigned cap, int timeout_ms,
		      int *stale, uint32_t *total)
{
	if (core >= shm_hdr(shm)->ncores)
		return -EINVAL;
	struct rs_shm_core *c = shm_core(shm, core);
	int waited = 0, n = 0;
	uint32_t first = 0;
	*stale = 1;
	while (waited <= timeout_ms) {
		__atomic_store_n(&c->sock_off, off, __ATOMIC_RELAXED);
		uint64_t want = __atomic_add_fetch(&c->sock_req, 1, __ATOMIC_ACQ_REL);
		while (waited <= timeout_ms &&
		       __atomic_load_n(&c->sock_done, __ATOMIC_ACQUIRE) < want) {
			shm_sleep_ms(2);
			waited += 2;
		}
		n = shm_copy_socks(shm, c, out, cap, total, &first);
		if (n < 0 || first == off) {
			*stale = waited > timeout_ms;
			return n;
		}
		/* another reader's page came: ask again */
	}
	return n;
}
