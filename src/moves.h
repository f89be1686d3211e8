/*
 * Moves: what ferry does when a user's mailHost changes in LDAP, and
 * holds for the final copy of a migration.
 *
 * With ldap follow-changes, a change reported by the follower
 * (lookup/sync.h) drops the cached answers and closes, after ldap
 * move-grace, the sessions of that entry's logins (userkeys.h) whose
 * backend is not the new mailHost; a deleted entry, or one without
 * mailHost now, closes them all.  The last MOVES_KEEP changes are kept
 * for ferryctl moves.
 *
 * A hold (ferryctl hold USER [SECONDS]) refuses new logins of USER, as
 * typed by the client, case ignored, with a temporary failure until
 * it is released or its time is up.
 */
#ifndef FERRY_MOVES_H
#define FERRY_MOVES_H

#include <stddef.h>
#include <stdint.h>

#define MOVES_KEEP		64
#define HOLD_DEFAULT_S		600
#define HOLD_MAX_S		(7 * 24 * 3600)
#define MOVES_BYE \
	"Your mailbox has moved, please reconnect."

struct conf;
struct hub;
struct moves;

/* One remembered change. */
struct move_event {
	uint64_t	 at_ms;		/* wall clock */
	char		 dn[256];
	char		 old_host[256];	/* "" none */
	char		 new_host[256];	/* "" deleted / none */
	size_t		 closed;	/* sessions being closed */
	const char	*how;		/* "sync" / "poll" */
	uint64_t	 serial;	/* to fill closed in later */
};

/* Starts the follower when the configuration asks for it (on the
 * hub's loop); kicks go to every worker as a task. */
struct moves	*moves_new(struct hub *, struct conf *);
void		 moves_free(struct moves **);
/* After a reload: restart the follower if the ldap block changed.  The
 * follower keeps a reference to the configuration it runs with. */
void		 moves_reload(struct moves *, struct conf *);
/* secs <= 0: HOLD_DEFAULT_S.  -1 if out of memory. */
int		 moves_hold(struct moves *, const char *user, int secs);
/* 0 if user was held. */
int		 moves_release(struct moves *, const char *user);
/* Seconds left (> 0) if user's logins are refused now, else 0. */
int		 moves_held(struct moves *, const char *user);
/* Recent changes, oldest first: i from 0 to moves_count() - 1. */
size_t		 moves_count(const struct moves *);
const struct move_event *moves_get(const struct moves *, size_t i);
/* The follower's state, for status: "off", "starting", "syncrepl",
 * "polling"; entries known. */
const char	*moves_mode(const struct moves *, size_t *entries);
/* Holds now in force, for listing: i from 0; NULL past the end. */
const char	*moves_hold_get(struct moves *, size_t i, int *secs_left);

#endif
