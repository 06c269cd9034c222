/* Backend lookup by name. */
#include <string.h>

#include "io.h"

const struct rs_io_ops *rs_io_find(const char *name)
{
	static const struct rs_io_ops *const all[] = {
		&rs_io_memif,
		&rs_io_afpacket,
	};

	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
