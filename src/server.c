/* Signals, reload and drain on the main loop; see server.h. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>		/* malloc_trim() */
#endif

#include <event2/event.h>

#include "lookup/lookup.h"
#include "proxy/proto.h"
#include "proxy/session.h"
#include "proxy/tls.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/control.h"
#include "src/hub.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/metrics_http.h"
#include "src/moves.h"
#include "src/notify.h"
#include "src/privdrop.h"
#include "src/server.h"
#include "src/sessions.h"
#include "src/util.h"
#include "src/worker.h"
#include "src/xmalloc.h"

/* A lookup service replaced by a reload, kept until its last request
 * (from a login that started before the reload) is answered. */
struct retired_lookup {
	TAILQ_ENTRY(retired_lookup)	 entry;
	struct lookup			*lookup;
	struct conf			*conf;	/* the lookup reads it */
};

/* What a reload hands the workers. */
struct reload_params {
	struct conf		*conf;		/* a reference */
	struct tls		*tls;		/* a reference */
	struct listener_set	**sets;		/* [worker id], taken */
	size_t			 nsets;
	struct server		*srv;
};

static void
server_status(struct server *srv)
{
	notify_status("%s%llu sessions (%llu relayed), %llu logins",
	    srv->draining ? "draining: " : "",
	    (unsigned long long)srv->last.open,
	    (unsigned long long)srv->last.m.sessions[MST_RELAY],
	    (unsigned long long)srv->last.m.logins_ok);
}

static void
retired_reap(struct server *srv, int all)
{
	struct retired_lookup	*r, *next;
	struct lookup_stats	 st;

	for (r = TAILQ_FIRST(&srv->retired); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		lookup_get_stats(r->lookup, &st);
		if (st.pending > 0 && !all)
			continue;
		TAILQ_REMOVE(&srv->retired, r, entry);
		lookup_free(&r->lookup);
		conf_unref(&r->conf);
		free(r);
	}
}

static void
server_stop(struct server *srv, const char *why)
{
	log_info("%s", why);
	event_base_loopbreak(srv->hub->base);
}

static void
tick_done(struct task *t, void *arg)
{
	struct server	*srv = arg;

	srv->tick_task = NULL;
	task_merge_tallies(t);
	sessions_tally_free(&srv->last);
	srv->last = t->parts[0].tally;
	t->parts[0].tally.backends = NULL;	/* srv->last has them */
	if (srv->draining) {
		if (srv->last.open == 0)
			server_stop(srv, "drained, exiting");
		else if (now_ms() >= srv->drain_until_ms) {
			log_info("drain-time over: closing %llu sessions",
			    (unsigned long long)srv->last.open);
			event_base_loopbreak(srv->hub->base);
		}
	}
	server_status(srv);
}

/*
 * A reload's old state goes piecemeal: its lookup service and
 * configuration once their last search is answered, its TLS set with
 * its last session (a CA store alone is hundreds of small allocations).
 * glibc keeps the freed pages: RSS crept up by some 4 MB over the
 * first reloads (soak) although the heap in use did not grow.  Once
 * some of it is gone, give back what can be given back.
 */
static void
trim_after_reload(struct server *srv)
{
	struct retired_lookup	*r;
	size_t			 n = tls_live();

	TAILQ_FOREACH(r, &srv->retired, entry)
		n++;
#ifdef __GLIBC__
	if (n < srv->old_state)
		malloc_trim(0);
#endif
	srv->old_state = n;
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	retired_reap(srv, 0);
	trim_after_reload(srv);
	if (srv->tick_task == NULL)
		srv->tick_task = hub_task(srv->hub, hub_tally_task, NULL, NULL,
		    tick_done, srv);
}

/* On each worker: stop accepting; close what is not relayed yet,
 * relayed sessions end by themselves. */
static void
drain_task(struct worker *w, const struct task *t, struct task_part *p)
{
	struct session	*s, *next;

	listener_free(&w->listeners);
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SESS_RELAY || s->state == SESS_CLOSING)
			continue;
		if (s->proto->goodbye(s, "Server shutting down.") == -1)
			continue;
		session_close_after_flush(s, "shutdown");
	}
}

static void
on_stop_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;
	const char	*name = sig == SIGTERM ? "SIGTERM" : "SIGINT";

	if (srv->draining) {
		log_info("received %s while draining: closing the sessions",
		    name);
		event_base_loopbreak(srv->hub->base);
		return;
	}
	notify_stopping();
	srv->draining = 1;
	hub_task(srv->hub, drain_task, NULL, NULL, NULL, NULL);
	srv->drain_until_ms = now_ms() + (uint64_t)srv->conf->limits.
	    drain_time_ms;
	log_info("received %s: not accepting; draining sessions for up "
	    "to %dms", name, srv->conf->limits.drain_time_ms);
	/* No time to wait for relayed sessions. */
	if (srv->conf->limits.drain_time_ms == 0)
		event_base_loopbreak(srv->hub->base);
	else
		tick_cb(-1, 0, srv);
}

static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;
	char		 err[CONF_ERR_MAX];

	log_info("received SIGHUP: reloading %s", srv->conf_path);
	if (server_reload(srv, err, sizeof(err)) == -1)
		log_warnx("reload refused, configuration unchanged: %s", err);
}

static void
watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	notify_watchdog();
}

static struct event *
add_signal(struct server *srv, int sig, event_callback_fn cb)
{
	struct event	*ev;

	if ((ev = evsignal_new(srv->hub->base, sig, cb, srv)) == NULL ||
	    event_add(ev, NULL) == -1)
		fatalx("evsignal_new failed");
	return ev;
}

static struct metrics_http *
http_new(struct server *srv, const struct conf *conf, char *err,
    size_t errlen)
{
	return metrics_http_new(srv->hub->base, &conf->metrics,
	    server_metrics, srv, err, errlen);
}

struct server *
server_new(const char *path, struct conf *conf, struct hub *hub,
    struct tls *tls)
{
	struct server	*srv;
	struct timeval	 tv = { 1, 0 };
	char		 err[CONF_ERR_MAX];
	uint64_t	 usec;
	uid_t		 uid;
	gid_t		 gid;

	srv = xcalloc(1, sizeof(*srv));
	srv->conf_path = path;
	srv->conf = conf;
	srv->hub = hub;
	srv->tls = tls;
	srv->start_ms = now_ms();
	TAILQ_INIT(&srv->retired);
	privdrop_ids(conf, &uid, &gid);
	if ((srv->control = control_new(srv, uid, gid, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (conf->metrics.listen != NULL &&
	    (srv->http = http_new(srv, conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	srv->sigterm = add_signal(srv, SIGTERM, on_stop_signal);
	srv->sigint = add_signal(srv, SIGINT, on_stop_signal);
	srv->sighup = add_signal(srv, SIGHUP, on_hup);
	srv->tick = event_new(hub->base, -1, EV_PERSIST, tick_cb, srv);
	if (srv->tick == NULL || event_add(srv->tick, &tv) == -1)
		fatalx("event_new failed");
	if ((usec = notify_watchdog_interval()) > 0) {
		tv.tv_sec = (time_t)(usec / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(usec / 2 % 1000000);
		srv->watchdog = event_new(hub->base, -1, EV_PERSIST,
		    watchdog_cb, srv);
		if (srv->watchdog == NULL || event_add(srv->watchdog, &tv) ==
		    -1)
			fatalx("event_new failed");
	}
	return srv;
}

void
server_start(struct server *srv)
{
	size_t	i;

	for (i = 0; i < srv->hub->nworkers; i++)
		worker_start(srv->hub->workers[i]);
	notify_ready();
	server_status(srv);
}

/* On each threaded worker, at the end: close everything, leave. */
static void
stop_task(struct worker *w, const struct task *t, struct task_part *p)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		session_close_now(s, t->params);
	listener_free(&w->listeners);
	if (w->threaded)
		event_base_loopbreak(w->base);
}

void
server_free(struct server **srvp)
{
	struct server	*srv = *srvp;
	struct hub	*hub;
	struct lookup	*lookup;
	struct moves	*moves;
	struct clients	*clients;
	const char	*reason;
	size_t		 i;

	if (srv == NULL)
		return;
	hub = srv->hub;
	reason = srv->draining ? "drain-time over" : "shutdown";
	task_abandon(srv->tick_task);
	/* Abandons the tasks of ferryctl requests still waiting. */
	control_free(&srv->control);
	metrics_http_free(&srv->http);
	/* Sessions first: they hold requests of the lookups. */
	hub_task(hub, stop_task, (void *)reason, NULL, NULL, NULL);
	for (i = 0; i < hub->nworkers; i++)
		worker_join(hub->workers[i]);
	for (i = 0; i < hub->nworkers; i++)
		worker_free(&hub->workers[i], reason);
	event_free(srv->sigterm);
	event_free(srv->sigint);
	event_free(srv->sighup);
	event_free(srv->tick);
	if (srv->watchdog != NULL)
		event_free(srv->watchdog);
	lookup = hub->lookup;
	moves = hub->moves;
	clients = hub->clients;
	hub_free(&srv->hub);
	moves_free(&moves);
	retired_reap(srv, 1);
	lookup_free(&lookup);
	clients_free(&clients);
	sessions_tally_free(&srv->last);
	tls_unref(&srv->tls);
	conf_unref(&srv->conf);
	free(srv);
	*srvp = NULL;
}

/* Settings a reload cannot change: they were used before the switch to
 * the service user. */
static void
warn_restart_needed(const struct conf *old, const struct conf *nc)
{
	static const char	*what[] = { "user", "group", "pid-file",
				    "control socket" };
	const char		*o[4] = { old->user, old->group,
				    old->pid_file, old->control.socket };
	const char		*n[4] = { nc->user, nc->group, nc->pid_file,
				    nc->control.socket };
	size_t			 i;

	for (i = 0; i < 4; i++)
		if ((o[i] == NULL) != (n[i] == NULL) || (o[i] != NULL &&
		    strcmp(o[i], n[i]) != 0))
			log_warnx("reload: %s changed; takes effect at the "
			    "next restart", what[i]);
	if (old->control.mode != nc->control.mode ||
	    (old->control.group == NULL) != (nc->control.group == NULL) ||
	    (old->control.group != NULL &&
	    strcmp(old->control.group, nc->control.group) != 0))
		log_warnx("reload: control mode or group changed; takes "
		    "effect at the next restart");
}

static int
same_metrics(const struct conf *a, const struct conf *b)
{
	if (a->metrics.listen == NULL || b->metrics.listen == NULL)
		return a->metrics.listen == b->metrics.listen;
	return a->metrics.sslen == b->metrics.sslen &&
	    memcmp(&a->metrics.ss, &b->metrics.ss, a->metrics.sslen) == 0;
}

static void
reload_params_free(void *arg)
{
	struct reload_params	*rp = arg;
	size_t			 i;

	for (i = 0; i < rp->nsets; i++)
		listener_free(&rp->sets[i]);
	free(rp->sets);
	conf_unref(&rp->conf);
	tls_unref(&rp->tls);
	free(rp);
}

/* On each worker: new sessions get the new configuration. */
static void
reload_task(struct worker *w, const struct task *t, struct task_part *p)
{
	struct reload_params	*rp = t->params;

	conf_unref(&w->conf);
	w->conf = conf_ref(rp->conf);
	tls_unref(&w->tls);
	w->tls = tls_ref(rp->tls);
	listener_free(&w->listeners);
	w->listeners = rp->sets[w->id];
	rp->sets[w->id] = NULL;
	listener_start(w->listeners, w);
}

static void
reload_done(struct task *t, void *arg)
{
	struct server	*srv = arg;

	srv->reloading = 0;
	log_info("configuration %s reloaded", srv->conf_path);
	notify_ready();
	server_status(srv);
}

static void
prepared_free(struct listener_set **sets, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		listener_free(&sets[i]);
	free(sets);
}

int
server_reload(struct server *srv, char *err, size_t errlen)
{
	struct hub		*hub = srv->hub;
	struct conf		*nc, *old = srv->conf;
	struct listener_set	**sets = NULL;
	struct metrics_http	*nh = NULL;
	struct retired_lookup	*r;
	struct reload_params	*rp;
	struct lookup_stats	 st;
	struct tls		*nt = NULL;
	size_t			 i;

	if (srv->draining) {
		snprintf(err, errlen, "shutting down");
		srv->reload_failures++;
		return -1;
	}
	/* The workers' listeners are theirs until the last reload is
	 * applied (a loop turn). */
	if (srv->reloading) {
		snprintf(err, errlen, "the previous reload is still being "
		    "applied; try again");
		srv->reload_failures++;
		return -1;
	}
	notify_reloading();
	if ((nc = conf_load(srv->conf_path, err, errlen)) == NULL)
		goto fail;
	/* Everything that can fail comes before anything changes.
	 * Certificates and keys must be readable by the service user. */
	if ((nt = tls_new(nc, err, errlen)) == NULL)
		goto fail;
	if (!same_metrics(old, nc) && nc->metrics.listen != NULL &&
	    (nh = http_new(srv, nc, err, errlen)) == NULL)
		goto fail;
	sets = xcalloc(hub->nworkers, sizeof(*sets));
	for (i = 0; i < hub->nworkers; i++)
		if ((sets[i] = listener_prepare(hub->workers[i]->listeners,
		    i == 0, nc, err, errlen)) == NULL)
			goto fail;

	warn_restart_needed(old, nc);
	if (conf_workers(nc) != (int)hub->nworkers)
		log_warnx("reload: workers changed; takes effect at the next "
		    "restart");
	if (!same_metrics(old, nc)) {
		metrics_http_free(&srv->http);
		srv->http = nh;
	}
	for (i = 0; i < hub->nworkers; i++)
		listener_adopt(sets[i], hub->workers[i]->listeners);
	/* Open sessions hold the old set; it goes with the last of them. */
	tls_unref(&srv->tls);
	srv->tls = nt;
	/* LDAP settings, cache and map file start afresh; logins already
	 * waiting get their answer from the old service.  The old answers
	 * stay, expired, for when LDAP is away (soak: a reload during an
	 * LDAP outage failed every login). */
	lookup_get_stats(hub->lookup, &st);
	srv->cache_hits_before += st.cache.hits;
	srv->cache_misses_before += st.cache.misses;
	r = xcalloc(1, sizeof(*r));
	r->lookup = hub->lookup;
	r->conf = old;
	TAILQ_INSERT_TAIL(&srv->retired, r, entry);
	hub->lookup = lookup_new(hub->base, hub->dns, nc);
	lookup_adopt_cache(hub->lookup, r->lookup);
	srv->conf = nc;
	moves_reload(hub->moves, nc);
	srv->reloads++;
	rp = xcalloc(1, sizeof(*rp));
	rp->conf = conf_ref(nc);
	rp->tls = tls_ref(nt);
	rp->sets = sets;
	rp->nsets = hub->nworkers;
	srv->reloading = 1;
	hub_task(hub, reload_task, rp, reload_params_free, reload_done, srv);
	return 0;
 fail:
	if (sets != NULL)
		prepared_free(sets, hub->nworkers);
	tls_unref(&nt);
	metrics_http_free(&nh);
	conf_unref(&nc);
	srv->reload_failures++;
	notify_ready();
	return -1;
}

void
server_snapshot(struct server *srv, const struct sessions_tally *t,
    struct metrics_snapshot *m)
{
	struct lookup_stats	st;

	*m = t->m;
	m->version = PACKAGE_VERSION;
	m->uptime_s = (now_ms() - srv->start_ms) / 1000;
	lookup_get_stats(srv->hub->lookup, &st);
	m->cache_hits = srv->cache_hits_before + st.cache.hits;
	m->cache_misses = srv->cache_misses_before + st.cache.misses;
	m->cache_entries = st.cache.entries;
	m->ldap_up = st.ldap_state == NULL ||
	    strcmp(st.ldap_state, "none") == 0 ? -1 :
	    strcmp(st.ldap_state, "bound") == 0;
	m->reloads = srv->reloads;
	m->reload_failures = srv->reload_failures;
	m->tls_sets = tls_live();
}

char *
server_metrics(void *arg)
{
	struct server		*srv = arg;
	struct metrics_snapshot	 m;

	server_snapshot(srv, &srv->last, &m);
	return metrics_render(&m);
}
