/* Global descriptor table: one array per stack, a free stack of numbers
 * under a spinlock; lookups read the array without the lock (a descriptor
 * is only used by the thread of the core that owns it). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "common.h"
#include "table.h"

#define RS_FD_BASE 1   /* descriptor numbers start here */

struct gfd {
	pthread_spinlock_t lock;
	uint32_t max;
	uint32_t nfree;
	int *free;       /* stack of free indexes */
	void **obj;
};

static void *f_create(uint32_t max, int *err)
{
	struct gfd *t = calloc(1, sizeof(*t));

	if (!t)
		goto error;
	t->obj = calloc(max, sizeof(void *));
	t->free = calloc(max, sizeof(int));
	if (!t->obj || !t->free)
		goto error;
	t->max = max;
	for (uint32_t i = 0; i < max; i++)
		t->free[i] = (int)(max - 1 - i);
	t->nfree = max;
	pthread_spin_init(&t->lock, PTHREAD_PROCESS_PRIVATE);
	return t;
error:
	if (t) {
		free(t->obj);
		free(t->free);
	}
	free(t);
	*err = -ENOMEM;
	return NULL;
}

static void f_destroy(void *tp)
{
	struct gfd *t = tp;

	if (!t)
		return;
	pthread_spin_destroy(&t->lock);
	free(t->obj);
	free(t->free);
	free(t);
}

static int f_alloc(void *tp, void *obj)
{
	struct gfd *t = tp;
	int i = -1;

	pthread_spin_lock(&t->lock);
	if (t->nfree) {
		i = t->free[--t->nfree];
		t->obj[i] = obj;
	}
	pthread_spin_unlock(&t->lock);
	return i < 0 ? -1 : i + RS_FD_BASE;
}

static void f_release(void *tp, int fd)
{
	struct gfd *t = tp;
	int i = fd - RS_FD_BASE;

	pthread_spin_lock(&t->lock);
	t->obj[i] = NULL;
	t->free[t->nfree++] = i;
	pthread_spin_unlock(&t->lock);
}

static void *f_get(void *tp, int fd)
{
	struct gfd *t = tp;
	int i = fd - RS_FD_BASE;

	if (i < 0 || (uint32_t)i >= t->max)
		return NULL;
	return t->obj[i];
}

static uint32_t f_max(void *tp)
{
	return ((struct gfd *)tp)->max;
}

const struct rs_fd_ops rs_fd_global = {
	.name = "global",
	.create = f_create,
	.destroy = f_destroy,
	.alloc = f_alloc,
	.release = f_release,
	.get = f_get,
	.max = f_max,
};
