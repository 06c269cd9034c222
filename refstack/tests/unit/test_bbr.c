/* BBR's model on a virtual clock, through a memif link with a bottleneck:
 * the server's data leaves at a fixed rate through a drop-tail queue and
 * takes a fixed propagation delay each way.  The bandwidth and min-RTT
 * estimates converge to the link's, BBR keeps the queue short where reno
 * fills it, random loss does not collapse BBR's rate (it does reno's),
 * ProbeRTT comes when the min RTT is 10 s old and the flow recovers from
 * it, reordering and duplication do not starve the pipe, and every
 * transfer is byte-exact. */
#include <arpa/inet.h>
#include <string.h>

#include "lib/link.h"
#include "lib/t.h"
#include "lib/tb.h"

#define MS 1000000ull
#define STEP (MS / 4)

static uint32_t conf_cc;

static void cc_conf(int side, struct rs_stack_conf *conf)
{
	(void)side;
	conf->cc = conf_cc;
	conf->sndbuf = conf->rcvbuf = 1u << 20;
}

static struct rs_sock_info info;

static int grab(const struct rs_sock_info *i, void *arg)
{
	(void)arg;
	if (i->fd >= 0 && strcmp(i->state, "LISTEN"))
		info = *i;
	return 0;
}

struct run {
	uint64_t bytes;            /* received, checked */
	int bad;                   /* bytes that differ from the pattern */
	double secs;               /* virtual */
	struct rs_sock_info last;  /* the sender at the end */
	uint32_t min_cwnd_probe_rtt; /* smallest cwnd seen in ProbeRTT */
	uint32_t srtt_max_us;      /* after the first second */
	uint64_t probe_rtts, rtos;
	int probe_bw_after_probe_rtt; /* back in ProbeBW after ProbeRTT */
};

/* The server sends bytes (or for secs of virtual time) to the client. */
static void transfer(struct link *l, uint32_t cc, uint64_t bytes,
		     uint64_t max_ns, struct run *out)
{
	static uint8_t buf[65536];
	struct tb tb;
	uint64_t sent = 0, rcvd = 0, start;
	int lfd, cfd, sfd, seen_probe_rtt = 0;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	out->min_cwnd_probe_rtt = UINT32_MAX;
	conf_cc = cc;
	if (tb_init(&tb, cc_conf))
		return;
	l->now = &tb.now;
	lfd = tb_listen(&tb, 5001, 16);
	cfd = tb_connect(&tb, 5001);
	sfd = rs_accept(tb.c[1], lfd, NULL, NULL);
	rs_memif_set_filter(tb.pair, link_filter, l);
	start = tb.now;
	while (sfd >= 0 && rcvd < bytes && tb.now - start < max_ns) {
		for (; sent < bytes; sent += (uint64_t)n) {
			size_t want = sizeof(buf) < bytes - sent ? sizeof(buf)
								 : bytes - sent;
			for (size_t i = 0; i < want; i++)
				buf[i] = (uint8_t)((sent + i) * 7);
			n = rs_send(tb.c[1], sfd, buf, want, 0);
			if (n <= 0)
				break;
		}
		while ((n = rs_recv(tb.c[0], cfd, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				out->bad += buf[i] !=
					    (uint8_t)((rcvd + (uint64_t)i) * 7);
			rcvd += (uint64_t)n;
		}
		tb_advance(&tb, STEP);
		rs_core_foreach_socket(tb.c[1], grab, NULL);
		if (!strcmp(info.cc_mode, "probe_rtt")) {
			seen_probe_rtt = 1;
			if (info.cwnd < out->min_cwnd_probe_rtt)
				out->min_cwnd_probe_rtt = info.cwnd;
		} else if (seen_probe_rtt && !strcmp(info.cc_mode, "probe_bw")) {
			out->probe_bw_after_probe_rtt = 1;
		}
		if (tb.now - start > 1000 * MS && info.srtt_us > out->srtt_max_us)
			out->srtt_max_us = info.srtt_us;
	}
	out->bytes = rcvd;
	out->secs = (double)(tb.now - start) / 1e9;
	out->last = info;
	if (!out->last.cc)
		out->last.cc = "";
	out->probe_rtts = rs_core_counters(tb.c[1])->tcp_bbr_probe_rtt;
	out->rtos = rs_core_counters(tb.c[1])->tcp_rto_expired;
	rs_memif_set_filter(tb.pair, NULL, NULL);
	tb_fini(&tb);
}

/* 2 MB/s (16 Mbit/s) bottleneck, 10 ms each way, a 40 ms queue. */
static struct link path(unsigned loss)
{
	return (struct link){.rate = 2000000, .prop_ns = 10 * MS,
			     .queue_ns = 40 * MS, .loss = loss,
			     .rng = 0x9e3779b97f4a7c15ull};
}

/* payload rate of a full link: 1448-byte segments in 1514-byte frames */
#define GOODPUT(rate) ((double)(rate) * 1448.0 / 1514.0)

static void t_model_converges(void)
{
	struct link l = path(0);
	struct run r, reno;
	double bw, good;

	transfer(&l, RS_CC_BBR, 6u << 20, 10000 * MS, &r);
	bw = (double)r.last.bw;
	good = (double)r.bytes / r.secs;
	T_CHECK(r.bytes == 6u << 20 && !r.bad, "bbr: 6 MiB byte-exact (%llu)",
		(unsigned long long)r.bytes);
	T_CHECK(!strcmp(r.last.cc, "bbr") && !strcmp(r.last.cc_mode, "probe_bw"),
		"bbr: Startup and Drain done, in ProbeBW (%s %s)", r.last.cc,
		r.last.cc_mode);
	T_CHECK(bw > 0.85 * GOODPUT(l.rate) && bw < 1.10 * GOODPUT(l.rate),
		"bbr: bandwidth estimate %.2f MB/s converges to the link's "
		"%.2f MB/s", bw / 1e6, GOODPUT(l.rate) / 1e6);
	T_CHECK(r.last.min_rtt_us >= 20000 && r.last.min_rtt_us <= 23000,
		"bbr: min RTT estimate %u us converges to the path's 20 ms "
		"(+ one frame's serialisation)", r.last.min_rtt_us);
	T_CHECK(r.last.pacing_rate > 0.8 * bw && r.last.pacing_rate < 1.3 * bw,
		"bbr: paced at about the estimate (%.2f MB/s)",
		(double)r.last.pacing_rate / 1e6);
	T_CHECK(good > 0.85 * GOODPUT(l.rate),
		"bbr: goodput %.2f MB/s, at least 85 %% of the link", good / 1e6);
	l = path(0);
	transfer(&l, RS_CC_RENO, 6u << 20, 10000 * MS, &reno);
	T_CHECK(reno.bytes == 6u << 20 && !reno.bad, "reno: 6 MiB byte-exact");
	T_CHECK(r.srtt_max_us < 30000 && reno.srtt_max_us > 40000,
		"bbr keeps the queue short: max srtt %u us (20 ms path), reno "
		"fills it: %u us", r.srtt_max_us, reno.srtt_max_us);
}

static void t_random_loss(void)
{
	struct link l = path(20);
	struct run bbr, reno;
	double gb, gr;

	transfer(&l, RS_CC_BBR, 4u << 20, 30000 * MS, &bbr);
	l = path(20);
	transfer(&l, RS_CC_RENO, 4u << 20, 30000 * MS, &reno);
	gb = (double)bbr.bytes / bbr.secs;
	gr = (double)reno.bytes / reno.secs;
	T_CHECK(bbr.bytes == 4u << 20 && !bbr.bad && reno.bytes == 4u << 20 &&
			!reno.bad,
		"2 %% random loss: 4 MiB byte-exact with bbr and reno");
	T_CHECK(gb > 0.70 * GOODPUT(l.rate),
		"2 %% random loss: bbr's rate does not collapse (%.2f MB/s, "
		"link %.2f MB/s)", gb / 1e6, GOODPUT(l.rate) / 1e6);
	T_CHECK((double)bbr.last.bw > 0.8 * GOODPUT(l.rate),
		"2 %% random loss: bbr's bandwidth estimate holds (%.2f MB/s)",
		(double)bbr.last.bw / 1e6);
	T_CHECK(gb > 2.0 * gr,
		"2 %% random loss: bbr %.2f MB/s, more than twice reno's %.2f "
		"MB/s (loss-based)", gb / 1e6, gr / 1e6);
	T_CHECK(bbr.rtos == 0, "2 %% random loss: bbr needed no timeout (%llu)",
		(unsigned long long)bbr.rtos);
}

static void t_probe_rtt(void)
{
	struct link l = path(0);
	struct run r;

	l.rate = 500000; /* 0.5 MB/s for ~19 s: ProbeRTT once, 10 s after the last new min RTT */
	transfer(&l, RS_CC_BBR, 9u << 20, 30000 * MS, &r);
	T_CHECK(r.bytes == 9u << 20 && !r.bad, "9 MiB in %.1f s byte-exact (%llu)", r.secs,
		(unsigned long long)r.bytes);
	T_CHECK(r.probe_rtts >= 1, "ProbeRTT happened after 10 s (%llu)",
		(unsigned long long)r.probe_rtts);
	T_CHECK(r.min_cwnd_probe_rtt <= 4u * 1448u,
		"ProbeRTT cut cwnd to 4 segments (%u bytes)",
		r.min_cwnd_probe_rtt);
	T_CHECK(r.probe_bw_after_probe_rtt && !strcmp(r.last.cc_mode, "probe_bw"),
		"after ProbeRTT back in ProbeBW (%s)", r.last.cc_mode);
	T_CHECK((double)r.bytes / r.secs > 0.85 * GOODPUT(l.rate),
		"goodput over the whole run %.2f MB/s (link %.2f)",
		(double)r.bytes / r.secs / 1e6, GOODPUT(l.rate) / 1e6);
}

/* 40 MB/s, 1 ms each way: the interop loss grid's path */
static struct link lab(unsigned loss, unsigned dup, unsigned reorder)
{
	return (struct link){.rate = 40000000, .prop_ns = MS,
			     .queue_ns = 5 * MS, .loss = loss, .dup = dup,
			     .reorder = reorder, .both = 1,
			     .rng = 0x9e3779b97f4a7c15ull};
}

/* Reordering (10 % of the frames each way skip the 1 ms queue) with 5 %
 * loss and 1 % duplication: the few that skip it make the min RTT a
 * fraction of what most segments see, so gain x bandwidth x min RTT
 * alone would starve the pipe; the bursts' quantisation budget keeps it
 * full (it took 15x the clean path's time without it), and RACK takes
 * the RTT of the latest delivery, so the segments still in the queue are
 * not all declared lost at once. */
static void t_reordering(void)
{
	struct link l = lab(0, 0, 0);
	struct run clean, r;

	transfer(&l, RS_CC_BBR, 2u << 20, 30000 * MS, &clean);
	l = lab(50, 10, 100);
	transfer(&l, RS_CC_BBR, 2u << 20, 30000 * MS, &r);
	T_CHECK(clean.bytes == 2u << 20 && !clean.bad && r.bytes == 2u << 20 &&
			!r.bad,
		"5 %% loss, 1 %% duplication, 10 %% reordering: 2 MiB byte-exact");
	T_CHECK(r.secs < 4.0 * clean.secs,
		"... in %.3f s, less than 4x the clean path's %.3f s",
		r.secs, clean.secs);
	T_CHECK(r.rtos == 0 && (double)r.last.bw > 0.5 * GOODPUT(l.rate),
		"... no timeout (%llu), bandwidth estimate %.1f MB/s (link %.1f)",
		(unsigned long long)r.rtos, (double)r.last.bw / 1e6,
		GOODPUT(l.rate) / 1e6);
}

int main(void)
{
	t_model_converges();
	t_random_loss();
	t_probe_rtt();
	t_reordering();
	return t_summary();
}
