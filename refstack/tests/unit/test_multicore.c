/* One stack, two cores, each on its own memif pair (base: global tables).
 * A SYN is answered by the core it lands on, from the global listen
 * socket; the established child is parked on the global accept queue and
 * adopted by the core that accepts it; later frames landing on the other
 * core are handed to the owner, whole (checksum-partial flag included);
 * descriptors belong to their core. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../../src/common.h"
#include "lib/t.h"
#include "lib/tb.h"
#include "../../src/wire.h"

#define PEER_IP 0xc6121501u
#define STACK_IP 0xc6121502u
static const uint8_t MAC0[6] = {2, 0, 0, 0, 0, 1}, MAC1[6] = {2, 0, 0, 0, 0, 2};

struct bed {
	struct rs_memif_pair *pair[2];
	struct rs_stack *s;
	struct rs_core *c[2];
	struct rs_io *wire[2];
	uint64_t now;
};

static void tx(struct bed *b, int core, const uint8_t *f, uint32_t len)
{
	struct rs_frame fr = {.data = (uint8_t *)(uintptr_t)f, .len = len};

	rs_io_memif.tx_burst(b->wire[core], &fr, 1);
}

static void tx_seg(struct bed *b, int core, uint16_t sport, uint8_t flags,
		   uint32_t seq, uint32_t ack, int partial)
{
	uint8_t f[128];
	struct rs_tcp_seg s = {.sport = sport, .dport = 80, .flags = flags,
			       .seq = seq, .ack = ack, .wnd = 65535};
	uint32_t hl = rs_tcp_emit(f + 34, &s, PEER_IP, STACK_IP, 0);
	struct rs_frame fr = {.data = f, .len = 34 + hl, .csum_partial = 1};

	rs_ipv4_emit(f + 14, PEER_IP, STACK_IP, RS_IPPROTO_TCP, hl, 1);
	rs_eth_emit(f, MAC1, MAC0, RS_ETH_P_IP);
	if (!partial) {
		tx(b, core, f, 34 + hl);
		return;
	}
	/* what a veth with TX checksum offload delivers: the checksum field
	 * holds only the pseudo-header sum, the frame is flagged partial */
	uint16_t ps = (uint16_t)~rs_csum_fold(
		rs_csum_pseudo(PEER_IP, STACK_IP, RS_IPPROTO_TCP, hl));
	rs_put16(f + 34 + 16, ps);
	rs_io_memif.tx_burst(b->wire[core], &fr, 1);
}

static void tx_tcp(struct bed *b, int core, uint8_t flags, uint32_t seq,
		   uint32_t ack)
{
	tx_seg(b, core, 50000, flags, seq, ack, 0);
}

/* Collect TCP segments core sent on its wire. */
static int rx_tcp(struct bed *b, int core, struct rs_tcp_seg *out)
{
	struct rs_frame fr[16];
	int n = rs_io_memif.rx_burst(b->wire[core], fr, 16), got = 0;

	for (int i = 0; i < n; i++) {
		struct rs_eth e;
		struct rs_ipv4 ip;
		if (rs_eth_parse(fr[i].data, fr[i].len, &e) == 0 &&
		    e.type == RS_ETH_P_IP &&
		    rs_ipv4_parse(e.payload, e.len, &ip) == 0 &&
		    rs_tcp_parse(ip.payload, ip.len, ip.src, ip.dst, 0, out) == 0)
			got++;
	}
	if (n > 0)
		rs_io_memif.rx_release(b->wire[core]);
	return got;
}

static void poll_all(struct bed *b)
{
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 2; i++)
			rs_poll(b->c[i], b->now);
}

static int setup(struct bed *b)
{
	struct rs_stack_conf conf;
	int err = 0;

	memset(b, 0, sizeof(*b));
	b->now = 1000000000ull;
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	conf.ncores = 2;
	conf.seed = 5;
	b->s = rs_stack_create(&conf, &err);
	if (!b->s)
		return -1;
	for (int i = 0; i < 2; i++) {
		struct rs_io_conf io1, io0;
		b->pair[i] = rs_memif_pair_create(256, 2048);
		io1 = (struct rs_io_conf){.peer = b->pair[i], .queue = 1};
		io0 = (struct rs_io_conf){.peer = b->pair[i], .queue = 0};
		b->c[i] = rs_core_create(b->s, (unsigned)i, &rs_io_memif, &io1,
					 &err);
		b->wire[i] = rs_io_memif.open(&io0, &err);
		if (!b->c[i] || !b->wire[i])
			return -1;
		/* teach the core the peer's MAC */
		uint8_t f[60] = {0};
		struct rs_arp a = {.op = RS_ARP_REQUEST, .spa = PEER_IP,
				   .tpa = STACK_IP};
		memcpy(a.sha, MAC0, 6);
		rs_eth_emit(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff",
			    MAC0, RS_ETH_P_ARP);
		rs_arp_emit(f + 14, &a);
		tx(b, i, f, 60);
	}
	poll_all(b);
	struct rs_tcp_seg junk;
	rx_tcp(b, 0, &junk);
	rx_tcp(b, 1, &junk);
	return 0;
}

int main(void)
{
	struct bed b;
	struct rs_tcp_seg s;
	struct sockaddr_in any = tb_addr("0.0.0.0", 80);
	int lfd, fd, n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	T_CHECK(setup(&b) == 0, "stack with 2 cores on 2 memif pairs");
	lfd = rs_socket(b.c[0], AF_INET, SOCK_STREAM, 0);
	rs_bind(b.c[0], lfd, (struct sockaddr *)&any, sizeof(any));
	T_CHECK(rs_listen(b.c[0], lfd, 16) == 0, "core 0 listens on :80");
	T_CHECK(rs_accept(b.c[1], lfd, NULL, NULL) < 0 && errno == EBADF,
		"core 1 cannot use core 0's descriptor (EBADF)");
	tx_tcp(&b, 1, RS_TH_SYN, 1000, 0);
	poll_all(&b);
	n = rx_tcp(&b, 1, &s);
	T_CHECK(n == 1 && s.flags == (RS_TH_SYN | RS_TH_ACK) && s.ack == 1001 &&
			rs_core_counters(b.c[1])->xcore_handoffs == 0 &&
			rs_core_counters(b.c[1])->lookup_listen_global == 1,
		"SYN on core 1: SYN,ACK from core 1 itself (global listen socket)");
	T_CHECK(rx_tcp(&b, 0, &s) == 0, "core 0 sends nothing");
	tx_tcp(&b, 1, RS_TH_ACK, 1001, s.seq + 1);
	poll_all(&b);
	T_CHECK(rs_core_counters(b.c[1])->tcp_parked == 1,
		"established child parked on the global accept queue");
	fd = rs_accept(b.c[0], lfd, NULL, NULL);
	T_CHECK(fd > 0 && rs_core_counters(b.c[0])->accept_global == 1 &&
			rs_core_counters(b.c[0])->tcp_adopted == 1,
		"core 0 accepts it from the global queue and adopts it");
	struct rs_table_sizes t0, t1;
	rs_core_tables(b.c[0], &t0);
	rs_core_tables(b.c[1], &t1);
	T_CHECK(t0.established == 1 && t1.established == 0,
		"the connection is owned by core 0 only");
	/* a checksum-partial data segment (veth TX offload) landing on core
	 * 1: the hand-off must carry the flag, or core 0 drops it as a bad
	 * checksum */
	uint8_t f[128];
	struct rs_tcp_seg d = {.sport = 50000, .dport = 80, .flags = RS_TH_ACK | RS_TH_PSH,
			       .seq = 1001, .ack = s.seq + 1, .wnd = 65535,
			       .len = 4};
	memcpy(f + 34 + RS_TCP_HLEN, "ping", 4);
	uint32_t hl = rs_tcp_emit(f + 34, &d, PEER_IP, STACK_IP, 0) + 4;
	rs_ipv4_emit(f + 14, PEER_IP, STACK_IP, RS_IPPROTO_TCP, hl, 1);
	rs_eth_emit(f, MAC1, MAC0, RS_ETH_P_IP);
	rs_put16(f + 34 + 16, (uint16_t)~rs_csum_fold(rs_csum_pseudo(
				      PEER_IP, STACK_IP, RS_IPPROTO_TCP, hl)));
	struct rs_frame fr = {.data = f, .len = 34 + hl, .csum_partial = 1};
	rs_io_memif.tx_burst(b.wire[1], &fr, 1);
	poll_all(&b);
	char buf[8];
	T_CHECK(rs_core_counters(b.c[1])->xcore_handoffs == 1 &&
			rs_core_counters(b.c[0])->handoff_rx == 1 &&
			rs_core_counters(b.c[0])->drop_tcp_csum == 0 &&
			rs_recv(b.c[0], fd, buf, sizeof(buf), 0) == 4,
		"checksum-partial data on core 1 handed to core 0 with its flag: readable");
	rs_close(b.c[0], fd);
	rs_close(b.c[0], lfd);
	for (int i = 0; i < 2; i++) {
		rs_io_memif.close(b.wire[i]);
		rs_core_destroy(b.c[i]);
		rs_memif_pair_destroy(b.pair[i]);
	}
	rs_stack_destroy(b.s);
	return t_summary();
}
