/*
 * ManageSieve backend side of a login: connect, read the capabilities
 * and OK, [STARTTLS and the capabilities again], AUTHENTICATE "PLAIN"
 * (or the client's OAuth mechanism) with an initial response; the
 * backend's answer goes to the client as it is.
 */
#ifndef FERRY_SIEVE_BACKEND_H
#define FERRY_SIEVE_BACKEND_H

#include <stddef.h>

struct session;
struct mailhost;

void	sieve_backend_start(struct session *, const struct mailhost *);
/* proto_ops hooks: a backend line during the login (-1 once the login
 * ended), and the end of the TLS handshake with the backend. */
int	sieve_backend_line(struct session *, char *, size_t);
void	sieve_backend_tls_up(struct session *);

#endif
