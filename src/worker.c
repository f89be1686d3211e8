/* Worker setup and teardown; see worker.h. */
#include "config.h"

#include <stdlib.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "lookup/lookup.h"
#include "proxy/session.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/moves.h"
#include "src/worker.h"
#include "src/xmalloc.h"

/*
 * Closed sessions are freed on a later loop turn, so a callback that
 * closed its own session can still return through code that holds it.
 */
static void
worker_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker	*w = arg;
	struct session	*s;

	while ((s = TAILQ_FIRST(&w->dead)) != NULL) {
		TAILQ_REMOVE(&w->dead, s, entry);
		session_free(s);
	}
}

struct worker *
worker_new(struct conf *conf)
{
	struct worker		*w;
	struct event_config	*cfg;

	w = xcalloc(1, sizeof(*w));
	w->conf = conf;
	TAILQ_INIT(&w->sessions);
	w->next_session_id = 1;
	/* With epoll, batch event changes: a write event armed and disarmed
	 * within one loop turn costs no epoll_ctl at all (tests/bench: a
	 * third fewer system calls per login).  ferry never dup()s a
	 * descriptor it watches, the one case the changelist mishandles. */
	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		fatalx("event_base_new failed");
	/* evdns reads /etc/resolv.conf; resolving never blocks the loop. */
	if ((w->dns = evdns_base_new(w->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		if ((w->dns = evdns_base_new(w->base, 0)) == NULL)
			fatalx("evdns_base_new failed");
		log_warnx("no usable /etc/resolv.conf: only IP addresses "
		    "and /etc/hosts names will resolve");
	}
	TAILQ_INIT(&w->dead);
	w->reap = event_new(w->base, -1, 0, worker_reap_cb, w);
	if (w->reap == NULL)
		fatalx("event_new failed");
	w->lookup = lookup_new(w->base, w->dns, conf);
	w->moves = moves_new(w);
	if ((w->clients = clients_new()) == NULL)
		fatalx("clients_new failed");
	return w;
}

void
worker_free(struct worker **wp, const char *reason)
{
	struct worker	*w = *wp;
	struct session	*s;

	if (w == NULL)
		return;
	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		session_close_now(s, reason);
	moves_free(&w->moves);
	lookup_free(&w->lookup);
	clients_free(&w->clients);
	worker_reap_cb(-1, 0, w);
	event_free(w->reap);
	evdns_base_free(w->dns, 0);
	event_base_free(w->base);
	free(w);
	*wp = NULL;
}
