/* The classic-BPF twin of rs_steer_frame (steer.h), for a PACKET_FANOUT_CBPF
 * group: the kernel runs it on every frame and delivers the frame to member
 * (result % members).  Members must have joined in core order (core k is
 * the k-th member), which rs_core_create does when cores are created in
 * index order; a frame that lands elsewhere anyway (a member left, a group
 * change) is handed over in software. */
#ifndef RS_STEER_BPF_H
#define RS_STEER_BPF_H

#include <linux/filter.h>

#include "steer.h"

#define RS_STEER_BPF_MAX BPF_MAXINSNS

/* Write the program for s into prog (room for max instructions); returns
 * the instruction count, or -E2BIG when it does not fit (too many
 * listening ports for the jump list). */
int rs_steer_bpf(const struct rs_steer *s, struct sock_filter *prog,
		 unsigned max);

#endif
