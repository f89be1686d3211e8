/* Backend connect; see backend.h. */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "lookup/mailhost.h"
#include "proxy/backend.h"
#include "proxy/login.h"
#include "proxy/proto.h"
#include "proxy/route.h"
#include "proxy/session.h"
#include "proxy/tls.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/util.h"
#include "src/worker.h"

#define BACKEND_LINE_MAX	65536	/* a greeting or answer line */

static void
backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[160];
	int		 err, one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		histogram_observe(&s->worker->counters.connect_latency,
		    metrics_now_us() - s->wait_start_us);
		/* As on the client side (listener.c): no Nagle delay for a
		 * command written right behind another. */
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		session_plain_read(bev);
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

/*
 * An IP literal needs no resolver: connect to it directly, which spares
 * evdns's bookkeeping and libevent's getpeername() after the connect.
 * Returns the address length, or 0 for a name.  inet_pton(3), not
 * evutil_inet_pton(), which parses IPv4 with sscanf (2,600 instructions
 * a login, callgrind); a form only sscanf takes ("010.0.0.1") still
 * works, through the resolver.
 */
static int
backend_literal(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	return 0;
}

/*
 * "host:port" or "[v6]:port" into backend_addr, by hand: snprintf() is
 * 1,000 instructions a login (callgrind).
 */
static void
backend_format_addr(char *out, const char *host, uint16_t port)
{
	size_t	hlen = strnlen(host, MAILHOST_HOST_MAX);
	int	v6 = memchr(host, ':', hlen) != NULL;

	_Static_assert(sizeof(((struct session *)0)->backend_addr) >=
	    MAILHOST_HOST_MAX + sizeof("[]:65535"), "backend_addr too short");
	if (v6)
		*out++ = '[';
	memcpy(out, host, hlen);
	out += hlen;
	if (v6)
		*out++ = ']';
	*out++ = ':';
	*put_decimal(out, port) = '\0';
}

/*
 * Start connecting s->backend to mh at port (s->backend_addr already
 * says so).  Calls exactly one of the callbacks later; the caller arms
 * the timeout.  Returns -1 (after calling nothing) if it could not even
 * start.
 */
static int
backend_connect(struct session *s, const struct mailhost *mh, uint16_t port,
    backend_connected_cb *connected, backend_failed_cb *failed)
{
	struct worker		*w = s->worker;
	struct sockaddr_storage	 ss;
	int			 sslen;

	s->backend_connected = connected;
	s->backend_failed = failed;
	/* Deferred callbacks: a connect that fails at once must not call
	 * back into the caller before this function has returned. */
	s->backend = bufferevent_socket_new(w->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->backend == NULL)
		return -1;
	bufferevent_setcb(s->backend, NULL, NULL, backend_event_cb, s);
	s->wait_start_us = metrics_now_us();
	if ((sslen = backend_literal(mh->host, port, &ss)) != 0) {
		/* As the resolver path reports a connect that fails at
		 * once (no socket, no route): through the event callback. */
		if (bufferevent_socket_connect(s->backend,
		    (struct sockaddr *)&ss, sslen) == -1)
			bufferevent_trigger_event(s->backend, BEV_EVENT_ERROR,
			    0);
		return 0;
	}
	if (bufferevent_socket_connect_hostname(s->backend, w->dns, AF_UNSPEC,
	    mh->host, port) == -1) {
		bufferevent_free(s->backend);
		s->backend = NULL;
		return -1;
	}
	return 0;
}

void
backend_start(struct session *s, const struct mailhost *mh,
    uint16_t default_port, backend_connected_cb *connected)
{
	uint16_t	port = mh->port != 0 ? mh->port : default_port;

	/* The address this protocol would connect to, not the mailHost:
	 * a POP3 port down says nothing of the IMAP port. */
	backend_format_addr(s->backend_addr, mh->host, port);
	/* Not connecting yet: backend_fail() marks nothing. */
	if (route_down(s)) {
		backend_fail(s, "backend marked down");
		return;
	}
	session_set_state(s, SESS_BACKEND_CONNECT);
	session_timer(s, route_opts(s)->connect_timeout_ms);
	if (backend_connect(s, mh, port, connected,
	    backend_fail) == -1)
		login_failed(s, LOGIN_FAIL_UNAVAILABLE,
		    "cannot start backend connection", NULL);
}

static void	login_read_cb(struct bufferevent *, void *);
static void	login_event_cb(struct bufferevent *, short, void *);

void
backend_up(struct session *s)
{
	const struct conf_backend_defaults *bd = route_opts(s);

	session_set_state(s, SESS_BACKEND_LOGIN);
	session_timer(s, bd->login_timeout_ms);
	route_connect_ok(s);
	s->bwait = BWAIT_GREETING;
	s->bcaps = 0;
	bufferevent_setcb(s->backend, login_read_cb, NULL, login_event_cb, s);
	session_enable_rw(s->backend);
	if (bd->tls == CONF_BTLS_IMPLICIT)
		backend_start_tls(s);
}

int
backend_start_tls(struct session *s)
{
	struct bufferevent	*bev;
	char			 host[sizeof(s->backend_addr)], *colon;

	/* The name to verify: backend_addr without port and brackets. */
	snprintf(host, sizeof(host), "%s", s->backend_addr[0] == '[' ?
	    s->backend_addr + 1 : s->backend_addr);
	if ((colon = strrchr(host, ':')) != NULL)
		*colon = '\0';
	if ((colon = strrchr(host, ']')) != NULL)
		*colon = '\0';
	bev = tls_wrap_client(s->tls, s->worker->base, s->backend,
	    host, route_opts(s)->ca, route_opts(s)->verify);
	if (bev == NULL) {
		backend_fail(s, "backend TLS: out of memory");
		return -1;
	}
	s->backend = bev;
	s->bwait = BWAIT_TLS;
	bufferevent_setcb(bev, login_read_cb, NULL, login_event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

int
backend_send(struct session *s, enum backend_wait wait,
    const char *cmd)
{
	if (session_write_secret(s->backend, cmd, strlen(cmd)) == -1) {
		backend_fail(s, "out of memory");
		return -1;
	}
	s->bwait = wait;
	return 0;
}

/* Lines to the protocol while the login runs; a line longer than the
 * bound fails the login. */
static void
login_read_cb(struct bufferevent *bev, void *arg)
{
	struct session		*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	char			 small[1024], *line;
	size_t			 len, eol_len;
	int			 r;

	while (s->state == SESS_BACKEND_LOGIN && !s->closed) {
		eol = evbuffer_search_eol(in, NULL, &eol_len,
		    EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > BACKEND_LINE_MAX)
				backend_fail(s, "backend sent an "
				    "overlong line");
			return;
		}
		/* Most lines fit on the stack: no allocation. */
		len = (size_t)eol.pos;
		if (len < sizeof(small))
			line = small;
		else if ((line = malloc(len + 1)) == NULL) {
			backend_fail(s, "out of memory");
			return;
		}
		evbuffer_copyout(in, line, len);
		line[len] = '\0';
		evbuffer_drain(in, len + eol_len);
		r = s->proto->backend_line(s, line, len);
		if (line != small)
			free(line);
		if (r == -1)
			return;
	}
}

/* The end of the TLS handshake, or the connection lost during the
 * login. */
static void
login_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[256], msg[400];

	if (s->bwait == BWAIT_TLS) {
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("session=%llu backend TLS: %s",
			    (unsigned long long)s->id,
			    tls_describe(bev, why, sizeof(why)));
			s->proto->backend_tls_up(s);
			return;
		}
		snprintf(msg, sizeof(msg), "backend TLS with %s failed: %s",
		    s->backend_addr, tls_error(bev, why, sizeof(why)));
		backend_fail(s, msg);
		return;
	}
	backend_fail(s, (what & BEV_EVENT_EOF) ?
	    "backend closed the connection during login" :
	    "backend connection error during login");
}

void
backend_fail(struct session *s, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "%.200s (%s)", why, s->backend_addr);
	/* Not even connected: later logins fail fast for a while. */
	if (s->state == SESS_BACKEND_CONNECT)
		route_connect_failed(s);
	login_failed(s, LOGIN_FAIL_UNAVAILABLE, msg, NULL);
}

void
backend_timeout(struct session *s)
{
	backend_fail(s, s->state == SESS_BACKEND_CONNECT ?
	    "backend connect timed out" : "backend login timed out");
}

char *
backend_sasl_response(struct session *s, enum sasl_mech mech)
{
	struct sasl_creds	c;

	c.mech = mech;
	c.authzid = s->master_user != NULL ? route_login_user(s) : NULL;
	c.user = s->master_user != NULL ? s->master_user :
	    route_login_user(s);
	c.secret = s->password;
	return sasl_encode_response(&c);
}

int
backend_refused(struct session *s, int credentials, const char *text)
{
	if (credentials) {
		/* A cached route may be stale: ask LDAP again. */
		if (route_heal(s))
			return -1;
		return login_failed(s, LOGIN_FAIL_AUTH,
		    "backend refused the credentials", NULL);
	}
	return login_failed(s, LOGIN_FAIL_UNAVAILABLE,
	    "backend refused the login", text);
}
