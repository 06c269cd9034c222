/* Congestion control: the one table of algorithms (RS_CC_* index it), the
 * names --cc, RS_CC and rsctl use, and what every algorithm shares (the
 * flight, the initial window).  Each algorithm is an ops table in a file
 * of its own: tcp_cc_reno.c (NewReno with PRR), tcp_cc_bbr.c (BBR). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

static const struct rs_cc_ops *const cc_table[RS_CC_COUNT] = {
	[RS_CC_RENO] = &rs_cc_reno,
	[RS_CC_BBR] = &rs_cc_bbr,
};

const char *rs_cc_name(uint32_t cc)
{
	return cc < RS_CC_COUNT ? cc_table[cc]->name : "?";
}

int rs_cc_parse(const char *name, uint32_t *cc, char *err, size_t errlen)
{
	for (uint32_t i = 0; name && i < RS_CC_COUNT; i++)
		if (strcmp(name, cc_table[i]->name) == 0) {
			*cc = i;
			return 0;
		}
	if (err && errlen)
		snprintf(err, errlen, "unknown congestion control '%s' (%s|%s)",
			 name ? name : "", cc_table[0]->name, cc_table[1]->name);
	return -1;
}

int rs_cc_from_env(uint32_t *cc, char *err, size_t errlen)
{
	const char *v = getenv("RS_CC");
	char msg[200];

	if (!v || !*v)
		return 0;
	if (rs_cc_parse(v, cc, msg, sizeof(msg)) == 0)
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "RS_CC: %s", msg);
	return -1;
}

uint32_t rs_cc_flight(const struct rs_tcb *t)
{
	return t->snd_max - t->snd_una;
}

uint32_t rs_cc_initial_window(const struct rs_tcb *t)
{
	uint32_t mss = t->mss;

	if (t->flags & TF_SYN_RETX)
		return mss; /* RFC 6298 5.7 */
	return RS_MIN(RS_TCP_IW_SEGS * mss, RS_MAX(2 * mss, 14600u));
}

/* The stack's algorithm (the MSS is known: called again when it is). */
void rs_cc_init(struct rs_tcb *t)
{
	t->cc = cc_table[t->core->stack->conf.cc];
	t->cwnd = rs_cc_initial_window(t);
	t->ssthresh = 0x7fffffffu;
	t->recover = t->iss;
	t->cwnd_acc = 0;
	t->reo_steps = 1;
	t->dsack_round = t->snd_una;
	t->pacing_rate = 0;
	t->cc->init(t);
}
