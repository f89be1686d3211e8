/* A login's route; see route.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "lookup/lookup.h"
#include "proxy/proto.h"
#include "proxy/route.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/downs.h"
#include "src/hub.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"

int
route_accept(struct session *s, const struct lookup_result *res)
{
	free(s->backend_user);
	s->backend_user = NULL;
	if (res->login != NULL && s->user != NULL &&
	    strcmp(res->login, s->user) != 0 &&
	    (s->backend_user = strdup(res->login)) == NULL)
		return s->proto->login_failed(s, LOGIN_FAIL_UNAVAILABLE,
		    "out of memory", NULL), -1;
	/* The session's own snapshot: it outlives a reload. */
	s->route_backend = res->backend != NULL ?
	    conf_backend_find(s->conf, res->backend->name) : NULL;
	s->route = res->host;
	s->route_cached = res->cached;
	return 0;
}

const struct conf_backend_defaults *
route_opts(const struct session *s)
{
	return s->route_backend != NULL ? &s->route_backend->opts :
	    &s->conf->backend;
}

char *
route_login_user(const struct session *s)
{
	return s->backend_user != NULL ? s->backend_user : s->user;
}

void
route_connect_failed(struct session *s)
{
	int	ms = route_opts(s)->down_time_ms;

	/* wait_start_us: when this connect began (backend.c). */
	if (s->backend_addr[0] != '\0' && downs_failed(s->worker->hub->downs,
	    s->backend_addr, s->wait_start_us / 1000, ms, now_ms()))
		log_warnx("backend %s marked down for %dms", s->backend_addr,
		    ms);
}

void
route_connect_ok(struct session *s)
{
	if (downs_ok(s->worker->hub->downs, s->backend_addr, now_ms()))
		log_info("backend %s is up again", s->backend_addr);
}

int
route_down(struct session *s)
{
	return downs_is_down(s->worker->hub->downs, s->backend_addr,
	    now_ms());
}

void
route_clear(struct session *s)
{
	free(s->backend_user);
	s->backend_user = NULL;
	s->route_backend = NULL;
	s->route_cached = s->route_healed = 0;
}

static void
heal_lookup_done(const struct lookup_result *res, void *arg)
{
	struct session	*s = arg;
	char		 user[200], h[MAILHOST_HOST_MAX + 16];

	s->lookup = NULL;
	if (res->status != LOOKUP_OK ||
	    (strcmp(res->host.host, s->route.host) == 0 &&
	    res->host.port == s->route.port)) {
		/* LDAP agrees with the cache: the password was wrong. */
		s->proto->login_failed(s, LOGIN_FAIL_AUTH,
		    "backend refused the credentials", NULL);
		return;
	}
	log_escape(s->user, strlen(s->user), user, sizeof(user));
	snprintf(h, sizeof(h), "%s:%u", res->host.host, res->host.port);
	log_info("session=%llu user=%s stale route to %s; trying %s",
	    (unsigned long long)s->id, user, s->backend_addr, h);
	if (route_accept(s, res) == -1)
		return;
	s->route_cached = 0;
	s->proto->backend_start(s, &res->host);
}

int
route_heal(struct session *s)
{
	size_t	i;

	if (!s->route_cached || s->route_healed || s->password == NULL)
		return 0;
	s->route_healed = 1;
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
	/* The login is built again for the next backend. */
	for (i = 0; i < s->npieces; i++) {
		wipe(s->login_pieces[i], s->login_piece_len[i]);
		free(s->login_pieces[i]);
		s->login_pieces[i] = NULL;
	}
	s->npieces = s->next_piece = 0;
	s->bcaps = 0;
	session_set_state(s, SESS_LOOKUP);
	session_timer(s, s->conf->ldap.connect_timeout_ms +
	    2 * s->conf->ldap.timeout_ms + 1000);
	s->lookup = worker_lookup_start(s->worker, s->user, 1,
	    heal_lookup_done, s);
	if (s->lookup == NULL)
		return 0;
	return 1;
}
