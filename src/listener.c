/* Listeners; see listener.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/event.h>
#include <event2/util.h>

#include "proxy/session.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"
#include "src/xmalloc.h"

#define ACCEPT_PAUSE_MS	1000
#define PAUSE_LOG_MS	60000	/* one "pausing" line a minute at most */

struct listener {
	int			 fd;
	const struct conf_listen *cl;
	struct event		*ev;
	struct event		*pause;
	struct worker		*worker;
};

/* The last "pausing" line of any listener on any worker: descriptors
 * run out for the whole process, one line says so. */
static _Atomic uint64_t	paused_log_ms;

static int
pause_log_due(void)
{
	uint64_t	last = atomic_load(&paused_log_ms), now = now_ms();

	return (last == 0 || now - last >= PAUSE_LOG_MS) &&
	    atomic_compare_exchange_strong(&paused_log_ms, &last, now);
}

struct listener_set {
	struct listener	*l;
	size_t		 n;
};

/*
 * Is cl's address free of other processes' listeners?  Bound without
 * SO_REUSEPORT (SO_REUSEADDR only passes connections in TIME_WAIT), a
 * socket cannot share a port anything listens on.  0 if free.
 */
static int
listener_probe(const struct conf *conf, const struct conf_listen *cl,
    char *err, size_t errlen)
{
	int	fd, on = 1, r = 0;

	fd = socket(cl->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;	/* the real socket() will say why */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
	    bind(fd, (const struct sockaddr *)&cl->ss, cl->sslen) == -1 &&
	    errno == EADDRINUSE) {
		snprintf(err, errlen, "%s:%d: listen %s %s: address already in "
		    "use (another ferryd, or another server?)", conf->path,
		    cl->line, conf_proto_name(cl->proto), cl->address);
		r = -1;
	}
	close(fd);
	return r;
}

static int
listener_socket(const struct conf *conf, const struct conf_listen *cl,
    char *err, size_t errlen)
{
	int	fd, on = 1;

	fd = socket(cl->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    bind(fd, (const struct sockaddr *)&cl->ss, cl->sslen) == -1 ||
	    listen(fd, 1024) == -1) {
		snprintf(err, errlen, "%s:%d: listen %s %s: %s",
		    conf->path, cl->line, conf_proto_name(cl->proto),
		    cl->address, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

struct listener_set *
listener_bind(const struct conf *conf, int first, char *err, size_t errlen)
{
	return listener_prepare(NULL, first, conf, err, errlen);
}

/* The port of a socket address (either family). */
static in_port_t
ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)ss)->sin6_port;
	return ((const struct sockaddr_in *)ss)->sin_port;
}

/* Does old listen on cl's port, on any address?  Then a probe of cl
 * would collide with ferryd's own socket (0.0.0.0:143 held, 127.0.0.1:143
 * added). */
static int
listener_port_held(const struct listener_set *old,
    const struct conf_listen *cl)
{
	size_t	i;

	for (i = 0; old != NULL && i < old->n; i++)
		if (old->l[i].fd != -1 &&
		    ss_port(&old->l[i].cl->ss) == ss_port(&cl->ss))
			return 1;
	return 0;
}

/* The old socket bound to cl's address, if any. */
static struct listener *
listener_find(const struct listener_set *old, const struct conf_listen *cl)
{
	size_t	i;

	for (i = 0; old != NULL && i < old->n; i++)
		if (old->l[i].fd != -1 && old->l[i].cl->sslen == cl->sslen &&
		    memcmp(&old->l[i].cl->ss, &cl->ss, cl->sslen) == 0)
			return &old->l[i];
	return NULL;
}

struct listener_set *
listener_prepare(const struct listener_set *old, int first,
    const struct conf *conf, char *err, size_t errlen)
{
	struct listener_set	*set;
	size_t			 i;

	/* All probes before any socket of ours: one listen line on
	 * 0.0.0.0:143 and another on 127.0.0.1:143 must not collide. */
	for (i = 0; first && i < conf->nlistens; i++)
		if (!listener_port_held(old, &conf->listens[i]) &&
		    listener_probe(conf, &conf->listens[i], err, errlen) == -1)
			return NULL;
	set = xcalloc(1, sizeof(*set));
	set->l = xcalloc(conf->nlistens, sizeof(*set->l));
	for (i = 0; i < conf->nlistens; i++) {
		set->l[i].cl = &conf->listens[i];
		set->l[i].fd = -1;
		if (listener_find(old, set->l[i].cl) != NULL)
			continue;
		set->l[i].fd = listener_socket(conf, set->l[i].cl, err,
		    errlen);
		if (set->l[i].fd == -1) {
			set->n = i + 1;
			listener_free(&set);
			return NULL;
		}
	}
	set->n = conf->nlistens;
	return set;
}

void
listener_adopt(struct listener_set *set, struct listener_set *old)
{
	struct listener	*l;
	size_t		 i;

	for (i = 0; i < set->n; i++) {
		if (set->l[i].fd != -1 ||
		    (l = listener_find(old, set->l[i].cl)) == NULL)
			continue;
		set->l[i].fd = l->fd;
		l->fd = -1;
	}
}

static void	listener_accept_cb(evutil_socket_t, short, void *);

static void
listener_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct listener	*l = arg;

	event_add(l->ev, NULL);
}

/* The last words to a refused client, in its protocol's terms. */
static void
listener_refuse(int fd, enum conf_proto proto, const char *text)
{
	char	line[160];
	ssize_t	r;

	switch (proto) {
	case PROTO_POP3:
		snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s\r\n", text);
		break;
	case PROTO_SIEVE:
		snprintf(line, sizeof(line), "BYE (TRYLATER) \"%s\"\r\n",
		    text);
		break;
	default:
		snprintf(line, sizeof(line), "* BYE %s\r\n", text);
		break;
	}
	r = write(fd, line, strlen(line));	/* best effort */
	(void)r;
	close(fd);
}

/*
 * 0 if a connection from sa may become a session: then its places are
 * taken (the hub's count and *peer, which session_accept() owns from
 * here).  Else refuses fd.  Taken, not checked: workers accepting at
 * once cannot pass either limit.
 */
static int
listener_limits(struct worker *w, int fd, const struct sockaddr *sa,
    enum conf_proto proto, struct client_addr **peer)
{
	const struct conf_limits *lim = &w->conf->limits;
	enum clients_verdict	 v;

	/* The limit is for the whole daemon, all workers. */
	if (atomic_fetch_add_explicit(&w->hub->nsessions, 1,
	    memory_order_relaxed) >= (size_t)lim->sessions) {
		atomic_fetch_sub_explicit(&w->hub->nsessions, 1,
		    memory_order_relaxed);
		w->counters.sessions_refused++;
		listener_refuse(fd, proto, "Too many connections, try again "
		    "later.");
		return -1;
	}
	v = clients_admit(w->clients, sa, lim->per_client, now_ms(), peer);
	if (v != CLIENTS_OK)
		atomic_fetch_sub_explicit(&w->hub->nsessions, 1,
		    memory_order_relaxed);
	switch (v) {
	case CLIENTS_OK:
		return 0;
	case CLIENTS_TOO_MANY:
		w->counters.refused_per_client++;
		listener_refuse(fd, proto, "Too many connections from your "
		    "address.");
		break;
	case CLIENTS_BACKOFF:
		w->counters.refused_backoff++;
		listener_refuse(fd, proto, "Too many failed logins from your "
		    "address, try again later.");
		break;
	}
	return -1;
}

static void
listener_accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct listener		*l = arg;
	struct worker		*w = l->worker;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv = { ACCEPT_PAUSE_MS / 1000,
				    (ACCEPT_PAUSE_MS % 1000) * 1000 };
	struct client_addr	*peer;
	int			 fd, i, one = 1;

	/* A bounded batch per wakeup keeps the loop fair. */
	for (i = 0; i < 64; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Descriptors short: a limit flapping at
				 * every close must not flood the log. */
				if (pause_log_due())
					log_warn("accept on %s: pausing",
					    l->cl->address);
				event_del(l->ev);
				evtimer_add(l->pause, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s", l->cl->address);
			return;
		}
		if (listener_limits(w, fd, (struct sockaddr *)&ss,
		    l->cl->proto, &peer) == -1)
			continue;
		/* Answers go out whole (one write each); Nagle would hold
		 * the second of two, such as a TLS handshake's flights,
		 * for the client's delayed ACK: 40 ms a login. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		session_accept(w, fd, (struct sockaddr *)&ss, sslen, l->cl,
		    peer);
	}
}

void
listener_start(struct listener_set *set, struct worker *w)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		struct listener *l = &set->l[i];

		/* Adopted by a later reload before this one started. */
		if (l->fd == -1)
			continue;
		l->worker = w;
		l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST,
		    listener_accept_cb, l);
		l->pause = evtimer_new(w->base, listener_resume_cb, l);
		if (l->ev == NULL || l->pause == NULL)
			fatalx("listener: event_new failed");
		event_add(l->ev, NULL);
		log_info("listening for %s on %s", conf_proto_name(l->cl->proto),
		    l->cl->address);
	}
}

void
listener_free(struct listener_set **setp)
{
	struct listener_set	*set = *setp;
	size_t			 i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		if (set->l[i].ev != NULL)
			event_free(set->l[i].ev);
		if (set->l[i].pause != NULL)
			event_free(set->l[i].pause);
		if (set->l[i].fd != -1)
			close(set->l[i].fd);
	}
	free(set->l);
	free(set);
	*setp = NULL;
}
