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
/* "1.2.3.4:143" or "[::1]:143" into out; returns out. */
char		*sockaddr_format(const struct sockaddr *, char *out,
		    size_t outsz);
/* Parse "ADDR:PORT", "[V6]:PORT" or "*:PORT" (all IPv4 addresses).
 * 0 on success, -1 with *errstr. */
int		 sockaddr_parse(const char *, struct sockaddr_storage *,
		    socklen_t *, const char **errstr);

#endif
