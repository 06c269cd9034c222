/* tsl_json: minimal JSON emitting helpers (strings escaped, numbers finite). */
#ifndef TSL_JSON_H
#define TSL_JSON_H

#include <stdint.h>
#include <stdio.h>

void tsl_json_str(FILE *f, const char *s);
void tsl_json_num(FILE *f, double v);
/* "key": prefix with a leading comma unless *first; clears *first. */
void tsl_json_key(FILE *f, int *first, const char *key, int indent);

#endif
