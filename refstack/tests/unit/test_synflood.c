/* A SYN flood from spoofed sources against a listener, for each of the
 * three syncookies settings (Linux's tcp_syncookies): the legitimate
 * client still connects - by cookie when the backlog is full (the
 * default), and without cookies by the quarter of the backlog kept for
 * peers with history and by dropping the oldest embryonic connection for
 * a new client. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define FLOOD_SRC 0xc6121564u /* 198.18.21.100 and up: nobody there */
#define NEW_PEER 0xc6121532u  /* 198.18.21.50 */

static unsigned cookies_mode;

static void conf(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->syn_backlog = 16;
	c->syncookies = cookies_mode;
}

static void flood(struct peer *p, int n)
{
	struct pseg r[64];

	for (int i = 0; i < n; i++)
		peer_tx_from(p, FLOOD_SRC + (uint32_t)(i % 100),
			     (uint16_t)(20000 + i), 80, S, 7000u * (uint32_t)i,
			     0, 65535, NULL, 0, NULL);
	peer_rx(p, r, 64); /* their SYN,ACKs wait for ARP replies */
}

/* Handshake from src:sport; returns the accepted descriptor or -1. */
static int connect_from(struct peer *p, int lfd, uint32_t src, uint16_t sport)
{
	struct pseg r[64];
	int n, k = -1;

	peer_tx_from(p, src, sport, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(p, r, 64);
	for (int i = 0; i < n; i++)
		if (r[i].dport == sport && r[i].flags == (S | A))
			k = i;
	if (k < 0)
		return -1;
	peer_tx_from(p, src, sport, 80, A, 1001, r[k].seq + 1, 65535, NULL, 0,
		     NULL);
	peer_rx(p, r, 64);
	return rs_accept(p->c, lfd, NULL, NULL);
}

static void t_cookies_when_full(void)
{
	struct peer p;
	struct rs_table_sizes ts;
	int lfd;

	cookies_mode = RS_SYNCOOKIES_ON_FULL;
	peer_init(&p, conf);
	lfd = peer_listen(&p, 80, 64);
	flood(&p, 40);
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.syn_recv == 16 && peer_counter(&p, "tcp_syncookies_sent") == 24,
		"syncookies=1: 16 SYN_RECV, then cookies for the 24 others");
	T_CHECK(connect_from(&p, lfd, 0xc6121501u, 41000) > 0 &&
			peer_counter(&p, "tcp_syncookies_ok") == 1,
		"a client connects during the flood, by cookie");
	peer_fini(&p);
}

static void t_no_cookies(void)
{
	struct peer p;
	struct rs_table_sizes ts;
	int lfd, fd;

	cookies_mode = RS_SYNCOOKIES_OFF;
	peer_init(&p, conf);
	lfd = peer_listen(&p, 80, 64);
	fd = connect_from(&p, lfd, 0xc6121501u, 41001);
	T_CHECK(fd > 0, "before the flood: a connection, the peer has history");
	rs_close(p.c, fd);
	flood(&p, 40);
	rs_core_tables(p.c, &ts);
	T_CHECK(ts.syn_recv == 12 && peer_counter(&p, "tcp_syn_evicted") == 28 &&
			peer_counter(&p, "drop_syn_backlog") == 0 &&
			peer_counter(&p, "tcp_syncookies_sent") == 0,
		"syncookies=0: the flood holds 12 of 16 (the last quarter is "
		"kept), newer SYNs drop the oldest (%u, %llu evicted)",
		ts.syn_recv, (unsigned long long)peer_counter(&p, "tcp_syn_evicted"));
	T_CHECK(connect_from(&p, lfd, 0xc6121501u, 41002) > 0,
		"the peer with history connects during the flood (reserved quarter)");
	flood(&p, 40);
	peer_arp_from(&p, NEW_PEER);
	T_CHECK(connect_from(&p, lfd, NEW_PEER, 41003) > 0,
		"a new peer connects too: its SYN took the oldest flood entry's place");
	peer_fini(&p);
}

static void t_cookies_always(void)
{
	struct peer p;
	struct rs_table_sizes ts;
	struct pseg r[8];
	int lfd, n;

	cookies_mode = RS_SYNCOOKIES_ALWAYS;
	peer_init(&p, conf);
	lfd = peer_listen(&p, 80, 64);
	peer_tx(&p, 41004, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	n = peer_rx(&p, r, 8);
	rs_core_tables(p.c, &ts);
	T_CHECK(n == 1 && ts.syn_recv == 0 &&
			peer_counter(&p, "tcp_syncookies_sent") == 1,
		"syncookies=2: even the first SYN gets a cookie, no state kept");
	peer_tx(&p, 41004, 80, A, 1001, r[0].seq + 1, 65535, NULL, 0, NULL);
	peer_rx(&p, r, 8);
	T_CHECK(rs_accept(p.c, lfd, NULL, NULL) > 0, "... and its ACK connects");
	peer_fini(&p);
}

static void conf_bad(int side, struct rs_stack_conf *c)
{
	(void)side;
	c->syncookies = 3;
}

int main(void)
{
	struct peer p;

	t_cookies_when_full();
	t_no_cookies();
	t_cookies_always();
	T_CHECK(peer_init(&p, conf_bad) != 0, "syncookies=3 refused by rs_stack_create");
	return t_summary();
}
