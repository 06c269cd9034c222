/* Internet checksum, RFC 1071, summed 32 bits at a time. */
#include "common.h"

uint64_t rs_csum_add(uint64_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint32_t w;

	while (len >= 4) {
		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = {p[0], 0};
		uint16_t h;
		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

/* Fold to 16 bits and complement; the result is in network byte order
 * in memory when stored with memcpy. */
uint16_t rs_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint64_t rs_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
			uint32_t len)
{
	uint8_t ph[12];

	rs_put32(ph, src);
	rs_put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = proto;
	rs_put16(ph + 10, (uint16_t)len);
	return rs_csum_add(0, ph, sizeof(ph));
}
