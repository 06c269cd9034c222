/* ARP (RFC 826): answer for our address, learn from requests and replies
 * aimed at us, resolve next hops; frames waiting for a reply are copied
 * aside (a small per-core queue) and sent when it comes. */
#include "tcp.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define ARP_RETRY_NS 1000000000ull
#define ARP_REFRESH_NS 60000000000ull /* re-ask after 60 s, keep using it */

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

/* Send the frames that were waiting for ip. */
static void arp_release(struct rs_core *c, uint32_t ip, const uint8_t mac[6])
{
	uint32_t i = 0;

	while (i < c->npending) {
		struct rs_pending *p = &c->pending[i];
		if (p->nexthop != ip) {
			i++;
			continue;
		}
		uint8_t *buf = rs_tx_buf(c);
		memcpy(buf, p->data, p->len);
		rs_eth_emit(buf, mac, c->mac, RS_ETH_P_IP);
		c->txf[c->ntx].len = p->len;
		c->ntx++;
		c->pending[i] = c->pending[--c->npending];
	}
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
	if (c->npending)
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
	if (c->npending < RS_ARP_PENDING) {
		struct rs_pending *p = &c->pending[c->npending++];
		p->nexthop = nexthop;
		p->len = len;
		memcpy(p->data, buf, len);
	} else {
		c->ctr.drop_arp_pending++;
	}
	if (e->ip != nexthop || !e->req_at || c->now - e->req_at >= ARP_RETRY_NS ||
	    c->now < e->req_at) {
		e->ip = nexthop;
		e->valid = 0;
		e->req_at = c->now ? c->now : 1;
		c->ctr.arp_requests_tx++;
		arp_send(c, RS_ARP_REQUEST, NULL, nexthop);
	}
}
