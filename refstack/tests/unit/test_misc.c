/* Ethernet/ARP/IPv4/ICMP handling, checksums, malformed frames, the socket
 * API's errors (resource exhaustion included) and epoll semantics. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../../src/common.h"
#include "../../src/stack.h"
#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define F RS_TH_FIN
#define R RS_TH_RST
#define P RS_TH_PSH
#define PEER_IP 0xc6121501u
#define STACK_IP 0xc6121502u
static const uint8_t MAC0[6] = {2, 0, 0, 0, 0, 1}, MAC1[6] = {2, 0, 0, 0, 0, 2};
static uint8_t fr[64][2048];
static uint32_t fl[64];

static int listen_on(struct rs_core *c, uint16_t port, int backlog)
{
	struct sockaddr_in a = tb_addr("0.0.0.0", port);
	int fd = rs_socket(c, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || rs_bind(c, fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(c, fd, backlog))
		return -1;
	return fd;
}

static uint32_t ip_frame(uint8_t *f, uint8_t proto, const uint8_t *payload,
			 uint32_t len, uint32_t dst)
{
	memcpy(f + 34, payload, len);
	rs_ipv4_emit(f + 14, PEER_IP, dst, proto, len, 9);
	rs_eth_emit(f, MAC1, MAC0, RS_ETH_P_IP);
	return 34 + len;
}

static void t_arp_icmp(void)
{
	struct peer p;
	uint8_t f[128] = {0}, icmp[24];
	struct rs_arp a = {.op = RS_ARP_REQUEST, .spa = PEER_IP, .tpa = STACK_IP};
	struct rs_eth e;
	struct rs_arp ar;
	struct rs_ipv4 ip;
	struct rs_icmp ic;
	int n;

	peer_init(&p, NULL);
	memcpy(a.sha, MAC0, 6);
	rs_eth_emit(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", MAC0,
		    RS_ETH_P_ARP);
	rs_arp_emit(f + 14, &a);
	peer_tx_frame(&p, f, 60);
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 1 && rs_eth_parse(fr[0], fl[0], &e) == 0 &&
			e.type == RS_ETH_P_ARP &&
			rs_arp_parse(e.payload, e.len, &ar) == 0 &&
			ar.op == RS_ARP_REPLY && ar.spa == STACK_IP &&
			memcmp(ar.sha, MAC1, 6) == 0 && ar.tpa == PEER_IP,
		"ARP request for our address => reply with our MAC");
	a.tpa = STACK_IP + 1;
	rs_arp_emit(f + 14, &a);
	peer_tx_frame(&p, f, 60);
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 0, "ARP request for another address => no reply");
	/* ICMP echo */
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 8;
	rs_put16(icmp + 4, 0x1234);
	rs_put16(icmp + 6, 7);
	memcpy(icmp + 8, "refstack-ping-16", 16);
	uint16_t cs = rs_csum_fold(rs_csum_add(0, icmp, sizeof(icmp)));
	memcpy(icmp + 2, &cs, 2);
	peer_tx_frame(&p, f, ip_frame(f, 1, icmp, sizeof(icmp), STACK_IP));
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 1 && rs_eth_parse(fr[0], fl[0], &e) == 0 &&
			rs_ipv4_parse(e.payload, e.len, &ip) == 0 &&
			ip.dst == PEER_IP &&
			rs_icmp_parse(ip.payload, ip.len, &ic) == 0 &&
			ic.type == 0 && ic.id == 0x1234 && ic.seq == 7 &&
			ic.len == 16 && memcmp(ic.data, "refstack-ping-16", 16) == 0,
		"ICMP echo => echo reply, same id/seq/data, checksums valid");
	icmp[8] ^= 1; /* now the checksum is wrong */
	peer_tx_frame(&p, f, ip_frame(f, 1, icmp, sizeof(icmp), STACK_IP));
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 0 && peer_counter(&p, "drop_icmp_malformed") == 1,
		"ICMP with a bad checksum dropped and counted");
	peer_fini(&p);
}

static void t_ip_drops(void)
{
	struct peer p;
	uint8_t f[256], tcp[40];
	struct rs_tcp_seg s = {.sport = 1, .dport = 80, .flags = S};
	uint32_t len;

	peer_init(&p, NULL);
	s.len = 0;
	rs_tcp_emit(tcp, &s, PEER_IP, STACK_IP, 0);
	/* fragment */
	len = ip_frame(f, 6, tcp, 20, STACK_IP);
	rs_put16(f + 14 + 6, 0x2000);
	f[24] = f[25] = 0;
	uint16_t cs = rs_csum_fold(rs_csum_add(0, f + 14, 20));
	memcpy(f + 24, &cs, 2);
	peer_tx_frame(&p, f, len);
	peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(peer_counter(&p, "drop_ip_fragment") == 1,
		"IPv4 fragment dropped and counted");
	/* bad IP checksum */
	len = ip_frame(f, 6, tcp, 20, STACK_IP);
	f[24] ^= 0xff;
	peer_tx_frame(&p, f, len);
	/* bad TCP checksum */
	len = ip_frame(f, 6, tcp, 20, STACK_IP);
	f[34 + 16] ^= 0xff;
	peer_tx_frame(&p, f, len);
	/* not our address, unknown protocol, truncated frames */
	peer_tx_frame(&p, f, ip_frame(f, 6, tcp, 20, STACK_IP + 5));
	peer_tx_frame(&p, f, ip_frame(f, 17, tcp, 20, STACK_IP));
	peer_tx_frame(&p, f, 10);
	len = ip_frame(f, 6, tcp, 20, STACK_IP);
	peer_tx_frame(&p, f, 30);
	f[12] = 0x86;
	f[13] = 0xdd;
	peer_tx_frame(&p, f, len);
	int n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 0, "nothing answered");
	T_CHECK(peer_counter(&p, "drop_ip_csum") == 1, "bad IPv4 checksum counted");
	T_CHECK(peer_counter(&p, "drop_tcp_csum") == 1, "bad TCP checksum counted");
	T_CHECK(peer_counter(&p, "drop_ip_not_ours") == 1, "other address counted");
	T_CHECK(peer_counter(&p, "drop_ip_proto") == 1, "UDP counted as unsupported");
	T_CHECK(peer_counter(&p, "drop_eth_malformed") == 1, "runt frame counted");
	T_CHECK(peer_counter(&p, "drop_ip_malformed") == 1,
		"truncated IPv4 packet counted");
	T_CHECK(peer_counter(&p, "drop_eth_type") == 1, "IPv6 ethertype counted");
	/* csum_partial: the parser accepts an unfinished checksum */
	struct rs_tcp_seg out;
	tcp[16] ^= 0x55;
	T_CHECK(rs_tcp_parse(tcp, 20, PEER_IP, STACK_IP, 0, &out) == RS_WIRE_CSUM &&
			rs_tcp_parse(tcp, 20, PEER_IP, STACK_IP, 1, &out) == RS_WIRE_OK,
		"csum_partial frames are not rejected for their TCP checksum");
	peer_fini(&p);
}

static void t_arp_resolve(void)
{
	struct peer p;
	struct sockaddr_in dst = tb_addr("198.18.21.77", 9);
	struct rs_eth e;
	struct rs_arp ar;
	int fd, n;

	peer_init(&p, NULL);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst));
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 1 && rs_eth_parse(fr[0], fl[0], &e) == 0 &&
			e.type == RS_ETH_P_ARP &&
			rs_arp_parse(e.payload, e.len, &ar) == 0 &&
			ar.op == RS_ARP_REQUEST && ar.tpa == 0xc612154du,
		"unknown next hop => ARP request, the SYN waits");
	uint8_t f[60] = {0};
	struct rs_arp rep = {.op = RS_ARP_REPLY, .spa = 0xc612154du,
			     .tpa = STACK_IP};
	memcpy(rep.sha, "\x02\x00\x00\x00\x00\x4d", 6);
	memcpy(rep.tha, MAC1, 6);
	rs_eth_emit(f, MAC1, MAC0, RS_ETH_P_ARP);
	rs_arp_emit(f + 14, &rep);
	peer_tx_frame(&p, f, 60);
	n = peer_rx_raw(&p, fr, fl, 64);
	T_CHECK(n == 1 && rs_eth_parse(fr[0], fl[0], &e) == 0 &&
			e.type == RS_ETH_P_IP &&
			memcmp(e.dst, "\x02\x00\x00\x00\x00\x4d", 6) == 0,
		"ARP reply => the waiting SYN goes to the learned MAC");
	/* the entry is asked again after 60 s while the SYN retransmissions
	 * keep going to the known MAC */
	int arps = 0, syns = 0;
	for (int i = 0; i < 70; i++) {
		peer_advance(&p, 1000000000ull);
		n = peer_rx_raw(&p, fr, fl, 64);
		for (int k = 0; k < n; k++) {
			if (rs_eth_parse(fr[k], fl[k], &e) != 0)
				continue;
			if (e.type == RS_ETH_P_ARP)
				arps++;
			else if (memcmp(e.dst, "\x02\x00\x00\x00\x00\x4d", 6) == 0)
				syns++;
		}
	}
	T_CHECK(arps == 1 && syns == 6,
		"ARP entry re-asked once after 60 s while in use (%d requests, "
		"%d SYN retransmissions)", arps, syns);
	dst = tb_addr("198.19.255.3", 80);
	fd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	T_CHECK(rs_connect(p.c, fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == ENETUNREACH,
		"off-link peer without a gateway => ENETUNREACH");
	peer_fini(&p);
}

static void conf_small(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->max_sockets = 4;
	c->port_lo = 40000;
	c->port_hi = 40001;
	c->max_buf_bytes = 300 * 1024;
}

static void t_exhaustion(void)
{
	struct peer p;
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int fds[5], n = 0;

	peer_init(&p, conf_small);
	for (int i = 0; i < 5; i++)
		fds[i] = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	for (int i = 0; i < 5; i++)
		n += fds[i] > 0;
	T_CHECK(n == 4 && fds[4] < 0 && errno == EMFILE,
		"descriptor limit 4: the fifth socket fails with EMFILE");
	T_CHECK(rs_connect(p.c, fds[0], (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == EINPROGRESS &&
			rs_connect(p.c, fds[1], (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == EINPROGRESS,
		"two ports, two connects in progress");
	T_CHECK(rs_connect(p.c, fds[2], (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			errno == EADDRNOTAVAIL,
		"ports exhausted => EADDRNOTAVAIL");
	/* complete both handshakes, then exhaust buffer memory */
	struct pseg r[8];
	int k = peer_rx(&p, r, 8);
	for (int i = 0; i < k; i++)
		peer_tx(&p, 8080, r[i].sport, S | A, 5000, r[i].seq + 1, 65535,
			NULL, 0, NULL);
	peer_rx(&p, r, 8);
	static char big[300 * 1024];
	ssize_t a = rs_send(p.c, fds[0], big, sizeof(big), 0);
	ssize_t b = rs_send(p.c, fds[1], big, 10, 0);
	T_CHECK(a > 0 && b < 0 && errno == ENOBUFS &&
			peer_counter(&p, "enobufs") == 1,
		"buffer memory exhausted => ENOBUFS (%zd, %zd)", a, b);
	T_CHECK(rs_send(p.c, 999, "x", 1, 0) < 0 && errno == EBADF,
		"bad descriptor => EBADF");
	peer_fini(&p);
}

static void t_api_errors(void)
{
	struct peer p;
	struct sockaddr_in a = tb_addr("0.0.0.0", 80);
	struct sockaddr_in other = tb_addr("198.18.21.9", 80);
	int one = 1, f1, f2, f3;
	char b[4];

	peer_init(&p, NULL);
	f1 = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	f2 = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	f3 = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	T_CHECK(rs_socket(p.c, AF_INET6, SOCK_STREAM, 0) < 0 &&
			errno == EAFNOSUPPORT,
		"AF_INET6 => EAFNOSUPPORT");
	T_CHECK(rs_socket(p.c, AF_INET, SOCK_DGRAM, 0) < 0 &&
			errno == EPROTONOSUPPORT,
		"SOCK_DGRAM => EPROTONOSUPPORT");
	T_CHECK(rs_bind(p.c, f1, (struct sockaddr *)&other, sizeof(other)) < 0 &&
			errno == EADDRNOTAVAIL,
		"bind to a foreign address => EADDRNOTAVAIL");
	T_CHECK(rs_bind(p.c, f1, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			rs_bind(p.c, f2, (struct sockaddr *)&a, sizeof(a)) < 0 &&
			errno == EADDRINUSE,
		"second bind to the same port => EADDRINUSE");
	rs_close(p.c, f1);
	f1 = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	rs_setsockopt(p.c, f1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rs_setsockopt(p.c, f2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	T_CHECK(rs_bind(p.c, f1, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			rs_bind(p.c, f2, (struct sockaddr *)&a, sizeof(a)) == 0,
		"SO_REUSEADDR on both: bind succeeds");
	T_CHECK(rs_listen(p.c, f1, 4) == 0 && rs_listen(p.c, f2, 4) < 0 &&
			errno == EADDRINUSE,
		"two listeners on one port => EADDRINUSE");
	T_CHECK(rs_recv(p.c, f3, b, 4, 0) < 0 && errno == ENOTCONN &&
			rs_send(p.c, f3, b, 4, 0) < 0 && errno == ENOTCONN,
		"recv/send on an unconnected socket => ENOTCONN");
	T_CHECK(rs_accept(p.c, f3, NULL, NULL) < 0 && errno == EINVAL,
		"accept on a non-listening socket => EINVAL");
	T_CHECK(rs_getsockopt(p.c, f3, SOL_SOCKET, SO_BINDTODEVICE, b, &(socklen_t){4}) < 0 &&
			errno == ENOPROTOOPT,
		"unknown option => ENOPROTOOPT");
	int v = 0;
	socklen_t vl = sizeof(v);
	T_CHECK(rs_setsockopt(p.c, f3, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
			rs_getsockopt(p.c, f3, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0 &&
			v == 1,
		"TCP_NODELAY set and read back");
	v = 65536;
	T_CHECK(rs_setsockopt(p.c, f3, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0 &&
			rs_getsockopt(p.c, f3, SOL_SOCKET, SO_RCVBUF, &v, &vl) == 0 &&
			v == 65536,
		"SO_RCVBUF set and read back");
	peer_fini(&p);
}

static void t_linger_unread(void)
{
	struct peer p;
	struct pseg r[8];
	int lfd, fd, n;
	uint32_t snd;
	struct linger lg = {1, 0};
	static const struct rs_tcp_seg mss = {.opts = RS_TCPOPT_MSS, .mss = 1460};

	peer_init(&p, NULL);
	lfd = listen_on(p.c, 80, 8);
	snd = peer_open(&p, 47000, 80, 1000, &mss);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	rs_setsockopt(p.c, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & R) && r[0].seq == snd,
		"SO_LINGER 0: close sends RST (abortive)");
	snd = peer_open(&p, 47001, 80, 1000, &mss);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	peer_tx(&p, 47001, 80, A | P, 1001, snd, 65535, "unread", 6, NULL);
	peer_rx(&p, r, 8);
	rs_close(p.c, fd);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & R),
		"close with unread data sends RST (RFC 2525)");
	snd = peer_open(&p, 47002, 80, 1000, &mss);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	rs_shutdown(p.c, fd, SHUT_WR);
	T_CHECK(rs_send(p.c, fd, "x", 1, 0) < 0 && errno == EPIPE,
		"send after shutdown(SHUT_WR) => EPIPE");
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 1 && (r[0].flags & F), "shutdown(SHUT_WR) sends FIN");
	peer_fini(&p);
}

static void t_epoll(void)
{
	struct peer p;
	struct pseg r[8];
	struct epoll_event ev, out[8];
	int lfd, fd, ep, n;
	uint32_t snd;
	static const struct rs_tcp_seg mss = {.opts = RS_TCPOPT_MSS, .mss = 1460};

	peer_init(&p, NULL);
	ep = rs_epoll_create(p.c);
	lfd = listen_on(p.c, 80, 8);
	ev.events = EPOLLIN;
	ev.data.u64 = 111;
	T_CHECK(rs_epoll_ctl(p.c, ep, EPOLL_CTL_ADD, lfd, &ev) == 0 &&
			rs_epoll_ctl(p.c, ep, EPOLL_CTL_ADD, lfd, &ev) < 0 &&
			errno == EEXIST,
		"epoll_ctl ADD, then EEXIST");
	T_CHECK(rs_epoll_wait(p.c, ep, out, 8) == 0, "nothing ready");
	snd = peer_open(&p, 48000, 80, 1000, &mss);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && out[0].data.u64 == 111 && (out[0].events & EPOLLIN),
		"listener EPOLLIN when a connection is ready");
	fd = rs_accept(p.c, lfd, NULL, NULL);
	T_CHECK(rs_epoll_wait(p.c, ep, out, 8) == 0,
		"level-triggered: gone once accepted");
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	ev.data.u64 = 222;
	rs_epoll_ctl(p.c, ep, EPOLL_CTL_ADD, fd, &ev);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && out[0].events == EPOLLOUT, "connected: EPOLLOUT only");
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	rs_epoll_ctl(p.c, ep, EPOLL_CTL_MOD, fd, &ev);
	peer_tx(&p, 48000, 80, A | P, 1001, snd, 65535, "abc", 3, NULL);
	peer_rx(&p, r, 8);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && (out[0].events & EPOLLIN), "data => EPOLLIN");
	T_CHECK(rs_epoll_wait(p.c, ep, out, 8) == 0,
		"edge-triggered: reported once while unread");
	peer_tx(&p, 48000, 80, A | F, 1004, snd, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && (out[0].events & (EPOLLIN | EPOLLRDHUP)) ==
				  (EPOLLIN | EPOLLRDHUP),
		"FIN => EPOLLIN|EPOLLRDHUP");
	ev.events = EPOLLIN | EPOLLONESHOT;
	rs_epoll_ctl(p.c, ep, EPOLL_CTL_MOD, fd, &ev);
	T_CHECK(rs_epoll_wait(p.c, ep, out, 8) == 1 &&
			rs_epoll_wait(p.c, ep, out, 8) == 0,
		"EPOLLONESHOT: reported once, then disabled");
	peer_tx(&p, 48000, 80, R, 1005, 0, 0, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	ev.events = EPOLLIN;
	rs_epoll_ctl(p.c, ep, EPOLL_CTL_MOD, fd, &ev);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && (out[0].events & EPOLLERR) && (out[0].events & EPOLLHUP),
		"RST => EPOLLERR|EPOLLHUP (%x)", n ? out[0].events : 0);
	T_CHECK(rs_epoll_ctl(p.c, ep, EPOLL_CTL_DEL, fd, NULL) == 0 &&
			rs_epoll_ctl(p.c, ep, EPOLL_CTL_DEL, fd, NULL) < 0 &&
			errno == ENOENT,
		"DEL, then ENOENT");
	/* active connect: EPOLLOUT on completion */
	struct sockaddr_in dst = tb_addr(TB_CLIENT_IP, 8080);
	int cfd = rs_socket(p.c, AF_INET, SOCK_STREAM, 0);
	ev.events = EPOLLOUT;
	rs_epoll_ctl(p.c, ep, EPOLL_CTL_ADD, cfd, &ev);
	rs_connect(p.c, cfd, (struct sockaddr *)&dst, sizeof(dst));
	T_CHECK(rs_epoll_wait(p.c, ep, out, 8) == 0, "connecting: not writable");
	n = peer_rx(&p, r, 8);
	peer_tx(&p, 8080, r[0].sport, S | A, 1, r[0].seq + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	n = rs_epoll_wait(p.c, ep, out, 8);
	T_CHECK(n == 1 && out[0].events == EPOLLOUT, "connect completes => EPOLLOUT");
	rs_close(p.c, ep);
	peer_fini(&p);
}

/* The readiness hook of a caller that multiplexes itself (the shim). */
static int wakes;
static void *woken;
static void on_wake(void *arg, void *user)
{
	(void)arg;
	wakes++;
	woken = user;
}

static void hook_conf(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->sock_wake = on_wake;
}

static void t_wake_hook(void)
{
	struct peer p;
	struct pseg r[8];
	int lfd, fd, one = 1, v = 0, tag;
	uint32_t ev = 0, snd;
	socklen_t vl = sizeof(v);
	static const struct rs_tcp_seg mss = {.opts = RS_TCPOPT_MSS, .mss = 1460};

	peer_init(&p, hook_conf);
	lfd = listen_on(p.c, 80, 8);
	rs_setsockopt(p.c, lfd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	T_CHECK(rs_sock_set_user(p.c, lfd, &tag) == 0 &&
			rs_sock_events(p.c, lfd, &ev) == 0 && ev == 0,
		"listener with a user pointer, no events yet");
	snd = peer_open(&p, 48001, 80, 1000, &mss);
	T_CHECK(wakes > 0 && woken == &tag &&
			rs_sock_events(p.c, lfd, &ev) == 0 && (ev & EPOLLIN),
		"connection ready => hook called with the pointer, EPOLLIN");
	fd = rs_accept(p.c, lfd, NULL, NULL);
	T_CHECK(rs_getsockopt(p.c, fd, SOL_SOCKET, SO_KEEPALIVE, &v, &vl) == 0 && v == 1,
		"SO_KEEPALIVE inherited by the accepted socket");
	rs_sock_set_user(p.c, fd, &fd);
	wakes = 0;
	peer_tx(&p, 48001, 80, 0x18, 1001, snd, 65535, "abcd", 4, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(wakes > 0 && woken == &fd && rs_sock_nread(p.c, fd) == 4,
		"data => hook on the connection, FIONREAD 4");
	T_CHECK(rs_sock_nread(p.c, lfd) < 0 && errno == EINVAL,
		"FIONREAD on a listener => EINVAL");
	rs_close(p.c, fd);
	rs_close(p.c, lfd);
	peer_fini(&p);
}

/* RFC 1071 one 16-bit word at a time, big-endian, as the reference. */
static uint16_t csum_ref(uint32_t init16, const uint8_t *p, uint32_t len)
{
	uint32_t sum = init16;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* rs_csum_add (64-bit words, end-around carry) against the reference at
 * every length 0..300, every alignment, with all-ones data (every add
 * carries) and pseudo-random data, from a zero and a pseudo-header start. */
static void t_csum(void)
{
	static uint8_t buf[320];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int bad = 0;

	for (int fill = 0; fill < 2; fill++) {
		for (unsigned i = 0; i < sizeof(buf); i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = fill ? (uint8_t)x : 0xff;
		}
		for (uint32_t off = 0; off < 8; off++)
			for (uint32_t len = 0; len <= 300; len++) {
				uint64_t ps = rs_csum_pseudo(PEER_IP, STACK_IP, 6, len);
				uint16_t got = rs_csum_fold(rs_csum_add(0, buf + off, len));
				uint16_t gp = rs_csum_fold(rs_csum_add(ps, buf + off, len));
				uint32_t p16 = (PEER_IP >> 16) + (PEER_IP & 0xffff) +
					       (STACK_IP >> 16) + (STACK_IP & 0xffff) +
					       6 + len;
				bad += ntohs(got) != csum_ref(0, buf + off, len);
				bad += ntohs(gp) != csum_ref(p16, buf + off, len);
			}
	}
	T_CHECK(bad == 0, "checksum equals RFC 1071's 16-bit sum at every length "
		"and alignment (%d differ)", bad);
}

/* Stacks left to draw their own secret share the host's: a server restarted
 * on its address goes on with the timestamps of its last run on each
 * 4-tuple, and Linux peers holding those in TIME_WAIT pass its SYNs on PAWS
 * (a secret per process failed them).  An explicit seed stays as given. */
static void t_host_secret(void)
{
	struct rs_stack_conf conf;
	struct rs_stack *a, *b;
	int err = 0;

	rs_stack_conf_init(&conf);
	conf.addr.s_addr = htonl(STACK_IP);
	a = rs_stack_create(&conf, &err);
	b = rs_stack_create(&conf, &err);
	conf.seed = 12345;
	struct rs_stack *c = rs_stack_create(&conf, &err);
	T_CHECK(a && b && c, "three stacks (err %d)", err);
	if (!a || !b || !c)
		return;
	T_CHECK(a->conf.seed && a->conf.seed == b->conf.seed &&
			a->conf.seed == rs_host_secret(),
		"two stacks without a seed share the host's secret (%s)",
		RS_HOST_SECRET);
	T_CHECK(c->conf.seed == 12345, "an explicit seed is kept");
	rs_stack_destroy(a);
	rs_stack_destroy(b);
	rs_stack_destroy(c);
}

int main(void)
{
	t_host_secret();
	t_csum();
	t_wake_hook();
	t_arp_icmp();
	t_ip_drops();
	t_arp_resolve();
	t_exhaustion();
	t_api_errors();
	t_linger_unread();
	t_epoll();
	return t_summary();
}
