/*
 * Connecting to a backend mail server: name resolution through evdns
 * (never blocking the loop), a connect timeout, and failure callbacks.
 * Protocol-neutral; the IMAP dialogue is in imap_backend.c.
 */
#ifndef FERRY_BACKEND_H
#define FERRY_BACKEND_H

#include <stdint.h>

struct session;
struct mailhost;

typedef void	backend_connected_cb(struct session *);
typedef void	backend_failed_cb(struct session *, const char *why);

/* Start connecting s->backend to host (port or default_port).  Calls
 * exactly one of the callbacks later; the caller arms the timeout.
 * Returns -1 (after calling nothing) if it could not even start. */
int	backend_connect(struct session *, const struct mailhost *,
	    uint16_t default_port, backend_connected_cb *,
	    backend_failed_cb *);

#endif
