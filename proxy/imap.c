/*
 * IMAP pre-authentication on the client side.  The parser is pure
 * (imap_parse.c); this file owns the dialogue: which commands exist
 * before login, what they answer, and what a failed login costs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/backend.h"
#include "proxy/imap.h"
#include "proxy/imap_backend.h"
#include "proxy/imap_id.h"
#include "proxy/imap_parse.h"
#include "proxy/login.h"
#include "proxy/proto.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"

/* Exactly what ferry does before login (PROTOCOLS.md: never more). */
#define IMAP_CAPS	"IMAP4rev1 SASL-IR LITERAL+ ID"
#define IMAP_CAPS_AUTH	"AUTH=PLAIN AUTH=LOGIN AUTH=OAUTHBEARER AUTH=XOAUTH2"

static int	cmd_capability(struct session *, struct imap_command *);
static int	cmd_noop(struct session *, struct imap_command *);
static int	cmd_logout(struct session *, struct imap_command *);
static int	cmd_id(struct session *, struct imap_command *);
static int	cmd_login(struct session *, struct imap_command *);
static int	cmd_starttls(struct session *, struct imap_command *);
static int	reply_tagged(struct session *, const char *, const char *);

/* What a client may do before it is logged in (RFC 3501 §6.1, §6.2). */
static const struct imap_cmd {
	const char	*name;
	int		(*run)(struct session *, struct imap_command *);
} imap_cmds[] = {
	{ "CAPABILITY",	cmd_capability },
	{ "NOOP",	cmd_noop },
	{ "LOGOUT",	cmd_logout },
	{ "ID",		cmd_id },
	{ "LOGIN",	cmd_login },
	{ "AUTHENTICATE", imap_cmd_authenticate },
	{ "STARTTLS",	cmd_starttls },
};

static const struct conf_limits *
limits(struct session *s)
{
	return &s->conf->limits;
}

/*
 * LOGINDISABLED and no AUTH= while cleartext logins are refused.  At p;
 * returns the end.  Put together with stpcpy(): snprintf() and
 * session_sendf() were 2,100 instructions a greeting (callgrind).
 */
#define CAPS_LINE_MAX	256
_Static_assert(sizeof("* OK [CAPABILITY " IMAP_CAPS " STARTTLS "
    IMAP_CAPS_AUTH "] ferry ready.\r\n") <= CAPS_LINE_MAX, "greeting");

static char *
capabilities(struct session *s, char *p)
{
	p = stpcpy(p, IMAP_CAPS);
	if (session_starttls_offered(s))
		p = stpcpy(p, " STARTTLS");
	return stpcpy(p, login_allowed(s) ? " " IMAP_CAPS_AUTH :
	    " LOGINDISABLED");
}

void
imap_client_start(struct session *s)
{
	char	line[CAPS_LINE_MAX], *p;

	p = stpcpy(line, "* OK [CAPABILITY ");
	p = capabilities(s, p);
	p = stpcpy(p, "] ferry ready.\r\n");
	if (session_send(s, line, (size_t)(p - line)) == -1)
		return;
	session_preauth_timer(s);
}

void
imap_client_tls_done(struct session *s)
{
	/* After STARTTLS there is no second greeting (RFC 3501 §6.2.1). */
	if (s->implicit_tls)
		imap_client_start(s);
	else
		session_preauth_timer(s);
	if (!s->closed)
		imap_client_read(s);
}

static int
cmd_starttls(struct session *s, struct imap_command *cmd)
{
	if (cmd->nargs != 0 || !session_starttls_offered(s)) {
		if (reply_tagged(s, cmd->tag, s->client_tls ?
		    "BAD TLS is already active." : cmd->nargs != 0 ?
		    "BAD STARTTLS takes no arguments." :
		    "BAD STARTTLS is not available here.") == -1)
			return -1;
		return imap_count_bad(s);
	}
	if (reply_tagged(s, cmd->tag, "OK Begin TLS negotiation now.") == -1)
		return -1;
	return session_starttls(s);
}

static size_t
input_max(struct session *s)
{
	return limits(s)->line_max * 2 + limits(s)->literal_max * 2 + 256;
}

static int
reply_tagged(struct session *s, const char *tag, const char *text)
{
	return session_sendf(s, "%s %s\r\n", tag[0] != '\0' ? tag : "*",
	    text);
}

int
imap_count_bad(struct session *s)
{
	if (++s->bad_commands < limits(s)->bad_commands)
		return 0;
	if (session_sendf(s, "* BYE Too many invalid commands.\r\n") == -1)
		return -1;
	return session_close_after_flush(s, "too many invalid commands");
}

static int
cmd_capability(struct session *s, struct imap_command *cmd)
{
	if (cmd->nargs != 0)
		return reply_tagged(s, cmd->tag, "BAD CAPABILITY takes no "
		    "arguments.");
	char	line[CAPS_LINE_MAX], *p;

	p = stpcpy(line, "* CAPABILITY ");
	p = capabilities(s, p);
	p = stpcpy(p, "\r\n");
	if (session_send(s, line, (size_t)(p - line)) == -1)
		return -1;
	return reply_tagged(s, cmd->tag, "OK Capability completed.");
}

static int
cmd_noop(struct session *s, struct imap_command *cmd)
{
	return reply_tagged(s, cmd->tag, "OK NOOP completed.");
}

static int
cmd_logout(struct session *s, struct imap_command *cmd)
{
	if (session_sendf(s, "* BYE Logging out.\r\n") == -1 ||
	    reply_tagged(s, cmd->tag, "OK Logout completed.") == -1)
		return -1;
	return session_close_after_flush(s, "logout");
}

/* RFC 2971: NIL or a list of string pairs; we answer with our own. */
static int
cmd_id(struct session *s, struct imap_command *cmd)
{
	size_t	i;
	int	ok = 0;

	if (cmd->nargs == 1 && cmd->args[0].type == IMAP_ARG_ATOM &&
	    strcasecmp(cmd->args[0].data, "NIL") == 0)
		ok = 1;
	else if (cmd->nargs >= 2 &&
	    cmd->args[0].type == IMAP_ARG_LIST_BEGIN &&
	    cmd->args[cmd->nargs - 1].type == IMAP_ARG_LIST_END &&
	    (cmd->nargs - 2) % 2 == 0 && cmd->nargs - 2 <= 60) {
		ok = 1;
		for (i = 1; i + 1 < cmd->nargs; i++)
			if (cmd->args[i].type != IMAP_ARG_STRING &&
			    !(cmd->args[i].type == IMAP_ARG_ATOM &&
			    strcasecmp(cmd->args[i].data, "NIL") == 0))
				ok = 0;
	}
	if (!ok) {
		if (reply_tagged(s, cmd->tag, "BAD Invalid ID arguments.") ==
		    -1)
			return -1;
		return imap_count_bad(s);
	}
	/* Kept for the backend, which may log what the client is. */
	free(s->client_id);
	s->client_id = imap_id_from_client(cmd);
	if (session_sendf(s, "* ID (\"name\" \"ferry\" \"version\" \"%s\")"
	    "\r\n", PACKAGE_VERSION) == -1)
		return -1;
	return reply_tagged(s, cmd->tag, "OK ID completed.");
}

static int
cmd_login(struct session *s, struct imap_command *cmd)
{
	struct imap_arg	*u = &cmd->args[0], *p = &cmd->args[1];

	if (cmd->nargs != 2 || u->type == IMAP_ARG_LIST_BEGIN ||
	    u->type == IMAP_ARG_LIST_END || p->type == IMAP_ARG_LIST_BEGIN ||
	    p->type == IMAP_ARG_LIST_END) {
		if (reply_tagged(s, cmd->tag, "BAD LOGIN expects a user name "
		    "and a password.") == -1)
			return -1;
		return imap_count_bad(s);
	}
	if (!login_allowed(s))
		return reply_tagged(s, cmd->tag, "NO [PRIVACYREQUIRED] "
		    "Plaintext login is disabled: use STARTTLS first.");
	free(s->user);
	s->user = strndup(u->data, u->len);
	s->password = strndup(p->data, p->len);
	if (s->user == NULL || s->password == NULL)
		return session_close(s, "out of memory");
	strcpy(s->tag, cmd->tag);
	s->auth_mech = -1;
	/* A name LDAP could never hold fails like any unknown user. */
	if (!login_valid_user(u->data, u->len) || memchr(p->data, '\0', p->len))
		return login_failed(s, LOGIN_FAIL_AUTH,
		    "invalid user name or password bytes", NULL);
	return login_begin(s);
}

void
imap_client_timeout(struct session *s)
{
	if (session_sendf(s, "* BYE Autologout; idle for too long.\r\n") ==
	    -1)
		return;
	session_close_after_flush(s, "pre-auth timeout");
}

static int
dispatch(struct session *s, struct imap_command *cmd)
{
	size_t	i;

	for (i = 0; i < sizeof(imap_cmds) / sizeof(imap_cmds[0]); i++)
		if (strcmp(cmd->name, imap_cmds[i].name) == 0)
			return imap_cmds[i].run(s, cmd);
	if (session_sendf(s, "%s BAD %s\r\n", cmd->tag,
	    "Unknown command or not allowed before login.") == -1)
		return -1;
	return imap_count_bad(s);
}

void
imap_client_read(struct session *s)
{
	struct evbuffer		*in;
	struct imap_command	 cmd;
	struct imap_limits	 lim;
	enum imap_parse_status	 st;
	const char		*buf;
	size_t			 len;
	int			 r;

	lim.line_max = limits(s)->line_max;
	lim.literal_max = limits(s)->literal_max;
	while (!s->closed && s->state == SESS_PREAUTH) {
		in = bufferevent_get_input(s->client);
		if ((len = evbuffer_get_length(in)) == 0)
			return;
		if (s->sasl_step > 0) {
			/* AUTHENTICATE: raw response lines, not commands. */
			if (imap_auth_read(s) == 1)
				return;
			continue;
		}
		if ((buf = (const char *)session_pullup(in)) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		imap_command_init(&cmd);
		st = imap_parse_command(buf, len, &lim, &cmd);
		switch (st) {
		case IMAP_PARSE_NEED_MORE:
			r = 0;
			while (r == 0 && s->continuations < cmd.sync_literals) {
				r = session_sendf(s, "+ OK\r\n");
				s->continuations++;
			}
			if (r == 0 && len > input_max(s)) {
				if (session_sendf(s, "* BYE Command too long."
				    "\r\n") == 0)
					session_close_after_flush(s,
					    "command too long");
			}
			imap_command_clear(&cmd);
			return;
		case IMAP_PARSE_TOO_LONG:
			if (session_sendf(s, "* BYE %s\r\n", cmd.error) == 0)
				session_close_after_flush(s, cmd.error);
			imap_command_clear(&cmd);
			return;
		case IMAP_PARSE_BAD:
			session_wipe_drain(in, cmd.consumed);
			s->continuations = 0;
			r = session_sendf(s, "%s BAD %s\r\n",
			    cmd.tag[0] != '\0' ? cmd.tag : "*", cmd.error);
			if (r == 0)
				imap_count_bad(s);
			break;
		case IMAP_PARSE_OK:
			session_wipe_drain(in, cmd.consumed);
			s->continuations = 0;
			dispatch(s, &cmd);
			break;
		}
		imap_command_clear(&cmd);
	}
}

static int
imap_goodbye(struct session *s, const char *text)
{
	return session_sendf(s, "* BYE %s\r\n", text);
}

static int
imap_sasl_challenge(struct session *s, const char *b64)
{
	return session_sendf(s, "+ %s\r\n", b64);
}

static int
imap_answer_failure(struct session *s, enum login_failure kind,
    const char *backend_text)
{
	if (kind == LOGIN_FAIL_AUTH) {
		if (session_sendf(s, "%s NO [AUTHENTICATIONFAILED] "
		    "Authentication failed.\r\n", s->tag) == -1)
			return -1;
		/* The last failure allowed: login.c closes after this. */
		if (s->auth_failures + 1 >= limits(s)->auth_failures)
			return session_sendf(s, "* BYE Too many "
			    "authentication failures.\r\n");
		return 0;
	}
	if (backend_text != NULL)
		return session_sendf(s, "%s %s\r\n", s->tag, backend_text);
	return session_sendf(s, "%s NO [UNAVAILABLE] Mail server temporarily "
	    "unavailable, try again later.\r\n", s->tag);
}

const struct proto_ops imap_proto = {
	.name = "imap",
	.start = imap_client_start,
	.tls_done = imap_client_tls_done,
	.read = imap_client_read,
	.input_max = input_max,
	.timeout = imap_client_timeout,
	.timer = login_timer,
	.backend_start = imap_backend_start,
	.backend_timeout = backend_timeout,
	.backend_line = imap_backend_line,
	.backend_tls_up = imap_backend_tls_up,
	.login_failed = login_failed,
	.answer_failure = imap_answer_failure,
	.sasl_challenge = imap_sasl_challenge,
	.goodbye = imap_goodbye,
};
