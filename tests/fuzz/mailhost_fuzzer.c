/*
 * libFuzzer target for mailhost: accepted values must be well formed and
 * survive being written back out and parsed again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup/mailhost.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailhost	 mh, again;
	struct in6_addr	 a6;
	const char	*err = NULL;
	char		 buf[MAILHOST_HOST_MAX + 16];
	size_t		 i, hlen;
	int		 n;

	if (mailhost_parse((const char *)data, size, &mh, &err) == -1) {
		CHECK(err != NULL);
		CHECK(mh.host[0] == '\0' && mh.port == 0);
		return 0;
	}
	CHECK(err == NULL);
	CHECK(memchr(mh.host, '\0', sizeof(mh.host)) != NULL);
	hlen = strlen(mh.host);
	CHECK(hlen > 0 && hlen <= MAILHOST_HOST_MAX);
	CHECK(hlen <= size);
	if (strchr(mh.host, ':') != NULL) {
		CHECK(inet_pton(AF_INET6, mh.host, &a6) == 1);
		n = snprintf(buf, sizeof(buf), "[%s]", mh.host);
	} else {
		for (i = 0; i < hlen; i++)
			CHECK(strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._",
			    mh.host[i]) != NULL);
		n = snprintf(buf, sizeof(buf), "%s", mh.host);
	}
	if (mh.port != 0)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ":%u",
		    (unsigned int)mh.port);
	CHECK(n > 0 && (size_t)n < sizeof(buf));
	CHECK(mailhost_parse(buf, (size_t)n, &again, &err) == 0);
	CHECK(strcmp(again.host, mh.host) == 0);
	CHECK(again.port == mh.port);
	return 0;
}
