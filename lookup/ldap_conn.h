/*
 * One LDAP connection on a libevent loop, never blocking it.
 *
 * The connection walks the configured URIs in order (failover), sets
 * up TLS (ldaps://, or StartTLS), binds (anonymous, simple, or SASL
 * through libsasl2), and runs one-entry searches for the mailHost
 * attribute (and the login attribute).  At most conf->max_searches are
 * in flight; the rest wait in a queue, as do searches made while it is
 * down.  When every URI has failed the queue is answered TEMPFAIL and
 * reconnecting backs off (250ms doubling to 5s).  Bound to a later URI,
 * it tries the first one again every conf->failback_ms while idle.
 * Every search has its own timeout (conf->timeout_ms), counted from
 * ldap_conn_search(); the bind has conf->bind_timeout_ms.
 *
 * The TLS handshake runs inside libldap (ldap_install_tls), which has
 * no resumable handshake: it polls the socket itself, bounded by the
 * connect timeout (LDAP_OPT_NETWORK_TIMEOUT).  Everything else is
 * driven by the loop.
 *
 * Callbacks never run from inside ldap_conn_search(), ldap_conn_cancel()
 * or ldap_conn_free(); each search is answered exactly once unless it is
 * cancelled first.  The search handle is invalid once its callback has
 * run.  The process must ignore SIGPIPE (libldap writes with write(2)).
 */
#ifndef FERRY_LDAP_CONN_H
#define FERRY_LDAP_CONN_H

#include <stddef.h>

struct event_base;
struct evdns_base;
struct conf_ldap;
struct ldap_conn;
struct ldap_conn_search;

enum ldap_conn_status {
	LDAP_CONN_FOUND,	/* one entry; dn and value are set */
	LDAP_CONN_NOTFOUND,	/* no entry, several, or no such attribute */
	LDAP_CONN_TEMPFAIL,	/* unreachable, timed out, LDAP error */
};

struct ldap_conn_result {
	enum ldap_conn_status	 status;
	const char		*dn;		/* FOUND only */
	const char		*value;		/* FOUND: 1st value, */
	size_t			 len;		/*  NUL-terminated */
	const char		*login;		/* FOUND: login-attribute */
	size_t			 login_len;	/*  value, or NULL */
	int			 noattr;	/* NOTFOUND: entry lacks it */
	const char		*reason;	/* never secret */
};

/* Everything in the result is valid only during the callback. */
typedef void	ldap_conn_cb(const struct ldap_conn_result *, void *arg);

/*
 * conf must outlive the connection.  Connecting starts on the next loop
 * turn.  Aborts only if memory runs out (setup time).  evdns may be NULL,
 * then only IP literals are usable in ldap:// URIs.
 */
struct ldap_conn *ldap_conn_new(struct event_base *, struct evdns_base *,
		    const struct conf_ldap *);
/* Close the connection; pending searches are freed without callbacks. */
void		 ldap_conn_free(struct ldap_conn **);
/* Search for filter (copied).  NULL only if memory runs out. */
struct ldap_conn_search *ldap_conn_search(struct ldap_conn *,
		    const char *filter, ldap_conn_cb *, void *arg);
/* Abandon a search: its callback will not run.  *sp becomes NULL. */
void		 ldap_conn_cancel(struct ldap_conn_search **sp);
/* For status: the state's name ("bound", "backoff", ...) and the URI
 * in use or being tried. */
const char	*ldap_conn_state(const struct ldap_conn *, const char **uri);

/*
 * For a connection used for requests of its own (the change follower,
 * lookup/sync.c): up runs each time it is bound, down when that link
 * is about to go (also from ldap_conn_free), message for every message
 * that answers no ldap_conn_search().  None may free the connection.
 */
struct ldap;
struct ldapmsg;
struct ldap_conn_hooks {
	void	(*up)(struct ldap *, void *);
	void	(*down)(void *);
	void	(*message)(struct ldap *, struct ldapmsg *, void *);
};
void		 ldap_conn_set_hooks(struct ldap_conn *,
		    const struct ldap_conn_hooks *, void *arg);

#endif
