/*
 * mailHost values: "host", "host:port", "[v6addr]", "[v6addr]:port" or a
 * bare IPv6 address.  A pure parser; port 0 means "use the default".
 */
#ifndef FERRY_MAILHOST_H
#define FERRY_MAILHOST_H

#include <stddef.h>
#include <stdint.h>

#define MAILHOST_HOST_MAX	255

struct mailhost {
	char		host[MAILHOST_HOST_MAX + 1];
	uint16_t	port;		/* 0: the protocol's default */
};

/* 0 on success; -1 with *errstr on a malformed value (empty, spaces or
 * control characters, a bad port, an unclosed bracket, a host name with
 * characters outside letters, digits, '-', '.', '_'). */
int	mailhost_parse(const char *value, size_t len, struct mailhost *out,
	    const char **errstr);

#endif
