/*
 * Logging: the OpenBSD log API.  To stderr in the foreground (-f), else
 * syslog (facility mail).  Strings from clients go through log_escape()
 * before they reach a format; nothing secret is ever passed here.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(int foreground, int verbose);
int	log_verbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Copy s[0..len) into out with every byte outside printable ASCII, space,
 * '"' and '\', written as \xNN; truncated to fit; returns out. */
char	*log_escape(const char *s, size_t len, char *out, size_t outsz);

#endif
