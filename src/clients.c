/* Per-client-address limits; see clients.h. */
#include "config.h"

#include <sys/queue.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "src/clients.h"

#define CLIENTS_BUCKETS	4096

struct client_addr {
	LIST_ENTRY(client_addr)	 entry;
	unsigned char		 key[17];	/* family, address */
	size_t			 bucket;
	int			 nsessions;
	int			 failures;
	uint64_t		 last_failure_ms;
	uint64_t		 blocked_until_ms;
	int			 backoff_ms;	/* as of the last failure */
};

LIST_HEAD(client_bucket, client_addr);

/* One table for all workers: a connection is checked against every
 * session of its address, whichever worker holds them.  Each call is a
 * few list steps under the lock. */
struct clients {
	pthread_mutex_t		 lock;
	struct client_bucket	 buckets[CLIENTS_BUCKETS];
	size_t			 n;
};

static int
make_key(const struct sockaddr *sa, unsigned char key[17])
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(key, 0, 17);
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		key[0] = 4;
		memcpy(key + 1, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, &sin6->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

static size_t
hash_key(const unsigned char key[17])
{
	uint32_t	h = 2166136261u;	/* FNV-1a */
	size_t		i;

	for (i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CLIENTS_BUCKETS;
}

/* Nothing left to remember: no session, no back-off, no recent failure. */
static int
forgettable(const struct client_addr *c, uint64_t now)
{
	if (c->nsessions > 0 || c->blocked_until_ms > now)
		return 0;
	return c->failures == 0 ||
	    c->last_failure_ms + (uint64_t)c->backoff_ms <= now;
}

static void
forget(struct clients *cs, struct client_addr *c)
{
	LIST_REMOVE(c, entry);
	cs->n--;
	free(c);
}

/* Find key, dropping forgettable entries of its bucket on the way. */
static struct client_addr *
find(struct clients *cs, const unsigned char key[17], size_t b,
    uint64_t now)
{
	struct client_addr	*c, *next, *found = NULL;

	for (c = LIST_FIRST(&cs->buckets[b]); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (memcmp(c->key, key, 17) == 0)
			found = c;
		else if (forgettable(c, now))
			forget(cs, c);
	}
	return found;
}

struct clients *
clients_new(void)
{
	struct clients	*cs;
	size_t		 i;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	for (i = 0; i < CLIENTS_BUCKETS; i++)
		LIST_INIT(&cs->buckets[i]);
	pthread_mutex_init(&cs->lock, NULL);
	return cs;
}

void
clients_free(struct clients **csp)
{
	struct clients		*cs = *csp;
	struct client_addr	*c;
	size_t			 i;

	if (cs == NULL)
		return;
	for (i = 0; i < CLIENTS_BUCKETS; i++)
		while ((c = LIST_FIRST(&cs->buckets[i])) != NULL)
			forget(cs, c);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
	*csp = NULL;
}

enum clients_verdict
clients_admit(struct clients *cs, const struct sockaddr *sa, int per_client,
    uint64_t now, struct client_addr **cp)
{
	unsigned char		 key[17];
	struct client_addr	*c;
	enum clients_verdict	 v = CLIENTS_OK;
	size_t			 b;

	*cp = NULL;
	if (make_key(sa, key) == -1)
		return CLIENTS_OK;
	b = hash_key(key);
	/* Checked and counted in one step: two workers accepting from one
	 * address at once must not both take its last place. */
	pthread_mutex_lock(&cs->lock);
	if ((c = find(cs, key, b, now)) != NULL) {
		if (c->blocked_until_ms > now)
			v = CLIENTS_BACKOFF;
		else if (c->nsessions >= per_client)
			v = CLIENTS_TOO_MANY;
	} else if ((c = calloc(1, sizeof(*c))) != NULL) {
		memcpy(c->key, key, sizeof(c->key));
		c->bucket = b;
		LIST_INSERT_HEAD(&cs->buckets[b], c, entry);
		cs->n++;
	}
	if (v == CLIENTS_OK && c != NULL) {
		c->nsessions++;
		*cp = c;
	}
	pthread_mutex_unlock(&cs->lock);
	return v;
}

void
clients_detach(struct clients *cs, struct client_addr **cp, uint64_t now)
{
	struct client_addr	*c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	pthread_mutex_lock(&cs->lock);
	c->nsessions--;
	if (forgettable(c, now))
		forget(cs, c);
	pthread_mutex_unlock(&cs->lock);
}

static int
failed_locked(struct client_addr *c, int max, int backoff_ms, uint64_t now)
{
	/* Failures far apart are not a guessing run: start counting anew. */
	if (c->failures > 0 && c->last_failure_ms + (uint64_t)backoff_ms <=
	    now)
		c->failures = 0;
	c->failures++;
	c->last_failure_ms = now;
	c->backoff_ms = backoff_ms;
	if (c->failures < max)
		return 0;
	c->failures = 0;
	c->blocked_until_ms = now + (uint64_t)backoff_ms;
	return 1;
}

int
clients_failed(struct clients *cs, struct client_addr *c, int max,
    int backoff_ms, uint64_t now)
{
	int	r;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&cs->lock);
	r = failed_locked(c, max, backoff_ms, now);
	pthread_mutex_unlock(&cs->lock);
	return r;
}

void
clients_stats(struct clients *cs, uint64_t now, size_t *tracked,
    size_t *blocked)
{
	struct client_addr	*c;
	size_t			 i;

	pthread_mutex_lock(&cs->lock);
	*tracked = cs->n;
	*blocked = 0;
	for (i = 0; i < CLIENTS_BUCKETS; i++)
		LIST_FOREACH(c, &cs->buckets[i], entry)
			if (c->blocked_until_ms > now)
				(*blocked)++;
	pthread_mutex_unlock(&cs->lock);
}
