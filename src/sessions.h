/*
 * The worker's sessions as the operator sees them: counts for status
 * and metrics, one row per session, and kicking a user's sessions.
 * Sessions are found by walking the worker's list; an index by user
 * can come when kicks get frequent (LDAP change following).
 */
#ifndef FERRY_SESSIONS_H
#define FERRY_SESSIONS_H

#include <stddef.h>

struct ctlbuf;
struct metrics_snapshot;
struct worker;

/* Records "sessions", "backend" (one per backend in use), "proto". */
void	sessions_status(struct worker *, struct ctlbuf *);
/* One "session" record per session; of user only, when not NULL. */
size_t	sessions_list(struct worker *, const char *user, struct ctlbuf *);
/* Close user's logged-in sessions (and its logins in progress);
 * returns how many. */
size_t	sessions_kick(struct worker *, const char *user);
/* The session and counter parts of a metrics snapshot. */
void	sessions_snapshot(struct worker *, struct metrics_snapshot *);

#endif
