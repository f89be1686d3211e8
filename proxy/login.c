/* The protocol-neutral middle of a login; see login.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "lookup/lookup.h"
#include "proxy/login.h"
#include "proxy/proto.h"
#include "proxy/relay.h"
#include "proxy/route.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/util.h"
#include "src/worker.h"

static void	lookup_done(const struct lookup_result *, void *);

int
login_allowed(struct session *s)
{
	return s->client_tls || s->trusted ||
	    s->starttls != CONF_STARTTLS_REQUIRED;
}

int
login_valid_user(const char *u, size_t len)
{
	size_t	i;

	if (len == 0 || len > SASL_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

int
login_begin(struct session *s)
{
	int	ldap_ms;

	s->backend_addr[0] = '\0';
	session_set_state(s, SESS_LOOKUP);
	/* The lookup answers within its own timeouts; this is a backstop. */
	ldap_ms = s->conf->ldap.connect_timeout_ms +
	    2 * s->conf->ldap.timeout_ms + 1000;
	session_timer(s, ldap_ms);
	s->wait_start_us = metrics_now_us();
	s->lookup = worker_lookup_start(s->worker, s->user, 0, lookup_done,
	    s);
	if (s->lookup == NULL)
		return login_failed(s, LOGIN_FAIL_UNAVAILABLE,
		    "lookup: out of memory", NULL);
	return 0;
}

static void
lookup_done(const struct lookup_result *res, void *arg)
{
	struct session	*s = arg;

	s->lookup = NULL;
	histogram_observe(&s->worker->counters.lookup_latency,
	    metrics_now_us() - s->wait_start_us);
	switch (res->status) {
	case LOOKUP_OK:
		if (route_accept(s, res) == -1)
			break;
		s->proto->backend_start(s, &res->host);
		break;
	case LOOKUP_NOTFOUND:
		login_failed(s, LOGIN_FAIL_AUTH, res->reason != NULL ?
		    res->reason : "user not found", NULL);
		break;
	case LOOKUP_TEMPFAIL:
		login_failed(s, LOGIN_FAIL_UNAVAILABLE, res->reason != NULL ?
		    res->reason : "lookup failed", NULL);
		break;
	}
}

void
login_back_to_preauth(struct session *s)
{
	session_set_state(s, SESS_PREAUTH);
	s->tag[0] = '\0';
	s->auth_mech = -1;
	s->sasl_step = 0;
	free(s->master_user);
	s->master_user = NULL;
	route_clear(s);
	session_preauth_timer(s);
	/* Commands the client pipelined behind the login. */
	s->proto->read(s);
}

int
login_failed(struct session *s, enum login_failure kind, const char *why,
    const char *backend_text)
{
	char	user[200];

	worker_lookup_cancel(&s->lookup);
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
	session_forget_credentials(s);
	log_escape(s->user, s->user != NULL ? strlen(s->user) : 0, user,
	    sizeof(user));
	if (kind == LOGIN_FAIL_AUTH) {
		s->worker->counters.logins_failed++;
		session_auth_failed(s);
		log_info("session=%llu proto=%s client=%s user=%s login "
		    "failed: %s", (unsigned long long)s->id, s->proto->name,
		    s->client_addr, user, why);
		/* The same delay for unknown users and bad passwords. */
		session_set_state(s, SESS_AUTH_DELAY);
		session_timer(s, s->conf->limits.auth_failure_delay_ms);
		return 0;
	}
	s->worker->counters.logins_unavailable++;
	log_warnx("session=%llu proto=%s client=%s user=%s login "
	    "unavailable: %s", (unsigned long long)s->id, s->proto->name,
	    s->client_addr, user, why);
	if (s->proto->answer_failure(s, kind, backend_text) == -1)
		return -1;
	login_back_to_preauth(s);
	return s->closed ? -1 : 0;
}

static void
auth_delay_done(struct session *s)
{
	if (s->proto->answer_failure(s, LOGIN_FAIL_AUTH, NULL) == -1)
		return;
	if (++s->auth_failures >= s->conf->limits.auth_failures) {
		session_close_after_flush(s, "too many authentication "
		    "failures");
		return;
	}
	login_back_to_preauth(s);
}

void
login_timer(struct session *s)
{
	if (s->state == SESS_AUTH_DELAY)
		auth_delay_done(s);
	else
		login_failed(s, LOGIN_FAIL_UNAVAILABLE, "lookup timed out",
		    NULL);
}

int
login_succeeded(struct session *s, const char *line, size_t len)
{
	char	user[200];

	session_forget_credentials(s);
	s->worker->counters.logins_ok++;
	log_escape(s->user, strlen(s->user), user, sizeof(user));
	log_info("session=%llu proto=%s client=%s user=%s logged in on %s",
	    (unsigned long long)s->id, s->proto->name, s->client_addr, user,
	    s->backend_addr);
	if (session_send_line(s, line, len) == -1)
		return -1;
	return relay_start(s);
}

#define PROMPT_PASS	"UGFzc3dvcmQ6"	/* "Password:" */

static int
take_creds(struct session *s, struct sasl_creds *c)
{
	free(s->user);
	free(s->master_user);
	s->master_user = NULL;
	/* PLAIN with an authzid: log in as authzid, route by it. */
	if (c->authzid != NULL && strcmp(c->authzid, c->user) != 0) {
		s->user = c->authzid;
		s->master_user = c->user;
	} else {
		s->user = c->user;
		free(c->authzid);
	}
	s->password = c->secret;
	c->authzid = c->user = c->secret = NULL;
	s->sasl_step = 0;
	return login_begin(s);
}

static int
sasl_step(struct session *s, const char *buf, size_t len)
{
	struct sasl_creds	 c = { 0 };
	const char		*errstr = "invalid response";
	char			*v;
	int			 r = -1;

	switch (s->auth_mech) {
	case SASL_PLAIN:
		r = sasl_plain_decode(buf, len, &c, &errstr);
		break;
	case SASL_OAUTHBEARER:
		r = sasl_oauthbearer_decode(buf, len, &c, &errstr);
		break;
	case SASL_XOAUTH2:
		r = sasl_xoauth2_decode(buf, len, &c, &errstr);
		break;
	case SASL_LOGIN:
		v = sasl_login_value(buf, len, s->sasl_step == 1 ?
		    SASL_USER_MAX : SASL_SECRET_MAX, &errstr);
		if (v == NULL)
			break;
		if (s->sasl_step == 1) {
			free(s->user);
			s->user = v;
			s->sasl_step = 2;
			return s->proto->sasl_challenge(s, PROMPT_PASS);
		}
		s->password = v;
		s->sasl_step = 0;
		return login_begin(s);
	default:
		errstr = "no mechanism";
		break;
	}
	if (s->auth_mech != SASL_LOGIN && r == 0)
		return take_creds(s, &c);
	sasl_creds_clear(&c);
	s->sasl_step = 0;
	return login_failed(s, LOGIN_FAIL_AUTH, errstr, NULL);
}

void
login_sasl_abort(struct session *s)
{
	s->sasl_step = 0;
	s->auth_mech = -1;
	session_forget_credentials(s);
}

int
login_sasl_response(struct session *s, const char *line, size_t len)
{
	char	*buf;
	size_t	 bufsz;
	long	 n;
	int	 r;

	if (len == 1 && line[0] == '=')
		len = 0;
	bufsz = len / 4 * 3 + 1;
	if ((buf = malloc(bufsz)) == NULL)
		return session_close(s, "out of memory");
	if ((n = sasl_b64_decode(line, len, buf, bufsz)) < 0) {
		free(buf);
		return 1;
	}
	r = sasl_step(s, buf, (size_t)n);
	wipe(buf, bufsz);
	free(buf);
	return r;
}
