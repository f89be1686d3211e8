/* Backend connect; see backend.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "lookup/mailhost.h"
#include "proxy/backend.h"
#include "proxy/session.h"
#include "src/metrics.h"
#include "src/worker.h"

static void
backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[160];
	int		 err;

	if (what & BEV_EVENT_CONNECTED) {
		histogram_observe(&s->worker->counters.connect_latency,
		    metrics_now_us() - s->wait_start_us);
		s->backend_connected(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if ((err = bufferevent_socket_get_dns_error(bev)) != 0)
			snprintf(why, sizeof(why), "resolving backend: %s",
			    evutil_gai_strerror(err));
		else
			snprintf(why, sizeof(why), "connecting to backend: %s",
			    evutil_socket_error_to_string(
			    EVUTIL_SOCKET_ERROR()));
	} else
		snprintf(why, sizeof(why), "backend closed the connection");
	s->backend_failed(s, why);
}

int
backend_connect(struct session *s, const struct mailhost *mh,
    uint16_t default_port, backend_connected_cb *connected,
    backend_failed_cb *failed)
{
	struct worker	*w = s->worker;
	uint16_t	 port = mh->port != 0 ? mh->port : default_port;

	s->backend_connected = connected;
	s->backend_failed = failed;
	if (strchr(mh->host, ':') != NULL)
		snprintf(s->backend_addr, sizeof(s->backend_addr), "[%s]:%u",
		    mh->host, port);
	else
		snprintf(s->backend_addr, sizeof(s->backend_addr), "%s:%u",
		    mh->host, port);
	/* Deferred callbacks: a connect that fails at once must not call
	 * back into the caller before this function has returned. */
	s->backend = bufferevent_socket_new(w->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->backend == NULL)
		return -1;
	bufferevent_setcb(s->backend, NULL, NULL, backend_event_cb, s);
	s->wait_start_us = metrics_now_us();
	if (bufferevent_socket_connect_hostname(s->backend, w->dns, AF_UNSPEC,
	    mh->host, port) == -1) {
		bufferevent_free(s->backend);
		s->backend = NULL;
		return -1;
	}
	return 0;
}
