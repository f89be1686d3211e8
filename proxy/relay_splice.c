/* Splicing bulk literals; see relay_splice.h.  Linux splice(2). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/imap_boundary.h"
#include "proxy/proto.h"
#include "proxy/relay.h"
#include "proxy/relay_splice.h"
#include "proxy/session.h"
#include "src/util.h"
#include "src/worker.h"

/* Below this a literal goes the ordinary way: a pipe and two events
 * cost more than copying a few reads. */
#define SPLICE_MIN	(256 * 1024)
#define SPLICE_PIPE	(1024 * 1024)

struct relay_splice {
	struct session	*s;
	int		 pipe[2];
	int		 from, to;	/* backend and client sockets */
	struct event	*rev;		/* backend readable */
	struct event	*wev;		/* client writable */
	uint64_t	 left;		/* literal bytes still to read */
	size_t		 inpipe;	/* read but not yet written */
	size_t		 pipesz;
};

static void	splice_cb(evutil_socket_t, short, void *);

void
relay_splice_free(struct relay_splice **spp)
{
	struct relay_splice	*sp = *spp;

	if (sp == NULL)
		return;
	*spp = NULL;
	if (sp->rev != NULL)
		event_free(sp->rev);
	if (sp->wev != NULL)
		event_free(sp->wev);
	if (sp->pipe[0] != -1)
		close(sp->pipe[0]);
	if (sp->pipe[1] != -1)
		close(sp->pipe[1]);
	free(sp);
}

/* The scanner counts literal bytes without looking at them: tell it how
 * many went by in the kernel. */
static void
splice_account(struct session *s, size_t n)
{
	static const char	zero[4096];
	size_t			chunk;

	s->bytes_out += n;
	while (n > 0) {
		chunk = n < sizeof(zero) ? n : sizeof(zero);
		imap_boundary_feed(&s->bscan, zero, chunk, 0);
		n -= chunk;
	}
}

/* Back to the bufferevents; what (BEV_EVENT_EOF or _ERROR) if the
 * backend side ended meanwhile. */
static void
splice_end(struct session *s, short what)
{
	relay_splice_free(&s->splice);
	relay_resume(s, what);
}

static void
splice_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct relay_splice	*sp = arg;
	struct session		*s = sp->s;
	size_t			 want;
	ssize_t			 n;

	for (;;) {
		if (sp->inpipe > 0) {
			n = splice(sp->pipe[0], NULL, sp->to, NULL, sp->inpipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1 && errno == EAGAIN) {
				/* The client is slow: stop reading. */
				event_del(sp->rev);
				event_add(sp->wev, NULL);
				return;
			}
			if (n <= 0) {
				session_close(s, "client connection error");
				return;
			}
			sp->inpipe -= n;
			s->last_active_ms = now_ms();
			continue;
		}
		event_del(sp->wev);
		if (sp->left == 0) {
			splice_end(s, 0);
			return;
		}
		want = sp->left < sp->pipesz ? sp->left : sp->pipesz;
		n = splice(sp->from, NULL, sp->pipe[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1 && errno == EAGAIN) {
			event_add(sp->rev, NULL);
			return;
		}
		if (n <= 0) {
			splice_end(s, n == 0 ? BEV_EVENT_EOF | BEV_EVENT_READING :
			    BEV_EVENT_ERROR | BEV_EVENT_READING);
			return;
		}
		sp->left -= n;
		sp->inpipe += n;
		splice_account(s, n);
	}
}

int
relay_splice_try(struct session *s)
{
	struct relay_splice	*sp;
	struct event_base	*base = s->worker->base;

	if (s->proto != &imap_proto || s->kick != NULL || s->splice != NULL ||
	    s->state != SESS_RELAY ||
	    s->bscan.state != IMAPB_IN_LITERAL ||
	    s->bscan.remaining < SPLICE_MIN ||
	    evbuffer_get_length(bufferevent_get_input(s->backend)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(s->client)) != 0 ||
	    session_plain_fd(s->client) == -1 ||
	    session_plain_fd(s->backend) == -1)
		return 0;
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return 0;
	sp->s = s;
	sp->pipe[0] = sp->pipe[1] = -1;
	if (pipe2(sp->pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		/* Out of descriptors: the ordinary path still works. */
		free(sp);
		return 0;
	}
	sp->pipesz = 64 * 1024;
	if (fcntl(sp->pipe[1], F_SETPIPE_SZ, SPLICE_PIPE) != -1)
		sp->pipesz = SPLICE_PIPE;
	sp->from = bufferevent_getfd(s->backend);
	sp->to = bufferevent_getfd(s->client);
	sp->left = s->bscan.remaining;
	sp->rev = event_new(base, sp->from, EV_READ | EV_PERSIST, splice_cb,
	    sp);
	sp->wev = event_new(base, sp->to, EV_WRITE | EV_PERSIST, splice_cb,
	    sp);
	if (sp->rev == NULL || sp->wev == NULL) {
		relay_splice_free(&sp);
		return 0;
	}
	s->splice = sp;
	bufferevent_disable(s->backend, EV_READ);
	event_add(sp->rev, NULL);
	return 1;
}
