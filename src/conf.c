/*
 * Configuration parser: a small tokenizer and a table-driven grammar.
 * The format is described in ferry.conf(5); every error names FILE:LINE.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lookup/filter.h"
#include "lookup/mailhost.h"
#include "lookup/mapfile.h"
#include "lookup/username.h"
#include "src/cidr.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/xmalloc.h"

#define DEFAULT_FILTER \
	"(&(objectClass=inetLocalMailRecipient)(|(uid=%n)(mail=%u)))"
#define DEFAULT_ATTRIBUTE	"mailHost"
#define DEFAULT_SOCKET		"/run/ferry/ferry.sock"

#define CONF_FILE_MAX	(1024 * 1024)	/* a config larger is a mistake */
#define SECRET_MAX	1024		/* longest bind password */
#define ESC_IN_MAX	64		/* bytes of a token shown in errors */
#define ESC_MAX		(ESC_IN_MAX * 4 + 4)
#define KW_MAX		32		/* settings per block */
#define KW_LIST		(-1)		/* 1..CONF_MAX_URIS values */
#define KW_REPEAT	0x01		/* may appear more than once */
#define KW_EMPTY_OK	0x02		/* "" is a valid value */
#define KW_OPTLAST	0x04		/* the last value may be left out */
#define SIZE_LIMIT	(1024LL * 1024 * 1024)

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

enum tok_type {
	T_EOF,
	T_WORD,
	T_STRING,
	T_LBRACE,
	T_RBRACE,
	T_SEMI,
};

struct token {
	enum tok_type	 type;
	int		 line;
	char		*val;		/* T_WORD, T_STRING: owned, unescaped */
};

struct parser {
	const char	*name;
	const char	*p;
	const char	*end;
	int		 line;
	struct token	 peek;
	int		 have_peek;
	char		*err;
	size_t		 errlen;
	struct conf	*c;
	int		 ldap_line;	/* where the ldap block opened */
	int		 pw_line;
	int		 pwfile_line;
	/* Backend blocks: settings shared with backend-defaults wait until
	 * the whole file is read, then apply over a copy of the defaults. */
	struct deferred	*defer;
	size_t		 ndefer;
	int		 defer_now;	/* collect, do not set */
	size_t		 cur_bk;	/* backend block being read */
	struct conf_backend_defaults *bk_opts; /* applying into this */
};

struct kw;

struct deferred {
	size_t		 backend;	/* index into c->backends */
	const struct kw	*kw;
	char		*v[CONF_MAX_URIS];
	int		 n;
	int		 line;
};

struct block {
	const char	*name;		/* NULL at top level */
	const struct kw	*kws;
	size_t		 nkws;
	int		(*check)(struct parser *, int);
};

struct kw {
	const char		*name;
	int			 nargs;		/* 0: a block */
	int			 flags;
	int			(*set)(struct parser *, const struct kw *,
				    char **, int, int);
	size_t			 off;		/* field in struct conf */
	long long		 min;
	long long		 max;
	const struct block	*block;
};

static void	perr(struct parser *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
perr(struct parser *p, int line, const char *fmt, ...)
{
	char	msg[CONF_ERR_MAX];
	va_list	ap;

	if (p->err == NULL || p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->name, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->name, msg);
}

/* A token as it may be shown in a message: odd bytes escaped, cut short. */
static const char *
esc(const char *s, char *out)
{
	size_t	len = strlen(s);

	if (len <= ESC_IN_MAX)
		return log_escape(s, len, out, ESC_MAX);
	log_escape(s, ESC_IN_MAX, out, ESC_MAX - 3);
	strcat(out, "...");
	return out;
}

static void
token_clear(struct token *t)
{
	/* Values may be secrets (bind-password). */
	free_secret(&t->val);
}

static int
lex_word(struct parser *p, struct token *t)
{
	const char	*start = p->p;
	unsigned char	 c;

	for (; p->p < p->end; p->p++) {
		c = (unsigned char)*p->p;
		if (strchr(" \t\r\n{};\"#", c) != NULL && c != '\0')
			break;
		if (c < 0x20 || c == 0x7f) {
			perr(p, p->line, "unexpected byte \\x%02x", c);
			return -1;
		}
	}
	t->type = T_WORD;
	t->val = xstrndup(start, (size_t)(p->p - start));
	return 0;
}

static int
lex_string(struct parser *p, struct token *t)
{
	const char	*q, *start = ++p->p;
	unsigned char	 c;
	size_t		 n = 0;

	/* First pass: find the end and check every byte. */
	for (q = start; q < p->end && *q != '"'; q++) {
		c = (unsigned char)*q;
		if (c == '\n')
			break;
		if (c == '\\') {
			if (q + 1 < p->end && (q[1] == '"' || q[1] == '\\')) {
				q++;
				continue;
			}
			if (q + 1 >= p->end || q[1] == '\n')
				break;
			c = (unsigned char)q[1];
			if (c < 0x20 || c >= 0x7f)
				perr(p, p->line, "unexpected byte \\x%02x in "
				    "quoted string", c);
			else
				perr(p, p->line, "bad escape \"\\%c\" in "
				    "quoted string (use \\\" or \\\\)", c);
			return -1;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			perr(p, p->line, "unexpected byte \\x%02x in quoted "
			    "string", c);
			return -1;
		}
	}
	if (q >= p->end || *q != '"') {
		perr(p, p->line, "unterminated quoted string");
		return -1;
	}
	t->type = T_STRING;
	t->val = xmalloc((size_t)(q - start) + 1);
	for (p->p = start; p->p < q; p->p++) {
		if (*p->p == '\\')
			p->p++;
		t->val[n++] = *p->p;
	}
	t->val[n] = '\0';
	p->p = q + 1;
	return 0;
}

static int
lex(struct parser *p, struct token *t)
{
	char	c;

	if (p->have_peek) {
		*t = p->peek;
		p->have_peek = 0;
		return 0;
	}
	t->val = NULL;
	for (;;) {
		if (p->p >= p->end) {
			t->type = T_EOF;
			t->line = p->line;
			return 0;
		}
		c = *p->p;
		if (c == '\n')
			p->line++;
		else if (c == '#') {
			while (p->p < p->end && *p->p != '\n')
				p->p++;
			continue;
		} else if (c != ' ' && c != '\t' && c != '\r')
			break;
		p->p++;
	}
	t->line = p->line;
	switch (c) {
	case '{':
		t->type = T_LBRACE;
		break;
	case '}':
		t->type = T_RBRACE;
		break;
	case ';':
		t->type = T_SEMI;
		break;
	case '"':
		return lex_string(p, t);
	default:
		return lex_word(p, t);
	}
	p->p++;
	return 0;
}

static int
peek(struct parser *p, struct token **t)
{
	if (!p->have_peek) {
		if (lex(p, &p->peek) == -1)
			return -1;
		p->have_peek = 1;
	}
	*t = &p->peek;
	return 0;
}

static void *
field(struct parser *p, const struct kw *kw)
{
	/* Applying a backend block: its settings land in that backend. */
	if (p->bk_opts != NULL)
		return (char *)p->bk_opts + (kw->off -
		    offsetof(struct conf, backend));
	return (char *)p->c + kw->off;
}

static int
set_str(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	char	**dst = field(p, kw);

	(void)n;
	if (*v[0] == '\0' && !(kw->flags & KW_EMPTY_OK)) {
		perr(p, line, "%s: empty value", kw->name);
		return -1;
	}
	*dst = v[0];
	v[0] = NULL;
	return 0;
}

static int
set_password(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	p->pw_line = line;
	return set_str(p, kw, v, n, line);
}

static int
set_pwfile(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	p->pwfile_line = line;
	return set_str(p, kw, v, n, line);
}

/* Digits only: no sign, no blanks.  -1 if not a number, -2 if huge. */
static int
parse_digits(const char **s, long long *v)
{
	const char	*q = *s;

	if (*q < '0' || *q > '9')
		return -1;
	for (*v = 0; *q >= '0' && *q <= '9'; q++) {
		if (*v > (LLONG_MAX - 9) / 10)
			return -2;
		*v = *v * 10 + (*q - '0');
	}
	*s = q;
	return 0;
}

static int
set_int(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	const char	*s = v[0];
	char		 eb[ESC_MAX];
	long long	 val;
	int		 r;

	(void)n;
	r = parse_digits(&s, &val);
	if (r == -1 || (r == 0 && *s != '\0')) {
		perr(p, line, "%s: bad number \"%s\"", kw->name,
		    esc(v[0], eb));
		return -1;
	}
	if (r == -2 || val < kw->min || val > kw->max) {
		perr(p, line, "%s: number \"%s\" out of range (%lld-%lld)",
		    kw->name, esc(v[0], eb), kw->min, kw->max);
		return -1;
	}
	*(int *)field(p, kw) = (int)val;
	return 0;
}

/* workers auto | 1..CONF_WORKERS_MAX */
static int
set_workers(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	static const struct kw	 k = { .name = "workers", .min = 1,
				    .max = CONF_WORKERS_MAX,
				    .off = offsetof(struct conf, workers) };

	if (strcmp(v[0], "auto") == 0) {
		p->c->workers = 0;
		return 0;
	}
	return set_int(p, &k, v, n, line);
}

static int
set_port(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	const char	*s = v[0];
	char		 eb[ESC_MAX];
	long long	 val;

	(void)n;
	if (parse_digits(&s, &val) != 0 || *s != '\0' || val < 1 ||
	    val > 65535) {
		perr(p, line, "%s: bad port \"%s\" (1-65535)", kw->name,
		    esc(v[0], eb));
		return -1;
	}
	*(int *)field(p, kw) = (int)val;
	return 0;
}

static int
set_duration(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	static const struct {
		const char	*unit;
		long long	 ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
	};
	const char	*s = v[0];
	char		 eb[ESC_MAX];
	long long	 val;
	size_t		 i;
	int		 r;

	(void)n;
	r = parse_digits(&s, &val);
	for (i = 0; r == 0 && i < nitems(units); i++)
		if (strcmp(s, units[i].unit) == 0)
			break;
	if (r == -1 || i == nitems(units)) {
		perr(p, line, "%s: bad duration \"%s\" (use ms, s, m or h)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	if (r == -2 || val > kw->max / units[i].ms) {
		perr(p, line, "%s: duration \"%s\" too long", kw->name,
		    esc(v[0], eb));
		return -1;
	}
	val *= units[i].ms;
	if (val < kw->min) {
		perr(p, line, "%s: duration \"%s\" must be greater than 0",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	*(int *)field(p, kw) = (int)val;
	return 0;
}

static int
set_size(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	const char	*s = v[0];
	char		 eb[ESC_MAX];
	long long	 val, mult = 1;
	int		 r;

	(void)n;
	r = parse_digits(&s, &val);
	if (r == 0 && strcmp(s, "k") == 0)
		mult = 1024;
	else if (r == 0 && strcmp(s, "m") == 0)
		mult = 1024 * 1024;
	else if (r == 0 && *s != '\0')
		r = -1;
	if (r == -1) {
		perr(p, line, "%s: bad size \"%s\" (use a number, k or m)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	if (r == -2 || val > kw->max / mult) {
		perr(p, line, "%s: size \"%s\" too large (max %lld)",
		    kw->name, esc(v[0], eb), kw->max);
		return -1;
	}
	val *= mult;
	if (val < kw->min) {
		perr(p, line, "%s: size \"%s\" too small (min %lld)",
		    kw->name, esc(v[0], eb), kw->min);
		return -1;
	}
	*(size_t *)field(p, kw) = (size_t)val;
	return 0;
}

/* "starttls=required|optional|off", for plaintext listeners only. */
static int
listen_option(struct parser *p, const struct kw *kw, const char *proto,
    const char *opt, enum conf_starttls *st, int line)
{
	static const char *const modes[] = {
		[CONF_STARTTLS_REQUIRED] = "required",
		[CONF_STARTTLS_OPTIONAL] = "optional",
		[CONF_STARTTLS_OFF] = "off",
	};
	char	eb[ESC_MAX];
	size_t	i;

	if (strncmp(opt, "starttls=", 9) != 0) {
		perr(p, line, "%s: unknown option \"%s\" (use starttls=...)",
		    kw->name, esc(opt, eb));
		return -1;
	}
	if (strcmp(proto, "imaps") == 0 || strcmp(proto, "pop3s") == 0) {
		perr(p, line, "%s: starttls= is for plaintext listeners "
		    "(%s is TLS from the start)", kw->name, proto);
		return -1;
	}
	for (i = 0; i < nitems(modes); i++) {
		if (strcmp(opt + 9, modes[i]) == 0) {
			*st = (enum conf_starttls)i;
			return 0;
		}
	}
	perr(p, line, "%s: bad starttls \"%s\" (use required, optional or "
	    "off)", kw->name, esc(opt + 9, eb));
	return -1;
}

static int
set_listen(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	static const struct {
		const char	*name;
		enum conf_proto	 proto;
		int		 implicit_tls;
	} protos[] = {
		{ "imap", PROTO_IMAP, 0 }, { "imaps", PROTO_IMAP, 1 },
		{ "pop3", PROTO_POP3, 0 }, { "pop3s", PROTO_POP3, 1 },
		{ "sieve", PROTO_SIEVE, 0 },
	};
	enum conf_starttls	 starttls = CONF_STARTTLS_REQUIRED;
	struct conf		*c = p->c;
	struct conf_listen	*l;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*errstr;
	char			 eb[ESC_MAX];
	size_t			 i, pi;

	for (pi = 0; pi < nitems(protos); pi++)
		if (strcmp(v[0], protos[pi].name) == 0)
			break;
	if (pi == nitems(protos)) {
		perr(p, line, "%s: unknown protocol \"%s\"", kw->name,
		    esc(v[0], eb));
		return -1;
	}
	if (n == 3 && listen_option(p, kw, v[0], v[2], &starttls,
	    line) == -1)
		return -1;
	if (sockaddr_parse(v[1], &ss, &sslen, &errstr) == -1) {
		perr(p, line, "%s: bad address \"%s\": %s", kw->name,
		    esc(v[1], eb), errstr);
		return -1;
	}
	for (i = 0; i < c->nlistens; i++) {
		l = &c->listens[i];
		if (l->sslen == sslen && memcmp(&l->ss, &ss, sslen) == 0) {
			perr(p, line, "%s: duplicate address \"%s\" (first "
			    "at line %d)", kw->name, esc(v[1], eb), l->line);
			return -1;
		}
	}
	c->listens = xreallocarray(c->listens, c->nlistens + 1,
	    sizeof(*c->listens));
	l = &c->listens[c->nlistens++];
	memset(l, 0, sizeof(*l));
	l->proto = protos[pi].proto;
	l->address = v[1];
	v[1] = NULL;
	l->ss = ss;
	l->sslen = sslen;
	l->line = line;
	l->implicit_tls = protos[pi].implicit_tls;
	l->starttls = starttls;
	return 0;
}

/* A file mode in octal, as chmod(1) takes it: 660 or 0660. */
static int
set_mode(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	const char	*s;
	char		 eb[ESC_MAX];
	int		 mode = 0;

	(void)n;
	for (s = v[0]; *s >= '0' && *s <= '7' && mode <= 0777; s++)
		mode = mode * 8 + (*s - '0');
	if (*s != '\0' || s == v[0] || s - v[0] > 4 || mode > 0777) {
		perr(p, line, "%s: bad mode \"%s\" (octal, e.g. 0660)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	*(int *)field(p, kw) = mode;
	return 0;
}

static int
set_metrics_listen(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf_metrics	*m = &p->c->metrics;
	const char		*errstr;
	char			 eb[ESC_MAX];

	(void)n;
	if (sockaddr_parse(v[0], &m->ss, &m->sslen, &errstr) == -1) {
		perr(p, line, "%s: bad address \"%s\": %s", kw->name,
		    esc(v[0], eb), errstr);
		return -1;
	}
	m->listen = v[0];
	v[0] = NULL;
	return 0;
}

static int
set_uri(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	struct conf_ldap	*ld = &p->c->ldap;
	char			 eb[ESC_MAX];
	int			 i;

	for (i = 0; i < n; i++) {
		if (strncasecmp(v[i], "ldap://", 7) != 0 &&
		    strncasecmp(v[i], "ldaps://", 8) != 0 &&
		    strncasecmp(v[i], "ldapi://", 8) != 0) {
			perr(p, line, "%s: unsupported URI \"%s\" (use "
			    "ldap:// or ldapi://)", kw->name, esc(v[i], eb));
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		ld->uris[ld->nuris++] = v[i];
		v[i] = NULL;
	}
	return 0;
}

static int
set_scope(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	char	eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "sub") == 0)
		p->c->ldap.scope = CONF_SCOPE_SUB;
	else if (strcmp(v[0], "one") == 0)
		p->c->ldap.scope = CONF_SCOPE_ONE;
	else if (strcmp(v[0], "base") == 0)
		p->c->ldap.scope = CONF_SCOPE_BASE;
	else {
		perr(p, line, "%s: bad scope \"%s\" (use sub, one or base)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	return 0;
}

static int
set_filter(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	const char	*errstr = "invalid";
	char		 eb[ESC_MAX];

	if (filter_template_valid(v[0], &errstr) == -1) {
		perr(p, line, "%s: bad template \"%s\": %s", kw->name,
		    esc(v[0], eb), errstr);
		return -1;
	}
	return set_str(p, kw, v, n, line);
}

static int
set_bool(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	char	eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "yes") != 0 && strcmp(v[0], "no") != 0) {
		perr(p, line, "%s: bad value \"%s\" (use yes or no)", kw->name,
		    esc(v[0], eb));
		return -1;
	}
	*(int *)field(p, kw) = strcmp(v[0], "yes") == 0;
	return 0;
}

static int
set_follow(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	char	eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "yes") == 0)
		p->c->ldap.follow_changes = CONF_FOLLOW_YES;
	else if (strcmp(v[0], "no") == 0)
		p->c->ldap.follow_changes = CONF_FOLLOW_NO;
	else if (strcmp(v[0], "poll") == 0)
		p->c->ldap.follow_changes = CONF_FOLLOW_POLL;
	else {
		perr(p, line, "%s: bad value \"%s\" (use yes, no or poll)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	return 0;
}

static int
set_delimiter(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	char	eb[ESC_MAX];

	(void)n;
	if (strlen(v[0]) != 1 || username_delimiter_valid(v[0][0]) == -1) {
		perr(p, line, "%s: bad delimiter \"%s\" (use @, %% or +)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	p->c->username.delimiter = v[0][0];
	return 0;
}

static int
set_strip_domain(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf_username	*u = &p->c->username;
	char			 eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "no") != 0 && strcmp(v[0], "lookup") != 0 &&
	    strcmp(v[0], "login") != 0 && strcmp(v[0], "both") != 0) {
		perr(p, line, "%s: bad value \"%s\" (use no, lookup, login "
		    "or both)", kw->name, esc(v[0], eb));
		return -1;
	}
	u->strip_lookup = strcmp(v[0], "lookup") == 0 ||
	    strcmp(v[0], "both") == 0;
	u->strip_login = strcmp(v[0], "login") == 0 ||
	    strcmp(v[0], "both") == 0;
	return 0;
}

/* "backend NAME {": a new entry; its settings follow. */
static int
set_backend(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf		*c = p->c;
	struct conf_backend	*b;
	char			 eb[ESC_MAX];
	size_t			 i;

	(void)n;
	for (i = 0; i < c->nbackends; i++)
		if (strcasecmp(c->backends[i].name, v[0]) == 0) {
			perr(p, line, "%s: duplicate name \"%s\" (first at "
			    "line %d)", kw->name, esc(v[0], eb),
			    c->backends[i].line);
			return -1;
		}
	c->backends = xreallocarray(c->backends, c->nbackends + 1,
	    sizeof(*c->backends));
	b = &c->backends[c->nbackends];
	memset(b, 0, sizeof(*b));
	b->name = v[0];
	v[0] = NULL;
	b->line = line;
	p->cur_bk = c->nbackends++;
	return 0;
}

static int
set_bk_address(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct mailhost	 mh;
	const char	*errstr = NULL;
	char		 eb[ESC_MAX];

	(void)n;
	if (mailhost_parse(v[0], strlen(v[0]), &mh, &errstr) == -1 ||
	    mh.port != 0) {
		perr(p, line, "%s: bad address \"%s\" (a host name or IP "
		    "address, no port)", kw->name, esc(v[0], eb));
		return -1;
	}
	p->c->backends[p->cur_bk].address = xstrdup(mh.host);
	return 0;
}

/* Keep a backend block's shared setting for after the whole file. */
static int
defer_setting(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct deferred	*d;
	int		 i;

	p->defer = xreallocarray(p->defer, p->ndefer + 1, sizeof(*p->defer));
	d = &p->defer[p->ndefer++];
	memset(d, 0, sizeof(*d));
	d->backend = p->cur_bk;
	d->kw = kw;
	d->n = n;
	d->line = line;
	for (i = 0; i < n; i++) {
		d->v[i] = v[i];
		v[i] = NULL;
	}
	return 0;
}

static int
set_backend_tls(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf_backend_defaults	*bd = p->bk_opts != NULL ?
					    p->bk_opts : &p->c->backend;
	char				 eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "off") == 0)
		bd->tls = CONF_BTLS_OFF;
	else if (strcmp(v[0], "starttls") == 0)
		bd->tls = CONF_BTLS_STARTTLS;
	else if (strcmp(v[0], "implicit") == 0)
		bd->tls = CONF_BTLS_IMPLICIT;
	else {
		perr(p, line, "%s: bad value \"%s\" (use off, starttls or "
		    "implicit)", kw->name, esc(v[0], eb));
		return -1;
	}
	return 0;
}

static int
set_min_version(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	char	eb[ESC_MAX];

	(void)n;
	if (strcmp(v[0], "1.2") == 0)
		p->c->tls.min_version = 12;
	else if (strcmp(v[0], "1.3") == 0)
		p->c->tls.min_version = 13;
	else {
		perr(p, line, "%s: bad version \"%s\" (use 1.2 or 1.3)",
		    kw->name, esc(v[0], eb));
		return -1;
	}
	return 0;
}

static int
set_sni(struct parser *p, const struct kw *kw, char **v, int n, int line)
{
	struct conf_tls	*t = &p->c->tls;
	struct conf_sni	*sn;
	char		 eb[ESC_MAX];
	size_t		 i;

	(void)n;
	for (i = 0; i < t->nsni; i++) {
		if (strcasecmp(t->sni[i].name, v[0]) == 0) {
			perr(p, line, "%s: duplicate name \"%s\" (first at "
			    "line %d)", kw->name, esc(v[0], eb),
			    t->sni[i].line);
			return -1;
		}
	}
	t->sni = xreallocarray(t->sni, t->nsni + 1, sizeof(*t->sni));
	sn = &t->sni[t->nsni++];
	sn->name = v[0];
	sn->certificate = v[1];
	sn->key = v[2];
	sn->line = line;
	v[0] = v[1] = v[2] = NULL;
	return 0;
}

static int
set_trusted(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf	*c = p->c;
	const char	*errstr;
	char		 eb[ESC_MAX];
	int		 i;

	c->trusted = xreallocarray(c->trusted, c->ntrusted + (size_t)n,
	    sizeof(*c->trusted));
	for (i = 0; i < n; i++) {
		if (cidr_parse(v[i], &c->trusted[c->ntrusted], &errstr) ==
		    -1) {
			perr(p, line, "%s: bad network \"%s\": %s", kw->name,
			    esc(v[i], eb), errstr);
			return -1;
		}
		c->ntrusted++;
	}
	return 0;
}

static int
check_tls(struct parser *p, int line)
{
	struct conf_tls	*t = &p->c->tls;

	t->line = line;
	if ((t->certificate == NULL) != (t->key == NULL)) {
		perr(p, line, "tls: certificate and key go together");
		return -1;
	}
	if (t->nsni > 0 && t->certificate == NULL) {
		perr(p, line, "tls: sni needs a default certificate and key");
		return -1;
	}
	return 0;
}

static int
check_ldap(struct parser *p, int line)
{
	struct conf_ldap	*ld = &p->c->ldap;

	if (ld->nuris == 0) {
		perr(p, line, "ldap: uri is required");
		return -1;
	}
	if (ld->base == NULL) {
		perr(p, line, "ldap: base is required");
		return -1;
	}
	if (ld->bind_password != NULL && ld->bind_password_file != NULL) {
		perr(p, p->pw_line > p->pwfile_line ? p->pw_line :
		    p->pwfile_line, "ldap: bind-password and "
		    "bind-password-file are mutually exclusive");
		return -1;
	}
	return 0;
}

static int
check_top(struct parser *p, int line)
{
	(void)line;
	if (p->c->nlistens == 0) {
		perr(p, 0, "no listen line");
		return -1;
	}
	if (p->ldap_line == 0 && p->c->lookup.map_file == NULL) {
		perr(p, 0, "no ldap block");
		return -1;
	}
	return 0;
}

#define C(f)	offsetof(struct conf, f)

static const struct kw ldap_kws[] = {
	{ .name = "uri", .nargs = KW_LIST, .set = set_uri },
	{ .name = "bind-dn", .nargs = 1, .set = set_str,
	    .off = C(ldap.bind_dn) },
	{ .name = "bind-password", .nargs = 1, .set = set_password,
	    .off = C(ldap.bind_password) },
	{ .name = "bind-password-file", .nargs = 1, .set = set_pwfile,
	    .off = C(ldap.bind_password_file) },
	/* An empty base is the root DSE: unusual but valid LDAP. */
	{ .name = "base", .nargs = 1, .flags = KW_EMPTY_OK, .set = set_str,
	    .off = C(ldap.base) },
	{ .name = "scope", .nargs = 1, .set = set_scope },
	{ .name = "filter", .nargs = 1, .set = set_filter,
	    .off = C(ldap.filter) },
	{ .name = "attribute", .nargs = 1, .set = set_str,
	    .off = C(ldap.attribute) },
	{ .name = "connect-timeout", .nargs = 1, .set = set_duration,
	    .off = C(ldap.connect_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "timeout", .nargs = 1, .set = set_duration,
	    .off = C(ldap.timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "bind-timeout", .nargs = 1, .set = set_duration,
	    .off = C(ldap.bind_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "max-searches", .nargs = 1, .set = set_int,
	    .off = C(ldap.max_searches), .min = 1, .max = 65535 },
	/* 0: stay on a later URI until it fails. */
	{ .name = "failback", .nargs = 1, .set = set_duration,
	    .off = C(ldap.failback_ms), .min = 0, .max = INT_MAX },
	{ .name = "login-attribute", .nargs = 1, .set = set_str,
	    .off = C(ldap.login_attribute) },
	{ .name = "sasl-mech", .nargs = 1, .set = set_str,
	    .off = C(ldap.sasl_mech) },
	{ .name = "sasl-authcid", .nargs = 1, .set = set_str,
	    .off = C(ldap.sasl_authcid) },
	{ .name = "sasl-authzid", .nargs = 1, .set = set_str,
	    .off = C(ldap.sasl_authzid) },
	{ .name = "sasl-realm", .nargs = 1, .set = set_str,
	    .off = C(ldap.sasl_realm) },
	{ .name = "starttls", .nargs = 1, .set = set_bool,
	    .off = C(ldap.starttls) },
	{ .name = "tls-ca-file", .nargs = 1, .set = set_str,
	    .off = C(ldap.tls_ca_file) },
	{ .name = "tls-verify", .nargs = 1, .set = set_bool,
	    .off = C(ldap.tls_verify) },
	{ .name = "follow-changes", .nargs = 1, .set = set_follow },
	{ .name = "poll-interval", .nargs = 1, .set = set_duration,
	    .off = C(ldap.poll_interval_ms), .min = 1, .max = INT_MAX },
	/* 0: close moved sessions at once. */
	{ .name = "move-grace", .nargs = 1, .set = set_duration,
	    .off = C(ldap.move_grace_ms), .min = 0, .max = INT_MAX },
};

static const struct kw cache_kws[] = {
	/* 0 turns the cache off. */
	{ .name = "ttl", .nargs = 1, .set = set_duration,
	    .off = C(cache.ttl_ms), .min = 0, .max = INT_MAX },
	{ .name = "negative-ttl", .nargs = 1, .set = set_duration,
	    .off = C(cache.negative_ttl_ms), .min = 0, .max = INT_MAX },
	{ .name = "stale-if-error", .nargs = 1, .set = set_duration,
	    .off = C(cache.stale_ms), .min = 0, .max = INT_MAX },
	{ .name = "size", .nargs = 1, .set = set_int,
	    .off = C(cache.size), .min = 1, .max = 100000000 },
};

static const struct kw username_kws[] = {
	{ .name = "lowercase", .nargs = 1, .set = set_bool,
	    .off = C(username.lowercase) },
	{ .name = "default-domain", .nargs = 1, .set = set_str,
	    .off = C(username.default_domain) },
	{ .name = "domain-delimiter", .nargs = 1, .set = set_delimiter },
	{ .name = "strip-domain", .nargs = 1, .set = set_strip_domain },
};

static const struct kw lookup_kws[] = {
	{ .name = "map-file", .nargs = 1, .set = set_str,
	    .off = C(lookup.map_file) },
	{ .name = "not-found-backend", .nargs = 1, .set = set_str,
	    .off = C(lookup.not_found_backend) },
	{ .name = "no-attribute-backend", .nargs = 1, .set = set_str,
	    .off = C(lookup.no_attribute_backend) },
	{ .name = "allow-any-host", .nargs = 1, .set = set_bool,
	    .off = C(lookup.allow_any_host) },
};

/* What a backend block has besides the backend-defaults settings. */
static const struct kw backend_more_kws[] = {
	{ .name = "address", .nargs = 1, .set = set_bk_address },
};

static const struct kw backend_kws[] = {
	{ .name = "imap-port", .nargs = 1, .set = set_port,
	    .off = C(backend.imap_port) },
	{ .name = "connect-timeout", .nargs = 1, .set = set_duration,
	    .off = C(backend.connect_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "login-timeout", .nargs = 1, .set = set_duration,
	    .off = C(backend.login_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "tls", .nargs = 1, .set = set_backend_tls },
	{ .name = "ca", .nargs = 1, .set = set_str, .off = C(backend.ca) },
	{ .name = "verify", .nargs = 1, .set = set_bool,
	    .off = C(backend.verify) },
	{ .name = "imaps-port", .nargs = 1, .set = set_port,
	    .off = C(backend.imaps_port) },
	{ .name = "forward-id", .nargs = 1, .set = set_bool,
	    .off = C(backend.forward_id) },
	{ .name = "pop3-port", .nargs = 1, .set = set_port,
	    .off = C(backend.pop3_port) },
	{ .name = "pop3s-port", .nargs = 1, .set = set_port,
	    .off = C(backend.pop3s_port) },
	{ .name = "sieve-port", .nargs = 1, .set = set_port,
	    .off = C(backend.sieve_port) },
	{ .name = "xclient", .nargs = 1, .set = set_bool,
	    .off = C(backend.xclient) },
	/* 0: never skip a backend that just failed to connect. */
	{ .name = "down-time", .nargs = 1, .set = set_duration,
	    .off = C(backend.down_time_ms), .min = 0, .max = INT_MAX },
};

static const struct kw limits_kws[] = {
	{ .name = "sessions", .nargs = 1, .set = set_int,
	    .off = C(limits.sessions), .min = 1, .max = INT_MAX },
	{ .name = "preauth-timeout", .nargs = 1, .set = set_duration,
	    .off = C(limits.preauth_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "idle-timeout", .nargs = 1, .set = set_duration,
	    .off = C(limits.idle_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "auth-failures", .nargs = 1, .set = set_int,
	    .off = C(limits.auth_failures), .min = 1, .max = INT_MAX },
	/* 0 is allowed: no delay before a failed-login answer. */
	{ .name = "auth-failure-delay", .nargs = 1, .set = set_duration,
	    .off = C(limits.auth_failure_delay_ms), .min = 0, .max = INT_MAX },
	{ .name = "bad-commands", .nargs = 1, .set = set_int,
	    .off = C(limits.bad_commands), .min = 1, .max = INT_MAX },
	{ .name = "line-max", .nargs = 1, .set = set_size,
	    .off = C(limits.line_max), .min = 1024, .max = SIZE_LIMIT },
	{ .name = "literal-max", .nargs = 1, .set = set_size,
	    .off = C(limits.literal_max), .min = 1, .max = SIZE_LIMIT },
	/* RFC 2449 section 4: 255 octets with CRLF; AUTH lines may be
	 * longer (line-max), for bearer tokens. */
	{ .name = "pop3-line-max", .nargs = 1, .set = set_size,
	    .off = C(limits.pop3_line_max), .min = 255, .max = SIZE_LIMIT },
	{ .name = "per-client", .nargs = 1, .set = set_int,
	    .off = C(limits.per_client), .min = 1, .max = INT_MAX },
	{ .name = "client-failures", .nargs = 1, .set = set_int,
	    .off = C(limits.client_failures), .min = 1, .max = INT_MAX },
	{ .name = "client-backoff", .nargs = 1, .set = set_duration,
	    .off = C(limits.client_backoff_ms), .min = 1, .max = INT_MAX },
	/* 0: on SIGTERM, close relayed sessions at once. */
	{ .name = "drain-time", .nargs = 1, .set = set_duration,
	    .off = C(limits.drain_time_ms), .min = 0, .max = INT_MAX },
};

static const struct kw control_kws[] = {
	{ .name = "socket", .nargs = 1, .set = set_str,
	    .off = C(control.socket) },
	{ .name = "mode", .nargs = 1, .set = set_mode,
	    .off = C(control.mode) },
	{ .name = "group", .nargs = 1, .set = set_str,
	    .off = C(control.group) },
};

static const struct kw metrics_kws[] = {
	{ .name = "listen", .nargs = 1, .set = set_metrics_listen },
};

static const struct kw tls_kws[] = {
	{ .name = "certificate", .nargs = 1, .set = set_str,
	    .off = C(tls.certificate) },
	{ .name = "key", .nargs = 1, .set = set_str, .off = C(tls.key) },
	{ .name = "sni", .nargs = 3, .flags = KW_REPEAT, .set = set_sni },
	{ .name = "min-version", .nargs = 1, .set = set_min_version },
	{ .name = "ciphers", .nargs = 1, .set = set_str,
	    .off = C(tls.ciphers) },
	{ .name = "handshake-timeout", .nargs = 1, .set = set_duration,
	    .off = C(tls.handshake_timeout_ms), .min = 1, .max = INT_MAX },
};

#undef C

static const struct block ldap_block = {
	"ldap", ldap_kws, nitems(ldap_kws), check_ldap
};
static const struct block backend_block = {
	"backend-defaults", backend_kws, nitems(backend_kws), NULL
};
static const struct block cache_block = {
	"cache", cache_kws, nitems(cache_kws), NULL
};
static const struct block username_block = {
	"user-name", username_kws, nitems(username_kws), NULL
};
static const struct block lookup_block = {
	"lookup", lookup_kws, nitems(lookup_kws), NULL
};
static const struct block named_backend_block = {
	"backend", backend_kws, nitems(backend_kws), NULL
};
static const struct block limits_block = {
	"limits", limits_kws, nitems(limits_kws), NULL
};
static const struct block tls_block = {
	"tls", tls_kws, nitems(tls_kws), check_tls
};
static const struct block control_block = {
	"control", control_kws, nitems(control_kws), NULL
};
static const struct block metrics_block = {
	"metrics", metrics_kws, nitems(metrics_kws), NULL
};

static const struct kw top_kws[] = {
	{ .name = "user", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, user) },
	{ .name = "group", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, group) },
	{ .name = "pid-file", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, pid_file) },
	{ .name = "workers", .nargs = 1, .set = set_workers },
	{ .name = "listen", .nargs = 3, .flags = KW_REPEAT | KW_OPTLAST,
	    .set = set_listen },
	{ .name = "trusted-networks", .nargs = KW_LIST, .flags = KW_REPEAT,
	    .set = set_trusted },
	{ .name = "tls", .block = &tls_block },
	{ .name = "ldap", .block = &ldap_block },
	{ .name = "backend-defaults", .block = &backend_block },
	{ .name = "limits", .block = &limits_block },
	{ .name = "cache", .block = &cache_block },
	{ .name = "user-name", .block = &username_block },
	{ .name = "lookup", .block = &lookup_block },
	{ .name = "backend", .nargs = 1, .flags = KW_REPEAT,
	    .set = set_backend, .block = &named_backend_block },
	{ .name = "control", .block = &control_block },
	{ .name = "metrics", .block = &metrics_block },
};

static const struct block top_block = {
	NULL, top_kws, nitems(top_kws), check_top
};

_Static_assert(nitems(top_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(ldap_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(backend_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(limits_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(backend_kws) + nitems(backend_more_kws) <= KW_MAX,
    "KW_MAX");
_Static_assert(nitems(tls_kws) <= KW_MAX, "KW_MAX");

static int	parse_block(struct parser *, const struct block *, int);

/* Values sit on the keyword's line; the next token decides where to stop. */
static int
parse_setting(struct parser *p, const struct kw *kw, int line)
{
	char		*v[CONF_MAX_URIS] = { NULL };
	struct token	*t, tok;
	int		 i, n = 0, max, rv = -1;
	if (kw->block != NULL) {
		/* "backend NAME {": the name first. */
		if (kw->set != NULL) {
			if (peek(p, &t) == -1)
				return -1;
			if ((t->type != T_WORD && t->type != T_STRING) ||
			    t->line != line) {
				perr(p, line, "%s: missing name", kw->name);
				return -1;
			}
			lex(p, &tok);
			rv = kw->set(p, kw, &tok.val, 1, line);
			token_clear(&tok);
			if (rv == -1)
				return -1;
		}
		if (lex(p, &tok) == -1)
			return -1;
		token_clear(&tok);
		if (tok.type != T_LBRACE) {
			perr(p, line, "%s: expected \"{\"", kw->name);
			return -1;
		}
		if (kw->block == &ldap_block)
			p->ldap_line = line;
		rv = parse_block(p, kw->block, line);
		p->defer_now = 0;
		return rv;
	}
	max = kw->nargs == KW_LIST ? CONF_MAX_URIS : kw->nargs;
	for (;;) {
		if (peek(p, &t) == -1)
			goto out;
		if ((t->type != T_WORD && t->type != T_STRING) ||
		    t->line != line)
			break;
		if (n == max) {
			if (kw->nargs != KW_LIST)
				break;
			perr(p, line, "%s: too many values (max %d)",
			    kw->name, max);
			goto out;
		}
		lex(p, &tok);
		v[n++] = tok.val;
	}
	if (n == 0 || (kw->nargs != KW_LIST && n < kw->nargs -
	    ((kw->flags & KW_OPTLAST) ? 1 : 0))) {
		perr(p, line, "%s: missing value", kw->name);
		goto out;
	}
	if (p->defer_now)
		rv = defer_setting(p, kw, v, n, line);
	else
		rv = kw->set(p, kw, v, n, line);
 out:
	for (i = 0; i < n; i++)
		free_secret(&v[i]);
	return rv;
}

static int
parse_block(struct parser *p, const struct block *b, int open_line)
{
	const struct kw	*kw;
	struct token	 t, *next;
	int		 seen[KW_MAX] = { 0 };
	char		 eb[ESC_MAX];
	size_t		 i, nmore = 0;
	int		 rv;

	/* A backend block also has the settings of backend_more_kws. */
	if (b == &named_backend_block)
		nmore = nitems(backend_more_kws);

	for (;;) {
		if (lex(p, &t) == -1)
			return -1;
		switch (t.type) {
		case T_SEMI:
			continue;
		case T_EOF:
			if (b->name != NULL) {
				perr(p, open_line, "missing \"}\" for block "
				    "opened here");
				return -1;
			}
			return b->check != NULL ? b->check(p, open_line) : 0;
		case T_RBRACE:
			if (b->name == NULL) {
				perr(p, t.line, "unexpected \"}\"");
				return -1;
			}
			return b->check != NULL ? b->check(p, open_line) : 0;
		case T_LBRACE:
			perr(p, t.line, "unexpected \"{\"");
			return -1;
		case T_STRING:
			perr(p, t.line, "unexpected quoted string \"%s\" "
			    "(expected a setting)", esc(t.val, eb));
			token_clear(&t);
			return -1;
		case T_WORD:
			break;
		}
		for (i = 0; i < b->nkws + nmore; i++)
			if (strcmp(t.val, i < b->nkws ? b->kws[i].name :
			    backend_more_kws[i - b->nkws].name) == 0)
				break;
		if (i == b->nkws + nmore) {
			if (b->name != NULL)
				perr(p, t.line, "unknown setting \"%s\" in %s "
				    "block", esc(t.val, eb), b->name);
			else if (peek(p, &next) == 0 &&
			    next->type == T_LBRACE)
				perr(p, t.line, "unknown block \"%s\"",
				    esc(t.val, eb));
			else
				perr(p, t.line, "unknown setting \"%s\"",
				    esc(t.val, eb));
			token_clear(&t);
			return -1;
		}
		token_clear(&t);
		kw = i < b->nkws ? &b->kws[i] : &backend_more_kws[i - b->nkws];
		if (seen[i] != 0 && !(kw->flags & KW_REPEAT)) {
			perr(p, t.line, "%s%sduplicate %s \"%s\" (first at "
			    "line %d)", b->name ? b->name : "",
			    b->name ? ": " : "",
			    kw->block ? "block" : "setting", kw->name,
			    seen[i]);
			return -1;
		}
		if (seen[i] == 0)
			seen[i] = t.line;
		/* In a backend block, the backend-defaults settings wait. */
		p->defer_now = nmore > 0 && i < b->nkws;
		rv = parse_setting(p, kw, t.line);
		p->defer_now = 0;
		if (rv == -1)
			return -1;
	}
}

/* Each backend: backend-defaults, then its own settings over them. */
static int
apply_backends(struct parser *p)
{
	struct conf	*c = p->c;
	struct deferred	*d;
	size_t		 i;
	int		 rv = 0;

	for (i = 0; i < c->nbackends; i++)
		c->backends[i].opts = c->backend;
	for (i = 0; i < p->ndefer && rv == 0; i++) {
		d = &p->defer[i];
		p->bk_opts = &c->backends[d->backend].opts;
		rv = d->kw->set(p, d->kw, d->v, d->n, d->line);
		p->bk_opts = NULL;
	}
	return rv;
}

static void
free_deferred(struct parser *p)
{
	size_t	i;
	int	j;

	for (i = 0; i < p->ndefer; i++)
		for (j = 0; j < p->defer[i].n; j++)
			free_secret(&p->defer[i].v[j]);
	free(p->defer);
	p->defer = NULL;
	p->ndefer = 0;
}

static int
check_routes(struct parser *p)
{
	const struct conf_lookup	*l = &p->c->lookup;
	const char			*names[2];
	char				 eb[ESC_MAX];
	size_t				 i;

	names[0] = l->not_found_backend;
	names[1] = l->no_attribute_backend;
	for (i = 0; i < nitems(names); i++)
		if (names[i] != NULL &&
		    conf_backend_find(p->c, names[i]) == NULL) {
			perr(p, 0, "lookup: %s \"%s\" is not a configured "
			    "backend", i == 0 ? "not-found-backend" :
			    "no-attribute-backend", esc(names[i], eb));
			return -1;
		}
	return 0;
}

static struct conf *
parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen, int *pwfile_line)
{
	struct parser	 p;
	struct conf	*c;
	int		 rv;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.p = text;
	p.end = text + len;
	p.line = 1;
	p.err = err;
	p.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	c = xcalloc(1, sizeof(*c));
	p.c = c;
	c->path = xstrdup(name);
	c->ldap.scope = CONF_SCOPE_SUB;
	c->ldap.connect_timeout_ms = 5 * 1000;
	c->ldap.timeout_ms = 5 * 1000;
	c->backend.imap_port = 143;
	c->backend.connect_timeout_ms = 10 * 1000;
	c->backend.login_timeout_ms = 30 * 1000;
	c->backend.verify = 1;
	c->backend.imaps_port = 993;
	c->backend.pop3_port = 110;
	c->backend.pop3s_port = 995;
	c->backend.sieve_port = 4190;
	c->backend.down_time_ms = 10 * 1000;
	c->ldap.max_searches = 64;
	c->ldap.failback_ms = 60 * 1000;
	c->ldap.tls_verify = 1;
	c->ldap.follow_changes = CONF_FOLLOW_YES;
	c->ldap.poll_interval_ms = 30 * 1000;
	c->cache.ttl_ms = 60 * 1000;
	c->cache.negative_ttl_ms = 10 * 1000;
	c->cache.stale_ms = 60 * 60 * 1000;
	c->cache.size = 100000;
	c->username.delimiter = '@';
	c->tls.min_version = 12;
	c->tls.handshake_timeout_ms = 10 * 1000;
	c->limits.sessions = 10000;
	c->limits.preauth_timeout_ms = 60 * 1000;
	c->limits.idle_timeout_ms = 30 * 60 * 1000;
	c->limits.auth_failures = 3;
	c->limits.auth_failure_delay_ms = 1000;
	c->limits.bad_commands = 10;
	c->limits.line_max = 8192;
	c->limits.literal_max = 8192;
	c->limits.pop3_line_max = 255;
	c->limits.per_client = 50;
	c->limits.client_failures = 30;
	c->limits.client_backoff_ms = 5 * 60 * 1000;
	c->limits.drain_time_ms = 30 * 1000;
	c->control.mode = 0660;
	c->refs = 1;

	rv = parse_block(&p, &top_block, 0);
	if (p.have_peek)
		token_clear(&p.peek);
	if (rv == 0)
		rv = apply_backends(&p);
	if (rv == 0)
		rv = check_routes(&p);
	free_deferred(&p);
	if (rv == -1) {
		conf_free(&c);
		return NULL;
	}
	if (c->ldap.filter == NULL)
		c->ldap.filter = xstrdup(DEFAULT_FILTER);
	if (c->ldap.attribute == NULL)
		c->ldap.attribute = xstrdup(DEFAULT_ATTRIBUTE);
	if (c->control.socket == NULL)
		c->control.socket = xstrdup(DEFAULT_SOCKET);
	/* Only a map file: no directory whose changes could be followed. */
	if (p.ldap_line == 0)
		c->ldap.follow_changes = CONF_FOLLOW_NO;
	if (pwfile_line != NULL)
		*pwfile_line = p.pwfile_line;
	return c;
}

struct conf *
conf_parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	return parse(name, text, len, err, errlen, NULL);
}

static int
read_secret(struct conf *c, int line, char *err, size_t errlen)
{
	const char	*path = c->ldap.bind_password_file;
	char		 buf[SECRET_MAX + 2], eb[ESC_MAX];
	const char	*why = NULL;
	struct stat	 st;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		why = strerror(errno);
		goto fail;
	}
	if (fstat(fd, &st) == -1)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_mode & 077)
		why = "readable by group or others (chmod 600)";
	while (why == NULL && len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			why = strerror(errno);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (why != NULL)
		goto fail;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > SECRET_MAX)
		why = "too long";
	else if (memchr(buf, '\0', len) != NULL)
		why = "contains a NUL byte";
	else if (len == 0)
		why = "empty";
	else
		c->ldap.bind_password = xstrndup(buf, len);
 fail:
	wipe(buf, sizeof(buf));
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "%s:%d: bind-password-file %s: %s", c->path,
	    line, esc(path, eb), why);
	return -1;
}

struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	struct conf	*c;
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, line = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, S_ISREG(st.st_mode) ?
		    "file too large" : "not a regular file");
		close(fd);
		return NULL;
	}
	/* Sized once: no realloc leaving copies of a password behind. */
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path,
			    strerror(errno));
			close(fd);
			wipe(buf, len);
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	c = parse(path, buf, len, err, errlen, &line);
	wipe(buf, len);
	free(buf);
	if (c != NULL && c->ldap.bind_password_file != NULL &&
	    read_secret(c, line, err, errlen) == -1)
		conf_free(&c);
	/* A broken map file is refused like the rest ("FILE:LINE: ..."),
	 * so that a reload keeps the old map instead of dropping it; read
	 * once, here, for the lookup service too. */
	if (c != NULL && c->lookup.map_file != NULL &&
	    (c->lookup.map = mapfile_load(c->lookup.map_file, err,
	    errlen)) == NULL)
		conf_free(&c);
	return c;
}

void
conf_free(struct conf **cp)
{
	struct conf	*c;
	size_t		 i;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	free(c->path);
	free(c->user);
	free(c->group);
	free(c->pid_file);
	for (i = 0; i < c->nlistens; i++)
		free(c->listens[i].address);
	free(c->listens);
	for (i = 0; i < c->ldap.nuris; i++)
		free(c->ldap.uris[i]);
	free(c->ldap.bind_dn);
	free_secret(&c->ldap.bind_password);
	free(c->ldap.bind_password_file);
	free(c->ldap.base);
	free(c->ldap.filter);
	free(c->ldap.attribute);
	free(c->ldap.login_attribute);
	free(c->ldap.sasl_mech);
	free(c->ldap.sasl_authcid);
	free(c->ldap.sasl_authzid);
	free(c->ldap.sasl_realm);
	free(c->ldap.tls_ca_file);
	free(c->username.default_domain);
	free(c->lookup.map_file);
	mapfile_free(&c->lookup.map);
	free(c->lookup.not_found_backend);
	free(c->lookup.no_attribute_backend);
	for (i = 0; i < c->nbackends; i++) {
		free(c->backends[i].name);
		free(c->backends[i].address);
		/* Strings a backend did not set are the defaults' own. */
		if (c->backends[i].opts.ca != c->backend.ca)
			free(c->backends[i].opts.ca);
	}
	free(c->backends);
	free(c->backend.ca);
	free(c->tls.certificate);
	free(c->tls.key);
	for (i = 0; i < c->tls.nsni; i++) {
		free(c->tls.sni[i].name);
		free(c->tls.sni[i].certificate);
		free(c->tls.sni[i].key);
	}
	free(c->tls.sni);
	free(c->tls.ciphers);
	free(c->trusted);
	free(c->control.socket);
	free(c->control.group);
	free(c->metrics.listen);
	free(c);
	*cp = NULL;
}

struct conf *
conf_ref(struct conf *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

int
conf_workers(const struct conf *c)
{
	long	n;

	if (c->workers > 0)
		return c->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (int)n;
}

void
conf_unref(struct conf **cp)
{
	if (*cp == NULL)
		return;
	/* The last reference may be dropped on any worker thread. */
	if (atomic_fetch_sub_explicit(&(*cp)->refs, 1,
	    memory_order_acq_rel) == 1)
		conf_free(cp);
	*cp = NULL;
}

const struct conf_backend *
conf_backend_find(const struct conf *c, const char *name)
{
	const struct conf_backend	*b;
	size_t				 i;

	for (i = 0; i < c->nbackends; i++) {
		b = &c->backends[i];
		if (strcasecmp(b->name, name) == 0 || (b->address != NULL &&
		    strcasecmp(b->address, name) == 0))
			return b;
	}
	return NULL;
}

const char *
conf_proto_name(enum conf_proto proto)
{
	switch (proto) {
	case PROTO_IMAP:
		return "imap";
	case PROTO_POP3:
		return "pop3";
	case PROTO_SIEVE:
		return "sieve";
	}
	return "unknown";
}
