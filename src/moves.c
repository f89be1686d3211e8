/* Acting on LDAP changes, and holds; see moves.h. */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lookup/lookup.h"
#include "lookup/sync.h"
#include "lookup/userkeys.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/log.h"
#include "src/moves.h"
#include "src/util.h"
#include "src/worker.h"
#include "src/xmalloc.h"

struct hold {
	TAILQ_ENTRY(hold)	 entry;
	uint64_t		 until_ms;
	char			 user[];
};

TAILQ_HEAD(hold_list, hold);

struct moves {
	struct hub		*hub;
	struct conf		*conf;		/* the follower's */
	struct sync		*sync;
	struct move_event	 ring[MOVES_KEEP];
	size_t			 first, count;
	struct hold_list	 holds;
	uint64_t		 serial;	/* of the last change */
};

/* What the workers need of a change, copied: it lives only during the
 * follower's callback, and the workers answer later. */
struct move_kick {
	struct moves	*m;
	uint64_t	 serial;
	char		**keys;		/* as sync_change keys */
	size_t		 nkeys;
	char		*new_host;
	int		 grace_ms;
	char		 line[1024];	/* the log line, without the count */
};

static void
move_kick_free(void *arg)
{
	struct move_kick	*k = arg;
	size_t			 i;

	for (i = 0; i < k->nkeys; i++)
		free(k->keys[i]);
	free(k->keys);
	free(k->new_host);
	free(k);
}

static int
kick_match(const char *login, void *arg)
{
	const struct move_kick	*k = arg;
	size_t			 i;

	for (i = 0; i < k->nkeys; i++)
		if (userkeys_match(k->keys[i][0], k->keys[i] + 1, login))
			return 1;
	return 0;
}

/* On each worker. */
static void
kick_task(struct worker *w, const struct task *t, struct task_part *p)
{
	const struct move_kick	*k = t->params;

	p->count = worker_kick_match(w, kick_match, (void *)k, k->new_host,
	    k->new_host != NULL ? "mailbox moved" : "user removed",
	    MOVES_BYE, k->grace_ms);
}

static void
kick_done(struct task *t, void *arg)
{
	struct move_kick	*k = t->params;
	struct moves		*m = k->m;
	size_t			 i, n = 0;

	for (i = 0; i < t->nparts; i++)
		n += t->parts[i].count;
	log_info("%s; closing %zu session%s", k->line, n, n == 1 ? "" : "s");
	for (i = 0; i < m->count; i++)
		if (m->ring[(m->first + i) % MOVES_KEEP].serial == k->serial)
			m->ring[(m->first + i) % MOVES_KEEP].closed = n;
}

static void
remember(struct moves *m, const struct sync_change *ch, size_t closed)
{
	struct move_event	*e;

	if (m->count == MOVES_KEEP) {
		m->first = (m->first + 1) % MOVES_KEEP;
		m->count--;
	}
	e = &m->ring[(m->first + m->count++) % MOVES_KEEP];
	memset(e, 0, sizeof(*e));
	e->at_ms = (uint64_t)time(NULL) * 1000;
	snprintf(e->dn, sizeof(e->dn), "%s", ch->dn);
	snprintf(e->old_host, sizeof(e->old_host), "%s",
	    ch->old_host != NULL ? ch->old_host : "");
	snprintf(e->new_host, sizeof(e->new_host), "%s",
	    ch->new_host != NULL ? ch->new_host : "");
	e->closed = closed;
	e->how = ch->how;
	e->serial = ++m->serial;
}

static void
moves_change_cb(const struct sync_change *ch, void *arg)
{
	struct moves		*m = arg;
	const struct conf_ldap	*ld = &m->conf->ldap;
	struct move_kick	*k;
	char			 dn[300], oh[300], nh[300];
	size_t			 i;

	/*
	 * Any cached answer may be this entry's under some alias; changes
	 * are rare, searches are cheap, a stale route is not.
	 */
	lookup_flush(m->hub->lookup, NULL);
	remember(m, ch, 0);
	k = xcalloc(1, sizeof(*k));
	k->m = m;
	k->serial = m->serial;
	k->keys = xcalloc(ch->nkeys + 1, sizeof(*k->keys));
	for (i = 0; i < ch->nkeys; i++)
		k->keys[k->nkeys++] = xstrdup(ch->keys[i]);
	k->new_host = ch->new_host != NULL ? xstrdup(ch->new_host) : NULL;
	k->grace_ms = ld->move_grace_ms;
	snprintf(k->line, sizeof(k->line), "ldap: %s: %s %s -> %s (%s)",
	    log_escape(ch->dn, strlen(ch->dn), dn, sizeof(dn)),
	    ld->attribute != NULL ? ld->attribute : "mailHost",
	    ch->old_host != NULL ? log_escape(ch->old_host,
	    strlen(ch->old_host), oh, sizeof(oh)) : "-",
	    ch->new_host != NULL ? log_escape(ch->new_host,
	    strlen(ch->new_host), nh, sizeof(nh)) : "-", ch->how);
	hub_task(m->hub, kick_task, k, move_kick_free, kick_done, NULL);
}

static void
follow(struct moves *m, struct conf *conf)
{
	m->conf = conf_ref(conf);
	if (conf->ldap.follow_changes != CONF_FOLLOW_NO)
		m->sync = sync_new(m->hub->base, m->hub->dns, &conf->ldap,
		    moves_change_cb, m);
}

struct moves *
moves_new(struct hub *hub, struct conf *conf)
{
	struct moves	*m;

	m = xcalloc(1, sizeof(*m));
	m->hub = hub;
	TAILQ_INIT(&m->holds);
	follow(m, conf);
	return m;
}

static int
differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Would the follower see something else with nc's ldap block? */
static int
ldap_changed(const struct conf_ldap *o, const struct conf_ldap *n)
{
	size_t	i;

	if (o->nuris != n->nuris || o->scope != n->scope ||
	    o->follow_changes != n->follow_changes ||
	    o->poll_interval_ms != n->poll_interval_ms ||
	    o->starttls != n->starttls || o->tls_verify != n->tls_verify ||
	    differ(o->base, n->base) || differ(o->filter, n->filter) ||
	    differ(o->attribute, n->attribute) ||
	    differ(o->bind_dn, n->bind_dn) ||
	    differ(o->bind_password, n->bind_password) ||
	    differ(o->sasl_mech, n->sasl_mech) ||
	    differ(o->tls_ca_file, n->tls_ca_file))
		return 1;
	for (i = 0; i < o->nuris; i++)
		if (differ(o->uris[i], n->uris[i]))
			return 1;
	return 0;
}

void
moves_reload(struct moves *m, struct conf *nc)
{
	if (!ldap_changed(&m->conf->ldap, &nc->ldap))
		return;
	/* Starts afresh: changes during the new full copy go unreported. */
	log_info("ldap: settings changed, following changes afresh");
	sync_free(&m->sync);
	conf_unref(&m->conf);
	follow(m, nc);
}

void
moves_free(struct moves **mp)
{
	struct moves	*m = *mp;
	struct hold	*h;

	if (m == NULL)
		return;
	*mp = NULL;
	sync_free(&m->sync);
	conf_unref(&m->conf);
	while ((h = TAILQ_FIRST(&m->holds)) != NULL) {
		TAILQ_REMOVE(&m->holds, h, entry);
		free(h);
	}
	free(m);
}

static struct hold *
hold_find(struct moves *m, const char *user)
{
	struct hold	*h, *next;
	uint64_t	 now = now_ms();

	for (h = TAILQ_FIRST(&m->holds); h != NULL; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->until_ms <= now) {
			/* A hold ends by itself. */
			TAILQ_REMOVE(&m->holds, h, entry);
			free(h);
			continue;
		}
		if (user != NULL && strcasecmp(h->user, user) == 0)
			return h;
	}
	return NULL;
}

int
moves_hold(struct moves *m, const char *user, int secs)
{
	struct hold	*h;
	size_t		 len = strlen(user);

	if (secs <= 0)
		secs = HOLD_DEFAULT_S;
	if (secs > HOLD_MAX_S)
		secs = HOLD_MAX_S;
	if ((h = hold_find(m, user)) == NULL) {
		if ((h = calloc(1, sizeof(*h) + len + 1)) == NULL)
			return -1;
		memcpy(h->user, user, len + 1);
		TAILQ_INSERT_TAIL(&m->holds, h, entry);
	}
	h->until_ms = now_ms() + (uint64_t)secs * 1000;
	return 0;
}

int
moves_release(struct moves *m, const char *user)
{
	struct hold	*h;

	if ((h = hold_find(m, user)) == NULL)
		return -1;
	TAILQ_REMOVE(&m->holds, h, entry);
	free(h);
	return 0;
}

int
moves_held(struct moves *m, const char *user)
{
	struct hold	*h;
	uint64_t	 left;

	if (m == NULL || user == NULL || (h = hold_find(m, user)) == NULL)
		return 0;
	left = (h->until_ms - now_ms() + 999) / 1000;
	return left > 0 ? (int)left : 1;
}

const char *
moves_hold_get(struct moves *m, size_t i, int *secs_left)
{
	struct hold	*h;

	hold_find(m, NULL);
	TAILQ_FOREACH(h, &m->holds, entry)
		if (i-- == 0) {
			*secs_left = (int)((h->until_ms - now_ms() + 999) /
			    1000);
			return h->user;
		}
	return NULL;
}

size_t
moves_count(const struct moves *m)
{
	return m->count;
}

const struct move_event *
moves_get(const struct moves *m, size_t i)
{
	if (i >= m->count)
		return NULL;
	return &m->ring[(m->first + i) % MOVES_KEEP];
}

const char *
moves_mode(const struct moves *m, size_t *entries)
{
	struct sync_stats	st;

	*entries = 0;
	if (m->sync == NULL)
		return "off";
	sync_get_stats(m->sync, &st);
	*entries = st.entries;
	return st.mode;
}
