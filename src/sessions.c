/* The session table for the operator; see sessions.h. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/kick.h"
#include "proxy/proto.h"
#include "proxy/session.h"
#include "src/control_proto.h"
#include "src/metrics.h"
#include "src/sessions.h"
#include "src/util.h"
#include "src/worker.h"

static enum metrics_state
coarse_state(enum session_state st)
{
	switch (st) {
	case SESS_RELAY:
		return MST_RELAY;
	case SESS_CLOSING:
		return MST_CLOSING;
	case SESS_LOOKUP:
	case SESS_BACKEND_CONNECT:
	case SESS_BACKEND_LOGIN:
		return MST_LOGIN;
	default:
		/* Pre-auth, its TLS handshake, a failed login's delay. */
		return MST_PREAUTH;
	}
}

/* Add n to name's row of rows (at most max); 0, or -1 if full. */
static int
count(struct name_count *rows, size_t *nrows, size_t max, const char *name,
    uint64_t n)
{
	size_t	i;

	for (i = 0; i < *nrows; i++)
		if (strcmp(rows[i].name, name) == 0)
			break;
	if (i == max)
		return -1;
	if (i == *nrows) {
		snprintf(rows[i].name, sizeof(rows[i].name), "%s", name);
		rows[i].n = 0;
		(*nrows)++;
	}
	rows[i].n += n;
	return 0;
}

static int
tally_backends(struct sessions_tally *t)
{
	if (t->backends == NULL && (t->backends = calloc(SESSIONS_BACKENDS_MAX,
	    sizeof(*t->backends))) == NULL)
		t->oom = 1;
	return t->backends != NULL;
}

void
sessions_tally(struct worker *w, struct sessions_tally *t, int rows)
{
	struct session			*s;
	struct metrics_snapshot		*m = &t->m;
	const struct worker_counters	*c = &w->counters;

	TAILQ_FOREACH(s, &w->sessions, entry) {
		m->sessions[coarse_state(s->state)]++;
		m->bytes_in += s->bytes_in;
		m->bytes_out += s->bytes_out;
		if (!rows)
			continue;
		count(t->protos, &t->nprotos, SESSIONS_PROTOS_MAX,
		    s->proto->name, 1);
		if (s->backend_addr[0] == '\0' ||
		    s->state < SESS_BACKEND_CONNECT || !tally_backends(t))
			continue;
		if (count(t->backends, &t->nbackends, SESSIONS_BACKENDS_MAX,
		    s->backend_addr, 1) == -1)
			t->other++;
	}
	t->open += w->nsessions;
	m->bytes_in += c->bytes_in;
	m->bytes_out += c->bytes_out;
	m->sessions_total += c->sessions_total;
	m->refused_total += c->sessions_refused;
	m->refused_per_client += c->refused_per_client;
	m->refused_backoff += c->refused_backoff;
	m->logins_ok += c->logins_ok;
	m->logins_failed += c->logins_failed;
	m->logins_unavailable += c->logins_unavailable;
	m->kicked += c->kicked;
	histogram_add(&m->lookup_latency, &c->lookup_latency);
	histogram_add(&m->connect_latency, &c->connect_latency);
}

void
sessions_tally_merge(struct sessions_tally *t, const struct sessions_tally *o)
{
	struct metrics_snapshot		*m = &t->m;
	const struct metrics_snapshot	*p = &o->m;
	size_t				 i;

	for (i = 0; i < MST_COUNT; i++)
		m->sessions[i] += p->sessions[i];
	m->bytes_in += p->bytes_in;
	m->bytes_out += p->bytes_out;
	m->sessions_total += p->sessions_total;
	m->refused_total += p->refused_total;
	m->refused_per_client += p->refused_per_client;
	m->refused_backoff += p->refused_backoff;
	m->logins_ok += p->logins_ok;
	m->logins_failed += p->logins_failed;
	m->logins_unavailable += p->logins_unavailable;
	m->kicked += p->kicked;
	histogram_add(&m->lookup_latency, &p->lookup_latency);
	histogram_add(&m->connect_latency, &p->connect_latency);
	t->open += o->open;
	t->oom |= o->oom;
	for (i = 0; i < o->nprotos; i++)
		count(t->protos, &t->nprotos, SESSIONS_PROTOS_MAX,
		    o->protos[i].name, o->protos[i].n);
	t->other += o->other;
	for (i = 0; i < o->nbackends; i++)
		if (!tally_backends(t) || count(t->backends, &t->nbackends,
		    SESSIONS_BACKENDS_MAX, o->backends[i].name,
		    o->backends[i].n) == -1)
			t->other += o->backends[i].n;
}

void
sessions_tally_free(struct sessions_tally *t)
{
	free(t->backends);
	t->backends = NULL;
	t->nbackends = 0;
}

void
sessions_status(const struct sessions_tally *t, struct ctlbuf *b)
{
	size_t	i;

	if (t->oom)
		b->oom = 1;
	ctlbuf_printf(b, "* sessions");
	ctlbuf_num(b, "open", t->open);
	for (i = 0; i < MST_COUNT; i++)
		ctlbuf_num(b, metrics_state_name(i), t->m.sessions[i]);
	ctlbuf_num(b, "accepted", t->m.sessions_total);
	ctlbuf_printf(b, "\n");
	for (i = 0; i < t->nprotos; i++) {
		ctlbuf_printf(b, "* protocol");
		ctlbuf_str(b, "name", t->protos[i].name);
		ctlbuf_num(b, "sessions", t->protos[i].n);
		ctlbuf_printf(b, "\n");
	}
	for (i = 0; i < t->nbackends; i++) {
		ctlbuf_printf(b, "* backend");
		ctlbuf_str(b, "address", t->backends[i].name);
		ctlbuf_num(b, "sessions", t->backends[i].n);
		ctlbuf_printf(b, "\n");
	}
	if (t->other > 0) {
		ctlbuf_printf(b, "* backend");
		ctlbuf_str(b, "address", "other");
		ctlbuf_num(b, "sessions", t->other);
		ctlbuf_printf(b, "\n");
	}
}

static int
user_matches(const struct session *s, const char *user)
{
	return s->user != NULL && strcasecmp(s->user, user) == 0;
}

size_t
sessions_list(struct worker *w, const char *user, struct ctlbuf *b)
{
	struct session	*s;
	uint64_t	 now = now_ms();
	size_t		 n = 0;

	TAILQ_FOREACH(s, &w->sessions, entry) {
		if (user != NULL && !user_matches(s, user))
			continue;
		ctlbuf_printf(b, "* session");
		ctlbuf_num(b, "id", s->id);
		ctlbuf_num(b, "worker", w->id);
		ctlbuf_str(b, "user", s->user != NULL && s->state !=
		    SESS_PREAUTH ? s->user : "-");
		ctlbuf_str(b, "client", s->client_addr);
		ctlbuf_str(b, "backend", s->backend_addr[0] != '\0' &&
		    s->state >= SESS_BACKEND_CONNECT ? s->backend_addr : "-");
		ctlbuf_str(b, "proto", s->proto->name);
		ctlbuf_printf(b, " tls=%s", s->client_tls ? "true" : "false");
		ctlbuf_str(b, "state", session_state_name(s->state));
		ctlbuf_num(b, "in", s->bytes_in);
		ctlbuf_num(b, "out", s->bytes_out);
		ctlbuf_num(b, "age", (now - s->start_ms) / 1000);
		ctlbuf_printf(b, "\n");
		n++;
	}
	return n;
}

size_t
sessions_kick(struct worker *w, const char *user)
{
	struct session	*s, *next;
	size_t		 n = 0;

	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		/* Pre-auth sessions only typed the name; they are not it. */
		if (s->state == SESS_PREAUTH || s->state == SESS_AUTH_DELAY ||
		    s->state == SESS_CLOSING || !user_matches(s, user))
			continue;
		/* BYE at a response boundary (proxy/kick.h); counts it. */
		session_kick(s, "kicked");
		n++;
	}
	return n;
}
