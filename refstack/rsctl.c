/* rsctl: the `ss`/`netstat` of refstack.  Reads the statistics segments
 * (/dev/shm/refstack.<pid>) that running instances publish and prints
 * per-core tables, counters and sockets as text or JSON.
 *
 *   rsctl [-p PID] [--path FILE] [--json] [--all] [--timeout MS]
 *         [sockets|counters|tables]...
 *   rsctl features [--json]
 *
 * Without -p/--path every live instance is shown (segments of dead
 * processes are skipped).  Without a command, all three sections are
 * printed.  Counters are at most one publish interval old (100 ms by
 * default); the socket list is fresh and complete: rsctl asks each core
 * for it a page (the segment's sock_cap sockets) at a time and waits up
 * to --timeout for the owner's next publish of each.
 *
 * `rsctl features` prints the feature names one per line (the words of a
 * feature set); with --json:
 *   {"features":["listen","estab","rfd","fastfd"],
 *    "sets":{"base":[],"full":["listen","estab","rfd","fastfd"]}}
 * Each instance's header shows its active set and congestion control
 * ("features listen,rfd, cc reno").
 *
 * JSON (--json), one line:
 *   {"instances":[{"pid":P,"ncores":N,"cc":"bbr","feature_set":"listen,rfd",
 *     "features":["listen","rfd"],
 *     "cores":[{"core":0,"publishes":K,"now_ns":T,
 *               "tables":{"sockets","listen","syn_recv","established",
 *                         "time_wait"},
 *               "counters":{<every RS_CORE_COUNTERS name>: value}}],
 *     "sockets":[{"core","fd","state","local":"a.b.c.d:p","remote",
 *                 "rcv_queue","snd_queue","accept_queue","rto_us",
 *                 "srtt_us","cwnd","ssthresh","snd_wnd","rcv_wnd","mss",
 *                 "retransmits"}],
 *     "sockets_stale":false}]}
 * Sections not asked for are left out.  Exit status 1 if an instance
 * could not be read, 2 for bad usage. */
#include "src/stats_shm.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INST 64
#define MAX_CORES 128

enum { SEC_TABLES = 1, SEC_COUNTERS = 2, SEC_SOCKETS = 4, SEC_FEATURES = 8 };

struct opts {
	long pid;
	const char *path;
	long json;
	long all;
	long timeout_ms;
	unsigned sections;
};

/* ---- options: one table drives parsing and --help ---------------------- */

struct opt_def {
	const char *sname, *lname;
	int has_arg;          /* 0 flag, 1 number, 2 string */
	size_t off;
	const char *help;
};

static const struct opt_def opt_table[] = {
	{ "-p", "--pid", 1, offsetof(struct opts, pid), "instance process id" },
	{ NULL, "--path", 2, offsetof(struct opts, path),
	  "statistics segment file (default /dev/shm/refstack.<pid>)" },
	{ "-j", "--json", 0, offsetof(struct opts, json), "JSON output" },
	{ "-a", "--all", 0, offsetof(struct opts, all),
	  "also print counters that are zero" },
	{ "-t", "--timeout", 1, offsetof(struct opts, timeout_ms),
	  "ms to wait for a fresh socket list (default 1000)" },
};
#define NOPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: rsctl [options] [sockets|counters|tables]...\n"
		   "       rsctl features [--json]\n");
	for (size_t i = 0; i < NOPTS; i++)
		fprintf(f, "  %-3s %-10s %s %s\n", opt_table[i].sname ? opt_table[i].sname : "",
			opt_table[i].lname, opt_table[i].has_arg ? "ARG" : "   ",
			opt_table[i].help);
}

static const struct opt_def *opt_find(const char *arg)
{
	for (size_t i = 0; i < NOPTS; i++)
		if ((opt_table[i].sname && strcmp(arg, opt_table[i].sname) == 0) ||
		    strcmp(arg, opt_table[i].lname) == 0)
			return &opt_table[i];
	return NULL;
}

static int opt_store(struct opts *o, const struct opt_def *d, const char *val)
{
	char *end;
	if (d->has_arg == 0) {
		*(long *)(void *)((char *)o + d->off) = 1;
		return 0;
	}
	if (!val) {
		fprintf(stderr, "rsctl: option %s needs an argument\n", d->lname);
		return -1;
	}
	if (d->has_arg == 2) {
		*(const char **)(void *)((char *)o + d->off) = val;
		return 0;
	}
	long v = strtol(val, &end, 10);
	if (*end || end == val || v < 0) {
		fprintf(stderr, "rsctl: %s: bad number '%s'\n", d->lname, val);
		return -1;
	}
	*(long *)(void *)((char *)o + d->off) = v;
	return 0;
}

static int opt_section(struct opts *o, const char *arg)
{
	static const struct { const char *name; unsigned bit; } secs[] = {
		{ "tables", SEC_TABLES }, { "counters", SEC_COUNTERS },
		{ "sockets", SEC_SOCKETS }, { "features", SEC_FEATURES },
	};
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		if (strcmp(arg, secs[i].name) == 0) {
			o->sections |= secs[i].bit;
			return 0;
		}
	fprintf(stderr, "rsctl: unknown command or option '%s'\n", arg);
	usage(stderr);
	return -1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .timeout_ms = 1000 };
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		const struct opt_def *d = opt_find(argv[i]);
		if (!d) {
			if (opt_section(o, argv[i]) < 0)
				return -1;
			continue;
		}
		const char *val = d->has_arg && i + 1 < argc ? argv[++i] : NULL;
		if (opt_store(o, d, val) < 0)
			return -1;
	}
	if ((o->sections & SEC_FEATURES) && o->sections != SEC_FEATURES) {
		fprintf(stderr, "rsctl: 'features' is a command of its own\n");
		return -1;
	}
	if (!o->sections)
		o->sections = SEC_TABLES | SEC_COUNTERS | SEC_SOCKETS;
	return 0;
}

/* ---- feature names ---------------------------------------------------- */

static void json_feature_list(uint32_t set)
{
	int first = 1;
	printf("[");
	for (unsigned i = 0; i < rs_nfeatures; i++)
		if (set & rs_features[i].bit) {
			printf("%s\"%s\"", first ? "" : ",", rs_features[i].name);
			first = 0;
		}
	printf("]");
}

static int show_features(int json)
{
	if (!json) {
		for (unsigned i = 0; i < rs_nfeatures; i++)
			printf("%s\n", rs_features[i].name);
		return 0;
	}
	printf("{\"features\":");
	json_feature_list(RS_FEAT_ALL);
	printf(",\"sets\":{\"base\":[],\"full\":");
	json_feature_list(RS_FEAT_ALL);
	printf("}}\n");
	return 0;
}

/* The instance's active set ("unknown" before its first publish). */
static const char *inst_features(const struct rs_shm_hdr *h, char *buf, size_t len)
{
	uint32_t f = __atomic_load_n(&h->features, __ATOMIC_RELAXED);
	if (!(f & RS_SHM_FEATURES_SET)) {
		snprintf(buf, len, "unknown");
		return buf;
	}
	return rs_features_name(f, buf, len);
}

/* ---- finding instances --------------------------------------------------- */

static int pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Paths of live instances' segments into paths[]; returns the count. */
static int find_instances(char paths[][300], int max)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char *end;
		if (strncmp(e->d_name, "refstack.", 9) != 0)
			continue;
		long pid = strtol(e->d_name + 9, &end, 10);
		if (*end || !pid_alive(pid))
			continue;  /* stale segment of a dead process: skip */
		snprintf(paths[n++], 300, "/dev/shm/%s", e->d_name);
	}
	closedir(d);
	return n;
}

/* ---- text output ---------------------------------------------------------- */

static void text_tables(const struct rs_shm_hdr *h, const struct rs_shm_snap *s)
{
	printf("%-5s %9s %7s %9s %12s %10s %10s\n", "core", "sockets", "listen",
	       "syn_recv", "established", "time_wait", "publishes");
	for (unsigned c = 0; c < h->ncores; c++)
		printf("%-5u %9u %7u %9u %12u %10u %10llu\n", c, s[c].tables.sockets,
		       s[c].tables.listen, s[c].tables.syn_recv,
		       s[c].tables.established, s[c].tables.time_wait,
		       (unsigned long long)s[c].publishes);
}

static void text_counters(const struct rs_shm_hdr *h,
			  const struct rs_shm_snap *s, int all)
{
	printf("%-26s", "counter");
	for (unsigned c = 0; c < h->ncores; c++)
		printf(" %12s%-2u", "core", c);
	printf(" %14s  %s\n", "total", "description");
	for (unsigned i = 0; i < h->ncounters; i++) {
		unsigned long long tot = 0;
		for (unsigned c = 0; c < h->ncores; c++)
			tot += s[c].counters[i];
		if (!tot && !all)
			continue;
		printf("%-26s", h->names[i]);
		for (unsigned c = 0; c < h->ncores; c++)
			printf(" %14llu", (unsigned long long)s[c].counters[i]);
		printf(" %14llu  %s\n", tot, h->descs[i]);
	}
}

static void addr_str(char *buf, size_t len, uint32_t addr, uint16_t port)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = addr };
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, port);
}

static void text_sock(const struct rs_shm_sock *k)
{
	char l[32], r[32];
	addr_str(l, sizeof(l), k->laddr, k->lport);
	addr_str(r, sizeof(r), k->raddr, k->rport);
	printf("%-4u %6d %-12s %8u %8u %-21s %-21s %7.1f %7.1f %8u %6llu\n",
	       k->core, k->fd, k->state, k->rcv_queue,
	       strcmp(k->state, "LISTEN") == 0 ? k->accept_queue : k->snd_queue,
	       l, r, k->rto_us / 1000.0, k->srtt_us / 1000.0, k->cwnd,
	       (unsigned long long)k->retransmits);
}

/* ---- JSON output ----------------------------------------------------------- */

static void json_tables(const struct rs_table_sizes *t)
{
	printf("\"tables\":{\"sockets\":%u,\"listen\":%u,\"syn_recv\":%u,"
	       "\"established\":%u,\"time_wait\":%u}",
	       t->sockets, t->listen, t->syn_recv, t->established, t->time_wait);
}

static void json_counters(const struct rs_shm_hdr *h, const struct rs_shm_snap *s)
{
	printf("\"counters\":{");
	for (unsigned i = 0; i < h->ncounters; i++)
		printf("%s\"%s\":%llu", i ? "," : "", h->names[i],
		       (unsigned long long)s->counters[i]);
	printf("}");
}

static void json_sock(const struct rs_shm_sock *k, int first)
{
	char l[32], r[32];
	addr_str(l, sizeof(l), k->laddr, k->lport);
	addr_str(r, sizeof(r), k->raddr, k->rport);
	printf("%s{\"core\":%u,\"fd\":%d,\"state\":\"%s\",\"local\":\"%s\","
	       "\"remote\":\"%s\",\"rcv_queue\":%u,\"snd_queue\":%u,"
	       "\"accept_queue\":%u,\"rto_us\":%u,\"srtt_us\":%u,\"cwnd\":%u,"
	       "\"ssthresh\":%u,\"snd_wnd\":%u,\"rcv_wnd\":%u,\"mss\":%u,"
	       "\"retransmits\":%llu}", first ? "" : ",", k->core, k->fd,
	       k->state, l, r, k->rcv_queue, k->snd_queue, k->accept_queue,
	       k->rto_us, k->srtt_us, k->cwnd, k->ssthresh, k->snd_wnd,
	       k->rcv_wnd, k->mss, (unsigned long long)k->retransmits);
}

/* ---- one instance ------------------------------------------------------------ */

struct inst {
	struct rs_shm *shm;
	const struct rs_shm_hdr *h;
	struct rs_shm_snap snap[MAX_CORES];
};

static int read_snaps(struct inst *in, const char *path)
{
	if (in->h->ncores > MAX_CORES) {
		fprintf(stderr, "rsctl: %s: %u cores is more than supported\n",
			path, in->h->ncores);
		return -1;
	}
	for (unsigned c = 0; c < in->h->ncores; c++) {
		int rc = rs_shm_read_core(in->shm, c, &in->snap[c]);
		if (rc < 0) {
			fprintf(stderr, "rsctl: %s: core %u: %s\n", path, c,
				strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static int show_socks(struct inst *in, const struct opts *o, const char *path)
{
	unsigned cap = in->h->sock_cap;
	struct rs_shm_sock *buf = calloc(cap ? cap : 1, sizeof(*buf));
	int first = 1, stale_any = 0;
	if (!buf) {
		fprintf(stderr, "rsctl: out of memory\n");
		return -1;
	}
	if (!o->json)
		printf("%-4s %6s %-12s %8s %8s %-21s %-21s %7s %7s %8s %6s\n", "core",
		       "fd", "state", "recv-q", "send-q", "local", "peer", "rto_ms",
		       "srtt_ms", "cwnd", "retx");
	else
		printf("\"sockets\":[");
	for (unsigned c = 0; c < in->h->ncores; c++) {
		uint32_t off = 0, total = 0;
		int stale = 0, n;
		/* page by page: the segment holds sock_cap sockets of a core */
		do {
			n = rs_shm_read_socks(in->shm, c, off, buf, cap,
					      (int)o->timeout_ms, &stale, &total);
			stale_any |= stale;
			for (int i = 0; i < n; i++, first = 0)
				o->json ? json_sock(&buf[i], first) : text_sock(&buf[i]);
			off += n > 0 ? (uint32_t)n : 0;
		} while (n > 0 && !stale && off < total);
		if (!o->json && total > off)
			printf("# core %u: %u sockets, %u shown\n", c, total, off);
	}
	if (o->json)
		printf("],\"sockets_stale\":%s", stale_any ? "true" : "false");
	else if (stale_any)
		printf("# %s: instance did not publish within %ld ms: list may be stale\n",
		       path, o->timeout_ms);
	free(buf);
	return 0;
}

/* The instance's congestion control ("?" before its first publish). */
static const char *inst_cc(const struct rs_shm_hdr *h)
{
	uint32_t cc = __atomic_load_n(&h->cc, __ATOMIC_RELAXED);

	return cc ? rs_cc_name(cc - 1) : "?";
}

static void show_text(struct inst *in, const struct opts *o)
{
	char fs[64];
	printf("refstack pid %d, %u core%s, features %s, cc %s\n", in->h->pid,
	       in->h->ncores, in->h->ncores == 1 ? "" : "s",
	       inst_features(in->h, fs, sizeof(fs)), inst_cc(in->h));
	if (o->sections & SEC_TABLES)
		text_tables(in->h, in->snap);
	if (o->sections & SEC_COUNTERS)
		text_counters(in->h, in->snap, (int)o->all);
}

static void show_json(struct inst *in, const struct opts *o)
{
	char fs[64];
	uint32_t f = __atomic_load_n(&in->h->features, __ATOMIC_RELAXED);
	printf("{\"pid\":%d,\"ncores\":%u,\"cc\":\"%s\",\"feature_set\":\"%s\",\"features\":",
	       in->h->pid, in->h->ncores, inst_cc(in->h),
	       inst_features(in->h, fs, sizeof(fs)));
	json_feature_list(f & RS_SHM_FEATURES_SET ? f : 0);
	printf(",\"cores\":[");
	for (unsigned c = 0; c < in->h->ncores; c++) {
		printf("%s{\"core\":%u,\"publishes\":%llu,\"now_ns\":%llu", c ? "," : "",
		       c, (unsigned long long)in->snap[c].publishes,
		       (unsigned long long)in->snap[c].now_ns);
		if (o->sections & SEC_TABLES) {
			printf(",");
			json_tables(&in->snap[c].tables);
		}
		if (o->sections & SEC_COUNTERS) {
			printf(",");
			json_counters(in->h, &in->snap[c]);
		}
		printf("}");
	}
	printf("]");
}

static int show_instance(const char *path, const struct opts *o)
{
	static struct inst in;
	static int shown;
	int err, rc = -1;
	in.shm = rs_shm_attach(path, &err);
	if (!in.shm) {
		fprintf(stderr, "rsctl: %s: %s\n", path,
			err == -EPROTO ? "not a refstack statistics segment (or other version)"
				       : strerror(-err));
		return -1;
	}
	in.h = rs_shm_header(in.shm);
	if (read_snaps(&in, path) == 0) {
		if (o->json) {
			printf("%s", shown++ ? "," : "");
			show_json(&in, o);
		} else {
			show_text(&in, o);
		}
		rc = 0;
		if (o->sections & SEC_SOCKETS) {
			if (o->json)
				printf(",");
			rc = show_socks(&in, o, path);
		}
		if (o->json)
			printf("}");
	}
	rs_shm_detach(in.shm);
	return rc;
}

int main(int argc, char **argv)
{
	static char paths[MAX_INST][300];
	struct opts o;
	int n, rc = 0;
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.sections == SEC_FEATURES)
		return show_features((int)o.json);
	if (o.path) {
		snprintf(paths[0], sizeof(paths[0]), "%s", o.path);
		n = 1;
	} else if (o.pid) {
		snprintf(paths[0], sizeof(paths[0]), "/dev/shm/refstack.%ld", o.pid);
		n = 1;
	} else {
		n = find_instances(paths, MAX_INST);
	}
	if (n == 0) {
		fprintf(stderr, "rsctl: no running refstack instance "
				"(no /dev/shm/refstack.<pid> of a live process)\n");
		return 1;
	}
	if (o.json)
		printf("{\"instances\":[");
	for (int i = 0; i < n; i++)
		if (show_instance(paths[i], &o) < 0)
			rc = 1;
	if (o.json)
		printf("]}\n");
	return rc;
}
