/* The status socket; see control.h. */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lookup/lookup.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/control.h"
#include "src/control_proto.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/moves.h"
#include "src/server.h"
#include "src/sessions.h"
#include "src/util.h"
#include "src/worker.h"
#include "src/xmalloc.h"

#define CONTROL_IDLE_S		60
#define CONTROL_GROUPS_MAX	256

struct control_conn;
TAILQ_HEAD(control_conns, control_conn);

struct control {
	struct server		*srv;
	char			*path;
	int			 fd;
	gid_t			 gid;
	struct event		*ev;
	struct control_conns	 conns;
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct control		*ctl;
	struct bufferevent	*bev;
	uid_t			 uid;
	struct lookup_req	*lookup;	/* `lookup USER` running */
	struct task		*task;		/* asking the workers */
	enum control_verb	 verb;		/* of the task */
	char			 user[CONTROL_ARG_MAX + 1];
};

static void	conn_read_cb(struct bufferevent *, void *);

static void
conn_free(struct control_conn *cc)
{
	lookup_cancel(&cc->lookup);
	task_abandon(cc->task);
	TAILQ_REMOVE(&cc->ctl->conns, cc, entry);
	bufferevent_free(cc->bev);
	free(cc);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

/* Send the records in b and the final line. */
static void
conn_answer(struct control_conn *cc, struct ctlbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_answer(struct control_conn *cc, struct ctlbuf *b, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(cc->bev);
	va_list		 ap;

	if (b != NULL && b->oom) {
		evbuffer_add_printf(out, "error out of memory\n");
		ctlbuf_free(b);
		return;
	}
	if (b != NULL) {
		if (b->len > 0)
			evbuffer_add(out, b->data, b->len);
		ctlbuf_free(b);
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\n", 1);
}

static void
verb_status(struct control_conn *cc, const struct sessions_tally *t,
    struct ctlbuf *b)
{
	struct server		*srv = cc->ctl->srv;
	struct conf		*conf = srv->conf;
	struct lookup_stats	 ls;
	size_t			 i, tracked, blocked;

	ctlbuf_printf(b, "* daemon");
	ctlbuf_str(b, "version", PACKAGE_VERSION);
	ctlbuf_num(b, "pid", (uint64_t)getpid());
	ctlbuf_num(b, "uptime", (now_ms() - srv->start_ms) / 1000);
	ctlbuf_str(b, "config", conf->path);
	ctlbuf_printf(b, " draining=%s\n", srv->draining ? "true" : "false");
	for (i = 0; i < conf->nlistens && !srv->draining; i++) {
		ctlbuf_printf(b, "* listener");
		ctlbuf_str(b, "proto", conf_proto_name(conf->listens[i].proto));
		ctlbuf_str(b, "address", conf->listens[i].address);
		ctlbuf_printf(b, "\n");
	}
	sessions_status(t, b);
	lookup_get_stats(srv->hub->lookup, &ls);
	ctlbuf_printf(b, "* ldap");
	ctlbuf_str(b, "state", ls.ldap_state);
	ctlbuf_str(b, "uri", ls.ldap_uri);
	ctlbuf_num(b, "pending", ls.pending);
	ctlbuf_printf(b, "\n* cache");
	ctlbuf_num(b, "entries", ls.cache.entries);
	ctlbuf_num(b, "hits", ls.cache.hits);
	ctlbuf_num(b, "misses", ls.cache.misses);
	ctlbuf_num(b, "stale", ls.cache.stale);
	ctlbuf_printf(b, "\n* lookups");
	ctlbuf_num(b, "searches", ls.searches);
	ctlbuf_num(b, "coalesced", ls.coalesced);
	ctlbuf_num(b, "refused", ls.refused);
	ctlbuf_printf(b, "\n* logins");
	ctlbuf_num(b, "ok", t->m.logins_ok);
	ctlbuf_num(b, "failed", t->m.logins_failed);
	ctlbuf_num(b, "unavailable", t->m.logins_unavailable);
	ctlbuf_printf(b, "\n* refused");
	ctlbuf_num(b, "sessions", t->m.refused_total);
	ctlbuf_num(b, "per_client", t->m.refused_per_client);
	ctlbuf_num(b, "backoff", t->m.refused_backoff);
	clients_stats(srv->hub->clients, now_ms(), &tracked, &blocked);
	ctlbuf_printf(b, "\n* clients");
	ctlbuf_num(b, "tracked", tracked);
	ctlbuf_num(b, "blocked", blocked);
	ctlbuf_printf(b, "\n* reloads");
	ctlbuf_num(b, "ok", srv->reloads);
	ctlbuf_num(b, "failed", srv->reload_failures);
	ctlbuf_printf(b, "\n");
	conn_answer(cc, b, "ok");
}

static void
lookup_done(const struct lookup_result *res, void *arg)
{
	struct control_conn	*cc = arg;
	struct ctlbuf		 b = { 0 };
	char			 where[MAILHOST_HOST_MAX + 16];
	const char		*src = res->source != NULL ? res->source : "-";

	cc->lookup = NULL;
	bufferevent_enable(cc->bev, EV_READ);
	switch (res->status) {
	case LOOKUP_OK:
		if (res->host.port != 0)
			snprintf(where, sizeof(where), strchr(res->host.host,
			    ':') != NULL ? "[%s]:%u" : "%s:%u", res->host.host,
			    res->host.port);
		else
			snprintf(where, sizeof(where), "%s", res->host.host);
		ctlbuf_printf(&b, "* lookup");
		ctlbuf_str(&b, "user", cc->user);
		ctlbuf_str(&b, "backend", where);
		if (res->login != NULL)
			ctlbuf_str(&b, "login", res->login);
		ctlbuf_str(&b, "source", src);
		ctlbuf_printf(&b, " cached=%s\n", res->cached ? "true" :
		    "false");
		conn_answer(cc, &b, "ok %s is on %s (from %s)", cc->user,
		    where, src);
		break;
	case LOOKUP_NOTFOUND:
		conn_answer(cc, NULL, "error no such user: %s", cc->user);
		break;
	case LOOKUP_TEMPFAIL:
		conn_answer(cc, NULL, "error lookup failed: %s",
		    res->reason != NULL ? res->reason : "unavailable");
		break;
	}
	conn_read_cb(cc->bev, cc);
}

static void
verb_lookup(struct control_conn *cc, const char *user)
{
	snprintf(cc->user, sizeof(cc->user), "%s", user);
	cc->lookup = lookup_start(cc->ctl->srv->hub->lookup, user,
	    lookup_done, cc);
	if (cc->lookup == NULL) {
		conn_answer(cc, NULL, "error out of memory");
		return;
	}
	/* One request at a time: the next waits for this answer. */
	bufferevent_disable(cc->bev, EV_READ);
}

static void
verb_metrics(struct control_conn *cc, const struct sessions_tally *t,
    struct ctlbuf *b)
{
	struct metrics_snapshot	 m;
	char			*text, *line, *save = NULL;

	server_snapshot(cc->ctl->srv, t, &m);
	if ((text = metrics_render(&m)) == NULL) {
		conn_answer(cc, b, "error out of memory");
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		ctlbuf_printf(b, "+ %s\n", line);
	free(text);
	conn_answer(cc, b, "ok");
}

/* hold USER [SECONDS], release USER, moves: see src/moves.h. */
static void
verb_moves(struct control_conn *cc, struct ctlbuf *b,
    const struct control_req *req)
{
	struct moves		*m = cc->ctl->srv->hub->moves;
	const struct move_event	*e;
	const char		*user;
	char			*end;
	size_t			 i, n;
	long			 secs = 0;
	int			 left;

	switch (req->verb) {
	case CTL_HOLD:
		if (req->has_arg2) {
			secs = strtol(req->arg2, &end, 10);
			if (*end != '\0' || secs < 1 || secs > HOLD_MAX_S) {
				conn_answer(cc, b, "error seconds: a number "
				    "from 1 to %d", HOLD_MAX_S);
				return;
			}
		}
		if (moves_hold(m, req->arg, (int)secs) == -1) {
			conn_answer(cc, b, "error out of memory");
			return;
		}
		left = moves_held(m, req->arg);
		ctlbuf_printf(b, "* hold");
		ctlbuf_str(b, "user", req->arg);
		ctlbuf_num(b, "seconds", (uint64_t)left);
		ctlbuf_printf(b, "\n");
		conn_answer(cc, b, "ok holding %s for %ds", req->arg, left);
		break;
	case CTL_RELEASE:
		if (moves_release(m, req->arg) == -1)
			conn_answer(cc, b, "error %s is not held", req->arg);
		else
			conn_answer(cc, b, "ok released %s", req->arg);
		break;
	default:
		ctlbuf_printf(b, "* follower");
		ctlbuf_str(b, "mode", moves_mode(m, &n));
		ctlbuf_num(b, "entries", n);
		ctlbuf_printf(b, "\n");
		for (i = 0; (e = moves_get(m, i)) != NULL; i++) {
			ctlbuf_printf(b, "* move");
			ctlbuf_num(b, "time", e->at_ms / 1000);
			ctlbuf_str(b, "dn", e->dn);
			ctlbuf_str(b, "from", e->old_host);
			ctlbuf_str(b, "to", e->new_host);
			ctlbuf_num(b, "closed", e->closed);
			ctlbuf_str(b, "how", e->how);
			ctlbuf_printf(b, "\n");
		}
		n = i;
		for (i = 0; (user = moves_hold_get(m, i, &left)) != NULL;
		    i++) {
			ctlbuf_printf(b, "* hold");
			ctlbuf_str(b, "user", user);
			ctlbuf_num(b, "seconds", (uint64_t)left);
			ctlbuf_printf(b, "\n");
		}
		conn_answer(cc, b, "ok %zu move%s, %zu hold%s", n,
		    n == 1 ? "" : "s", i, i == 1 ? "" : "s");
		break;
	}
}

/* On each worker, for status: counts and rows. */
static void
status_task(struct worker *w, const struct task *t, struct task_part *p)
{
	sessions_tally(w, &p->tally, 1);
}

/* params: the user, or NULL for all. */
static void
list_task(struct worker *w, const struct task *t, struct task_part *p)
{
	p->count = sessions_list(w, t->params, &p->buf);
}

static void
kick_task(struct worker *w, const struct task *t, struct task_part *p)
{
	p->count = sessions_kick(w, t->params);
}

/* Every worker has answered: the reply, then the next request. */
static void
task_done(struct task *t, void *arg)
{
	struct control_conn	*cc = arg;
	struct ctlbuf		 b = { 0 };
	const char		*user = t->params;
	size_t			 i, n = 0;

	cc->task = NULL;
	for (i = 0; i < t->nparts; i++) {
		n += t->parts[i].count;
		if (t->parts[i].buf.oom)
			b.oom = 1;
		else if (t->parts[i].buf.len > 0)
			ctlbuf_printf(&b, "%.*s", (int)t->parts[i].buf.len,
			    t->parts[i].buf.data);
	}
	switch (cc->verb) {
	case CTL_STATUS:
		task_merge_tallies(t);
		verb_status(cc, &t->parts[0].tally, &b);
		break;
	case CTL_METRICS:
		task_merge_tallies(t);
		verb_metrics(cc, &t->parts[0].tally, &b);
		break;
	case CTL_SESSIONS:
		conn_answer(cc, &b, "ok %zu session%s", n, n == 1 ? "" : "s");
		break;
	case CTL_KICK:
		ctlbuf_printf(&b, "* kick");
		ctlbuf_str(&b, "user", user);
		ctlbuf_num(&b, "sessions", n);
		ctlbuf_printf(&b, "\n");
		conn_answer(cc, &b, "ok kicked %zu session%s of %s", n,
		    n == 1 ? "" : "s", user);
		break;
	default:
		ctlbuf_free(&b);
		break;
	}
	bufferevent_enable(cc->bev, EV_READ);
	conn_read_cb(cc->bev, cc);
}

/* Ask every worker; one request at a time per connection. */
static void
ask_workers(struct control_conn *cc, const struct control_req *req,
    task_fn *fn, int with_user)
{
	char	*user = NULL;

	if (with_user && req->has_arg && (user = strdup(req->arg)) == NULL) {
		conn_answer(cc, NULL, "error out of memory");
		return;
	}
	cc->verb = req->verb;
	cc->task = hub_task(cc->ctl->srv->hub, fn, user, free, task_done, cc);
	bufferevent_disable(cc->bev, EV_READ);
}

static void
conn_request(struct control_conn *cc, const char *line, size_t len)
{
	struct server		*srv = cc->ctl->srv;
	struct control_req	 req;
	struct ctlbuf		 b = { 0 };
	const char		*errstr;
	char			 err[CONF_ERR_MAX];
	char			 arg[CONTROL_ARG_MAX * 4 + 1];
	size_t			 n;

	if (control_parse(line, len, &req, &errstr) == -1) {
		conn_answer(cc, NULL, "error %s", errstr);
		return;
	}
	log_escape(req.arg, strlen(req.arg), arg, sizeof(arg));
	log_info("control: uid %ld: %s%s%s", (long)cc->uid,
	    control_verb_name(req.verb), req.has_arg ? " " : "", arg);
	switch (req.verb) {
	case CTL_STATUS:
		ask_workers(cc, &req, status_task, 0);
		break;
	case CTL_SESSIONS:
		ask_workers(cc, &req, list_task, 1);
		break;
	case CTL_LOOKUP:
		verb_lookup(cc, req.arg);
		break;
	case CTL_KICK:
		ask_workers(cc, &req, kick_task, 1);
		break;
	case CTL_FLUSH:
		n = lookup_flush(srv->hub->lookup, req.has_arg ? req.arg :
		    NULL);
		ctlbuf_printf(&b, "* flush");
		if (req.has_arg)
			ctlbuf_str(&b, "user", req.arg);
		ctlbuf_num(&b, "entries", n);
		ctlbuf_printf(&b, "\n");
		conn_answer(cc, &b, "ok flushed %zu cache entr%s", n,
		    n == 1 ? "y" : "ies");
		break;
	case CTL_RELOAD:
		log_info("ferryctl reload: reloading %s", srv->conf_path);
		if (server_reload(srv, err, sizeof(err)) == -1) {
			/* In the log too, as for SIGHUP: the operator may
			 * not be the one who ran ferryctl. */
			log_warnx("reload refused, configuration unchanged: %s",
			    err);
			conn_answer(cc, NULL, "error reload refused: %s", err);
		} else
			conn_answer(cc, NULL, "ok configuration reloaded");
		break;
	case CTL_METRICS:
		ask_workers(cc, &req, hub_tally_task, 0);
		break;
	case CTL_HOLD:
	case CTL_RELEASE:
	case CTL_MOVES:
		verb_moves(cc, &b, &req);
		break;
	case CTL_VERB_COUNT:
		break;
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn	*cc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	while (cc->lookup == NULL && cc->task == NULL) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
				conn_answer(cc, NULL, "error request too "
				    "long");
				evbuffer_drain(in, evbuffer_get_length(in));
			}
			return;
		}
		conn_request(cc, line, len);
		free(line);
	}
}

/* Root, ferryd's own user, and members of the socket's group. */
static int
peer_allowed(struct control *ctl, uid_t uid, gid_t gid)
{
	struct passwd	*pw;
	gid_t		 groups[CONTROL_GROUPS_MAX];
	int		 i, n = CONTROL_GROUPS_MAX;

	if (uid == 0 || uid == geteuid() || gid == ctl->gid)
		return 1;
	if ((pw = getpwuid(uid)) == NULL ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == ctl->gid)
			return 1;
	return 0;
}

static void
control_accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct control		*ctl = arg;
	struct control_conn	*cc;
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	struct timeval		 tv = { CONTROL_IDLE_S, 0 };
	int			 fd;
	static const char	 denied[] = "error permission denied\n";

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    !peer_allowed(ctl, cred.uid, cred.gid)) {
		log_warnx("control: refusing uid %ld", (long)cred.uid);
		if (write(fd, denied, sizeof(denied) - 1) == -1)
			log_debug("control: %s", strerror(errno));
		close(fd);
		return;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL ||
	    (cc->bev = bufferevent_socket_new(ctl->srv->hub->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("control: out of memory");
		free(cc);
		close(fd);
		return;
	}
	cc->ctl = ctl;
	cc->uid = cred.uid;
	TAILQ_INSERT_TAIL(&ctl->conns, cc, entry);
	bufferevent_setcb(cc->bev, conn_read_cb, NULL, conn_event_cb, cc);
	bufferevent_set_timeouts(cc->bev, &tv, &tv);
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
}

struct control *
control_new(struct server *srv, uid_t owner, gid_t gid, char *err,
    size_t errlen)
{
	const struct conf_control *cfg = &srv->conf->control;
	struct control		*ctl;
	struct sockaddr_un	 sun;
	struct group		*gr;
	struct stat		 st;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: control socket %s: path too long",
		    srv->conf->path, cfg->socket);
		return NULL;
	}
	strcpy(sun.sun_path, cfg->socket);
	if (cfg->group != NULL) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			snprintf(err, errlen, "%s: control group %s: no such "
			    "group", srv->conf->path, cfg->group);
			return NULL;
		}
		gid = gr->gr_gid;
	}
	/* A socket left by an earlier run goes; anything else stays. */
	if (lstat(cfg->socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and "
			    "is not a socket", cfg->socket);
			return NULL;
		}
		unlink(cfg->socket);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	old = umask(0177);	/* no window with a wider mode */
	if (fd == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chown(cfg->socket, owner, gid) == -1 ||
	    chmod(cfg->socket, (mode_t)cfg->mode) == -1 ||
	    listen(fd, 16) == -1) {
		snprintf(err, errlen, "control socket %s: %s", cfg->socket,
		    strerror(errno));
		umask(old);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	umask(old);
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->srv = srv;
	ctl->fd = fd;
	ctl->gid = gid;
	ctl->path = xstrdup(cfg->socket);
	TAILQ_INIT(&ctl->conns);
	ctl->ev = event_new(srv->hub->base, fd, EV_READ | EV_PERSIST,
	    control_accept_cb, ctl);
	if (ctl->ev == NULL)
		fatalx("control: event_new failed");
	event_add(ctl->ev, NULL);
	return ctl;
}

void
control_free(struct control **ctlp)
{
	struct control		*ctl = *ctlp;
	struct control_conn	*cc;

	if (ctl == NULL)
		return;
	while ((cc = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(cc);
	event_free(ctl->ev);
	close(ctl->fd);
	/* May fail once privileges are gone; the next start cleans up. */
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	*ctlp = NULL;
}
