/*
 * A worker: one event loop and everything that lives on it.  Code
 * reaches the loop through s->worker->base, never through a global, so
 * more workers are a setting rather than a rewrite (STYLE.md part C).
 */
#ifndef FERRY_WORKER_H
#define FERRY_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event;
struct event_base;
struct evdns_base;
struct conf;
struct lookup;
struct session;

TAILQ_HEAD(session_list, session);

struct worker_counters {
	uint64_t	sessions_total;
	uint64_t	logins_ok;
	uint64_t	logins_failed;		/* bad credentials */
	uint64_t	logins_unavailable;	/* LDAP or backend down */
	uint64_t	sessions_refused;	/* over the session limit */
};

struct worker {
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct conf	*conf;
	struct lookup		*lookup;
	struct session_list	 sessions;
	size_t			 nsessions;
	struct session_list	 dead;		/* closed, freed by reap */
	struct event		*reap;
	uint64_t		 next_session_id;
	struct worker_counters	 counters;
};

/* Set up the loop, DNS and the lookup service for conf. */
struct worker	*worker_new(const struct conf *);
/* Close every session (with reason) and free the worker. */
void		 worker_free(struct worker **, const char *reason);

#endif
