/* Feature sets by name: the one table of feature names, the parser and the
 * canonical spelling used by the apps, rsctl and the harness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/refstack.h"

const struct rs_feature rs_features[] = {
	{"listen", RS_FEAT_LOCAL_LISTEN,
	 "per-core copies of listening sockets, local accept queues"},
	{"estab", RS_FEAT_LOCAL_ESTAB,
	 "per-core established and TIME_WAIT tables, no shared locks"},
	{"rfd", RS_FEAT_RFD,
	 "receive flow deliver: steer frames to the owning core in the I/O "
	 "layer, active ports chosen so replies come home"},
	{"fastfd", RS_FEAT_FAST_FD,
	 "per-core descriptor pools instead of one locked table"},
};
const unsigned rs_nfeatures = sizeof(rs_features) / sizeof(rs_features[0]);

_Static_assert(sizeof(rs_features) / sizeof(rs_features[0]) == 4 &&
		       RS_FEAT_ALL == 15,
	       "every RS_FEAT_* bit has a name");

static void valid_names(char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "base, full, or a comma list of");

	for (unsigned i = 0; i < rs_nfeatures && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s %s",
					i ? "," : "", rs_features[i].name);
}

static int fail(char *err, size_t errlen, const char *spec, const char *word,
		size_t wlen, const char *why)
{
	char names[160];

	if (!err || !errlen)
		return -1;
	valid_names(names, sizeof(names));
	snprintf(err, errlen, "feature set '%s': %s '%.*s' (valid: %s)", spec,
		 why, (int)wlen, word, names);
	return -1;
}

static int word_bit(const char *w, size_t n, uint32_t *bit)
{
	for (unsigned i = 0; i < rs_nfeatures; i++) {
		if (strlen(rs_features[i].name) == n &&
		    memcmp(rs_features[i].name, w, n) == 0) {
			*bit = rs_features[i].bit;
			return 0;
		}
	}
	return -1;
}

int rs_features_parse(const char *spec, uint32_t *features, char *err,
		      size_t errlen)
{
	uint32_t set = 0;
	const char *p;

	if (!spec || !*spec)
		return fail(err, errlen, spec ? spec : "", "", 0, "empty name");
	if (strcmp(spec, "base") == 0 || strcmp(spec, "full") == 0) {
		*features = spec[0] == 'b' ? 0 : RS_FEAT_ALL;
		return 0;
	}
	for (p = spec;;) {
		size_t n = strcspn(p, ",");
		uint32_t bit;

		if (n == 0)
			return fail(err, errlen, spec, p, 0, "empty name");
		if (word_bit(p, n, &bit) != 0) {
			int set_name = (n == 4 && (memcmp(p, "base", 4) == 0 ||
						   memcmp(p, "full", 4) == 0));
			return fail(err, errlen, spec, p, n,
				    set_name ? "a set name inside a list:"
					     : "unknown feature");
		}
		if (set & bit)
			return fail(err, errlen, spec, p, n, "repeated feature");
		set |= bit;
		if (!p[n])
			break;
		p += n + 1;
	}
	*features = set;
	return 0;
}

const char *rs_features_name(uint32_t features, char *buf, size_t len)
{
	size_t off = 0;

	features &= RS_FEAT_ALL;
	if (!len)
		return buf;
	if (features == 0 || features == RS_FEAT_ALL) {
		snprintf(buf, len, "%s", features ? "full" : "base");
		return buf;
	}
	buf[0] = '\0';
	for (unsigned i = 0; i < rs_nfeatures && off < len; i++)
		if (features & rs_features[i].bit)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
						off ? "," : "",
						rs_features[i].name);
	return buf;
}

int rs_features_from_env(uint32_t *features, char *err, size_t errlen)
{
	const char *v = getenv("RS_FEATURES");
	char msg[300];

	if (!v || !*v)
		return 0;
	if (rs_features_parse(v, features, msg, sizeof(msg)) == 0)
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "RS_FEATURES: %s", msg);
	return -1;
}
