/* Signals, reload and drain on the main loop; see server.h. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lookup/lookup.h"
#include "proxy/proto.h"
#include "proxy/session.h"
#include "proxy/tls.h"
#include "src/conf.h"
#include "src/control.h"
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

static void
server_status(struct server *srv)
{
	struct metrics_snapshot	m;

	memset(&m, 0, sizeof(m));
	sessions_snapshot(srv->worker, &m);
	notify_status("%s%zu sessions (%llu relayed), %llu logins",
	    srv->draining ? "draining: " : "", srv->worker->nsessions,
	    (unsigned long long)m.sessions[MST_RELAY],
	    (unsigned long long)m.logins_ok);
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

/* Close what is not relayed yet; relayed sessions end by themselves. */
static void
drain_sessions(struct worker *w)
{
	struct session	*s, *next;

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
server_stop(struct server *srv, const char *why)
{
	log_info("%s", why);
	event_base_loopbreak(srv->worker->base);
}

/*
 * An old TLS context serves only client handshakes begun before the
 * reload that replaced it (its SNI callback's argument); every SSL holds
 * its own reference to its SSL_CTX.  Once such handshakes have timed out
 * it can go: kept for ever, each reload held on to about 1 MB (the CA
 * store) until reloads were refused (soak test).
 */
static void
tls_reap(struct server *srv)
{
	uint64_t	keep;

	/* A margin for a handshake timeout that a reload shortened. */
	keep = (uint64_t)srv->conf->tls.handshake_timeout_ms + 300000;
	/* tls[i] was replaced when tls[i - 1] came in. */
	while (srv->ntls > 1 &&
	    now_ms() - srv->tls_since[srv->ntls - 2] > keep) {
		srv->ntls--;
		tls_free(&srv->tls[srv->ntls]);
	}
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;
	struct worker	*w = srv->worker;

	retired_reap(srv, 0);
	tls_reap(srv);
	if (srv->draining) {
		if (w->nsessions == 0)
			server_stop(srv, "drained, exiting");
		else if (now_ms() >= srv->drain_until_ms) {
			log_info("drain-time over: closing %zu sessions",
			    w->nsessions);
			event_base_loopbreak(w->base);
		}
	}
	server_status(srv);
}

static void
on_stop_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;
	const char	*name = sig == SIGTERM ? "SIGTERM" : "SIGINT";

	if (srv->draining) {
		log_info("received %s while draining: closing %zu sessions",
		    name, srv->worker->nsessions);
		event_base_loopbreak(srv->worker->base);
		return;
	}
	notify_stopping();
	srv->draining = 1;
	listener_free(&srv->listeners);
	drain_sessions(srv->worker);
	srv->drain_until_ms = now_ms() + (uint64_t)srv->conf->limits.
	    drain_time_ms;
	log_info("received %s: not accepting; draining %zu sessions for up "
	    "to %dms", name, srv->worker->nsessions,
	    srv->conf->limits.drain_time_ms);
	/* Relayed sessions already gone, or no time to wait for them. */
	if (srv->conf->limits.drain_time_ms == 0)
		event_base_loopbreak(srv->worker->base);
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

	if ((ev = evsignal_new(srv->worker->base, sig, cb, srv)) == NULL ||
	    event_add(ev, NULL) == -1)
		fatalx("evsignal_new failed");
	return ev;
}

static struct metrics_http *
http_new(struct server *srv, const struct conf *conf, char *err,
    size_t errlen)
{
	return metrics_http_new(srv->worker->base, &conf->metrics,
	    server_metrics, srv, err, errlen);
}

struct server *
server_new(const char *path, struct conf *conf, struct worker *w,
    struct listener_set *listeners, struct tls *tls)
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
	srv->worker = w;
	srv->listeners = listeners;
	srv->tls[srv->ntls++] = tls;
	srv->start_ms = srv->tls_since[0] = now_ms();
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
	srv->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, srv);
	if (srv->tick == NULL || event_add(srv->tick, &tv) == -1)
		fatalx("event_new failed");
	if ((usec = notify_watchdog_interval()) > 0) {
		tv.tv_sec = (time_t)(usec / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(usec / 2 % 1000000);
		srv->watchdog = event_new(w->base, -1, EV_PERSIST,
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
	listener_start(srv->listeners, srv->worker);
	notify_ready();
	server_status(srv);
}

void
server_free(struct server **srvp)
{
	struct server	*srv = *srvp;
	struct session	*s;
	size_t		 i;

	if (srv == NULL)
		return;
	/* Sessions first: they hold requests of the retired lookups. */
	while ((s = TAILQ_FIRST(&srv->worker->sessions)) != NULL)
		session_close_now(s, srv->draining ? "drain-time over" :
		    "shutdown");
	event_free(srv->sigterm);
	event_free(srv->sigint);
	event_free(srv->sighup);
	event_free(srv->tick);
	if (srv->watchdog != NULL)
		event_free(srv->watchdog);
	control_free(&srv->control);
	metrics_http_free(&srv->http);
	listener_free(&srv->listeners);
	retired_reap(srv, 1);
	worker_free(&srv->worker, "shutdown");
	for (i = 0; i < srv->ntls; i++)
		tls_free(&srv->tls[i]);
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

int
server_reload(struct server *srv, char *err, size_t errlen)
{
	struct worker		*w = srv->worker;
	struct conf		*nc, *old = srv->conf;
	struct listener_set	*nl = NULL;
	struct metrics_http	*nh = NULL;
	struct retired_lookup	*r;
	struct lookup_stats	 st;
	struct tls		*nt = NULL;
	size_t			 i;

	if (srv->draining) {
		snprintf(err, errlen, "shutting down");
		srv->reload_failures++;
		return -1;
	}
	if (srv->ntls == SERVER_TLS_MAX) {
		snprintf(err, errlen, "reloaded %d times: restart ferryd",
		    SERVER_TLS_MAX - 1);
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
	if ((nl = listener_rebind(srv->listeners, nc, err, errlen)) == NULL)
		goto fail;

	warn_restart_needed(old, nc);
	if (!same_metrics(old, nc)) {
		metrics_http_free(&srv->http);
		srv->http = nh;
	}
	listener_free(&srv->listeners);
	srv->listeners = nl;
	for (i = srv->ntls; i > 0; i--) {
		srv->tls[i] = srv->tls[i - 1];
		srv->tls_since[i] = srv->tls_since[i - 1];
	}
	srv->tls[0] = nt;
	srv->tls_since[0] = now_ms();
	srv->ntls++;
	w->tls = nt;
	listener_start(nl, w);
	/* LDAP settings, cache and map file start afresh; logins already
	 * waiting get their answer from the old service.  The old answers
	 * stay, expired, for when LDAP is away (soak: a reload during an
	 * LDAP outage failed every login). */
	lookup_get_stats(w->lookup, &st);
	srv->cache_hits_before += st.cache.hits;
	srv->cache_misses_before += st.cache.misses;
	r = xcalloc(1, sizeof(*r));
	r->lookup = w->lookup;
	r->conf = old;
	TAILQ_INSERT_TAIL(&srv->retired, r, entry);
	w->lookup = lookup_new(w->base, w->dns, nc);
	lookup_adopt_cache(w->lookup, r->lookup);
	srv->conf = nc;
	w->conf = nc;
	moves_reload(w->moves, nc);
	srv->reloads++;
	log_info("configuration %s reloaded", srv->conf_path);
	notify_ready();
	server_status(srv);
	return 0;
 fail:
	tls_free(&nt);
	metrics_http_free(&nh);
	conf_unref(&nc);
	srv->reload_failures++;
	notify_ready();
	return -1;
}

void
server_snapshot(struct server *srv, struct metrics_snapshot *m)
{
	struct lookup_stats	st;

	memset(m, 0, sizeof(*m));
	m->version = PACKAGE_VERSION;
	m->uptime_s = (now_ms() - srv->start_ms) / 1000;
	sessions_snapshot(srv->worker, m);
	lookup_get_stats(srv->worker->lookup, &st);
	m->cache_hits = srv->cache_hits_before + st.cache.hits;
	m->cache_misses = srv->cache_misses_before + st.cache.misses;
	m->cache_entries = st.cache.entries;
	m->ldap_up = st.ldap_state == NULL ||
	    strcmp(st.ldap_state, "none") == 0 ? -1 :
	    strcmp(st.ldap_state, "bound") == 0;
	m->reloads = srv->reloads;
	m->reload_failures = srv->reload_failures;
}

char *
server_metrics(void *arg)
{
	struct metrics_snapshot	m;

	server_snapshot(arg, &m);
	return metrics_render(&m);
}
