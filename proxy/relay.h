/*
 * After login: bytes both ways without parsing, with back-pressure
 * (a side stops being read while the other side's output is above the
 * high-water mark) and an idle timeout.
 */
#ifndef FERRY_RELAY_H
#define FERRY_RELAY_H

struct session;

/* Switch s to SESS_RELAY; forwards what is already buffered.  -1 if the
 * session closed. */
int	relay_start(struct session *);
/* relay_splice.c is done with a literal: read the backend again, or
 * with what (BEV_EVENT_EOF/ERROR) set, handle its end. */
void	relay_resume(struct session *, short what);
/* A plain socket's read event (session.c): 1 if the relay read it and
 * passed the bytes on, 0 to leave it to the bufferevent. */
struct bufferevent;
int	relay_plain_read(struct bufferevent *);
/* The idle timer fired: close if nothing moved for idle-timeout. */
void	relay_idle_check(struct session *);

#endif
