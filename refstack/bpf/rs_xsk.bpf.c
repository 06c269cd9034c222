// SPDX-License-Identifier: GPL-2.0
/* XDP program of the afxdp backend (compiled with clang -target bpf,
 * embedded in librefstack through a bpftool skeleton, attached by
 * src/io_afxdp_if.c to the stack's interface).
 *
 * An AF_XDP socket only receives frames of the (device, queue) it is bound
 * to, so a frame goes to a socket on its arrival queue: the socket of the
 * queue's owner core, or — with steer=xdp, when RFD says another core owns
 * the connection — that core's guest socket on this queue (sockets on one
 * queue share its buffer pool: XDP_SHARED_UMEM).  With no socket the frame
 * goes on to the kernel (XDP_PASS).
 *
 * RFD's classification is counted per queue (with RFD off in the stack
 * every frame is "rss"): "home" (the owner core is
 * this queue's), "away" (another core owns the connection: steered here
 * when it has a guest socket, else the stack's software hand-off moves it)
 * and "rss" (passive side: wherever RSS put it is right). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "rs_xsk_shared.h"
/* the stack's classifier header, without libc */
#define RS_STEER_NO_STDINT
typedef __u8 uint8_t;
typedef __u32 uint32_t;
#include "../src/steer.h"

/* set by the loader before the program is loaded */
const volatile __u32 rfd_cores = 1;   /* R: cores rounded up to 2^k */
const volatile __u32 ncores = 1;      /* cores of the stack */
const volatile __u32 steer = 0;       /* deliver "away" frames to guests */

/* set by the stack when it tells the program its listeners (xsk_steer):
 * a stack without the rfd feature owns connections by its 4-tuple hash,
 * not by port, so the program classifies nothing and every frame stays on
 * the core of the queue RSS put it on (the software hand-off does the rest).
 * The backend alone (no stack) keeps RFD's rule. */
volatile __u32 rfd_off = 0;

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, RS_XSK_MAX_QUEUES * RS_XSK_MAX_CORES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RS_XSK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct rs_xsk_qstats);
} qstats SEC(".maps");

/* one bit per TCP port with a listener (passive side), 64 ports a word */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536 / 64);
	__type(key, __u32);
	__type(value, __u64);
} listen_ports SEC(".maps");

static __always_inline int is_listener(__u16 port)
{
	__u32 k = port >> 6;
	__u64 *w = bpf_map_lookup_elem(&listen_ports, &k);

	return w && (*w >> (port & 63)) & 1;
}

/* RFD's rule, the stack's own (src/steer.h: rs_rfd_class), with the
 * listener set of this program's map.  Returns the owner core or -1
 * (passive side: RSS). */
static __always_inline int rfd_owner(__u16 sport, __u16 dport)
{
	int cls = rs_rfd_class(sport, dport);

	if (rfd_off)
		return -1;
	if (cls == RS_RFD_ASK)
		cls = is_listener(dport) ? RS_RFD_PASSIVE : RS_RFD_ACTIVE;
	if (cls == RS_RFD_PASSIVE)
		return -1;
	return (int)rs_rfd_core(dport, rfd_cores - 1);
}

/* The core RFD gives the TCP segment; -1 passive side, -2 not TCP. */
static __always_inline int tcp_owner(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return -2;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return -2;
	return rfd_owner(bpf_ntohs(tcp->source), bpf_ntohs(tcp->dest));
}

SEC("xdp")
int rs_xsk_redirect(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	struct rs_xsk_qstats *st = bpf_map_lookup_elem(&qstats, &q);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 home = q % ncores, key;
	int owner = tcp_owner(data, end);
	long rc;

	if (!st)
		return XDP_PASS;
	st->rx++;
	if (owner == -1)
		st->rss++;
	if (owner >= 0 && (__u32)owner % ncores == home)
		st->home++;
	if (owner >= 0 && (__u32)owner % ncores != home) {
		st->away++;
		key = RS_XSK_KEY(q, (__u32)owner % ncores);
		if (steer && bpf_map_lookup_elem(&xsks, &key)) {
			st->steered++;
			return (int)bpf_redirect_map(&xsks, key, 0);
		}
	}
	rc = bpf_redirect_map(&xsks, RS_XSK_KEY(q, home), XDP_PASS);
	if (rc == XDP_PASS)
		st->pass++;
	return (int)rc;
}

char LICENSE[] SEC("license") = "GPL";
