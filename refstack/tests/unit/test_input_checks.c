/* What the stack refuses to take in, each refusal counted by its reason
 * (the frames stay inside the process, on a memif pair: the source
 * addresses outside 198.18.0.0/15 here never reach a network):
 * sources that cannot be a peer (RFC 1122 3.2.1.3, 4.2.3.10: discard,
 * and no SYN,ACK), a SYN with FIN, segments to a listener that are
 * neither SYN nor ACK; and overlapping out-of-order data, where the first
 * copy of a byte is kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define F RS_TH_FIN
#define R RS_TH_RST

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return ntohl(a.s_addr);
}

static void t_martian_sources(void)
{
	static const struct {
		const char *src, *counter, *what;
	} bad[] = {
		{"0.0.0.0", "drop_ip_martian_src", "this host (0.0.0.0)"},
		{"0.1.2.3", "drop_ip_martian_src", "this network (0/8)"},
		{"255.255.255.255", "drop_ip_martian_src", "limited broadcast"},
		{"127.0.0.1", "drop_ip_martian_src", "loopback"},
		{"224.0.0.1", "drop_ip_martian_src", "multicast"},
		{"239.1.2.3", "drop_ip_martian_src", "multicast (239/8)"},
		{"198.18.21.0", "drop_ip_martian_src", "the subnet's network address"},
		{"198.18.21.255", "drop_ip_martian_src", "the subnet's broadcast"},
		{"198.18.21.2", "drop_ip_land", "our own address (LAND)"},
	};
	struct peer p;
	struct pseg r[8];
	struct rs_table_sizes ts;

	peer_init(&p, NULL);
	peer_listen(&p, 80, 16);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t before = peer_counter(&p, bad[i].counter);
		peer_tx_from(&p, ip4(bad[i].src), 40000, 80, S, 1000, 0, 65535,
			     NULL, 0, NULL);
		int n = peer_rx(&p, r, 8);
		rs_core_tables(p.c, &ts);
		T_CHECK(n == 0 && ts.syn_recv == 0 &&
				peer_counter(&p, bad[i].counter) == before + 1,
			"SYN from %s (%s): discarded, no SYN,ACK, counted as %s",
			bad[i].src, bad[i].what, bad[i].counter);
	}
	/* a neighbour's address is fine */
	peer_tx_from(&p, ip4("198.18.21.77"), 40001, 80, S, 1000, 0, 65535,
		     NULL, 0, NULL);
	peer_rx(&p, r, 8); /* the SYN,ACK waits for ARP: nobody answers */
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.syn_recv == 1, "a SYN from another host of the subnet is taken");
	peer_fini(&p);
}

static void t_listener_flags(void)
{
	struct peer p;
	struct pseg r[8];
	struct rs_table_sizes ts;
	int n;

	peer_init(&p, NULL);
	peer_listen(&p, 80, 16);
	peer_tx(&p, 40002, 80, S | F, 1000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	rs_core_tables(p.c, &ts);
	T_CHECK(n == 0 && ts.syn_recv == 0 &&
			peer_counter(&p, "drop_tcp_syn_fin") == 1,
		"SYN+FIN to a listener: discarded (as Linux), no SYN,ACK, counted");
	peer_tx(&p, 40003, 80, R, 1000, 0, 65535, NULL, 0, NULL);
	peer_tx(&p, 40004, 80, F, 1000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	T_CHECK(n == 0 && peer_counter(&p, "drop_tcp_listen_other") == 2,
		"RST and a bare FIN to a listener: discarded and counted");
	peer_fini(&p);
}

static void t_first_copy_wins(void)
{
	static const struct rs_tcp_seg mss = {.opts = RS_TCPOPT_MSS, .mss = 1460};
	struct peer p;
	struct pseg r[8];
	char got[32] = {0};
	uint32_t snd;
	int lfd, fd;
	ssize_t n;

	peer_init(&p, NULL);
	lfd = peer_listen(&p, 80, 16);
	snd = peer_open(&p, 40005, 80, 1000, &mss);
	fd = rs_accept(p.c, lfd, NULL, NULL);
	/* bytes 1001.. : a hole at 1001-1002, then BBBB at 1005-1008 */
	peer_tx(&p, 40005, 80, A, 1005, snd, 65535, "BBBB", 4, NULL);
	/* an overlapping copy with other bytes, 1003-1010 */
	peer_tx(&p, 40005, 80, A, 1003, snd, 65535, "CCCCCCCC", 8, NULL);
	/* the hole and more, again overlapping: 1001-1006 */
	peer_tx(&p, 40005, 80, A, 1001, snd, 65535, "AAAAAA", 6, NULL);
	peer_rx(&p, r, 8);
	n = rs_recv(p.c, fd, got, sizeof(got) - 1, 0);
	T_CHECK(n == 10 && memcmp(got, "AACCBBBBCC", 10) == 0,
		"overlapping data: each byte keeps its first copy (\"%s\")", got);
	T_CHECK(peer_counter(&p, "tcp_ooo_overlap") == 2,
		"overlaps counted (%llu)",
		(unsigned long long)peer_counter(&p, "tcp_ooo_overlap"));
	peer_fini(&p);
}

int main(void)
{
	t_martian_sources();
	t_listener_flags();
	t_first_copy_wins();
	return t_summary();
}
