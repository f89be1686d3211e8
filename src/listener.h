/*
 * Listening sockets: bound before privileges are dropped, one set per
 * worker (SO_REUSEPORT: the kernel spreads connections over the
 * workers), accepting on the worker's loop.  When descriptors run out, accepting pauses for a
 * second instead of spinning (tmux server_accept).
 */
#ifndef FERRY_LISTENER_H
#define FERRY_LISTENER_H

struct conf;
struct worker;
struct listener_set;

/* Bind every listen line of conf; on failure writes the reason (naming
 * the configuration line) into err and returns NULL.  first: the
 * process's first set, whose addresses no other process may hold
 * (SO_REUSEPORT would let a second ferryd share them silently). */
struct listener_set	*listener_bind(const struct conf *, int first,
			    char *err, size_t errlen);
/* For a reload, step one: like listener_bind, but addresses that old
 * has are left for listener_adopt.  On failure old is unchanged. */
struct listener_set	*listener_prepare(const struct listener_set *old,
			    int first, const struct conf *, char *err,
			    size_t errlen);
/* Step two, which cannot fail: the sockets of old whose address is
 * still configured move to set (old keeps the rest, to be closed with
 * listener_free on its worker).  old's worker reads a listener's fd
 * only to start or free it, so this may run on the main thread. */
void			 listener_adopt(struct listener_set *set,
			    struct listener_set *old);
/* Start accepting on w's loop. */
void			 listener_start(struct listener_set *,
			    struct worker *);
void			 listener_free(struct listener_set **);

#endif
