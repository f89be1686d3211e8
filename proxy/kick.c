/* Closing a session at a response boundary; see kick.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lookup/mailhost.h"
#include "proxy/imap_boundary.h"
#include "proxy/kick.h"
#include "proxy/proto.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"

/*
 * POP3 and ManageSieve send nothing unasked: once the client's commands
 * are held back, the backend has answered the last one when it has
 * been quiet this long at a line start.
 */
#define KICK_QUIET_MS	300

struct kick {
	struct session	*s;
	struct event	*timer;		/* grace; then quiet, not IMAP */
	struct event	*deadline;
	const char	*reason;
	const char	*bye;
	int		 armed;		/* grace over: closing */
	uint64_t	 armed_ms;
};

static int	kick_arm(struct kick *);

static void
tv_ms(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static int
is_imap(const struct session *s)
{
	return s->proto == NULL || s->proto == &imap_proto;
}

void
kick_free(struct kick **kp)
{
	struct kick	*k = *kp;

	if (k == NULL)
		return;
	*kp = NULL;
	if (k->timer != NULL)
		event_free(k->timer);
	if (k->deadline != NULL)
		event_free(k->deadline);
	free(k);
}

static void
kick_log(struct session *s, const char *how)
{
	char	user[200];

	log_escape(s->user != NULL ? s->user : "-", s->user != NULL ?
	    strlen(s->user) : 1, user, sizeof(user));
	log_info("session=%llu user=%s backend=%s closing (%s): %s",
	    (unsigned long long)s->id, user,
	    s->backend_addr[0] != '\0' ? s->backend_addr : "-",
	    s->kick->reason, how);
}

/* At a boundary (or before the relay started): BYE, then close. */
static int
kick_bye(struct session *s)
{
	struct kick	*k = s->kick;
	char		 how[64];

	if (s->state == SESS_RELAY)
		snprintf(how, sizeof(how), "%s at a response boundary "
		    "(waited %llums)", is_imap(s) ? "BYE" : "closed",
		    (unsigned long long)(now_ms() - k->armed_ms));
	else
		snprintf(how, sizeof(how), "%s before the relay",
		    is_imap(s) ? "BYE" : "closed");
	kick_log(s, how);
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
	if (!is_imap(s))
		return session_close_after_flush(s, k->reason);
	if (session_sendf(s, "* BYE [UNAVAILABLE] %s\r\n", k->bye) == -1)
		return -1;
	return session_close_after_flush(s, k->reason);
}

static void
kick_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kick	*k = arg;
	struct session	*s = k->s;

	(void)fd;
	(void)what;
	if (s->closed)
		return;
	kick_log(s, "no response boundary in time, closed without BYE");
	session_close(s, k->reason);
}

static void
kick_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kick	*k = arg;
	struct session	*s = k->s;

	(void)fd;
	(void)what;
	if (s->closed)
		return;
	if (!k->armed)
		kick_arm(k);
	else if (imap_boundary_at(&s->bscan))
		kick_bye(s);	/* POP3, sieve: quiet at a line start */
}

static int
kick_arm(struct kick *k)
{
	struct session	*s = k->s;
	struct timeval	 tv;

	k->armed = 1;
	k->armed_ms = now_ms();
	if (s->state != SESS_RELAY)
		return kick_bye(s);
	if (is_imap(s) && imap_boundary_at(&s->bscan))
		return kick_bye(s);
	/* Nothing more for the old server; wait for the boundary. */
	bufferevent_disable(s->client, EV_READ);
	tv_ms(&tv, KICK_DEADLINE_MS);
	evtimer_add(k->deadline, &tv);
	if (!is_imap(s)) {
		tv_ms(&tv, KICK_QUIET_MS);
		evtimer_add(k->timer, &tv);
	}
	return 0;
}

int
session_kick_after(struct session *s, const char *reason, const char *bye,
    int grace_ms)
{
	struct kick	*k;
	struct timeval	 tv;

	if (s->closed || s->state == SESS_CLOSING)
		return s->closed ? -1 : 0;
	if (s->kick != NULL)
		return 0;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->timer = evtimer_new(s->worker->base, kick_timer_cb, k)) ==
	    NULL ||
	    (k->deadline = evtimer_new(s->worker->base, kick_deadline_cb,
	    k)) == NULL) {
		if (k != NULL && k->timer != NULL)
			event_free(k->timer);
		free(k);
		log_warnx("session=%llu: out of memory, closing at once",
		    (unsigned long long)s->id);
		return session_close(s, reason);
	}
	k->s = s;
	k->reason = reason;
	k->bye = bye;
	s->kick = k;
	s->worker->counters.kicked++;
	if (grace_ms <= 0)
		return kick_arm(k);
	tv_ms(&tv, grace_ms);
	/* From now, not from libevent's cached clock (session_timer()). */
	event_base_update_cache_time(s->worker->base);
	evtimer_add(k->timer, &tv);
	return 0;
}

int
session_kick(struct session *s, const char *reason)
{
	return session_kick_after(s, reason,
	    "Closed by the server, please reconnect.", 0);
}

int
kick_holding(const struct session *s)
{
	return s->kick != NULL && s->kick->armed;
}

/* Returns the stop flag for imap_boundary_feed. */
static int
scan_begin(struct session *s)
{
	struct timeval	tv;

	/* Not IMAP: no literals to skip, and the close waits for quiet. */
	if (kick_holding(s) && !is_imap(s)) {
		tv_ms(&tv, KICK_QUIET_MS);
		evtimer_add(s->kick->timer, &tv);
	}
	return kick_holding(s) && is_imap(s);
}

size_t
kick_scan_buf(struct session *s, const char *buf, size_t len)
{
	int	stop = scan_begin(s);

	if (s->proto == &pop3_proto) {
		if (len > 0)
			s->bscan.state = buf[len - 1] == '\n' ?
			    IMAPB_LINE_START : IMAPB_IN_LINE;
		return len;
	}
	return imap_boundary_feed(&s->bscan, buf, len, stop);
}

size_t
kick_scan(struct session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v[8];
	struct evbuffer_ptr	 pos;
	size_t			 total, done = 0, got;
	int			 stop, i, n;
	char			 last;

	total = evbuffer_get_length(in);
	stop = scan_begin(s);
	if (s->proto == &pop3_proto) {
		/* No literals either: a line start is an LF as last byte,
		 * so a 10 MB RETR costs one byte's look, not ten million. */
		if (total > 0 && evbuffer_ptr_set(in, &pos, total - 1,
		    EVBUFFER_PTR_SET) == 0 &&
		    evbuffer_copyout_from(in, &pos, &last, 1) == 1)
			s->bscan.state = last == '\n' ? IMAPB_LINE_START :
			    IMAPB_IN_LINE;
		return total;
	}
	evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
	while (done < total) {
		n = evbuffer_peek(in, -1, &pos, v, 8);
		if (n <= 0)
			break;
		for (i = 0; i < n && i < 8; i++) {
			got = imap_boundary_feed(&s->bscan, v[i].iov_base,
			    v[i].iov_len, stop);
			done += got;
			if (got < v[i].iov_len)
				return done;
		}
		if (evbuffer_ptr_set(in, &pos, done, EVBUFFER_PTR_SET) == -1)
			break;
	}
	return done;
}

int
kick_check(struct session *s)
{
	if (!kick_holding(s) || !is_imap(s) || s->closed ||
	    s->state != SESS_RELAY || !imap_boundary_at(&s->bscan))
		return 0;
	return kick_bye(s);
}

/* "host:port" or "[v6]:port" as backend.c writes it: the host part. */
static size_t
addr_host(const char *addr, const char **host)
{
	const char	*end;

	if (addr[0] == '[') {
		*host = addr + 1;
		end = strchr(addr, ']');
	} else {
		*host = addr;
		end = strrchr(addr, ':');
	}
	return end != NULL ? (size_t)(end - *host) : strlen(*host);
}

int
session_backend_is(const struct session *s, const char *mailhost)
{
	const struct conf_backend	*b;
	struct mailhost			 mh;
	const char			*host, *want, *colon, *err;
	size_t				 len;

	if (s->backend_addr[0] == '\0')
		return 0;
	if (mailhost_parse(mailhost, strlen(mailhost), &mh, &err) == -1)
		return 0;
	want = mh.host;
	if ((b = conf_backend_find(s->conf, mh.host)) != NULL &&
	    b->address != NULL)
		want = b->address;
	len = addr_host(s->backend_addr, &host);
	if (len != strlen(want) || strncasecmp(host, want, len) != 0)
		return 0;
	/*
	 * No port in mailHost: the backend's own, whichever it is.  With a
	 * backend block the port only picked the block; a POP3 session
	 * uses its pop3-port whatever mailHost says.
	 */
	if (mh.port == 0 || b != NULL)
		return 1;
	colon = strrchr(s->backend_addr, ':');
	return colon != NULL && (unsigned)atoi(colon + 1) == mh.port;
}
