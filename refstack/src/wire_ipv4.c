/* IPv4 header (RFC 791): validation and emission. */
#include "common.h"
#include "wire.h"

int rs_ipv4_parse(const uint8_t *p, uint32_t len, struct rs_ipv4 *ip)
{
	uint32_t hlen, total;
	uint16_t frag;

	if (len < RS_IP_HLEN || (p[0] >> 4) != 4)
		return RS_WIRE_MALFORMED;
	hlen = (uint32_t)(p[0] & 0x0f) * 4;
	total = rs_get16(p + 2);
	if (hlen < RS_IP_HLEN || total < hlen || total > len)
		return RS_WIRE_MALFORMED;
	if (rs_csum_fold(hlen == RS_IP_HLEN ? rs_csum_add20(p)
					    : rs_csum_add(0, p, hlen)) != 0)
		return RS_WIRE_CSUM;
	frag = rs_get16(p + 6);
	ip->fragment = (frag & 0x2000) || (frag & 0x1fff);
	ip->tos = p[1];
	ip->id = rs_get16(p + 4);
	ip->ttl = p[8];
	ip->proto = p[9];
	ip->src = rs_get32(p + 12);
	ip->dst = rs_get32(p + 16);
	ip->payload = p + hlen;
	ip->len = total - hlen;
	return RS_WIRE_OK;
}

uint32_t rs_ipv4_emit(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto,
		      uint32_t payload_len, uint16_t id)
{
	uint16_t sum;

	p[0] = 0x45;
	p[1] = 0;
	rs_put16(p + 2, (uint16_t)(RS_IP_HLEN + payload_len));
	rs_put16(p + 4, id);
	rs_put16(p + 6, 0x4000); /* DF */
	p[8] = 64;
	p[9] = proto;
	p[10] = p[11] = 0;
	rs_put32(p + 12, src);
	rs_put32(p + 16, dst);
	sum = rs_csum_fold(rs_csum_add20(p));
	memcpy(p + 10, &sum, 2);
	return RS_IP_HLEN;
}
