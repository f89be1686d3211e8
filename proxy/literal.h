/*
 * Literal announcements, "{n}" and "{n+}" at the end of a line (IMAP,
 * RFC 3501 and RFC 7888; ManageSieve, RFC 5804): pure, shared by the
 * command parsers.
 */
#ifndef FERRY_LITERAL_H
#define FERRY_LITERAL_H

#include <stddef.h>

/*
 * Does buf[start..end) end in a literal announcement?  1 with *n (the
 * octet count, SIZE_MAX when it does not fit) and *sync (0 for "{n+}"),
 * else 0.
 */
int	literal_at_end(const char *buf, size_t start, size_t end, size_t *n,
	    int *sync);

#endif
