/* shim_calls: socket calls as a program makes them, run under rs-run (the
 * LD_PRELOAD shim) by shim-tsload.sh.  Prints "ok - ..." / "FAIL - ..."
 * lines; the exit status is the number of failures.
 *
 *   shim_calls fds                 descriptors: no collision with kernel
 *                                  files, dup/fcntl/ioctl/fstat/close_range,
 *                                  unsupported calls (errno + one warning)
 *   shim_calls client HOST PORT    blocking connect, sendfile, writev,
 *                                  MSG_WAITALL, poll/select/epoll with a
 *                                  pipe and a stack socket in one set,
 *                                  SO_RCVTIMEO (peer: tsload rr server,
 *                                  req_size = resp_size = 65536)
 *   shim_calls server PORT N       blocking accept4 x N (read 64, write 64,
 *                                  close); CPU used while idle in accept
 *   shim_calls latecore PORT N FLAG
 *                                  (rs-run --cores 2) N connections
 *                                  accepted by the main thread, then a
 *                                  second thread makes its core (it joins
 *                                  the fanout group, half the flows land
 *                                  on it), FLAG is created, and the main
 *                                  thread answers each one (read 64,
 *                                  write 64)
 *   shim_calls busycore PORT SECONDS
 *                                  (rs-run --cores 2) two threads whose
 *                                  every epoll_wait finds work (a pipe
 *                                  that stays readable) for SECONDS:
 *                                  each drives a core of its own from its
 *                                  first wait (rsctl, in shim-calls.sh) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int fails;
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		int ok_ = !!(cond);                                            \
		printf(ok_ ? "ok - " : "FAIL - ");                             \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		fflush(stdout);                                                \
		fails += !ok_;                                                 \
	} while (0)

static int is_sock(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int tcp(void) { return socket(AF_INET, SOCK_STREAM, 0); }

/* ---- descriptors ------------------------------------------------------- */

static void t_collision(void)
{
	enum { ROUNDS = 40, FILES = 100, SOCKS = 50 };
	int socks[SOCKS], files[FILES], bad = 0, files_seen = 0;
	char path[] = "/tmp/shim-calls-XXXXXX";
	int tmp = mkstemp(path);

	unlink(path);
	for (int j = 0; j < SOCKS; j++)
		socks[j] = tcp();
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < FILES; i++)
			files[i] = open("/dev/null", O_RDONLY);
		for (int i = r % 2; i < SOCKS; i += 2) {
			close(socks[i]);
			socks[i] = tcp();
		}
		for (int i = 0; i < FILES; i++) {
			for (int j = 0; j < SOCKS; j++)
				if (files[i] == socks[j])
					bad++, printf("# round %d: file %d = socket %d\n", r, files[i], j);
			if (files[i] < 0 || is_sock(files[i]))
				bad++, printf("# round %d: file %d bad (%s)\n", r, files[i], strerror(errno));
			files_seen++;
		}
		for (int j = 0; j < SOCKS; j++)
			if (socks[j] < 0 || !is_sock(socks[j]))
				bad++, printf("# round %d: socket %d = %d bad (%s)\n", r, j, socks[j], strerror(errno));
		for (int i = r % 3; i < FILES; i++)
			close(files[i]);
		for (int i = 0; i < r % 3; i++)
			close(files[i]);
	}
	CHECK(bad == 0, "%d kernel files opened and closed among stack sockets coming and going: "
	      "no number shared (%d clashes)", files_seen, bad);
	int s = tcp();
	close(s);
	CHECK(close(s) < 0 && errno == EBADF, "close of a closed stack descriptor => EBADF");
	{	/* what /proc/PID/fd (ls, lsof) shows for a stack socket */
		const char *feat = getenv("RS_FEATURES"), *want = "refstack-socket";
		char link[64], target[256];
		int t = tcp();
		ssize_t n;
		if (feat && (!strcmp(feat, "full") || strstr(feat, "fastfd")))
			want = "refstack-fastfd";
		snprintf(link, sizeof(link), "/proc/self/fd/%d", t);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		CHECK(strstr(target, want) != NULL, "/proc/self/fd/%d -> %s", t, target);
		close(t);
	}
	CHECK(read(s, path, 1) < 0 && errno == EBADF, "read of it => EBADF");
	for (int j = 0; j < SOCKS; j++)
		close(socks[j]);
	close(tmp);
}

static void t_fdops(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), d, d2, v = 0;
	int p[2];

	CHECK(s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && (fcntl(s, F_GETFD) & FD_CLOEXEC),
	      "socket(SOCK_NONBLOCK|SOCK_CLOEXEC): F_GETFL has O_NONBLOCK, F_GETFD FD_CLOEXEC");
	d = dup(s);
	CHECK(d >= 0 && d != s && is_sock(d) && (fcntl(d, F_GETFL) & O_NONBLOCK) &&
	      !(fcntl(d, F_GETFD) & FD_CLOEXEC),
	      "dup: a socket sharing O_NONBLOCK, without FD_CLOEXEC");
	fcntl(s, F_SETFL, 0);
	CHECK(!(fcntl(d, F_GETFL) & O_NONBLOCK), "F_SETFL through one name changes the other (one file)");
	ioctl(d, FIONBIO, &(int){ 1 });
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK, "FIONBIO sets O_NONBLOCK");
	if (pipe(p) == 0) {
		int q = dup(p[0]);
		d2 = dup2(s, q);
		CHECK(d2 == q && is_sock(q), "dup2 of a socket onto a pipe's number");
		CHECK(dup2(p[1], d) == d && !is_sock(d) && write(d, "x", 1) == 1 &&
		      read(p[0], &v, 1) == 1, "dup2 of a pipe onto a socket's number: it is the pipe now");
		close(p[0]);
		close(p[1]);
		close(q);
		close(d);
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7777) };
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 8) == 0,
	      "bind 0.0.0.0:7777 and listen");
	socklen_t l = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1, "SO_ACCEPTCONN");
	CHECK(accept(s, NULL, NULL) < 0 && errno == EAGAIN, "accept on an idle non-blocking listener => EAGAIN");
	CHECK(ioctl(s, FIONREAD, &v) < 0 && errno == EINVAL, "FIONREAD on a listener => EINVAL");
	int nd = fcntl(s, F_DUPFD_CLOEXEC, 500);
	CHECK(nd >= 500 && is_sock(nd) && (fcntl(nd, F_GETFD) & FD_CLOEXEC), "F_DUPFD_CLOEXEC >= 500");
	CHECK(close_range(nd, nd + 10, 0) == 0 && fcntl(nd, F_GETFD) < 0 && errno == EBADF &&
	      is_sock(s), "close_range over a stack number; the other name stays");
	struct sockaddr_in g;
	l = sizeof(g);
	CHECK(getsockname(s, (struct sockaddr *)&g, &l) == 0 && ntohs(g.sin_port) == 7777,
	      "getsockname after close of a twin");
	close(s);
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(u >= 0 && is_sock(u), "AF_UNIX stays in the kernel");
	close(u);
}

static void t_unsupported(void)
{
	int s = tcp(), p[2], v = 1;

	CHECK(setsockopt(s, IPPROTO_IP, IP_TOS, &v, sizeof(v)) < 0 && errno == ENOPROTOOPT,
	      "setsockopt(IP_TOS) => ENOPROTOOPT (warning on stderr)");
	CHECK(setsockopt(s, IPPROTO_IP, IP_TTL, &v, sizeof(v)) < 0 && errno == ENOPROTOOPT,
	      "a second unsupported option => ENOPROTOOPT");
	if (pipe(p) == 0) {
		CHECK(splice(p[0], NULL, s, NULL, 10, 0) < 0 && errno == EINVAL,
		      "splice to a stack socket => EINVAL (warning)");
		close(p[0]);
		close(p[1]);
	}
	CHECK(send(s, "x", 1, MSG_OOB) < 0 && errno == EOPNOTSUPP, "send(MSG_OOB) => EOPNOTSUPP (warning)");
	CHECK(ioctl(s, SIOCATMARK, &v) < 0 && errno == ENOTTY, "ioctl(SIOCATMARK) => ENOTTY (warning)");
	CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0 &&
	      setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &v, sizeof(v)) == 0,
	      "TCP_NODELAY and TCP_QUICKACK accepted");
	close(s);
}

/* ---- client against a tsload rr server (64 KiB each way) --------------- */

#define RR 65536

static int connect_to(const char *host, int port, int nonblock)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	inet_pton(AF_INET, host, &a.sin_addr);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	return s;
}

static void t_client(const char *host, int port)
{
	static char buf[RR];
	char path[] = "/tmp/shim-calls-XXXXXX";
	int f = mkstemp(path), s, p[2], ep;
	off_t off = 0;
	struct timeval tv = { 0, 200000 };

	memset(buf, 'q', sizeof(buf));
	unlink(path);
	CHECK(write(f, buf, RR) == RR, "a 64 KiB file");
	s = connect_to(host, port, 0);
	CHECK(s >= 0, "blocking connect to %s:%d", host, port);
	CHECK(sendfile(s, f, &off, RR) == RR && off == RR, "sendfile of 64 KiB (blocking: all of it)");
	CHECK(recv(s, buf, RR, MSG_WAITALL) == RR, "recv(MSG_WAITALL) of the 64 KiB answer");
	struct iovec iov[2] = { { buf, RR / 2 }, { buf + RR / 2, RR / 2 } };
	CHECK(writev(s, iov, 2) == RR, "writev 2 x 32 KiB");
	if (pipe(p) == 0) {
		struct pollfd pf[2] = { { p[0], POLLIN, 0 }, { s, POLLIN, 0 } };
		int n = poll(pf, 2, 5000);
		CHECK(n == 1 && (pf[1].revents & POLLIN) && !pf[0].revents,
		      "poll(pipe, socket): the socket is readable, the pipe not");
		fd_set rd;
		FD_ZERO(&rd);
		FD_SET(p[0], &rd);
		FD_SET(s, &rd);
		if (write(p[1], "x", 1) != 1)
			fails++;
		n = select((p[0] > s ? p[0] : s) + 1, &rd, NULL, NULL, &(struct timeval){ 5, 0 });
		CHECK(n == 2 && FD_ISSET(p[0], &rd) && FD_ISSET(s, &rd), "select: both readable");
		ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 1 }, out[4];
		epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
		ev.data.u32 = 2;
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
		n = epoll_wait(ep, out, 4, 1000);
		CHECK(n == 2 && out[0].data.u32 + out[1].data.u32 == 3, "epoll: the pipe and the socket in one set");
		size_t got = 0;
		int v = 0;
		while (got < RR) {
			ssize_t k = read(s, buf, RR);
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		CHECK(got == RR, "read the second answer");
		CHECK(ioctl(s, FIONREAD, &v) == 0 && v == 0, "FIONREAD 0 when drained");
		char c;
		if (read(p[0], &c, 1) != 1)
			fails++;
		n = epoll_wait(ep, out, 4, 300);
		CHECK(n == 0, "epoll_wait times out with nothing ready (300 ms) (%d: %x %u)", n,
		      n > 0 ? out[0].events : 0, n > 0 ? out[0].data.u32 : 0);
		close(ep);
		close(p[0]);
		close(p[1]);
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t k = read(s, buf, 1);
	CHECK(k < 0 && errno == EAGAIN, "SO_RCVTIMEO 200 ms: blocking read => EAGAIN (%zd %s)", k,
	      strerror(errno));
	close(s);
	s = connect_to(host, port + 1, 1);
	struct pollfd pf = { s, POLLOUT, 0 };
	int e = 0;
	socklen_t el = sizeof(e);
	CHECK(s >= 0 && poll(&pf, 1, 3000) == 1 && (pf.revents & (POLLERR | POLLHUP)) &&
	      getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == ECONNREFUSED,
	      "non-blocking connect to a closed port: POLLERR, SO_ERROR ECONNREFUSED");
	close(s);
	s = connect_to(host, port + 1, 0);
	CHECK(s < 0 && errno == ECONNREFUSED, "blocking connect to a closed port => ECONNREFUSED");
	close(f);
}

/* ---- server: blocking accept; idle CPU ---------------------------------- */

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void t_server(int port, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int l = tcp(), ok = 0, cloexec = 1;
	char buf[64];

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 128) == 0,
	      "listen on port %d", port);
	printf("# listening\n");
	fflush(stdout);
	double c0 = cpu_s(), w0 = wall_s();
	for (int i = 0; i < n; i++) {
		int c = accept4(l, NULL, NULL, i % 2 ? SOCK_CLOEXEC : 0);
		if (i == 0) {
			double w = wall_s() - w0, c = cpu_s() - c0;
			printf("# idle in accept for %.2f s: %.3f s CPU\n", w, c);
			CHECK(w > 0.5 && c < 0.05 * w, "idle in a blocking accept: %.1f%% of a core (< 5%%)",
			      100 * c / w);
		}
		if (c < 0)
			break;
		cloexec &= !!(fcntl(c, F_GETFD) & FD_CLOEXEC) == (i % 2);
		if (recv(c, buf, sizeof(buf), MSG_WAITALL) == sizeof(buf) &&
		    write(c, buf, sizeof(buf)) == sizeof(buf))
			ok++;
		close(c);
	}
	CHECK(ok == n, "%d of %d connections answered by blocking calls", ok, n);
	CHECK(cloexec, "accept4 honours SOCK_CLOEXEC (and its absence)");
	close(l);
}

/* ---- a core that joins under running connections ---------------------- */

static int late_done, late_ready;

/* The second thread: its first socket call makes its core (the main
 * thread drives the first); it then waits in accept on its core's copy
 * of the listener, so that it polls that core, until the main thread is
 * done. */
static void *late_thread(void *arg)
{
	int l = *(int *)arg, fd = tcp();

	close(fd);
	__atomic_store_n(&late_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&late_done, __ATOMIC_ACQUIRE)) {
		int c = accept(l, NULL, NULL); /* SO_RCVTIMEO: 100 ms */
		if (c >= 0)
			close(c);
	}
	return NULL;
}

static void t_latecore(int port, int n, const char *flag)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tmo = { 0, 100000 };
	struct pollfd pf[256];
	int l = tcp(), ok = 0, left = n, c[256];
	char buf[64];
	pthread_t th;
	double end;

	if (n > 256)
		n = 256;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 256) == 0,
	      "listen on port %d", port);
	printf("# listening\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		c[i] = accept(l, NULL, NULL);
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	pthread_create(&th, NULL, late_thread, &l);
	while (!__atomic_load_n(&late_ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	close(open(flag, O_CREAT | O_WRONLY, 0600)); /* the client sends now */
	/* each one as its request comes; a lost one makes this wait 20 s */
	for (int i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = c[i], .events = POLLIN };
	end = wall_s() + 20;
	while (left > 0 && wall_s() < end) {
		if (poll(pf, (nfds_t)n, 100) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			if (recv(c[i], buf, sizeof(buf), MSG_WAITALL) == sizeof(buf) &&
			    write(c[i], buf, sizeof(buf)) == sizeof(buf))
				ok++;
			close(c[i]);
			pf[i].fd = -1;
			left--;
		}
	}
	for (int i = 0; i < n; i++)
		if (pf[i].fd >= 0)
			close(c[i]);
	__atomic_store_n(&late_done, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK(ok == n, "a second thread's core joined under %d open connections: "
	      "%d answered", n, ok);
	close(l);
}

/* ---- threads that never run out of work ------------------------------- */

static int busy_pipe[2], busy_listen;
static double busy_end;

/* Every wait returns at once (the pipe is never read): the thread never
 * sleeps, yet it must drive a core of its own. */
static void *busy_thread(void *arg)
{
	struct epoll_event ev[8];
	int ep = epoll_create1(0), *waits = arg;

	epoll_ctl(ep, EPOLL_CTL_ADD, busy_pipe[0], &(struct epoll_event){ .events = EPOLLIN });
	epoll_ctl(ep, EPOLL_CTL_ADD, busy_listen, &(struct epoll_event){ .events = EPOLLIN });
	while (wall_s() < busy_end) {
		if (epoll_wait(ep, ev, 8, 100) > 0)
			(*waits)++;
	}
	close(ep);
	return NULL;
}

static void t_busycore(int port, double seconds)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int waits[2] = { 0, 0 };
	pthread_t th[2];

	busy_listen = tcp();
	CHECK(bind(busy_listen, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		      listen(busy_listen, 16) == 0 && pipe(busy_pipe) == 0 &&
		      write(busy_pipe[1], "x", 1) == 1,
	      "listen on port %d, a readable pipe", port);
	busy_end = wall_s() + seconds;
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, busy_thread, &waits[i]);
	printf("# busy %d\n", (int)getpid());
	fflush(stdout);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK(waits[0] > 10 && waits[1] > 10,
	      "both threads' waits found work at once (%d, %d)", waits[0], waits[1]);
	close(busy_pipe[0]);
	close(busy_pipe[1]);
	close(busy_listen);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "fds")) {
		t_collision();
		t_fdops();
		t_unsupported();
	} else if (argc >= 4 && !strcmp(argv[1], "client")) {
		t_client(argv[2], atoi(argv[3]));
	} else if (argc >= 4 && !strcmp(argv[1], "server")) {
		t_server(atoi(argv[2]), atoi(argv[3]));
	} else if (argc >= 5 && !strcmp(argv[1], "latecore")) {
		t_latecore(atoi(argv[2]), atoi(argv[3]), argv[4]);
	} else if (argc >= 4 && !strcmp(argv[1], "busycore")) {
		t_busycore(atoi(argv[2]), atof(argv[3]));
	} else {
		fprintf(stderr, "usage: shim_calls fds | client HOST PORT | server PORT N | "
			"latecore PORT N FLAG | busycore PORT SECONDS\n");
		return 2;
	}
	return fails;
}
