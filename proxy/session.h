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
#include "proxy/imap_parse.h"

struct bufferevent;
struct event;
struct lookup_req;
struct worker;

enum session_state {
	SESS_PREAUTH,		/* reading pre-auth commands */
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
};

#define SESSION_LOGIN_PIECES	5

struct session {
	TAILQ_ENTRY(session)	 entry;
	struct worker		*worker;
	uint64_t		 id;
	enum session_state	 state;
	int			 closed;

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
	struct lookup_req	*lookup;
	int			 failure_is_auth; /* delayed answer kind */

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
	const char		*end_reason;
};

/* Accept fd from a listener.  Refuses (closes fd) on failure. */
void		 session_accept(struct worker *, int fd,
		    const struct sockaddr *, socklen_t);
void		 session_set_state(struct session *, enum session_state);
const char	*session_state_name(enum session_state);
/* Arm (or with ms < 0, stop) the session's single timer. */
void		 session_timer(struct session *, int ms);
/* Write s to the client.  -1 if the session closed. */
int		 session_send(struct session *, const char *, size_t);
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
/* Forget the credentials (after the backend login, or on failure). */
void		 session_forget_credentials(struct session *);

#endif
