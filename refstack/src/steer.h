/* Flow steering: which core a received frame belongs to.  One pure
 * function, shared by the software path (poll.c), the memif backend, the
 * classic-BPF program of the afpacket fanout group (steer_bpf.c generates
 * the same computation, tests/unit/test_steer.c compares them frame by
 * frame) and an XDP program: no libc, no globals, bounds checked against
 * the end pointer the way the eBPF verifier wants.
 *
 * Without RFD a frame goes where a 4-tuple hash puts it (as RSS would):
 *     core = hash(saddr, daddr, sport, dport) % ncores.
 * With RFD (receive flow deliver, DESIGN.md), R = ncores rounded up to a
 * power of two:
 *     source port < 1024          reply to an active connection: core =
 *                                  destination port & (R - 1)
 *     destination port < 1024     passive: the hash above
 *     a listener on the dest port passive: the hash above
 *     otherwise                   active: destination port & (R - 1)
 * (a result >= ncores is folded back with % ncores: only ports chosen by
 * connect() on core k are = k mod R, and k < ncores).
 *
 * Frames that are not IPv4/TCP (ARP, ICMP, fragments) return
 * RS_STEER_ANY: processed wherever they land. */
#ifndef RS_STEER_H
#define RS_STEER_H

#ifndef RS_STEER_NO_STDINT
#include <stdint.h>
#endif

#define RS_STEER_ANY 0xffffffffu

/* Relaxed read of the listener bitmap, which other cores update (an XDP
 * program may define it as a plain load). */
#ifndef RS_STEER_LOAD8
#define RS_STEER_LOAD8(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#endif

struct rs_steer {
	uint32_t ncores;           /* >= 1 */
	uint32_t rmask;            /* R - 1 */
	uint32_t rfd;              /* classify as above; 0: hash only */
	uint8_t listen[8192];      /* bit p: a listener on TCP port p */
};

/* The 4-tuple hash (32-bit arithmetic only, as classic BPF has). */
static inline uint32_t rs_steer_hash(uint32_t saddr, uint32_t daddr,
				     uint32_t sport, uint32_t dport)
{
	uint32_t h = saddr ^ daddr ^ ((sport << 16) | dport);

	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

static inline int rs_steer_listening(const struct rs_steer *s, uint32_t port)
{
	return (RS_STEER_LOAD8(&s->listen[(port >> 3) & 8191]) >> (port & 7)) &
	       1;
}

/* RFD's classification of a TCP segment by its ports (DESIGN.md), the one
 * rule every steering point uses (this file, the classic-BPF program of
 * steer_bpf.c, the XDP program bpf/rs_xsk.bpf.c):
 *   RS_RFD_ACTIVE   a reply to an active connection: core = dport & (R-1)
 *   RS_RFD_PASSIVE  the passive side: wherever the 4-tuple hash puts it
 *   RS_RFD_ASK      passive if a listener is on dport, else active */
enum { RS_RFD_ACTIVE = 1, RS_RFD_PASSIVE = 2, RS_RFD_ASK = 3 };

static inline int rs_rfd_class(uint32_t sport, uint32_t dport)
{
	if (sport < 1024)
		return RS_RFD_ACTIVE;
	if (dport < 1024)
		return RS_RFD_PASSIVE;
	return RS_RFD_ASK;
}

/* The core an active connection's port belongs to, before the fold
 * below (rmask = R - 1). */
static inline uint32_t rs_rfd_core(uint32_t dport, uint32_t rmask)
{
	return dport & rmask;
}

/* The core for a segment from (saddr, sport) to (daddr, dport); host
 * byte order. */
static inline uint32_t rs_steer_tuple(const struct rs_steer *s, uint32_t saddr,
				      uint32_t daddr, uint32_t sport,
				      uint32_t dport)
{
	int cls = s->rfd ? rs_rfd_class(sport, dport) : RS_RFD_PASSIVE;
	uint32_t core;

	if (cls == RS_RFD_ASK)
		cls = rs_steer_listening(s, dport) ? RS_RFD_PASSIVE
						   : RS_RFD_ACTIVE;
	if (cls == RS_RFD_ACTIVE)
		core = rs_rfd_core(dport, s->rmask);
	else
		core = rs_steer_hash(saddr, daddr, sport, dport);
	return core % s->ncores;
}

/* The core for an Ethernet frame [p, end), or RS_STEER_ANY. */
static inline uint32_t rs_steer_frame(const struct rs_steer *s,
				      const uint8_t *p, const uint8_t *end)
{
	const uint8_t *l4;
	uint32_t ihl;

	if (p + 34 > end || p[12] != 0x08 || p[13] != 0x00 ||
	    (p[14] >> 4) != 4 || p[23] != 6)
		return RS_STEER_ANY;
	if ((p[20] & 0x3f) | p[21]) /* MF or a fragment offset */
		return RS_STEER_ANY;
	ihl = (uint32_t)(p[14] & 0x0f) << 2;
	if (ihl < 20)
		return RS_STEER_ANY;
	l4 = p + 14 + ihl;
	if (l4 + 4 > end)
		return RS_STEER_ANY;
	return rs_steer_tuple(s,
			      (uint32_t)p[26] << 24 | (uint32_t)p[27] << 16 |
				      (uint32_t)p[28] << 8 | p[29],
			      (uint32_t)p[30] << 24 | (uint32_t)p[31] << 16 |
				      (uint32_t)p[32] << 8 | p[33],
			      (uint32_t)l4[0] << 8 | l4[1],
			      (uint32_t)l4[2] << 8 | l4[3]);
}

#endif
