/*
 * The main thread's state: the current configuration, the listeners,
 * the control socket and metrics endpoint, signals, reload and drain.
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

struct conf;
struct control;
struct event;
struct listener_set;
struct metrics_http;
struct metrics_snapshot;
struct retired_lookup;
struct tls;
struct worker;

TAILQ_HEAD(retired_list, retired_lookup);

#define SERVER_TLS_MAX	64	/* reloads that replaced the TLS contexts */

struct server {
	const char		*conf_path;
	struct conf		*conf;		/* current; holds a reference */
	struct worker		*worker;
	struct listener_set	*listeners;
	struct control		*control;
	struct metrics_http	*http;
	struct retired_list	 retired;	/* lookups still answering */
	/* TLS contexts: [0] is current.  Old ones are kept while
	 * handshakes begun before a reload may still use them (tls_reap). */
	struct tls		*tls[SERVER_TLS_MAX];
	uint64_t		 tls_since[SERVER_TLS_MAX]; /* current from */
	size_t			 ntls;
	struct event		*sigterm, *sigint, *sighup;
	struct event		*tick;		/* once a second */
	struct event		*watchdog;
	uint64_t		 start_ms;
	uint64_t		 drain_until_ms;
	int			 draining;
	uint64_t		 reloads;
	uint64_t		 reload_failures;
	uint64_t		 cache_hits_before;	/* retired lookups' */
	uint64_t		 cache_misses_before;
};

/* Takes over conf's reference, the worker, the listeners and tls;
 * binds the control socket and metrics endpoint (before privileges are
 * dropped).  Exits with a message on failure. */
struct server	*server_new(const char *path, struct conf *,
		    struct worker *, struct listener_set *, struct tls *);
/* Listeners accept, systemd hears READY=1. */
void		 server_start(struct server *);
/* After the loop ends: closes every session, frees it all. */
void		 server_free(struct server **);
/* 0, or -1 with the reason in err (the old configuration stays). */
int		 server_reload(struct server *, char *err, size_t errlen);
void		 server_snapshot(struct server *, struct metrics_snapshot *);
/* Metrics as Prometheus text; the caller frees. */
char		*server_metrics(void *server);

#endif
