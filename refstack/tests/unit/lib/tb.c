#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "tb.h"

static void trace_side(struct tb *tb, int side, const char *o,
		       const char *n)
{
	if (tb->ntrace[side] >= 64)
		return;
	snprintf(tb->trace[side][tb->ntrace[side]++], 48, "%s>%s", o, n);
}

static void trace0(void *a, unsigned c, int fd, const char *o, const char *n)
{
	(void)c;
	(void)fd;
	trace_side(a, 0, o, n);
}

static void trace1(void *a, unsigned c, int fd, const char *o, const char *n)
{
	(void)c;
	(void)fd;
	trace_side(a, 1, o, n);
}

int tb_csum_offload;

int tb_init(struct tb *tb, tb_conf_fn fn)
{
	static const char *ips[2] = {TB_CLIENT_IP, TB_SERVER_IP};

	memset(tb, 0, sizeof(*tb));
	tb->now = 1000000000ull;
	tb->pair = rs_memif_pair_create(1024, 2048);
	if (!tb->pair)
		return -1;
	rs_memif_set_csum_offload(tb->pair, tb_csum_offload);
	for (int i = 0; i < 2; i++) {
		struct rs_stack_conf conf;
		struct rs_io_conf io = {.peer = tb->pair, .queue = (unsigned)i};
		int err = 0;

		rs_stack_conf_init(&conf);
		inet_pton(AF_INET, ips[i], &conf.addr);
		conf.seed = 42 + (uint64_t)i;
		conf.trace = i ? trace1 : trace0;
		conf.trace_arg = tb;
		if (fn)
			fn(i, &conf);
		tb->s[i] = rs_stack_create(&conf, &err);
		if (!tb->s[i]) {
			fprintf(stderr, "rs_stack_create: %d\n", err);
			return -1;
		}
		tb->c[i] = rs_core_create(tb->s[i], 0, &rs_io_memif, &io, &err);
		if (!tb->c[i]) {
			fprintf(stderr, "rs_core_create: %d\n", err);
			return -1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	tb_settle(tb); /* the cores learn the time */
	return 0;
}

void tb_fini(struct tb *tb)
{
	for (int i = 0; i < 2; i++) {
		rs_core_destroy(tb->c[i]);
		rs_stack_destroy(tb->s[i]);
	}
	rs_memif_pair_destroy(tb->pair);
}

void tb_settle(struct tb *tb)
{
	int quiet = 0;

	rs_memif_set_clock(tb->pair, tb->now);
	for (int i = 0; i < 10000 && quiet < 2; i++) {
		int n = rs_poll(tb->c[0], tb->now) + rs_poll(tb->c[1], tb->now);
		quiet = n ? 0 : quiet + 1;
	}
}

void tb_advance(struct tb *tb, uint64_t ns)
{
	uint64_t end = tb->now + ns;

	tb_settle(tb);
	while (tb->now < end) {
		uint64_t a = rs_poll_at(tb->c[0]), b = rs_poll_at(tb->c[1]);
		uint64_t next = a < b ? a : b;
		/* delayed memif frames: move in 1 ms steps at most */
		if (next > tb->now + 1000000ull)
			next = tb->now + 1000000ull;
		if (next <= tb->now)
			next = tb->now + 1;
		tb->now = next < end ? next : end;
		tb_settle(tb);
	}
}

struct sockaddr_in tb_addr(const char *ip, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

int tb_listen(struct tb *tb, uint16_t port, int backlog)
{
	struct sockaddr_in a = tb_addr("0.0.0.0", port);
	int one = 1;
	int fd = rs_socket(tb->c[1], AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	rs_setsockopt(tb->c[1], fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rs_bind(tb->c[1], fd, (struct sockaddr *)&a, sizeof(a)) ||
	    rs_listen(tb->c[1], fd, backlog))
		return -1;
	return fd;
}

int tb_connect(struct tb *tb, uint16_t port)
{
	struct sockaddr_in a = tb_addr(TB_SERVER_IP, port);
	int fd = rs_socket(tb->c[0], AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	rs_connect(tb->c[0], fd, (struct sockaddr *)&a, sizeof(a));
	tb_settle(tb);
	return fd;
}

int tb_saw(const struct tb *tb, int side, const char *old, const char *nw)
{
	char want[48];

	snprintf(want, sizeof(want), "%s>%s", old, nw);
	for (int i = 0; i < tb->ntrace[side]; i++)
		if (strcmp(tb->trace[side][i], want) == 0)
			return 1;
	return 0;
}

void tb_trace_clear(struct tb *tb)
{
	tb->ntrace[0] = tb->ntrace[1] = 0;
}
