/* IPv4 output and routing (one subnet, optional gateway). */
#include "tcp.h"

int rs_route(const struct rs_core *c, uint32_t dst, uint32_t *nexthop)
{
	const struct rs_stack *s = c->stack;

	if ((dst & s->netmask) == (s->ip & s->netmask)) {
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
