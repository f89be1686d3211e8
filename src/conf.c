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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lookup/filter.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/xmalloc.h"

#define DEFAULT_FILTER \
	"(&(objectClass=inetLocalMailRecipient)(|(uid=%n)(mail=%u)))"
#define DEFAULT_ATTRIBUTE	"mailHost"

#define CONF_FILE_MAX	(1024 * 1024)	/* a config larger is a mistake */
#define SECRET_MAX	1024		/* longest bind password */
#define ESC_IN_MAX	64		/* bytes of a token shown in errors */
#define ESC_MAX		(ESC_IN_MAX * 4 + 4)
#define KW_MAX		16		/* settings per block */
#define KW_LIST		(-1)		/* 1..CONF_MAX_URIS values */
#define KW_REPEAT	0x01		/* may appear more than once */
#define KW_EMPTY_OK	0x02		/* "" is a valid value */
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
};

struct kw;

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

static int
set_listen(struct parser *p, const struct kw *kw, char **v, int n,
    int line)
{
	struct conf		*c = p->c;
	struct conf_listen	*l;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*errstr;
	char			 eb[ESC_MAX];
	size_t			 i;

	(void)n;
	if (strcmp(v[0], "imap") != 0) {
		perr(p, line, "%s: unknown protocol \"%s\"", kw->name,
		    esc(v[0], eb));
		return -1;
	}
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
	l->proto = PROTO_IMAP;
	l->address = v[1];
	v[1] = NULL;
	l->ss = ss;
	l->sslen = sslen;
	l->line = line;
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
	if (p->ldap_line == 0) {
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
};

static const struct kw backend_kws[] = {
	{ .name = "imap-port", .nargs = 1, .set = set_port,
	    .off = C(backend.imap_port) },
	{ .name = "connect-timeout", .nargs = 1, .set = set_duration,
	    .off = C(backend.connect_timeout_ms), .min = 1, .max = INT_MAX },
	{ .name = "login-timeout", .nargs = 1, .set = set_duration,
	    .off = C(backend.login_timeout_ms), .min = 1, .max = INT_MAX },
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
};

#undef C

static const struct block ldap_block = {
	"ldap", ldap_kws, nitems(ldap_kws), check_ldap
};
static const struct block backend_block = {
	"backend-defaults", backend_kws, nitems(backend_kws), NULL
};
static const struct block limits_block = {
	"limits", limits_kws, nitems(limits_kws), NULL
};

static const struct kw top_kws[] = {
	{ .name = "user", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, user) },
	{ .name = "group", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, group) },
	{ .name = "pid-file", .nargs = 1, .set = set_str, .off =
	    offsetof(struct conf, pid_file) },
	{ .name = "listen", .nargs = 2, .flags = KW_REPEAT,
	    .set = set_listen },
	{ .name = "ldap", .block = &ldap_block },
	{ .name = "backend-defaults", .block = &backend_block },
	{ .name = "limits", .block = &limits_block },
};

static const struct block top_block = {
	NULL, top_kws, nitems(top_kws), check_top
};

_Static_assert(nitems(top_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(ldap_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(backend_kws) <= KW_MAX, "KW_MAX");
_Static_assert(nitems(limits_kws) <= KW_MAX, "KW_MAX");

static int	parse_block(struct parser *, const struct block *, int);

/* Values sit on the keyword's line; the next token decides where to stop. */
static int
parse_setting(struct parser *p, const struct kw *kw, int line)
{
	char		*v[CONF_MAX_URIS] = { NULL };
	struct token	*t, tok;
	int		 i, n = 0, max, rv = -1;
	if (kw->block != NULL) {
		if (lex(p, &tok) == -1)
			return -1;
		token_clear(&tok);
		if (tok.type != T_LBRACE) {
			perr(p, line, "%s: expected \"{\"", kw->name);
			return -1;
		}
		if (kw->block == &ldap_block)
			p->ldap_line = line;
		return parse_block(p, kw->block, line);
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
	if (n == 0 || (kw->nargs != KW_LIST && n < kw->nargs)) {
		perr(p, line, "%s: missing value", kw->name);
		goto out;
	}
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
	size_t		 i;

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
		for (i = 0; i < b->nkws; i++)
			if (strcmp(t.val, b->kws[i].name) == 0)
				break;
		if (i == b->nkws) {
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
		kw = &b->kws[i];
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
		if (parse_setting(p, kw, t.line) == -1)
			return -1;
	}
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
	c->limits.sessions = 10000;
	c->limits.preauth_timeout_ms = 60 * 1000;
	c->limits.idle_timeout_ms = 30 * 60 * 1000;
	c->limits.auth_failures = 3;
	c->limits.auth_failure_delay_ms = 1000;
	c->limits.bad_commands = 10;
	c->limits.line_max = 8192;
	c->limits.literal_max = 8192;

	rv = parse_block(&p, &top_block, 0);
	if (p.have_peek)
		token_clear(&p.peek);
	if (rv == -1) {
		conf_free(&c);
		return NULL;
	}
	if (c->ldap.filter == NULL)
		c->ldap.filter = xstrdup(DEFAULT_FILTER);
	if (c->ldap.attribute == NULL)
		c->ldap.attribute = xstrdup(DEFAULT_ATTRIBUTE);
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
	free(c);
	*cp = NULL;
}

const char *
conf_proto_name(enum conf_proto proto)
{
	switch (proto) {
	case PROTO_IMAP:
		return "imap";
	}
	return "unknown";
}
