/*
 * What a session needs from its protocol engine (IMAP, POP3,
 * ManageSieve).  The listener's protocol picks the table; session.c,
 * route.c and login.c call through it and never name a protocol.
 */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <stddef.h>

struct mailhost;
struct session;

/* Why a login did not happen: the answer differs, and only the first
 * kind is delayed and counted against the client. */
enum login_failure {
	LOGIN_FAIL_AUTH,	/* unknown user or bad credentials */
	LOGIN_FAIL_UNAVAILABLE,	/* LDAP or the backend is down */
};

struct proto_ops {
	const char	*name;		/* "imap": logs and ferryctl */
	/* The greeting (after the handshake on an implicit-TLS port). */
	void		(*start)(struct session *);
	/* The client's TLS handshake (implicit or STARTTLS) completed;
	 * session.c has set client_tls and SESS_PREAUTH. */
	void		(*tls_done)(struct session *);
	/* Client bytes arrived in SESS_PREAUTH. */
	void		(*read)(struct session *);
	/* The most a client may have buffered (pipelined) while its
	 * login is in progress; session.c closes it beyond. */
	size_t		(*input_max)(struct session *);
	/* The pre-auth inactivity timer fired. */
	void		(*timeout)(struct session *);
	/* The timer fired in SESS_LOOKUP or SESS_AUTH_DELAY. */
	void		(*timer)(struct session *);
	/* The lookup found the backend: connect and log in there. */
	void		(*backend_start)(struct session *,
			    const struct mailhost *);
	/* The connect or backend-login timer fired. */
	void		(*backend_timeout)(struct session *);
	/* One line from the backend during the login; -1 if the login
	 * ended (failed or succeeded) and reading must stop. */
	int		(*backend_line)(struct session *, char *line,
			    size_t len);
	/* The TLS handshake with the backend completed. */
	void		(*backend_tls_up)(struct session *);
	/* The login failed; backend_text (may be NULL) is the backend's
	 * own answer to pass on.  -1 if the session closed. */
	int		(*login_failed)(struct session *, enum login_failure,
			    const char *why, const char *backend_text);
	/*
	 * For login.c: answer the pending login with a failure (the
	 * delayed AUTH answer, or UNAVAILABLE with the backend's text when
	 * not NULL).  -1 if the session closed.
	 */
	int		(*answer_failure)(struct session *,
			    enum login_failure, const char *backend_text);
	/* Last words before ferry closes the connection (shutdown). */
	int		(*goodbye)(struct session *, const char *text);
	/* For login.c: send a SASL challenge (base64). */
	int		(*sasl_challenge)(struct session *, const char *b64);
};

extern const struct proto_ops	imap_proto;
extern const struct proto_ops	pop3_proto;
extern const struct proto_ops	sieve_proto;

#endif
