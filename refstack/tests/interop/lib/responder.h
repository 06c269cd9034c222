/* A hand-made ARP + ICMP echo responder for one IPv4 address, shared by
 * the backend self-tests (afp_selftest.c, xsk_selftest.c): builds the
 * reply to a frame, no stack involved. */
#ifndef RS_TEST_RESPONDER_H
#define RS_TEST_RESPONDER_H

#include <stdint.h>
#include <string.h>

static inline uint16_t csum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)(p[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Build an ARP reply in out for the request in; 0 if not for us. */
static inline int arp_reply(const uint8_t *in, uint32_t len, const uint8_t mac[6],
		     const uint8_t ip[4], uint8_t *out)
{
	if (len < 42 || in[12] != 0x08 || in[13] != 0x06 || in[21] != 1 ||
	    memcmp(in + 38, ip, 4) != 0)
		return 0;
	memcpy(out, in + 6, 6);
	memcpy(out + 6, mac, 6);
	memcpy(out + 12, in + 12, 8);
	out[21] = 2;
	memcpy(out + 22, mac, 6);
	memcpy(out + 28, ip, 4);
	memcpy(out + 32, in + 22, 10);
	memset(out + 42, 0, 18);
	return 60;
}

/* Build an ICMP echo reply; 0 if the frame is not an echo request to us. */
static inline int icmp_reply(const uint8_t *in, uint32_t len, const uint8_t mac[6],
		      const uint8_t ip[4], uint8_t *out)
{
	if (len < 42 || in[12] != 0x08 || in[13] != 0x00 || in[14] != 0x45 ||
	    in[23] != 1 || memcmp(in + 30, ip, 4) != 0 || in[34] != 8)
		return 0;
	uint32_t iplen = (uint32_t)(in[16] << 8 | in[17]);
	if (iplen < 28 || 14 + iplen > len || iplen > 1500)
		return 0;
	memcpy(out, in + 6, 6);
	memcpy(out + 6, mac, 6);
	memcpy(out + 12, in + 12, 2 + iplen);
	memcpy(out + 26, in + 30, 4);
	memcpy(out + 30, in + 26, 4);
	out[22] = 64;
	put16(out + 24, 0);
	put16(out + 24, csum16(out + 14, 20));
	out[34] = 0;
	put16(out + 36, 0);
	put16(out + 36, csum16(out + 34, iplen - 20));
	return (int)(14 + iplen);
}

/* The reply to an ARP request or ICMP echo request for ip; 0 if none. */
static inline int responder_reply(const uint8_t *in, uint32_t len, const uint8_t mac[6],
			   const uint8_t ip[4], uint8_t *out)
{
	int n = arp_reply(in, len, mac, ip, out);
	return n ? n : icmp_reply(in, len, mac, ip, out);
}

#endif
