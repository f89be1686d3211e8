/*
 * IMAP backend side of a login: connect, read the greeting, send LOGIN
 * with the client's credentials (quoted, or as literals when they cannot
 * be quoted), and map the backend's tagged answer to the client's tag.
 */
#ifndef FERRY_IMAP_BACKEND_H
#define FERRY_IMAP_BACKEND_H

#include <stddef.h>

struct session;
struct mailhost;

/* The tag ferry uses for its own LOGIN on the backend. */
#define IMAP_BACKEND_TAG	"ferry1"

void	imap_backend_start(struct session *, const struct mailhost *);
/* proto_ops hooks: a backend line during the login (-1 once the login
 * ended), and the end of the TLS handshake with the backend. */
int	imap_backend_line(struct session *, char *, size_t);
void	imap_backend_tls_up(struct session *);

#endif
