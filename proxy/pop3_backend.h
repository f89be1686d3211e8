/*
 * POP3 backend side of a login: connect, read the greeting, [STLS],
 * CAPA, [XCLIENT with the client's address], then AUTH PLAIN (or the
 * client's OAuth mechanism) when the backend offers SASL, else USER and
 * PASS; the backend's answer goes to the client as it is.
 */
#ifndef FERRY_POP3_BACKEND_H
#define FERRY_POP3_BACKEND_H

#include <stddef.h>

struct session;
struct mailhost;

void	pop3_backend_start(struct session *, const struct mailhost *);
/* proto_ops hooks: a backend line during the login (-1 once the login
 * ended), and the end of the TLS handshake with the backend. */
int	pop3_backend_line(struct session *, char *, size_t);
void	pop3_backend_tls_up(struct session *);

#endif
