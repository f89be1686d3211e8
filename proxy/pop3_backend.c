/* POP3 login on the backend; see pop3_backend.h. */
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
#include "proxy/pop3_backend.h"
#include "proxy/route.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"

#define POP3_CMD_LINE_MAX	255	/* RFC 2449 section 4, with CRLF */

/* How far the dialogue has come (CAPA's bits are in backend_caps.h). */
#define PCAP_LISTING		0x0040	/* inside CAPA's answer */
#define PCAP_KNOWN		0x0100	/* CAPA has been answered */
#define PSTEP_TLS		0x1000	/* TLS is up with the backend */
#define PSTEP_XCLIENT		0x2000	/* XCLIENT was sent */
#define PCAP_MASK		0x0fff

static void	backend_connected(struct session *);

static uint16_t
pop3_port(const struct conf_backend_defaults *bd)
{
	return (uint16_t)(bd->tls == CONF_BTLS_IMPLICIT ? bd->pop3s_port :
	    bd->pop3_port);
}

void
pop3_backend_start(struct session *s, const struct mailhost *mh)
{
	struct mailhost	 m = *mh;

	/* A mailHost port is the IMAP port: POP3 has its own. */
	m.port = 0;
	backend_start(s, &m, pop3_port(route_opts(s)), backend_connected);
}

/* The login as pieces, a + b + c each: every piece after the
 * backend's go-ahead for the one before. */
static int
push_piece(struct session *s, char *p)
{
	if (s->npieces == SESSION_LOGIN_PIECES)
		return -1;
	s->login_pieces[s->npieces] = p;
	s->login_piece_len[s->npieces] = strlen(p);
	s->npieces++;
	return 0;
}

/* strjoin(), not asprintf(): 1,600 instructions a piece (callgrind). */
static int
add_piece(struct session *s, const char *a, const char *b, const char *c)
{
	char	*p;

	if ((p = strjoin(NULL, a, b, c, (char *)NULL)) == NULL)
		return -1;
	if (push_piece(s, p) == -1) {
		sasl_wipe_free(&p);
		return -1;
	}
	return 0;
}

static int
send_next_piece(struct session *s)
{
	size_t	i = s->next_piece++;

	if (session_write_secret(s->backend, s->login_pieces[i],
	    s->login_piece_len[i]) == -1) {
		backend_fail(s, "out of memory");
		return -1;
	}
	s->bwait = s->next_piece < s->npieces ? BWAIT_CONTINUATION :
	    BWAIT_TAGGED;
	return 0;
}

/* RFC 5034: AUTH mech [initial-response], the response alone when the
 * line would pass 255 octets. */
static int
build_auth(struct session *s, enum sasl_mech mech)
{
	const char	*name = sasl_mech_name(mech);
	char		*resp, *line;
	int		 r;

	if ((resp = backend_sasl_response(s, mech)) == NULL)
		return -1;
	if (strlen("AUTH  \r\n") + strlen(name) + strlen(resp) <=
	    POP3_CMD_LINE_MAX) {
		if ((line = strjoin(NULL, "AUTH ", name, " ", resp, "\r\n",
		    (char *)NULL)) == NULL)
			r = -1;
		else if ((r = push_piece(s, line)) == -1)
			sasl_wipe_free(&line);
	} else
		r = add_piece(s, "AUTH ", name, "\r\n") == -1 ||
		    add_piece(s, resp, "\r\n", "") == -1 ? -1 : 0;
	sasl_wipe_free(&resp);
	return r;
}

static int
has_crlf(const char *p)
{
	return strpbrk(p, "\r\n") != NULL;
}

static int
send_login(struct session *s)
{
	int	mech = s->auth_mech;

	if (mech >= 0 && sasl_mech_is_oauth((enum sasl_mech)mech)) {
		if (!(s->bcaps & (mech == SASL_XOAUTH2 ? PCAP_XOAUTH2 :
		    PCAP_OAUTHBEARER))) {
			backend_fail(s, "backend does not offer the client's "
			    "OAuth mechanism");
			return -1;
		}
		if (build_auth(s, (enum sasl_mech)mech) == -1)
			goto nomem;
	} else if (s->bcaps & PCAP_PLAIN) {
		if (build_auth(s, SASL_PLAIN) == -1)
			goto nomem;
	} else {
		if (s->master_user != NULL) {
			backend_fail(s, "backend lacks SASL PLAIN for an "
			    "authzid");
			return -1;
		}
		/* USER and PASS end at the line's end: no way to send CR
		 * or LF (SASL could have carried them). */
		if (has_crlf(route_login_user(s)) || has_crlf(s->password))
			return login_failed(s, LOGIN_FAIL_AUTH, "user name or "
			    "password not sendable with USER/PASS", NULL);
		if (add_piece(s, "USER ", route_login_user(s), "\r\n") ==
		    -1 || add_piece(s, "PASS ", s->password, "\r\n") == -1)
			goto nomem;
	}
	s->next_piece = 0;
	return send_next_piece(s);
nomem:
	backend_fail(s, "out of memory");
	return -1;
}

/* XCLIENT ADDR= PORT= (Dovecot, from trusted networks). */
static int
send_xclient(struct session *s)
{
	char	 addr[sizeof(s->client_addr)], cmd[256], *port;

	snprintf(addr, sizeof(addr), "%s", s->client_addr[0] == '[' ?
	    s->client_addr + 1 : s->client_addr);
	if ((port = strrchr(addr, ':')) == NULL)
		return -1;
	*port++ = '\0';
	if (addr[0] != '\0' && addr[strlen(addr) - 1] == ']')
		addr[strlen(addr) - 1] = '\0';
	snprintf(cmd, sizeof(cmd), "XCLIENT ADDR=%s PORT=%s "
	    "SESSION=ferry-%llu\r\n", addr, port, (unsigned long long)s->id);
	s->bcaps |= PSTEP_XCLIENT;
	return backend_send(s, BWAIT_ID, cmd);
}

/* The next step before the login: TLS, CAPA, XCLIENT, then log in. */
static int
advance(struct session *s)
{
	const struct conf_backend_defaults *bd = route_opts(s);

	if (bd->tls == CONF_BTLS_STARTTLS && !(s->bcaps & PSTEP_TLS)) {
		if (!(s->bcaps & PCAP_KNOWN))
			return backend_send(s, BWAIT_CAPABILITY, "CAPA\r\n");
		if (!(s->bcaps & PCAP_STLS)) {
			backend_fail(s, "backend does not offer STLS");
			return -1;
		}
		return backend_send(s, BWAIT_STARTTLS, "STLS\r\n");
	}
	if (!(s->bcaps & PCAP_KNOWN))
		return backend_send(s, BWAIT_CAPABILITY, "CAPA\r\n");
	if (bd->xclient && (s->bcaps & PCAP_XCLIENT) &&
	    !(s->bcaps & PSTEP_XCLIENT) && send_xclient(s) == 0)
		return 0;
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

static int
is_ok(const char *line)
{
	return strncasecmp(line, "+OK", 3) == 0 &&
	    (line[3] == ' ' || line[3] == '\0');
}

static int
is_err(const char *line)
{
	return strncasecmp(line, "-ERR", 4) == 0 &&
	    (line[4] == ' ' || line[4] == '\0');
}

static int
on_capa(struct session *s, const char *line)
{
	if (!(s->bcaps & PCAP_LISTING)) {
		if (is_ok(line)) {
			s->bcaps |= PCAP_LISTING;
			return 0;
		}
		/* No CAPA (RFC 1939 server): USER and PASS it is. */
		s->bcaps |= PCAP_KNOWN;
		return advance(s);
	}
	if (strcmp(line, ".") == 0) {
		s->bcaps = (s->bcaps & ~PCAP_LISTING) | PCAP_KNOWN;
		return advance(s);
	}
	s->bcaps |= pop3_caps_line(line[0] == '.' ? line + 1 : line);
	return 0;
}

/* The backend's final answer to the login. */
static int
on_answer(struct session *s, const char *line, size_t len)
{
	if (is_ok(line))
		return login_succeeded(s, line, len);
	if (!is_err(line)) {
		backend_fail(s, "unexpected answer from backend to the "
		    "login");
		return -1;
	}
	/* RFC 3206: [AUTH], or no code at all, is about the credentials;
	 * [SYS/TEMP], [IN-USE], [LOGIN-DELAY] ... are the backend's to
	 * tell the client. */
	return backend_refused(s, strncmp(line + 4, " [", 2) != 0 ||
	    strncasecmp(line + 4, " [AUTH]", 7) == 0, line);
}

int
pop3_backend_line(struct session *s, char *line, size_t len)
{
	switch (s->bwait) {
	case BWAIT_GREETING:
		if (!is_ok(line)) {
			backend_fail(s, is_err(line) ?
			    "backend refused the connection" :
			    "unexpected backend greeting");
			return -1;
		}
		/* Dovecot says it trusts ferry in its greeting's code. */
		if (strstr(line, "[XCLIENT]") != NULL)
			s->bcaps |= PCAP_XCLIENT;
		return advance(s);
	case BWAIT_TLS:
		backend_fail(s, "backend sent data during the TLS handshake");
		return -1;
	case BWAIT_CAPABILITY:
		return on_capa(s, line);
	case BWAIT_STARTTLS:
		if (!is_ok(line)) {
			backend_fail(s, "backend refused STLS");
			return -1;
		}
		return start_tls(s);
	case BWAIT_ID:
		/* A backend that does not trust ferry still takes the
		 * login; the client's address is then ferry's. */
		if (!is_ok(line))
			log_debug("session=%llu backend refused XCLIENT",
			    (unsigned long long)s->id);
		return advance(s);
	case BWAIT_CONTINUATION:
		/* "+OK" to USER, "+ " to an AUTH without initial response */
		if (is_ok(line) || line[0] == '+')
			return send_next_piece(s);
		return on_answer(s, line, len);
	case BWAIT_TAGGED:
		if (line[0] == '+' && !is_ok(line) && s->auth_mech >= 0 &&
		    sasl_mech_is_oauth((enum sasl_mech)s->auth_mech)) {
			/* RFC 7628 section 3.2.2: an error challenge; answer
			 * ^A and the -ERR follows. */
			if (bufferevent_write(s->backend, "AQ==\r\n", 6) ==
			    -1) {
				backend_fail(s, "out of memory");
				return -1;
			}
			return 0;
		}
		return on_answer(s, line, len);
	}
	return 0;
}

void
pop3_backend_tls_up(struct session *s)
{
	s->bcaps = PSTEP_TLS | (s->bcaps & PCAP_XCLIENT);
	/* Implicit TLS: now the greeting; STLS: CAPA again (RFC 2595
	 * section 4). */
	if (route_opts(s)->tls == CONF_BTLS_IMPLICIT)
		s->bwait = BWAIT_GREETING;
	else
		advance(s);
}

static void
backend_connected(struct session *s)
{
	s->npieces = s->next_piece = 0;
	backend_up(s);
}
