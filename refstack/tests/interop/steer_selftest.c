/* The steering program in the kernel against the C classifier, frame by
 * frame: N afpacket sockets (rs_io_afpacket, fanout=cbpf, joined in core
 * order) on interface IF get the program steer_bpf.c generates for a
 * classifier state (cores, RFD on/off, a set of listening ports) through
 * the backend's steer op; frames sent on the peer interface PEER carry
 * their number in the source MAC, and each must arrive exactly once, on
 * the member rs_steer_frame (steer.h) names (member 0 for RS_STEER_ANY:
 * the program's "anywhere").  Frames: TCP with every class of ports
 * (source < 1024, destination < 1024, a listening destination, neither),
 * IP options, fragments, UDP, ICMP, ARP and IPv6 ethertypes, frames cut
 * short inside the IP or TCP header.
 *
 *   steer_selftest IF PEER NCORES RFD NLISTEN [NFRAMES]
 *
 * prints "frames=... mismatched=... lost=... per_core=a,b,..." and exits
 * 0 only when every frame was where the C function says. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../src/io.h"
#include "../../src/steer.h"

#define MAXC 8
#define BATCH 256

static uint32_t rnd_state = 0x9e3779b9u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* A port of a random class for this state. */
static uint32_t pick_port(const uint32_t *lports, unsigned nl)
{
	switch (rnd() % 4) {
	case 0:
		return rnd() % 1024;
	case 1:
		if (nl)
			return lports[rnd() % nl];
		/* fall through */
	default:
		return 1024 + rnd() % (65536 - 1024);
	}
}

/* Frame number i into f; returns its length. */
static uint32_t make_frame(uint8_t *f, uint32_t i, const uint32_t *lports,
			   unsigned nl)
{
	uint32_t kind = rnd() % 20, ihl = 5, len;

	memset(f, 0, 128);
	memcpy(f, "\x02\x00\x00\x00\x00\x99", 6); /* nobody's MAC */
	f[6] = 0x02;
	f[7] = 0x5e;
	put32(f + 8, i);
	put16(f + 12, kind == 0 ? 0x0806 : kind == 1 ? 0x86dd : 0x0800);
	if (kind >= 2 && kind < 6)
		ihl = 5 + rnd() % 4; /* with options */
	f[14] = (uint8_t)(0x40 | ihl);
	f[15] = 0;
	f[22] = 64;
	f[23] = kind == 6 ? 17 : kind == 7 ? 1 : 6;
	if (kind == 8)
		put16(f + 20, 0x2000);          /* more fragments */
	if (kind == 9)
		put16(f + 20, 0x0000 | 185);    /* an offset */
	if (kind == 10)
		put16(f + 20, 0x4000);          /* DF only: not a fragment */
	put32(f + 26, 0xc6120000u | (rnd() & 0xffff));
	put32(f + 30, 0xc6121402u);
	put16(f + 14 + ihl * 4, pick_port(lports, nl));
	put16(f + 16 + ihl * 4, pick_port(lports, nl));
	len = 14 + ihl * 4 + 20;
	put16(f + 16, len - 14);
	if (kind == 11)
		len = 14 + 10;                  /* cut inside the IP header */
	if (kind == 12)
		len = 14 + ihl * 4 + 2;         /* cut inside the TCP ports */
	return len;
}

static int opt_num(const char *s, long lo, long hi, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return *end || end == s || *v < lo || *v > hi ? -1 : 0;
}

int main(int argc, char **argv)
{
	static uint8_t frames[BATCH][128];
	static uint32_t lens[BATCH], want[BATCH];
	static int seen[BATCH];
	static struct rs_steer st;
	static uint32_t lports[5000];
	struct rs_io *io[MAXC];
	long nc, rfd, nl, total = 3000;
	unsigned long mism = 0, lost = 0, per[MAXC] = {0};
	char spec[64];
	int err = 0, tx;

	if (argc < 6 || opt_num(argv[3], 1, MAXC, &nc) ||
	    opt_num(argv[4], 0, 1, &rfd) || opt_num(argv[5], 0, 5000, &nl) ||
	    (argc > 6 && opt_num(argv[6], 1, 1000000, &total))) {
		fprintf(stderr, "usage: steer_selftest IF PEER NCORES(1-8) RFD(0|1) NLISTEN [NFRAMES]\n");
		return 2;
	}
	st.ncores = (uint32_t)nc;
	for (st.rmask = 1; st.rmask < st.ncores; st.rmask <<= 1)
		;
	st.rmask -= 1;
	st.rfd = (uint32_t)rfd;
	for (long k = 0; k < nl; k++) {
		uint32_t p = 1024 + rnd() % (65536 - 1024);
		lports[k] = p;
		st.listen[p >> 3] |= (uint8_t)(1u << (p & 7));
	}
	snprintf(spec, sizeof(spec), "%s,fanout=cbpf", argv[1]);
	for (long k = 0; k < nc; k++) {
		struct rs_io_conf c = { .ifname = spec, .queue = (unsigned)k,
			.nqueues = (unsigned)nc, .fanout_id = 777 };
		io[k] = rs_io_afpacket.open(&c, &err);
		if (!io[k]) {
			fprintf(stderr, "open %s member %ld: %s\n", spec, k, strerror(-err));
			return 1;
		}
	}
	err = rs_io_afpacket.steer(io[0], &st, -1);
	if (err) {
		printf("steer_op=%d (%s)\n", err, strerror(-err));
		return 1;
	}
	tx = socket(AF_PACKET, SOCK_RAW, 0);
	struct sockaddr_ll to = { .sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(argv[2]), .sll_halen = 6 };
	if (tx < 0 || !to.sll_ifindex) {
		fprintf(stderr, "raw socket on %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (long base = 0; base < total; base += BATCH) {
		uint32_t n = (uint32_t)(total - base < BATCH ? total - base : BATCH);
		unsigned got = 0;
		for (uint32_t j = 0; j < n; j++) {
			lens[j] = make_frame(frames[j], (uint32_t)(base + j), lports,
					     (unsigned)nl);
			want[j] = rs_steer_frame(&st, frames[j], frames[j] + lens[j]);
			if (want[j] == RS_STEER_ANY)
				want[j] = 0;
			seen[j] = -1;
			if (sendto(tx, frames[j], lens[j], 0, (struct sockaddr *)&to,
				   sizeof(to)) != (ssize_t)lens[j]) {
				fprintf(stderr, "send: %s\n", strerror(errno));
				return 1;
			}
		}
		for (int idle = 0; idle < 200 && got < n;) {
			int any = 0;
			for (long k = 0; k < nc; k++) {
				struct rs_frame fr[64];
				int m = rs_io_afpacket.rx_burst(io[k], fr, 64);
				for (int q = 0; q < m; q++) {
					const uint8_t *d = fr[q].data;
					uint32_t idx;
					if (fr[q].len < 12 || d[6] != 0x02 || d[7] != 0x5e)
						continue; /* not ours */
					idx = (uint32_t)d[8] << 24 | (uint32_t)d[9] << 16 |
					      (uint32_t)d[10] << 8 | d[11];
					if (idx < base || idx >= base + n)
						continue;
					idx -= (uint32_t)base;
					if (seen[idx] >= 0) {
						fprintf(stderr, "frame %u twice\n", idx);
						mism++;
						continue;
					}
					seen[idx] = (int)k;
					got++;
					per[k]++;
					if ((uint32_t)k != want[idx]) {
						if (mism < 10)
							fprintf(stderr, "frame %ld: member %ld, C says %u\n",
								base + idx, k, want[idx]);
						mism++;
					}
				}
				if (m > 0) {
					rs_io_afpacket.rx_release(io[k]);
					any = 1;
				}
			}
			if (!any) {
				idle++;
				usleep(1000);
			}
		}
		lost += n - got;
	}
	printf("frames=%ld mismatched=%lu lost=%lu per_core=", total, mism, lost);
	for (long k = 0; k < nc; k++)
		printf("%s%lu", k ? "," : "", per[k]);
	printf("\n");
	for (long k = 0; k < nc; k++)
		rs_io_afpacket.close(io[k]);
	close(tx);
	return mism || lost ? 1 : 0;
}
