/* impair: a user-space netem between two interfaces, on rs_io_afpacket.
 *
 * This machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not
 * set), so the interop tests put this bridge in a middle namespace:
 * every frame read on one side is dropped (loss%), sent twice (dup%),
 * sent at once — overtaking the delayed ones (reorder%) — or held for
 * the delay and sent in order, the way netem's "loss/duplicate/delay/
 * reorder" behave.  Seeded PRNG, so a run is repeatable in what it does
 * to the n-th frame.  Counters on stdout at exit.
 *
 *   impair -a IFA -b IFB [-l LOSS%] [-d DUP%] [-D DELAY_US] [-r REORDER%]
 *          [-s SEED] [-t SECONDS] */
#include "../../src/io_afpacket.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QLEN 8192
#define FMAX 2048
#define BURST 64

struct slot {
	uint64_t t;
	uint32_t len;
	uint8_t data[FMAX];
};

struct dir {
	struct rs_io *in, *out;
	struct slot *q;       /* delay FIFO */
	unsigned head, count;
};

struct imp {
	struct dir d[2];
	double loss, dup, reorder;
	uint64_t delay_ns, rng;
	uint64_t fwd, dropped, duplicated, reordered, qfull, txfail;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double rnd(struct imp *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (double)(m->rng >> 11) / 9007199254740992.0;
}

static void send1(struct imp *m, struct dir *d, uint8_t *p, uint32_t len)
{
	struct rs_frame f = { .data = p, .len = len };
	if (rs_io_afpacket.tx_burst(d->out, &f, 1) == 1)
		m->fwd++;
	else
		m->txfail++;
}

static void enqueue(struct imp *m, struct dir *d, const struct rs_frame *f,
		    uint64_t t)
{
	if (d->count == QLEN || f->len > FMAX) {
		m->qfull++;
		return;
	}
	struct slot *s = &d->q[(d->head + d->count++) % QLEN];
	s->t = t;
	s->len = f->len;
	memcpy(s->data, f->data, f->len);
}

static void impair_frame(struct imp *m, struct dir *d, const struct rs_frame *f,
			 uint64_t now)
{
	int copies = 1;
	if (rnd(m) < m->loss) {
		m->dropped++;
		return;
	}
	if (rnd(m) < m->dup) {
		copies = 2;
		m->duplicated++;
	}
	for (int i = 0; i < copies; i++) {
		if (m->delay_ns == 0 || (d->count > 0 && rnd(m) < m->reorder)) {
			m->reordered += m->delay_ns != 0;
			send1(m, d, f->data, f->len);
		} else {
			enqueue(m, d, f, now + m->delay_ns);
		}
	}
}

static void release_due(struct imp *m, struct dir *d, uint64_t now)
{
	while (d->count > 0 && d->q[d->head].t <= now) {
		send1(m, d, d->q[d->head].data, d->q[d->head].len);
		d->head = (d->head + 1) % QLEN;
		d->count--;
	}
}

static void pump(struct imp *m, struct dir *d)
{
	struct rs_frame fr[BURST];
	uint64_t now = now_ns();
	int n = rs_io_afpacket.rx_burst(d->in, fr, BURST);
	for (int i = 0; i < n; i++)
		impair_frame(m, d, &fr[i], now);
	rs_io_afpacket.rx_release(d->in);
	release_due(m, d, now_ns());
}

static void wait_next(struct imp *m)
{
	struct pollfd p[2];
	uint64_t now = now_ns(), next = now + 20000000u;
	for (int i = 0; i < 2; i++) {
		p[i] = (struct pollfd){ .fd = rs_io_afpacket.wait_fd(m->d[i].in),
					.events = POLLIN };
		if (m->d[i].count && m->d[i].q[m->d[i].head].t < next)
			next = m->d[i].q[m->d[i].head].t;
	}
	if (next <= now)
		return;
	struct timespec ts = { (time_t)((next - now) / 1000000000u),
			       (long)((next - now) % 1000000000u) };
	ppoll(p, 2, &ts, NULL);
}

static struct rs_io *open_if(const char *spec)
{
	struct rs_io_conf c = { .ifname = spec, .nqueues = 1, .ring_frames = 8192 };
	int err;
	struct rs_io *io = rs_io_afpacket.open(&c, &err);
	if (!io)
		fprintf(stderr, "impair: open %s: %s\n", spec, strerror(-err));
	return io;
}

int main(int argc, char **argv)
{
	static struct imp m;
	const char *a = NULL, *b = NULL;
	double secs = 60;
	int opt;
	m.rng = 88172645463325252ull;
	while ((opt = getopt(argc, argv, "a:b:l:d:D:r:s:t:")) != -1) {
		switch (opt) {
		case 'a': a = optarg; break;
		case 'b': b = optarg; break;
		case 'l': m.loss = atof(optarg) / 100; break;
		case 'd': m.dup = atof(optarg) / 100; break;
		case 'D': m.delay_ns = (uint64_t)atol(optarg) * 1000u; break;
		case 'r': m.reorder = atof(optarg) / 100; break;
		case 's': m.rng = (uint64_t)atoll(optarg) | 1; break;
		case 't': secs = atof(optarg); break;
		default: return 2;
		}
	}
	if (!a || !b) {
		fprintf(stderr, "usage: impair -a IFA -b IFB [-l %%] [-d %%] [-D us] [-r %%] [-s seed] [-t s]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct rs_io *ia = open_if(a), *ib = open_if(b);
	m.d[0] = (struct dir){ .in = ia, .out = ib, .q = calloc(QLEN, sizeof(struct slot)) };
	m.d[1] = (struct dir){ .in = ib, .out = ia, .q = calloc(QLEN, sizeof(struct slot)) };
	if (!ia || !ib || !m.d[0].q || !m.d[1].q)
		return 1;
	printf("ready pid %d\n", (int)getpid());
	fflush(stdout);
	for (uint64_t end = now_ns() + (uint64_t)(secs * 1e9); !stop && now_ns() < end;) {
		pump(&m, &m.d[0]);
		pump(&m, &m.d[1]);
		wait_next(&m);
	}
	printf("fwd=%llu\ndropped=%llu\nduplicated=%llu\nreordered=%llu\nqfull=%llu\ntxfail=%llu\n",
	       (unsigned long long)m.fwd, (unsigned long long)m.dropped,
	       (unsigned long long)m.duplicated, (unsigned long long)m.reordered,
	       (unsigned long long)m.qfull, (unsigned long long)m.txfail);
	rs_io_afpacket.close(ia);
	rs_io_afpacket.close(ib);
	free(m.d[0].q);
	free(m.d[1].q);
	return 0;
}
