/*
 * Listening sockets: bound before privileges are dropped, accepting on
 * the worker's loop.  When descriptors run out, accepting pauses for a
 * second instead of spinning (tmux server_accept).
 */
#ifndef FERRY_LISTENER_H
#define FERRY_LISTENER_H

struct conf;
struct worker;
struct listener_set;

/* Bind every listen line of conf; on failure writes the reason (naming
 * the configuration line) into err and returns NULL. */
struct listener_set	*listener_bind(const struct conf *, char *err,
			    size_t errlen);
/* For a reload: like listener_bind, but sockets of old whose address is
 * still configured move to the new set (old keeps the rest, to be closed
 * with listener_free).  On failure old is unchanged. */
struct listener_set	*listener_rebind(struct listener_set *old,
			    const struct conf *, char *err, size_t errlen);
/* Start accepting on w's loop. */
void			 listener_start(struct listener_set *,
			    struct worker *);
void			 listener_free(struct listener_set **);

#endif
