/*
 * Connecting to a backend mail server: name resolution through evdns
 * (never blocking the loop), a connect timeout, and failure callbacks.
 * Then what the three login dialogues (imap_backend.c, pop3_backend.c,
 * sieve_backend.c) share: the route's timers, reading the backend's
 * lines with a bound, starting TLS with it, and mapping its failures
 * onto login.c's answers.  What to send and how to read each line stay
 * per protocol.
 */
#ifndef FERRY_BACKEND_H
#define FERRY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/sasl.h"		/* enum sasl_mech */
#include "proxy/session.h"	/* enum backend_wait */

struct bufferevent;
struct mailhost;

typedef void	backend_connected_cb(struct session *);
typedef void	backend_failed_cb(struct session *, const char *why);

/* SESS_BACKEND_CONNECT: connect to mh (port, or default_port) with the
 * route's connect timeout; connected is called once it is up.  If that
 * address is marked down (route_down()), the login fails at once. */
void	backend_start(struct session *, const struct mailhost *,
	    uint16_t default_port, backend_connected_cb *);
/* The connection is up: SESS_BACKEND_LOGIN with the login timeout,
 * wait for the greeting, and start TLS first on an implicit-TLS
 * route.  Lines go to s->proto->backend_line (a line longer than the
 * bound fails the login); a completed handshake to backend_tls_up. */
void	backend_up(struct session *);
/* Wrap s->backend in TLS; bwait is BWAIT_TLS until the event callback
 * sees the handshake.  -1 if the session's login failed. */
int	backend_start_tls(struct session *);
/* Send cmd (may hold a secret: wiped once sent) and wait for wait.
 * -1 if the session's login failed. */
int	backend_send(struct session *, enum backend_wait,
	    const char *cmd);
/* The login failed on ferry's side of the backend (why is logged, the
 * client is told the server is unavailable).  Before the connect
 * succeeded, later logins fail fast for a while. */
void	backend_fail(struct session *, const char *why);
/* The connect or login timer fired (proto_ops.backend_timeout). */
void	backend_timeout(struct session *);
/* The client's credentials as the SASL response for mech (base64),
 * logging in as the routed user, or as the master user for it; NULL
 * without memory.  Free with sasl_wipe_free(). */
char	*backend_sasl_response(struct session *, enum sasl_mech);
/* The backend refused the login: about the credentials (credentials
 * != 0) heals a stale cached route or fails like a bad password; else
 * text, the backend's own answer, goes to the client.  -1 if the
 * session's login ended. */
int	backend_refused(struct session *, int credentials,
	    const char *text);

#endif
