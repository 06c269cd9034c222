/* tsl_client: client worker internals shared by its source files. */
#ifndef TSL_CLIENT_H
#define TSL_CLIENT_H

#include "tsl_run.h"

#endif
