/* Backends marked down; see downs.h. */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "lookup/mailhost.h"
#include "src/downs.h"

#define DOWNS_BUCKETS	64

struct down {
	LIST_ENTRY(down)	 bucket;
	TAILQ_ENTRY(down)	 age;		/* least recently used first */
	uint64_t		 last_ok_ms;	/* 0: never */
	uint64_t		 until_ms;	/* down before this; 0: up */
	char			 addr[MAILHOST_HOST_MAX + 16];
};

LIST_HEAD(down_bucket, down);
TAILQ_HEAD(down_ages, down);

struct downs {
	pthread_mutex_t		 lock;
	struct down_bucket	 buckets[DOWNS_BUCKETS];
	struct down_ages	 ages;
	size_t			 n;
};

struct downs *
downs_new(void)
{
	struct downs	*ds;
	size_t		 i;

	if ((ds = calloc(1, sizeof(*ds))) == NULL)
		return NULL;
	pthread_mutex_init(&ds->lock, NULL);
	for (i = 0; i < DOWNS_BUCKETS; i++)
		LIST_INIT(&ds->buckets[i]);
	TAILQ_INIT(&ds->ages);
	return ds;
}

void
downs_free(struct downs **dsp)
{
	struct downs	*ds = *dsp;
	struct down	*d;

	if (ds == NULL)
		return;
	*dsp = NULL;
	while ((d = TAILQ_FIRST(&ds->ages)) != NULL) {
		TAILQ_REMOVE(&ds->ages, d, age);
		free(d);
	}
	pthread_mutex_destroy(&ds->lock);
	free(ds);
}

/* Host names compare without case. */
static size_t
hash_addr(const char *addr)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *addr != '\0'; addr++)
		h = (h ^ (uint32_t)tolower((unsigned char)*addr)) * 16777619u;
	return h % DOWNS_BUCKETS;
}

/* Under the lock: addr's entry, made if make (NULL: none, or no room
 * and out of memory); the most recently used from now on. */
static struct down *
find(struct downs *ds, const char *addr, int make)
{
	struct down_bucket	*b = &ds->buckets[hash_addr(addr)];
	struct down		*d;

	LIST_FOREACH(d, b, bucket)
		if (strcasecmp(d->addr, addr) == 0)
			break;
	if (d == NULL) {
		if (!make || strlen(addr) >= sizeof(d->addr))
			return NULL;
		if (ds->n >= DOWNS_MAX) {
			d = TAILQ_FIRST(&ds->ages);
			TAILQ_REMOVE(&ds->ages, d, age);
			LIST_REMOVE(d, bucket);
			memset(d, 0, sizeof(*d));
		} else if ((d = calloc(1, sizeof(*d))) == NULL)
			return NULL;
		else
			ds->n++;
		strcpy(d->addr, addr);
		LIST_INSERT_HEAD(b, d, bucket);
	} else
		TAILQ_REMOVE(&ds->ages, d, age);
	TAILQ_INSERT_TAIL(&ds->ages, d, age);
	return d;
}

int
downs_failed(struct downs *ds, const char *addr, uint64_t started_ms,
    int down_ms, uint64_t now_ms)
{
	struct down	*d;
	int		 marked = 0;

	if (down_ms <= 0)
		return 0;
	pthread_mutex_lock(&ds->lock);
	/* Another connection got through after this one began: busy, not
	 * down. */
	if ((d = find(ds, addr, 1)) != NULL && (d->last_ok_ms == 0 ||
	    d->last_ok_ms < started_ms)) {
		marked = d->until_ms <= now_ms;
		d->until_ms = now_ms + (uint64_t)down_ms;
	}
	pthread_mutex_unlock(&ds->lock);
	return marked;
}

int
downs_ok(struct downs *ds, const char *addr, uint64_t now_ms)
{
	struct down	*d;
	int		 lifted = 0;

	pthread_mutex_lock(&ds->lock);
	if ((d = find(ds, addr, 1)) != NULL) {
		lifted = d->until_ms != 0;
		d->until_ms = 0;
		d->last_ok_ms = now_ms;
	}
	pthread_mutex_unlock(&ds->lock);
	return lifted;
}

int
downs_is_down(struct downs *ds, const char *addr, uint64_t now_ms)
{
	struct down	*d;
	int		 down = 0;

	pthread_mutex_lock(&ds->lock);
	if ((d = find(ds, addr, 0)) != NULL)
		down = now_ms < d->until_ms;
	pthread_mutex_unlock(&ds->lock);
	return down;
}
