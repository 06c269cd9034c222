/* Frames waiting for an ARP reply: a burst of SYNs from a peer the stack
 * has no MAC for is answered in full once the peer's ARP comes (the old
 * 32-frame queue made a new client of 64 connections pay a 1 s SYN
 * retry); frames whose next hop never answers are dropped after 3 s and
 * counted; and when spoofed sources fill the queue, the oldest frames
 * make room, so a real new peer is still answered. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/peer.h"
#include "lib/t.h"

#define A RS_TH_ACK
#define S RS_TH_SYN
#define MS 1000000ull
#define NEWPEER 0xc612153cu /* 198.18.21.60 */
#define SPOOF 0xc6121564u   /* 198.18.21.100 and up: nobody there */

/* SYN,ACKs received for dport range [lo, lo + n), once the stack has
 * taken in everything sent to it. */
static int synacks(struct peer *p, uint16_t lo, int n)
{
	struct pseg r[64];
	int got = 0, k;

	while (rs_poll(p->c, p->now) > 0)
		while ((k = peer_rx(p, r, 64)) > 0)
			for (int i = 0; i < k; i++)
				got += r[i].flags == (S | A) &&
				       r[i].dport >= lo && r[i].dport < lo + n;
	while ((k = peer_rx(p, r, 64)) > 0)
		for (int i = 0; i < k; i++)
			got += r[i].flags == (S | A) && r[i].dport >= lo &&
			       r[i].dport < lo + n;
	return got;
}

static void t_burst_from_new_peer(void)
{
	struct peer p;

	peer_init(&p, NULL);
	peer_listen(&p, 80, 4096);
	for (int i = 0; i < 300; i++)
		peer_tx_from(&p, NEWPEER, (uint16_t)(30000 + i), 80, S, 1000, 0,
			     65535, NULL, 0, NULL);
	T_CHECK(synacks(&p, 30000, 300) == 0 &&
			peer_counter(&p, "arp_requests_tx") >= 1,
		"300 SYNs from a peer without ARP entry: the stack asks, waits");
	peer_arp_from(&p, NEWPEER);
	T_CHECK(synacks(&p, 30000, 300) == 300 &&
			peer_counter(&p, "drop_arp_pending") == 0,
		"its ARP arrives: all 300 SYN,ACKs go out, none dropped");
	peer_fini(&p);
}

static void t_stale_and_flood(void)
{
	struct peer p;

	peer_init(&p, NULL);
	peer_listen(&p, 80, 4096);
	/* nobody answers for these: their SYN,ACKs wait, then time out */
	for (int i = 0; i < 50; i++)
		peer_tx_from(&p, SPOOF + (uint32_t)i, (uint16_t)(31000 + i), 80,
			     S, 1000, 0, 65535, NULL, 0, NULL);
	synacks(&p, 0, 0);
	peer_advance(&p, 3500 * MS);
	peer_tx_from(&p, NEWPEER, 32000, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	T_CHECK(peer_counter(&p, "drop_arp_timeout") >= 50,
		"frames waiting over 3 s for a reply are dropped and counted (%llu)",
		(unsigned long long)peer_counter(&p, "drop_arp_timeout"));
	/* a spoofed SYN flood fills the queue with SYN,ACKs nobody takes */
	for (int i = 0; i < 4000; i++)
		peer_tx_from(&p, SPOOF + (uint32_t)(i % 100),
			     (uint16_t)(33000 + i), 80, S, 1000, 0, 65535, NULL,
			     0, NULL);
	synacks(&p, 0, 0);
	peer_tx_from(&p, NEWPEER, 32001, 80, S, 1000, 0, 65535, NULL, 0, NULL);
	synacks(&p, 0, 0);
	peer_arp_from(&p, NEWPEER);
	T_CHECK(synacks(&p, 32001, 1) == 1 &&
			peer_counter(&p, "drop_arp_pending") > 0,
		"queue full of a flood's replies: the oldest make room, the new "
		"peer's SYN,ACK goes out when its ARP comes (%llu dropped)",
		(unsigned long long)peer_counter(&p, "drop_arp_pending"));
	peer_fini(&p);
}

int main(void)
{
	t_burst_from_new_peer();
	t_stale_and_flood();
	return t_summary();
}
