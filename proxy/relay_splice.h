/*
 * Bulk IMAP literals (FETCH BODY[] of a large message) relayed in the
 * kernel: splice(2) from the backend's socket through a pipe into the
 * client's, so the bytes never enter user space.  Only when both legs
 * are plaintext, both user-space buffers are empty and no kick waits;
 * only the literal's bytes, whose count the boundary scanner knows, so
 * it stays exact (kick.h) without seeing them.  The pipe exists only
 * while a literal is being spliced: an idle session holds none.
 */
#ifndef FERRY_RELAY_SPLICE_H
#define FERRY_RELAY_SPLICE_H

struct bufferevent;
struct relay_splice;
struct session;

/* After backend bytes were relayed: splice the rest of the current
 * literal if it is worth it.  1 if splicing (the backend's bufferevent
 * is not read until it ends, then relay_resume() takes over), 0 if not. */
int	relay_splice_try(struct session *);
/* For session_close(): stop and free; NULLs the pointer. */
void	relay_splice_free(struct relay_splice **);

#endif
