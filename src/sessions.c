/* The session table for the operator; see sessions.h. */
#include "config.h"

#include <stdint.h>
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

#define BACKENDS_MAX	256	/* rows in status; the rest are "other" */

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

struct backend_count {
	const char	*addr;
	uint64_t	 n;
};

/* Add one to name's row of bc (at most max rows); 0, or -1 if full. */
static int
count(struct backend_count *bc, size_t *n, size_t max, const char *name)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		if (strcmp(bc[i].addr, name) == 0)
			break;
	if (i == max)
		return -1;
	if (i == *n)
		bc[(*n)++].addr = name;
	bc[i].n++;
	return 0;
}

void
sessions_status(struct worker *w, struct ctlbuf *b)
{
	struct backend_count	*bc, protos[8];
	struct session		*s;
	uint64_t		 by_state[MST_COUNT] = { 0 }, other = 0;
	size_t			 i, nbc = 0, nprotos = 0;

	bc = calloc(BACKENDS_MAX, sizeof(*bc));
	if (bc == NULL) {
		b->oom = 1;
		return;
	}
	memset(protos, 0, sizeof(protos));
	TAILQ_FOREACH(s, &w->sessions, entry) {
		by_state[coarse_state(s->state)]++;
		count(protos, &nprotos, sizeof(protos) / sizeof(protos[0]),
		    s->proto->name);
		if (s->backend_addr[0] == '\0' ||
		    s->state < SESS_BACKEND_CONNECT)
			continue;
		if (count(bc, &nbc, BACKENDS_MAX, s->backend_addr) == -1)
			other++;
	}
	ctlbuf_printf(b, "* sessions");
	ctlbuf_num(b, "open", w->nsessions);
	for (i = 0; i < MST_COUNT; i++)
		ctlbuf_num(b, metrics_state_name(i), by_state[i]);
	ctlbuf_num(b, "accepted", w->counters.sessions_total);
	ctlbuf_printf(b, "\n");
	for (i = 0; i < nprotos; i++) {
		ctlbuf_printf(b, "* protocol");
		ctlbuf_str(b, "name", protos[i].addr);
		ctlbuf_num(b, "sessions", protos[i].n);
		ctlbuf_printf(b, "\n");
	}
	for (i = 0; i < nbc; i++) {
		ctlbuf_printf(b, "* backend");
		ctlbuf_str(b, "address", bc[i].addr);
		ctlbuf_num(b, "sessions", bc[i].n);
		ctlbuf_printf(b, "\n");
	}
	if (other > 0) {
		ctlbuf_printf(b, "* backend");
		ctlbuf_str(b, "address", "other");
		ctlbuf_num(b, "sessions", other);
		ctlbuf_printf(b, "\n");
	}
	free(bc);
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

void
sessions_snapshot(struct worker *w, struct metrics_snapshot *m)
{
	struct session			*s;
	const struct worker_counters	*c = &w->counters;

	TAILQ_FOREACH(s, &w->sessions, entry) {
		m->sessions[coarse_state(s->state)]++;
		m->bytes_in += s->bytes_in;
		m->bytes_out += s->bytes_out;
	}
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
