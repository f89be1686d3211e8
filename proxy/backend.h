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

/* Start connecting s->backend to host (port or default_port).  Calls
 * exactly one of the callbacks later; the caller arms the timeout.
 * Returns -1 (after calling nothing) if it could not even start. */
int	backend_connect(struct session *, const struct mailhost *,
	    uint16_t default_port, backend_connected_cb *,
	    backend_failed_cb *);

/* One line from the backend (CRLF stripped, NUL-terminated): -1 when
 * the login ended (the session may have closed). */
typedef int	backend_line_cb(struct session *, char *line, size_t len);
/* The TLS handshake with the backend completed. */
typedef void	backend_tls_up_cb(struct session *);
/* The protocol's bufferevent callbacks, which call the helpers below. */
typedef void	backend_bev_read_cb(struct bufferevent *, void *);
typedef void	backend_bev_event_cb(struct bufferevent *, short, void *);

/* SESS_BACKEND_CONNECT: connect to mh (port, or default_port) with the
 * route's connect timeout; connected is called once it is up. */
void	backend_start(struct session *, const struct mailhost *,
	    uint16_t default_port, backend_connected_cb *);
/* The connection is up: SESS_BACKEND_LOGIN with the login timeout,
 * wait for the greeting, and start TLS first on an implicit-TLS
 * route. */
void	backend_up(struct session *, backend_bev_read_cb *,
	    backend_bev_event_cb *);
/* Wrap s->backend in TLS; bwait is BWAIT_TLS until the event callback
 * sees the handshake.  -1 if the session's login failed. */
int	backend_start_tls(struct session *, backend_bev_read_cb *,
	    backend_bev_event_cb *);
/* Send cmd (may hold a secret: wiped once sent) and wait for wait.
 * -1 if the session's login failed. */
int	backend_send(struct session *, enum backend_wait,
	    const char *cmd);
/* The backend's read callback: lines to on_line while the login runs;
 * a line longer than the bound fails the login. */
void	backend_read_lines(struct session *, struct bufferevent *,
	    backend_line_cb *on_line);
/* The backend's event callback: the end of the TLS handshake (tls_up
 * on success), or the connection lost during the login. */
void	backend_event(struct session *, struct bufferevent *,
	    short what, backend_tls_up_cb *tls_up);
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
