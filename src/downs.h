/*
 * Backends that refused a connection lately ("host:port" as connected
 * to): logins routed there fail at once for down-time instead of each
 * waiting for its own connect to fail.  One table for all workers,
 * behind a lock; consulted once per login, at the connect, with the
 * address and port that session would use.
 *
 * Pure apart from allocation and the lock: time is passed in.
 */
#ifndef FERRY_DOWNS_H
#define FERRY_DOWNS_H

#include <stdint.h>

#define DOWNS_MAX	256	/* backends remembered; the oldest goes */

struct downs;

struct downs	*downs_new(void);
void		 downs_free(struct downs **);
/* addr failed: down until now + down_ms (0 or less: not marked).
 * Returns 1 if it was not marked before. */
int		 downs_mark(struct downs *, const char *addr, int down_ms,
		    uint64_t now_ms);
/* addr answered: returns 1 if that lifted a mark. */
int		 downs_clear(struct downs *, const char *addr);
/* Is addr marked down at now_ms? */
int		 downs_is_down(struct downs *, const char *addr,
		    uint64_t now_ms);

#endif
