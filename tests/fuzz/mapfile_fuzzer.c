/*
 * libFuzzer target for mapfile: any bytes either parse or fail with a
 * "map:LINE: " message; a parsed map answers lookups for every line's
 * first word without crashing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup/mapfile.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mapfile	*m;
	struct mailhost	 mh;
	char		 err[256] = "", user[300];
	const char	*p = (const char *)data, *end = p + size;
	size_t		 n;

	m = mapfile_parse("map", (const char *)data, size, err, sizeof(err));
	if (m == NULL) {
		CHECK(strncmp(err, "map:", 4) == 0);
		return 0;
	}
	while (p < end) {
		for (n = 0; p + n < end && p[n] != ' ' && p[n] != '\t' &&
		    p[n] != '\n'; n++)
			;
		if (n < sizeof(user)) {
			memcpy(user, p, n);
			user[n] = '\0';
			if (mapfile_lookup(m, user, &mh))
				CHECK(mh.host[0] != '\0');
		}
		p += n + 1;
	}
	mapfile_free(&m);
	return 0;
}
