/* Internet checksum, RFC 1071.  Words are summed in memory (native) order
 * into a 64-bit accumulator; the folded result, stored with memcpy, is
 * right whatever the host byte order (RFC 1071 2.B). */
#include <arpa/inet.h>

#include "common.h"

uint64_t rs_csum_add(uint64_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t w;
	uint32_t h;

	while (len >= 16) {
		uint64_t w2;
		memcpy(&w, p, 8);
		memcpy(&w2, p + 8, 8);
		sum += (w & 0xffffffffu) + (w >> 32) + (w2 & 0xffffffffu) +
		       (w2 >> 32);
		p += 16;
		len -= 16;
	}
	if (len >= 8) {
		memcpy(&w, p, 8);
		sum += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&h, p, 4);
		sum += h;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t s;
		memcpy(&s, p, 2);
		sum += s;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = {p[0], 0};
		uint16_t s;
		memcpy(&s, last, 2);
		sum += s;
	}
	return sum;
}

/* Fold to 16 bits and complement. */
uint16_t rs_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The 12-byte pseudo-header as the three native words it would load as. */
uint64_t rs_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
			uint32_t len)
{
	return (uint64_t)htonl(src) + htonl(dst) +
	       htonl(((uint32_t)proto << 16) | (len & 0xffff));
}
