/* Standalone test of the afxdp backend, no stack involved: the ARP + ICMP
 * echo responder of lib/responder.h on rs_io_afxdp, one backend instance
 * per "core" (all served round-robin by this one thread), so that the
 * kernel's ping in the peer namespace succeeds only if the XDP program,
 * the XSK RX/fill rings and the TX/completion rings all work, on every
 * queue.  At exit it prints counters as key=value lines for the script.
 * TCP segments are not answered but checked against RFD's rule (no
 * listener here: a segment to port P belongs to core P & (R-1)):
 * tcp_misplaced counts those that reached another core.
 *
 *   xsk_selftest -i IFSPEC -a 198.18.20.2 [-t SECONDS] [-c CORES]
 *                [-f FRAME_SIZE]
 *
 * An open that fails prints "xsk_selftest: open IFSPEC core K: REASON"
 * (the backend's rs_io_why) and exits 1. */
#include "../../src/io_afxdp.h"
#include "lib/responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXC 8
#define BURST 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct core {
	struct rs_io *io;
	unsigned index, rfd_mask;
	uint8_t mac[6];
	uint64_t rx, replies, tcp, tcp_misplaced;
};

/* A TCP segment RFD gives to a core other than c (see the top). */
static void tcp_check(struct core *c, const uint8_t *f, uint32_t len)
{
	if (len < 54 || f[12] != 0x08 || f[13] != 0 || f[14] != 0x45 || f[23] != 6)
		return;
	unsigned sport = (unsigned)(f[34] << 8 | f[35]);
	unsigned dport = (unsigned)(f[36] << 8 | f[37]);
	c->tcp++;
	if (sport >= 1024 && dport < 1024)
		return;             /* passive side: RSS decides */
	if ((dport & c->rfd_mask) != c->index)
		c->tcp_misplaced++;
}

static void serve(struct core *c, const uint8_t ip[4])
{
	static uint8_t out[BURST][1600];
	struct rs_frame in[BURST], tx[BURST];
	int n = rs_io_afxdp.rx_burst(c->io, in, BURST), m = 0;

	for (int i = 0; i < n; i++) {
		int len = responder_reply(in[i].data, in[i].len, c->mac, ip, out[m]);
		tcp_check(c, in[i].data, in[i].len);
		if (len) {
			tx[m].data = out[m];
			tx[m].len = (uint32_t)len;
			m++;
		}
	}
	c->rx += (uint64_t)n;
	if (n)
		rs_io_afxdp.rx_release(c->io);
	if (m)
		c->replies += (uint64_t)rs_io_afxdp.tx_burst(c->io, tx, m);
}

#define U(x) ((unsigned long long)(x))

static void report(struct core *cs, int nc)
{
	struct rs_afxdp_stats t = { 0 }, s;

	for (int i = 0; i < nc; i++) {
		rs_afxdp_stats(cs[i].io, &s);
		printf("c%d_rx=%llu\nc%d_queues=%u\nc%d_tcp=%llu\nc%d_tcp_misplaced=%llu\n"
		       "c%d_rx_guest=%llu\n", i, U(cs[i].rx), i, s.nqueues, i,
		       U(cs[i].tcp), i, U(cs[i].tcp_misplaced), i, U(s.rx_guest));
		t.xdp_away += s.xdp_away;
		t.xdp_steered += s.xdp_steered;
		t.rx_frames += s.rx_frames;
		t.rx_oversize += s.rx_oversize;
		t.tx_frames += s.tx_frames;
		t.tx_ring_full += s.tx_ring_full;
		t.rx_dropped += s.rx_dropped;
		t.rx_ring_full += s.rx_ring_full;
		t.tx_invalid += s.tx_invalid;
		t.xdp_rx += s.xdp_rx;
		t.xdp_pass += s.xdp_pass;
		t.zerocopy |= s.zerocopy;
	}
	printf("rx_frames=%llu\nrx_oversize=%llu\ntx_frames=%llu\ntx_ring_full=%llu\n"
	       "rx_dropped=%llu\nrx_ring_full=%llu\ntx_invalid=%llu\nxdp_rx=%llu\n"
	       "xdp_pass=%llu\nxdp_away=%llu\nxdp_steered=%llu\nzerocopy=%u\n",
	       U(t.rx_frames), U(t.rx_oversize),
	       U(t.tx_frames), U(t.tx_ring_full), U(t.rx_dropped), U(t.rx_ring_full),
	       U(t.tx_invalid), U(t.xdp_rx), U(t.xdp_pass), U(t.xdp_away),
	       U(t.xdp_steered), t.zerocopy);
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void loop(struct core *cs, int nc, const uint8_t ip[4], double secs)
{
	struct timespec t0;
	struct pollfd pfd[MAXC];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nc; i++)
		pfd[i] = (struct pollfd){ .fd = rs_io_afxdp.wait_fd(cs[i].io),
					  .events = POLLIN };
	while (!stop && elapsed(&t0) < secs) {
		for (int i = 0; i < nc; i++)
			serve(&cs[i], ip);
		if (poll(pfd, (nfds_t)nc, 20) < 0 && errno != EINTR)
			break;
	}
}

int main(int argc, char **argv)
{
	struct rs_io_conf conf = { .nqueues = 1 };
	struct core cs[MAXC];
	uint8_t ip[4];
	const char *addr = NULL;
	double secs = 10;
	int nc = 1, opt;

	while ((opt = getopt(argc, argv, "i:a:t:c:f:")) != -1) {
		switch (opt) {
		case 'i': conf.ifname = optarg; break;
		case 'a': addr = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'c': nc = atoi(optarg); break;
		case 'f': conf.frame_size = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!conf.ifname || !addr || inet_pton(AF_INET, addr, ip) != 1 ||
	    nc < 1 || nc > MAXC) {
		fprintf(stderr, "usage: xsk_selftest -i IFSPEC -a IPV4 [-t S] [-c CORES] [-f FRAME]\n");
		return 2;
	}
	conf.nqueues = (unsigned)nc;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (int i = 0; i < nc; i++) {
		int err;
		unsigned r = 1;
		while (r < (unsigned)nc)
			r <<= 1;
		conf.queue = (unsigned)i;
		cs[i] = (struct core){ .io = rs_io_afxdp.open(&conf, &err),
				       .index = (unsigned)i, .rfd_mask = r - 1 };
		if (!cs[i].io) {
			fprintf(stderr, "xsk_selftest: open %s core %d: %s\n", conf.ifname,
				i, rs_io_why()[0] ? rs_io_why() : strerror(-err));
			while (i-- > 0)
				rs_io_afxdp.close(cs[i].io);
			return 1;
		}
		rs_io_afxdp.mac(cs[i].io, cs[i].mac);
	}
	printf("ready pid %d\n", (int)getpid());
	fflush(stdout);
	loop(cs, nc, ip, secs);
	report(cs, nc);
	for (int i = 0; i < nc; i++)
		rs_io_afxdp.close(cs[i].io);
	return 0;
}
