/*
 * IMAP ID (RFC 2971) towards the backend: the client's own fields, kept
 * from its pre-auth ID command, plus the x-originating-* fields Dovecot
 * reads from a trusted proxy (login_trusted_networks).
 */
#ifndef FERRY_IMAP_ID_H
#define FERRY_IMAP_ID_H

#include <stddef.h>

struct imap_command;

/*
 * The client's ID list as IMAP text ("k" "v" "k2" NIL ...), or NULL for
 * "ID NIL" or nothing worth sending.  Fields whose name starts with
 * "x-" are dropped: a client must not set its own originating address.
 * Allocated; the caller frees.
 */
char	*imap_id_from_client(const struct imap_command *);

/*
 * "TAG ID (...)\r\n" for the backend: client_id (may be NULL), then,
 * when addresses is set, x-originating-ip/port (the client),
 * x-connected-ip/port (ferry's listening side) and x-session-id.
 * Addresses are "1.2.3.4:5" or "[::1]:5".  Allocated; NULL on failure.
 */
char	*imap_id_command(const char *tag, const char *client_id,
	    int addresses, const char *client_addr, const char *local_addr,
	    const char *session_id);

#endif
