/* A scripted TCP peer: the stack under test is side 1 of a memif pair
 * (198.18.21.2); the test writes raw frames from side 0 (198.18.21.1) and
 * reads what the stack sends back, on a virtual clock. */
#ifndef PEER_H
#define PEER_H

#include "../../../src/wire.h"
#include "tb.h"

struct pseg {
	uint16_t sport, dport;
	uint8_t flags, opts, ws;
	uint16_t wnd, mss;
	uint32_t seq, ack, tsval, tsecr, len;
	uint8_t nsack;
	uint32_t sack[4][2];
	uint8_t data[2048];
};

struct peer {
	struct rs_memif_pair *pair;
	struct rs_stack *s;
	struct rs_core *c;
	struct rs_io *wire;
	uint64_t now;
	char trace[64][48];
	int ntrace;
};

int peer_init(struct peer *p, tb_conf_fn fn);
void peer_fini(struct peer *p);
/* Send one TCP segment from the peer.  opts may be NULL (none). */
void peer_tx(struct peer *p, uint16_t sport, uint16_t dport, uint8_t flags,
	     uint32_t seq, uint32_t ack, uint16_t wnd, const void *data,
	     uint32_t len, const struct rs_tcp_seg *opts);
/* The same from another source address (host order). */
void peer_tx_from(struct peer *p, uint32_t src, uint16_t sport,
		  uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint16_t wnd, const void *data, uint32_t len,
		  const struct rs_tcp_seg *opts);
/* An ARP request for the stack's address from ip (the stack learns that
 * ip is at the peer's MAC); its reply stays on the wire for peer_rx. */
void peer_arp_from(struct peer *p, uint32_t ip);
/* Send a raw Ethernet frame. */
void peer_tx_frame(struct peer *p, const uint8_t *f, uint32_t len);
/* Poll the stack and collect up to max TCP segments it sent (ARP and
 * ICMP frames are counted in *other if not NULL). */
int peer_rx(struct peer *p, struct pseg *out, int max);
/* Same, keeping raw frames: returns the number of frames. */
int peer_rx_raw(struct peer *p, uint8_t (*frames)[2048], uint32_t *lens,
		int max);
void peer_advance(struct peer *p, uint64_t ns);
int peer_saw(const struct peer *p, const char *old, const char *nw);
/* Passive open on the stack's listener: SYN, SYN-ACK, ACK.  Returns the
 * stack's ISS + 1 (its next sequence number), 0 on failure. */
uint32_t peer_open(struct peer *p, uint16_t sport, uint16_t dport,
		   uint32_t iss, const struct rs_tcp_seg *synopts);
uint64_t peer_counter(const struct peer *p, const char *name);
/* A listening socket of the stack on port (any address); -1 on error. */
int peer_listen(struct peer *p, uint16_t port, int backlog);

#endif
