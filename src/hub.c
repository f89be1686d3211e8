/* The main thread's side of the workers; see hub.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>

#include "lookup/lookup.h"
#include "src/conf.h"
#include "src/downs.h"
#include "src/hub.h"
#include "src/log.h"
#include "src/moves.h"
#include "src/mq.h"
#include "src/msg.h"
#include "src/worker.h"
#include "src/xmalloc.h"

/* A worker's lookup being answered here. */
struct hub_lookup {
	TAILQ_ENTRY(hub_lookup)	 entry;
	struct hub		*hub;
	struct worker		*worker;
	struct worker_lookup	*wl;		/* the worker's handle */
	struct lookup_req	*req;
	char			*user;
};

void
hub_answer(struct hub *hub, const char *user, struct lookup_result *res)
{
	if (res->status != LOOKUP_OK)
		return;
	/* ferryctl hold: the final copy of a move is running. */
	if (hub->moves != NULL && moves_held(hub->moves, user)) {
		res->status = LOOKUP_TEMPFAIL;
		res->reason = "user on hold";
		return;
	}
}

static void
hub_lookup_free(struct hub_lookup *hl)
{
	TAILQ_REMOVE(&hl->hub->lookups, hl, entry);
	free(hl->user);
	free(hl);
}

/* Exactly one answer per request: the result, or "cancelled". */
static void
answer(struct hub_lookup *hl, const struct lookup_result *res)
{
	struct msg	*m;

	m = msg_new(MSG_LOOKUP_RES, hl->worker);
	m->u.lookup_res.wl = hl->wl;
	if (res != NULL) {
		m->u.lookup_res.answered = 1;
		m->u.lookup_res.res = *res;
		hub_answer(hl->hub, hl->user, &m->u.lookup_res.res);
		/* Pointers into the lookup service stay here: copies. */
		if (res->backend != NULL)
			m->u.lookup_res.backend = xstrdup(res->backend->name);
		if (res->login != NULL)
			m->u.lookup_res.login = xstrdup(res->login);
		snprintf(m->u.lookup_res.reason, sizeof(m->u.lookup_res.reason),
		    "%s", m->u.lookup_res.res.reason != NULL ?
		    m->u.lookup_res.res.reason : "");
		m->u.lookup_res.res.backend = NULL;
		m->u.lookup_res.res.login = NULL;
		m->u.lookup_res.res.reason = NULL;
	}
	worker_post(hl->worker, m);
	hub_lookup_free(hl);
}

static void
hub_lookup_done(const struct lookup_result *res, void *arg)
{
	struct hub_lookup	*hl = arg;

	hl->req = NULL;
	answer(hl, res);
}

static void
on_lookup_req(struct hub *hub, struct msg *m)
{
	struct hub_lookup	*hl;
	struct lookup_result	 oom = { .status = LOOKUP_TEMPFAIL,
				    .reason = "lookup: out of memory" };

	hl = xcalloc(1, sizeof(*hl));
	hl->hub = hub;
	hl->worker = m->worker;
	hl->wl = m->u.lookup_req.wl;
	hl->user = m->u.lookup_req.user;
	m->u.lookup_req.user = NULL;
	TAILQ_INSERT_TAIL(&hub->lookups, hl, entry);
	hl->req = (m->u.lookup_req.refresh ? lookup_refresh : lookup_start)(
	    hub->lookup, hl->user, hub_lookup_done, hl);
	if (hl->req == NULL)
		answer(hl, &oom);
}

static void
on_lookup_cancel(struct hub *hub, struct msg *m)
{
	struct hub_lookup	*hl;

	/* Not found: answered already, the answer is on its way. */
	TAILQ_FOREACH(hl, &hub->lookups, entry)
		if (hl->worker == m->worker && hl->wl == m->u.lookup_req.wl)
			break;
	if (hl == NULL)
		return;
	lookup_cancel(&hl->req);
	answer(hl, NULL);
}

static void
task_free(struct task *t)
{
	size_t	i;

	for (i = 0; i < t->nparts; i++) {
		ctlbuf_free(&t->parts[i].buf);
		sessions_tally_free(&t->parts[i].tally);
	}
	if (t->params_free != NULL)
		t->params_free(t->params);
	free(t);
}

static void
on_task_done(struct msg *m)
{
	struct task	*t = m->u.task.task;

	if (--t->left > 0)
		return;
	if (t->done != NULL)
		t->done(t, t->done_arg);
	task_free(t);
}

void
task_release(struct task *t)
{
	t->done = NULL;
	if (--t->left == 0)
		task_free(t);
}

static void
hub_handle(struct mq_msg *q, void *arg)
{
	struct hub	*hub = arg;
	struct msg	*m = (struct msg *)q;

	switch ((enum msg_type)q->type) {
	case MSG_LOOKUP_REQ:
		on_lookup_req(hub, m);
		break;
	case MSG_LOOKUP_CANCEL:
		on_lookup_cancel(hub, m);
		break;
	case MSG_TASK_DONE:
		on_task_done(m);
		break;
	default:
		log_warnx("main thread: unexpected message %d", q->type);
		break;
	}
	msg_free(m);
}

struct hub *
hub_new(struct event_base *base, struct clients *clients)
{
	struct hub	*hub;

	hub = xcalloc(1, sizeof(*hub));
	hub->base = base;
	hub->clients = clients;
	if ((hub->downs = downs_new()) == NULL)
		fatalx("main thread: out of memory");
	/* evdns reads /etc/resolv.conf; resolving never blocks the loop. */
	if ((hub->dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (hub->dns = evdns_base_new(base, 0)) == NULL)
		fatalx("evdns_base_new failed");
	TAILQ_INIT(&hub->lookups);
	if ((hub->inbox = mq_new(base, hub_handle, msg_drop, hub)) == NULL)
		fatalx("main thread: cannot create its message queue");
	return hub;
}

void
hub_free(struct hub **hp)
{
	struct hub	*hub = *hp;
	struct hub_lookup *hl;

	if (hub == NULL)
		return;
	mq_free(&hub->inbox);
	while ((hl = TAILQ_FIRST(&hub->lookups)) != NULL) {
		lookup_cancel(&hl->req);
		hub_lookup_free(hl);
	}
	evdns_base_free(hub->dns, 0);
	downs_free(&hub->downs);
	free(hub->workers);
	free(hub);
	*hp = NULL;
}

struct task *
hub_task(struct hub *hub, task_fn *fn, void *params,
    void (*params_free)(void *), task_done_fn *done, void *arg)
{
	struct task	*t;
	struct msg	*m;
	size_t		 i;

	t = xcalloc(1, sizeof(*t) + hub->nworkers * sizeof(t->parts[0]));
	t->fn = fn;
	t->params = params;
	t->params_free = params_free;
	t->done = done;
	t->done_arg = arg;
	t->nparts = t->left = hub->nworkers;
	for (i = 0; i < hub->nworkers; i++) {
		m = msg_new(MSG_TASK, hub->workers[i]);
		m->u.task.task = t;
		m->u.task.part = i;
		worker_post(hub->workers[i], m);
	}
	return t;
}

void
task_abandon(struct task *t)
{
	if (t != NULL)
		t->done = NULL;
}

void
hub_tally_task(struct worker *w, const struct task *t, struct task_part *p)
{
	sessions_tally(w, &p->tally, 0);
}

void
task_merge_tallies(struct task *t)
{
	size_t	i;

	for (i = 1; i < t->nparts; i++)
		sessions_tally_merge(&t->parts[0].tally, &t->parts[i].tally);
}
