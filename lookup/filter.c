/*
 * LDAP filter templates (RFC 4515).  Pure string work: the template is
 * trusted configuration, the user name is not, so every substituted
 * byte that could change the filter's structure is escaped.
 */
#include <limits.h>
#include <string.h>

#include "lookup/filter.h"

int
filter_template_valid(const char *tmpl, const char **errstr)
{
	const char	*err = NULL;
	size_t		 i, depth = 0;

	if (tmpl[0] != '(')
		err = "filter must start with '('";
	for (i = 0; err == NULL && tmpl[i] != '\0'; i++) {
		if (i >= FILTER_MAX) {
			err = "filter too long";
			break;
		}
		switch (tmpl[i]) {
		case '%':
			if (depth == 0)
				err = "text after the end of the filter";
			else if (tmpl[i + 1] == '\0')
				err = "trailing '%' in filter";
			else if (strchr("und%", tmpl[i + 1]) == NULL)
				err = "unknown %-escape in filter";
			i++;
			break;
		case '(':
			/* a second top-level filter is not one filter */
			if (depth == 0 && i > 0)
				err = "text after the end of the filter";
			depth++;
			break;
		case ')':
			if (depth == 0)
				err = "unbalanced ')' in filter";
			else
				depth--;
			break;
		default:
			if ((unsigned char)tmpl[i] < 0x20 ||
			    tmpl[i] == 0x7f)
				err = "control character in filter";
			else if (depth == 0)
				err = "text after the end of the filter";
			break;
		}
	}
	if (err == NULL && depth != 0)
		err = "unbalanced '(' in filter";
	if (errstr != NULL)
		*errstr = err;
	return err == NULL ? 0 : -1;
}

/* Append in[0..len) escaped at out[*n], keeping room for the NUL. */
static int
append_escaped(const char *in, size_t len, char *out, size_t outsz,
    size_t *n)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;
	size_t			 i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		/* 8-bit bytes too: it is always valid and never ambiguous */
		if (c < 0x20 || c >= 0x7f || c == '*' || c == '(' ||
		    c == ')' || c == '\\') {
			if (outsz - *n < 4)
				return -1;
			out[(*n)++] = '\\';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 0xf];
		} else {
			if (outsz - *n < 2)
				return -1;
			out[(*n)++] = (char)c;
		}
	}
	return 0;
}

int
filter_escape(const char *in, size_t len, char *out, size_t outsz)
{
	size_t	 n = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (outsz > INT_MAX)
		outsz = INT_MAX;	/* the length must fit the result */
	if (append_escaped(in, len, out, outsz, &n) == -1) {
		out[0] = '\0';
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

int
filter_expand(const char *tmpl, const char *user, char *out,
    size_t outsz)
{
	const char	*at, *val;
	size_t		 i, n = 0, vlen, ulen;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (filter_template_valid(tmpl, NULL) == -1)
		return -1;
	if (outsz > (size_t)FILTER_MAX + 1)
		outsz = (size_t)FILTER_MAX + 1;
	ulen = strlen(user);
	at = strrchr(user, '@');
	for (i = 0; tmpl[i] != '\0'; i++) {
		if (tmpl[i] != '%' || tmpl[i + 1] == '%') {
			if (outsz - n < 2)
				goto toolong;
			out[n++] = tmpl[i];
			if (tmpl[i] == '%')
				i++;
			continue;
		}
		switch (tmpl[++i]) {
		case 'u':
			val = user;
			vlen = ulen;
			break;
		case 'n':
			val = user;
			vlen = at != NULL ? (size_t)(at - user) : ulen;
			break;
		default:	/* 'd': checked by filter_template_valid() */
			val = at != NULL ? at + 1 : "";
			vlen = strlen(val);
			break;
		}
		if (append_escaped(val, vlen, out, outsz, &n) == -1)
			goto toolong;
	}
	out[n] = '\0';
	return (int)n;
toolong:
	out[0] = '\0';
	return -1;
}
