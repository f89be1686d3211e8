/* The relay; see relay.h.  Modelled on libevent's sample/le-proxy.c. */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/kick.h"
#include "proxy/relay.h"
#include "proxy/relay_splice.h"
#include "proxy/session.h"
#include "src/conf.h"
#include "src/util.h"
#include "src/worker.h"

#define RELAY_HIGH_WATER	(256 * 1024)
/* libevent 2.1 reads at most this much a time (EVBUFFER_MAX_READ)... */
#define RELAY_EV_READ		4096
/* ... relay_pull() this much, as a read/write relay would. */
#define RELAY_PULL		(64 * 1024)

static void	relay_read_cb(struct bufferevent *, void *);
static void	relay_drained_cb(struct bufferevent *, void *);
static void	relay_event_cb(struct bufferevent *, short, void *);

static struct bufferevent *
other_side(struct session *s, struct bufferevent *bev)
{
	return bev == s->client ? s->backend : s->client;
}

/*
 * Most relayed answers fit in the socket buffer: write them from bev's
 * input straight to dst's socket (its output queue is empty, so order
 * holds), which spares arming and disarming dst's write event, two
 * epoll_ctl calls per command and direction.  Returns bytes written.
 */
static size_t
relay_write_through(struct evbuffer *in, int fd, size_t n)
{
	int	w;

	w = evbuffer_write_atmost(in, fd, n);
	return w > 0 ? (size_t)w : 0;
}

/* Move everything bev has read to the other side; stop reading bev if
 * the other side is not keeping up. */
static void
relay_move(struct session *s, struct bufferevent *bev)
{
	struct bufferevent	*dst = other_side(s, bev);
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer		*out = bufferevent_get_output(dst);
	size_t			 n = evbuffer_get_length(in);
	int			 fd;

	if (n == 0)
		return;
	if (bev == s->client && kick_holding(s)) {
		/* Closing: nothing more goes to the old server. */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	/* Always scanned: a kick must know where responses end. */
	if (bev == s->backend)
		n = kick_scan(s, in);
	if (bev == s->client)
		s->bytes_in += n;
	else
		s->bytes_out += n;
	s->last_active_ms = now_ms();
	if (evbuffer_get_length(out) == 0 && (fd = session_plain_fd(dst)) != -1)
		n -= relay_write_through(in, fd, n);
	if (n == evbuffer_get_length(in))
		evbuffer_add_buffer(out, in);
	else if (n > 0)
		evbuffer_remove_buffer(in, out, n);
	if (bev == s->backend && kick_check(s) == -1)
		return;
	if (bev == s->backend && relay_splice_try(s))
		return;
	if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
		bufferevent_disable(bev, EV_READ);
		/* Resume once the other side has written half of it. */
		bufferevent_setwatermark(dst, EV_WRITE, RELAY_HIGH_WATER / 2,
		    0);
		bufferevent_setcb(dst, relay_read_cb, relay_drained_cb,
		    relay_event_cb, s);
	}
}

/* May bev's socket be read straight into dst's: both plain, nothing
 * queued, nothing in the way?  If so, their descriptors in *from and
 * *to. */
static int
pull_ok(struct session *s, struct bufferevent *bev, struct bufferevent *dst,
    int *from, int *to)
{
	return !s->closed && s->state == SESS_RELAY && s->splice == NULL &&
	    !(bev == s->client && kick_holding(s)) &&
	    (bufferevent_get_enabled(bev) & EV_READ) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(dst)) == 0 &&
	    (*from = session_plain_fd(bev)) != -1 &&
	    (*to = session_plain_fd(dst)) != -1;
}

/*
 * Read bev's socket in 64 KB pieces and write them straight through
 * while the other side keeps up, as long as nothing is queued on either
 * side; anything the other side does not take is queued and the
 * ordinary path takes over.  Loops while the reads fill the buffer.
 * Returns 0 if it could not read at all.
 */
static int
relay_pull(struct session *s, struct bufferevent *bev)
{
	struct bufferevent	*dst = other_side(s, bev);
	char			 buf[RELAY_PULL];
	ssize_t			 r, w;
	size_t			 n;
	int			 from, to, pulled = 0;

	while (pull_ok(s, bev, dst, &from, &to)) {
		pulled = 1;
		r = read(from, buf, sizeof(buf));
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return 1;
		if (r <= 0) {
			/* As libevent would have it. */
			bufferevent_disable(bev, EV_READ);
			relay_event_cb(bev, BEV_EVENT_READING | (r == 0 ?
			    BEV_EVENT_EOF : BEV_EVENT_ERROR), s);
			return 1;
		}
		n = (size_t)r;
		if (bev == s->backend)
			n = kick_scan_buf(s, buf, n);
		if (bev == s->client)
			s->bytes_in += n;
		else
			s->bytes_out += n;
		s->last_active_ms = now_ms();
		/* On EAGAIN, or an error the bufferevent will see: queue. */
		if ((w = write(to, buf, n)) < 0)
			w = 0;
		if ((size_t)w < n && bufferevent_write(dst, buf + w,
		    n - (size_t)w) == -1) {
			session_close(s, "out of memory");
			return 1;
		}
		if (bev == s->backend && (kick_check(s) == -1 ||
		    relay_splice_try(s)))
			return 1;
		if ((size_t)r < sizeof(buf))
			return 1;	/* drained, most likely */
	}
	return pulled;
}

static void
relay_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	size_t		 n;

	/* bev's read filled libevent's 4 KB: more is likely waiting (a
	 * large FETCH or RETR). */
	n = evbuffer_get_length(bufferevent_get_input(bev));
	relay_move(s, bev);
	if (n >= RELAY_EV_READ)
		relay_pull(s, bev);
}

/*
 * Every read of a relayed plain socket, straight through as above, the
 * way a read/write relay works: without the bufferevent's read, input
 * buffer and callback, a relayed NOOP and its answer cost 2,200
 * instructions instead of 5,200 (callgrind; rawrelay 1,200).  0 if it
 * cannot (not relaying, something queued): the bufferevent reads as
 * usual.
 */
int
relay_plain_read(struct bufferevent *bev)
{
	bufferevent_data_cb	 readcb;
	void			*arg;
	struct session		*s;

	bufferevent_getcb(bev, &readcb, NULL, NULL, &arg);
	if (readcb != relay_read_cb)
		return 0;
	s = arg;
	return relay_pull(s, bev);
}

static void
relay_drained_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	bufferevent_setcb(bev, relay_read_cb, NULL, relay_event_cb, s);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(other_side(s, bev), EV_READ);
}

static void
relay_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		session_close(s, s->end_reason);
}

/* One side is gone: give the other what is still queued, then close. */
static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session		*s = arg;
	struct bufferevent	*dst = other_side(s, bev);
	const char		*reason;

	if (s->state == SESS_CLOSING) {
		session_close(s, s->end_reason);
		return;
	}
	if (bev == s->client)
		reason = (what & BEV_EVENT_EOF) ? "client closed" :
		    "client connection error";
	else
		reason = (what & BEV_EVENT_EOF) ? "backend closed" :
		    "backend connection error";
	relay_move(s, bev);
	if (s->closed || s->state == SESS_CLOSING)
		return;
	if (evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
		session_close(s, reason);
		return;
	}
	s->end_reason = reason;
	session_set_state(s, SESS_CLOSING);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_disable(dst, EV_READ);
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
	bufferevent_setcb(dst, NULL, relay_flushed_cb, relay_event_cb, s);
	session_timer(s, 5000);
}

int
relay_start(struct session *s)
{
	session_set_state(s, SESS_RELAY);
	bufferevent_setcb(s->client, relay_read_cb, NULL, relay_event_cb, s);
	bufferevent_setcb(s->backend, relay_read_cb, NULL, relay_event_cb, s);
	session_enable_rw(s->client);
	session_enable_rw(s->backend);
	session_timer(s, s->conf->limits.idle_timeout_ms);
	/* Bytes either side sent right behind the login. */
	relay_move(s, s->client);
	relay_move(s, s->backend);
	return 0;
}

void
relay_resume(struct session *s, short what)
{
	if (what != 0) {
		relay_event_cb(s->backend, what, s);
		return;
	}
	bufferevent_enable(s->backend, EV_READ);
}

void
relay_idle_check(struct session *s)
{
	uint64_t	idle = now_ms() - s->last_active_ms;
	int		limit = s->conf->limits.idle_timeout_ms;

	if (idle >= (uint64_t)limit) {
		session_close(s, "idle timeout");
		return;
	}
	session_timer(s, limit - (int)idle);
}
