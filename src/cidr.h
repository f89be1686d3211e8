/*
 * Address ranges ("10.0.0.0/8", "::1/128", "192.0.2.7"): parsed from the
 * configuration, matched against a client's address.  Pure functions.
 */
#ifndef FERRY_CIDR_H
#define FERRY_CIDR_H

#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network byte order, host bits 0 */
	int		prefix;		/* 0..32 or 0..128 */
};

/* 0, or -1 with *errstr.  A bare address is a /32 or /128. */
int	cidr_parse(const char *, struct cidr *, const char **errstr);
/* 1 if sa (AF_INET, AF_INET6, v4-mapped v6) lies in c. */
int	cidr_match(const struct cidr *, const struct sockaddr *);

#endif
