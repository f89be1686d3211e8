#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/util.h"

void
wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

void
free_secret(char **p)
{
	if (*p == NULL)
		return;
	wipe(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *
strjoin(size_t *lenp, ...)
{
	va_list		 ap;
	const char	*p;
	char		*buf, *o;
	size_t		 len = 0;

	va_start(ap, lenp);
	while ((p = va_arg(ap, const char *)) != NULL)
		len += strlen(p);
	va_end(ap);
	if ((buf = o = malloc(len + 1)) == NULL)
		return NULL;
	*o = '\0';
	va_start(ap, lenp);
	while ((p = va_arg(ap, const char *)) != NULL)
		o = stpcpy(o, p);
	va_end(ap);
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
put_decimal(char *p, uint64_t v)
{
	char	tmp[20];
	size_t	n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

char *
sockaddr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	char	addr[INET6_ADDRSTRLEN];

	if (outsz == 0)
		return out;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		const unsigned char *a = (const void *)&sin->sin_addr;
		char	 buf[sizeof("255.255.255.255:65535")], *p = buf;
		size_t	 len;
		int	 i;

		/* By hand: inet_ntop() and snprintf() cost 2,800
		 * instructions an accept (callgrind). */
		for (i = 0; i < 4; i++) {
			p = put_decimal(p, a[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = put_decimal(p, ntohs(sin->sin_port));
		len = (size_t)(p - buf);
		if (len >= outsz)
			len = outsz - 1;
		memcpy(out, buf, len);
		out[len] = '\0';
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(out, outsz, "[%s]:%u", addr, ntohs(sin6->sin6_port));
	} else
		snprintf(out, outsz, "unknown");
	return out;
}

static int
parse_port(const char *s, uint16_t *port)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **errstr)
{
	char		 host[INET6_ADDRSTRLEN + 2];
	const char	*colon;
	uint16_t	 port;
	size_t		 hlen;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			*errstr = "expected [IPv6]:PORT";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
		if (hlen >= sizeof(host)) {
			*errstr = "bad IPv6 address";
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (parse_port(colon + 1, &port) == -1) {
			*errstr = "bad port (1-65535)";
			return -1;
		}
		struct sockaddr_in6 *sin6 = (void *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*errstr = "bad IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	if ((colon = strrchr(s, ':')) == NULL) {
		*errstr = "expected ADDRESS:PORT";
		return -1;
	}
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host)) {
		*errstr = "bad address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (parse_port(colon + 1, &port) == -1) {
		*errstr = "bad port (1-65535)";
		return -1;
	}
	struct sockaddr_in *sin = (void *)ss;
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*errstr = "bad IPv4 address (use [v6] for IPv6)";
		return -1;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
	return 0;
}
