/* Address ranges; see cidr.h. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cidr.h"

int
cidr_parse(const char *s, struct cidr *c, const char **errstr)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long		 prefix;
	int		 max, i, bits;

	memset(c, 0, sizeof(*c));
	if (strlen(s) >= sizeof(buf)) {
		*errstr = "too long";
		return -1;
	}
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*errstr = "not an IPv4 or IPv6 address";
		return -1;
	}
	prefix = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9' ||
		    (prefix = strtol(slash, &end, 10)) > max || *end != '\0') {
			*errstr = "bad prefix length";
			return -1;
		}
	}
	c->prefix = (int)prefix;
	/* Host bits set ("10.1.2.3/8") are a typo more often than not. */
	for (i = 0; i < max / 8; i++) {
		bits = c->prefix - i * 8;
		if (bits >= 8)
			continue;
		if ((c->addr[i] & (bits <= 0 ? 0xff : 0xff >> bits)) != 0) {
			*errstr = "host bits set after the prefix";
			return -1;
		}
	}
	return 0;
}

int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in6	*sin6;
	const uint8_t			*a;
	int				 full, rest, fam = sa->sa_family;

	if (sa->sa_family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		a = sin6->sin6_addr.s6_addr;
		if (c->family == AF_INET &&
		    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a += 12;
			fam = AF_INET;
		}
	} else
		return 0;
	if (fam != c->family)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ c->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}
