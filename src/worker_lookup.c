/*
 * A worker asks the lookup service (one, on the main thread: one cache,
 * one search for many logins of a user).  On the main loop the call is
 * direct; from a worker thread it is a MSG_LOOKUP_REQ, answered by
 * exactly one MSG_LOOKUP_RES, also after a cancel, so the request
 * handle is freed only when nothing can refer to it any more.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lookup/lookup.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/msg.h"
#include "src/worker.h"
#include "src/xmalloc.h"

struct worker_lookup {
	TAILQ_ENTRY(worker_lookup) entry;	/* threaded: w->lookups */
	struct worker		*w;
	lookup_cb		*cb;		/* NULL: cancelled */
	void			*arg;
	struct lookup_req	*req;		/* on the main loop */
	char			*user;		/* on the main loop */
};

static void
direct_done(const struct lookup_result *res, void *arg)
{
	struct worker_lookup	*wl = arg;
	struct lookup_result	 r = *res;
	lookup_cb		*cb = wl->cb;
	void			*cbarg = wl->arg;

	hub_answer(wl->w->hub, wl->user, &r);
	free(wl->user);
	free(wl);
	cb(&r, cbarg);
}

struct worker_lookup *
worker_lookup_start(struct worker *w, const char *user, int refresh,
    lookup_cb *cb, void *arg)
{
	struct worker_lookup	*wl;
	struct msg		*m;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		return NULL;
	wl->w = w;
	wl->cb = cb;
	wl->arg = arg;
	if (!w->threaded) {
		if ((wl->user = strdup(user)) == NULL ||
		    (wl->req = (refresh ? lookup_refresh : lookup_start)(
		    w->hub->lookup, user, direct_done, wl)) == NULL) {
			free(wl->user);
			free(wl);
			return NULL;
		}
		return wl;
	}
	TAILQ_INSERT_TAIL(&w->lookups, wl, entry);
	m = msg_new(MSG_LOOKUP_REQ, w);
	m->u.lookup_req.wl = wl;
	m->u.lookup_req.refresh = refresh;
	m->u.lookup_req.user = xstrdup(user);
	mq_post(w->hub->inbox, &m->q);
	return wl;
}

void
worker_lookup_cancel(struct worker_lookup **wlp)
{
	struct worker_lookup	*wl = *wlp;
	struct msg		*m;

	if (wl == NULL)
		return;
	*wlp = NULL;
	if (!wl->w->threaded) {
		lookup_cancel(&wl->req);
		free(wl->user);
		free(wl);
		return;
	}
	/* Freed when the (last) answer arrives. */
	wl->cb = NULL;
	m = msg_new(MSG_LOOKUP_CANCEL, wl->w);
	m->u.lookup_req.wl = wl;
	mq_post(wl->w->hub->inbox, &m->q);
}

void
worker_lookup_answered(struct worker *w, struct msg *m)
{
	struct worker_lookup	*wl = m->u.lookup_res.wl;
	struct lookup_result	 r = m->u.lookup_res.res;
	lookup_cb		*cb = wl->cb;
	void			*cbarg = wl->arg;

	TAILQ_REMOVE(&w->lookups, wl, entry);
	free(wl);
	if (cb == NULL || !m->u.lookup_res.answered)
		return;
	/* The backend as this worker's configuration has it. */
	r.backend = m->u.lookup_res.backend != NULL ?
	    conf_backend_find(w->conf, m->u.lookup_res.backend) : NULL;
	r.login = m->u.lookup_res.login;
	r.reason = m->u.lookup_res.reason[0] != '\0' ?
	    m->u.lookup_res.reason : NULL;
	cb(&r, cbarg);
}

void
worker_lookup_forget(struct worker *w, struct worker_lookup *wl)
{
	TAILQ_REMOVE(&w->lookups, wl, entry);
	free(wl);
}
