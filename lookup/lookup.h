/*
 * Where does a user live?  One asynchronous interface; behind it the
 * user-name rules, the cache, LDAP, the map file and default backends,
 * in that order.
 *
 * lookup_start() never calls back synchronously; the callback runs
 * exactly once per request unless the request is cancelled first, and
 * never after lookup_cancel().  The request handle is invalid once the
 * callback has run.  Concurrent lookups of one user share one search.
 */
#ifndef FERRY_LOOKUP_H
#define FERRY_LOOKUP_H

#include <stdint.h>

#include "lookup/cache.h"
#include "lookup/mailhost.h"

struct event_base;
struct evdns_base;
struct conf;
struct conf_backend;
struct lookup;
struct lookup_req;

enum lookup_status {
	LOOKUP_OK,		/* result->host is set */
	LOOKUP_NOTFOUND,	/* no such user, or no usable attribute */
	LOOKUP_TEMPFAIL,	/* LDAP unreachable, timed out, or erred;
				 * or the route is refused or down */
};

struct lookup_result {
	enum lookup_status	 status;
	struct mailhost		 host;		/* LOOKUP_OK: port 0 = default */
	/* LOOKUP_OK: the configured backend, NULL with allow-any-host or
	 * when no backend is configured. */
	const struct conf_backend *backend;
	const char		*login;		/* LOOKUP_OK: backend login */
	const char		*source;	/* cache, ldap, map, default */
	int			 cached;	/* from the cache: may be stale */
	const char		*reason;	/* for the log, never secret */
};

struct lookup_stats {
	struct cache_stats	 cache;
	uint64_t		 searches;	/* sent to LDAP */
	uint64_t		 coalesced;	/* joined a search in flight */
	uint64_t		 refused;	/* mailHost not a backend */
	size_t			 pending;	/* requests not answered yet */
	const char		*ldap_state;	/* "bound", "backoff", "none" */
	const char		*ldap_uri;	/* in use or being tried */
};

typedef void	lookup_cb(const struct lookup_result *, void *arg);

/* conf must outlive the lookup service; its map file is the one
 * conf_load() read. */
struct lookup	*lookup_new(struct event_base *, struct evdns_base *,
		    const struct conf *);
void		 lookup_free(struct lookup **);
/* user as typed by the client.  NULL only if memory runs out. */
struct lookup_req *lookup_start(struct lookup *, const char *user,
		    lookup_cb *, void *arg);
/* The same, but ask LDAP even if the cache has a fresh answer. */
struct lookup_req *lookup_refresh(struct lookup *, const char *user,
		    lookup_cb *, void *arg);
void		 lookup_cancel(struct lookup_req **);
/* Drop cached answers for user (as typed), or all when NULL. */
size_t		 lookup_flush(struct lookup *, const char *user);
/* A reload: the new service keeps the old one's answers to serve stale
 * (see cache_adopt).  Returns how many. */
size_t		 lookup_adopt_cache(struct lookup *, const struct lookup *);
void		 lookup_get_stats(const struct lookup *,
		    struct lookup_stats *);

#endif
