/*
 * A worker's sessions as the operator sees them: counts for status
 * and metrics, one row per session, and kicking a user's sessions.
 * Each runs on the worker's own thread (as a task, src/hub.h); the
 * main thread adds the workers' tallies up.  Sessions are found by
 * walking the worker's list; an index by user can come when kicks get
 * frequent (LDAP change following).
 */
#ifndef FERRY_SESSIONS_H
#define FERRY_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "lookup/mailhost.h"
#include "src/metrics.h"

struct ctlbuf;
struct worker;

#define SESSIONS_BACKENDS_MAX	256	/* rows in status; the rest "other" */
#define SESSIONS_PROTOS_MAX	8

struct name_count {
	char		 name[MAILHOST_HOST_MAX + 16];
	uint64_t	 n;
};

struct sessions_tally {
	struct metrics_snapshot	 m;	/* sessions by state, counters */
	uint64_t		 open;
	struct name_count	 protos[SESSIONS_PROTOS_MAX];
	size_t			 nprotos;
	struct name_count	*backends;	/* SESSIONS_BACKENDS_MAX */
	size_t			 nbackends;
	uint64_t		 other;		/* backends past the rows */
	int			 oom;
};

/* Count w's sessions and counters into t (zeroed by the caller); with
 * rows, also the protocol and backend rows of status (a string search
 * per session: only when asked). */
void	sessions_tally(struct worker *, struct sessions_tally *, int rows);
void	sessions_tally_merge(struct sessions_tally *into,
	    const struct sessions_tally *);
void	sessions_tally_free(struct sessions_tally *);
/* Records "sessions", "protocol", "backend" (one per backend in use). */
void	sessions_status(const struct sessions_tally *, struct ctlbuf *);
/* One "session" record per session; of user only, when not NULL. */
size_t	sessions_list(struct worker *, const char *user, struct ctlbuf *);
/* Close user's logged-in sessions (and its logins in progress);
 * returns how many. */
size_t	sessions_kick(struct worker *, const char *user);

#endif
