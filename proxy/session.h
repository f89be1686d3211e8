/*
 * One client connection, from accept to the summary log line.
 *
 * Every state change goes through session_set_state(); the only way out
 * is session_close() (or session_close_after_flush() to let a last
 * answer reach the client).  After calling anything that can close the
 * session, return at once: such functions return -1 when it closed.
 * The struct itself is freed on a later loop turn (worker reap).
 */
#ifndef FERRY_SESSION_H
#define FERRY_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "lookup/mailhost.h"
#include "proxy/imap_boundary.h"
#include "proxy/imap_parse.h"

struct bufferevent;
struct client_addr;
struct conf;
struct conf_backend;
struct conf_listen;
struct event;
struct worker_lookup;
struct proto_ops;
struct tls;
struct worker;

enum session_state {
	SESS_PREAUTH,		/* reading pre-auth commands */
	SESS_TLS_HANDSHAKE,	/* imaps, or after STARTTLS */
	SESS_LOOKUP,		/* waiting for the user's backend */
	SESS_AUTH_DELAY,	/* holding back a failed-login answer */
	SESS_BACKEND_CONNECT,	/* connecting to the backend */
	SESS_BACKEND_LOGIN,	/* greeting and login on the backend */
	SESS_RELAY,		/* logged in: bytes both ways */
	SESS_CLOSING,		/* flushing a last answer, then close */
	SESS_STATE_COUNT
};

/* What the backend login dialogue is waiting for. */
enum backend_wait {
	BWAIT_GREETING,
	BWAIT_CONTINUATION,	/* "+" for a synchronizing literal */
	BWAIT_TAGGED,		/* the tagged answer to LOGIN */
	BWAIT_CAPABILITY,	/* the answer to ferry's CAPABILITY */
	BWAIT_STARTTLS,		/* the answer to ferry's STARTTLS */
	BWAIT_TLS,		/* TLS handshake with the backend */
	BWAIT_ID,		/* the answer to ferry's ID */
};

#define SESSION_LOGIN_PIECES	5

struct session {
	TAILQ_ENTRY(session)	 entry;
	struct worker		*worker;
	struct conf		*conf;		/* snapshot, kept across reloads */
	struct tls		*tls;		/* the same: a reference */
	struct client_addr	*peer;		/* per-address limits */
	uint64_t		 id;
	enum session_state	 state;
	int			 closed;
	const struct proto_ops	*proto;		/* the listener's protocol */

	struct bufferevent	*client;
	struct bufferevent	*backend;
	struct event		*timer;		/* the current state's wait */
	char			 client_addr[64];
	char			 backend_addr[MAILHOST_HOST_MAX + 16];

	/* Pre-auth. */
	char			 tag[IMAP_TAG_MAX + 1];	/* pending LOGIN */
	size_t			 continuations;	/* "+" sent this command */
	int			 auth_failures;
	int			 bad_commands;
	char			*user;
	char			*password;	/* secret: wiped when done */
	struct worker_lookup	*lookup;

	/* The lookup's answer (route.c). */
	char			*backend_user;	/* NULL: user */
	const struct conf_backend *route_backend; /* in conf; or NULL */
	struct mailhost		 route;
	int			 route_cached;	/* may be stale */
	int			 route_healed;	/* looked up again once */

	/* TLS and SASL (tls.c, sasl.c). */
	int			 implicit_tls;	/* accepted on imaps */
	int			 starttls;	/* enum conf_starttls */
	int			 trusted;	/* from trusted-networks */
	int			 user_given;	/* POP3: USER before PASS */
	int			 client_tls;	/* TLS is up with the client */
	int			 auth_mech;	/* enum sasl_mech, -1: LOGIN */
	int			 sasl_step;	/* AUTHENTICATE lines awaited */
	char			*master_user;	/* PLAIN authcid != authzid */
	char			*client_id;	/* the client's ID, to forward */
	unsigned int		 bcaps;		/* backend's capabilities */

	/* Backend connect outcome (backend.c). */
	void			(*backend_connected)(struct session *);
	void			(*backend_failed)(struct session *,
				    const char *);

	/* Backend login: the LOGIN command split at sync literals. */
	enum backend_wait	 bwait;
	char			*login_pieces[SESSION_LOGIN_PIECES];
	size_t			 login_piece_len[SESSION_LOGIN_PIECES];
	size_t			 npieces, next_piece;

	/* Relay. */
	uint64_t		 bytes_in;	/* client to backend */
	uint64_t		 bytes_out;	/* backend to client */
	uint64_t		 start_ms;
	uint64_t		 last_active_ms;
	uint64_t		 wait_start_us;	/* lookup or connect: latency */
	const char		*end_reason;

	/* Closing on purpose (kick.c); where the backend's responses end. */
	struct kick		*kick;
	struct relay_splice	*splice;	/* a literal in the kernel */
	struct imap_boundary	 bscan;
};

/* Accept fd from a listener, which has taken its place in the hub's
 * session count and in peer (listener_limits()); both are the session's
 * now.  Refuses (closes fd, gives both back) on failure. */
void		 session_accept(struct worker *, int fd,
		    const struct sockaddr *, socklen_t,
		    const struct conf_listen *, struct client_addr *peer);
void		 session_set_state(struct session *, enum session_state);
const char	*session_state_name(enum session_state);
/* bufferevent_enable(EV_READ | EV_WRITE) without arming the write
 * event of a plain socket for nothing. */
void		 session_enable_rw(struct bufferevent *);
void		 session_plain_read(struct bufferevent *);
/* The descriptor of a bufferevent session_plain_read() took, else -1. */
int		 session_plain_fd(struct bufferevent *);
/* Arm (or with ms < 0, stop) the session's single timer. */
void		 session_timer(struct session *, int ms);
/* The pre-auth timer: what is left of limits.preauth-timeout.  Set on
 * every way into SESS_PREAUTH (greeting, TLS up, back from a failed
 * login); it counts from the accept, so commands do not set it again
 * (an event_add() each, 280 instructions, callgrind). */
void		 session_preauth_timer(struct session *);
/* Write s to the client.  -1 if the session closed. */
int		 session_send(struct session *, const char *, size_t);
/* line and CRLF, in one write.  -1 if the session closed. */
int		 session_send_line(struct session *, const char *, size_t);
int		 session_sendf(struct session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* Close now, dropping anything unsent.  Always returns -1. */
int		 session_close(struct session *, const char *reason);
/* Stop reading; close once the client has everything.  Returns -1. */
int		 session_close_after_flush(struct session *,
		    const char *reason);
/* worker_free's shortcut: close without waiting. */
void		 session_close_now(struct session *, const char *reason);
/* Release the struct; called by the worker's reap. */
void		 session_free(struct session *);
/* A failed login (bad user or password): counts toward the client
 * address's back-off. */
void		 session_auth_failed(struct session *);
/* May the client start TLS now (not yet TLS, allowed, and configured)? */
int		 session_starttls_offered(struct session *);
/* STARTTLS, once "OK Begin TLS" is queued: drop the unread client input,
 * put TLS on the connection and wait for the handshake.  -1 if closed. */
int		 session_starttls(struct session *);
/* The address the client connected to ("1.2.3.4:143"), or "". */
void		 session_local_addr(struct session *, char *, size_t);
/* Forget the credentials (after the backend login, or on failure). */
void		 session_forget_credentials(struct session *);
/* Pre-auth input holds passwords: these wipe what libevent would free
 * or copy uncleared (evbuffer_drain, evbuffer_pullup). */
struct evbuffer;
void		 session_wipe_drain(struct evbuffer *, size_t);
unsigned char	*session_pullup(struct evbuffer *);
char		*session_readln(struct evbuffer *, size_t *);
/* bufferevent_write of credentials: wiped once libevent is done. */
struct bufferevent;
int		 session_write_secret(struct bufferevent *, const void *,
		    size_t);

#endif
