/* Ethernet and IPv4 input dispatch, IPv4 output and routing (one subnet,
 * optional gateway).  Fragments are dropped and counted. */
#include "tcp.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void rs_eth_input(struct rs_core *c, const struct rs_frame *f)
{
	struct rs_eth eth;

	c->ctr.rx_frames++;
	c->ctr.rx_bytes += f->len;
	c->cur_frame = f;
	if (rs_eth_parse(f->data, f->len, &eth) != RS_WIRE_OK) {
		c->ctr.drop_eth_malformed++;
		return;
	}
	if (memcmp(eth.dst, c->mac, 6) && memcmp(eth.dst, bcast, 6)) {
		c->ctr.drop_eth_not_ours++;
		return;
	}
	switch (eth.type) {
	case RS_ETH_P_IP:
		rs_ipv4_input(c, &eth, f->csum_partial);
		return;
	case RS_ETH_P_ARP:
		rs_arp_input(c, &eth);
		return;
	default:
		c->ctr.drop_eth_type++;
		return;
	}
}

void rs_ipv4_input(struct rs_core *c, const struct rs_eth *eth, int partial)
{
	struct rs_ipv4 ip;
	struct rs_tcp_seg seg;

	switch (rs_ipv4_parse(eth->payload, eth->len, &ip)) {
	case RS_WIRE_OK:
		break;
	case RS_WIRE_CSUM:
		c->ctr.drop_ip_csum++;
		return;
	default:
		c->ctr.drop_ip_malformed++;
		return;
	}
	if (ip.dst != c->ip) {
		c->ctr.drop_ip_not_ours++;
		return;
	}
	if (ip.fragment) {
		c->ctr.drop_ip_fragment++;
		return;
	}
	switch (ip.proto) {
	case RS_IPPROTO_TCP:
		switch (rs_tcp_parse(ip.payload, ip.len, ip.src, ip.dst,
				     partial, &seg)) {
		case RS_WIRE_OK:
			rs_tcp_input(c, &ip, &seg);
			return;
		case RS_WIRE_CSUM:
			c->ctr.drop_tcp_csum++;
			return;
		default:
			c->ctr.drop_tcp_malformed++;
			return;
		}
	case RS_IPPROTO_ICMP:
		rs_icmp_input(c, &ip);
		return;
	default:
		c->ctr.drop_ip_proto++;
		return;
	}
}

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
