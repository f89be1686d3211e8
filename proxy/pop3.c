/*
 * POP3 authorization state on the client side (RFC 1939, RFC 2449 CAPA,
 * RFC 2595 STLS, RFC 5034 AUTH, RFC 3206 response codes).  The parser is
 * pure (pop3_parse.c), SASL decoding is sasl.c's, and the lookup and
 * failure handling are login.c's: this file is the dialogue only.
 *
 * APOP cannot be proxied (ferry would need the password to answer the
 * backend's own challenge), so the greeting carries no timestamp.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/backend.h"
#include "proxy/login.h"
#include "proxy/pop3_backend.h"
#include "proxy/pop3_parse.h"
#include "proxy/proto.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"

#define POP3_SASL_MECHS	"PLAIN LOGIN OAUTHBEARER XOAUTH2"
#define PROMPT_USER	"VXNlcm5hbWU6"	/* "Username:" */

static int	cmd_capa(struct session *, struct pop3_command *);
static int	cmd_noop(struct session *, struct pop3_command *);
static int	cmd_quit(struct session *, struct pop3_command *);
static int	cmd_stls(struct session *, struct pop3_command *);
static int	cmd_user(struct session *, struct pop3_command *);
static int	cmd_pass(struct session *, struct pop3_command *);
static int	cmd_auth(struct session *, struct pop3_command *);

/* What a client may do in the AUTHORIZATION state. */
static const struct pop3_cmd {
	const char	*name;
	int		(*run)(struct session *, struct pop3_command *);
} pop3_cmds[] = {
	{ "CAPA",	cmd_capa },
	{ "NOOP",	cmd_noop },
	{ "QUIT",	cmd_quit },
	{ "STLS",	cmd_stls },
	{ "USER",	cmd_user },
	{ "PASS",	cmd_pass },
	{ "AUTH",	cmd_auth },
};

static const struct conf_limits *
limits(struct session *s)
{
	return &s->conf->limits;
}

static void
parse_limits(struct session *s, struct pop3_limits *lim)
{
	lim->line_max = limits(s)->pop3_line_max;
	/* AUTH lines carry base64 bearer tokens (RFC 5034 section 4). */
	lim->auth_line_max = limits(s)->line_max > SASL_SECRET_MAX * 4 / 3 ?
	    limits(s)->line_max : SASL_SECRET_MAX * 4 / 3 + 1024;
}

static int
reply(struct session *s, const char *text)
{
	/* Not session_sendf(): vsnprintf() for "%s" was 500 instructions
	 * an answer (callgrind). */
	return session_send_line(s, text, strlen(text));
}

/* Count a bad command; too many close the connection. */
static int
count_bad(struct session *s)
{
	if (++s->bad_commands < limits(s)->bad_commands)
		return 0;
	return session_close_after_flush(s, "too many invalid commands");
}

static int
reply_bad(struct session *s, const char *text)
{
	if (reply(s, text) == -1)
		return -1;
	return count_bad(s);
}

static void
pop3_start(struct session *s)
{
	if (reply(s, "+OK ferry ready.") == -1)
		return;
	session_preauth_timer(s);
}

static void	pop3_read(struct session *);

static void
pop3_tls_done(struct session *s)
{
	/* After STLS there is no second greeting (RFC 2595 section 4). */
	if (s->implicit_tls)
		pop3_start(s);
	else
		session_preauth_timer(s);
	if (!s->closed)
		pop3_read(s);
}

/* RFC 2449 section 5: exactly what ferry does before login. */
static int
cmd_capa(struct session *s, struct pop3_command *cmd)
{
	if (cmd->nargs != 0)
		return reply_bad(s, "-ERR CAPA takes no arguments.");
	return session_sendf(s, "+OK Capability list follows\r\n"
	    "%s%s%s"
	    "RESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\n"
	    "PIPELINING\r\n"
	    "IMPLEMENTATION ferry\r\n"
	    ".\r\n",
	    login_allowed(s) ? "USER\r\n" : "",
	    login_allowed(s) ? "SASL " POP3_SASL_MECHS "\r\n" : "",
	    session_starttls_offered(s) ? "STLS\r\n" : "");
}

static int
cmd_noop(struct session *s, struct pop3_command *cmd)
{
	(void)cmd;
	return reply(s, "+OK");
}

static int
cmd_quit(struct session *s, struct pop3_command *cmd)
{
	(void)cmd;
	if (reply(s, "+OK Logging out.") == -1)
		return -1;
	return session_close_after_flush(s, "logout");
}

static int
cmd_stls(struct session *s, struct pop3_command *cmd)
{
	if (s->client_tls)
		return reply_bad(s, "-ERR TLS is already active.");
	if (cmd->nargs != 0)
		return reply_bad(s, "-ERR STLS takes no arguments.");
	if (!session_starttls_offered(s))
		return reply_bad(s, "-ERR STLS is not available here.");
	if (reply(s, "+OK Begin TLS negotiation now.") == -1)
		return -1;
	/* Drops whatever was pipelined behind STLS. */
	return session_starttls(s);
}

static int
refuse_cleartext(struct session *s)
{
	return reply(s, "-ERR [AUTH] Plaintext authentication is disabled: "
	    "use STLS first.");
}

static int
cmd_user(struct session *s, struct pop3_command *cmd)
{
	if (cmd->nargs != 1)
		return reply_bad(s, "-ERR USER expects a user name.");
	if (!login_allowed(s))
		return refuse_cleartext(s);
	free(s->user);
	if ((s->user = strdup(cmd->args[0])) == NULL)
		return session_close(s, "out of memory");
	s->user_given = 1;
	return reply(s, "+OK");
}

static int
cmd_pass(struct session *s, struct pop3_command *cmd)
{
	if (!s->user_given)
		return reply_bad(s, "-ERR USER first.");
	s->user_given = 0;
	if (cmd->rest_len == 0)
		return reply_bad(s, "-ERR PASS expects a password.");
	if (!login_allowed(s))
		return refuse_cleartext(s);
	/* RFC 1939 section 7: the password is the rest of the line. */
	if ((s->password = strdup(cmd->rest)) == NULL)
		return session_close(s, "out of memory");
	s->auth_mech = -1;
	if (!login_valid_user(s->user, strlen(s->user)))
		return login_failed(s, LOGIN_FAIL_AUTH, "invalid user name",
		    NULL);
	return login_begin(s);
}

/* The SASL dialogue ended without a login: back to commands. */
static int
auth_end(struct session *s, const char *text, int bad)
{
	login_sasl_abort(s);
	if (reply(s, text) == -1)
		return -1;
	return bad ? count_bad(s) : 0;
}

/* A response line or initial response: "*", or base64 ("=": empty). */
static int
auth_response(struct session *s, const char *line, size_t len)
{
	int	r;

	if (len == 1 && line[0] == '*')
		return auth_end(s, "-ERR Authentication canceled.", 0);
	if ((r = login_sasl_response(s, line, len)) == 1)
		return auth_end(s, "-ERR Invalid base64 data.", 1);
	return r;
}

static int
cmd_auth(struct session *s, struct pop3_command *cmd)
{
	enum sasl_mech	 m;

	s->user_given = 0;
	/* The pre-RFC 5034 form: list the mechanisms. */
	if (cmd->nargs == 0) {
		if (!login_allowed(s))
			return refuse_cleartext(s);
		return session_sendf(s, "+OK\r\nPLAIN\r\nLOGIN\r\n"
		    "OAUTHBEARER\r\nXOAUTH2\r\n.\r\n");
	}
	if (cmd->nargs > 2)
		return reply_bad(s, "-ERR AUTH expects a mechanism and an "
		    "optional initial response.");
	if (!login_allowed(s))
		return refuse_cleartext(s);
	if (sasl_mech_parse(cmd->args[0], &m) == -1)
		return reply(s, "-ERR Unsupported authentication mechanism.");
	s->auth_mech = (int)m;
	s->sasl_step = 1;
	if (cmd->nargs == 2)
		return auth_response(s, cmd->args[1], strlen(cmd->args[1]));
	return reply(s, m == SASL_LOGIN ? "+ " PROMPT_USER : "+ ");
}

/* One line inside AUTH: 1 if more input is needed or it closed. */
static int
auth_read(struct session *s, struct evbuffer *in, const char *buf,
    size_t len, const struct pop3_limits *lim)
{
	struct pop3_command	 cmd;
	enum pop3_parse_status	 st;
	int			 r = 0;

	pop3_command_init(&cmd);
	st = pop3_parse_auth_line(buf, len, lim, &cmd);
	switch (st) {
	case POP3_PARSE_NEED_MORE:
		pop3_command_clear(&cmd);
		return 1;
	case POP3_PARSE_TOO_LONG:
		if (reply(s, "-ERR Authentication response too long.") == 0)
			session_close_after_flush(s, "AUTH response too long");
		pop3_command_clear(&cmd);
		return 1;
	case POP3_PARSE_BAD:
		session_wipe_drain(in, cmd.consumed);
		r = auth_end(s, "-ERR Invalid authentication response.", 1);
		break;
	case POP3_PARSE_OK:
		session_wipe_drain(in, cmd.consumed);
		r = auth_response(s, cmd.rest, cmd.rest_len);
		break;
	}
	pop3_command_clear(&cmd);
	return r == -1 || s->closed ? 1 : 0;
}

static int
dispatch(struct session *s, struct pop3_command *cmd)
{
	size_t	i;

	for (i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++)
		if (strcmp(cmd->name, pop3_cmds[i].name) == 0)
			return pop3_cmds[i].run(s, cmd);
	if (strcmp(cmd->name, "APOP") == 0)
		return reply_bad(s, "-ERR APOP is not available; use USER "
		    "and PASS or AUTH.");
	return reply_bad(s, "-ERR Unknown command or not allowed before "
	    "login.");
}

static size_t
input_max(struct session *s)
{
	struct pop3_limits	lim;

	parse_limits(s, &lim);
	return lim.auth_line_max + limits(s)->line_max + 256;
}

static void
pop3_read(struct session *s)
{
	struct evbuffer		*in;
	struct pop3_command	 cmd;
	struct pop3_limits	 lim;
	enum pop3_parse_status	 st;
	const char		*buf;
	size_t			 len;

	parse_limits(s, &lim);
	while (!s->closed && s->state == SESS_PREAUTH) {
		in = bufferevent_get_input(s->client);
		if ((len = evbuffer_get_length(in)) == 0)
			return;
		if ((buf = (const char *)session_pullup(in)) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		if (s->sasl_step > 0) {
			if (auth_read(s, in, buf, len, &lim))
				return;
			continue;
		}
		pop3_command_init(&cmd);
		st = pop3_parse_command(buf, len, &lim, &cmd);
		switch (st) {
		case POP3_PARSE_NEED_MORE:
			pop3_command_clear(&cmd);
			return;
		case POP3_PARSE_TOO_LONG:
			if (session_sendf(s, "-ERR %s.\r\n", cmd.error) == 0)
				session_close_after_flush(s, cmd.error);
			pop3_command_clear(&cmd);
			return;
		case POP3_PARSE_BAD:
			session_wipe_drain(in, cmd.consumed);
			if (session_sendf(s, "-ERR %s.\r\n", cmd.error) == 0)
				count_bad(s);
			break;
		case POP3_PARSE_OK:
			session_wipe_drain(in, cmd.consumed);
			dispatch(s, &cmd);
			break;
		}
		pop3_command_clear(&cmd);
	}
}

static void
pop3_timeout(struct session *s)
{
	if (reply(s, "-ERR Disconnected for inactivity.") == -1)
		return;
	session_close_after_flush(s, "pre-auth timeout");
}

static int
pop3_goodbye(struct session *s, const char *text)
{
	return session_sendf(s, "-ERR [SYS/TEMP] %s\r\n", text);
}

static int
pop3_sasl_challenge(struct session *s, const char *b64)
{
	return session_sendf(s, "+ %s\r\n", b64);
}

static int
pop3_answer_failure(struct session *s, enum login_failure kind,
    const char *backend_text)
{
	if (kind == LOGIN_FAIL_AUTH)
		return reply(s, "-ERR [AUTH] Authentication failed.");
	if (backend_text != NULL)
		return reply(s, backend_text);
	return reply(s, "-ERR [SYS/TEMP] Mail server temporarily "
	    "unavailable, try again later.");
}

const struct proto_ops pop3_proto = {
	.name = "pop3",
	.start = pop3_start,
	.tls_done = pop3_tls_done,
	.read = pop3_read,
	.input_max = input_max,
	.timeout = pop3_timeout,
	.timer = login_timer,
	.backend_start = pop3_backend_start,
	.backend_timeout = backend_timeout,
	.backend_line = pop3_backend_line,
	.backend_tls_up = pop3_backend_tls_up,
	.login_failed = login_failed,
	.answer_failure = pop3_answer_failure,
	.sasl_challenge = pop3_sasl_challenge,
	.goodbye = pop3_goodbye,
};
