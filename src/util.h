/* Small helpers shared by every module. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Overwrite memory in a way the compiler cannot drop (for secrets). */
void		 wipe(void *, size_t);
/* Wipe a NUL-terminated secret, free it and set *p to NULL. */
void		 free_secret(char **p);
/* Monotonic milliseconds. */
uint64_t	 now_ms(void);
/* The strings up to a NULL, joined in a new buffer; NULL if out of
 * memory.  Its length in *lenp unless lenp is NULL.  (asprintf() of
 * "%s%s%s" is 1,600 instructions, callgrind.) */
char		*strjoin(size_t *lenp, ...);
/* v in decimal at p, not NUL-terminated (at most 20 bytes); returns
 * the end. */
char		*put_decimal(char *p, uint64_t v);
/* "1.2.3.4:143" or "[::1]:143" into out; returns out. */
char		*sockaddr_format(const struct sockaddr *, char *out,
		    size_t outsz);
/* Parse "ADDR:PORT", "[V6]:PORT" or "*:PORT" (all IPv4 addresses).
 * 0 on success, -1 with *errstr. */
int		 sockaddr_parse(const char *, struct sockaddr_storage *,
		    socklen_t *, const char **errstr);

#endif
