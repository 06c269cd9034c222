/* IPv4 output and routing (one subnet, optional gateway), and which
 * source addresses can be a peer at all. */
#include "tcp.h"

/* RFC 1122 3.2.1.3 (a host MUST silently discard a datagram whose source
 * is not a unicast address of a peer) and 4.2.3.10 (nor answer a SYN from
 * one), as Linux's martian-source check: this network (0/8), loopback
 * (127/8), multicast (224/4), the limited broadcast, and the subnet's own
 * network and broadcast addresses (prefixes up to /30).  Our own address
 * (a LAND attack) is counted apart.  RS_OK for a possible peer. */
int rs_ipv4_check_src(struct rs_core *c, uint32_t src)
{
	/* first octets never a peer: 0, 127, 224-239 (bit per octet) */
	static const uint64_t martian_top[4] = {1, 1ull << 63, 0,
						0xffffull << 32};
	const struct rs_stack *s = c->stack;
	uint32_t top = src >> 24;

	if (src == c->ip) {
		c->ctr.drop_ip_land++;
		return RS_ERROR;
	}
	if (((martian_top[top >> 6] >> (top & 63)) & 1) ||
	    src == 0xffffffffu || src == s->net_src || src == s->bcast_src) {
		c->ctr.drop_ip_martian_src++;
		return RS_ERROR;
	}
	return RS_OK;
}

int rs_route(const struct rs_core *c, uint32_t dst, uint32_t *nexthop)
{
	const struct rs_stack *s = c->stack;

	if ((dst & s->netmask) == s->net) {
		*nexthop = dst;
		return RS_OK;
	}
	if (!s->gateway)
		return RS_ERROR;
	*nexthop = s->gateway;
	return RS_OK;
}

void rs_ipv4_output(struct rs_core *c, uint8_t *buf, uint32_t dst,
		    uint8_t proto, uint32_t payload_len)
{
	uint32_t nexthop;

	if (rs_route(c, dst, &nexthop) != RS_OK) {
		c->ctr.drop_no_route++;
		return;
	}
	rs_ipv4_emit(buf + RS_ETH_HLEN, c->ip, dst, proto, payload_len,
		     c->ip_id++);
	rs_arp_output(c, nexthop, buf, RS_ETH_HLEN + RS_IP_HLEN + payload_len);
}
