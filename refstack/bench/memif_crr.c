/* memif connect-request-response-close benchmark: a client and a server
 * stack in one process joined by memif, C connections in flight, N in
 * total.  Prints connections/s (wall clock).  Time inside the stacks is
 * virtual (advances 10 us per loop) so that runs under callgrind are
 * repeatable; bench/memif.sh derives instructions per connection.
 * -f SET: both stacks' feature set (base by default; one core each, so
 * the switches change which tables and pools answer, not the path).
 * -o: TCP checksum offload on the link (rs_memif_set_csum_offload), as
 * Linux has on veth and loopback; without it every checksum is computed
 * and checked.  A figure taken with -o says so.
 * --cc NAME: both stacks' congestion control (reno or bbr); without it
 * RS_CC, else the stack's default (bbr), as the apps take it; the output
 * line ends with its name.
 *   memif_crr [-n N] [-c C] [-f SET] [-o] [--cc NAME] */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../include/refstack.h"
#include "../src/io.h"
#include "crr_app.h"

#define MAXC 1024

struct side {
	struct rs_stack *s;
	struct rs_core *c;
};

static int make_side(struct side *sd, struct rs_memif_pair *p, int i,
		     uint32_t features, uint32_t cc)
{
	struct rs_stack_conf conf;
	struct rs_io_conf io = {.peer = p, .queue = (unsigned)i};
	int err = 0;

	rs_stack_conf_init(&conf);
	inet_pton(AF_INET, i ? "198.18.21.2" : "198.18.21.1", &conf.addr);
	conf.seed = 7 + (uint64_t)i;
	conf.features = features;
	conf.cc = cc;
	sd->s = rs_stack_create(&conf, &err);
	if (!sd->s)
		return err;
	sd->c = rs_core_create(sd->s, 0, &rs_io_memif, &io, &err);
	return sd->c ? 0 : err;
}

static int server_step(struct rs_core *c, int lfd, int *conns, int *nconn)
{
	char buf[256];
	int fd;

	while ((fd = rs_accept(c, lfd, NULL, NULL)) > 0)
		conns[(*nconn)++] = fd;
	for (int i = 0; i < *nconn; i++) {
		ssize_t n = rs_recv(c, conns[i], buf, sizeof(buf), 0);
		if (n <= 0 && errno == EAGAIN)
			continue;
		if (n > 0)
			rs_send(c, conns[i], RESP, sizeof(RESP) - 1, 0);
		rs_close(c, conns[i]);
		conns[i--] = conns[--(*nconn)];
	}
	return 0;
}

int main(int argc, char **argv)
{
	long total = 10000, conc = 1, done = 0, started = 0;
	struct rs_memif_pair *p = rs_memif_pair_create(4096, 2048);
	struct side cl, sv;
	struct cli k[MAXC];
	static int conns[65536];
	int nconn = 0, opt, lfd;
	uint32_t features = 0, cc;
	const char *ccname = NULL;
	char err[300];
	struct rs_stack_conf defaults;
	static const struct option longopts[] = {
		{"cc", required_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	uint64_t now = 1000000000ull, t0, t1;
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct sockaddr_in dst = any;

	rs_stack_conf_init(&defaults);
	cc = defaults.cc;
	while ((opt = getopt_long(argc, argv, "n:c:f:o", longopts, NULL)) !=
	       -1) {
		if (opt == 'C')
			ccname = optarg;
		else if (opt == 'f') {
			if (rs_features_parse(optarg, &features, err,
					      sizeof(err))) {
				fprintf(stderr, "memif_crr: -f: %s\n", err);
				return 2;
			}
		} else if (opt == 'o') {
			if (p)
				rs_memif_set_csum_offload(p, 1);
		} else if (opt == 'n')
			total = atol(optarg);
		else if (opt == 'c')
			conc = atol(optarg);
		else {
			fprintf(stderr,
				"usage: memif_crr [-n N] [-c C] [-f SET] [-o]"
				" [--cc reno|bbr]\n");
			return 2;
		}
	}
	if (ccname ? rs_cc_parse(ccname, &cc, err, sizeof(err))
		   : rs_cc_from_env(&cc, err, sizeof(err))) {
		fprintf(stderr, "memif_crr: %s%s\n", ccname ? "--cc: " : "", err);
		return 2;
	}
	if (conc < 1 || conc > MAXC || total < 1 || !p ||
	    make_side(&cl, p, 0, features, cc) ||
	    make_side(&sv, p, 1, features, cc)) {
		fprintf(stderr, "memif_crr: bad arguments or set-up failed\n");
		return 1;
	}
	inet_pton(AF_INET, "198.18.21.2", &dst.sin_addr);
	lfd = rs_socket(sv.c, AF_INET, SOCK_STREAM, 0);
	if (rs_bind(sv.c, lfd, (struct sockaddr *)&any, sizeof(any)) ||
	    rs_listen(sv.c, lfd, 4096)) {
		perror("memif_crr: listen");
		return 1;
	}
	memset(k, 0, sizeof(k));
	rs_poll(cl.c, now);
	rs_poll(sv.c, now);
	t0 = rs_clock_ns();
	while (done < total) {
		for (long i = 0; i < conc; i++) {
			int r = client_step(cl.c, &k[i], &started, total, &dst);
			if (r < 0) {
				perror("memif_crr: client");
				return 1;
			}
			done += r;
		}
		now += 10000;
		rs_poll(cl.c, now);
		rs_poll(sv.c, now);
		server_step(sv.c, lfd, conns, &nconn);
		rs_poll(sv.c, now);
		rs_poll(cl.c, now);
	}
	t1 = rs_clock_ns();
	printf("connections %ld concurrency %ld seconds %.3f conn_per_s %.0f"
	       " cc %s\n", done, conc, (double)(t1 - t0) / 1e9,
	       (double)done * 1e9 / (double)(t1 - t0), rs_cc_name(cc));
	rs_close(sv.c, lfd);
	rs_core_destroy(cl.c);
	rs_core_destroy(sv.c);
	rs_stack_destroy(cl.s);
	rs_stack_destroy(sv.s);
	rs_memif_pair_destroy(p);
	return 0;
}
