/* Socket layer internals shared by sock*.c and epoll.c. */
#ifndef RS_SOCK_H
#define RS_SOCK_H

#include <errno.h>

#include "tcp.h"

/* The object behind fd if it is of type and owned by core; else NULL with
 * errno set (EBADF, ENOTSOCK, EINVAL). */
void *rs_file_get(struct rs_core *c, int fd, int type);
struct rs_sock *rs_sock_get(struct rs_core *c, int fd);
int rs_sockaddr_in(const struct sockaddr *addr, socklen_t len,
		   uint32_t *ip, uint16_t *port);
void rs_sockaddr_out(uint32_t ip, uint16_t port, struct sockaddr *addr,
		     socklen_t *len);
void rs_epoll_free(struct rs_epoll *ep);
void rs_sock_close_all(struct rs_core *c);

static inline int rs_err(int e)
{
	errno = e;
	return -1;
}

#endif
