/* Frame generator of the backend frame-rate benchmark (bench/afxdp.sh):
 * sends ICMP echo requests as fast as the afpacket backend can push them
 * (batches of sendmmsg) from the Linux namespace to the stack's address,
 * for a fixed time, and counts the echo replies that come back.  The
 * responder under test (afp_selftest or xsk_selftest) answers them, so
 * its frames per second are the receive and transmit rate of one core on
 * that backend.  Prints one key=value line per figure.
 *
 *   frame-blast -i IF -m DSTMAC -s SRCIP -d DSTIP [-t SECONDS] [-l PAYLOAD]
 */
#include "../src/io_afpacket.h"
#include "../tests/interop/lib/responder.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One echo request: Ethernet + IPv4 + ICMP header + payload. */
static uint32_t build(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6],
		      const uint8_t sip[4], const uint8_t dip[4], uint32_t payload)
{
	uint32_t iplen = 20 + 8 + payload;
	memset(f, 0, 14 + iplen);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	put16(f + 16, (uint16_t)iplen);
	f[22] = 64;
	f[23] = 1;
	memcpy(f + 26, sip, 4);
	memcpy(f + 30, dip, 4);
	put16(f + 24, csum16(f + 14, 20));
	f[34] = 8;
	put16(f + 38, 0x7273);
	memset(f + 42, 'x', payload);
	put16(f + 36, csum16(f + 34, 8 + payload));
	return 14 + iplen;
}

static int is_reply(const struct rs_frame *f, const uint8_t dip[4])
{
	return f->len >= 42 && f->data[12] == 0x08 && f->data[13] == 0 &&
	       f->data[23] == 1 && f->data[34] == 0 && memcmp(f->data + 26, dip, 4) == 0;
}

int main(int argc, char **argv)
{
	struct rs_io_conf conf = { .nqueues = 1 };
	uint8_t dmac[6], smac[6], sip[4], dip[4], frame[1600];
	unsigned m[6];
	const char *mac = NULL, *s = NULL, *d = NULL;
	double secs = 5;
	uint32_t payload = 18;
	int opt, err;

	while ((opt = getopt(argc, argv, "i:m:s:d:t:l:")) != -1) {
		switch (opt) {
		case 'i': conf.ifname = optarg; break;
		case 'm': mac = optarg; break;
		case 's': s = optarg; break;
		case 'd': d = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'l': payload = (uint32_t)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!conf.ifname || !mac || !s || !d || inet_pton(AF_INET, s, sip) != 1 ||
	    inet_pton(AF_INET, d, dip) != 1 || payload > 1400 ||
	    sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5]) != 6) {
		fprintf(stderr, "usage: frame-blast -i IF -m DSTMAC -s SRCIP -d DSTIP [-t S] [-l PAYLOAD]\n");
		return 2;
	}
	for (int i = 0; i < 6; i++)
		dmac[i] = (uint8_t)m[i];
	struct rs_io *io = rs_io_afpacket.open(&conf, &err);
	if (!io) {
		fprintf(stderr, "frame-blast: open %s: %s\n", conf.ifname, strerror(-err));
		return 1;
	}
	rs_io_afpacket.mac(io, smac);
	struct rs_frame tx[BATCH], rx[BATCH];
	uint32_t len = build(frame, dmac, smac, sip, dip, payload);
	for (int i = 0; i < BATCH; i++)
		tx[i] = (struct rs_frame){ .data = frame, .len = len };
	uint64_t sent = 0, replies = 0;
	double t0 = now_s(), t;
	while ((t = now_s()) - t0 < secs) {
		sent += (uint64_t)rs_io_afpacket.tx_burst(io, tx, BATCH);
		int n = rs_io_afpacket.rx_burst(io, rx, BATCH);
		for (int i = 0; i < n; i++)
			replies += (uint64_t)is_reply(&rx[i], dip);
		if (n > 0)
			rs_io_afpacket.rx_release(io);
	}
	printf("seconds=%.3f\nsent=%llu\nreplies=%llu\nsent_per_s=%.0f\nreplies_per_s=%.0f\n",
	       t - t0, (unsigned long long)sent, (unsigned long long)replies,
	       (double)sent / (t - t0), (double)replies / (t - t0));
	rs_io_afpacket.close(io);
	return 0;
}
