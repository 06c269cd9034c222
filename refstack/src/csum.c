/* Internet checksum, RFC 1071.  64-bit words are summed in memory
 * (native) order with end-around carry; the folded result, stored with
 * memcpy, is right whatever the host byte order (RFC 1071 2.B). */
#include <arpa/inet.h>

#include "common.h"

/* One's complement addition of 64-bit words: the carry out goes back in
 * (end-around carry), so the folded sum is that of the 16-bit words. */
static inline uint64_t add_c(uint64_t sum, uint64_t w)
{
	sum += w;
	return sum + (sum < w);
}

/* 32 bytes: four words.  On x86-64 one add-with-carry chain, the carry
 * of each addition going into the next (5 instructions, as Linux's
 * csum_partial; the compiler's version tests the carry after each). */
static inline uint64_t add32(uint64_t sum, const uint8_t *p)
{
#if defined(__x86_64__)
	__asm__("addq 0(%[p]), %[s]\n\t"
		"adcq 8(%[p]), %[s]\n\t"
		"adcq 16(%[p]), %[s]\n\t"
		"adcq 24(%[p]), %[s]\n\t"
		"adcq $0, %[s]"
		: [s] "+r"(sum)
		: [p] "r"(p), "m"(*(const uint8_t(*)[32])p)
		: "cc");
	return sum;
#else
	uint64_t w[4];

	memcpy(w, p, 32);
	return add_c(add_c(add_c(add_c(sum, w[0]), w[1]), w[2]), w[3]);
#endif
}

uint64_t rs_csum_add(uint64_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t w;
	uint32_t h;

	for (; len >= 32; p += 32, len -= 32)
		sum = add32(sum, p);
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		sum = add_c(sum, w);
	}
	if (len >= 4) {
		memcpy(&h, p, 4);
		sum = add_c(sum, h);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t s;
		memcpy(&s, p, 2);
		sum = add_c(sum, s);
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = {p[0], 0};
		uint16_t s;
		memcpy(&s, last, 2);
		sum = add_c(sum, s);
	}
	return sum;
}

/* Fold to 16 bits and complement.  Each halving adds the word to itself
 * rotated by half its width: the upper half is then the sum of the two
 * halves with the end-around carry (the lower half's carry out lands in
 * it), as Linux's csum_fold. */
uint16_t rs_csum_fold(uint64_t sum)
{
	uint32_t s;

	sum += (sum >> 32) | (sum << 32);
	s = (uint32_t)(sum >> 32);
	s += (s >> 16) | (s << 16);
	return (uint16_t)~(s >> 16);
}

/* The 12-byte pseudo-header as the three native words it would load as. */
uint64_t rs_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
			uint32_t len)
{
	return (uint64_t)htonl(src) + htonl(dst) +
	       htonl(((uint32_t)proto << 16) | (len & 0xffff));
}
