/* One asynchronous LDAP connection on a libevent loop; see ldap_conn.h. */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <ldap.h>
#include <openldap.h>
#include <sasl/sasl.h>

#include "lookup/ldap_conn.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/xmalloc.h"

#define BACKOFF_MIN_MS		250
#define BACKOFF_MAX_MS		5000
#define DEFAULT_TIMEOUT_MS	5000
#define FLAP_MS			1000	/* lost sooner: back off */
/* Debian's slapd socket, for ldapi:/// without a path. */
#define LDAPI_DEFAULT_PATH	"/var/run/slapd/ldapi"

enum conn_state {
	CONN_IDLE,		/* down; connect on the next kick */
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_STARTTLS,		/* waiting for the StartTLS answer */
	CONN_BINDING,
	CONN_BOUND,
	CONN_BACKOFF,		/* down; waiting for the retry timer */
	CONN_STATE_COUNT
};

static const char *const conn_state_names[] = {
	[CONN_IDLE] = "idle",
	[CONN_RESOLVING] = "resolving",
	[CONN_CONNECTING] = "connecting",
	[CONN_STARTTLS] = "starttls",
	[CONN_BINDING] = "binding",
	[CONN_BOUND] = "bound",
	[CONN_BACKOFF] = "backoff",
};
_Static_assert(sizeof(conn_state_names) / sizeof(conn_state_names[0]) ==
    CONN_STATE_COUNT, "a connection state has no name");

struct ldap_uri {
	const char	*uri;		/* the configuration's string */
	int		 usable;
	int		 ipc;		/* ldapi:// */
	int		 tls;		/* ldaps:// */
	char		*host;		/* host, or ldapi:// path */
	char		 port[12];
};

TAILQ_HEAD(search_list, ldap_conn_search);

struct ldap_conn_search {
	TAILQ_ENTRY(ldap_conn_search) entry;
	struct search_list	*list;		/* pending or sent */
	struct ldap_conn	*conn;
	struct event		*timer;
	ldap_conn_cb		*cb;
	void			*arg;
	int			 msgid;		/* -1: not sent */
	int			 retried;	/* requeued once already */
	int			 nentries;
	int			 noattr;
	int			 nomem;
	char			*dn;		/* from ldap_get_dn() */
	char			*value;
	size_t			 vlen;
	char			*login;		/* login-attribute value */
	size_t			 llen;
	char			 reason[128];
	char			 filter[];
};

struct ldap_conn {
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct conf_ldap	*conf;
	const char		*attrs[3];
	size_t			 nsent;		/* on the sent list */
	struct event		*failback;	/* back to the first URI */
	int			 tls_msgid;
	struct ldap_uri		 uris[CONF_MAX_URIS];
	size_t			 nuris;
	size_t			 cur;		/* URI being tried */
	enum conn_state		 state;
	int			 backoff_ms;
	int			 down;		/* log quietly */
	uint64_t		 bound_ms;
	unsigned int		 gen;		/* +1 per teardown */

	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo	*ai;
	struct evutil_addrinfo	*ai_next;
	char			 addr[128];	/* for logs */
	int			 fd;
	struct event		*io;
	LDAP			*ld;
	int			 bind_msgid;
	/* The mechanism libldap chose, kept between the steps of a SASL
	 * bind: it reads it back on each step (NULL there would send the
	 * next step as a simple bind). */
	const char		*sasl_rmech;

	struct event		*kick;		/* deferred work */
	struct event		*timer;		/* resolve/bind/retry */
	struct search_list	 pending;	/* not sent yet */
	struct search_list	 sent;		/* awaiting answers */
	struct ldap_conn_hooks	 hooks;		/* see ldap_conn.h */
	void			*hooks_arg;
};

static void	conn_try_uri(struct ldap_conn *);
static void	conn_next_addr(struct ldap_conn *);
static void	conn_addr_failed(struct ldap_conn *, const char *);
static void	conn_lost(struct ldap_conn *, const char *);
static void	conn_bound(struct ldap_conn *);
static void	conn_io_cb(evutil_socket_t, short, void *);
static void	conn_read_cb(evutil_socket_t, short, void *);

static void	conn_warn(struct ldap_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Loud the first time round, then quiet until it works again. */
static void
conn_warn(struct ldap_conn *c, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->down)
		log_debug("%s", msg);
	else
		log_warnx("%s", msg);
}

static void
conn_set_state(struct ldap_conn *c, enum conn_state st)
{
	if (c->state != st)
		log_debug("ldap: state %s -> %s", conn_state_names[c->state],
		    conn_state_names[st]);
	c->state = st;
}

static struct timeval
ms_tv(int ms)
{
	struct timeval	tv;

	if (ms <= 0)
		ms = DEFAULT_TIMEOUT_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static void
conn_kick(struct ldap_conn *c)
{
	event_active(c->kick, EV_TIMEOUT, 0);
}

static void
search_free(struct ldap_conn_search *s)
{
	event_free(s->timer);
	if (s->dn != NULL)
		ldap_memfree(s->dn);
	free(s->value);
	free(s->login);
	free(s);
}

/* Take s off its list, answer it and free it. */
static void
search_finish(struct ldap_conn_search *s, enum ldap_conn_status status,
    const char *reason)
{
	struct ldap_conn_result	res;
	struct ldap_conn	*c = s->conn;

	TAILQ_REMOVE(s->list, s, entry);
	if (s->list == &c->sent) {
		c->nsent--;
		/* Room for a queued search. */
		if (!TAILQ_EMPTY(&c->pending))
			conn_kick(c);
	}
	memset(&res, 0, sizeof(res));
	res.status = status;
	res.reason = reason;
	res.noattr = status == LDAP_CONN_NOTFOUND && s->noattr;
	if (status == LDAP_CONN_FOUND) {
		res.dn = s->dn != NULL ? s->dn : "";
		res.value = s->value;
		res.len = s->vlen;
		res.login = s->login;
		res.login_len = s->llen;
	}
	s->cb(&res, s->arg);
	search_free(s);
}

/* Answer every search on list with TEMPFAIL. */
static void
fail_list(struct search_list *list, const char *reason)
{
	struct ldap_conn_search	*s;

	while ((s = TAILQ_FIRST(list)) != NULL)
		search_finish(s, LDAP_CONN_TEMPFAIL, reason);
}

/* Drop the link (socket, LDAP handle, I/O event); keep the address list. */
static void
conn_close_link(struct ldap_conn *c)
{
	if (c->state == CONN_BOUND && c->ld != NULL && c->hooks.down != NULL)
		c->hooks.down(c->hooks_arg);
	if (c->io != NULL) {
		event_free(c->io);
		c->io = NULL;
	}
	evtimer_del(c->timer);
	if (c->ld != NULL) {
		/* Owns the socket and closes it. */
		ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
		c->fd = -1;
	} else if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->bind_msgid = -1;
	c->gen++;
}

static void
conn_close_all(struct ldap_conn *c)
{
	struct evdns_getaddrinfo_request *req;

	if ((req = c->dnsreq) != NULL) {
		/* Its callback still runs, later, with EVUTIL_EAI_CANCEL. */
		c->dnsreq = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	if (c->ai != NULL) {
		evutil_freeaddrinfo(c->ai);
		c->ai = c->ai_next = NULL;
	}
	conn_close_link(c);
}

static void
conn_schedule_retry(struct ldap_conn *c)
{
	struct timeval	tv = ms_tv(c->backoff_ms);

	conn_set_state(c, CONN_BACKOFF);
	evtimer_add(c->timer, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
}

static void
conn_all_failed(struct ldap_conn *c)
{
	conn_close_all(c);
	if (!c->down)
		log_warnx("ldap: no server reachable; retrying with back-off");
	c->down = 1;
	conn_schedule_retry(c);
	fail_list(&c->pending, "LDAP unavailable");
}

static void
conn_connect_first(struct ldap_conn *c)
{
	evtimer_del(c->timer);
	c->cur = 0;
	conn_try_uri(c);
}

static void
conn_uri_failed(struct ldap_conn *c)
{
	conn_close_all(c);
	c->cur++;
	conn_try_uri(c);
}

static void
conn_resolved_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct ldap_conn	*c = arg;

	/* Cancelled: c may be gone already. */
	if (err == EVUTIL_EAI_CANCEL)
		return;
	c->dnsreq = NULL;
	evtimer_del(c->timer);
	if (err != 0) {
		conn_warn(c, "ldap: %s: resolving %s: %s", c->uris[c->cur].uri,
		    c->uris[c->cur].host, evutil_gai_strerror(err));
		conn_uri_failed(c);
		return;
	}
	c->ai = c->ai_next = ai;
	conn_next_addr(c);
}

static void
conn_resolve(struct ldap_conn *c, struct ldap_uri *u)
{
	struct evutil_addrinfo		 hints, *ai = NULL;
	struct evdns_getaddrinfo_request *req;
	struct timeval			 tv;
	int				 err;

	tv = ms_tv(c->conf->connect_timeout_ms);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	conn_set_state(c, CONN_RESOLVING);
	if (c->dns == NULL) {
		hints.ai_flags = EVUTIL_AI_NUMERICHOST;
		err = evutil_getaddrinfo(u->host, u->port, &hints, &ai);
		conn_resolved_cb(err, ai, c);
		return;
	}
	evtimer_add(c->timer, &tv);
	/* IP literals are answered at once, from inside this call. */
	req = evdns_getaddrinfo(c->dns, u->host, u->port, &hints,
	    conn_resolved_cb, c);
	if (req != NULL)
		c->dnsreq = req;
}

/* Start connecting; -1 with errno if that failed at once. */
static int
conn_try_addr(struct ldap_conn *c, const struct sockaddr *sa, socklen_t len)
{
	struct timeval	tv = ms_tv(c->conf->connect_timeout_ms);
	int		fd, on = 1, saved;

	if ((fd = socket(sa->sa_family, SOCK_STREAM, 0)) == -1)
		return -1;
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (sa->sa_family != AF_UNIX) {
		/* Searches are small and pipelined: no Nagle delay. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on));
		(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on,
		    sizeof(on));
	}
	c->fd = fd;
	conn_set_state(c, CONN_CONNECTING);
	if (connect(fd, sa, len) == 0)
		c->io = event_new(c->base, fd, EV_WRITE, conn_io_cb, c);
	else if (errno == EINPROGRESS)
		c->io = event_new(c->base, fd, EV_WRITE, conn_io_cb, c);
	else {
		saved = errno;
		close(fd);
		c->fd = -1;
		errno = saved;
		return -1;
	}
	if (c->io == NULL || event_add(c->io, &tv) == -1) {
		conn_close_link(c);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void
conn_next_addr(struct ldap_conn *c)
{
	struct evutil_addrinfo	*ai;

	if ((ai = c->ai_next) == NULL) {
		conn_uri_failed(c);
		return;
	}
	c->ai_next = ai->ai_next;
	sockaddr_format(ai->ai_addr, c->addr, sizeof(c->addr));
	if (conn_try_addr(c, ai->ai_addr, ai->ai_addrlen) == -1)
		conn_addr_failed(c, strerror(errno));
}

static void
conn_try_uri(struct ldap_conn *c)
{
	struct ldap_uri		*u;
	struct sockaddr_un	 sun;

	while (c->cur < c->nuris && !c->uris[c->cur].usable)
		c->cur++;
	if (c->cur >= c->nuris) {
		conn_all_failed(c);
		return;
	}
	u = &c->uris[c->cur];
	if (!u->ipc) {
		conn_resolve(c, u);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", u->host);
	snprintf(c->addr, sizeof(c->addr), "%s", u->host);
	if (conn_try_addr(c, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		conn_addr_failed(c, strerror(errno));
}

/* This address did not work out: on to the next one, or the next URI. */
static void
conn_addr_failed(struct ldap_conn *c, const char *why)
{
	conn_warn(c, "ldap: %s: %s: %s", c->uris[c->cur].uri, c->addr, why);
	conn_close_link(c);
	conn_set_state(c, CONN_CONNECTING);
	conn_next_addr(c);
}

/* libsasl2 asks for what the configuration has; never the terminal. */
static int
sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	struct ldap_conn	*c = defaults;
	const struct conf_ldap	*conf = c->conf;
	sasl_interact_t		*i;
	const char		*v;

	(void)ld;
	(void)flags;
	for (i = in; i->id != SASL_CB_LIST_END; i++) {
		switch (i->id) {
		case SASL_CB_AUTHNAME:
			v = conf->sasl_authcid;
			break;
		case SASL_CB_USER:
			v = conf->sasl_authzid;
			break;
		case SASL_CB_PASS:
			v = conf->bind_password;
			break;
		case SASL_CB_GETREALM:
			v = conf->sasl_realm;
			break;
		default:
			v = NULL;
			break;
		}
		if (v == NULL)
			v = i->defresult != NULL ? i->defresult : "";
		i->result = v;
		i->len = (unsigned)strlen(v);
	}
	return LDAP_SUCCESS;
}

/* The bind-timeout, for a simple bind and for each step of a SASL bind. */
static struct timeval
bind_tv(const struct conf_ldap *conf)
{
	return ms_tv(conf->bind_timeout_ms > 0 ? conf->bind_timeout_ms :
	    conf->timeout_ms);
}

/*
 * One step of a SASL bind: the first with msg NULL, then one per server
 * reply (ldap_bind(3): ldap_sasl_interactive_bind is called again with
 * each result until it stops answering LDAP_SASL_BIND_IN_PROGRESS).
 */
static void
conn_sasl_step(struct ldap_conn *c, LDAPMessage *msg)
{
	struct timeval	tv;
	char		why[256];
	int		rc;

	if (msg == NULL)
		c->sasl_rmech = NULL;
	rc = ldap_sasl_interactive_bind(c->ld, NULL, c->conf->sasl_mech,
	    NULL, NULL, LDAP_SASL_QUIET, sasl_interact, c, msg,
	    &c->sasl_rmech, &c->bind_msgid);
	if (rc == LDAP_SASL_BIND_IN_PROGRESS) {
		/* The next step is sent: it has a bind-timeout of its own. */
		if (msg != NULL) {
			tv = bind_tv(c->conf);
			evtimer_add(c->timer, &tv);
		}
		return;
	}
	if (rc == LDAP_SUCCESS) {
		conn_bound(c);
		return;
	}
	snprintf(why, sizeof(why), "SASL %s bind: %s", c->conf->sasl_mech,
	    ldap_err2string(rc));
	conn_addr_failed(c, why);
}

static void
conn_bind_start(struct ldap_conn *c)
{
	const struct conf_ldap	*conf = c->conf;
	struct berval		 cred;
	struct timeval		 tv;
	const char		*dn = "";
	int			 rc;

	tv = bind_tv(conf);
	conn_set_state(c, CONN_BINDING);
	evtimer_add(c->timer, &tv);
	if (conf->sasl_mech != NULL) {
		conn_sasl_step(c, NULL);
		return;
	}
	cred.bv_val = (char *)"";
	cred.bv_len = 0;
	if (conf->bind_dn != NULL) {
		dn = conf->bind_dn;
		if (conf->bind_password != NULL) {
			cred.bv_val = conf->bind_password;
			cred.bv_len = strlen(conf->bind_password);
		}
	}
	rc = ldap_sasl_bind(c->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    &c->bind_msgid);
	if (rc != LDAP_SUCCESS)
		conn_addr_failed(c, ldap_err2string(rc));
}

/* TLS on the link, inside libldap; see ldap_conn.h for the bound. */
static int
conn_install_tls(struct ldap_conn *c)
{
	const struct conf_ldap	*conf = c->conf;
	struct timeval		 tv = ms_tv(conf->connect_timeout_ms);
	char			 why[256];
	char			*msg = NULL;
	int			 rc, req, zero = 0;

	req = conf->tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	if (conf->tls_ca_file != NULL)
		ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE,
		    conf->tls_ca_file);
	ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
	ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	if ((rc = ldap_install_tls(c->ld)) == LDAP_SUCCESS)
		return 0;
	ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
	/* libldap's own detail is often just "(unknown error code)" for a
	 * certificate it refused: name what the operator can check. */
	snprintf(why, sizeof(why), "TLS: %s%s%s%s%s%s%s", ldap_err2string(rc),
	    msg != NULL ? " (" : "", msg != NULL ? msg : "",
	    msg != NULL ? ")" : "", conf->tls_verify ? "; is the server's "
	    "certificate for this host and signed by " : "",
	    conf->tls_verify ? (conf->tls_ca_file != NULL ?
	    conf->tls_ca_file : "the system's CAs") : "",
	    conf->tls_verify ? "?" : "");
	if (msg != NULL)
		ldap_memfree(msg);
	conn_addr_failed(c, why);
	return -1;
}

static void
conn_starttls_result(struct ldap_conn *c, LDAPMessage *msg)
{
	char	why[160];
	int	rc, err;

	rc = ldap_parse_result(c->ld, msg, &err, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	if (err != LDAP_SUCCESS) {
		snprintf(why, sizeof(why), "StartTLS: %s",
		    ldap_err2string(err));
		conn_addr_failed(c, why);
		return;
	}
	evtimer_del(c->timer);
	if (conn_install_tls(c) == 0)
		conn_bind_start(c);
}

static void
conn_bind(struct ldap_conn *c)
{
	const struct conf_ldap	*conf = c->conf;
	struct ldap_uri		*u = &c->uris[c->cur];
	struct timeval		 tv = ms_tv(conf->timeout_ms);
	int			 rc, v3 = LDAP_VERSION3;

	rc = ldap_init_fd(c->fd, u->ipc ? LDAP_PROTO_IPC : LDAP_PROTO_TCP,
	    u->uri, &c->ld);
	if (rc != LDAP_SUCCESS) {
		c->ld = NULL;
		conn_addr_failed(c, ldap_err2string(rc));
		return;
	}
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	/* Chasing a referral would connect synchronously. */
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	c->io = event_new(c->base, c->fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
	if (c->io == NULL || event_add(c->io, NULL) == -1) {
		conn_addr_failed(c, "out of memory");
		return;
	}
	if (u->tls) {
		if (conn_install_tls(c) == 0)
			conn_bind_start(c);
		return;
	}
	if (conf->starttls && !u->ipc) {
		rc = ldap_start_tls(c->ld, NULL, NULL, &c->tls_msgid);
		if (rc != LDAP_SUCCESS) {
			conn_addr_failed(c, ldap_err2string(rc));
			return;
		}
		conn_set_state(c, CONN_STARTTLS);
		evtimer_add(c->timer, &tv);
		return;
	}
	conn_bind_start(c);
}

/* Connected or timed out. */
static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn	*c = arg;
	socklen_t		 len = sizeof(int);
	int			 err = 0;

	event_free(c->io);
	c->io = NULL;
	if (what & EV_TIMEOUT) {
		conn_addr_failed(c, "connect timed out");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_addr_failed(c, strerror(err));
		return;
	}
	conn_bind(c);
}

static void
conn_flush(struct ldap_conn *c)
{
	const struct conf_ldap	*conf = c->conf;
	struct ldap_conn_search	*s;
	struct timeval		 tv;
	int			 rc, msgid, scope, ms;

	switch (conf->scope) {
	case CONF_SCOPE_BASE:
		scope = LDAP_SCOPE_BASE;
		break;
	case CONF_SCOPE_ONE:
		scope = LDAP_SCOPE_ONELEVEL;
		break;
	default:
		scope = LDAP_SCOPE_SUBTREE;
		break;
	}
	/* Also the server's time limit, in whole seconds. */
	ms = conf->timeout_ms > 0 ? conf->timeout_ms : DEFAULT_TIMEOUT_MS;
	tv.tv_sec = (ms + 999) / 1000;
	tv.tv_usec = 0;

	while (c->state == CONN_BOUND && c->nsent < (size_t)(conf->max_searches >
	    0 ? conf->max_searches : 64) &&
	    (s = TAILQ_FIRST(&c->pending)) != NULL) {
		rc = ldap_search_ext(c->ld, conf->base, scope, s->filter,
		    (char **)c->attrs, 0, NULL, NULL, &tv, 2, &msgid);
		if (rc == LDAP_SUCCESS) {
			TAILQ_REMOVE(&c->pending, s, entry);
			TAILQ_INSERT_TAIL(&c->sent, s, entry);
			s->list = &c->sent;
			s->msgid = msgid;
			c->nsent++;
			continue;
		}
		if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
			/* It stays queued and goes out on the next link. */
			conn_lost(c, ldap_err2string(rc));
			return;
		}
		log_warnx("ldap: search %s: %s", s->filter,
		    ldap_err2string(rc));
		search_finish(s, LDAP_CONN_TEMPFAIL, "LDAP error");
	}
}

/* The bound link is gone: requeue what was sent (once) and reconnect. */
static void
conn_lost(struct ldap_conn *c, const char *why)
{
	struct search_list	 failed;
	struct ldap_conn_search	*s;

	log_warnx("ldap: %s: connection lost: %s", c->uris[c->cur].uri, why);
	conn_close_all(c);
	c->nsent = 0;
	TAILQ_INIT(&failed);
	while ((s = TAILQ_LAST(&c->sent, search_list)) != NULL) {
		TAILQ_REMOVE(&c->sent, s, entry);
		s->msgid = -1;
		if (s->retried) {
			TAILQ_INSERT_HEAD(&failed, s, entry);
			s->list = &failed;
		} else {
			s->retried = 1;
			TAILQ_INSERT_HEAD(&c->pending, s, entry);
			s->list = &c->pending;
		}
	}
	if (now_ms() - c->bound_ms < FLAP_MS)
		conn_schedule_retry(c);
	else {
		conn_set_state(c, CONN_IDLE);
		conn_kick(c);
	}
	fail_list(&failed, "LDAP connection lost");
}

static void
conn_bound(struct ldap_conn *c)
{
	struct timeval	tv;

	evtimer_del(c->timer);
	if (c->ai != NULL) {
		evutil_freeaddrinfo(c->ai);
		c->ai = c->ai_next = NULL;
	}
	conn_set_state(c, CONN_BOUND);
	log_info("ldap: connected to %s (%s)", c->uris[c->cur].uri, c->addr);
	c->down = 0;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->bound_ms = now_ms();
	if (c->cur > 0 && c->conf->failback_ms > 0) {
		tv = ms_tv(c->conf->failback_ms);
		evtimer_add(c->failback, &tv);
	}
	conn_flush(c);
	if (c->state == CONN_BOUND && c->hooks.up != NULL)
		c->hooks.up(c->ld, c->hooks_arg);
}

/* Bound to a later URI: try the first again, when nothing is waiting. */
static void
conn_failback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn	*c = arg;
	struct timeval		 tv = ms_tv(1000);

	(void)fd;
	(void)what;
	if (c->state != CONN_BOUND || c->cur == 0)
		return;
	if (!TAILQ_EMPTY(&c->sent) || !TAILQ_EMPTY(&c->pending)) {
		evtimer_add(c->failback, &tv);
		return;
	}
	log_info("ldap: trying %s again", c->uris[0].uri);
	conn_close_all(c);
	conn_set_state(c, CONN_IDLE);
	conn_connect_first(c);
}

static void
search_entry(struct ldap_conn *c, struct ldap_conn_search *s,
    LDAPMessage *msg)
{
	struct berval	**vals;

	if (++s->nentries > 1)
		return;
	s->dn = ldap_get_dn(c->ld, msg);
	if (c->attrs[1] != NULL &&
	    (vals = ldap_get_values_len(c->ld, msg, c->attrs[1])) != NULL) {
		if (vals[0] != NULL && (s->login = malloc(vals[0]->bv_len +
		    1)) != NULL) {
			memcpy(s->login, vals[0]->bv_val, vals[0]->bv_len);
			s->login[vals[0]->bv_len] = '\0';
			s->llen = vals[0]->bv_len;
		}
		ldap_value_free_len(vals);
	}
	vals = ldap_get_values_len(c->ld, msg, c->attrs[0]);
	if (vals == NULL || vals[0] == NULL)
		s->noattr = 1;
	else if ((s->value = malloc(vals[0]->bv_len + 1)) == NULL)
		s->nomem = 1;
	else {
		memcpy(s->value, vals[0]->bv_val, vals[0]->bv_len);
		s->value[vals[0]->bv_len] = '\0';
		s->vlen = vals[0]->bv_len;
	}
	if (vals != NULL)
		ldap_value_free_len(vals);
}

static void
search_result(struct ldap_conn *c, struct ldap_conn_search *s,
    LDAPMessage *msg)
{
	char	*diag = NULL, esc[256];
	int	 rc, err;

	rc = ldap_parse_result(c->ld, msg, &err, NULL, &diag, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	if (err == LDAP_SIZELIMIT_EXCEEDED ||
	    (err == LDAP_SUCCESS && s->nentries > 1)) {
		log_warnx("ldap: search %s: more than one entry", s->filter);
		search_finish(s, LDAP_CONN_NOTFOUND, "ambiguous");
	} else if (err != LDAP_SUCCESS) {
		log_escape(diag != NULL ? diag : "", diag != NULL ?
		    strlen(diag) : 0, esc, sizeof(esc));
		log_warnx("ldap: search %s: %s%s%s%s", s->filter,
		    ldap_err2string(err), *esc ? " (" : "", esc,
		    *esc ? ")" : "");
		snprintf(s->reason, sizeof(s->reason), "LDAP error: %s",
		    ldap_err2string(err));
		search_finish(s, LDAP_CONN_TEMPFAIL, s->reason);
	} else if (s->nentries == 0)
		search_finish(s, LDAP_CONN_NOTFOUND, "no such user");
	else if (s->nomem)
		search_finish(s, LDAP_CONN_TEMPFAIL, "out of memory");
	else if (s->noattr) {
		snprintf(s->reason, sizeof(s->reason), "no %s attribute",
		    c->attrs[0]);
		search_finish(s, LDAP_CONN_NOTFOUND, s->reason);
	} else
		search_finish(s, LDAP_CONN_FOUND, "found");
	if (diag != NULL)
		ldap_memfree(diag);
}

static void
conn_bind_result(struct ldap_conn *c, LDAPMessage *msg)
{
	char	 why[256], esc[128];
	char	*diag = NULL;
	int	 rc, err;

	rc = ldap_parse_result(c->ld, msg, &err, NULL, &diag, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	if (err == LDAP_SUCCESS) {
		if (diag != NULL)
			ldap_memfree(diag);
		conn_bound(c);
		return;
	}
	log_escape(diag != NULL ? diag : "", diag != NULL ? strlen(diag) : 0,
	    esc, sizeof(esc));
	if (diag != NULL)
		ldap_memfree(diag);
	snprintf(why, sizeof(why), "bind as \"%s\": %s%s%s%s",
	    c->conf->bind_dn != NULL ? c->conf->bind_dn : "",
	    ldap_err2string(err), *esc ? " (" : "", esc, *esc ? ")" : "");
	conn_addr_failed(c, why);
}

static void
conn_dispatch(struct ldap_conn *c, LDAPMessage *msg)
{
	struct ldap_conn_search	*s;
	int			 msgid = ldap_msgid(msg);

	if (c->state == CONN_STARTTLS) {
		if (msgid == c->tls_msgid)
			conn_starttls_result(c, msg);
		return;
	}
	if (c->state == CONN_BINDING) {
		if (msgid != c->bind_msgid)
			return;
		if (c->conf->sasl_mech != NULL)
			conn_sasl_step(c, msg);
		else
			conn_bind_result(c, msg);
		return;
	}
	if (msgid == 0) {
		/* Unsolicited, e.g. a notice of disconnection. */
		conn_lost(c, "unsolicited notification");
		return;
	}
	TAILQ_FOREACH(s, &c->sent, entry)
		if (s->msgid == msgid)
			break;
	if (s == NULL) {
		if (c->hooks.message != NULL)
			c->hooks.message(c->ld, msg, c->hooks_arg);
		return;
	}
	switch (ldap_msgtype(msg)) {
	case LDAP_RES_SEARCH_ENTRY:
		search_entry(c, s, msg);
		break;
	case LDAP_RES_SEARCH_RESULT:
		search_result(c, s, msg);
		break;
	default:
		/* References and anything else: not for us. */
		break;
	}
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn	*c = arg;
	struct timeval		 zero;
	LDAPMessage		*msg;
	unsigned int		 gen = c->gen;
	int			 rc, err;

	(void)fd;
	(void)what;
	/* libldap buffers: drain until it has nothing complete. */
	for (;;) {
		zero.tv_sec = zero.tv_usec = 0;
		msg = NULL;
		rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero,
		    &msg);
		if (rc == 0)
			return;
		if (rc == -1) {
			err = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err);
			if (c->state == CONN_BOUND)
				conn_lost(c, ldap_err2string(err));
			else
				conn_addr_failed(c, ldap_err2string(err));
			return;
		}
		conn_dispatch(c, msg);
		ldap_msgfree(msg);
		if (c->gen != gen || c->ld == NULL)
			return;
	}
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn			*c = arg;
	struct evdns_getaddrinfo_request	*req;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_RESOLVING:
		conn_warn(c, "ldap: %s: resolving %s: timed out",
		    c->uris[c->cur].uri, c->uris[c->cur].host);
		if ((req = c->dnsreq) != NULL) {
			c->dnsreq = NULL;
			evdns_getaddrinfo_cancel(req);
		}
		conn_uri_failed(c);
		break;
	case CONN_BINDING:
		conn_addr_failed(c, "bind timed out");
		break;
	case CONN_STARTTLS:
		conn_addr_failed(c, "StartTLS timed out");
		break;
	case CONN_BACKOFF:
		conn_connect_first(c);
		break;
	default:
		break;
	}
}

static void
conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn	*c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_BOUND:
		conn_flush(c);
		break;
	case CONN_BACKOFF:
		/* A new search does not wait for the back-off. */
		if (TAILQ_EMPTY(&c->pending))
			break;
		/* FALLTHROUGH */
	case CONN_IDLE:
		conn_connect_first(c);
		break;
	default:
		break;
	}
}

static void
search_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ldap_conn_search	*s = arg;
	struct ldap_conn	*c = s->conn;

	(void)fd;
	(void)what;
	if (s->msgid >= 0) {
		log_warnx("ldap: search %s: timed out", s->filter);
		if (c->ld != NULL)
			ldap_abandon_ext(c->ld, s->msgid, NULL, NULL);
	} else
		log_debug("ldap: search %s: timed out unsent", s->filter);
	search_finish(s, LDAP_CONN_TEMPFAIL, "LDAP timeout");
}

static void
uri_init(struct ldap_uri *u, const char *uri)
{
	LDAPURLDesc	*lud;

	memset(u, 0, sizeof(*u));
	u->uri = uri;
	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS) {
		log_warnx("ldap: %s: not an LDAP URI, ignored", uri);
		return;
	}
	if (strcasecmp(lud->lud_scheme, "ldapi") == 0) {
		u->ipc = 1;
		/* ldap_url_parse() has percent-decoded the path. */
		u->host = xstrdup(lud->lud_host != NULL && *lud->lud_host ?
		    lud->lud_host : LDAPI_DEFAULT_PATH);
		if (strlen(u->host) >= sizeof(((struct sockaddr_un *)0)->
		    sun_path))
			log_warnx("ldap: %s: socket path too long, ignored",
			    uri);
		else
			u->usable = 1;
	} else if (strcasecmp(lud->lud_scheme, "ldap") == 0 ||
	    strcasecmp(lud->lud_scheme, "ldaps") == 0) {
		u->tls = strcasecmp(lud->lud_scheme, "ldaps") == 0;
		u->host = xstrdup(lud->lud_host != NULL && *lud->lud_host ?
		    lud->lud_host : "localhost");
		snprintf(u->port, sizeof(u->port), "%d",
		    lud->lud_port > 0 ? lud->lud_port : u->tls ? LDAPS_PORT :
		    LDAP_PORT);
		u->usable = 1;
	} else
		log_warnx("ldap: %s: scheme %s not supported, ignored", uri,
		    lud->lud_scheme);
	ldap_free_urldesc(lud);
}

struct ldap_conn *
ldap_conn_new(struct event_base *base, struct evdns_base *dns,
    const struct conf_ldap *conf)
{
	struct ldap_conn	*c;
	size_t			 i;

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->dns = dns;
	c->conf = conf;
	c->attrs[0] = conf->attribute != NULL ? conf->attribute : "mailHost";
	c->attrs[1] = conf->login_attribute;
	c->attrs[2] = NULL;
	for (i = 0; i < conf->nuris && i < CONF_MAX_URIS; i++)
		uri_init(&c->uris[c->nuris++], conf->uris[i]);
	c->state = CONN_IDLE;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->fd = -1;
	c->bind_msgid = -1;
	TAILQ_INIT(&c->pending);
	TAILQ_INIT(&c->sent);
	c->kick = event_new(base, -1, 0, conn_kick_cb, c);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	c->failback = evtimer_new(base, conn_failback_cb, c);
	if (c->kick == NULL || c->timer == NULL || c->failback == NULL)
		fatalx("ldap_conn_new: out of memory");
	/* Connect early so that the first login does not wait for it. */
	conn_kick(c);
	return c;
}

void
ldap_conn_free(struct ldap_conn **cp)
{
	struct ldap_conn	*c = *cp;
	struct ldap_conn_search	*s;
	size_t			 i;

	if (c == NULL)
		return;
	*cp = NULL;
	conn_close_all(c);
	while ((s = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, s, entry);
		search_free(s);
	}
	while ((s = TAILQ_FIRST(&c->sent)) != NULL) {
		TAILQ_REMOVE(&c->sent, s, entry);
		search_free(s);
	}
	event_free(c->kick);
	event_free(c->timer);
	event_free(c->failback);
	for (i = 0; i < c->nuris; i++)
		free(c->uris[i].host);
	free(c);
}

struct ldap_conn_search *
ldap_conn_search(struct ldap_conn *c, const char *filter, ldap_conn_cb *cb,
    void *arg)
{
	struct ldap_conn_search	*s;
	struct timeval		 tv = ms_tv(c->conf->timeout_ms);
	size_t			 len = strlen(filter);

	if ((s = calloc(1, sizeof(*s) + len + 1)) == NULL)
		return NULL;
	if ((s->timer = evtimer_new(c->base, search_timeout_cb, s)) == NULL ||
	    evtimer_add(s->timer, &tv) == -1) {
		if (s->timer != NULL)
			event_free(s->timer);
		free(s);
		return NULL;
	}
	memcpy(s->filter, filter, len + 1);
	s->conn = c;
	s->cb = cb;
	s->arg = arg;
	s->msgid = -1;
	TAILQ_INSERT_TAIL(&c->pending, s, entry);
	s->list = &c->pending;
	/* Sent (or a connection started) on the next loop turn. */
	conn_kick(c);
	return s;
}

void
ldap_conn_cancel(struct ldap_conn_search **sp)
{
	struct ldap_conn_search	*s = *sp;
	struct ldap_conn	*c;

	if (s == NULL)
		return;
	*sp = NULL;
	c = s->conn;
	if (s->msgid >= 0 && c->ld != NULL)
		ldap_abandon_ext(c->ld, s->msgid, NULL, NULL);
	TAILQ_REMOVE(s->list, s, entry);
	if (s->list == &c->sent) {
		c->nsent--;
		if (!TAILQ_EMPTY(&c->pending))
			conn_kick(c);
	}
	search_free(s);
}

const char *
ldap_conn_state(const struct ldap_conn *c, const char **uri)
{
	*uri = c->cur < c->nuris ? c->uris[c->cur].uri : "-";
	return conn_state_names[c->state];
}

void
ldap_conn_set_hooks(struct ldap_conn *c, const struct ldap_conn_hooks *h,
    void *arg)
{
	c->hooks = *h;
	c->hooks_arg = arg;
}
