/* The host's ISN, timestamp and port secret (the key of RFC 6528's F).
 *
 * One per boot for every refstack process of the host, as the kernel keeps
 * one: a program restarted on the same address goes on with the ISNs and
 * timestamps of its last run on each 4-tuple, so a peer holding one of
 * those in TIME_WAIT takes the new SYN (RFC 6191) instead of failing it on
 * PAWS and answering with the old connection's ACK.  A secret drawn per
 * process made such SYNs fail whenever a server was restarted between two
 * runs against the same Linux peers.
 *
 * Kept in /dev/shm (emptied at boot), mode 0600.  The first process writes
 * a fresh value under a private name and links it into place, so readers
 * never see a half-written file and two first processes agree on one. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "../include/refstack.h"

/* pread/pwrite: the LD_PRELOAD shim interposes read and write, not these. */
uint64_t rs_host_secret(void)
{
	char tmp[64];
	uint64_t v = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.%ld", RS_HOST_SECRET, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v) &&
		    pwrite(fd, &v, sizeof(v), 0) == (ssize_t)sizeof(v))
			(void)link(tmp, RS_HOST_SECRET); /* fails if one exists */
		close(fd);
		unlink(tmp);
	}
	v = 0;
	fd = open(RS_HOST_SECRET, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &v, sizeof(v), 0) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	return v;
}
