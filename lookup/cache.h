/*
 * The lookup cache: user name -> answer, with positive and negative
 * time-to-live, a stale-if-error window for positive answers, a size
 * bound with least-recently-used eviction, and counters.  Each key can
 * also carry an in-flight marker (an opaque pointer) so that many
 * logins of one user share one LDAP search.
 *
 * Pure: time is passed in (milliseconds, any monotonic origin), nothing
 * here touches the event loop.  A ttl of 0 disables storing answers;
 * in-flight markers work regardless.
 */
#ifndef FERRY_CACHE_H
#define FERRY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lookup/mailhost.h"

#define CACHE_LOGIN_MAX	255

struct cache;

struct cache_value {
	int		 negative;		/* "no such user" */
	struct mailhost	 host;			/* positive only */
	char		 login[CACHE_LOGIN_MAX + 1]; /* "" = as typed */
};

enum cache_answer {
	CACHE_MISS,
	CACHE_FRESH,		/* within its TTL */
	CACHE_STALE,		/* expired, inside stale-if-error */
};

struct cache_stats {
	uint64_t	hits;		/* fresh answers, positive or not */
	uint64_t	negative_hits;	/* of which negative */
	uint64_t	misses;
	uint64_t	stale;		/* stale answers served */
	uint64_t	evictions;
	uint64_t	entries;	/* now */
};

/* ttl, neg_ttl, stale in ms; max entries >= 1.  NULL if out of memory. */
struct cache	*cache_new(size_t max, int ttl_ms, int neg_ttl_ms,
		    int stale_ms);
void		 cache_free(struct cache **);
/* Counts a hit or a miss; STALE is counted once served (cache_served). */
enum cache_answer cache_get(struct cache *, const char *key, uint64_t now,
		    struct cache_value *out);
void		 cache_served_stale(struct cache *);
/* Store (replace) an answer.  -1 if out of memory (nothing changes). */
int		 cache_put(struct cache *, const char *key,
		    const struct cache_value *, uint64_t now);
/* Forget key's answer, or every answer when key is NULL; in-flight
 * markers stay.  Returns how many answers were dropped. */
size_t		 cache_flush(struct cache *, const char *key);
/* The in-flight marker for key, or NULL. */
void		*cache_flight(struct cache *, const char *key);
/* Set (flight != NULL) or clear key's marker.  -1 if out of memory. */
int		 cache_set_flight(struct cache *, const char *key,
		    void *flight);
void		 cache_get_stats(const struct cache *, struct cache_stats *);
/* Take over from's positive answers as already expired: LDAP is asked
 * again, but they are there to serve stale (a reload during an LDAP
 * outage).  Returns how many were taken. */
size_t		 cache_adopt(struct cache *to, const struct cache *from,
		    uint64_t now);

#endif
