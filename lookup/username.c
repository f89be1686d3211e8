/* User-name rules; see username.h. */
#include <stdio.h>
#include <string.h>

#include "lookup/username.h"

int
username_delimiter_valid(char delim)
{
	return delim == '@' || delim == '%' || delim == '+' ? 0 : -1;
}

static int
copy_out(char *out, size_t outsz, const char *s, size_t len)
{
	if (len >= outsz)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int
username_normalize(const struct username_rules *r, const char *in,
    size_t len, char *key, size_t keysz, char *login, size_t loginsz,
    const char **errstr)
{
	char		 buf[USERNAME_MAX + 1];
	const char	*err = NULL;
	char		 delim = r->delimiter != '\0' ? r->delimiter : '@';
	size_t		 i, local, full;
	int		 at = -1, n;

	if (len == 0)
		err = "empty user name";
	else if (len > USERNAME_MAX)
		err = "user name too long";
	for (i = 0; err == NULL && i < len; i++) {
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			err = "control character in user name";
		buf[i] = in[i];
		if (r->lowercase && buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
		if (buf[i] == delim || buf[i] == '@') {
			/* One domain only: with two, the name would choose
			 * what the canonical "local@domain" splits into
			 * (fuzzing: "a@b%c" gave the key "a@b@c"). */
			if (at >= 0)
				err = "more than one domain delimiter";
			at = (int)i;
		}
	}
	if (err != NULL)
		goto fail;
	buf[len] = '\0';
	full = len;
	if (at >= 0) {
		buf[at] = '@';
		if (at == 0)
			err = "empty local part";
		else if ((size_t)at == len - 1)
			err = "empty domain";
		local = (size_t)at;
	} else {
		local = len;
		if (r->default_domain != NULL && *r->default_domain != '\0') {
			n = snprintf(buf + len, sizeof(buf) - len, "@%s",
			    r->default_domain);
			if (n < 0 || (size_t)n >= sizeof(buf) - len)
				err = "user name too long";
			else
				full = len + (size_t)n;
		}
	}
	if (err != NULL)
		goto fail;
	if (copy_out(key, keysz, buf, r->strip_lookup ? local : full) == -1 ||
	    copy_out(login, loginsz, buf, r->strip_login ? local : full) ==
	    -1) {
		err = "user name too long";
		goto fail;
	}
	if (errstr != NULL)
		*errstr = NULL;
	return 0;
 fail:
	if (keysz > 0)
		key[0] = '\0';
	if (loginsz > 0)
		login[0] = '\0';
	if (errstr != NULL)
		*errstr = err;
	return -1;
}
