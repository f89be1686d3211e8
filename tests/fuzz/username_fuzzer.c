/*
 * libFuzzer target for username: whatever the rules, an accepted name
 * is within bounds, has no control bytes, and normalising it again
 * (with the delimiter now '@') changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup/username.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 delims[] = "@%+";
	struct username_rules	 r;
	char			 key[USERNAME_MAX + 1], login[USERNAME_MAX + 1];
	char			 k2[USERNAME_MAX + 1], l2[USERNAME_MAX + 1];
	const char		*err = NULL;
	size_t			 i;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.lowercase = data[0] & 1;
	r.strip_lookup = (data[0] >> 1) & 1;
	r.strip_login = (data[0] >> 2) & 1;
	r.default_domain = (data[0] >> 3) & 1 ? "example.com" : NULL;
	r.delimiter = delims[((data[0] >> 4) & 3) % 3];
	data++;
	size--;
	if (username_normalize(&r, (const char *)data, size, key, sizeof(key),
	    login, sizeof(login), &err) == -1) {
		CHECK(err != NULL && key[0] == '\0' && login[0] == '\0');
		return 0;
	}
	CHECK(err == NULL);
	CHECK(strlen(key) > 0 && strlen(login) > 0);
	for (i = 0; key[i] != '\0'; i++)
		CHECK((unsigned char)key[i] >= 0x20 && key[i] != 0x7f);
	if (r.lowercase)
		for (i = 0; key[i] != '\0'; i++)
			CHECK(key[i] < 'A' || key[i] > 'Z');
	/* Idempotent once the domain is spelt with '@'.  A stripped key
	 * gets the default domain again, which need not fit (fuzzing). */
	r.delimiter = '@';
	r.strip_lookup = r.strip_login = 0;
	if (r.default_domain != NULL && strchr(key, '@') == NULL &&
	    strlen(key) + 1 + strlen(r.default_domain) > USERNAME_MAX)
		return 0;
	CHECK(username_normalize(&r, key, strlen(key), k2, sizeof(k2), l2,
	    sizeof(l2), &err) == 0);
	if (r.default_domain == NULL || strchr(key, '@') != NULL)
		CHECK(strcmp(k2, key) == 0);
	return 0;
}
