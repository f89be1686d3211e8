/*
 * Following the directory: an RFC 4533 refreshAndPersist search over
 * the LDAP base on the event loop, on a connection of its own, resumed
 * with the last cookie after a reconnect.  When the server refuses the
 * Sync Request control (no syncprov), polling instead: entries with
 * modifyTimestamp >= the newest one seen, every conf->poll_interval_ms,
 * and a full listing every SYNC_FULL_EVERY polls to notice deletions.
 *
 * The follower keeps entryUUID -> (DN, mailHost, login keys) for every
 * entry with the mailHost attribute, so that a deletion or a rename
 * still knows whose sessions it concerns.  Once it has a full copy, each
 * change (mailHost changed, added, removed, entry deleted or renamed,
 * login keys changed) is reported to the callback; the first full copy
 * itself is not reported (nothing was routed by it yet).
 */
#ifndef FERRY_SYNC_H
#define FERRY_SYNC_H

#include <stddef.h>
#include <stdint.h>

#define SYNC_FULL_EVERY	10

struct event_base;
struct evdns_base;
struct conf_ldap;
struct sync;

struct sync_change {
	const char		*dn;
	const char		*old_host;	/* NULL: none, or unknown */
	const char		*new_host;	/* NULL: deleted, or none */
	const char *const	*keys;	/* old and new login keys */
	size_t			 nkeys;
	const char		*how;		/* "sync" or "poll" */
};

struct sync_stats {
	/* "syncrepl", "polling", "starting" */
	const char	*mode;
	int		 loaded;	/* has had a full copy */
	size_t		 entries;
	uint64_t	 changes;	/* reported */
	uint64_t	 reconnects;
};

/* Valid only during the call; the callback must not free the sync. */
typedef void	sync_change_cb(const struct sync_change *, void *arg);

/* conf must outlive it.  Connects on the next loop turn. */
struct sync	*sync_new(struct event_base *, struct evdns_base *,
		    const struct conf_ldap *, sync_change_cb *, void *arg);
void		 sync_free(struct sync **);
/* Is login (as typed) one of the change's entry's logins? */
int		 sync_change_matches(const struct sync_change *,
		    const char *login);
void		 sync_get_stats(const struct sync *, struct sync_stats *);

#endif
