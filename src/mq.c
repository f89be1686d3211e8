/* Message queues between threads; see mq.h. */
#include "config.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "src/log.h"
#include "src/mq.h"
#include "src/xmalloc.h"

TAILQ_HEAD(mq_list, mq_msg);

struct mq {
	pthread_mutex_t	 lock;
	struct mq_list	 msgs;
	int		 signalled;	/* the eventfd holds a count */
	int		 fd;
	struct event	*ev;
	mq_handler	*handler;
	mq_drop		*drop;
	void		*arg;
};

/* Take the whole list at once, then handle it without the lock: a
 * handler may post to this queue again (a worker on the main loop). */
static void
mq_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq	*q = arg;
	struct mq_list	 batch;
	struct mq_msg	*m;
	uint64_t	 n;

	if (read(q->fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("message queue: read");
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&q->lock);
	TAILQ_CONCAT(&batch, &q->msgs, entry);
	q->signalled = 0;
	pthread_mutex_unlock(&q->lock);
	while ((m = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, m, entry);
		q->handler(m, q->arg);
	}
}

struct mq *
mq_new(struct event_base *base, mq_handler *handler, mq_drop *drop,
    void *arg)
{
	struct mq	*q;

	q = xcalloc(1, sizeof(*q));
	TAILQ_INIT(&q->msgs);
	pthread_mutex_init(&q->lock, NULL);
	q->handler = handler;
	q->drop = drop;
	q->arg = arg;
	if ((q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(q);
		return NULL;
	}
	q->ev = event_new(base, q->fd, EV_READ | EV_PERSIST, mq_read_cb, q);
	if (q->ev == NULL || event_add(q->ev, NULL) == -1) {
		if (q->ev != NULL)
			event_free(q->ev);
		close(q->fd);
		free(q);
		return NULL;
	}
	return q;
}

void
mq_post(struct mq *q, struct mq_msg *m)
{
	uint64_t	one = 1;
	int		wake;

	pthread_mutex_lock(&q->lock);
	TAILQ_INSERT_TAIL(&q->msgs, m, entry);
	/* One wakeup per batch: the reader takes everything queued. */
	wake = !q->signalled;
	q->signalled = 1;
	pthread_mutex_unlock(&q->lock);
	if (wake && write(q->fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("message queue: write");
}

void
mq_free(struct mq **qp)
{
	struct mq	*q = *qp;
	struct mq_msg	*m;

	if (q == NULL)
		return;
	event_free(q->ev);
	close(q->fd);
	while ((m = TAILQ_FIRST(&q->msgs)) != NULL) {
		TAILQ_REMOVE(&q->msgs, m, entry);
		q->drop(m);
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
	*qp = NULL;
}
