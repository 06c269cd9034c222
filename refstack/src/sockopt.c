/* Socket options and names. */
#include "sock.h"

#define RS_BUF_MIN 2048u
#define RS_BUF_MAX (64u << 20)

static int get_int(void *val, socklen_t *len, int v)
{
	if (!val || !len || *len < (socklen_t)sizeof(int))
		return rs_err(EINVAL);
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

static int sock_error(struct rs_sock *s)
{
	int e = s->so_error;

	s->so_error = 0;
	if (!e && s->tcb) {
		e = s->tcb->so_error;
		s->tcb->so_error = 0;
	}
	return e;
}

static int get_sol_socket(struct rs_sock *s, int name, void *val,
			  socklen_t *len)
{
	struct linger lg;

	switch (name) {
	case SO_ERROR:
		return get_int(val, len, sock_error(s));
	case SO_REUSEADDR:
		return get_int(val, len, s->reuseaddr);
	case SO_REUSEPORT:
		return get_int(val, len, s->reuseport);
	case SO_KEEPALIVE:
		return get_int(val, len, s->keepalive);
	case SO_TYPE:
		return get_int(val, len, SOCK_STREAM);
	case SO_ACCEPTCONN:
		return get_int(val, len, s->lst != NULL);
	case SO_DOMAIN:
		return get_int(val, len, AF_INET);
	case SO_PROTOCOL:
		return get_int(val, len, IPPROTO_TCP);
	case SO_SNDBUF:
		return get_int(val, len, (int)(s->tcb ? s->tcb->snd.cap : s->sndbuf));
	case SO_RCVBUF:
		return get_int(val, len, (int)(s->tcb ? s->tcb->rcv.cap : s->rcvbuf));
	case SO_LINGER:
		if (!val || !len || *len < (socklen_t)sizeof(lg))
			return rs_err(EINVAL);
		lg.l_onoff = s->linger_on;
		lg.l_linger = s->linger_secs;
		memcpy(val, &lg, sizeof(lg));
		*len = sizeof(lg);
		return 0;
	default:
		return rs_err(ENOPROTOOPT);
	}
}

int rs_getsockopt(struct rs_core *c, int fd, int level, int name, void *val,
		  socklen_t *len)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	if (level == SOL_SOCKET)
		return get_sol_socket(s, name, val, len);
	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		return get_int(val, len, s->nodelay);
	if (level == IPPROTO_TCP && name == TCP_MAXSEG)
		return get_int(val, len, s->tcb ? s->tcb->mss : c->stack->conf.mss);
	if (level == IPPROTO_TCP && (name == TCP_KEEPIDLE ||
				     name == TCP_KEEPINTVL || name == TCP_KEEPCNT))
		return get_int(val, len, rs_tcp_keepalive_get(&s->ka, name));
	return rs_err(ENOPROTOOPT);
}

static int set_buf(struct rs_sock *s, int name, int v)
{
	uint32_t b = v < 0 ? RS_BUF_MIN : (uint32_t)v;

	b = RS_MIN(RS_MAX(b, RS_BUF_MIN), RS_BUF_MAX);
	if (s->lst) { /* inherited by connections accepted later */
		if (name == SO_SNDBUF)
			s->lst->sndbuf = b;
		else
			s->lst->rcvbuf = b;
	}
	if (name == SO_SNDBUF) { /* and no autotuning, as Linux */
		s->sndbuf = b;
		s->sndbuf_lock = 1;
		if (s->lst)
			s->lst->sndbuf_lock = 1;
		if (s->tcb) {
			s->tcb->flags |= TF_SNDBUF_LOCK;
			if (!s->tcb->snd.mem && !s->tcb->snd.len)
				s->tcb->snd.cap = b;
		}
	} else {
		s->rcvbuf = b; /* takes effect for connections made after */
	}
	return 0;
}

static int set_sol_socket(struct rs_sock *s, int name, const void *val,
			  socklen_t len)
{
	struct linger lg;
	int v;

	if (name == SO_LINGER) {
		if (!val || len < (socklen_t)sizeof(lg))
			return rs_err(EINVAL);
		memcpy(&lg, val, sizeof(lg));
		s->linger_on = !!lg.l_onoff;
		s->linger_secs = lg.l_linger;
		return 0;
	}
	if (!val || len < (socklen_t)sizeof(int))
		return rs_err(EINVAL);
	memcpy(&v, val, sizeof(int));
	switch (name) {
	case SO_REUSEADDR:
		s->reuseaddr = !!v;
		return 0;
	case SO_REUSEPORT:
		s->reuseport = !!v;
		return 0;
	case SO_KEEPALIVE:
		s->keepalive = !!v;
		if (s->tcb)
			rs_tcp_keepalive_set(s->tcb, s->keepalive, &s->ka);
		return 0;
	case SO_SNDBUF:
	case SO_RCVBUF:
		return set_buf(s, name, v);
	default:
		return rs_err(ENOPROTOOPT);
	}
}

/* TCP_KEEPIDLE, TCP_KEEPINTVL (1..32767 s), TCP_KEEPCNT (1..127), as
 * Linux bounds them; a connection with SO_KEEPALIVE re-arms. */
static int set_keepalive(struct rs_sock *s, int name, int v)
{
	if (v < 1 || v > (name == TCP_KEEPCNT ? 127 : 32767))
		return rs_err(EINVAL);
	if (name == TCP_KEEPIDLE)
		s->ka.idle_s = (uint16_t)v;
	else if (name == TCP_KEEPINTVL)
		s->ka.intvl_s = (uint16_t)v;
	else
		s->ka.cnt = (uint8_t)v;
	if (s->tcb && s->keepalive)
		rs_tcp_keepalive_set(s->tcb, 1, &s->ka);
	return 0;
}

int rs_setsockopt(struct rs_core *c, int fd, int level, int name,
		  const void *val, socklen_t len)
{
	struct rs_sock *s = rs_sock_get(c, fd);
	int v;

	if (!s)
		return -1;
	if (level == SOL_SOCKET)
		return set_sol_socket(s, name, val, len);
	if (level != IPPROTO_TCP ||
	    (name != TCP_NODELAY && name != TCP_KEEPIDLE &&
	     name != TCP_KEEPINTVL && name != TCP_KEEPCNT))
		return rs_err(ENOPROTOOPT);
	if (!val || len < (socklen_t)sizeof(int))
		return rs_err(EINVAL);
	memcpy(&v, val, sizeof(int));
	if (name != TCP_NODELAY)
		return set_keepalive(s, name, v);
	s->nodelay = !!v;
	if (s->lst)
		s->lst->nodelay = s->nodelay;
	if (s->tcb) {
		if (v)
			s->tcb->flags |= TF_NODELAY;
		else
			s->tcb->flags &= ~(uint32_t)TF_NODELAY;
		rs_tcp_schedule(s->tcb);
	}
	return 0;
}

int rs_getsockname(struct rs_core *c, int fd, struct sockaddr *addr,
		   socklen_t *len)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	if (!addr || !len)
		return rs_err(EFAULT);
	if (s->tcb)
		rs_sockaddr_out(s->tcb->h.laddr, s->tcb->h.lport, addr, len);
	else
		rs_sockaddr_out(s->laddr, s->lport, addr, len);
	return 0;
}

int rs_getpeername(struct rs_core *c, int fd, struct sockaddr *addr,
		   socklen_t *len)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return -1;
	if (!addr || !len)
		return rs_err(EFAULT);
	if (!s->tcb || s->tcb->state == RS_TCP_SYN_SENT)
		return rs_err(ENOTCONN);
	rs_sockaddr_out(s->tcb->h.raddr, s->tcb->h.rport, addr, len);
	return 0;
}

const char *rs_sock_state(struct rs_core *c, int fd)
{
	struct rs_sock *s = rs_sock_get(c, fd);

	if (!s)
		return NULL;
	if (s->lst)
		return "LISTEN";
	if (!s->tcb)
		return "CLOSED";
	return rs_tcp_state_names[s->tcb->state];
}
