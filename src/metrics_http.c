/* Prometheus over HTTP; see metrics_http.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "src/conf.h"
#include "src/metrics_http.h"

struct metrics_http {
	struct evhttp		*http;
	metrics_http_render	*render;
	void			*arg;
};

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_http	*mh = arg;
	struct evbuffer		*out;
	const char		*path;
	char			*text;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "Try /metrics");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if ((text = mh->render(mh->arg)) == NULL ||
	    (out = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	evbuffer_add(out, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

struct metrics_http *
metrics_http_new(struct event_base *base, const struct conf_metrics *cm,
    metrics_http_render *render, void *arg, char *err, size_t errlen)
{
	struct metrics_http	*mh;
	int			 fd, on = 1;

	if ((mh = calloc(1, sizeof(*mh))) == NULL ||
	    (mh->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		free(mh);
		return NULL;
	}
	mh->render = render;
	mh->arg = arg;
	fd = socket(cm->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (const struct sockaddr *)&cm->ss, cm->sslen) == -1 ||
	    listen(fd, 64) == -1 ||
	    evhttp_accept_socket(mh->http, fd) == -1) {
		snprintf(err, errlen, "metrics listen %s: %s", cm->listen,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		metrics_http_free(&mh);
		return NULL;
	}
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD);
	evhttp_set_timeout(mh->http, 10);
	evhttp_set_gencb(mh->http, metrics_http_cb, mh);
	return mh;
}

void
metrics_http_free(struct metrics_http **mhp)
{
	struct metrics_http	*mh = *mhp;

	if (mh == NULL)
		return;
	if (mh->http != NULL)
		evhttp_free(mh->http);	/* closes the socket */
	free(mh);
	*mhp = NULL;
}
