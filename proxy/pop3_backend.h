/*
 * POP3 backend side of a login: connect, read the greeting, [STLS],
 * CAPA, [XCLIENT with the client's address], then AUTH PLAIN (or the
 * client's OAuth mechanism) when the backend offers SASL, else USER and
 * PASS; the backend's answer goes to the client as it is.
 */
#ifndef FERRY_POP3_BACKEND_H
#define FERRY_POP3_BACKEND_H

struct session;
struct mailhost;

void	pop3_backend_start(struct session *, const struct mailhost *);

#endif
