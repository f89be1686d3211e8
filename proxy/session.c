/* Session lifecycle: accept, state, timer, close and the summary line. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "lookup/lookup.h"
#include "proxy/proto.h"
#include "proxy/kick.h"
#include "proxy/relay.h"
#include "proxy/relay_splice.h"
#include "proxy/tls.h"
#include "proxy/session.h"
#include "src/cidr.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/log.h"
#include "src/util.h"
#include "src/worker.h"

#define CLOSE_FLUSH_MS	5000	/* how long a last answer may take */
#define SESSION_READ	4096	/* libevent 2.1's EVBUFFER_MAX_READ */

static const char *const state_names[] = {
	[SESS_PREAUTH] = "preauth",
	[SESS_TLS_HANDSHAKE] = "tls-handshake",
	[SESS_LOOKUP] = "lookup",
	[SESS_AUTH_DELAY] = "auth-delay",
	[SESS_BACKEND_CONNECT] = "backend-connect",
	[SESS_BACKEND_LOGIN] = "backend-login",
	[SESS_RELAY] = "relay",
	[SESS_CLOSING] = "closing",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) ==
    SESS_STATE_COUNT, "a session state has no name");

static void	session_timer_cb(evutil_socket_t, short, void *);
static void	session_client_event_cb(struct bufferevent *, short, void *);
static void	session_client_read_cb(struct bufferevent *, void *);

const char *
session_state_name(enum session_state st)
{
	if ((unsigned)st >= SESS_STATE_COUNT)
		return "unknown";
	return state_names[st];
}

/* The engine for a listener's protocol. */
static const struct proto_ops *
session_proto(enum conf_proto proto)
{
	switch (proto) {
	case PROTO_POP3:
		return &pop3_proto;
	case PROTO_SIEVE:
		return &sieve_proto;
	case PROTO_IMAP:
		break;
	}
	return &imap_proto;
}

void
session_set_state(struct session *s, enum session_state st)
{
	log_debug("session=%llu state %s -> %s", (unsigned long long)s->id,
	    session_state_name(s->state), session_state_name(st));
	s->state = st;
}

/* What listener_limits() took for a connection: its place in the
 * per-client table and in the daemon's session count. */
static void
places_give_back(struct worker *w, struct client_addr **peer)
{
	clients_detach(w->clients, peer, now_ms());
	atomic_fetch_sub_explicit(&w->hub->nsessions, 1, memory_order_relaxed);
}

void
session_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen, const struct conf_listen *cl, struct client_addr *peer)
{
	struct session	*s;
	size_t		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("session: refusing a connection");
		close(fd);
		places_give_back(w, &peer);
		return;
	}
	s->worker = w;
	s->conf = conf_ref(w->conf);
	s->tls = tls_ref(w->tls);
	s->peer = peer;
	s->id = worker_session_id();
	s->state = SESS_PREAUTH;
	s->start_ms = s->last_active_ms = now_ms();
	sockaddr_format(sa, s->client_addr, sizeof(s->client_addr));
	s->proto = session_proto(cl->proto);
	s->implicit_tls = cl->implicit_tls;
	s->starttls = cl->starttls;
	s->auth_mech = -1;
	for (i = 0; i < s->conf->ntrusted; i++)
		if (cidr_match(&s->conf->trusted[i], sa))
			s->trusted = 1;
	if (s->implicit_tls)
		s->client = tls_accept(s->tls, w->base, fd);
	else
		s->client = bufferevent_socket_new(w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	s->timer = evtimer_new(w->base, session_timer_cb, s);
	if (s->client == NULL || s->timer == NULL) {
		log_warnx("session: out of memory, refusing %s",
		    s->client_addr);
		if (s->client != NULL)
			bufferevent_free(s->client);
		else
			close(fd);
		if (s->timer != NULL)
			event_free(s->timer);
		places_give_back(w, &s->peer);
		conf_unref(&s->conf);
		tls_unref(&s->tls);
		free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->nsessions++;
	w->counters.sessions_total++;
	log_debug("session=%llu connect from %s", (unsigned long long)s->id,
	    s->client_addr);
	if (!s->implicit_tls)
		session_plain_read(s->client);
	bufferevent_setcb(s->client, session_client_read_cb, NULL,
	    session_client_event_cb, s);
	session_enable_rw(s->client);
	if (s->implicit_tls) {
		/* The greeting waits for the handshake. */
		session_set_state(s, SESS_TLS_HANDSHAKE);
		session_timer(s, s->conf->tls.handshake_timeout_ms);
		return;
	}
	s->proto->start(s);
}

/*
 * libevent 2.1 asks how much is readable (ioctl FIONREAD) before every
 * read of a socket bufferevent: a system call per read that a relay
 * does not make.  session_plain_read() points a plain socket
 * bufferevent's read event (struct bufferevent is public in 2.1's
 * bufferevent_struct.h) here, which reads as libevent would (at most
 * 4 KB, which relay_pull() counts on) without asking; enabling,
 * disabling, callbacks and freeing stay libevent's.
 */
static void
session_plain_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent	*bev = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			 buf[SESSION_READ];
	ssize_t			 r;
	short			 ev;
	int			 err, added;

	if (what & EV_TIMEOUT) {
		ev = BEV_EVENT_READING | BEV_EVENT_TIMEOUT;
		goto fail;
	}
	/* Logged in: from this socket straight to the other side's,
	 * without the buffers (relay.c). */
	if (relay_plain_read(bev))
		return;
	/*
	 * Through the stack, not evbuffer_reserve_space(), whose 4 KB
	 * becomes an 8 KB chain that malloc() takes the slow way and
	 * evbuffer_drain() frees: 450 instructions a read (callgrind).
	 * Pre-auth bytes may hold a password: those on the stack are
	 * wiped.
	 */
	r = read(fd, buf, sizeof(buf));
	err = errno;
	if (r > 0) {
		/* A bufferevent's input takes data only from its own
		 * reads. */
		evbuffer_unfreeze(in, 0);
		added = evbuffer_add(in, buf, (size_t)r);
		evbuffer_freeze(in, 0);
		wipe(buf, (size_t)r);
		if (added == 0) {
			bufferevent_trigger(bev, EV_READ, 0);
			return;
		}
		err = ENOMEM;
		r = -1;
	}
	if (r == -1 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return;
	ev = BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
	errno = err;
fail:
	/* As libevent does. */
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, ev, 0);
}

/*
 * The descriptor of a plain socket bufferevent, one whose reads
 * session_plain_read() took over (TLS has its own), or -1.  Cheaper than
 * asking libevent for the descriptor, the underlying bufferevent and the
 * SSL: 140 instructions, 9 times a login (callgrind).
 */
int
session_plain_fd(struct bufferevent *bev)
{
	if (event_get_callback(&bev->ev_read) != session_plain_readcb)
		return -1;
	return event_get_fd(&bev->ev_read);
}

/* Only for a plain socket whose reading is not enabled yet (a TLS
 * upgrade's bufferevent_setfd() gives the event back to libevent). */
void
session_plain_read(struct bufferevent *bev)
{
	evutil_socket_t	fd = bufferevent_getfd(bev);

	if (fd == -1 || event_pending(&bev->ev_read, EV_READ | EV_TIMEOUT,
	    NULL))
		return;
	event_assign(&bev->ev_read, bev->ev_base, fd,
	    event_get_events(&bev->ev_read), session_plain_readcb, bev);
}

/*
 * A socket bufferevent has EV_WRITE enabled from birth (libevent arms
 * the write event when something is queued); enabling it again arms it
 * with nothing to write: two epoll_ctl calls and a wakeup for nothing.
 */
void
session_enable_rw(struct bufferevent *bev)
{
	short	what = EV_READ, on = bufferevent_get_enabled(bev);
	int	plain = session_plain_fd(bev) != -1;

	if (!(on & EV_WRITE) || !plain)
		what |= EV_WRITE;
	/* A plain socket already reading (relay_start() after the login):
	 * enabling it again only adds its event again, 400 instructions
	 * (callgrind). */
	if (plain && (on & what) == what)
		return;
	bufferevent_enable(bev, what);
}

void
session_timer(struct session *s, int ms)
{
	struct timeval	tv;

	if (ms < 0) {
		evtimer_del(s->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	/* libevent adds tv to its cached clock, which stops while the loop
	 * runs callbacks: after a slow turn (a TLS handshake under valgrind
	 * took 4 s) the timer would fire that much early. */
	event_base_update_cache_time(s->worker->base);
	evtimer_add(s->timer, &tv);
}

/*
 * preauth-timeout counts from the accept, not from the last command: a
 * client trickling a command now and then (slowloris) must not hold its
 * connection for ever.
 */
void
session_preauth_timer(struct session *s)
{
	uint64_t	now = now_ms(), end;

	end = s->start_ms + (uint64_t)s->conf->limits.preauth_timeout_ms;
	session_timer(s, end > now ? (int)(end - now) : 0);
}

static void
session_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session	*s = arg;

	switch (s->state) {
	case SESS_PREAUTH:
		s->proto->timeout(s);
		break;
	case SESS_TLS_HANDSHAKE:
		session_close(s, "TLS handshake timed out");
		break;
	case SESS_LOOKUP:
	case SESS_AUTH_DELAY:
		s->proto->timer(s);
		break;
	case SESS_BACKEND_CONNECT:
	case SESS_BACKEND_LOGIN:
		s->proto->backend_timeout(s);
		break;
	case SESS_RELAY:
		relay_idle_check(s);
		break;
	case SESS_CLOSING:
	case SESS_STATE_COUNT:
		session_close(s, s->end_reason != NULL ? s->end_reason :
		    "flush timed out");
		break;
	}
}

static void
session_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->state == SESS_PREAUTH)
		s->proto->read(s);
	else if (evbuffer_get_length(bufferevent_get_input(bev)) >
	    s->proto->input_max(s))
		/* The client may pipeline, but not without bound. */
		session_close(s, "client sent too much while waiting");
}

static void
session_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[200], msg[256], desc[128];

	if (s->state == SESS_TLS_HANDSHAKE) {
		if (what & BEV_EVENT_CONNECTED) {
			s->client_tls = 1;
			log_debug("session=%llu client TLS: %s",
			    (unsigned long long)s->id,
			    tls_describe(s->client, desc, sizeof(desc)));
			session_set_state(s, SESS_PREAUTH);
			s->proto->tls_done(s);
			return;
		}
		snprintf(msg, sizeof(msg), "TLS handshake failed: %s",
		    tls_error(bev, why, sizeof(why)));
		log_info("session=%llu client=%s %s",
		    (unsigned long long)s->id, s->client_addr, msg);
		session_close(s, "TLS handshake failed");
		return;
	}
	if (what & BEV_EVENT_EOF)
		session_close(s, "client closed");
	else if (what & BEV_EVENT_ERROR)
		session_close(s, "client connection error");
}

/*
 * Most answers fit in the socket buffer: with nothing queued before
 * them, write them straight to a plain socket (relay.c does the same),
 * which spares arming and disarming the write event, two epoll_ctl
 * calls and a wakeup.  What the socket does not take is queued.
 */
static int
send_iov(struct bufferevent *bev, const struct iovec *iov, int n)
{
	ssize_t	w = 0;
	size_t	done;
	int	i, fd;

	/* On EAGAIN, or an error the bufferevent will see: queue. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (fd = session_plain_fd(bev)) != -1 &&
	    (w = writev(fd, iov, n)) < 0)
		w = 0;
	done = (size_t)w;
	for (i = 0; i < n; i++) {
		if (done >= iov[i].iov_len) {
			done -= iov[i].iov_len;
			continue;
		}
		if (bufferevent_write(bev, (const char *)iov[i].iov_base +
		    done, iov[i].iov_len - done) == -1)
			return -1;
		done = 0;
	}
	return 0;
}

int
session_send(struct session *s, const char *data, size_t len)
{
	struct iovec	iov;

	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	if (send_iov(s->client, &iov, 1) == -1)
		return session_close(s, "out of memory");
	s->last_active_ms = now_ms();
	return 0;
}

int
session_send_line(struct session *s, const char *line, size_t len)
{
	struct iovec	iov[2];

	/* One write, one segment: not the line and its CRLF apart. */
	iov[0].iov_base = (void *)(uintptr_t)line;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)(uintptr_t)"\r\n";
	iov[1].iov_len = 2;
	if (send_iov(s->client, iov, 2) == -1)
		return session_close(s, "out of memory");
	s->last_active_ms = now_ms();
	return 0;
}

int
session_sendf(struct session *s, const char *fmt, ...)
{
	struct iovec	iov;
	char		buf[1024];
	va_list		ap;
	int		r;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r >= 0 && (size_t)r < sizeof(buf)) {
		iov.iov_base = buf;
		iov.iov_len = (size_t)r;
		r = send_iov(s->client, &iov, 1);
	} else {
		va_start(ap, fmt);
		r = evbuffer_add_vprintf(bufferevent_get_output(s->client),
		    fmt, ap);
		va_end(ap);
	}
	if (r < 0)
		return session_close(s, "out of memory");
	return 0;
}

void
session_auth_failed(struct session *s)
{
	const struct conf_limits *l = &s->conf->limits;

	if (clients_failed(s->worker->clients, s->peer, l->client_failures, l->client_backoff_ms,
	    now_ms()))
		log_warnx("client %s: %d failed logins, refusing its "
		    "connections for %ds", s->client_addr, l->client_failures,
		    l->client_backoff_ms / 1000);
}

void
session_local_addr(struct session *s, char *buf, size_t len)
{
	struct sockaddr_storage	ss;
	socklen_t		sslen = sizeof(ss);
	evutil_socket_t		fd;

	buf[0] = '\0';
	if (s->client == NULL || (fd = bufferevent_getfd(s->client)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return;
	sockaddr_format((struct sockaddr *)&ss, buf, len);
}

static void
session_starttls_cb(struct bufferevent *bev, void *arg)
{
	struct session		*s = arg;
	struct bufferevent	*tbev;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if ((tbev = tls_wrap_server(s->tls, s->worker->base,
	    bev)) == NULL) {
		session_close(s, "STARTTLS: out of memory");
		return;
	}
	s->client = tbev;
	bufferevent_setcb(tbev, session_client_read_cb, NULL,
	    session_client_event_cb, s);
	bufferevent_enable(tbev, EV_READ | EV_WRITE);
}

int
session_starttls_offered(struct session *s)
{
	return !s->client_tls && s->starttls != CONF_STARTTLS_OFF &&
	    tls_server_ready(s->tls);
}

int
session_starttls(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->client);

	/* Whatever the client pipelined behind STARTTLS came in clear and
	 * could have been injected: drop it (CVE-2011-0411), and read
	 * nothing more until TLS is up. */
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_disable(s->client, EV_READ);
	session_set_state(s, SESS_TLS_HANDSHAKE);
	session_timer(s, s->conf->tls.handshake_timeout_ms);
	/* The handshake starts once "OK Begin TLS" is written. */
	bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
	bufferevent_setcb(s->client, NULL, session_starttls_cb,
	    session_client_event_cb, s);
	/* Written straight to the socket (send_iov): no write will call
	 * back, so ask for the callback. */
	if (evbuffer_get_length(bufferevent_get_output(s->client)) == 0)
		bufferevent_trigger(s->client, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

void
session_wipe_drain(struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec	v;
	size_t			k;

	while (n > 0 && evbuffer_peek(in, -1, NULL, &v, 1) >= 1) {
		k = v.iov_len < n ? v.iov_len : n;
		wipe(v.iov_base, k);
		evbuffer_drain(in, k);
		n -= k;
	}
}

/*
 * evbuffer_pullup(in, -1) without the uncleared copies it leaves in
 * freed chains: the bytes go through a wiped buffer into one new chain.
 */
unsigned char *
session_pullup(struct evbuffer *in)
{
	size_t	 len = evbuffer_get_length(in);
	char	*tmp;

	if (len == 0 || evbuffer_peek(in, -1, NULL, NULL, 0) <= 1)
		return evbuffer_pullup(in, -1);
	if ((tmp = malloc(len)) == NULL)
		return evbuffer_pullup(in, -1);
	evbuffer_copyout(in, tmp, len);
	session_wipe_drain(in, len);
	/* The end of a bufferevent's input is frozen: prepend. */
	if (evbuffer_prepend(in, tmp, len) == -1) {
		wipe(tmp, len);
		free(tmp);
		return NULL;
	}
	wipe(tmp, len);
	free(tmp);
	return evbuffer_pullup(in, -1);
}

/* evbuffer_readln(in, len, EVBUFFER_EOL_CRLF), wiping what it drains. */
char *
session_readln(struct evbuffer *in, size_t *lenp)
{
	struct evbuffer_ptr	 eol;
	size_t			 eol_len = 0, len;
	char			*line;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (eol.pos < 0)
		return NULL;
	len = (size_t)eol.pos;
	if ((line = malloc(len + 1)) == NULL)
		return NULL;
	evbuffer_copyout(in, line, len);
	line[len] = '\0';
	session_wipe_drain(in, len + eol_len);
	*lenp = len;
	return line;
}

static void
secret_cleanup(const void *data, size_t len, void *arg)
{
	wipe((void *)(uintptr_t)data, len);
	free((void *)(uintptr_t)data);
}

/* A copy of its own that libevent hands back, instead of chains it
 * frees uncleared once the bytes are on the wire.  Usually the socket
 * takes it all at once, and there is no copy. */
int
session_write_secret(struct bufferevent *bev, const void *data, size_t len)
{
	void	*copy;
	ssize_t	 w;
	int	 fd;

	if (len > 0 && evbuffer_get_length(bufferevent_get_output(bev)) ==
	    0 && (fd = session_plain_fd(bev)) != -1 &&
	    (w = write(fd, data, len)) > 0) {
		data = (const char *)data + w;
		len -= (size_t)w;
	}
	if (len == 0)
		return 0;
	if ((copy = malloc(len)) == NULL)
		return -1;
	memcpy(copy, data, len);
	if (evbuffer_add_reference(bufferevent_get_output(bev), copy, len,
	    secret_cleanup, NULL) == -1) {
		secret_cleanup(copy, len, NULL);
		return -1;
	}
	return 0;
}

void
session_forget_credentials(struct session *s)
{
	size_t	i;

	free_secret(&s->password);
	for (i = 0; i < s->npieces; i++) {
		wipe(s->login_pieces[i], s->login_piece_len[i]);
		free(s->login_pieces[i]);
		s->login_pieces[i] = NULL;
	}
	s->npieces = s->next_piece = 0;
}

static void
session_log_summary(struct session *s)
{
	char		user[200], secs[32], *p;
	uint64_t	ms = now_ms() - s->start_ms;

	if (s->user != NULL)
		log_escape(s->user, strlen(s->user), user, sizeof(user));
	else
		strcpy(user, "-");
	/* "%.3f" of the seconds without floating point, which log.c
	 * leaves to vsnprintf() (1,000 instructions more, callgrind). */
	p = put_decimal(secs, ms / 1000);
	*p++ = '.';
	*p++ = (char)('0' + ms % 1000 / 100);
	*p++ = (char)('0' + ms % 100 / 10);
	*p++ = (char)('0' + ms % 10);
	*p = '\0';
	log_info("session=%llu proto=%s client=%s tls=%s user=%s backend=%s "
	    "in=%llu out=%llu duration=%ss end=\"%s\"",
	    (unsigned long long)s->id, s->proto->name, s->client_addr,
	    s->client_tls ? "yes" : "no", user,
	    s->backend_addr[0] != '\0' ? s->backend_addr : "-",
	    (unsigned long long)s->bytes_in,
	    (unsigned long long)s->bytes_out, secs, s->end_reason);
}

int
session_close(struct session *s, const char *reason)
{
	struct worker	*w = s->worker;

	if (s->closed)
		return -1;
	s->closed = 1;
	if (s->end_reason == NULL || s->state != SESS_CLOSING)
		s->end_reason = reason;
	session_log_summary(s);
	worker_lookup_cancel(&s->lookup);
	evtimer_del(s->timer);
	relay_splice_free(&s->splice);
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
	if (s->client != NULL) {
		/* A LOGIN cut short leaves its bytes in the input. */
		session_wipe_drain(bufferevent_get_input(s->client),
		    evbuffer_get_length(bufferevent_get_input(s->client)));
		bufferevent_free(s->client);
		s->client = NULL;
	}
	session_forget_credentials(s);
	kick_free(&s->kick);
	places_give_back(w, &s->peer);
	w->counters.bytes_in += s->bytes_in;
	w->counters.bytes_out += s->bytes_out;
	TAILQ_REMOVE(&w->sessions, s, entry);
	w->nsessions--;
	TAILQ_INSERT_TAIL(&w->dead, s, entry);
	event_active(w->reap, EV_TIMEOUT, 0);
	return -1;
}

static void
session_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		session_close(s, s->end_reason);
}

static void
session_closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	session_close(s, s->end_reason);
}

int
session_close_after_flush(struct session *s, const char *reason)
{
	if (s->closed)
		return -1;
	worker_lookup_cancel(&s->lookup);
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
	s->end_reason = reason;
	session_set_state(s, SESS_CLOSING);
	if (evbuffer_get_length(bufferevent_get_output(s->client)) == 0)
		return session_close(s, reason);
	bufferevent_disable(s->client, EV_READ);
	bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
	bufferevent_setcb(s->client, NULL, session_flushed_cb,
	    session_closing_event_cb, s);
	session_timer(s, CLOSE_FLUSH_MS);
	return -1;
}

void
session_close_now(struct session *s, const char *reason)
{
	session_close(s, reason);
}

void
session_free(struct session *s)
{
	free(s->user);
	free(s->backend_user);
	free(s->master_user);
	free(s->client_id);
	event_free(s->timer);
	conf_unref(&s->conf);
	/* After the bufferevents (session_close): an old set's SNI
	 * callback must not outlive it. */
	tls_unref(&s->tls);
	free(s);
}
