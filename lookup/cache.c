/*
 * The lookup cache; see cache.h.  A chained hash table (FNV-1a) for
 * finding keys and one LRU list for eviction, most recent at the head.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "lookup/cache.h"

#define BUCKETS_MIN	64
#define BUCKETS_MAX	(1U << 20)

struct centry {
	struct centry		*next;		/* hash chain */
	TAILQ_ENTRY(centry)	 lru;
	uint32_t		 hash;
	int			 has_value;
	struct cache_value	 value;
	uint64_t		 expires;
	uint64_t		 stale_until;
	void			*flight;
	char			 key[];
};

TAILQ_HEAD(centry_list, centry);

struct cache {
	struct centry		**buckets;
	size_t			 nbuckets;	/* a power of two */
	struct centry_list	 lru;
	size_t			 max;
	size_t			 nvalues;
	int			 ttl_ms;
	int			 neg_ttl_ms;
	int			 stale_ms;
	struct cache_stats	 stats;
};

static uint32_t
hash_key(const char *key)
{
	uint32_t	h = 2166136261U;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619U;
	}
	return h;
}

struct cache *
cache_new(size_t max, int ttl_ms, int neg_ttl_ms, int stale_ms)
{
	struct cache	*c;
	size_t		 n = BUCKETS_MIN;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (max == 0)
		max = 1;
	while (n < max && n < BUCKETS_MAX)
		n *= 2;
	if ((c->buckets = calloc(n, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	c->nbuckets = n;
	TAILQ_INIT(&c->lru);
	c->max = max;
	c->ttl_ms = ttl_ms > 0 ? ttl_ms : 0;
	c->neg_ttl_ms = neg_ttl_ms > 0 ? neg_ttl_ms : 0;
	c->stale_ms = stale_ms > 0 ? stale_ms : 0;
	return c;
}

void
cache_free(struct cache **cp)
{
	struct cache	*c = *cp;
	struct centry	*e;

	if (c == NULL)
		return;
	*cp = NULL;
	while ((e = TAILQ_FIRST(&c->lru)) != NULL) {
		TAILQ_REMOVE(&c->lru, e, lru);
		free(e);
	}
	free(c->buckets);
	free(c);
}

static struct centry *
find(struct cache *c, const char *key, uint32_t h)
{
	struct centry	*e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
unlink_entry(struct cache *c, struct centry *e)
{
	struct centry	**pp;

	for (pp = &c->buckets[e->hash & (c->nbuckets - 1)]; *pp != e;
	    pp = &(*pp)->next)
		;
	*pp = e->next;
	TAILQ_REMOVE(&c->lru, e, lru);
	free(e);
}

/* Drop e's answer; the entry goes too unless a lookup is in flight. */
static void
drop_value(struct cache *c, struct centry *e)
{
	if (e->has_value) {
		e->has_value = 0;
		c->nvalues--;
	}
	if (e->flight == NULL)
		unlink_entry(c, e);
}

static struct centry *
find_or_add(struct cache *c, const char *key)
{
	struct centry	*e;
	uint32_t	 h = hash_key(key);
	size_t		 len = strlen(key), b;

	if ((e = find(c, key, h)) != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL)
		return NULL;
	memcpy(e->key, key, len + 1);
	e->hash = h;
	b = h & (c->nbuckets - 1);
	e->next = c->buckets[b];
	c->buckets[b] = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	return e;
}

enum cache_answer
cache_get(struct cache *c, const char *key, uint64_t now,
    struct cache_value *out)
{
	struct centry	*e;

	e = find(c, key, hash_key(key));
	if (e == NULL || !e->has_value) {
		c->stats.misses++;
		return CACHE_MISS;
	}
	if (now < e->expires) {
		c->stats.hits++;
		if (e->value.negative)
			c->stats.negative_hits++;
		TAILQ_REMOVE(&c->lru, e, lru);
		TAILQ_INSERT_HEAD(&c->lru, e, lru);
		*out = e->value;
		return CACHE_FRESH;
	}
	c->stats.misses++;
	if (now < e->stale_until) {
		*out = e->value;
		return CACHE_STALE;
	}
	drop_value(c, e);
	return CACHE_MISS;
}

void
cache_served_stale(struct cache *c)
{
	c->stats.stale++;
}

int
cache_put(struct cache *c, const char *key, const struct cache_value *v,
    uint64_t now)
{
	struct centry	*e, *old;
	int		 ttl = v->negative ? c->neg_ttl_ms : c->ttl_ms;

	if (c->ttl_ms == 0 || ttl == 0)
		return 0;
	if ((e = find_or_add(c, key)) == NULL)
		return -1;
	if (!e->has_value)
		c->nvalues++;
	e->has_value = 1;
	e->value = *v;
	e->expires = now + (uint64_t)ttl;
	/* Only a positive answer is worth serving while LDAP is away. */
	e->stale_until = v->negative ? e->expires :
	    e->expires + (uint64_t)c->stale_ms;
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	/* Over the bound: the least recently used answers go. */
	old = TAILQ_LAST(&c->lru, centry_list);
	while (c->nvalues > c->max && old != NULL) {
		e = old;
		old = TAILQ_PREV(old, centry_list, lru);
		if (e->has_value) {
			drop_value(c, e);
			c->stats.evictions++;
		}
	}
	return 0;
}

size_t
cache_adopt(struct cache *to, const struct cache *from, uint64_t now)
{
	struct centry	*e;
	uint64_t	 stored;
	size_t		 n = 0;

	if (to->ttl_ms == 0 || now < (uint64_t)to->ttl_ms)
		return 0;
	/* Oldest first, so that the LRU order carries over. */
	TAILQ_FOREACH_REVERSE(e, &from->lru, centry_list, lru) {
		if (!e->has_value || e->value.negative)
			continue;
		/* Stored when it was, but no later than just expired. */
		stored = e->expires - (uint64_t)from->ttl_ms;
		if (stored + (uint64_t)to->ttl_ms > now)
			stored = now - (uint64_t)to->ttl_ms;
		if (stored + (uint64_t)to->ttl_ms + (uint64_t)to->stale_ms <=
		    now)
			continue;
		if (cache_put(to, e->key, &e->value, stored) == -1)
			break;
		n++;
	}
	return n;
}

size_t
cache_flush(struct cache *c, const char *key)
{
	struct centry	*e, *next;
	size_t		 n = 0;

	if (key != NULL) {
		if ((e = find(c, key, hash_key(key))) != NULL &&
		    e->has_value) {
			drop_value(c, e);
			n++;
		}
		return n;
	}
	for (e = TAILQ_FIRST(&c->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (e->has_value) {
			drop_value(c, e);
			n++;
		}
	}
	return n;
}

void *
cache_flight(struct cache *c, const char *key)
{
	struct centry	*e;

	if ((e = find(c, key, hash_key(key))) == NULL)
		return NULL;
	return e->flight;
}

int
cache_set_flight(struct cache *c, const char *key, void *flight)
{
	struct centry	*e;

	if (flight == NULL) {
		if ((e = find(c, key, hash_key(key))) == NULL)
			return 0;
		e->flight = NULL;
		if (!e->has_value)
			unlink_entry(c, e);
		return 0;
	}
	if ((e = find_or_add(c, key)) == NULL)
		return -1;
	e->flight = flight;
	return 0;
}

void
cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->stats;
	st->entries = c->nvalues;
}
