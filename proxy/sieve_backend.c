/* ManageSieve login on the backend; see sieve_backend.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "lookup/mailhost.h"
#include "proxy/backend.h"
#include "proxy/backend_caps.h"
#include "proxy/login.h"
#include "proxy/route.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "proxy/sieve_backend.h"
#include "src/conf.h"
#include "src/util.h"

/* How far the login has come (capability bits: backend_caps.h). */
#define SSTEP_TLS		0x1000	/* TLS is up with the backend */


void
sieve_backend_start(struct session *s, const struct mailhost *mh)
{
	struct mailhost	 m = *mh;

	/* A mailHost port is the IMAP port: ManageSieve has its own. */
	m.port = 0;
	backend_start(s, &m, (uint16_t)route_opts(s)->sieve_port,
	    backend_up);
}

/* AUTHENTICATE "MECH" "base64": base64 is always a quotable string. */
static int
send_login(struct session *s)
{
	enum sasl_mech	 mech = SASL_PLAIN;
	char		*resp, *cmd;
	int		 r;

	if (s->auth_mech >= 0 &&
	    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
		mech = (enum sasl_mech)s->auth_mech;
		if (!(s->bcaps & (mech == SASL_XOAUTH2 ? SCAP_XOAUTH2 :
		    SCAP_OAUTHBEARER))) {
			backend_fail(s, "backend does not offer the client's "
			    "OAuth mechanism");
			return -1;
		}
	} else if (!(s->bcaps & SCAP_PLAIN)) {
		backend_fail(s, "backend does not offer SASL PLAIN");
		return -1;
	}
	if ((resp = backend_sasl_response(s, mech)) == NULL) {
		backend_fail(s, "out of memory");
		return -1;
	}
	r = asprintf(&cmd, "AUTHENTICATE \"%s\" \"%s\"\r\n",
	    sasl_mech_name(mech), resp);
	sasl_wipe_free(&resp);
	if (r == -1) {
		backend_fail(s, "out of memory");
		return -1;
	}
	r = backend_send(s, BWAIT_TAGGED, cmd);
	sasl_wipe_free(&cmd);
	return r;
}

static int
advance(struct session *s)
{
	if (route_opts(s)->tls == CONF_BTLS_STARTTLS &&
	    !(s->bcaps & SSTEP_TLS)) {
		if (!(s->bcaps & SCAP_STARTTLS)) {
			backend_fail(s, "backend does not offer STARTTLS");
			return -1;
		}
		return backend_send(s, BWAIT_STARTTLS, "STARTTLS\r\n");
	}
	return send_login(s);
}

static int
start_tls(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->backend);

	/* Nothing read in clear may count as coming over TLS. */
	evbuffer_drain(in, evbuffer_get_length(in));
	return backend_start_tls(s);
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
		return backend_refused(s, line[2] == '\0' || line[3] != '(',
		    line);
	}
	if (line[0] == '"' && s->auth_mech >= 0 &&
	    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
		/* RFC 7628 section 3.2.2: an error challenge; answer ^A
		 * and the NO follows. */
		return backend_send(s, BWAIT_TAGGED, "\"AQ==\"\r\n");
	}
	backend_fail(s, is_word(line, "BYE") ? "backend said BYE during "
	    "login" : "unexpected answer from backend to the login");
	return -1;
}

int
sieve_backend_line(struct session *s, char *line, size_t len)
{
	switch (s->bwait) {
	case BWAIT_GREETING:
	case BWAIT_CAPABILITY:
		if (line[0] == '"') {
			s->bcaps |= sieve_caps_line(line);
			return 0;
		}
		if (!is_word(line, "OK")) {
			backend_fail(s, "backend refused the connection");
			return -1;
		}
		return advance(s);
	case BWAIT_STARTTLS:
		if (!is_word(line, "OK")) {
			backend_fail(s, "backend refused STARTTLS");
			return -1;
		}
		return start_tls(s);
	case BWAIT_TLS:
		backend_fail(s, "backend sent data during the TLS handshake");
		return -1;
	default:
		return on_answer(s, line, len);
	}
}

void
sieve_backend_tls_up(struct session *s)
{
	/* Both ways the capabilities come (again) first, RFC 5804
	 * section 2.2. */
	s->bcaps = SSTEP_TLS;
	s->bwait = BWAIT_CAPABILITY;
}
