#define _GNU_SOURCE
#include "tsl_json.h"

#include <math.h>

void tsl_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void tsl_json_num(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 9.0e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

void tsl_json_key(FILE *f, int *first, const char *key, int indent)
{
	fprintf(f, "%s\n%*s", *first ? "" : ",", indent, "");
	tsl_json_str(f, key);
	fputs(": ", f);
	*first = 0;
}
