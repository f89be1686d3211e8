/*
 * IMAP client side before login: greeting, the pre-auth command table,
 * LOGIN, and the answers a client gets when a login fails.
 */
#ifndef FERRY_IMAP_H
#define FERRY_IMAP_H

#include <stddef.h>

struct session;

enum imap_failure {
	IMAP_FAIL_AUTH,		/* unknown user or bad password: delayed */
	IMAP_FAIL_UNAVAILABLE,	/* LDAP or backend down: at once */
};

void	imap_client_start(struct session *);
/* The client's TLS handshake (imaps or STARTTLS) completed. */
void	imap_client_tls_done(struct session *);
/* Client bytes arrived in SESS_PREAUTH. */
void	imap_client_read(struct session *);
/* Client bytes arrived while a login is in progress. */
void	imap_client_read_waiting(struct session *);
/* The pre-auth inactivity timer fired. */
void	imap_client_timeout(struct session *);
/* The timer fired in SESS_LOOKUP or SESS_AUTH_DELAY. */
void	imap_client_timer(struct session *);

/* The login failed: answer the pending LOGIN.  backend_text, when not
 * NULL, is the backend's own "NO [CODE] text" to pass on.  Returns -1
 * if the session closed. */
int	imap_login_failed(struct session *, enum imap_failure,
	    const char *why, const char *backend_text);
/* The backend accepted the login; ok_line is its tagged answer without
 * the tag ("OK [CAPABILITY ...] Logged in").  Starts the relay. */
int	imap_login_succeeded(struct session *, const char *ok_line,
	    size_t len);

/* Between imap.c and imap_auth.c (AUTHENTICATE). */
struct imap_command;
int	imap_cmd_authenticate(struct session *, struct imap_command *);
/* Read one AUTHENTICATE response line: 1 if more input is needed. */
int	imap_auth_read(struct session *);
/* May the client log in now (TLS, trusted network, or not required)? */
int	imap_login_allowed(struct session *);
/* s->user and s->password are set: look the user up and log in. */
int	imap_login_begin(struct session *);
/* Count a bad command; -1 if that closed the session. */
int	imap_count_bad(struct session *);

#endif
