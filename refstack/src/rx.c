/* A received frame, from ring to protocol: its headers are validated once
 * (Ethernet, IPv4, TCP and their checksums) into a struct rs_pkt together
 * with the table entry that owns it, so that the poll loop can decide
 * where the frame goes before any protocol processing; then the owner
 * delivers it to ARP, ICMP or TCP.  Fragments are dropped and counted. */
#include "tcp.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static int parse_ipv4(struct rs_core *c, const struct rs_frame *f,
		      struct rs_pkt *p)
{
	switch (rs_ipv4_parse(p->eth.payload, p->eth.len, &p->ip)) {
	case RS_WIRE_OK:
		break;
	case RS_WIRE_CSUM:
		c->ctr.drop_ip_csum++;
		return RS_ERROR;
	default:
		c->ctr.drop_ip_malformed++;
		return RS_ERROR;
	}
	if (p->ip.dst != c->ip) {
		c->ctr.drop_ip_not_ours++;
		return RS_ERROR;
	}
	if (rs_ipv4_check_src(c, p->ip.src) != RS_OK)
		return RS_ERROR;
	if (p->ip.fragment) {
		c->ctr.drop_ip_fragment++;
		return RS_ERROR;
	}
	switch (p->ip.proto) {
	case RS_IPPROTO_TCP:
		break;
	case RS_IPPROTO_ICMP:
		p->kind = RS_PKT_ICMP;
		return RS_OK;
	default:
		c->ctr.drop_ip_proto++;
		return RS_ERROR;
	}
	switch (rs_tcp_parse(p->ip.payload, p->ip.len, p->ip.src, p->ip.dst,
			     f->csum_partial, &p->seg)) {
	case RS_WIRE_OK:
		p->kind = RS_PKT_TCP;
		rs_tcp_demux(c, &p->ip, &p->seg, &p->dm);
		return RS_OK;
	case RS_WIRE_CSUM:
		c->ctr.drop_tcp_csum++;
		return RS_ERROR;
	default:
		c->ctr.drop_tcp_malformed++;
		return RS_ERROR;
	}
}

int rs_rx_parse(struct rs_core *c, const struct rs_frame *f, struct rs_pkt *p)
{
	p->dm.owner = c->index;
	if (rs_eth_parse(f->data, f->len, &p->eth) != RS_WIRE_OK) {
		c->ctr.drop_eth_malformed++;
		return RS_ERROR;
	}
	if (memcmp(p->eth.dst, c->mac, 6) && memcmp(p->eth.dst, bcast, 6)) {
		c->ctr.drop_eth_not_ours++;
		return RS_ERROR;
	}
	switch (p->eth.type) {
	case RS_ETH_P_IP:
		return parse_ipv4(c, f, p);
	case RS_ETH_P_ARP:
		p->kind = RS_PKT_ARP;
		return RS_OK;
	default:
		c->ctr.drop_eth_type++;
		return RS_ERROR;
	}
}

void rs_rx_deliver(struct rs_core *c, struct rs_pkt *p)
{
	switch (p->kind) {
	case RS_PKT_TCP:
		rs_tcp_input(c, &p->ip, &p->seg, &p->dm);
		return;
	case RS_PKT_ICMP:
		rs_icmp_input(c, &p->ip);
		return;
	case RS_PKT_ARP:
		rs_arp_input(c, &p->eth);
		return;
	default:
		return;
	}
}
