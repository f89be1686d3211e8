/*
 * IMAP AUTHENTICATE (RFC 3501 §6.2.2, SASL-IR RFC 4959): the client's
 * side of the SASL dialogue.  Decoding is sasl.c's; this file only moves
 * lines.  The credentials end up in s->user and s->password (a password
 * or a bearer token, which the backend validates) and the login goes on
 * as for LOGIN.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/imap.h"
#include "proxy/imap_parse.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"

#define PROMPT_USER	"VXNlcm5hbWU6"	/* "Username:" */
#define PROMPT_PASS	"UGFzc3dvcmQ6"	/* "Password:" */

static int
reply(struct session *s, const char *text)
{
	return session_sendf(s, "%s %s\r\n", s->tag, text);
}

/* The dialogue ended without a login: back to reading commands. */
static int
auth_end(struct session *s, const char *text, int bad)
{
	s->sasl_step = 0;
	s->auth_mech = -1;
	session_forget_credentials(s);
	if (reply(s, text) == -1)
		return -1;
	s->tag[0] = '\0';
	return bad ? imap_count_bad(s) : 0;
}

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
	return imap_login_begin(s);
}

/* One decoded client response, at step s->sasl_step. */
static int
auth_step(struct session *s, const char *buf, size_t len)
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
			return session_sendf(s, "+ " PROMPT_PASS "\r\n");
		}
		s->password = v;
		s->sasl_step = 0;
		return imap_login_begin(s);
	default:
		errstr = "no mechanism";
		break;
	}
	if (s->auth_mech != SASL_LOGIN && r == 0)
		return take_creds(s, &c);
	/* A malformed response fails like bad credentials. */
	s->sasl_step = 0;
	return imap_login_failed(s, IMAP_FAIL_AUTH, errstr, NULL);
}

/* A response line (or SASL-IR argument): "*", or base64 ("=": empty). */
static int
auth_response(struct session *s, const char *line, size_t len)
{
	char	*buf;
	long	 n;
	int	 r;

	if (len == 1 && line[0] == '*')
		return auth_end(s, "BAD Authentication canceled.", 0);
	if (len == 1 && line[0] == '=')
		len = 0;
	if ((buf = malloc(len / 4 * 3 + 1)) == NULL)
		return session_close(s, "out of memory");
	if ((n = sasl_b64_decode(line, len, buf, len / 4 * 3 + 1)) < 0) {
		free(buf);
		return auth_end(s, "BAD Invalid base64 data.", 1);
	}
	r = auth_step(s, buf, (size_t)n);
	wipe(buf, len / 4 * 3 + 1);
	free(buf);
	return r;
}

int
imap_cmd_authenticate(struct session *s, struct imap_command *cmd)
{
	enum sasl_mech	 m;
	struct imap_arg	*a = cmd->args;

	if (cmd->nargs < 1 || cmd->nargs > 2 || a[0].type != IMAP_ARG_ATOM ||
	    (cmd->nargs == 2 && a[1].type != IMAP_ARG_ATOM)) {
		if (session_sendf(s, "%s BAD AUTHENTICATE expects a mechanism "
		    "and an optional initial response.\r\n", cmd->tag) == -1)
			return -1;
		return imap_count_bad(s);
	}
	if (!imap_login_allowed(s))
		return session_sendf(s, "%s NO [PRIVACYREQUIRED] Plaintext "
		    "authentication is disabled: use STARTTLS first.\r\n",
		    cmd->tag);
	if (sasl_mech_parse(a[0].data, &m) == -1)
		return session_sendf(s, "%s NO Unsupported authentication "
		    "mechanism.\r\n", cmd->tag);
	strcpy(s->tag, cmd->tag);
	s->auth_mech = (int)m;
	s->sasl_step = 1;
	if (cmd->nargs == 2)
		return auth_response(s, a[1].data, a[1].len);
	return session_sendf(s, "+ %s\r\n", m == SASL_LOGIN ? PROMPT_USER :
	    "");
}

int
imap_auth_read(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->client);
	char		*line;
	size_t		 len;
	int		 r;

	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(in) <= s->conf->limits.line_max)
			return 1;
		if (session_sendf(s, "* BYE Authentication response too "
		    "long.\r\n") == 0)
			session_close_after_flush(s, "AUTHENTICATE response "
			    "too long");
		return 1;
	}
	r = auth_response(s, line, len);
	wipe(line, len);
	free(line);
	return r == -1 || s->closed ? 1 : 0;
}
