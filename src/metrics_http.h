/*
 * The optional HTTP endpoint for Prometheus (`metrics { listen ... }`):
 * libevent's evhttp answering GET /metrics, on the main loop.
 */
#ifndef FERRY_METRICS_HTTP_H
#define FERRY_METRICS_HTTP_H

#include <stddef.h>

struct event_base;
struct conf_metrics;
struct metrics_http;

/* Returns the text to serve (caller frees), NULL if out of memory. */
typedef char	*metrics_http_render(void *arg);

/* Bind cm->listen; NULL with the reason in err. */
struct metrics_http *metrics_http_new(struct event_base *,
		    const struct conf_metrics *, metrics_http_render *,
		    void *arg, char *err, size_t errlen);
void		 metrics_http_free(struct metrics_http **);

#endif
