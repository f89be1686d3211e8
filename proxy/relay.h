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
/* The idle timer fired: close if nothing moved for idle-timeout. */
void	relay_idle_check(struct session *);

#endif
