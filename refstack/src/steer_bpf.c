/* Code generation of the steering program, instruction for instruction
 * the computation of steer.h (tests/interop/steer-bpf.sh runs it in the
 * kernel's fanout against the C function, frame by frame).  Layout:
 *
 *   checks: IPv4, TCP, not a fragment, IHL >= 20      else -> ANY
 *   M[0] = source port, M[1] = destination port
 *   rfd:   sport < 1024 -> ACTIVE; dport < 1024 -> PASSIVE;
 *          dport == a listening port (>= 1024) -> PASSIVE; -> ACTIVE
 *   ACTIVE:  return (dport & rmask) % ncores
 *   PASSIVE: return hash(saddr, daddr, sport, dport) % ncores
 *   ANY:     return 0
 *
 * Conditional jumps reach 255 instructions at most, so every jump to a
 * label is a conditional skip over an unconditional "ja LABEL" (32-bit
 * offset); the listening ports are tested in blocks whose hits jump to
 * a "ja PASSIVE" right after the block.  Loads are relative to the
 * Ethernet header (SKF_LL_OFF), as the C function's are. */
#include <errno.h>

#include "steer_bpf.h"

#define BLOCK 200
/* Offsets from the Ethernet header whatever the kernel's skb->data is (the
 * fanout hook sees the network header first, a socket filter the MAC). */
#define LL ((uint32_t)SKF_LL_OFF)
#define MAXJA 64

enum { L_ANY, L_ACTIVE, L_PASSIVE, L_N };

struct gen {
	struct sock_filter *p;
	unsigned n, max;
	int overflow;
	unsigned ja[MAXJA], ja_label[MAXJA], nja;
	unsigned label[L_N];
};

static unsigned emit(struct gen *g, uint16_t code, uint8_t jt, uint8_t jf,
		     uint32_t k)
{
	if (g->n >= g->max) {
		g->overflow = 1;
		return g->n;
	}
	g->p[g->n] = (struct sock_filter){code, jt, jf, k};
	return g->n++;
}

/* "ja label", patched once the labels are known. */
static void jump(struct gen *g, unsigned label)
{
	unsigned at = emit(g, BPF_JMP | BPF_JA, 0, 0, 0);

	if (g->nja == MAXJA) {
		g->overflow = 1;
		return;
	}
	g->ja[g->nja] = at;
	g->ja_label[g->nja++] = label;
}

/* Go on if (A op k) is true, else jump to label. */
static void require(struct gen *g, uint16_t op, uint32_t k, unsigned label)
{
	emit(g, BPF_JMP | op | BPF_K, 1, 0, k);
	jump(g, label);
}

static void header_checks(struct gen *g)
{
	emit(g, BPF_LD | BPF_H | BPF_ABS, 0, 0, LL + 12);
	require(g, BPF_JEQ, 0x0800, L_ANY);
	emit(g, BPF_LD | BPF_B | BPF_ABS, 0, 0, LL + 14);
	emit(g, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf0);
	require(g, BPF_JEQ, 0x40, L_ANY);
	emit(g, BPF_LD | BPF_B | BPF_ABS, 0, 0, LL + 23);
	require(g, BPF_JEQ, 6, L_ANY);
	emit(g, BPF_LD | BPF_H | BPF_ABS, 0, 0, LL + 20);
	emit(g, BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x3fff); /* a fragment */
	jump(g, L_ANY);
	emit(g, BPF_LDX | BPF_B | BPF_MSH, 0, 0, LL + 14); /* X = IHL * 4 */
	emit(g, BPF_MISC | BPF_TXA, 0, 0, 0);
	require(g, BPF_JGE, 20, L_ANY);
	emit(g, BPF_LD | BPF_H | BPF_IND, 0, 0, LL + 14); /* source port */
	emit(g, BPF_ST, 0, 0, 0);
	emit(g, BPF_LD | BPF_H | BPF_IND, 0, 0, LL + 16); /* destination port */
	emit(g, BPF_ST, 0, 0, 1);
}

static void rfd_checks(struct gen *g, const struct rs_steer *s)
{
	unsigned inblock = 0, first = 0;

	emit(g, BPF_LD | BPF_MEM, 0, 0, 0);
	require(g, BPF_JGE, 1024, L_ACTIVE);
	emit(g, BPF_LD | BPF_MEM, 0, 0, 1);
	require(g, BPF_JGE, 1024, L_PASSIVE);
	for (uint32_t port = 1024; port < 65536 && !g->overflow; port++) {
		if (!rs_steer_listening(s, port))
			continue;
		if (!inblock)
			first = g->n;
		emit(g, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, port);
		if (++inblock < BLOCK && port < 65535)
			continue;
		/* the block's hits skip to the "ja PASSIVE" after "ja +1" */
		for (unsigned i = first; i < g->n; i++)
			g->p[i].jt = (uint8_t)(g->n - i);
		emit(g, BPF_JMP | BPF_JA, 0, 0, 1);
		jump(g, L_PASSIVE);
		inblock = 0;
	}
	if (inblock) {
		for (unsigned i = first; i < g->n; i++)
			g->p[i].jt = (uint8_t)(g->n - i);
		emit(g, BPF_JMP | BPF_JA, 0, 0, 1);
		jump(g, L_PASSIVE);
	}
	jump(g, L_ACTIVE);
}

static void active(struct gen *g, const struct rs_steer *s)
{
	g->label[L_ACTIVE] = g->n;
	emit(g, BPF_LD | BPF_MEM, 0, 0, 1);
	emit(g, BPF_ALU | BPF_AND | BPF_K, 0, 0, s->rmask);
	emit(g, BPF_ALU | BPF_MOD | BPF_K, 0, 0, s->ncores);
	emit(g, BPF_RET | BPF_A, 0, 0, 0);
}

static void passive(struct gen *g, const struct rs_steer *s)
{
	g->label[L_PASSIVE] = g->n;
	emit(g, BPF_LD | BPF_W | BPF_ABS, 0, 0, LL + 26);  /* saddr */
	emit(g, BPF_MISC | BPF_TAX, 0, 0, 0);
	emit(g, BPF_LD | BPF_W | BPF_ABS, 0, 0, LL + 30);  /* ^ daddr */
	emit(g, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(g, BPF_ST, 0, 0, 2);
	emit(g, BPF_LD | BPF_MEM, 0, 0, 0);           /* ^ sport << 16 | dport */
	emit(g, BPF_ALU | BPF_LSH | BPF_K, 0, 0, 16);
	emit(g, BPF_LDX | BPF_MEM, 0, 0, 1);
	emit(g, BPF_ALU | BPF_OR | BPF_X, 0, 0, 0);
	emit(g, BPF_LDX | BPF_MEM, 0, 0, 2);
	emit(g, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(g, BPF_MISC | BPF_TAX, 0, 0, 0);         /* h ^= h >> 16 */
	emit(g, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16);
	emit(g, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(g, BPF_ALU | BPF_MUL | BPF_K, 0, 0, 0x45d9f3bu);
	emit(g, BPF_MISC | BPF_TAX, 0, 0, 0);         /* h ^= h >> 16 */
	emit(g, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16);
	emit(g, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(g, BPF_ALU | BPF_MOD | BPF_K, 0, 0, s->ncores);
	emit(g, BPF_RET | BPF_A, 0, 0, 0);
}

int rs_steer_bpf(const struct rs_steer *s, struct sock_filter *prog,
		 unsigned max)
{
	struct gen g = {.p = prog, .max = max};

	if (!s->ncores)
		return -EINVAL;
	header_checks(&g);
	if (s->rfd)
		rfd_checks(&g, s);
	else
		jump(&g, L_PASSIVE);
	active(&g, s);
	passive(&g, s);
	g.label[L_ANY] = g.n;
	emit(&g, BPF_RET | BPF_K, 0, 0, 0);
	if (g.overflow)
		return -E2BIG;
	for (unsigned i = 0; i < g.nja; i++)
		g.p[g.ja[i]].k = g.label[g.ja_label[i]] - g.ja[i] - 1;
	return (int)g.n;
}
