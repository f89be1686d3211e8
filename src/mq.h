/*
 * A queue of messages into one thread's event loop: a mutex-protected
 * list plus an eventfd that the receiving loop watches (tmux proc.c and
 * OpenSMTPD mproc.c pass typed messages the same way, over sockets).
 * The sender allocates a message and posts it; from then on the
 * receiver owns it.  Messages are handled in the order posted.
 */
#ifndef FERRY_MQ_H
#define FERRY_MQ_H

#include <sys/queue.h>

struct event_base;
struct mq;

/* Embedded first in every message type (src/msg.h). */
struct mq_msg {
	TAILQ_ENTRY(mq_msg)	 entry;
	int			 type;
};

/* Runs on the receiver's loop; owns msg. */
typedef void	mq_handler(struct mq_msg *msg, void *arg);
/* Frees a message that was never handled (the queue is being freed). */
typedef void	mq_drop(struct mq_msg *msg);

/* NULL if an eventfd or event cannot be had. */
struct mq	*mq_new(struct event_base *, mq_handler *, mq_drop *,
		    void *arg);
/* From any thread. */
void		 mq_post(struct mq *, struct mq_msg *);
/* On the receiver's thread, after the senders have stopped. */
void		 mq_free(struct mq **);

#endif
