/* IMAP login on the backend; see imap_backend.h. */
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
#include "proxy/imap_backend.h"
#include "proxy/imap_id.h"
#include "proxy/imap_parse.h"
#include "proxy/login.h"
#include "proxy/route.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"

#define BACKEND_LINE_MAX	65536	/* untagged data held for the client */
#define TAG_PREFIX		IMAP_BACKEND_TAG " "
#define PRE_TAG			"ferry0"	/* CAPABILITY, STARTTLS, ID */


void
imap_backend_start(struct session *s, const struct mailhost *mh)
{
	const struct conf_backend_defaults *bd = route_opts(s);

	backend_start(s, mh, (uint16_t)(bd->tls == CONF_BTLS_IMPLICIT ?
	    bd->imaps_port : bd->imap_port), backend_up);
}

/* A growing byte string for building the LOGIN command. */
struct piece {
	char	*buf;
	size_t	 len, size;
};

static int
piece_add(struct piece *p, const char *data, size_t len)
{
	if (p->len + len + 1 > p->size)
		return -1;
	memcpy(p->buf + p->len, data, len);
	p->len += len;
	p->buf[p->len] = '\0';
	return 0;
}

static int
piece_finish(struct session *s, struct piece *p)
{
	if (s->npieces == SESSION_LOGIN_PIECES)
		return -1;
	s->login_pieces[s->npieces] = p->buf;
	s->login_piece_len[s->npieces] = p->len;
	s->npieces++;
	p->buf = NULL;
	return 0;
}

static int
piece_start(struct piece *p, size_t size)
{
	p->size = size;
	p->len = 0;
	if ((p->buf = malloc(size)) == NULL)
		return -1;
	p->buf[0] = '\0';
	return 0;
}

/*
 * Split "ferry1 LOGIN user password" into pieces that end where a
 * synchronizing literal needs the backend's "+" before going on.  Each
 * argument is a quoted string when it can be one, else a literal
 * (non-synchronizing when the backend announced LITERAL+).
 */
static int
build_login(struct session *s, int literal_plus)
{
	const char	*args[2] = { route_login_user(s), s->password };
	struct piece	 p;
	char		 num[32];
	size_t		 size, alen, i;
	int		 n;

	size = strlen(args[0]) * 2 + strlen(s->password) * 2 + 96;
	if (piece_start(&p, size) == -1)
		return -1;
	piece_add(&p, TAG_PREFIX "LOGIN", strlen(TAG_PREFIX "LOGIN"));
	for (i = 0; i < 2; i++) {
		alen = strlen(args[i]);
		piece_add(&p, " ", 1);
		if (imap_quotable(args[i], alen)) {
			n = imap_quote(args[i], alen, p.buf + p.len,
			    p.size - p.len);
			if (n < 0)
				goto fail;
			p.len += (size_t)n;
			continue;
		}
		snprintf(num, sizeof(num), literal_plus ? "{%zu+}\r\n" :
		    "{%zu}\r\n", alen);
		piece_add(&p, num, strlen(num));
		if (!literal_plus) {
			if (piece_finish(s, &p) == -1 ||
			    piece_start(&p, size) == -1)
				goto fail;
		}
		piece_add(&p, args[i], alen);
	}
	if (piece_add(&p, "\r\n", 2) == -1 || piece_finish(s, &p) == -1)
		goto fail;
	return 0;
fail:
	if (p.buf != NULL) {
		wipe(p.buf, p.size);
		free(p.buf);
	}
	return -1;
}

static int
send_next_piece(struct session *s)
{
	size_t	i = s->next_piece++;

	if (session_write_secret(s->backend, s->login_pieces[i],
	    s->login_piece_len[i]) == -1)
		return -1;
	s->bwait = s->next_piece < s->npieces ? BWAIT_CONTINUATION :
	    BWAIT_TAGGED;
	return 0;
}

static int
on_tagged(struct session *s, const char *line, size_t len)
{
	const char	*answer = line + strlen(TAG_PREFIX);
	size_t		 alen = len - strlen(TAG_PREFIX);
	char		 buf[1024];
	size_t		 tlen = strlen(s->tag);

	if (strncasecmp(answer, "OK", 2) == 0 &&
	    (answer[2] == ' ' || answer[2] == '\0')) {
		/* The backend's own OK, under the client's tag; in one
		 * piece if it fits, for one write. */
		if (tlen + 1 + alen <= sizeof(buf)) {
			memcpy(buf, s->tag, tlen);
			buf[tlen] = ' ';
			memcpy(buf + tlen + 1, answer, alen);
			return login_succeeded(s, buf, tlen + 1 + alen);
		}
		if (session_sendf(s, "%s ", s->tag) == -1)
			return -1;
		return login_succeeded(s, answer, alen);
	}
	if (strncasecmp(answer, "NO ", 3) == 0) {
		/* Bad credentials look the same as an unknown user; any
		 * other response code (RFC 5530) is the backend's to tell. */
		return backend_refused(s, answer[3] != '[' ||
		    strncasecmp(answer + 3, "[AUTHENTICATIONFAILED]", 22) == 0,
		    answer);
	}
	backend_fail(s, "backend rejected ferry's LOGIN command");
	return -1;
}

/* How far the dialogue before the login has come (the capability bits
 * are in backend_caps.h). */
#define BSTEP_TLS		0x1000	/* TLS is up with the backend */
#define BSTEP_ID		0x2000	/* ID was sent */
#define BCAP_MASK		0x0fff

static void
set_caps(struct session *s, unsigned int caps)
{
	s->bcaps = (s->bcaps & ~BCAP_MASK) | caps;
}

static int
send_id(struct session *s)
{
	const struct conf_backend_defaults *bd = route_opts(s);
	char	local[80], sid[32], *cmd;
	int	r;

	local[0] = '\0';
	if (bd->forward_id)
		session_local_addr(s, local, sizeof(local));
	snprintf(sid, sizeof(sid), "ferry-%llu", (unsigned long long)s->id);
	cmd = imap_id_command(PRE_TAG, s->client_id, bd->forward_id &&
	    local[0] != '\0', s->client_addr, local, sid);
	if (cmd == NULL) {
		backend_fail(s, "out of memory");
		return -1;
	}
	s->bcaps |= BSTEP_ID;
	r = backend_send(s, BWAIT_ID, cmd);
	free(cmd);
	return r;
}

/* AUTHENTICATE with the client's mechanism (OAuth) or PLAIN. */
static int
send_authenticate(struct session *s, enum sasl_mech mech)
{
	char	*resp;
	int	 r;

	if ((resp = backend_sasl_response(s, mech)) == NULL) {
		backend_fail(s, "out of memory");
		return -1;
	}
	/* The whole command is one piece; without SASL-IR the response
	 * waits for the backend's "+".  strjoin(), not asprintf(): 1,600
	 * instructions a login (callgrind). */
	if (s->bcaps & BCAP_SASLIR)
		s->login_pieces[0] = strjoin(&s->login_piece_len[0],
		    TAG_PREFIX "AUTHENTICATE ", sasl_mech_name(mech), " ", resp,
		    "\r\n", (char *)NULL);
	else
		s->login_pieces[0] = strjoin(&s->login_piece_len[0],
		    TAG_PREFIX "AUTHENTICATE ", sasl_mech_name(mech), "\r\n",
		    (char *)NULL);
	if (s->login_pieces[0] == NULL) {
		sasl_wipe_free(&resp);
		backend_fail(s, "out of memory");
		return -1;
	}
	s->npieces = 1;
	s->next_piece = 0;
	if (!(s->bcaps & BCAP_SASLIR)) {
		s->login_pieces[1] = strjoin(&s->login_piece_len[1], resp,
		    "\r\n", (char *)NULL);
		if (s->login_pieces[1] == NULL) {
			sasl_wipe_free(&resp);
			backend_fail(s, "out of memory");
			return -1;
		}
		s->npieces = 2;
	}
	sasl_wipe_free(&resp);
	r = send_next_piece(s);
	if (r == -1)
		backend_fail(s, "out of memory");
	return r;
}

static int
send_login(struct session *s)
{
	int	oauth = s->auth_mech >= 0 &&
		    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech);

	if (oauth) {
		if (!(s->bcaps & (s->auth_mech == SASL_XOAUTH2 ?
		    BCAP_XOAUTH2 : BCAP_OAUTHBEARER))) {
			backend_fail(s, "backend does not offer the client's "
			    "OAuth mechanism");
			return -1;
		}
		return send_authenticate(s, (enum sasl_mech)s->auth_mech);
	}
	if (s->bcaps & BCAP_PLAIN)
		return send_authenticate(s, SASL_PLAIN);
	if (s->master_user != NULL) {
		backend_fail(s, "backend lacks AUTH=PLAIN for an authzid");
		return -1;
	}
	if (build_login(s, (s->bcaps & BCAP_LITERALPLUS) != 0) == -1 ||
	    send_next_piece(s) == -1) {
		backend_fail(s, "out of memory");
		return -1;
	}
	return 0;
}

/* The next step before the login: TLS, capabilities, ID, then log in. */
static int
advance(struct session *s)
{
	const struct conf_backend_defaults *bd = route_opts(s);

	if (bd->tls == CONF_BTLS_STARTTLS && !(s->bcaps & BSTEP_TLS)) {
		if (!(s->bcaps & BCAP_KNOWN))
			return backend_send(s, BWAIT_CAPABILITY, PRE_TAG
			    " CAPABILITY\r\n");
		if (!(s->bcaps & BCAP_STARTTLS)) {
			backend_fail(s, "backend does not offer STARTTLS");
			return -1;
		}
		return backend_send(s, BWAIT_STARTTLS, PRE_TAG " STARTTLS\r\n");
	}
	if (!(s->bcaps & BCAP_KNOWN))
		return backend_send(s, BWAIT_CAPABILITY, PRE_TAG
		    " CAPABILITY\r\n");
	if (!(s->bcaps & BSTEP_ID) && (bd->forward_id || s->client_id !=
	    NULL))
		return send_id(s);
	return send_login(s);
}


/* Anything read in clear goes with the plain bufferevent. */
static int
start_tls(struct session *s)
{
	return backend_start_tls(s);
}

static int
on_greeting(struct session *s, const char *line)
{
	if (strncasecmp(line, "* OK", 4) != 0) {
		backend_fail(s, strncasecmp(line, "* BYE", 5) == 0 ?
		    "backend refused the connection" :
		    "unexpected backend greeting");
		return -1;
	}
	set_caps(s, imap_caps_in_code(line));
	return advance(s);
}

/* An answer to CAPABILITY, STARTTLS or ID. */
static int
on_pre(struct session *s, const char *line, size_t len)
{
	const char	*answer;
	int		 ok;

	if (strncasecmp(line, "* CAPABILITY ", 13) == 0) {
		if (s->bwait == BWAIT_CAPABILITY)
			set_caps(s, imap_caps_parse(line + 13, len - 13));
		return 0;
	}
	if (strncasecmp(line, "* BYE", 5) == 0) {
		backend_fail(s, "backend said BYE during login");
		return -1;
	}
	if (line[0] == '*')
		return 0;	/* "* ID (...)": ferry's business only */
	if (strncmp(line, PRE_TAG " ", strlen(PRE_TAG " ")) != 0) {
		backend_fail(s, "unexpected line from backend during login");
		return -1;
	}
	answer = line + strlen(PRE_TAG " ");
	ok = strncasecmp(answer, "OK", 2) == 0;
	switch (s->bwait) {
	case BWAIT_CAPABILITY:
		if (!ok) {
			backend_fail(s, "backend refused CAPABILITY");
			return -1;
		}
		s->bcaps |= BCAP_KNOWN;
		return advance(s);
	case BWAIT_STARTTLS:
		if (!ok) {
			backend_fail(s, "backend refused STARTTLS");
			return -1;
		}
		return start_tls(s);
	default:
		/* A backend that does not take ID still takes the login. */
		return advance(s);
	}
}

int
imap_backend_line(struct session *s, char *line, size_t len)
{
	switch (s->bwait) {
	case BWAIT_GREETING:
		return on_greeting(s, line);
	case BWAIT_TLS:
		backend_fail(s, "backend sent data during the TLS handshake");
		return -1;
	case BWAIT_CAPABILITY:
	case BWAIT_STARTTLS:
	case BWAIT_ID:
		return on_pre(s, line, len);
	case BWAIT_CONTINUATION:
		if (line[0] == '+') {
			if (send_next_piece(s) == -1) {
				backend_fail(s, "out of memory");
				return -1;
			}
			return 0;
		}
		/* FALLTHROUGH */
	case BWAIT_TAGGED:
		if (strncmp(line, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
			return on_tagged(s, line, len);
		if (line[0] == '+' && s->auth_mech >= 0 &&
		    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
			/* RFC 7628 §3.2.2: an error challenge; answer ^A
			 * and the tagged NO follows. */
			if (bufferevent_write(s->backend, "AQ==\r\n", 6) == -1) {
				backend_fail(s, "out of memory");
				return -1;
			}
			return 0;
		}
		if (strncasecmp(line, "* BYE", 5) == 0) {
			backend_fail(s, "backend said BYE during login");
			return -1;
		}
		/* Untagged data during login is the client's to see, but
		 * not without bound: a client that does not read would
		 * make ferry hold all a hostile backend sends. */
		if (line[0] == '*') {
			if (evbuffer_get_length(bufferevent_get_output(
			    s->client)) > BACKEND_LINE_MAX) {
				backend_fail(s, "backend sent too much "
				    "during login");
				return -1;
			}
			if (session_send_line(s, line, len) == -1)
				return -1;
			return 0;
		}
		backend_fail(s, "unexpected line from backend during login");
		return -1;
	}
	return 0;
}

void
imap_backend_tls_up(struct session *s)
{
	s->bcaps = BSTEP_TLS | (s->bcaps & BSTEP_ID);
	/* Implicit TLS: now the greeting; STARTTLS: the capabilities
	 * again (RFC 3501 §6.2.1). */
	if (route_opts(s)->tls == CONF_BTLS_IMPLICIT)
		s->bwait = BWAIT_GREETING;
	else
		advance(s);
}
