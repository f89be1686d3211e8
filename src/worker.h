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

#include "src/metrics.h"

struct event;
struct event_base;
struct evdns_base;
struct clients;
struct conf;
struct lookup;
struct moves;
struct session;
struct tls;

TAILQ_HEAD(session_list, session);

struct worker_counters {
	uint64_t	sessions_total;
	uint64_t	logins_ok;
	uint64_t	logins_failed;		/* bad credentials */
	uint64_t	logins_unavailable;	/* LDAP or backend down */
	uint64_t	sessions_refused;	/* over the session limit */
	uint64_t	refused_per_client;	/* limits per-client */
	uint64_t	refused_backoff;	/* limits client-failures */
	uint64_t	kicked;
	uint64_t	bytes_in;		/* of closed sessions */
	uint64_t	bytes_out;
	struct histogram lookup_latency;
	struct histogram connect_latency;
};

struct worker {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct conf		*conf;		/* for new sessions */
	struct lookup		*lookup;
	struct tls		*tls;		/* owned by main */
	struct clients		*clients;	/* per-address limits */
	struct moves		*moves;		/* LDAP changes, holds */
	struct session_list	 sessions;
	size_t			 nsessions;
	struct session_list	 dead;		/* closed, freed by reap */
	struct event		*reap;
	uint64_t		 next_session_id;
	struct worker_counters	 counters;
};

/* Set up the loop, DNS and the lookup service for conf. */
struct worker	*worker_new(struct conf *);
/* Close every session (with reason) and free the worker. */
void		 worker_free(struct worker **, const char *reason);

/* worker_kick.c: close (kick.h) the sessions with a backend whose login
 * match() accepts, except those whose backend is only_if_backend_not
 * (a mailHost value) when that is set.  Returns how many. */
typedef int	worker_match_fn(const char *login, void *arg);
size_t		 worker_kick_match(struct worker *, worker_match_fn *,
		    void *arg, const char *only_if_backend_not,
		    const char *reason, const char *bye, int grace_ms);
/* The same for one login name (case ignored), at once. */
size_t		 worker_kick_user(struct worker *, const char *user,
		    const char *only_if_backend_not);

#endif
