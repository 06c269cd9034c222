/* Stack instance: configuration, the shared tables, the core array. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include "arena.h"
#include "sock.h"

void (*rs_test_point)(const char *where);

void rs_stack_conf_init(struct rs_stack_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->netmask.s_addr = htonl(0xffffff00u);
	c->ncores = 1;
	c->time_wait_ns = 1000000000ull;
	c->sndbuf = 256 * 1024;
	c->rcvbuf = 256 * 1024;
	c->max_sockets = 65536;
	c->max_conns = 65536;
	c->max_time_wait = 1u << 20;
	c->max_buf_bytes = 1u << 30;
	c->syn_backlog = 1024;
	c->syncookies = RS_SYNCOOKIES_ON_FULL;
	c->cc = RS_CC_BBR;
	c->hash_buckets = 65536;
	c->mss = 1460;
	c->port_lo = 32768;
	c->port_hi = 60999;
	c->options = RS_OPT_WSCALE | RS_OPT_TIMESTAMPS | RS_OPT_DELACK |
		     RS_OPT_SACK | RS_OPT_TLP;
	c->publish_interval_ns = 100000000ull;
}

static int conf_check(const struct rs_stack_conf *c)
{
	if (!c->addr.s_addr || c->ncores == 0 || c->ncores > 64)
		return -EINVAL;
	if (c->sndbuf < 2048 || c->rcvbuf < 2048 || c->mss < 64 ||
	    c->mss > RS_FRAME_BUF - RS_ETH_HLEN - RS_IP_HLEN - 60)
		return -EINVAL;
	if (c->features & ~(uint32_t)RS_FEAT_ALL)
		return -EINVAL;
	if (c->syncookies > RS_SYNCOOKIES_ALWAYS || c->cc >= RS_CC_COUNT)
		return -EINVAL;
	if (!c->max_sockets || !c->max_conns || c->port_lo == 0 ||
	    c->port_hi < c->port_lo)
		return -EINVAL;
	return 0;
}

static int stack_tables(struct rs_stack *s)
{
	int err = 0;

	s->ehash_ops = &rs_table_global;
	s->lhash_ops = &rs_table_global;
	s->port_ops = &rs_port_global;
	s->fd_ops = (s->conf.features & RS_FEAT_FAST_FD) ? &rs_fd_local
							 : &rs_fd_global;
	s->ehash = s->ehash_ops->create(s->arena, s->conf.hash_buckets, &err);
	if (!s->ehash)
		return err;
	s->lhash = s->lhash_ops->create(s->arena, 1024, &err);
	if (!s->lhash)
		return err;
	s->ports = s->port_ops->create(s->arena, s->conf.port_lo,
				       s->conf.port_hi, s->conf.seed, &err);
	if (!s->ports)
		return err;
	s->fds = s->fd_ops->create(s->arena, s->conf.max_sockets,
				   s->conf.ncores, &err);
	if (!s->fds)
		return err;
	return rs_steer_create(s);
}

struct rs_stack *rs_stack_create(const struct rs_stack_conf *conf, int *err)
{
	struct rs_stack *s;
	int rc = conf_check(conf);

	if (rc) {
		*err = rc;
		return NULL;
	}
	s = rs_mem_zalloc(conf->arena, sizeof(*s));
	if (!s)
		goto nomem;
	s->conf = *conf;
	s->arena = conf->arena;
	s->cores = rs_mem_zalloc(s->arena, conf->ncores * sizeof(*s->cores));
	if (!s->cores)
		goto nomem;
	if (!s->conf.seed)
		s->conf.seed = rs_host_secret();
	if (!s->conf.seed &&
	    getrandom(&s->conf.seed, sizeof(s->conf.seed), 0) !=
		    (ssize_t)sizeof(s->conf.seed))
		s->conf.seed = 0x243f6a8885a308d3ull ^ (uint64_t)time(NULL);
	s->sock_event = rs_sock_wake;
	s->ip = ntohl(conf->addr.s_addr);
	s->netmask = ntohl(conf->netmask.s_addr);
	s->gateway = ntohl(conf->gateway.s_addr);
	s->net = s->ip & s->netmask;
	s->net_src = s->bcast_src = s->ip;
	if (s->netmask < 0xfffffffeu) {
		s->net_src = s->net;
		s->bcast_src = s->net | ~s->netmask;
	}
	rc = stack_tables(s);
	if (rc) {
		rs_stack_destroy(s);
		*err = rc;
		return NULL;
	}
	return s;
nomem:
	if (s)
		rs_mem_free(s->arena, s->cores);
	rs_mem_free(conf->arena, s);
	*err = -ENOMEM;
	return NULL;
}

void rs_stack_destroy(struct rs_stack *s)
{
	if (!s)
		return;
	if (s->ehash)
		s->ehash_ops->destroy(s->ehash);
	if (s->lhash)
		s->lhash_ops->destroy(s->lhash);
	if (s->ports)
		s->port_ops->destroy(s->ports);
	if (s->fds)
		s->fd_ops->destroy(s->fds);
	rs_steer_destroy(s);
	rs_mem_free(s->arena, s->cores);
	rs_mem_free(s->arena, s);
}

const struct rs_stack_conf *rs_stack_conf(const struct rs_stack *s)
{
	return &s->conf;
}

void rs_stack_cores_dynamic(struct rs_stack *s)
{
	__atomic_store_n(&s->cores_dynamic, 1, __ATOMIC_RELAXED);
}

/* The generation first, the flag second: an insert that finds the flag
 * clear finds the new generation too, which its core has not seen yet
 * (tcp_hash.c). */
void rs_stack_cores_joining(struct rs_stack *s, int on)
{
	if (!on)
		__atomic_add_fetch(&s->join_gen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->cores_joining, !!on, __ATOMIC_RELEASE);
}
