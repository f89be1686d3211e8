/*
 * mailHost attribute values.  A pure parser: the value comes from LDAP,
 * so it is checked as strictly as a configuration value would be.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* inet_pton under -std=c11; no config.h */
#endif

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "lookup/mailhost.h"

/* 1..65535, decimal digits only. */
static int
parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int
valid_v6(const char *s, size_t len)
{
	struct in6_addr	 a;
	char		 tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

static int
valid_hostname(const char *s, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len > MAILHOST_HOST_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

int
mailhost_parse(const char *value, size_t len, struct mailhost *out,
    const char **errstr)
{
	const char	*err = NULL, *host = value, *colon, *end;
	size_t		 i, hlen = len, ncolon = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		err = "empty mailHost";
		goto fail;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)value[i] <= ' ' || value[i] == 0x7f) {
			err = "space or control character in mailHost";
			goto fail;
		}
		if (value[i] == ':')
			ncolon++;
	}

	if (value[0] == '[') {
		if ((end = memchr(value, ']', len)) == NULL) {
			err = "unclosed '[' in mailHost";
			goto fail;
		}
		host = value + 1;
		hlen = (size_t)(end - host);
		if (!valid_v6(host, hlen)) {
			err = "bad IPv6 address in mailHost";
			goto fail;
		}
		i = (size_t)(end - value) + 1;
		if (i < len && value[i] != ':') {
			err = "junk after ']' in mailHost";
			goto fail;
		}
		if (i < len && parse_port(value + i + 1, len - i - 1,
		    &out->port) == -1) {
			err = "bad port in mailHost";
			goto fail;
		}
	} else if (ncolon > 1) {
		/* a bare IPv6 address cannot carry a port */
		if (!valid_v6(value, len)) {
			err = "bad IPv6 address in mailHost";
			goto fail;
		}
	} else {
		if ((colon = memchr(value, ':', len)) != NULL) {
			hlen = (size_t)(colon - value);
			if (parse_port(colon + 1, len - hlen - 1,
			    &out->port) == -1) {
				err = "bad port in mailHost";
				goto fail;
			}
		}
		if (hlen > MAILHOST_HOST_MAX) {
			err = "host name too long in mailHost";
			goto fail;
		}
		if (!valid_hostname(host, hlen)) {
			err = "bad host name in mailHost";
			goto fail;
		}
	}
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (errstr != NULL)
		*errstr = NULL;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	if (errstr != NULL)
		*errstr = err;
	return -1;
}
