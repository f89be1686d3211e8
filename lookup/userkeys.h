/*
 * Which logins belong to a directory entry.  The lookup filter template
 * says it: an assertion "(uid=%n)" means a login whose local part is a
 * uid value of the entry finds that entry, "(mail=%u)" one whose whole
 * name is a mail value.  The change follower keeps those values for
 * each entry and matches open sessions' logins against them.  Pure.
 */
#ifndef FERRY_USERKEYS_H
#define FERRY_USERKEYS_H

#include <stddef.h>

#define USERKEYS_MAX		8
#define USERKEYS_ATTR_MAX	64

struct userkeys {
	size_t		n;
	struct userkey {
		char	attr[USERKEYS_ATTR_MAX];
		char	var;	/* 'u' whole login, 'n' local part */
	}		k[USERKEYS_MAX];
};

/* Equality assertions on %u or %n in tmpl; when there are none, the
 * default's (uid=%n) and (mail=%u). */
void	userkeys_from_filter(const char *tmpl, struct userkeys *);
/*
 * Does login (as typed) match a key value?  var 'u': the whole login,
 * and, for a login without a domain, the value's local part (a default
 * domain may have been added); 'n': the login's local part.  Case is
 * ignored, as LDAP's uid and mail matching rules do.
 */
int	userkeys_match(char var, const char *value, const char *login);

#endif
