/* The simulated path of link.h. */
#include <stddef.h>

#include "../../../include/refstack.h"
#include "link.h"

static unsigned rnd(struct link *l)
{
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return (unsigned)(l->rng >> 20) % 1000u;
}

/* The bottleneck's queue: the frame's wait there, or -1 when full. */
static int64_t bottleneck(struct link *l, uint32_t len)
{
	uint64_t now = *l->now, start, q;

	start = l->free_at > now ? l->free_at : now;
	q = start - now;
	if (q > l->queue_ns)
		return -1;
	if (q > l->max_queue_ns)
		l->max_queue_ns = q;
	l->free_at = start + (uint64_t)len * 1000000000ull / l->rate;
	return (int64_t)(l->free_at - now);
}

int link_filter(void *arg, unsigned side, const uint8_t *frame, uint32_t len,
		uint64_t *delay)
{
	struct link *l = arg;
	int impaired = side == 1 || l->both, v = RS_MEMIF_DELAY;
	int64_t q = 0;

	(void)frame;
	if (impaired && l->loss && rnd(l) < l->loss)
		return RS_MEMIF_DROP;
	if (impaired && l->dup && rnd(l) < l->dup)
		v = RS_MEMIF_DUP;
	if (side == 1 && l->rate && (q = bottleneck(l, len)) < 0)
		return RS_MEMIF_DROP;
	if (impaired && l->reorder && rnd(l) < l->reorder)
		*delay = 1; /* ahead of those still on their way */
	else
		*delay = (uint64_t)q + l->prop_ns;
	return v;
}
