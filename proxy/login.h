/*
 * The protocol-neutral middle of a login: look the user up, hand the
 * route to the protocol's backend dialogue, and answer failures the
 * same way for every protocol (the same delay for unknown users and bad
 * passwords, a limit on failures, then back to pre-auth).  The words
 * the client sees come from the session's proto_ops.
 */
#ifndef FERRY_LOGIN_H
#define FERRY_LOGIN_H

#include <stddef.h>

#include "proxy/proto.h"

struct session;

/* May the client log in now (TLS, trusted network, or not required)? */
int	login_allowed(struct session *);
/* A user name LDAP could hold: no controls, not too long. */
int	login_valid_user(const char *, size_t);
/* s->user and s->password are set: look the user up and log in.
 * -1 if the session closed. */
int	login_begin(struct session *);
/* See proto_ops.login_failed. */
int	login_failed(struct session *, enum login_failure, const char *why,
	    const char *backend_text);
/* The timer fired in SESS_LOOKUP or SESS_AUTH_DELAY. */
void	login_timer(struct session *);
/* The backend accepted: log it, send line (CRLF added) to the client
 * and start the relay.  -1 if the session closed. */
int	login_succeeded(struct session *, const char *line, size_t len);
/*
 * One SASL client response (base64; "=" is empty) for the mechanism in
 * s->auth_mech at step s->sasl_step (1 first).  Decodes it (sasl.c),
 * asks for LOGIN's password through proto->sasl_challenge, and with the
 * credentials complete calls login_begin().  A response that decodes
 * but makes no sense fails like bad credentials.  Returns 0, -1 if the
 * session closed, or 1 if the base64 was invalid (the caller answers).
 */
int	login_sasl_response(struct session *, const char *, size_t);
/* The SASL dialogue ended without a login (canceled, or a response
 * that is not base64): forget the mechanism and what it carried. */
void	login_sasl_abort(struct session *);
/* Back to reading pre-auth commands, with what the client pipelined. */
void	login_back_to_preauth(struct session *);

#endif
