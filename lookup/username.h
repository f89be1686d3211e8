/*
 * User-name rules, applied to the login as typed before anything else
 * sees it: ASCII lower-casing, a default domain for names without one,
 * a configurable domain delimiter ('@', '%' or '+'), and stripping the
 * domain for the lookup and/or for the backend login.  Pure.
 *
 * The result always spells the domain with '@' (what filter.c's %n and
 * %d split on), whatever delimiter the client typed.
 */
#ifndef FERRY_USERNAME_H
#define FERRY_USERNAME_H

#include <stddef.h>

#define USERNAME_MAX	255

struct username_rules {
	int		 lowercase;
	const char	*default_domain;	/* NULL: none */
	char		 delimiter;		/* '@' (0 means '@') */
	int		 strip_lookup;		/* look up the local part */
	int		 strip_login;		/* log in with the local part */
};

/* 0 if delim is a delimiter ferry accepts ('@', '%' or '+'). */
int	username_delimiter_valid(char delim);
/*
 * Apply rules to in[0..len): the lookup key goes to key, the backend
 * login name to login (each at most USERNAME_MAX bytes plus the NUL).
 * 0 on success; -1 with *errstr for an empty, overlong or control-byte
 * name, or an empty local part or domain.
 */
int	username_normalize(const struct username_rules *, const char *in,
	    size_t len, char *key, size_t keysz, char *login, size_t loginsz,
	    const char **errstr);

#endif
