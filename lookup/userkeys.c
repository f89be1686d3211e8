/* Logins of a directory entry; see userkeys.h. */
#include "lookup/userkeys.h"

#include <string.h>
#include <strings.h>

static int
attr_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == ';' || c == '.';
}

static void
add(struct userkeys *uk, const char *attr, size_t len, char var)
{
	size_t	i;

	if (uk->n >= USERKEYS_MAX || len == 0 || len >= USERKEYS_ATTR_MAX)
		return;
	for (i = 0; i < uk->n; i++)
		if (uk->k[i].var == var &&
		    strlen(uk->k[i].attr) == len &&
		    strncasecmp(uk->k[i].attr, attr, len) == 0)
			return;
	memcpy(uk->k[uk->n].attr, attr, len);
	uk->k[uk->n].attr[len] = '\0';
	uk->k[uk->n].var = var;
	uk->n++;
}

void
userkeys_from_filter(const char *tmpl, struct userkeys *uk)
{
	const char	*p, *a;

	memset(uk, 0, sizeof(*uk));
	for (p = tmpl; p != NULL && (p = strchr(p, '(')) != NULL; ) {
		a = ++p;
		while (attr_char(*p))
			p++;
		if (p == a || *p != '=' || p[1] != '%' ||
		    (p[2] != 'u' && p[2] != 'n') || p[3] != ')')
			continue;
		add(uk, a, (size_t)(p - a), p[2]);
		p += 4;
	}
	if (uk->n == 0) {
		add(uk, "uid", 3, 'n');
		add(uk, "mail", 4, 'u');
	}
}

/* The local part: everything before the last '@'. */
static size_t
local_len(const char *s)
{
	const char	*at = strrchr(s, '@');

	return at != NULL ? (size_t)(at - s) : strlen(s);
}

int
userkeys_match(char var, const char *value, const char *login)
{
	size_t	n;

	if (var == 'n') {
		n = local_len(login);
		return n == strlen(value) && strncasecmp(login, value, n) == 0;
	}
	if (strcasecmp(login, value) == 0)
		return 1;
	if (strchr(login, '@') != NULL)
		return 0;
	n = local_len(value);
	return n == strlen(login) && strncasecmp(login, value, n) == 0;
}
