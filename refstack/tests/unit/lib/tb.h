/* Test bed: two stacks (side 0 = client 198.18.21.1, side 1 = server
 * 198.18.21.2) joined by a memif pair, driven by a virtual clock. */
#ifndef TB_H
#define TB_H

#include <stdint.h>

#include "../../../include/refstack.h"
#include "../../../src/io.h"

#define TB_CLIENT_IP "198.18.21.1"
#define TB_SERVER_IP "198.18.21.2"

struct tb {
	struct rs_memif_pair *pair;
	struct rs_stack *s[2];
	struct rs_core *c[2];
	uint64_t now;
	/* transition trace: last states seen per side */
	char trace[2][64][48];
	int ntrace[2];
};

/* Set before tb_init: the link offloads TCP checksums
 * (rs_memif_set_csum_offload). */
extern int tb_csum_offload;
/* conf_fn (may be NULL) adjusts each side's configuration. */
typedef void (*tb_conf_fn)(int side, struct rs_stack_conf *conf);
int tb_init(struct tb *tb, tb_conf_fn fn);
void tb_fini(struct tb *tb);
/* Poll both sides (time unchanged) until no frame moves. */
void tb_settle(struct tb *tb);
/* Advance the clock by ns in steps, settling at each timer deadline. */
void tb_advance(struct tb *tb, uint64_t ns);
struct sockaddr_in tb_addr(const char *ip, uint16_t port);
/* Client socket connected to server port; settles the handshake. */
int tb_connect(struct tb *tb, uint16_t port);
int tb_listen(struct tb *tb, uint16_t port, int backlog);
/* Did side see "OLD>NEW" in its trace? */
int tb_saw(const struct tb *tb, int side, const char *old, const char *nw);
void tb_trace_clear(struct tb *tb);

#endif
