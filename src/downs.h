/*
 * Backends that failed to connect lately ("host:port" as connected to):
 * logins routed there fail at once for down-time instead of each waiting
 * for its own connect to fail.  One table for all workers, behind a
 * lock; consulted once per login, at the connect, with the address and
 * port that session would use.
 *
 * A failed connection marks its address only if no connection to it
 * has succeeded since that one was begun: under a burst, a few connects
 * timing out while others get through is a busy backend, not a dead one.
 *
 * Pure apart from allocation and the lock: time is passed in.
 */
#ifndef FERRY_DOWNS_H
#define FERRY_DOWNS_H

#include <stdint.h>

#define DOWNS_MAX	256	/* addresses remembered; the stalest goes */

struct downs;

struct downs	*downs_new(void);
void		 downs_free(struct downs **);
/* A connection to addr begun at started_ms failed: down until now +
 * down_ms (0 or less: never).  Returns 1 if that newly marks it. */
int		 downs_failed(struct downs *, const char *addr,
		    uint64_t started_ms, int down_ms, uint64_t now_ms);
/* A connection to addr succeeded: returns 1 if that lifted a mark. */
int		 downs_ok(struct downs *, const char *addr, uint64_t now_ms);
/* Is addr marked down at now_ms? */
int		 downs_is_down(struct downs *, const char *addr,
		    uint64_t now_ms);

#endif
