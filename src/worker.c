/* Worker setup, its thread and its messages; see worker.h. */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "proxy/session.h"
#include "proxy/tls.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/mq.h"
#include "src/msg.h"
#include "src/worker.h"
#include "src/xmalloc.h"

static _Atomic uint64_t	next_session_id = 1;

uint64_t
worker_session_id(void)
{
	return atomic_fetch_add_explicit(&next_session_id, 1,
	    memory_order_relaxed);
}

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

/* Run part i of a task, and say so to the main thread. */
static void
run_task(struct worker *w, struct msg *m)
{
	struct task	*t = m->u.task.task;

	t->fn(w, t, &t->parts[m->u.task.part]);
	m->q.type = MSG_TASK_DONE;
	m->worker = w;
	mq_post(w->hub->inbox, &m->q);
}

static void
worker_handle(struct mq_msg *q, void *arg)
{
	struct worker	*w = arg;
	struct msg	*m = (struct msg *)q;

	switch ((enum msg_type)q->type) {
	case MSG_LOOKUP_RES:
		worker_lookup_answered(w, m);
		break;
	case MSG_TASK:
		run_task(w, m);		/* the message goes back */
		return;
	default:
		log_warnx("worker %zu: unexpected message %d", w->id, q->type);
		break;
	}
	msg_free(m);
}

struct event_base *
worker_new_base(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	/* With epoll, batch event changes: a write event armed and disarmed
	 * within one loop turn costs no epoll_ctl at all (tests/bench: a
	 * third fewer system calls per login).  ferry never dup()s a
	 * descriptor it watches, the one case the changelist mishandles. */
	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		fatalx("event_base_new failed");
	return base;
}

struct worker *
worker_new(struct hub *hub, size_t id, struct conf *conf, struct tls *tls,
    struct listener_set *listeners, int on_main)
{
	struct worker	*w;

	w = xcalloc(1, sizeof(*w));
	w->id = id;
	w->hub = hub;
	w->conf = conf_ref(conf);
	w->tls = tls_ref(tls);
	w->clients = hub->clients;
	w->listeners = listeners;
	w->threaded = !on_main;
	TAILQ_INIT(&w->sessions);
	TAILQ_INIT(&w->dead);
	TAILQ_INIT(&w->lookups);
	w->base = on_main ? hub->base : worker_new_base();
	/* evdns reads /etc/resolv.conf; resolving never blocks the loop. */
	if ((w->dns = evdns_base_new(w->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		if ((w->dns = evdns_base_new(w->base, 0)) == NULL)
			fatalx("evdns_base_new failed");
		if (id == 0)
			log_warnx("no usable /etc/resolv.conf: only IP "
			    "addresses and /etc/hosts names will resolve");
	}
	w->reap = event_new(w->base, -1, 0, worker_reap_cb, w);
	if (w->reap == NULL)
		fatalx("event_new failed");
	if ((w->inbox = mq_new(w->base, worker_handle, msg_drop, w)) == NULL)
		fatalx("worker %zu: cannot create its message queue", id);
	return w;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

void
worker_start(struct worker *w)
{
	int	err;

	listener_start(w->listeners, w);
	if (!w->threaded)
		return;
	if ((err = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
		fatalx("worker %zu: pthread_create: %s", w->id, strerror(err));
}

void
worker_join(struct worker *w)
{
	if (w->threaded)
		pthread_join(w->thread, NULL);
}

void
worker_post(struct worker *w, struct msg *m)
{
	mq_post(w->inbox, &m->q);
}

void
worker_free(struct worker **wp, const char *reason)
{
	struct worker		*w = *wp;
	struct session		*s;
	struct worker_lookup	*wl;

	if (w == NULL)
		return;
	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		session_close_now(s, reason);
	worker_reap_cb(-1, 0, w);
	listener_free(&w->listeners);
	mq_free(&w->inbox);
	/* Requests whose answer will never come now. */
	while ((wl = TAILQ_FIRST(&w->lookups)) != NULL)
		worker_lookup_forget(w, wl);
	event_free(w->reap);
	evdns_base_free(w->dns, 0);
	if (w->threaded)
		event_base_free(w->base);
	conf_unref(&w->conf);
	tls_unref(&w->tls);
	free(w);
	*wp = NULL;
}
