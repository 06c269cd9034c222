/* Ethernet II framing. */
#include "common.h"
#include "wire.h"

int rs_eth_parse(const uint8_t *p, uint32_t len, struct rs_eth *eth)
{
	if (len < RS_ETH_HLEN)
		return RS_WIRE_MALFORMED;
	memcpy(eth->dst, p, 6);
	memcpy(eth->src, p + 6, 6);
	eth->type = rs_get16(p + 12);
	eth->payload = p + RS_ETH_HLEN;
	eth->len = len - RS_ETH_HLEN;
	return RS_WIRE_OK;
}

uint32_t rs_eth_emit(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
		     uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	rs_put16(p + 12, type);
	return RS_ETH_HLEN;
}
