/*
 * The main thread's state: the current configuration, the workers (by
 * way of the hub), the control socket and metrics endpoint, signals,
 * reload and drain.
 *
 * Reload (SIGHUP or `ferryctl reload`) builds and checks a new conf
 * before touching anything; on any error the old one stays and the
 * error is logged.  New sessions get the new conf, established ones
 * keep their snapshot (a reference) until they end.  SIGTERM drains:
 * stop accepting, close sessions that are not relayed yet, give the
 * relayed ones drain-time to end, then close the rest and return.
 */
#ifndef FERRY_SERVER_H
#define FERRY_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "src/sessions.h"

struct conf;
struct control;
struct event;
struct hub;
struct metrics_http;
struct metrics_snapshot;
struct retired_lookup;
struct task;
struct tls;

TAILQ_HEAD(retired_list, retired_lookup);

struct server {
	const char		*conf_path;
	struct conf		*conf;		/* current; holds a reference */
	struct hub		*hub;		/* workers, lookup, moves */
	struct control		*control;
	struct metrics_http	*http;
	struct retired_list	 retired;	/* lookups still answering */
	size_t			 old_state;	/* and TLS sets: trim_after_reload */
	/* The current TLS contexts (a reference; sessions hold their own,
	 * so a reload's old set goes with its last session, tls.h). */
	struct tls		*tls;
	struct event		*sigterm, *sigint, *sighup;
	struct event		*tick;		/* once a second */
	struct event		*watchdog;
	struct task		*tick_task;	/* gathering the tally */
	struct sessions_tally	 last;		/* of the last tick */
	uint64_t		 start_ms;
	uint64_t		 drain_until_ms;
	int			 draining;
	int			 reloading;	/* workers switching over */
	uint64_t		 reloads;
	uint64_t		 reload_failures;
	uint64_t		 cache_hits_before;	/* retired lookups' */
	uint64_t		 cache_misses_before;
};

/* Takes over conf's reference, the hub (its workers made) and tls;
 * binds the control socket and metrics endpoint (before privileges are
 * dropped).  Exits with a message on failure. */
struct server	*server_new(const char *path, struct conf *, struct hub *,
		    struct tls *);
/* Workers start, listeners accept, systemd hears READY=1. */
void		 server_start(struct server *);
/* After the loop ends: stops the workers, closes every session, frees
 * it all. */
void		 server_free(struct server **);
/* 0, or -1 with the reason in err (the old configuration stays).  The
 * workers switch over on their next loop turn. */
int		 server_reload(struct server *, char *err, size_t errlen);
/* The figures of the main thread (lookup, reloads) and of t, the
 * workers' tally. */
void		 server_snapshot(struct server *, const struct sessions_tally *,
		    struct metrics_snapshot *);
/* Metrics as Prometheus text from the last tick's tally (at most a
 * second old); the caller frees. */
char		*server_metrics(void *server);

#endif
