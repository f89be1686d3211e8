/*
 * ManageSieve (RFC 5804) before login on the client side: capabilities,
 * STARTTLS (with the capabilities sent again after it, section 2.2),
 * AUTHENTICATE with or without an initial response (section 2.1), NOOP,
 * LOGOUT.  The parser is pure (sieve_parse.c); SASL and the lookup are
 * login.c's; the backend dialogue is sieve_backend.c's.
 *
 * Before login ferry cannot know the backend's Sieve extensions, so the
 * SIEVE capability is empty; after login CAPABILITY is the backend's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/backend.h"
#include "proxy/login.h"
#include "proxy/proto.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "proxy/sieve_backend.h"
#include "proxy/sieve_parse.h"
#include "src/conf.h"
#include "src/util.h"

#define SIEVE_SASL_MECHS	"PLAIN LOGIN OAUTHBEARER XOAUTH2"
#define PROMPT_USER		"VXNlcm5hbWU6"	/* "Username:" */

static int	cmd_capability(struct session *, struct sieve_command *);
static int	cmd_noop(struct session *, struct sieve_command *);
static int	cmd_logout(struct session *, struct sieve_command *);
static int	cmd_starttls(struct session *, struct sieve_command *);
static int	cmd_authenticate(struct session *, struct sieve_command *);

/* What a client may do before it is logged in (RFC 5804 section 2). */
static const struct sieve_cmd {
	const char	*name;
	int		(*run)(struct session *, struct sieve_command *);
} sieve_cmds[] = {
	{ "CAPABILITY",		cmd_capability },
	{ "NOOP",		cmd_noop },
	{ "LOGOUT",		cmd_logout },
	{ "STARTTLS",		cmd_starttls },
	{ "AUTHENTICATE",	cmd_authenticate },
};

static const struct conf_limits *
limits(struct session *s)
{
	return &s->conf->limits;
}

static int
reply(struct session *s, const char *text)
{
	return session_sendf(s, "%s\r\n", text);
}

static int
count_bad(struct session *s)
{
	if (++s->bad_commands < limits(s)->bad_commands)
		return 0;
	if (reply(s, "BYE \"Too many invalid commands.\"") == -1)
		return -1;
	return session_close_after_flush(s, "too many invalid commands");
}

static int
reply_bad(struct session *s, const char *text)
{
	if (reply(s, text) == -1)
		return -1;
	return count_bad(s);
}

/* RFC 5804 section 1.7; no SASL mechanisms while login is refused. */
static int
send_capabilities(struct session *s)
{
	return session_sendf(s, "\"IMPLEMENTATION\" \"ferry\"\r\n"
	    "\"SASL\" \"%s\"\r\n"
	    "%s"
	    "\"SIEVE\" \"\"\r\n"
	    "\"VERSION\" \"1.0\"\r\n",
	    login_allowed(s) ? SIEVE_SASL_MECHS : "",
	    session_starttls_offered(s) ? "\"STARTTLS\"\r\n" : "");
}

static void
sieve_start(struct session *s)
{
	if (send_capabilities(s) == -1 || reply(s, "OK \"ferry ready.\"") ==
	    -1)
		return;
	session_preauth_timer(s);
}

static void	sieve_read(struct session *);

static void
sieve_tls_done(struct session *s)
{
	/* RFC 5804 section 2.2: the capabilities again, over TLS. */
	sieve_start(s);
	if (!s->closed)
		sieve_read(s);
}

static int
cmd_capability(struct session *s, struct sieve_command *cmd)
{
	if (cmd->nargs != 0)
		return reply_bad(s, "NO \"CAPABILITY takes no arguments.\"");
	if (send_capabilities(s) == -1)
		return -1;
	return reply(s, "OK \"Capability completed.\"");
}

/* RFC 5804 section 2.13: the tag comes back as a response code. */
static int
cmd_noop(struct session *s, struct sieve_command *cmd)
{
	char	q[256];

	if (cmd->nargs == 0)
		return reply(s, "OK \"NOOP completed.\"");
	if (cmd->nargs != 1 || cmd->args[0].type != SIEVE_ARG_STRING ||
	    sieve_quote(cmd->args[0].data, cmd->args[0].len, q,
	    sizeof(q)) == -1)
		return reply_bad(s, "NO \"NOOP takes one short string.\"");
	return session_sendf(s, "OK (TAG %s) \"Done\"\r\n", q);
}

static int
cmd_logout(struct session *s, struct sieve_command *cmd)
{
	(void)cmd;
	if (reply(s, "OK \"Logout completed.\"") == -1)
		return -1;
	return session_close_after_flush(s, "logout");
}

static int
cmd_starttls(struct session *s, struct sieve_command *cmd)
{
	if (cmd->nargs != 0 || !session_starttls_offered(s))
		return reply_bad(s, s->client_tls ?
		    "NO \"TLS is already active.\"" : cmd->nargs != 0 ?
		    "NO \"STARTTLS takes no arguments.\"" :
		    "NO \"STARTTLS is not available here.\"");
	if (reply(s, "OK \"Begin TLS negotiation now.\"") == -1)
		return -1;
	return session_starttls(s);
}

static int
auth_end(struct session *s, const char *text, int bad)
{
	login_sasl_abort(s);
	if (reply(s, text) == -1)
		return -1;
	return bad ? count_bad(s) : 0;
}

static int
auth_response(struct session *s, const char *data, size_t len, int cancel)
{
	int	r;

	if (cancel)
		return auth_end(s, "NO \"Authentication canceled.\"", 0);
	if ((r = login_sasl_response(s, data, len)) == 1)
		return auth_end(s, "NO \"Invalid base64 data.\"", 1);
	return r;
}

static int
cmd_authenticate(struct session *s, struct sieve_command *cmd)
{
	enum sasl_mech	 m;

	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    cmd->args[0].type != SIEVE_ARG_STRING ||
	    (cmd->nargs == 2 && cmd->args[1].type != SIEVE_ARG_STRING))
		return reply_bad(s, "NO \"AUTHENTICATE expects a mechanism "
		    "and an optional initial response.\"");
	if (!login_allowed(s))
		return reply(s, "NO (ENCRYPT-NEEDED) \"Plaintext "
		    "authentication is disabled: use STARTTLS first.\"");
	if (sasl_mech_parse(cmd->args[0].data, &m) == -1)
		return reply(s, "NO \"Unsupported authentication "
		    "mechanism.\"");
	s->auth_mech = (int)m;
	s->sasl_step = 1;
	if (cmd->nargs == 2)
		return auth_response(s, cmd->args[1].data, cmd->args[1].len,
		    0);
	return session_sendf(s, "\"%s\"\r\n", m == SASL_LOGIN ? PROMPT_USER :
	    "");
}

static void
parse_limits(struct session *s, struct sieve_limits *lim)
{
	lim->line_max = limits(s)->line_max;
	lim->literal_max = limits(s)->literal_max;
}

/* One response inside AUTHENTICATE: 1 if more input is needed or the
 * session closed. */
static int
auth_read(struct session *s, struct evbuffer *in, const char *buf,
    size_t len)
{
	struct sieve_command	 cmd;
	struct sieve_limits	 lim;
	enum sieve_parse_status	 st;
	int			 r = 0;

	parse_limits(s, &lim);
	sieve_command_init(&cmd);
	st = sieve_parse_response(buf, len, &lim, &cmd);
	switch (st) {
	case SIEVE_PARSE_NEED_MORE:
		sieve_command_clear(&cmd);
		return 1;
	case SIEVE_PARSE_TOO_LONG:
		if (session_sendf(s, "BYE \"%s.\"\r\n", cmd.error) == 0)
			session_close_after_flush(s, cmd.error);
		sieve_command_clear(&cmd);
		return 1;
	case SIEVE_PARSE_BAD:
		session_wipe_drain(in, cmd.consumed);
		r = auth_end(s, "NO \"Invalid authentication response.\"", 1);
		break;
	case SIEVE_PARSE_OK:
		session_wipe_drain(in, cmd.consumed);
		r = auth_response(s, cmd.args[0].data, cmd.args[0].len,
		    cmd.cancel);
		break;
	}
	sieve_command_clear(&cmd);
	return r == -1 || s->closed ? 1 : 0;
}

static int
dispatch(struct session *s, struct sieve_command *cmd)
{
	size_t	i;

	for (i = 0; i < sizeof(sieve_cmds) / sizeof(sieve_cmds[0]); i++)
		if (strcmp(cmd->name, sieve_cmds[i].name) == 0)
			return sieve_cmds[i].run(s, cmd);
	return reply_bad(s, "NO \"Unknown command or not allowed before "
	    "login.\"");
}

static void
sieve_read(struct session *s)
{
	struct evbuffer		*in;
	struct sieve_command	 cmd;
	struct sieve_limits	 lim;
	enum sieve_parse_status	 st;
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
			if (auth_read(s, in, buf, len))
				return;
			continue;
		}
		sieve_command_init(&cmd);
		st = sieve_parse_command(buf, len, &lim, &cmd);
		switch (st) {
		case SIEVE_PARSE_NEED_MORE:
			sieve_command_clear(&cmd);
			return;
		case SIEVE_PARSE_TOO_LONG:
			if (session_sendf(s, "BYE \"%s.\"\r\n", cmd.error) == 0)
				session_close_after_flush(s, cmd.error);
			sieve_command_clear(&cmd);
			return;
		case SIEVE_PARSE_BAD:
			session_wipe_drain(in, cmd.consumed);
			if (session_sendf(s, "NO \"%s.\"\r\n", cmd.error) == 0)
				count_bad(s);
			break;
		case SIEVE_PARSE_OK:
			session_wipe_drain(in, cmd.consumed);
			dispatch(s, &cmd);
			break;
		}
		sieve_command_clear(&cmd);
	}
}

static size_t
sieve_input_max(struct session *s)
{
	return limits(s)->line_max * 2 + limits(s)->literal_max * 2 + 256;
}

static void
sieve_timeout(struct session *s)
{
	if (reply(s, "BYE \"Disconnected for inactivity.\"") == -1)
		return;
	session_close_after_flush(s, "pre-auth timeout");
}

static int
sieve_goodbye(struct session *s, const char *text)
{
	return session_sendf(s, "BYE \"%s\"\r\n", text);
}

static int
sieve_sasl_challenge(struct session *s, const char *b64)
{
	return session_sendf(s, "\"%s\"\r\n", b64);
}

static int
sieve_answer_failure(struct session *s, enum login_failure kind,
    const char *backend_text)
{
	if (kind == LOGIN_FAIL_AUTH) {
		if (s->auth_failures + 1 >= limits(s)->auth_failures)
			return reply(s, "BYE \"Too many authentication "
			    "failures.\"");
		return reply(s, "NO \"Authentication failed.\"");
	}
	if (backend_text != NULL)
		return reply(s, backend_text);
	return reply(s, "NO (TRYLATER) \"Mail server temporarily "
	    "unavailable, try again later.\"");
}

const struct proto_ops sieve_proto = {
	.name = "sieve",
	.start = sieve_start,
	.tls_done = sieve_tls_done,
	.read = sieve_read,
	.input_max = sieve_input_max,
	.timeout = sieve_timeout,
	.timer = login_timer,
	.backend_start = sieve_backend_start,
	.backend_timeout = backend_timeout,
	.backend_line = sieve_backend_line,
	.backend_tls_up = sieve_backend_tls_up,
	.login_failed = login_failed,
	.answer_failure = sieve_answer_failure,
	.sasl_challenge = sieve_sasl_challenge,
	.goodbye = sieve_goodbye,
};
