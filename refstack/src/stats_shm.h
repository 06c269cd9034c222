/* Per-core statistics published in shared memory for rsctl.
 *
 * A stack instance that wants to be inspected creates one segment,
 * /dev/shm/refstack.<pid>, and passes rs_shm_publish as its publish hook
 * (rs_stack_conf.publish, publish_arg = the segment):
 *
 *     struct rs_shm *shm = rs_shm_create(NULL, conf.ncores, 0, &err);
 *     conf.stats_publish = 1;
 *     conf.publish = rs_shm_publish;
 *     conf.publish_arg = shm;
 *
 * Layout: a header (magic, version, geometry, counter names and
 * descriptions copied from RS_CORE_COUNTERS so readers print them
 * generically), then one region per core.  A region is written only by the
 * thread that owns the core, under a sequence counter (odd while writing),
 * so readers retry until they get a consistent snapshot and never block
 * the writer.  The socket list is expensive, so it is refreshed only on
 * request, one page at a time: a reader sets sock_off (the first socket it
 * wants, in the core's own order) and bumps sock_req; the owning core
 * writes up to sock_cap sockets from there at its next publish, with
 * sock_first = sock_off and sock_total = all it has, and sets sock_done =
 * sock_req.  A reader pages through with sock_off += sock_count until
 * sock_total (a list that changes meanwhile may show a socket twice or
 * miss one, as ss reading /proc in chunks); two readers at once see
 * sock_first differ from what they asked and ask again. */
#ifndef RS_STATS_SHM_H
#define RS_STATS_SHM_H

#include <stdint.h>

#include "../include/refstack.h"

#define RS_SHM_MAGIC "RSSTATS1"
#define RS_SHM_VERSION 3u
#define RS_SHM_MAX_COUNTERS 192u
#define RS_SHM_NAME_LEN 40u
#define RS_SHM_DESC_LEN 72u
#define RS_SHM_DEF_SOCKS 4096u
#define RS_SHM_FEATURES_SET (1u << 31)

struct rs_shm_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint32_t ncores;
	uint32_t ncounters;
	uint32_t sock_cap;         /* socket entries per core region */
	uint32_t core_size;        /* bytes per core region */
	uint64_t core_off;         /* offset of core 0's region */
	int32_t pid;
	uint32_t features;         /* RS_FEAT_* | RS_SHM_FEATURES_SET once a
				    * core has published */
	uint32_t cc;               /* RS_CC_* + 1 once a core has published */
	char names[RS_SHM_MAX_COUNTERS][RS_SHM_NAME_LEN];
	char descs[RS_SHM_MAX_COUNTERS][RS_SHM_DESC_LEN];
};

/* A socket without pointers (struct rs_sock_info's state is a pointer). */
struct rs_shm_sock {
	int32_t fd;
	uint32_t core;
	char state[16];
	uint32_t laddr, raddr;     /* network byte order */
	uint16_t lport, rport;     /* host byte order */
	uint32_t snd_queue, rcv_queue, accept_queue;
	uint32_t rto_us, srtt_us, cwnd, ssthresh, snd_wnd, rcv_wnd;
	uint32_t mss;
	uint64_t retransmits;
};

struct rs_shm_core {
	uint64_t seq;              /* counters/tables: odd while writing */
	uint64_t publishes;
	uint64_t now_ns;           /* stack time of the last publish */
	struct rs_table_sizes tables;
	uint32_t pad;
	uint64_t counters[RS_SHM_MAX_COUNTERS];
	uint64_t sock_req;         /* readers: bump to ask for a list */
	uint64_t sock_done;        /* writer: request served */
	uint64_t sock_seq;         /* socket list: odd while writing */
	uint32_t sock_off;         /* readers: first socket wanted */
	uint32_t sock_first;       /* writer: first socket written */
	uint32_t sock_count;       /* entries written */
	uint32_t sock_total;       /* sockets the core has */
	struct rs_shm_sock socks[]; /* sock_cap entries */
};

struct rs_shm;

/* Writer side.  name NULL → "refstack.<pid>"; sock_cap 0 → default.
 * NULL with *err = negative errno on failure. */
struct rs_shm *rs_shm_create(const char *name, unsigned ncores,
			     unsigned sock_cap, int *err);
/* Unmap and unlink the segment. */
void rs_shm_destroy(struct rs_shm *shm);
/* The publish hook (rs_publish_fn); arg is the struct rs_shm. */
void rs_shm_publish(struct rs_core *core, uint64_t now_ns, void *arg);

/* Reader side: attach an existing segment by path (/dev/shm/...). */
struct rs_shm *rs_shm_attach(const char *path, int *err);
void rs_shm_detach(struct rs_shm *shm);
const struct rs_shm_hdr *rs_shm_header(const struct rs_shm *shm);

struct rs_shm_snap {
	uint64_t publishes;
	uint64_t now_ns;
	struct rs_table_sizes tables;
	uint64_t counters[RS_SHM_MAX_COUNTERS];
};
/* Consistent copy of a core's counters and tables; -EAGAIN if the writer
 * kept it busy for every retry, -EINVAL for a bad core. */
int rs_shm_read_core(struct rs_shm *shm, unsigned core,
		     struct rs_shm_snap *out);
/* Ask core for a fresh page of its socket list, from socket number off,
 * and wait up to timeout_ms for it; copy up to cap entries into out.
 * Returns the count copied or -EINVAL/-EAGAIN.  *stale is set to 1 when
 * the owner did not publish in time (what the segment holds, possibly
 * another page or empty, is returned); *total is the number of sockets
 * the owner has (read on from off + count while below it). */
int rs_shm_read_socks(struct rs_shm *shm, unsigned core, uint32_t off,
		      struct rs_shm_sock *out, unsigned cap, int timeout_ms,
		      int *stale, uint32_t *total);

#endif
