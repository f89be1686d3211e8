/* Listeners; see listener.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "proxy/session.h"
#include "src/conf.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/worker.h"
#include "src/xmalloc.h"

#define ACCEPT_PAUSE_MS	1000

struct listener {
	int			 fd;
	const struct conf_listen *cl;
	struct event		*ev;
	struct event		*pause;
	struct worker		*worker;
	int			 paused_logged;
};

struct listener_set {
	struct listener	*l;
	size_t		 n;
};

struct listener_set *
listener_bind(const struct conf *conf, char *err, size_t errlen)
{
	struct listener_set	*set;
	const struct conf_listen *cl;
	size_t			 i;
	int			 fd, on = 1;

	set = xcalloc(1, sizeof(*set));
	set->l = xcalloc(conf->nlistens, sizeof(*set->l));
	for (i = 0; i < conf->nlistens; i++) {
		cl = &conf->listens[i];
		fd = socket(cl->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1 ||
		    bind(fd, (const struct sockaddr *)&cl->ss, cl->sslen) ==
		    -1 || listen(fd, 1024) == -1) {
			snprintf(err, errlen, "%s:%d: listen %s %s: %s",
			    conf->path, cl->line, conf_proto_name(cl->proto),
			    cl->address, strerror(errno));
			if (fd != -1)
				close(fd);
			set->n = i;
			listener_free(&set);
			return NULL;
		}
		set->l[i].fd = fd;
		set->l[i].cl = cl;
	}
	set->n = conf->nlistens;
	return set;
}

static void	listener_accept_cb(evutil_socket_t, short, void *);

static void
listener_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct listener	*l = arg;

	event_add(l->ev, NULL);
}

static void
listener_refuse(struct worker *w, int fd)
{
	static const char	bye[] = "* BYE Too many connections, try "
				    "again later.\r\n";
	ssize_t			r;

	w->counters.sessions_refused++;
	r = write(fd, bye, sizeof(bye) - 1);	/* best effort */
	(void)r;
	close(fd);
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
	int			 fd, i;

	/* A bounded batch per wakeup keeps the loop fair. */
	for (i = 0; i < 64; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				if (!l->paused_logged)
					log_warn("accept on %s: pausing",
					    l->cl->address);
				l->paused_logged = 1;
				event_del(l->ev);
				evtimer_add(l->pause, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s", l->cl->address);
			return;
		}
		l->paused_logged = 0;
		if (w->nsessions >= (size_t)w->conf->limits.sessions) {
			listener_refuse(w, fd);
			continue;
		}
		session_accept(w, fd, (struct sockaddr *)&ss, sslen);
	}
}

void
listener_start(struct listener_set *set, struct worker *w)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		struct listener *l = &set->l[i];

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
		close(set->l[i].fd);
	}
	free(set->l);
	free(set);
	*setp = NULL;
}
