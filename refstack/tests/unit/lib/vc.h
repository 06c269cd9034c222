/* Virtual cores: a client stack and a server stack of N cores each (one
 * process), every core on its own memif pair to a switch that steers each
 * frame to a core of the other stack the way the I/O layer would
 * (src/steer.h: the 4-tuple hash, or RFD's classifier when the receiving
 * stack has `rfd`; ARP and other non-TCP frames to the first live core,
 * as an RSS NIC's queue 0).  Driven
 * by one thread with a virtual clock (vc_settle), or by one thread per
 * core pair (vc_step: each thread moves the frames its own cores sent;
 * the switch serialises producers into a destination ring). */
#ifndef VC_H
#define VC_H

#include <pthread.h>
#include <stdint.h>

#include "../../../include/refstack.h"
#include "../../../src/io.h"
#include "../../../src/steer.h"

#define VC_MAX 32
#define VC_CLIENT 0
#define VC_SERVER 1

struct vc_side {
	struct rs_stack *s;
	unsigned n;
	struct rs_core *c[VC_MAX];
	struct rs_memif_pair *pair[VC_MAX];
	struct rs_io *wire[VC_MAX];
	pthread_mutex_t mu[VC_MAX];
	uint8_t dead[VC_MAX];
	uint8_t away[VC_MAX];      /* polled, but not in the fanout group */
	uint8_t pending[VC_MAX];   /* frames delivered since its last poll */
	struct rs_steer steer;
};

struct vc {
	struct vc_side sd[2];
	uint64_t now;
	uint64_t moved;
};

typedef void (*vc_conf_fn)(int side, struct rs_stack_conf *conf);
/* n cores per side; features per side; fn may adjust each conf. */
int vc_init(struct vc *v, unsigned n, uint32_t client_feat,
	    uint32_t server_feat, vc_conf_fn fn);
void vc_fini(struct vc *v);
/* The switch's classifier learns that side listens on port. */
void vc_listening(struct vc *v, int side, uint16_t port);
/* Poll core k of side at now and move what it sent; frames moved. */
int vc_step(struct vc *v, int side, unsigned k, uint64_t now);
/* Every live core of both sides, until no frame moves (clock unchanged). */
void vc_settle(struct vc *v);
/* Advance the virtual clock by ns, settling at each timer deadline. */
void vc_advance(struct vc *v, uint64_t ns);
/* Destroy core k of side (the fanout member goes: its frames go to the
 * next live core). */
void vc_kill(struct vc *v, int side, unsigned k);
/* Core k of side leaves (on 0) or joins (on 1) the fanout group: while
 * out, the frames steered to it go to the next member, as the kernel
 * folds a fanout program's answer by the number of members. */
void vc_member(struct vc *v, int side, unsigned k, int on);
/* Sum of counter name over the live cores of side. */
uint64_t vc_counter(const struct vc *v, int side, const char *name);

#endif
