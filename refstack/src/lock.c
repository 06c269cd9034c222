/* The shared locks' owner ids (lock.h): this process's pid, set at the
 * first lock taken and again in every fork child, before the child runs
 * (a child taking a lock under its parent's id could never be recovered
 * from). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lock.h"

uint32_t rs_lock_me;

static void lock_child(void)
{
	__atomic_store_n(&rs_lock_me, (uint32_t)getpid(), __ATOMIC_RELAXED);
}

static void lock_once(void)
{
	pthread_atfork(NULL, NULL, lock_child);
}

uint32_t rs_lock_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, lock_once);
	lock_child();
	return rs_lock_me;
}

/* Gone, or a zombie (killed, not yet reaped by its parent: nginx's
 * master may take a while; kill() still finds it). */
int rs_lock_owner_dead(uint32_t pid)
{
	char path[32], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill((pid_t)pid, 0) < 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}
