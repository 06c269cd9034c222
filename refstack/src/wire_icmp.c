/* ICMP echo (RFC 792): parse with checksum, emit a reply. */
#include "common.h"
#include "wire.h"

int rs_icmp_parse(const uint8_t *p, uint32_t len, struct rs_icmp *icmp)
{
	if (len < 8)
		return RS_WIRE_MALFORMED;
	if (rs_csum_fold(rs_csum_add(0, p, len)) != 0)
		return RS_WIRE_CSUM;
	icmp->type = p[0];
	icmp->code = p[1];
	icmp->id = rs_get16(p + 4);
	icmp->seq = rs_get16(p + 6);
	icmp->data = p + 8;
	icmp->len = len - 8;
	return RS_WIRE_OK;
}

uint32_t rs_icmp_emit(uint8_t *p, const struct rs_icmp *icmp)
{
	uint16_t sum;

	p[0] = icmp->type;
	p[1] = icmp->code;
	p[2] = p[3] = 0;
	rs_put16(p + 4, icmp->id);
	rs_put16(p + 6, icmp->seq);
	memmove(p + 8, icmp->data, icmp->len);
	sum = rs_csum_fold(rs_csum_add(0, p, 8 + icmp->len));
	memcpy(p + 2, &sum, 2);
	return 8 + icmp->len;
}
