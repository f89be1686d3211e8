/*
 * A worker: one event loop and everything that lives on it -- its own
 * listening sockets (SO_REUSEPORT), sessions and counters.  Code
 * reaches the loop through s->worker->base, never through a global.
 * Sessions never change worker.  With `workers 1` the worker shares the
 * main thread's loop; with more, each has a thread (STYLE.md part C),
 * and talks to the main thread only by messages (src/msg.h).
 */
#ifndef FERRY_WORKER_H
#define FERRY_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "lookup/lookup.h"

#include "src/metrics.h"

struct event;
struct event_base;
struct evdns_base;
struct clients;
struct conf;
struct hub;
struct listener_set;
struct mq;
struct msg;
struct session;
struct tls;
struct worker_lookup;

TAILQ_HEAD(session_list, session);
TAILQ_HEAD(worker_lookup_list, worker_lookup);

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
	size_t			 id;		/* 0 .. workers - 1 */
	struct hub		*hub;
	struct event_base	*base;
	struct evdns_base	*dns;
	struct mq		*inbox;
	pthread_t		 thread;
	int			 threaded;	/* else on the main loop */
	struct conf		*conf;		/* for new sessions; a ref */
	struct tls		*tls;		/* for new sessions; a ref */
	struct clients		*clients;	/* the hub's, shared */
	struct listener_set	*listeners;
	struct worker_lookup_list lookups;	/* asked the main thread */
	struct session_list	 sessions;
	size_t			 nsessions;
	struct session_list	 dead;		/* closed, freed by reap */
	struct event		*reap;
	struct worker_counters	 counters;
};

/* A worker for conf (it takes a reference) with its own loop, or the
 * hub's loop when on_main.  listeners become its own. */
struct worker	*worker_new(struct hub *, size_t id, struct conf *,
		    struct tls *, struct listener_set *, int on_main);
/* An event loop as ferryd wants one (the main thread's too). */
struct event_base *worker_new_base(void);
/* Start accepting; a threaded worker starts its thread. */
void		 worker_start(struct worker *);
/* Wait for a threaded worker's loop to end (after MSG_STOP). */
void		 worker_join(struct worker *);
/* Close every session (with reason) and free the worker. */
void		 worker_free(struct worker **, const char *reason);
/* Hand w a message; from any thread. */
void		 worker_post(struct worker *, struct msg *);
/* A unique session id across workers. */
uint64_t	 worker_session_id(void);

/* worker_lookup.c: the lookup service, asked from a worker.  The same
 * promises as lookup_start() (lookup.h): never a synchronous callback,
 * exactly one unless cancelled, none after cancel. */
struct worker_lookup *worker_lookup_start(struct worker *, const char *user,
		    int refresh, lookup_cb *, void *arg);
void		 worker_lookup_cancel(struct worker_lookup **);
/* An answer from the main thread (MSG_LOOKUP_RES). */
void		 worker_lookup_answered(struct worker *, struct msg *);
/* Free a request whose answer will never come (teardown). */
void		 worker_lookup_forget(struct worker *, struct worker_lookup *);

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
