/*
 * ManageSieve backend side of a login: connect, read the capabilities
 * and OK, [STARTTLS and the capabilities again], AUTHENTICATE "PLAIN"
 * (or the client's OAuth mechanism) with an initial response; the
 * backend's answer goes to the client as it is.
 */
#ifndef FERRY_SIEVE_BACKEND_H
#define FERRY_SIEVE_BACKEND_H

struct session;
struct mailhost;

void	sieve_backend_start(struct session *, const struct mailhost *);

#endif
