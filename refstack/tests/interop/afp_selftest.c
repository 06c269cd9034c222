/* Standalone test of the afpacket backend, no stack involved: a hand-made
 * ARP + ICMP echo responder for one IPv4 address on top of rs_io_afpacket.
 * The kernel's ping in the peer namespace succeeds only if RX (ring, block
 * release) and TX (sendmmsg batch) both work.  At exit it prints the
 * backend counters as key=value lines for the calling script to check.
 *
 *   afp_selftest -i IFSPEC -a 198.18.20.2 [-t SECONDS] [-q NSOCKETS]
 *                [-f FRAME_SIZE] [-F FANOUT_ID] [-r RING_FRAMES]
 *
 * With -q N it opens N sockets in one PACKET_FANOUT group and serves them
 * round-robin, printing how many frames each one received. */
#include "../../src/io_afpacket.h"
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

#define MAXQ 8
#define BURST 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct q {
	struct rs_io *io;
	uint8_t mac[6];
	uint64_t rx;
	uint64_t replies;
};

static void serve(struct q *q, const uint8_t ip[4])
{
	static uint8_t out[BURST][1600];
	struct rs_frame in[BURST], tx[BURST];
	int n = rs_io_afpacket.rx_burst(q->io, in, BURST), m = 0;
	for (int i = 0; i < n; i++) {
		int len = responder_reply(in[i].data, in[i].len, q->mac, ip, out[m]);
		if (len) {
			tx[m].data = out[m];
			tx[m].len = (uint32_t)len;
			m++;
		}
	}
	q->rx += (uint64_t)n;
	rs_io_afpacket.rx_release(q->io);
	if (m)
		q->replies += (uint64_t)rs_io_afpacket.tx_burst(q->io, tx, m);
}

static void report(struct q *qs, int nq)
{
	struct rs_afp_stats t = { 0 }, s;
	for (int i = 0; i < nq; i++) {
		rs_afp_stats(qs[i].io, &s);
		t.rx_frames += s.rx_frames;
		t.rx_oversize += s.rx_oversize;
		t.rx_outgoing += s.rx_outgoing;
		t.rx_csum_partial += s.rx_csum_partial;
		t.rx_kernel_drops += s.rx_kernel_drops;
		t.rx_wraps += s.rx_wraps;
		t.tx_frames += s.tx_frames;
		t.tx_errors += s.tx_errors;
		printf("q%d_rx=%llu\n", i, (unsigned long long)qs[i].rx);
	}
	printf("rx_wraps=%llu\n", (unsigned long long)t.rx_wraps);
	printf("rx_frames=%llu\nrx_oversize=%llu\nrx_outgoing=%llu\n"
	       "rx_csum_partial=%llu\nrx_kernel_drops=%llu\ntx_frames=%llu\n"
	       "tx_errors=%llu\n", (unsigned long long)t.rx_frames,
	       (unsigned long long)t.rx_oversize, (unsigned long long)t.rx_outgoing,
	       (unsigned long long)t.rx_csum_partial,
	       (unsigned long long)t.rx_kernel_drops,
	       (unsigned long long)t.tx_frames, (unsigned long long)t.tx_errors);
}

static void loop(struct q *qs, int nq, const uint8_t ip[4], double secs)
{
	struct timespec t0, t;
	struct pollfd pfd[MAXQ];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nq; i++)
		pfd[i] = (struct pollfd){ .fd = rs_io_afpacket.wait_fd(qs[i].io),
					  .events = POLLIN };
	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
			break;
		for (int i = 0; i < nq; i++)
			serve(&qs[i], ip);
		if (poll(pfd, (nfds_t)nq, 20) < 0 && errno != EINTR)
			break;
	}
}

int main(int argc, char **argv)
{
	struct rs_io_conf conf = { .nqueues = 1 };
	struct q qs[MAXQ];
	uint8_t ip[4];
	const char *addr = NULL;
	double secs = 10;
	int nq = 1, opt;
	while ((opt = getopt(argc, argv, "i:a:t:q:f:F:r:")) != -1) {
		switch (opt) {
		case 'i': conf.ifname = optarg; break;
		case 'a': addr = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'q': nq = atoi(optarg); break;
		case 'f': conf.frame_size = (unsigned)atoi(optarg); break;
		case 'F': conf.fanout_id = (unsigned)atoi(optarg); break;
		case 'r': conf.ring_frames = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!conf.ifname || !addr || inet_pton(AF_INET, addr, ip) != 1 ||
	    nq < 1 || nq > MAXQ) {
		fprintf(stderr, "usage: afp_selftest -i IFSPEC -a IPV4 [-t S] [-q N] [-f FRAME] [-F ID]\n");
		return 2;
	}
	conf.nqueues = (unsigned)nq;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (int i = 0; i < nq; i++) {
		int err;
		conf.queue = (unsigned)i;
		qs[i] = (struct q){ .io = rs_io_afpacket.open(&conf, &err) };
		if (!qs[i].io) {
			fprintf(stderr, "afp_selftest: open %s queue %d: %s\n",
				conf.ifname, i, strerror(-err));
			return 1;
		}
		rs_io_afpacket.mac(qs[i].io, qs[i].mac);
	}
	printf("ready pid %d\n", (int)getpid());
	fflush(stdout);
	loop(qs, nq, ip, secs);
	report(qs, nq);
	for (int i = 0; i < nq; i++)
		rs_io_afpacket.close(qs[i].io);
	return 0;
}
