/*
 * libFuzzer target for filter: template and user split at the first NUL;
 * an expansion must keep the template's structure whatever the user.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup/filter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Escaped text has no specials, and unescapes to the input. */
static void
check_escape(const char *in, size_t len)
{
	static char	 out[3 * 4096 + 1];
	size_t		 i, j = 0, olen;
	int		 r;

	if (len > 4096)
		len = 4096;
	r = filter_escape(in, len, out, sizeof(out));
	CHECK(r >= 0);
	olen = (size_t)r;
	CHECK(olen == strlen(out));
	for (i = 0; i < olen; i++, j++) {
		CHECK(j < len);
		CHECK(out[i] != '*' && out[i] != '(' && out[i] != ')');
		CHECK((unsigned char)out[i] >= 0x20 &&
		    (unsigned char)out[i] < 0x7f);
		if (out[i] == '\\') {
			CHECK(i + 2 < olen && hexval(out[i + 1]) >= 0 &&
			    hexval(out[i + 2]) >= 0);
			CHECK((unsigned char)in[j] ==
			    hexval(out[i + 1]) * 16 + hexval(out[i + 2]));
			i += 2;
		} else
			CHECK(out[i] == in[j]);
	}
	CHECK(j == len);
	if (olen > 0)
		CHECK(filter_escape(in, len, out, olen) == -1);
	CHECK(filter_escape(in, len, out, olen + 1) == r);
}

static char *
copy_str(const uint8_t *p, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static size_t
count(const char *s, char c)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 out[FILTER_MAX + 1], small[FILTER_MAX + 1];
	const uint8_t	*nul;
	char		*tmpl, *user;
	const char	*err = NULL;
	size_t		 tlen;
	int		 valid, r;

	check_escape((const char *)data, size);

	if ((nul = memchr(data, '\0', size)) == NULL)
		return 0;
	tlen = (size_t)(nul - data);
	tmpl = copy_str(data, tlen);
	user = copy_str(nul + 1, size - tlen - 1);

	valid = filter_template_valid(tmpl, &err) == 0;
	CHECK(valid ? err == NULL : err != NULL);
	r = filter_expand(tmpl, user, out, sizeof(out));
	if (!valid)
		CHECK(r == -1);
	if (r >= 0) {
		CHECK((size_t)r == strlen(out) && r <= FILTER_MAX);
		/* the user adds no structure */
		CHECK(count(out, '(') == count(tmpl, '('));
		CHECK(count(out, ')') == count(tmpl, ')'));
		CHECK(count(out, '*') == count(tmpl, '*'));
		CHECK(filter_template_valid(out, NULL) == 0 ||
		    strchr(tmpl, '%') != NULL || strchr(out, '%') != NULL);
		CHECK(filter_expand(tmpl, user, small, (size_t)r + 1) == r);
		CHECK(strcmp(small, out) == 0);
		CHECK(filter_expand(tmpl, user, small, (size_t)r) == -1);
	}
	free(tmpl);
	free(user);
	return 0;
}
