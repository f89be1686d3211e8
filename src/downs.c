/* Backends marked down; see downs.h. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "lookup/mailhost.h"
#include "src/downs.h"

struct down {
	TAILQ_ENTRY(down)	 entry;
	uint64_t		 until;
	char			 addr[MAILHOST_HOST_MAX + 16];
};

TAILQ_HEAD(down_list, down);

struct downs {
	pthread_mutex_t		 lock;
	struct down_list	 list;		/* oldest mark first */
	size_t			 n;
};

struct downs *
downs_new(void)
{
	struct downs	*ds;

	if ((ds = calloc(1, sizeof(*ds))) == NULL)
		return NULL;
	pthread_mutex_init(&ds->lock, NULL);
	TAILQ_INIT(&ds->list);
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
	while ((d = TAILQ_FIRST(&ds->list)) != NULL) {
		TAILQ_REMOVE(&ds->list, d, entry);
		free(d);
	}
	pthread_mutex_destroy(&ds->lock);
	free(ds);
}

/* Under the lock. */
static struct down *
find(struct downs *ds, const char *addr)
{
	struct down	*d;

	TAILQ_FOREACH(d, &ds->list, entry)
		if (strcasecmp(d->addr, addr) == 0)
			return d;
	return NULL;
}

int
downs_mark(struct downs *ds, const char *addr, int down_ms, uint64_t now_ms)
{
	struct down	*d;
	int		 added = 0;

	if (down_ms <= 0 || strlen(addr) >= sizeof(d->addr))
		return 0;
	pthread_mutex_lock(&ds->lock);
	if ((d = find(ds, addr)) == NULL) {
		if (ds->n >= DOWNS_MAX) {
			/* The oldest mark is the least useful. */
			d = TAILQ_FIRST(&ds->list);
			TAILQ_REMOVE(&ds->list, d, entry);
		} else if ((d = calloc(1, sizeof(*d))) != NULL)
			ds->n++;
		if (d != NULL) {
			strcpy(d->addr, addr);
			TAILQ_INSERT_TAIL(&ds->list, d, entry);
			added = 1;
		}
	}
	if (d != NULL)
		d->until = now_ms + (uint64_t)down_ms;
	pthread_mutex_unlock(&ds->lock);
	return added;
}

int
downs_clear(struct downs *ds, const char *addr)
{
	struct down	*d;

	pthread_mutex_lock(&ds->lock);
	/* Every login ends here: nothing to look for, most of the time. */
	if (ds->n == 0 || (d = find(ds, addr)) == NULL) {
		pthread_mutex_unlock(&ds->lock);
		return 0;
	}
	TAILQ_REMOVE(&ds->list, d, entry);
	ds->n--;
	pthread_mutex_unlock(&ds->lock);
	free(d);
	return 1;
}

int
downs_is_down(struct downs *ds, const char *addr, uint64_t now_ms)
{
	struct down	*d;
	int		 down = 0;

	pthread_mutex_lock(&ds->lock);
	/* Expired marks stay until the next connect clears them. */
	if (ds->n > 0 && (d = find(ds, addr)) != NULL)
		down = now_ms < d->until;
	pthread_mutex_unlock(&ds->lock);
	return down;
}
