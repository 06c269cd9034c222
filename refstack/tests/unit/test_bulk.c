/* Bulk transfers over memif, both directions at once, compared byte for
 * byte: clean link, then a link that drops, duplicates and reorders
 * (delays) frames.  Exercises window scaling, out-of-order queueing, fast
 * retransmit / NewReno and RTO. */
#include <errno.h>
#include <string.h>

#include "lib/t.h"
#include "lib/tb.h"

struct impair {
	uint64_t rng;
	unsigned drop_pct, dup_pct, delay_pct;
	unsigned frames;
};

static uint32_t rnd(struct impair *im)
{
	im->rng ^= im->rng << 13;
	im->rng ^= im->rng >> 7;
	im->rng ^= im->rng << 17;
	return (uint32_t)(im->rng >> 16);
}

static int filter(void *arg, unsigned side, const uint8_t *f, uint32_t len,
		  uint64_t *delay)
{
	struct impair *im = arg;
	uint32_t r = rnd(im) % 100;

	(void)side;
	(void)f;
	(void)len;
	im->frames++;
	if (r < im->drop_pct)
		return RS_MEMIF_DROP;
	if (r < im->drop_pct + im->dup_pct)
		return RS_MEMIF_DUP;
	if (r < im->drop_pct + im->dup_pct + im->delay_pct) {
		*delay = 1000000ull + (rnd(im) % 4000000ull);
		return RS_MEMIF_DELAY;
	}
	return RS_MEMIF_PASS;
}

static uint8_t pat(uint64_t off, unsigned dir)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ dir;
	return (uint8_t)(x >> 56);
}

struct flow {
	struct rs_core *tx, *rx;
	int txfd, rxfd;
	uint64_t sent, rcvd, total;
	unsigned dir;
	int bad, closed, eof;
};

static uint64_t pump(struct flow *f)
{
	uint64_t before = f->sent + f->rcvd;
	uint8_t buf[65536];
	ssize_t n;

	while (f->sent < f->total) {
		size_t want = sizeof(buf);
		if (want > f->total - f->sent)
			want = (size_t)(f->total - f->sent);
		for (size_t i = 0; i < want; i++)
			buf[i] = pat(f->sent + i, f->dir);
		n = rs_send(f->tx, f->txfd, buf, want, 0);
		if (n <= 0)
			break;
		f->sent += (uint64_t)n;
	}
	if (f->sent == f->total && !f->closed) {
		rs_shutdown(f->tx, f->txfd, SHUT_WR);
		f->closed = 1;
	}
	for (;;) {
		n = rs_recv(f->rx, f->rxfd, buf, sizeof(buf), 0);
		if (n == 0)
			f->eof = 1;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(f->rcvd + (uint64_t)i, f->dir))
				f->bad++;
		f->rcvd += (uint64_t)n;
	}
	return f->sent + f->rcvd - before;
}

static int transfer(struct tb *tb, uint64_t bytes, uint64_t limit_ns,
		    int bidir, const char *what)
{
	int lfd = tb_listen(tb, 5001, 16);
	int cfd = tb_connect(tb, 5001);
	int sfd = rs_accept(tb->c[1], lfd, NULL, NULL);
	struct flow up = {tb->c[0], tb->c[1], cfd, sfd, 0, 0, bytes, 1, 0, 0, 0};
	struct flow down = {tb->c[1], tb->c[0], sfd, cfd, 0, 0, bytes, 2, 0, 0, 0};
	uint64_t start = tb->now;

	T_CHECK(sfd > 0, "%s: connection accepted", what);
	if (sfd <= 0)
		return 0;
	while (!(up.eof && down.eof) && tb->now - start < limit_ns) {
		uint64_t moved = pump(&up);
		if (bidir)
			moved += pump(&down);
		else if (!down.closed) {
			rs_shutdown(tb->c[1], sfd, SHUT_WR);
			down.closed = down.eof = 1;
			down.rcvd = bytes;
		}
		if (moved)
			tb_settle(tb);
		else
			tb_advance(tb, 1000000);
	}
	T_CHECK(up.rcvd == bytes && up.bad == 0 && up.eof,
		"%s: client->server %llu/%llu bytes, %d bad, eof %d", what,
		(unsigned long long)up.rcvd, (unsigned long long)bytes, up.bad,
		up.eof);
	T_CHECK(down.rcvd == bytes && down.bad == 0 && down.eof,
		"%s: server->client %llu/%llu bytes, %d bad, eof %d", what,
		(unsigned long long)down.rcvd, (unsigned long long)bytes,
		down.bad, down.eof);
	printf("# %s: %.3f s virtual\n", what, (double)(tb->now - start) / 1e9);
	rs_close(tb->c[0], cfd);
	rs_close(tb->c[1], sfd);
	rs_close(tb->c[1], lfd);
	tb_advance(tb, 3000000000ull);
	return up.rcvd == bytes && down.rcvd == bytes && !up.bad && !down.bad;
}

int main(void)
{
	struct tb tb;
	struct impair im = {.rng = 0x1234567, .drop_pct = 2, .dup_pct = 1,
			    .delay_pct = 2};
	const struct rs_core_counters *cc, *sc;
	struct rs_table_sizes ts;

	if (tb_init(&tb, NULL))
		return 1;
	transfer(&tb, 8u << 20, 60000000000ull, 1, "clean, both ways");
	cc = rs_core_counters(tb.c[0]);
	sc = rs_core_counters(tb.c[1]);
	T_CHECK(cc->tcp_retrans_segs == 0 && sc->tcp_retrans_segs == 0,
		"clean: no retransmissions (%llu, %llu)",
		(unsigned long long)cc->tcp_retrans_segs,
		(unsigned long long)sc->tcp_retrans_segs);
	tb_fini(&tb);

	if (tb_init(&tb, NULL))
		return 1;
	rs_memif_set_filter(tb.pair, filter, &im);
	transfer(&tb, 4u << 20, 300000000000ull, 0,
		 "lossy one way (2% drop, 1% dup, 2% reorder)");
	transfer(&tb, 1u << 20, 300000000000ull, 1,
		 "lossy both ways (2% drop, 1% dup, 2% reorder)");
	cc = rs_core_counters(tb.c[0]);
	sc = rs_core_counters(tb.c[1]);
	T_CHECK(cc->tcp_fast_retrans + sc->tcp_fast_retrans > 0,
		"lossy: fast retransmits (NewReno) happened (%llu)",
		(unsigned long long)(cc->tcp_fast_retrans + sc->tcp_fast_retrans));
	T_CHECK(cc->tcp_ooo_segs + sc->tcp_ooo_segs > 0,
		"lossy: out-of-order segments were queued (%llu)",
		(unsigned long long)(cc->tcp_ooo_segs + sc->tcp_ooo_segs));
	T_CHECK(cc->tcp_dup_segs + sc->tcp_dup_segs > 0,
		"lossy: duplicate segments were recognised (%llu)",
		(unsigned long long)(cc->tcp_dup_segs + sc->tcp_dup_segs));
	for (int side = 0; side < 2; side++) {
		const uint64_t *v = (const uint64_t *)rs_core_counters(tb.c[side]);
		printf("# side %d:", side);
		for (int i = 0; i < RS_NCOUNTERS; i++)
			if (v[i] && strncmp(rs_counter_names[i], "tcp_", 4) == 0)
				printf(" %s=%llu", rs_counter_names[i] + 4,
				       (unsigned long long)v[i]);
		printf("\n");
	}
	rs_core_tables(tb.c[0], &ts);
	T_CHECK(ts.established == 0, "lossy: client tables empty afterwards");
	rs_memif_set_filter(tb.pair, NULL, NULL);
	tb_fini(&tb);
	return t_summary();
}
