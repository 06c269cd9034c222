/* The real libc functions behind the interposed names, found once with
 * dlsym(RTLD_NEXT) before main runs.  Internal calls of the stack itself
 * (the afpacket backend's socket, bind, setsockopt, sendmmsg, close...)
 * also go through the interposers, which pass kernel descriptors on. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim.h"

struct shim_real shim_real;

void shim_real_init(void)
{
#define SHIM_X_LOAD(ret, name, args)                                           \
	shim_real.name = (ret(*) args)dlsym(RTLD_NEXT, #name);                 \
	if (!shim_real.name) {                                                 \
		fprintf(stderr, "refstack-preload: libc has no %s\n", #name);  \
		_exit(127);                                                    \
	}
	SHIM_REAL_FUNCS(SHIM_X_LOAD)
#undef SHIM_X_LOAD
}
