/* libFuzzer target: arbitrary Ethernet frames into a stack instance with
 * a listener on :80 and one outgoing connection, with time moving on.
 *
 * Input: byte 0 = flags (bit 0: repair IPv4/TCP checksums so the fuzzer
 * reaches the TCP state machine; bit 1: application closes after echo;
 * bit 2: set the ACK field of each injected TCP segment to what the stack
 * last sent (SEQ + length); bit 3: set its SEQ to the stack's last ACK),
 * then records of [len_hi len_lo dt_ms frame...].  Each record is one
 * frame delivered to the stack, then the clock advances dt_ms ms and the
 * stack polls; the application side accepts, reads, echoes and closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../include/refstack.h"
#include "../src/common.h"
#include "../src/io.h"

#define ME "198.18.21.2"
#define PEER "198.18.21.1"

static void repair(uint8_t *f, uint32_t len)
{
	uint32_t ihl, tot;
	uint16_t s;

	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4)
		return;
	ihl = (uint32_t)(f[14] & 15) * 4;
	tot = rs_get16(f + 16);
	if (ihl < 20 || 14 + ihl > len || tot < ihl || 14 + tot > len)
		return;
	f[24] = f[25] = 0;
	s = rs_csum_fold(rs_csum_add(0, f + 14, ihl));
	memcpy(f + 24, &s, 2);
	if (f[23] == 6 && tot - ihl >= 20) {
		uint8_t *t = f + 14 + ihl;
		uint32_t tl = tot - ihl;
		t[16] = t[17] = 0;
		s = rs_csum_fold(rs_csum_add(
			rs_csum_pseudo(rs_get32(f + 26), rs_get32(f + 30), 6, tl),
			t, tl));
		memcpy(t + 16, &s, 2);
	}
}

struct hint {
	uint32_t ack, seq; /* from the stack's last TCP segment */
};

/* Remember the sequence state of the stack's last TCP segment. */
static void learn(struct hint *h, const struct rs_frame *f)
{
	const uint8_t *p = f->data;
	uint32_t ihl, tot, hl;

	if (f->len < 54 || p[12] != 0x08 || p[13] != 0 || p[23] != 6)
		return;
	ihl = (uint32_t)(p[14] & 15) * 4;
	tot = rs_get16(p + 16);
	if (14 + ihl + 20 > f->len || tot < ihl + 20 || 14 + tot > f->len)
		return;
	p += 14 + ihl;
	hl = (uint32_t)(p[12] >> 4) * 4;
	if (hl < 20 || hl > tot - ihl)
		return;
	h->ack = rs_get32(p + 4) + (tot - ihl - hl) + !!(p[13] & 2) +
		 !!(p[13] & 1);
	h->seq = rs_get32(p + 8);
}

static void steer(uint8_t *f, uint32_t len, int flags, const struct hint *h)
{
	uint32_t ihl;

	if (len < 54 || f[12] != 0x08 || f[13] != 0 || f[23] != 6)
		return;
	ihl = (uint32_t)(f[14] & 15) * 4;
	if (14 + ihl + 20 > len)
		return;
	if (flags & 4)
		rs_put32(f + 14 + ihl + 8, h->ack);
	if (flags & 8)
		rs_put32(f + 14 + ihl + 4, h->seq);
}

static void drain(struct rs_io *wire, struct hint *h)
{
	struct rs_frame rx[64];
	int n = rs_io_memif.rx_burst(wire, rx, 64);

	for (int i = 0; i < n; i++)
		learn(h, &rx[i]);
	if (n > 0)
		rs_io_memif.rx_release(wire);
}

struct app {
	struct rs_core *c;
	int lfd, cfd, fds[64], n, close_after;
};

static void app_step(struct app *a)
{
	char buf[512];
	int fd;

	while ((fd = rs_accept(a->c, a->lfd, NULL, NULL)) > 0) {
		if (a->n < 64)
			a->fds[a->n++] = fd;
		else
			rs_close(a->c, fd);
	}
	for (int i = 0; i < a->n; i++) {
		ssize_t r = rs_recv(a->c, a->fds[i], buf, sizeof(buf), 0);
		if (r > 0)
			rs_send(a->c, a->fds[i], buf, (size_t)r, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN) ||
		    (r > 0 && a->close_after)) {
			rs_close(a->c, a->fds[i]);
			a->fds[i--] = a->fds[--a->n];
		}
	}
	if (a->cfd > 0) {
		rs_send(a->c, a->cfd, "x", 1, 0);
		rs_recv(a->c, a->cfd, buf, sizeof(buf), 0);
	}
}

static struct rs_stack *make_stack(void)
{
	struct rs_stack_conf conf;
	int err;

	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, ME, &conf.addr);
	conf.seed = 1;
	conf.max_sockets = 64;
	conf.max_conns = 64;
	conf.max_time_wait = 64;
	conf.hash_buckets = 64;
	conf.sndbuf = 8192;
	conf.rcvbuf = 8192;
	conf.max_buf_bytes = 1 << 20;
	conf.syn_backlog = 2;
	conf.syncookies = RS_SYNCOOKIES_ON_FULL;
	return rs_stack_create(&conf, &err);
}

static void setup(struct app *a)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct sockaddr_in peer = {.sin_family = AF_INET,
				   .sin_port = htons(8080)};

	a->lfd = rs_socket(a->c, AF_INET, SOCK_STREAM, 0);
	rs_bind(a->c, a->lfd, (struct sockaddr *)&sa, sizeof(sa));
	rs_listen(a->c, a->lfd, 8);
	inet_pton(AF_INET, PEER, &peer.sin_addr);
	a->cfd = rs_socket(a->c, AF_INET, SOCK_STREAM, 0);
	rs_connect(a->c, a->cfd, (struct sockaddr *)&peer, sizeof(peer));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_memif_pair *p = rs_memif_pair_create(64, 2048);
	struct rs_io_conf c0 = {.peer = p, .queue = 0}, c1 = {.peer = p,
							      .queue = 1};
	struct rs_stack *s = p ? make_stack() : NULL;
	struct rs_core *core = NULL;
	struct rs_io *wire = NULL;
	struct app a;
	uint64_t now = 1000000000ull;
	uint8_t frame[2048];
	struct hint hint = {0, 0};
	int err, flags = size ? data[0] : 0;
	size_t off = 1;

	memset(&a, 0, sizeof(a));
	if (s)
		core = rs_core_create(s, 0, &rs_io_memif, &c1, &err);
	if (core)
		wire = rs_io_memif.open(&c0, &err);
	if (!wire)
		goto out;
	a.c = core;
	a.close_after = flags & 2;
	rs_poll(core, now);
	setup(&a);
	while (off + 3 <= size) {
		uint32_t len = rs_get16(data + off) % sizeof(frame);
		uint32_t dt = data[off + 2];
		struct rs_frame f = {.data = frame};
		off += 3;
		if (len > size - off)
			len = (uint32_t)(size - off);
		memcpy(frame, data + off, len);
		off += len;
		steer(frame, len, flags, &hint);
		if (flags & 13)
			repair(frame, len);
		f.len = len;
		rs_io_memif.tx_burst(wire, &f, 1);
		now += (uint64_t)dt * 1000000ull;
		rs_poll(core, now);
		app_step(&a);
		rs_poll(core, now);
		drain(wire, &hint);
	}
	/* let every timer run out */
	for (int i = 0; i < 40; i++) {
		now += 5000000000ull;
		rs_poll(core, now);
		app_step(&a);
		drain(wire, &hint);
	}
out:
	if (wire)
		rs_io_memif.close(wire);
	if (core)
		rs_core_destroy(core);
	if (s)
		rs_stack_destroy(s);
	rs_memif_pair_destroy(p);
	return 0;
}
