/* Receive Flow Deliver: the classifier (steer.h) on hand-made cases, the
 * classic-BPF generator's limits, and a two-core server stack behind a
 * memif group (the classifier steers as a NIC would) with a one-core
 * client stack: with rfd an active connect() on core k takes a port = k
 * (mod R) and every reply lands on core k (no hand-off); without rfd the
 * 4-tuple hash puts replies on either core and the hand-off moves them.
 * Which core a frame landed on and which one processed it are read from
 * the counters (steer_home, steer_away, xcore_handoffs).  The kernel run
 * of the BPF program is tests/interop/steer-bpf.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../../src/stack.h"
#include "../../src/steer_bpf.h"
#include "lib/t.h"
#include "lib/tb.h"

static struct rs_steer st;

static void steer_set(uint32_t ncores, uint32_t rfd)
{
	memset(&st, 0, sizeof(st));
	st.ncores = ncores;
	for (st.rmask = 1; st.rmask < ncores; st.rmask <<= 1)
		;
	st.rmask--;
	st.rfd = rfd;
}

static void listen_bit(uint32_t port)
{
	st.listen[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static void classifier_cases(void)
{
	uint32_t h;

	steer_set(4, 1);
	listen_bit(8080);
	T_CHECK(rs_steer_tuple(&st, 1, 2, 80, 40003) == 3,
		"source port < 1024: reply to an active connection, core = dport & 3");
	T_CHECK(rs_steer_tuple(&st, 1, 2, 8080, 40001) == 1,
		"source port >= 1024, no listener on the destination: active, dport & 3");
	h = rs_steer_hash(1, 2, 40001, 8080) % 4;
	T_CHECK(rs_steer_tuple(&st, 1, 2, 40001, 8080) == h,
		"a listener on the destination port: passive, the 4-tuple hash (%u)", h);
	h = rs_steer_hash(1, 2, 40001, 22) % 4;
	T_CHECK(rs_steer_tuple(&st, 1, 2, 40001, 22) == h,
		"destination port < 1024: passive, the hash");
	steer_set(3, 1);
	T_CHECK(rs_steer_tuple(&st, 1, 2, 80, 40003) == 0 &&
			rs_steer_tuple(&st, 1, 2, 80, 40002) == 2,
		"3 cores: R = 4, port class 3 folds onto core 0");
	steer_set(4, 0);
	listen_bit(8080);
	h = rs_steer_hash(1, 2, 80, 40003) % 4;
	T_CHECK(rs_steer_tuple(&st, 1, 2, 80, 40003) == h,
		"without rfd every segment goes by the hash (as RSS)");
	T_CHECK(rs_rfd_class(80, 40000) == RS_RFD_ACTIVE &&
			rs_rfd_class(40000, 80) == RS_RFD_PASSIVE &&
			rs_rfd_class(40000, 40001) == RS_RFD_ASK &&
			rs_rfd_class(1023, 1023) == RS_RFD_ACTIVE,
		"rs_rfd_class: the rule's three outcomes, 1024 the boundary");
}

static void frame_cases(void)
{
	uint8_t f[64] = {0};

	steer_set(2, 1);
	f[12] = 0x08;
	f[14] = 0x45;
	f[23] = 6;
	f[34] = 0;
	f[35] = 80;   /* sport 80 */
	f[36] = 0x9c;
	f[37] = 0x41; /* dport 40001 */
	T_CHECK(rs_steer_frame(&st, f, f + 54) == 1, "frame: TCP reply to port 40001 -> core 1");
	T_CHECK(rs_steer_frame(&st, f, f + 37) == RS_STEER_ANY,
		"frame cut inside the TCP ports: anywhere");
	f[20] = 0x20; /* more fragments */
	T_CHECK(rs_steer_frame(&st, f, f + 54) == RS_STEER_ANY, "fragment: anywhere");
	f[20] = 0x40; /* DF */
	T_CHECK(rs_steer_frame(&st, f, f + 54) == 1, "DF is not a fragment");
	f[12] = 0x08;
	f[13] = 0x06;
	T_CHECK(rs_steer_frame(&st, f, f + 54) == RS_STEER_ANY, "ARP: anywhere");
}

static void bpf_limits(void)
{
	static struct sock_filter prog[RS_STEER_BPF_MAX];
	int n;

	steer_set(4, 1);
	for (uint32_t p = 2000; p < 2600; p++)
		listen_bit(p);
	n = rs_steer_bpf(&st, prog, RS_STEER_BPF_MAX);
	T_CHECK(n > 600 && n < RS_STEER_BPF_MAX, "600 listening ports: a program of %d instructions", n);
	for (uint32_t p = 3000; p < 8000; p++)
		listen_bit(p);
	T_CHECK(rs_steer_bpf(&st, prog, RS_STEER_BPF_MAX) == -E2BIG,
		"5600 listening ports do not fit: -E2BIG (the stack counts steer_io_errors)");
}

/* ---- a two-core server behind a memif group ---------------------------- */

struct bed {
	struct rs_memif_pair *pair[2];
	struct rs_stack *cs, *ss;
	struct rs_core *cc, *sc[2];
	uint64_t now;
};

static void poll_all(struct bed *b)
{
	for (int i = 0; i < 8; i++) {
		b->now += 100000;
		rs_poll(b->cc, b->now);
		rs_poll(b->sc[0], b->now);
		rs_poll(b->sc[1], b->now);
	}
}

static int bed_up(struct bed *b, uint32_t features)
{
	struct rs_stack_conf conf;
	int err = 0;

	memset(b, 0, sizeof(*b));
	b->now = 1000000000ull;
	for (int k = 0; k < 2; k++)
		b->pair[k] = rs_memif_pair_create(1024, 2048);
	if (rs_memif_pair_group(b->pair, 2) != 0)
		return -1;
	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, TB_CLIENT_IP, &conf.addr);
	conf.netmask.s_addr = htonl(0xffffff00u);
	b->cs = rs_stack_create(&conf, &err);
	conf.ncores = 2;
	conf.features = features;
	inet_pton(AF_INET, TB_SERVER_IP, &conf.addr);
	b->ss = rs_stack_create(&conf, &err);
	if (!b->cs || !b->ss)
		return -1;
	struct rs_io_conf c0 = {.peer = b->pair[0], .queue = 0};
	b->cc = rs_core_create(b->cs, 0, &rs_io_memif, &c0, &err);
	for (unsigned k = 0; k < 2; k++) {
		struct rs_io_conf c1 = {.peer = b->pair[k], .queue = 1};
		b->sc[k] = rs_core_create(b->ss, k, &rs_io_memif, &c1, &err);
	}
	return b->cc && b->sc[0] && b->sc[1] ? 0 : -1;
}

static void bed_down(struct bed *b)
{
	rs_core_destroy(b->sc[0]);
	rs_core_destroy(b->sc[1]);
	rs_core_destroy(b->cc);
	rs_stack_destroy(b->ss);
	rs_stack_destroy(b->cs);
	rs_memif_pair_destroy(b->pair[0]);
	rs_memif_pair_destroy(b->pair[1]);
}

struct tally {
	int ok, port_class_ok;
};

/* Core k of the server connects out to the client's listener n times:
 * handshake, 4 bytes each way, close. */
static struct tally active(struct bed *b, unsigned k, int n, uint16_t port)
{
	struct tally t = {0, 0};
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, port), me;
	int lfd = rs_socket(b->cc, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = tb_addr("0.0.0.0", port);

	rs_bind(b->cc, lfd, (struct sockaddr *)&any, sizeof(any));
	rs_listen(b->cc, lfd, 256);
	for (int i = 0; i < n; i++) {
		char buf[8];
		socklen_t len = sizeof(me);
		int fd = rs_socket(b->sc[k], AF_INET, SOCK_STREAM, 0), afd;
		rs_connect(b->sc[k], fd, (struct sockaddr *)&dst, sizeof(dst));
		poll_all(b);
		afd = rs_accept(b->cc, lfd, NULL, NULL);
		rs_getsockname(b->sc[k], fd, (struct sockaddr *)&me, &len);
		if ((ntohs(me.sin_port) & 1) == k)
			t.port_class_ok++;
		rs_send(b->sc[k], fd, "ping", 4, 0);
		poll_all(b);
		if (afd >= 0 && rs_recv(b->cc, afd, buf, sizeof(buf), 0) == 4 &&
		    rs_send(b->cc, afd, "pong", 4, 0) == 4) {
			poll_all(b);
			if (rs_recv(b->sc[k], fd, buf, sizeof(buf), 0) == 4)
				t.ok++;
		}
		if (afd >= 0)
			rs_close(b->cc, afd);
		rs_close(b->sc[k], fd);
		poll_all(b);
	}
	rs_close(b->cc, lfd);
	poll_all(b);
	return t;
}

static void active_opens(uint32_t features, const char *name)
{
	struct bed b;
	const struct rs_core_counters *c0, *c1;
	struct tally t;

	T_CHECK(bed_up(&b, features) == 0, "%s: two-core server on a memif group", name);
	t = active(&b, 1, 40, 8080);
	c0 = rs_core_counters(b.sc[0]);
	c1 = rs_core_counters(b.sc[1]);
	T_CHECK(t.ok == 40, "%s: 40 active connections from core 1 completed (%d)", name, t.ok);
	if (features & RS_FEAT_RFD) {
		T_CHECK(t.port_class_ok == 40, "rfd: every source port is odd (= core 1 mod 2)");
		T_CHECK(c0->steer_away == 0 && c1->steer_away == 0 && c1->steer_home > 0,
			"rfd: every reply landed on core 1 (home %llu, away %llu/%llu)",
			(unsigned long long)c1->steer_home,
			(unsigned long long)c0->steer_away, (unsigned long long)c1->steer_away);
		T_CHECK(c0->xcore_handoffs == c0->arp_replies_rx,
			"rfd: core 0 handed over only the ARP replies every core learns (%llu)",
			(unsigned long long)c0->xcore_handoffs);
		T_CHECK(c1->steer_port_fallback == 0, "rfd: no port outside core 1's class");
	} else {
		T_CHECK(t.port_class_ok < 40, "no rfd: source ports of both classes (%d odd)",
			t.port_class_ok);
		T_CHECK(c0->steer_away > 0 && c0->xcore_handoffs >= c0->steer_away &&
				c1->handoff_rx > 0,
			"no rfd: replies hashed onto core 0 were handed to core 1 (%llu)",
			(unsigned long long)c0->steer_away);
	}
	T_CHECK(b.ss->steer->cls.listen[8080 >> 3] == 0,
		"%s: the server's listener set stays empty", name);
	bed_down(&b);
}

/* Passive side: a listener on port 5000 marks it in the classifier, SYNs
 * land by the hash on both cores; those that land away from the
 * listener's core (no local listen table) are handed to it. */
static void passive_opens(void)
{
	struct bed b;
	int ok = 0;

	T_CHECK(bed_up(&b, RS_FEAT_RFD) == 0, "passive: two-core server, rfd");
	struct sockaddr_in any = tb_addr("0.0.0.0", 5000), dst = tb_addr(TB_SERVER_IP, 5000);
	int lfd = rs_socket(b.sc[0], AF_INET, SOCK_STREAM, 0);
	rs_bind(b.sc[0], lfd, (struct sockaddr *)&any, sizeof(any));
	rs_listen(b.sc[0], lfd, 256);
	T_CHECK(rs_steer_listening(&b.ss->steer->cls, 5000) &&
			!rs_steer_listening(&b.ss->steer->cls, 5001),
		"listen() puts port 5000 in the classifier's listener set");
	for (int i = 0; i < 40; i++) {
		int fd = rs_socket(b.cc, AF_INET, SOCK_STREAM, 0), afd;
		rs_connect(b.cc, fd, (struct sockaddr *)&dst, sizeof(dst));
		poll_all(&b);
		afd = rs_accept(b.sc[0], lfd, NULL, NULL);
		ok += afd >= 0;
		if (afd >= 0)
			rs_close(b.sc[0], afd);
		rs_close(b.cc, fd);
		poll_all(&b);
	}
	const struct rs_core_counters *c0 = rs_core_counters(b.sc[0]),
				      *c1 = rs_core_counters(b.sc[1]);
	T_CHECK(ok == 40, "passive: 40 connections accepted on the listener's core");
	T_CHECK(c0->steer_home > 0 && c1->steer_away > 0 &&
			c1->xcore_handoffs >= c1->steer_away,
		"passive: segments hashed to core 1 were handed to core 0 (%llu)",
		(unsigned long long)c1->steer_away);
	T_CHECK(c0->steer_home + c0->steer_away + c1->steer_home + c1->steer_away ==
			c0->tcp_rx_segs + c1->tcp_rx_segs,
		"every TCP segment counted once as home or away, processed once");
	rs_close(b.sc[0], lfd);
	T_CHECK(!rs_steer_listening(&b.ss->steer->cls, 5000),
		"close() takes port 5000 out of the listener set");
	bed_down(&b);
}

int main(void)
{
	classifier_cases();
	frame_cases();
	bpf_limits();
	active_opens(RS_FEAT_RFD, "rfd");
	active_opens(0, "base");
	passive_opens();
	return t_summary();
}
