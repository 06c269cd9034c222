/* ARP for IPv4 over Ethernet (RFC 826). */
#include "common.h"
#include "wire.h"

int rs_arp_parse(const uint8_t *p, uint32_t len, struct rs_arp *arp)
{
	if (len < RS_ARP_LEN)
		return RS_WIRE_MALFORMED;
	if (rs_get16(p) != 1 || rs_get16(p + 2) != RS_ETH_P_IP || p[4] != 6 ||
	    p[5] != 4)
		return RS_WIRE_MALFORMED;
	arp->op = rs_get16(p + 6);
	if (arp->op != RS_ARP_REQUEST && arp->op != RS_ARP_REPLY)
		return RS_WIRE_MALFORMED;
	memcpy(arp->sha, p + 8, 6);
	arp->spa = rs_get32(p + 14);
	memcpy(arp->tha, p + 18, 6);
	arp->tpa = rs_get32(p + 24);
	return RS_WIRE_OK;
}

uint32_t rs_arp_emit(uint8_t *p, const struct rs_arp *arp)
{
	rs_put16(p, 1);
	rs_put16(p + 2, RS_ETH_P_IP);
	p[4] = 6;
	p[5] = 4;
	rs_put16(p + 6, arp->op);
	memcpy(p + 8, arp->sha, 6);
	rs_put32(p + 14, arp->spa);
	memcpy(p + 18, arp->tha, 6);
	rs_put32(p + 24, arp->tpa);
	return RS_ARP_LEN;
}
