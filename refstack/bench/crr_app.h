/* The client of the crr benchmarks (memif_crr.c, vcores.c): one
 * connection slot at a time goes connect -> request -> read to EOF ->
 * close.  client_step returns 1 when a connection completed, -1 on an
 * error, 0 otherwise. */
#ifndef CRR_APP_H
#define CRR_APP_H

#include <errno.h>
#include <netinet/in.h>

#include "../include/refstack.h"

static const char REQ[] = "GET / HTTP/1.0\r\n\r\n";
static const char RESP[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";

struct cli {
	int fd;
	int sent;
	unsigned core; /* vcores: the client core it runs on */
};

static int client_step(struct rs_core *c, struct cli *k, long *started,
		       long total, const struct sockaddr_in *dst)
{
	char buf[256];
	ssize_t n;

	if (k->fd <= 0) {
		if (*started >= total)
			return 0;
		k->fd = rs_socket(c, AF_INET, SOCK_STREAM, 0);
		if (k->fd < 0)
			return -1;
		if (rs_connect(c, k->fd, (const struct sockaddr *)dst,
			       sizeof(*dst)) && errno != EINPROGRESS)
			return -1;
		k->sent = 0;
		(*started)++;
		return 0;
	}
	if (!k->sent) {
		n = rs_send(c, k->fd, REQ, sizeof(REQ) - 1, 0);
		if (n == (ssize_t)sizeof(REQ) - 1)
			k->sent = 1;
		else if (n < 0 && errno != EAGAIN)
			return -1;
		return 0;
	}
	while ((n = rs_recv(c, k->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0) {
		rs_close(c, k->fd);
		k->fd = 0;
		return 1;
	}
	return errno == EAGAIN ? 0 : -1;
}

#endif
