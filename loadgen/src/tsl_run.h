/* tsl_run: the shared types of a run: a job's resolved plan, per-thread
 * workers (client and server), the engine ops table, the time series. */
#ifndef TSL_RUN_H
#define TSL_RUN_H

#include "tsl_list.h"
#include "tsl_opt.h"
#include "tsl_stats.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

extern atomic_int tsl_stop; /* set by the main thread on SIGINT/SIGTERM */

static inline uint64_t tsl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* HTTP response parser state, kept per connection (small). */
struct tsl_http_rx {
	uint64_t left;     /* body / chunk bytes still to skip */
	uint16_t status;
	uint8_t st;        /* parser state */
	uint8_t len;       /* bytes in line[] */
	uint8_t flags;     /* chunked, close, length known, overflowed line */
	char line[43];
};

struct tsl_conn {
	int fd;            /* -1: no socket */
	uint8_t state;     /* TSL_CS_* */
	uint8_t in_txn;    /* a transaction is in progress on this slot */
	uint8_t close_after;
	uint8_t queued;    /* on the timeout list */
	uint32_t sent;     /* request bytes written */
	uint32_t prev, next;
	uint64_t t_begin;  /* transaction start (intended time in open loop) */
	uint64_t t_phase;  /* start of the current operation (connect/request) */
	union {
		uint64_t left; /* crr/rr: response bytes still expected */
		struct tsl_http_rx http;
	} rx;
};

enum tsl_conn_state {
	TSL_CS_FREE,       /* no socket */
	TSL_CS_CONNECTING,
	TSL_CS_SEND,
	TSL_CS_RECV,
	TSL_CS_IDLE,       /* open, no transaction */
};

enum tsl_rx_rc { TSL_RX_ERR = -1, TSL_RX_MORE = 0, TSL_RX_DONE = 1 };

struct tsl_worker;

/* A load engine: how a transaction's request looks and how its response
 * is recognised. The worker loop owns sockets, timing and statistics. */
struct tsl_engine {
	const char *name;
	int (*persistent)(const struct tsl_job *job);
	/* Build the per-thread request bytes (shared by all connections). */
	int (*build_request)(const struct tsl_job *job, char **buf, size_t *len);
	void (*rx_begin)(struct tsl_conn *c, const struct tsl_job *job);
	/* Consume response bytes; may set c->close_after. On TSL_RX_ERR sets
	 * *err. *used = bytes consumed (the rest would be pipelined junk). */
	int (*rx)(struct tsl_conn *c, const char *data, size_t n, size_t *used,
		  enum tsl_err *err);
	/* The peer closed: TSL_RX_DONE if that ends the response. */
	int (*rx_eof)(struct tsl_conn *c, enum tsl_err *err);
	/* HTTP status of the finished response, 0 if none. */
	unsigned (*status)(const struct tsl_conn *c);
};

const struct tsl_engine *tsl_engine_get(int64_t id);

#define TSL_RING 8

struct tsl_ival {
	uint64_t txns, conns, errs;
	struct tsl_hist total;
};

struct tsl_jobrun;

struct tsl_worker {
	struct tsl_jobrun *jr;
	int id, cpu;
	pthread_t th;
	int started;
	int epfd;
	int lfd;                   /* server: listener */
	struct tsl_conn *conns;
	uint32_t nconns;
	uint32_t tq_head, tq_tail; /* timeout FIFO (slot indices) */
	uint32_t *avail;           /* ring of slots without a transaction */
	uint32_t av_head, navail;
	uint32_t inflight;         /* slots with a transaction in progress */
	int persistent;
	char *req;
	size_t req_len;
	char *rx;
	size_t rx_len;
	uint32_t src_next;
	int recycle;               /* reuse sockets after a clean FIN close */
	uint32_t *fd_slot;         /* fd -> slot, or a socket-pool mark */
	uint32_t fd_cap;
	int *spare;                /* closed sockets ready to connect again */
	uint32_t nspare, nparked;  /* parked: FIN sent, not closed yet */
	uint64_t conn_quota;       /* connections this thread may still open */
	uint64_t next_send, send_gap;
	uint64_t t_stop;
	int measuring, quota_done;
	struct tsl_stats st;
	struct tsl_ival cur;       /* the interval being filled */
	uint64_t ival_k;
	struct tsl_ival ring[TSL_RING];
	atomic_ullong published;   /* intervals published */
	atomic_int finished;
	struct rusage ru0, ru1;
	char errmsg[256];
	void *srv;                 /* server state */
};

struct tsl_tspoint {
	double t;
	uint64_t txns, conns, errs;
	double p99_us;
};

struct tsl_jobrun {
	struct tsl_job *job;
	const struct tsl_engine *eng;
	struct sockaddr_in dst;
	struct in_addr *src;
	size_t nsrc;
	double pct[TSL_MAX_PCT];
	size_t npct;
	int cpus[TSL_MAX_CPUS];
	size_t ncpus;
	int nthreads;
	struct tsl_worker *w;
	uint64_t t_start, t_measure, t_end; /* t_end 0: no time limit */
	uint64_t ival_ns;
	/* time series, filled by the main thread */
	struct tsl_tspoint *ts;
	size_t nts, capts;
	uint64_t next_k;
	atomic_ullong consumed;
	/* results after the run */
	struct tsl_stats total;
	double elapsed_s;
	double user_s, sys_s;
	long vcsw, ivcsw;
};

/* Client and server worker thread bodies. */
void *tsl_client_main(void *arg);
void *tsl_server_main(void *arg);
int tsl_client_setup(struct tsl_worker *w);
int tsl_server_setup(struct tsl_worker *w); /* binds the listener */
void tsl_worker_free(struct tsl_worker *w);
/* Measurement start and interval publication (both roles). */
void tsl_worker_tick(struct tsl_worker *w, uint64_t now);

#endif
