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

#define CONF_ERR_MAX	512
#define CONF_MAX_URIS	8

enum conf_proto {
	PROTO_IMAP,
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
};

struct conf_backend_defaults {
	int		 imap_port;		/* default 143 */
	int		 connect_timeout_ms;	/* default 10s */
	int		 login_timeout_ms;	/* default 30s */
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
};

/* Parse text (name is used in error messages).  NULL on error. */
struct conf	*conf_parse(const char *name, const char *text, size_t len,
		    char *err, size_t errlen);
/* Read and parse a file, then read ldap bind-password-file if set. */
struct conf	*conf_load(const char *path, char *err, size_t errlen);
void		 conf_free(struct conf **);
const char	*conf_proto_name(enum conf_proto);

#endif
