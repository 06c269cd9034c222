/* ICMP: answer echo requests addressed to us. */
#include "tcp.h"

void rs_icmp_input(struct rs_core *c, const struct rs_ipv4 *ip)
{
	struct rs_icmp in, out;
	uint8_t *buf;
	uint32_t len;

	if (rs_icmp_parse(ip->payload, ip->len, &in) != RS_WIRE_OK) {
		c->ctr.drop_icmp_malformed++;
		return;
	}
	if (in.type != RS_ICMP_ECHO || in.code != 0)
		return;
	if (8 + in.len > RS_FRAME_BUF - RS_ETH_HLEN - RS_IP_HLEN) {
		c->ctr.drop_icmp_malformed++;
		return;
	}
	buf = rs_tx_buf(c);
	out = in;
	out.type = RS_ICMP_ECHO_REPLY;
	len = rs_icmp_emit(buf + RS_ETH_HLEN + RS_IP_HLEN, &out);
	c->ctr.icmp_echo++;
	rs_ipv4_output(c, buf, ip->src, RS_IPPROTO_ICMP, len);
}
