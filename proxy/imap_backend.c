/* IMAP login on the backend; see imap_backend.h. */
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
#include "proxy/imap.h"
#include "proxy/imap_backend.h"
#include "proxy/imap_parse.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"

#define BACKEND_LINE_MAX	65536	/* a greeting or answer line */
#define TAG_PREFIX		IMAP_BACKEND_TAG " "

static void	backend_connected(struct session *);
static void	backend_failed(struct session *, const char *);

void
imap_backend_start(struct session *s, const struct mailhost *mh)
{
	const struct conf_backend_defaults *bd = &s->worker->conf->backend;

	session_set_state(s, SESS_BACKEND_CONNECT);
	session_timer(s, bd->connect_timeout_ms);
	if (backend_connect(s, mh, (uint16_t)bd->imap_port,
	    backend_connected, backend_failed) == -1)
		imap_login_failed(s, IMAP_FAIL_UNAVAILABLE,
		    "cannot start backend connection", NULL);
}

static void
backend_failed(struct session *s, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "%.200s (%s)", why, s->backend_addr);
	imap_login_failed(s, IMAP_FAIL_UNAVAILABLE, msg, NULL);
}

void
imap_backend_timeout(struct session *s)
{
	backend_failed(s, s->state == SESS_BACKEND_CONNECT ?
	    "backend connect timed out" : "backend login timed out");
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
	const char	*args[2] = { s->user, s->password };
	struct piece	 p;
	char		 num[32];
	size_t		 size, alen, i;
	int		 n;

	size = strlen(s->user) * 2 + strlen(s->password) * 2 + 96;
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

	if (bufferevent_write(s->backend, s->login_pieces[i],
	    s->login_piece_len[i]) == -1)
		return -1;
	s->bwait = s->next_piece < s->npieces ? BWAIT_CONTINUATION :
	    BWAIT_TAGGED;
	return 0;
}

/* Does the greeting's [CAPABILITY ...] code list cap? */
static int
greeting_has_cap(const char *line, const char *cap)
{
	const char	*p, *end;
	size_t		 clen = strlen(cap);

	if ((p = strstr(line, "[CAPABILITY ")) == NULL)
		return 0;
	if ((end = strchr(p, ']')) == NULL)
		return 0;
	for (p += strlen("[CAPABILITY"); p < end; p++) {
		if (*p == ' ' && (size_t)(end - p - 1) >= clen &&
		    strncasecmp(p + 1, cap, clen) == 0 &&
		    (p[1 + clen] == ' ' || p[1 + clen] == ']'))
			return 1;
	}
	return 0;
}

static int
on_greeting(struct session *s, const char *line)
{
	if (strncasecmp(line, "* OK", 4) != 0) {
		backend_failed(s, strncasecmp(line, "* BYE", 5) == 0 ?
		    "backend refused the connection" :
		    "unexpected backend greeting");
		return -1;
	}
	if (build_login(s, greeting_has_cap(line, "LITERAL+")) == -1 ||
	    send_next_piece(s) == -1) {
		backend_failed(s, "out of memory");
		return -1;
	}
	return 0;
}

static int
on_tagged(struct session *s, const char *line, size_t len)
{
	const char	*answer = line + strlen(TAG_PREFIX);
	size_t		 alen = len - strlen(TAG_PREFIX);

	if (strncasecmp(answer, "OK", 2) == 0 &&
	    (answer[2] == ' ' || answer[2] == '\0'))
		return imap_login_succeeded(s, answer, alen);
	if (strncasecmp(answer, "NO ", 3) == 0) {
		/* Bad credentials look the same as an unknown user; any
		 * other response code (RFC 5530) is the backend's to tell. */
		if (answer[3] != '[' ||
		    strncasecmp(answer + 3, "[AUTHENTICATIONFAILED]", 22) == 0)
			return imap_login_failed(s, IMAP_FAIL_AUTH,
			    "backend refused the credentials", NULL);
		return imap_login_failed(s, IMAP_FAIL_UNAVAILABLE,
		    "backend refused the login", answer);
	}
	backend_failed(s, "backend rejected ferry's LOGIN command");
	return -1;
}

static int
on_line(struct session *s, char *line, size_t len)
{
	switch (s->bwait) {
	case BWAIT_GREETING:
		return on_greeting(s, line);
	case BWAIT_CONTINUATION:
		if (line[0] == '+') {
			if (send_next_piece(s) == -1) {
				backend_failed(s, "out of memory");
				return -1;
			}
			return 0;
		}
		/* FALLTHROUGH */
	case BWAIT_TAGGED:
		if (strncmp(line, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
			return on_tagged(s, line, len);
		if (strncasecmp(line, "* BYE", 5) == 0) {
			backend_failed(s, "backend said BYE during login");
			return -1;
		}
		/* Untagged data during login is the client's to see. */
		if (line[0] == '*') {
			if (session_send(s, line, len) == -1 ||
			    session_send(s, "\r\n", 2) == -1)
				return -1;
			return 0;
		}
		backend_failed(s, "unexpected line from backend during login");
		return -1;
	}
	return 0;
}

static void
backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	int		 r;

	while (s->state == SESS_BACKEND_LOGIN && !s->closed) {
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

	backend_failed(s, (what & BEV_EVENT_EOF) ?
	    "backend closed the connection during login" :
	    "backend connection error during login");
}

static void
backend_connected(struct session *s)
{
	const struct conf_backend_defaults *bd = &s->worker->conf->backend;

	session_set_state(s, SESS_BACKEND_LOGIN);
	session_timer(s, bd->login_timeout_ms);
	s->bwait = BWAIT_GREETING;
	bufferevent_setcb(s->backend, backend_read_cb, NULL,
	    backend_login_event_cb, s);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
}
