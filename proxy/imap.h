/*
 * IMAP client side before login: greeting, the pre-auth command table,
 * LOGIN, and the answers a client gets when a login fails.  The login
 * itself (lookup, failure delay, relay) is login.c's.
 */
#ifndef FERRY_IMAP_H
#define FERRY_IMAP_H

#include <stddef.h>

struct session;

void	imap_client_start(struct session *);
/* The client's TLS handshake (imaps or STARTTLS) completed. */
void	imap_client_tls_done(struct session *);
/* Client bytes arrived in SESS_PREAUTH. */
void	imap_client_read(struct session *);
/* The pre-auth inactivity timer fired. */
void	imap_client_timeout(struct session *);

/* Between imap.c and imap_auth.c (AUTHENTICATE). */
struct imap_command;
int	imap_cmd_authenticate(struct session *, struct imap_command *);
/* Read one AUTHENTICATE response line: 1 if more input is needed. */
int	imap_auth_read(struct session *);
/* Count a bad command; -1 if that closed the session. */
int	imap_count_bad(struct session *);

#endif
