#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../../../src/common.h"
#include "peer.h"

static const uint8_t MAC0[6] = {2, 0, 0, 0, 0, 1}, MAC1[6] = {2, 0, 0, 0, 0, 2};
#define PEER_IP 0xc6121501u /* 198.18.21.1 */
#define STACK_IP 0xc6121502u

static void trace(void *a, unsigned c, int fd, const char *o, const char *n)
{
	struct peer *p = a;

	(void)c;
	(void)fd;
	if (p->ntrace < 64)
		snprintf(p->trace[p->ntrace++], 48, "%s>%s", o, n);
}

int peer_saw(const struct peer *p, const char *old, const char *nw)
{
	char want[48];

	snprintf(want, sizeof(want), "%s>%s", old, nw);
	for (int i = 0; i < p->ntrace; i++)
		if (strcmp(p->trace[i], want) == 0)
			return 1;
	return 0;
}

void peer_tx_frame(struct peer *p, const uint8_t *f, uint32_t len)
{
	struct rs_frame fr = {.data = (uint8_t *)(uintptr_t)f, .len = len};

	rs_io_memif.tx_burst(p->wire, &fr, 1);
}

void peer_arp_from(struct peer *p, uint32_t ip)
{
	uint8_t f[60] = {0};
	struct rs_arp a = {.op = RS_ARP_REQUEST, .spa = ip, .tpa = STACK_IP};

	memcpy(a.sha, MAC0, 6);
	rs_eth_emit(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", MAC0,
		    RS_ETH_P_ARP);
	rs_arp_emit(f + 14, &a);
	peer_tx_frame(p, f, 60);
	rs_poll(p->c, p->now);
}

int peer_init(struct peer *p, tb_conf_fn fn)
{
	struct rs_stack_conf conf;
	struct rs_io_conf c0, c1;
	int err = 0;

	memset(p, 0, sizeof(*p));
	setvbuf(stdout, NULL, _IOLBF, 0);
	p->now = 1000000000ull;
	p->pair = rs_memif_pair_create(4096, 2048);
	if (!p->pair)
		return -1;
	c0 = (struct rs_io_conf){.peer = p->pair, .queue = 0};
	c1 = (struct rs_io_conf){.peer = p->pair, .queue = 1};
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	conf.seed = 99;
	conf.trace = trace;
	conf.trace_arg = p;
	if (fn)
		fn(1, &conf);
	p->s = rs_stack_create(&conf, &err);
	if (!p->s) {
		rs_memif_pair_destroy(p->pair);
		return -1;
	}
	p->c = rs_core_create(p->s, 0, &rs_io_memif, &c1, &err);
	if (!p->c)
		return -1;
	p->wire = rs_io_memif.open(&c0, &err);
	if (!p->wire)
		return -1;
	peer_arp_from(p, PEER_IP);
	struct rs_frame rx[8]; /* the stack's ARP reply */
	if (rs_io_memif.rx_burst(p->wire, rx, 8) > 0)
		rs_io_memif.rx_release(p->wire);
	return 0;
}

void peer_fini(struct peer *p)
{
	rs_io_memif.close(p->wire);
	rs_core_destroy(p->c);
	rs_stack_destroy(p->s);
	rs_memif_pair_destroy(p->pair);
}

void peer_tx(struct peer *p, uint16_t sport, uint16_t dport, uint8_t flags,
	     uint32_t seq, uint32_t ack, uint16_t wnd, const void *data,
	     uint32_t len, const struct rs_tcp_seg *opts)
{
	peer_tx_from(p, PEER_IP, sport, dport, flags, seq, ack, wnd, data, len,
		     opts);
}

void peer_tx_from(struct peer *p, uint32_t src, uint16_t sport,
		  uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint16_t wnd, const void *data, uint32_t len,
		  const struct rs_tcp_seg *opts)
{
	uint8_t f[2048];
	struct rs_tcp_seg s = {0};
	uint32_t hl;

	if (opts)
		s = *opts;
	s.sport = sport;
	s.dport = dport;
	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.wnd = wnd;
	s.len = len;
	hl = rs_tcp_hlen(&s);
	if (len)
		memcpy(f + 34 + hl, data, len);
	rs_tcp_emit(f + 34, &s, src, STACK_IP, 0);
	rs_ipv4_emit(f + 14, src, STACK_IP, RS_IPPROTO_TCP, hl + len, 1);
	rs_eth_emit(f, MAC1, MAC0, RS_ETH_P_IP);
	peer_tx_frame(p, f, 34 + hl + len);
}

int peer_rx_raw(struct peer *p, uint8_t (*frames)[2048], uint32_t *lens,
		int max)
{
	struct rs_frame rx[64];
	int n, got = 0;

	rs_memif_set_clock(p->pair, p->now);
	rs_poll(p->c, p->now);
	n = rs_io_memif.rx_burst(p->wire, rx, 64);
	for (int i = 0; i < n; i++) {
		if (got < max) {
			memcpy(frames[got], rx[i].data, rx[i].len);
			lens[got++] = rx[i].len;
		}
	}
	if (n > 0)
		rs_io_memif.rx_release(p->wire);
	return got;
}

int peer_rx(struct peer *p, struct pseg *out, int max)
{
	static uint8_t frames[64][2048];
	uint32_t lens[64];
	int n = peer_rx_raw(p, frames, lens, 64), got = 0;

	for (int i = 0; i < n && got < max; i++) {
		struct rs_eth e;
		struct rs_ipv4 ip;
		struct rs_tcp_seg s;
		if (rs_eth_parse(frames[i], lens[i], &e) || e.type != RS_ETH_P_IP ||
		    rs_ipv4_parse(e.payload, e.len, &ip) ||
		    ip.proto != RS_IPPROTO_TCP ||
		    rs_tcp_parse(ip.payload, ip.len, ip.src, ip.dst, 0, &s))
			continue;
		struct pseg *o = &out[got++];
		o->sport = s.sport;
		o->dport = s.dport;
		o->flags = s.flags;
		o->opts = s.opts;
		o->ws = s.wscale;
		o->wnd = s.wnd;
		o->mss = s.mss;
		o->seq = s.seq;
		o->ack = s.ack;
		o->tsval = s.tsval;
		o->tsecr = s.tsecr;
		o->len = s.len;
		o->nsack = s.nsack;
		for (int k = 0; k < s.nsack; k++) {
			o->sack[k][0] = s.sack[k].start;
			o->sack[k][1] = s.sack[k].end;
		}
		memcpy(o->data, s.data, s.len);
	}
	return got;
}

void peer_advance(struct peer *p, uint64_t ns)
{
	p->now += ns;
	rs_memif_set_clock(p->pair, p->now);
	rs_poll(p->c, p->now);
}

uint32_t peer_open(struct peer *p, uint16_t sport, uint16_t dport,
		   uint32_t iss, const struct rs_tcp_seg *synopts)
{
	struct pseg r[4];
	int n;

	peer_tx(p, sport, dport, RS_TH_SYN, iss, 0, 65535, NULL, 0, synopts);
	n = peer_rx(p, r, 4);
	if (n != 1 || r[0].flags != (RS_TH_SYN | RS_TH_ACK) ||
	    r[0].ack != iss + 1)
		return 0;
	uint32_t next = r[0].seq + 1;
	peer_tx(p, sport, dport, RS_TH_ACK, iss + 1, next, 65535, NULL, 0,
		NULL);
	peer_rx(p, r, 4);
	return next;
}

int peer_listen(struct peer *p, uint16_t port, int backlog)
{
	struct sockaddr_in a = tb_addr("0.0.0.0", port);
	int fd = rs_socket(p->c, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || rs_bind(p->c, fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(p->c, fd, backlog))
		return -1;
	return fd;
}

uint64_t peer_counter(const struct peer *p, const char *name)
{
	const uint64_t *v = (const uint64_t *)rs_core_counters(p->c);

	for (int i = 0; i < RS_NCOUNTERS; i++)
		if (strcmp(rs_counter_names[i], name) == 0)
			return v[i];
	return ~0ull;
}
