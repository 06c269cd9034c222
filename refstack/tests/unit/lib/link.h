/* A simulated path for the memif test bed (rs_memif_set_filter), the way
 * tests/interop/impair.c and a bottleneck behave: each frame may be lost,
 * duplicated, or reordered (sent at once, overtaking the frames still on
 * their way), else it takes the propagation delay; the data direction
 * (side 1, the server) may also pass a bottleneck of `rate` bytes/s with
 * a drop-tail queue of queue_ns.  `both`: the ACK direction (side 0) is
 * impaired too (loss, duplication, reordering; never the bottleneck).
 * Seeded xorshift, so a run is repeatable. */
#ifndef LINK_H
#define LINK_H

#include <stdint.h>

struct link {
	const uint64_t *now;       /* the test bed's clock (with rate) */
	uint64_t rate;             /* bottleneck, bytes/s; 0: none */
	uint64_t prop_ns;          /* one way */
	uint64_t queue_ns;         /* drop-tail: the queue holds this long */
	unsigned loss, dup, reorder; /* per mille */
	int both;                  /* impair the ACKs too */
	uint64_t rng;              /* seed, non-zero */
	uint64_t free_at;          /* the bottleneck is busy until then */
	uint64_t max_queue_ns;     /* deepest queue seen */
};

int link_filter(void *arg, unsigned side, const uint8_t *frame, uint32_t len,
		uint64_t *delay);

#endif
