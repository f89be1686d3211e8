/*
 * IMAP AUTHENTICATE (RFC 3501 §6.2.2, SASL-IR RFC 4959): the client's
 * side of the SASL dialogue.  The SASL steps are login.c's (decoding is
 * sasl.c's); this file only moves lines.  The credentials end up in
 * s->user and s->password (a password or a bearer token, which the
 * backend validates) and the login goes on as for LOGIN.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/imap.h"
#include "proxy/imap_parse.h"
#include "proxy/login.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"

#define PROMPT_USER	"VXNlcm5hbWU6"	/* "Username:" */

static int
reply(struct session *s, const char *text)
{
	return session_sendf(s, "%s %s\r\n", s->tag, text);
}

/* The dialogue ended without a login: back to reading commands. */
static int
auth_end(struct session *s, const char *text, int bad)
{
	login_sasl_abort(s);
	if (reply(s, text) == -1)
		return -1;
	s->tag[0] = '\0';
	return bad ? imap_count_bad(s) : 0;
}

/* A response line (or SASL-IR argument): "*", or base64 ("=": empty). */
static int
auth_response(struct session *s, const char *line, size_t len)
{
	int	r;

	if (len == 1 && line[0] == '*')
		return auth_end(s, "BAD Authentication canceled.", 0);
	if ((r = login_sasl_response(s, line, len)) == 1)
		return auth_end(s, "BAD Invalid base64 data.", 1);
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
	if (!login_allowed(s))
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

	if ((line = session_readln(in, &len)) == NULL) {
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
