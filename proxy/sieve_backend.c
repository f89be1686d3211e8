/* ManageSieve login on the backend; see sieve_backend.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lookup/mailhost.h"
#include "proxy/backend.h"
#include "proxy/backend_caps.h"
#include "proxy/login.h"
#include "proxy/route.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "proxy/sieve_backend.h"
#include "proxy/tls.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"

#define BACKEND_LINE_MAX	65536	/* a capability or answer line */

/* How far the login has come (capability bits: backend_caps.h). */
#define SSTEP_TLS		0x1000	/* TLS is up with the backend */

static void	backend_connected(struct session *);
static void	backend_failed(struct session *, const char *);
static void	backend_read_cb(struct bufferevent *, void *);
static void	backend_login_event_cb(struct bufferevent *, short, void *);

void
sieve_backend_start(struct session *s, const struct mailhost *mh)
{
	const struct conf_backend_defaults *bd = route_opts(s);
	struct mailhost	 m = *mh;

	/* A mailHost port is the IMAP port: ManageSieve has its own. */
	m.port = 0;
	session_set_state(s, SESS_BACKEND_CONNECT);
	session_timer(s, bd->connect_timeout_ms);
	if (backend_connect(s, &m, (uint16_t)bd->sieve_port,
	    backend_connected, backend_failed) == -1)
		login_failed(s, LOGIN_FAIL_UNAVAILABLE,
		    "cannot start backend connection", NULL);
}

static void
backend_failed(struct session *s, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "%.200s (%s)", why, s->backend_addr);
	if (s->state == SESS_BACKEND_CONNECT)
		route_connect_failed(s);
	login_failed(s, LOGIN_FAIL_UNAVAILABLE, msg, NULL);
}

void
sieve_backend_timeout(struct session *s)
{
	backend_failed(s, s->state == SESS_BACKEND_CONNECT ?
	    "backend connect timed out" : "backend login timed out");
}

static int
send_str(struct session *s, enum backend_wait wait, const char *cmd)
{
	if (bufferevent_write(s->backend, cmd, strlen(cmd)) == -1) {
		backend_failed(s, "out of memory");
		return -1;
	}
	s->bwait = wait;
	return 0;
}

/* AUTHENTICATE "MECH" "base64": base64 is always a quotable string. */
static int
send_login(struct session *s)
{
	struct sasl_creds	 c;
	enum sasl_mech		 mech = SASL_PLAIN;
	char			*resp, *cmd;
	int			 r;

	if (s->auth_mech >= 0 &&
	    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
		mech = (enum sasl_mech)s->auth_mech;
		if (!(s->bcaps & (mech == SASL_XOAUTH2 ? SCAP_XOAUTH2 :
		    SCAP_OAUTHBEARER))) {
			backend_failed(s, "backend does not offer the client's "
			    "OAuth mechanism");
			return -1;
		}
	} else if (!(s->bcaps & SCAP_PLAIN)) {
		backend_failed(s, "backend does not offer SASL PLAIN");
		return -1;
	}
	c.mech = mech;
	c.authzid = s->master_user != NULL ? route_login_user(s) : NULL;
	c.user = s->master_user != NULL ? s->master_user :
	    route_login_user(s);
	c.secret = s->password;
	if ((resp = sasl_encode_response(&c)) == NULL) {
		backend_failed(s, "out of memory");
		return -1;
	}
	r = asprintf(&cmd, "AUTHENTICATE \"%s\" \"%s\"\r\n",
	    sasl_mech_name(mech), resp);
	sasl_wipe_free(&resp);
	if (r == -1) {
		backend_failed(s, "out of memory");
		return -1;
	}
	r = send_str(s, BWAIT_TAGGED, cmd);
	sasl_wipe_free(&cmd);
	return r;
}

static int
advance(struct session *s)
{
	if (route_opts(s)->tls == CONF_BTLS_STARTTLS &&
	    !(s->bcaps & SSTEP_TLS)) {
		if (!(s->bcaps & SCAP_STARTTLS)) {
			backend_failed(s, "backend does not offer STARTTLS");
			return -1;
		}
		return send_str(s, BWAIT_STARTTLS, "STARTTLS\r\n");
	}
	return send_login(s);
}

static int
start_tls(struct session *s)
{
	struct bufferevent	*bev;
	struct evbuffer		*in = bufferevent_get_input(s->backend);
	char			 host[sizeof(s->backend_addr)], *colon;

	/* Nothing read in clear may count as coming over TLS. */
	evbuffer_drain(in, evbuffer_get_length(in));
	snprintf(host, sizeof(host), "%s", s->backend_addr[0] == '[' ?
	    s->backend_addr + 1 : s->backend_addr);
	if ((colon = strrchr(host, ':')) != NULL)
		*colon = '\0';
	if ((colon = strrchr(host, ']')) != NULL)
		*colon = '\0';
	bev = tls_wrap_client(s->worker->tls, s->worker->base, s->backend,
	    host);
	if (bev == NULL) {
		backend_failed(s, "backend TLS: out of memory");
		return -1;
	}
	s->backend = bev;
	s->bwait = BWAIT_TLS;
	bufferevent_setcb(bev, backend_read_cb, NULL, backend_login_event_cb,
	    s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

/* OK, NO or BYE, followed by SP or the end of the line. */
static int
is_word(const char *line, const char *word)
{
	size_t	n = strlen(word);

	return strncasecmp(line, word, n) == 0 &&
	    (line[n] == ' ' || line[n] == '\0');
}

/* The backend's answer to AUTHENTICATE. */
static int
on_answer(struct session *s, const char *line, size_t len)
{
	if (is_word(line, "OK"))
		return login_succeeded(s, line, len);
	if (is_word(line, "NO")) {
		/* A response code, e.g. (TRYLATER), is the backend's to
		 * tell; a plain NO is about the credentials. */
		if (line[2] == '\0' || line[3] != '(') {
			if (route_heal(s))
				return -1;
			return login_failed(s, LOGIN_FAIL_AUTH,
			    "backend refused the credentials", NULL);
		}
		return login_failed(s, LOGIN_FAIL_UNAVAILABLE,
		    "backend refused the login", line);
	}
	if (line[0] == '"' && s->auth_mech >= 0 &&
	    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
		/* RFC 7628 section 3.2.2: an error challenge; answer ^A
		 * and the NO follows. */
		return send_str(s, BWAIT_TAGGED, "\"AQ==\"\r\n");
	}
	backend_failed(s, is_word(line, "BYE") ? "backend said BYE during "
	    "login" : "unexpected answer from backend to the login");
	return -1;
}

static int
on_line(struct session *s, char *line, size_t len)
{
	switch (s->bwait) {
	case BWAIT_GREETING:
	case BWAIT_CAPABILITY:
		if (line[0] == '"') {
			s->bcaps |= sieve_caps_line(line);
			return 0;
		}
		if (!is_word(line, "OK")) {
			backend_failed(s, "backend refused the connection");
			return -1;
		}
		return advance(s);
	case BWAIT_STARTTLS:
		if (!is_word(line, "OK")) {
			backend_failed(s, "backend refused STARTTLS");
			return -1;
		}
		return start_tls(s);
	case BWAIT_TLS:
		backend_failed(s, "backend sent data during the TLS handshake");
		return -1;
	default:
		return on_answer(s, line, len);
	}
}

static void
backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	int		 r;

	while (s->state == SESS_BACKEND_LOGIN && !s->closed &&
	    s->backend == bev) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > BACKEND_LINE_MAX)
				backend_failed(s, "backend sent an overlong "
				    "line");
			return;
		}
		r = on_line(s, line, len);
		free(line);
		if (r == -1)
			return;
	}
}

static void
backend_login_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[256], msg[400];

	if (s->bwait == BWAIT_TLS) {
		if (what & BEV_EVENT_CONNECTED) {
			log_debug("session=%llu backend TLS: %s",
			    (unsigned long long)s->id,
			    tls_describe(bev, why, sizeof(why)));
			/* Both ways the capabilities come (again) first,
			 * RFC 5804 section 2.2. */
			s->bcaps = SSTEP_TLS;
			s->bwait = BWAIT_CAPABILITY;
			return;
		}
		snprintf(msg, sizeof(msg), "backend TLS with %s failed: %s",
		    s->backend_addr, tls_error(bev, why, sizeof(why)));
		backend_failed(s, msg);
		return;
	}
	backend_failed(s, (what & BEV_EVENT_EOF) ?
	    "backend closed the connection during login" :
	    "backend connection error during login");
}

static void
backend_connected(struct session *s)
{
	const struct conf_backend_defaults *bd = route_opts(s);

	session_set_state(s, SESS_BACKEND_LOGIN);
	session_timer(s, bd->login_timeout_ms);
	route_connect_ok(s);
	s->bwait = BWAIT_GREETING;
	s->bcaps = 0;
	bufferevent_setcb(s->backend, backend_read_cb, NULL,
	    backend_login_event_cb, s);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
	if (bd->tls == CONF_BTLS_IMPLICIT)
		start_tls(s);
}
