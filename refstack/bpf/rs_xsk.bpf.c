// SPDX-License-Identifier: GPL-2.0
/* XDP program of the afxdp backend (compiled with clang -target bpf,
 * embedded in librefstack through a bpftool skeleton, attached by
 * src/io_afxdp.c to the stack's interface).
 *
 * Every frame goes to the AF_XDP socket bound to the queue it arrived on:
 * an XSK can only receive frames of its own (device, queue), so XDP cannot
 * move a frame to another core's socket; with no socket on that queue the
 * frame goes on to the kernel (XDP_PASS).
 *
 * RFD's classification is computed here for every TCP segment and counted
 * per queue: "home" (the owner core is this queue's core), "away" (another
 * core owns the connection: NIC steering did not apply, the stack's
 * software hand-off will move it) or "rss" (passive connection: wherever
 * RSS put it is right).  The counters measure how much a NIC ntuple rule
 * set (or its absence) leaves to the software hand-off. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "rs_xsk_shared.h"

/* set by the loader before the program is loaded */
const volatile __u32 rfd_cores = 1;   /* R: cores rounded up to 2^k */
const volatile __u32 ncores = 1;      /* cores of the stack */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, RS_XSK_MAX_QUEUES);
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

/* RFD (DESIGN.md): source port below 1024 -> reply to an active
 * connection, steer by destination port; destination port below 1024 ->
 * passive, leave to RSS; otherwise a listener on the destination port
 * means passive, none means active.  Returns the owner core or -1 (RSS). */
static __always_inline int rfd_owner(__u16 sport, __u16 dport)
{
	if (sport >= 1024 && (dport < 1024 || is_listener(dport)))
		return -1;
	return dport & (rfd_cores - 1);
}

static __always_inline void classify(void *data, void *end,
				     struct rs_xsk_qstats *st, __u32 queue)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp;
	int owner;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return;
	owner = rfd_owner(bpf_ntohs(tcp->source), bpf_ntohs(tcp->dest));
	if (owner < 0)
		st->rss++;
	else if ((__u32)owner % ncores == queue % ncores)
		st->home++;
	else
		st->away++;
}

SEC("xdp")
int rs_xsk_redirect(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	struct rs_xsk_qstats *st = bpf_map_lookup_elem(&qstats, &q);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	long rc;

	if (st) {
		st->rx++;
		classify(data, end, st, q);
	}
	rc = bpf_redirect_map(&xsks, q, XDP_PASS);
	if (st && rc == XDP_PASS)
		st->pass++;
	return (int)rc;
}

char LICENSE[] SEC("license") = "GPL";
