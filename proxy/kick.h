/*
 * Closing a logged-in session on purpose (the user's mailbox moved, or
 * ferryctl kick) without cutting a response in half.
 *
 * After the grace time the session stops forwarding the client's
 * commands (nothing more reaches the old server), and "* BYE
 * [UNAVAILABLE] text" is written at the next response boundary of the
 * backend's stream (relay.c scans it with imap_boundary.c): at once when
 * idle or in IDLE, else after the response being relayed.  If no
 * boundary comes within KICK_DEADLINE_MS the connection is closed
 * without a BYE.  A session not relaying yet gets the BYE at once: ferry
 * itself has written only whole lines to it.  POP3 and ManageSieve
 * sessions get no BYE (their protocols have none to send unasked): they
 * are closed once the backend has answered the last forwarded command,
 * quiet at a line start.
 */
#ifndef FERRY_KICK_H
#define FERRY_KICK_H

#include <stddef.h>

#define KICK_DEADLINE_MS	10000

struct evbuffer;
struct session;
struct kick;

/* reason must be a string constant (it ends up in the summary line);
 * bye is the BYE's text.  A second kick of a kicked session is ignored.
 * -1 if the session closed already. */
int	session_kick_after(struct session *, const char *reason,
	    const char *bye, int grace_ms);
/* Kick now with a generic text. */
int	session_kick(struct session *, const char *reason);
/* Is the session's backend the one mailhost ("host[:port]") names,
 * directly or through a configured backend block? */
int	session_backend_is(const struct session *, const char *mailhost);

/* For relay.c: how many of in's bytes (from the backend) may go to the
 * client now; everything unless a kick waits for a boundary. */
size_t	kick_scan(struct session *, struct evbuffer *in);
/* The same for backend bytes relay.c read into buf itself. */
size_t	kick_scan_buf(struct session *, const char *buf, size_t len);
/* For relay.c: hold back client bytes while kicking. */
int	kick_holding(const struct session *);
/* For relay.c, after moving kick_scan()'s bytes: write the BYE and
 * close if a kick is waiting and the stream is at a boundary.  -1 if
 * the session is closing. */
int	kick_check(struct session *);
/* For session_close(). */
void	kick_free(struct kick **);

#endif
