/* Socket layer internals shared by sock*.c, epoll.c and info.c: the
 * objects descriptors name (sockets, epoll sets).  The socket layer sits
 * above TCP: it calls into tcp_*.c, and TCP reaches it only through the
 * stack's sock_event callback (rs_sock_event here). */
#ifndef RS_SOCK_H
#define RS_SOCK_H

#include <errno.h>

#include "tcp.h"

enum { RS_FILE_SOCK = 1, RS_FILE_EPOLL = 2 };

struct rs_epoll;
struct rs_epitem {
	struct rs_epoll *ep;       /* NULL: not registered */
	struct rs_list rlink;      /* on ep->ready */
	struct rs_list ilink;      /* on ep->items */
	uint32_t events;
	uint8_t on_ready;
	epoll_data_t data;
};

/* Common head of everything a descriptor can name. */
struct rs_file {
	uint8_t type;              /* RS_FILE_* */
	int fd;
	struct rs_core *core;
};

struct rs_sock {
	struct rs_file f;          /* RS_FILE_SOCK */
	uint8_t bound, reuseaddr, nodelay, shut_wr;
	uint8_t sndbuf_lock;       /* SO_SNDBUF was set: no autotuning */
	uint8_t reuseport, keepalive;
	struct rs_keepalive ka;    /* its TCP_KEEP* options */
	void *user;                /* rs_sock_set_user: for conf.sock_wake */
	uint32_t laddr;            /* bound address (0 = any) */
	uint16_t lport;
	int so_error;              /* before a TCB exists */
	int linger_on, linger_secs;
	uint32_t sndbuf, rcvbuf;
	struct rs_tcb *tcb;        /* connection */
	struct rs_listener *lst;   /* listening socket */
	struct rs_epitem epi;
};

struct rs_epoll {
	struct rs_file f;          /* RS_FILE_EPOLL */
	struct rs_list ready;
	struct rs_list items;      /* every registered socket */
};

/* The callback TCP raises (stack->sock_event): wake the socket's epoll
 * set and the caller's readiness hook. */
void rs_sock_wake(struct rs_sock *s);
uint32_t rs_sock_poll(const struct rs_sock *s);
void rs_epoll_forget(struct rs_sock *s);

/* The object behind fd if it is of type and owned by core; else NULL with
 * errno set (EBADF, ENOTSOCK, EINVAL). */
void *rs_file_get(struct rs_core *c, int fd, int type);
struct rs_sock *rs_sock_get(struct rs_core *c, int fd);
int rs_sockaddr_in(const struct sockaddr *addr, socklen_t len,
		   uint32_t *ip, uint16_t *port);
void rs_sockaddr_out(uint32_t ip, uint16_t port, struct sockaddr *addr,
		     socklen_t *len);
void rs_epoll_free(struct rs_epoll *ep);
/* Core destruction: close every descriptor of the core, free its pools. */
void rs_sock_core_fini(struct rs_core *c);
void rs_sock_core_orphans(struct rs_core *c);

static inline int rs_err(int e)
{
	errno = e;
	return -1;
}

#endif
