/* Backend lookup by name; the reason of a failed open. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io.h"

const struct rs_io_ops *rs_io_find(const char *name)
{
	static const struct rs_io_ops *const all[] = {
		&rs_io_memif,
		&rs_io_afpacket,
		&rs_io_afxdp,
	};

	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

static __thread char io_why[320];

const char *rs_io_why(void)
{
	return io_why;
}

void rs_io_set_why(const char *fmt, ...)
{
	va_list ap;

	io_why[0] = '\0';
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(io_why, sizeof(io_why), fmt, ap);
	va_end(ap);
}
