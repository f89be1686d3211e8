/*
 * LDAP filter templates: pure expansion with RFC 4515 escaping.
 *
 * Template escapes: %u the login as typed (after normalisation), %n its
 * local part (before the last '@'; all of it when there is none), %d its
 * domain (after the last '@'; empty when there is none), %% a '%'.
 * Every substituted value is escaped (RFC 4515 §3): '*' '(' ')' '\' NUL
 * and other control bytes become \XX, so "*)(uid=*" matches nobody.
 */
#ifndef FERRY_FILTER_H
#define FERRY_FILTER_H

#include <stddef.h>

#define FILTER_MAX	4096	/* longest expanded filter */

/* 0 if tmpl is usable (known escapes only, balanced parentheses,
 * starts with '('), else -1 with *errstr saying what is wrong. */
int	filter_template_valid(const char *tmpl, const char **errstr);
/* Escape in[0..len) into out (NUL-terminated); returns the length
 * written or -1 if it does not fit. */
int	filter_escape(const char *in, size_t len, char *out, size_t outsz);
/* Expand tmpl for user into out; returns the length or -1 if the result
 * would not fit (or the template is invalid). */
int	filter_expand(const char *tmpl, const char *user, char *out,
	    size_t outsz);

#endif
