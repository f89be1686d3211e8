/*
 * Per-client-address bookkeeping for the limits: how many sessions an
 * address has open, and its recent failed logins.  An address that
 * fails too often is refused for a while (a back-off), so a password
 * guesser cannot simply reconnect after each "* BYE".
 *
 * Pure apart from allocation and a lock (workers share one table):
 * time is passed in.  The port is ignored,
 * IPv4-mapped IPv6 addresses count as IPv4.
 */
#ifndef FERRY_CLIENTS_H
#define FERRY_CLIENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct clients;
struct client_addr;

enum clients_verdict {
	CLIENTS_OK,
	CLIENTS_TOO_MANY,	/* per-client session limit reached */
	CLIENTS_BACKOFF,	/* too many failed logins lately */
};

struct clients	*clients_new(void);
void		 clients_free(struct clients **);
/* May a new connection from sa be accepted now?  If so (CLIENTS_OK) it
 * is counted at once, in *cp (NULL if out of memory: untracked), until
 * clients_detach(). */
enum clients_verdict clients_admit(struct clients *, const struct sockaddr *,
		    int per_client, uint64_t now_ms, struct client_addr **cp);
/* The session closed; *cp is set to NULL and may be freed. */
void		 clients_detach(struct clients *, struct client_addr **,
		    uint64_t now_ms);
/* A failed login.  After max failures within backoff_ms of each other,
 * the address is refused for backoff_ms.  Returns 1 when that starts. */
int		 clients_failed(struct clients *, struct client_addr *,
		    int max, int backoff_ms, uint64_t now_ms);
/* Addresses tracked, and of them refused right now. */
void		 clients_stats(struct clients *, uint64_t now_ms,
		    size_t *tracked, size_t *blocked);

#endif
