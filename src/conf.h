/*
 * ferry configuration: an immutable snapshot built from a file.
 *
 * conf_parse() is a pure function over text (testable without files);
 * conf_load() reads a file (and the LDAP password file it names) and calls
 * it.  Errors are "FILE:LINE: what is wrong" in the caller's buffer.
 * The returned conf is owned by the caller and released with conf_free(),
 * which wipes the secrets it holds.
 */
#ifndef FERRY_CONF_H
#define FERRY_CONF_H

#include <stddef.h>
#include <sys/socket.h>

struct cidr;
struct mapfile;

#define CONF_ERR_MAX	512
#define CONF_MAX_URIS	8

enum conf_proto {
	PROTO_IMAP,
	PROTO_POP3,
	PROTO_SIEVE,		/* ManageSieve, RFC 5804 */
};

/* A plaintext listener's STARTTLS policy. */
enum conf_starttls {
	CONF_STARTTLS_REQUIRED,	/* no login before TLS (but trusted nets) */
	CONF_STARTTLS_OPTIONAL,	/* offered; plaintext logins allowed */
	CONF_STARTTLS_OFF,	/* not offered */
};

/* How ferry talks to a backend. */
enum conf_backend_tls {
	CONF_BTLS_OFF,
	CONF_BTLS_STARTTLS,
	CONF_BTLS_IMPLICIT,
};

enum ldap_scope_conf {
	CONF_SCOPE_BASE,
	CONF_SCOPE_ONE,
	CONF_SCOPE_SUB,
};

struct conf_listen {
	enum conf_proto		 proto;
	char			*address;	/* as written: "127.0.0.1:143" */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 line;		/* where it was configured */
	int			 implicit_tls;	/* imaps */
	enum conf_starttls	 starttls;	/* imap; default required */
};

struct conf_sni {
	char		*name;			/* host name the client asks for */
	char		*certificate;
	char		*key;
	int		 line;
};

struct conf_tls {
	char		*certificate;		/* default certificate chain */
	char		*key;
	struct conf_sni	*sni;
	size_t		 nsni;
	int		 min_version;		/* 12 or 13; default 12 */
	char		*ciphers;		/* OpenSSL list; NULL: default */
	int		 handshake_timeout_ms;	/* default 10s */
	int		 line;			/* of the tls block, 0: none */
};

struct conf_ldap {
	char		*uris[CONF_MAX_URIS];
	size_t		 nuris;
	char		*bind_dn;		/* NULL: anonymous bind */
	char		*bind_password;		/* secret; wiped on free */
	char		*bind_password_file;	/* read by conf_load */
	char		*base;
	enum ldap_scope_conf scope;
	char		*filter;		/* template with %u %n %d */
	char		*attribute;		/* default "mailHost" */
	int		 connect_timeout_ms;	/* default 5s */
	int		 timeout_ms;		/* bind and search; default 5s */
	int		 bind_timeout_ms;	/* default: timeout */
	int		 max_searches;		/* in flight; default 64 */
	int		 failback_ms;		/* retry the 1st URI; 60s */
	char		*login_attribute;	/* backend login name; NULL */
	char		*sasl_mech;		/* NULL: simple bind */
	char		*sasl_authcid;
	char		*sasl_authzid;
	char		*sasl_realm;
	int		 starttls;		/* ldap:// only; default no */
	char		*tls_ca_file;		/* NULL: system store */
	int		 tls_verify;		/* default yes (and names) */
	int		 follow_changes;	/* CONF_FOLLOW_*; default yes */
	int		 poll_interval_ms;	/* polling follower; 30s */
	int		 move_grace_ms;		/* before closing; default 0 */
};

/* ldap follow-changes: lookup/sync.h. */
#define CONF_FOLLOW_NO		0
#define CONF_FOLLOW_YES		1	/* syncrepl, else polling */
#define CONF_FOLLOW_POLL	2	/* polling only */

struct conf_cache {
	int		 ttl_ms;		/* default 60s; 0: no cache */
	int		 negative_ttl_ms;	/* default 10s */
	int		 stale_ms;		/* stale-if-error; default 1h */
	int		 size;			/* entries; default 100000 */
};

/* See lookup/username.h. */
struct conf_username {
	int		 lowercase;		/* default no */
	char		*default_domain;	/* NULL: none */
	char		 delimiter;		/* default '@' */
	int		 strip_lookup;		/* strip-domain lookup|both */
	int		 strip_login;		/* strip-domain login|both */
};

/* Where answers come from besides LDAP, and which are acceptable. */
struct conf_lookup {
	char		*map_file;		/* NULL: none */
	/* map_file as conf_load() read it (NULL from conf_parse()). */
	struct mapfile	*map;
	char		*not_found_backend;	/* NULL: refuse */
	char		*no_attribute_backend;	/* NULL: refuse */
	int		 allow_any_host;	/* default no */
};

struct conf_backend_defaults {
	int		 imap_port;		/* default 143 */
	int		 connect_timeout_ms;	/* default 10s */
	int		 login_timeout_ms;	/* default 30s */
	enum conf_backend_tls tls;		/* default off */
	char		*ca;			/* CA file; NULL: system store */
	int		 verify;		/* default yes */
	int		 imaps_port;		/* default 993 (implicit TLS) */
	int		 forward_id;		/* ID x-originating-*; default no */
	int		 pop3_port;		/* default 110 */
	int		 pop3s_port;		/* default 995 (implicit TLS) */
	int		 sieve_port;		/* default 4190 */
	int		 xclient;		/* POP3 XCLIENT; default no */
	int		 down_time_ms;		/* after a failed connect; 10s */
};

/* A mail server ferry may route to: backend NAME { address ... }. */
struct conf_backend {
	char		*name;
	char		*address;		/* NULL: the name */
	struct conf_backend_defaults opts;	/* backend-defaults + own */
	int		 line;
};

struct conf_limits {
	int		 sessions;		/* default 10000 */
	int		 preauth_timeout_ms;	/* default 60s */
	int		 idle_timeout_ms;	/* default 30m; RFC 3501 §5.4 */
	int		 auth_failures;		/* default 3, then BYE */
	int		 auth_failure_delay_ms;	/* default 1s */
	int		 bad_commands;		/* default 10, then BYE */
	size_t		 line_max;		/* default 8192 */
	size_t		 literal_max;		/* default 8192 */
	size_t		 pop3_line_max;		/* default 255 (RFC 2449) */
	int		 per_client;		/* default 50 sessions per address */
	int		 client_failures;	/* default 30 failed logins, */
	int		 client_backoff_ms;	/*  then refuse for 5m */
	int		 drain_time_ms;		/* default 30s on SIGTERM */
};

struct conf_control {
	char		*socket;		/* default /run/ferry/ferry.sock */
	int		 mode;			/* default 0660 */
	char		*group;			/* NULL: the service user's */
};

struct conf_metrics {
	char			*listen;	/* NULL: no HTTP endpoint */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
};

struct conf {
	char			*path;
	char			*user;		/* NULL: keep running as is */
	char			*group;
	char			*pid_file;
	struct conf_listen	*listens;
	size_t			 nlistens;
	struct conf_ldap	 ldap;
	struct conf_backend_defaults backend;
	struct conf_limits	 limits;
	struct conf_cache	 cache;
	struct conf_username	 username;
	struct conf_lookup	 lookup;
	struct conf_backend	*backends;
	size_t			 nbackends;
	struct conf_tls		 tls;
	struct cidr		*trusted;	/* trusted-networks */
	size_t			 ntrusted;
	struct conf_control	 control;
	struct conf_metrics	 metrics;
	int			 workers;	/* 0: one per core */
	/* Sessions on every worker hold references: see conf_ref(). */
	_Atomic int		 refs;
};

/* Parse text (name is used in error messages).  NULL on error. */
struct conf	*conf_parse(const char *name, const char *text, size_t len,
		    char *err, size_t errlen);
/* Read and parse a file, then read ldap bind-password-file if set. */
struct conf	*conf_load(const char *path, char *err, size_t errlen);
void		 conf_free(struct conf **);
/* A conf starts with one reference; sessions that must keep their
 * snapshot across a reload take one more.  Single-threaded for now. */
struct conf	*conf_ref(struct conf *);
/* workers, with auto resolved to the number of online cores. */
#define CONF_WORKERS_MAX	64
int		 conf_workers(const struct conf *);
void		 conf_unref(struct conf **);
const char	*conf_proto_name(enum conf_proto);
/* The backend called name (or with that address), or NULL. */
const struct conf_backend *conf_backend_find(const struct conf *,
		    const char *name);

#endif
