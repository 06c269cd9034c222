/* Sorted sets of disjoint sequence-number ranges: out-of-order data on
 * the receive side, SACKed data on the send side. */
#ifndef RS_SEQSET_H
#define RS_SEQSET_H

#include <stdint.h>

struct rs_seqrange {
	uint32_t start, end; /* [start, end) */
};

/* Add [start, end), merging overlapping or touching ranges.  RS_ERROR if
 * the set is full and the range would need a new slot. */
int rs_seqset_add(struct rs_seqrange *v, uint8_t *n, uint8_t max,
		  uint32_t start, uint32_t end);
/* Drop everything below seq (ranges straddling it are clipped). */
void rs_seqset_trim(struct rs_seqrange *v, uint8_t *n, uint32_t seq);

#endif
