/* ARP (RFC 826): answer for our address, learn from requests and replies
 * aimed at us, resolve next hops.  Frames waiting for a reply are copied
 * into a per-core FIFO of variable-length records in one byte arena (a
 * SYN,ACK takes ~100 bytes, not a 2 KiB slot), sized for a burst to a new
 * peer - a client that opens hundreds of connections at once before the
 * stack knows its MAC; when the arena is full the oldest frames go first
 * (so a SYN flood from spoofed sources, whose replies never resolve,
 * cannot keep a real new peer's frames out), and a frame older than
 * three request intervals is dropped when the queue is next touched.
 * The arena is a ring: no frame is ever moved. */
#include "arena.h"
#include "tcp.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define ARP_RETRY_NS 1000000000ull
#define ARP_REFRESH_NS 60000000000ull /* re-ask after 60 s, keep using it */
#define ARP_GIVEUP_NS (3 * ARP_RETRY_NS)

static struct rs_arp_entry *slot(struct rs_core *c, uint32_t ip)
{
	return &c->arp[(ip * 0x9e3779b1u) >> 22 & (RS_ARP_SLOTS - 1)];
}

static void arp_learn(struct rs_core *c, uint32_t ip, const uint8_t mac[6])
{
	struct rs_arp_entry *e = slot(c, ip);

	if (e->ip != ip)
		e->req_at = 0;
	e->ip = ip;
	memcpy(e->mac, mac, 6);
	e->valid = 1;
	e->learned_at = c->now;
}

/* A record: this header, then the frame, padded to 16 bytes.  nexthop 0
 * marks a hole: a frame already sent, or the end of the arena skipped by
 * a record that did not fit there.  head and tail count bytes (the arena
 * size is a power of two, so they may wrap). */
struct arpq_rec {
	uint64_t at;               /* queued at (core time) */
	uint32_t nexthop;
	uint32_t len;              /* frame bytes that follow */
};

_Static_assert((RS_ARPQ_BYTES & (RS_ARPQ_BYTES - 1)) == 0,
	       "the ARP queue arena is a power of two");

static uint32_t rec_size(uint32_t len)
{
	return ((uint32_t)sizeof(struct arpq_rec) + len + 15u) & ~15u;
}

static struct arpq_rec *rec_at(const struct rs_arpq *q, uint32_t off)
{
	return (struct arpq_rec *)(void *)(q->mem + (off & (RS_ARPQ_BYTES - 1)));
}

int rs_arpq_init(struct rs_core *c)
{
	c->arpq.mem = rs_mem_alloc(c->stack->arena, RS_ARPQ_BYTES);
	return c->arpq.mem ? RS_OK : RS_ERROR;
}

void rs_arpq_fini(struct rs_core *c)
{
	rs_mem_free(c->stack->arena, c->arpq.mem);
	c->arpq.mem = NULL;
}

/* Take the oldest record off; a frame still waiting is counted in *ctr. */
static void drop_head(struct rs_core *c, uint64_t *ctr)
{
	struct rs_arpq *q = &c->arpq;
	struct arpq_rec *r = rec_at(q, q->start);

	if (r->nexthop) {
		(*ctr)++;
		q->frames--;
	}
	q->start += rec_size(r->len);
}

/* Holes and frames that waited too long go from the front. */
static void expire(struct rs_core *c)
{
	struct rs_arpq *q = &c->arpq;

	while (q->start != q->end) {
		const struct arpq_rec *r = rec_at(q, q->start);
		if (r->nexthop && c->now - r->at <= ARP_GIVEUP_NS)
			break;
		drop_head(c, &c->ctr.drop_arp_timeout);
	}
}

static void enqueue(struct rs_core *c, uint32_t nexthop, const uint8_t *buf,
		    uint32_t len)
{
	struct rs_arpq *q = &c->arpq;
	uint32_t need = rec_size(len);
	uint32_t contig = RS_ARPQ_BYTES - (q->end & (RS_ARPQ_BYTES - 1));
	uint32_t total = contig < need ? contig + need : need;
	struct arpq_rec *r;

	expire(c);
	while (RS_ARPQ_BYTES - (q->end - q->start) < total)
		drop_head(c, &c->ctr.drop_arp_pending); /* the oldest go */
	if (contig < need) { /* the arena's end is skipped */
		r = rec_at(q, q->end);
		r->nexthop = 0;
		r->len = contig - (uint32_t)sizeof(*r);
		q->end += contig;
	}
	r = rec_at(q, q->end);
	r->at = c->now;
	r->nexthop = nexthop;
	r->len = len;
	memcpy(r + 1, buf, len);
	q->end += need;
	q->frames++;
}

/* Send the frames that were waiting for ip, in their order; their places
 * become holes that leave with the front. */
static void arp_release(struct rs_core *c, uint32_t ip, const uint8_t mac[6])
{
	struct rs_arpq *q = &c->arpq;

	expire(c);
	for (uint32_t at = q->start; at != q->end;) {
		struct arpq_rec *r = rec_at(q, at);
		at += rec_size(r->len);
		if (r->nexthop != ip)
			continue;
		uint8_t *buf = rs_tx_buf(c);
		memcpy(buf, r + 1, r->len);
		rs_eth_emit(buf, mac, c->mac, RS_ETH_P_IP);
		c->txf[c->ntx].len = r->len;
		c->ntx++;
		r->nexthop = 0;
		q->frames--;
	}
	expire(c);
}

static void arp_send(struct rs_core *c, uint16_t op, const uint8_t tha[6],
		     uint32_t tpa)
{
	uint8_t *buf = rs_tx_buf(c);
	struct rs_arp a = {.op = op, .spa = c->ip, .tpa = tpa};

	memcpy(a.sha, c->mac, 6);
	memcpy(a.tha, op == RS_ARP_REQUEST ? (const uint8_t *)"\0\0\0\0\0\0"
					   : tha,
	       6);
	rs_eth_emit(buf, op == RS_ARP_REQUEST ? bcast : tha, c->mac,
		    RS_ETH_P_ARP);
	rs_arp_emit(buf + RS_ETH_HLEN, &a);
	memset(buf + RS_ETH_HLEN + RS_ARP_LEN, 0, 60 - RS_ETH_HLEN - RS_ARP_LEN);
	c->txf[c->ntx].len = 60;
	c->ntx++;
}

void rs_arp_input(struct rs_core *c, const struct rs_eth *eth)
{
	struct rs_arp a;

	if (rs_arp_parse(eth->payload, eth->len, &a) != RS_WIRE_OK) {
		c->ctr.drop_arp_malformed++;
		return;
	}
	if (a.tpa != c->ip)
		return;
	arp_learn(c, a.spa, a.sha);
	if (a.op == RS_ARP_REQUEST) {
		c->ctr.arp_requests_rx++;
		arp_send(c, RS_ARP_REPLY, a.sha, a.spa);
	} else {
		c->ctr.arp_replies_rx++;
	}
	if (c->arpq.frames)
		arp_release(c, a.spa, a.sha);
}

/* The frame in buf (IP packet after a 14-byte gap) goes to nexthop.  It
 * is the frame last handed out by rs_tx_buf. */
void rs_arp_output(struct rs_core *c, uint32_t nexthop, uint8_t *buf,
		   uint32_t len)
{
	struct rs_arp_entry *e = slot(c, nexthop);

	if (RS_LIKELY(e->valid && e->ip == nexthop)) {
		rs_eth_emit(buf, e->mac, c->mac, RS_ETH_P_IP);
		c->txf[c->ntx].len = len;
		c->ntx++;
		if (RS_UNLIKELY(c->now - e->learned_at > ARP_REFRESH_NS &&
				c->now - e->req_at > ARP_RETRY_NS)) {
			e->req_at = c->now;
			c->ctr.arp_requests_tx++;
			arp_send(c, RS_ARP_REQUEST, NULL, nexthop);
		}
		return;
	}
	enqueue(c, nexthop, buf, len);
	if (e->ip != nexthop || !e->req_at || c->now - e->req_at >= ARP_RETRY_NS ||
	    c->now < e->req_at) {
		e->ip = nexthop;
		e->valid = 0;
		e->req_at = c->now ? c->now : 1;
		c->ctr.arp_requests_tx++;
		arp_send(c, RS_ARP_REQUEST, NULL, nexthop);
	}
}
