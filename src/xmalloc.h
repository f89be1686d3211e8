/* Allocators that abort on failure: for startup and configuration only.
 * Per-connection code checks its allocations and refuses that one
 * connection instead (STYLE.md habit 9). */
#ifndef FERRY_XMALLOC_H
#define FERRY_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

#endif
