#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "vc.h"

static const char *const vc_ip[2] = {"198.18.21.1", "198.18.21.2"};

int vc_init(struct vc *v, unsigned n, uint32_t client_feat,
	    uint32_t server_feat, vc_conf_fn fn)
{
	uint32_t feat[2] = {client_feat, server_feat};

	memset(v, 0, sizeof(*v));
	v->now = 1000000000ull;
	if (n == 0 || n > VC_MAX)
		return -1;
	for (int sd = 0; sd < 2; sd++) {
		struct vc_side *s = &v->sd[sd];
		struct rs_stack_conf conf;
		uint32_t r = 1;
		int err = 0;

		rs_stack_conf_init(&conf);
		inet_pton(AF_INET, vc_ip[sd], &conf.addr);
		conf.ncores = n;
		conf.features = feat[sd];
		conf.seed = 7 + (uint64_t)sd;
		if (fn)
			fn(sd, &conf);
		s->s = rs_stack_create(&conf, &err);
		if (!s->s) {
			fprintf(stderr, "vc: rs_stack_create: %d\n", err);
			return -1;
		}
		s->n = n;
		while (r < n)
			r <<= 1;
		s->steer.ncores = n;
		s->steer.rmask = r - 1;
		s->steer.rfd = !!(feat[sd] & RS_FEAT_RFD);
		for (unsigned k = 0; k < n; k++) {
			struct rs_io_conf core = {.queue = 1}, wire = {.queue = 0};
			s->pair[k] = rs_memif_pair_create(n > 4 ? 256 : 1024, 2048);
			if (!s->pair[k])
				return -1;
			core.peer = wire.peer = s->pair[k];
			s->c[k] = rs_core_create(s->s, k, &rs_io_memif, &core,
						 &err);
			s->wire[k] = rs_io_memif.open(&wire, &err);
			if (!s->c[k] || !s->wire[k]) {
				fprintf(stderr, "vc: core %u: %d\n", k, err);
				return -1;
			}
			pthread_mutex_init(&s->mu[k], NULL);
		}
	}
	vc_settle(v);
	return 0;
}

void vc_fini(struct vc *v)
{
	for (int sd = 0; sd < 2; sd++) {
		struct vc_side *s = &v->sd[sd];
		for (unsigned k = 0; k < s->n; k++) {
			if (!s->dead[k])
				rs_core_destroy(s->c[k]);
			if (s->wire[k])
				rs_io_memif.close(s->wire[k]);
			rs_memif_pair_destroy(s->pair[k]);
			pthread_mutex_destroy(&s->mu[k]);
		}
		rs_stack_destroy(s->s);
	}
}

void vc_listening(struct vc *v, int side, uint16_t port)
{
	v->sd[side].steer.listen[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static unsigned live_core(const struct vc_side *s, unsigned k)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!s->dead[(k + i) % s->n] && !s->away[(k + i) % s->n])
			return (k + i) % s->n;
	return k;
}

static void deliver(struct vc_side *d, unsigned k, const struct rs_frame *f)
{
	k = live_core(d, k);
	if (d->dead[k])
		return;
	pthread_mutex_lock(&d->mu[k]);
	rs_io_memif.tx_burst(d->wire[k], f, 1);
	d->pending[k] = 1;
	pthread_mutex_unlock(&d->mu[k]);
}

static int move_from(struct vc *v, int side, unsigned k)
{
	struct vc_side *d = &v->sd[!side];
	struct rs_frame fr[64];
	int n = rs_io_memif.rx_burst(v->sd[side].wire[k], fr, 64);

	for (int i = 0; i < n; i++) {
		uint32_t to = rs_steer_frame(&d->steer, fr[i].data,
					     fr[i].data + fr[i].len);
		/* ARP, ICMP: the first queue, as an RSS NIC does (the
		 * stack copies ARP replies to its other cores) */
		deliver(d, to == RS_STEER_ANY ? 0 : to, &fr[i]);
	}
	if (n > 0)
		rs_io_memif.rx_release(v->sd[side].wire[k]);
	return n > 0 ? n : 0;
}

int vc_step(struct vc *v, int side, unsigned k, uint64_t now)
{
	struct vc_side *s = &v->sd[side];
	int n;

	if (s->dead[k])
		return 0;
	n = rs_poll(s->c[k], now);
	return (n > 0 ? n : 0) + move_from(v, side, k);
}

void vc_settle(struct vc *v)
{
	int quiet = 0;

	for (int i = 0; i < 100000 && quiet < 2; i++) {
		int n = 0;
		for (int sd = 0; sd < 2; sd++)
			for (unsigned k = 0; k < v->sd[sd].n; k++)
				n += vc_step(v, sd, k, v->now);
		v->moved += (uint64_t)n;
		quiet = n ? 0 : quiet + 1;
	}
}

void vc_advance(struct vc *v, uint64_t ns)
{
	uint64_t end = v->now + ns;

	vc_settle(v);
	while (v->now < end) {
		uint64_t next = UINT64_MAX;
		for (int sd = 0; sd < 2; sd++)
			for (unsigned k = 0; k < v->sd[sd].n; k++) {
				uint64_t a;
				if (v->sd[sd].dead[k])
					continue;
				a = rs_poll_at(v->sd[sd].c[k]);
				if (a < next)
					next = a;
			}
		if (next <= v->now)
			next = v->now + 1;
		v->now = next < end ? next : end;
		vc_settle(v);
	}
}

void vc_kill(struct vc *v, int side, unsigned k)
{
	struct vc_side *s = &v->sd[side];

	rs_core_destroy(s->c[k]);
	s->c[k] = NULL;
	s->dead[k] = 1;
}

void vc_member(struct vc *v, int side, unsigned k, int on)
{
	v->sd[side].away[k] = !on;
}

uint64_t vc_counter(const struct vc *v, int side, const char *name)
{
	const struct vc_side *s = &v->sd[side];
	uint64_t sum = 0;
	int idx = -1;

	for (int i = 0; i < RS_NCOUNTERS; i++)
		if (strcmp(rs_counter_names[i], name) == 0)
			idx = i;
	if (idx < 0) {
		fprintf(stderr, "vc: no counter %s\n", name);
		return UINT64_MAX;
	}
	for (unsigned k = 0; k < s->n; k++)
		if (!s->dead[k])
			sum += ((const uint64_t *)(const void *)rs_core_counters(
					s->c[k]))[idx];
	return sum;
}
