/* The status socket's line protocol; see control_proto.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/control_proto.h"

static const struct {
	const char	*name;
	int		 arg;		/* 0 none, 1 required, 2 optional,
					 * 3 required and an optional 2nd */
} verbs[CTL_VERB_COUNT] = {
	[CTL_STATUS] = { "status", 0 },
	[CTL_SESSIONS] = { "sessions", 2 },
	[CTL_LOOKUP] = { "lookup", 1 },
	[CTL_KICK] = { "kick", 1 },
	[CTL_FLUSH] = { "flush", 2 },
	[CTL_RELOAD] = { "reload", 0 },
	[CTL_METRICS] = { "metrics", 0 },
	[CTL_HOLD] = { "hold", 3 },
	[CTL_RELEASE] = { "release", 1 },
	[CTL_MOVES] = { "moves", 0 },
};

const char *
control_verb_name(enum control_verb v)
{
	if ((unsigned)v >= CTL_VERB_COUNT)
		return "unknown";
	return verbs[v].name;
}

/* The next blank-separated word of [*p, end). */
static int
word(const char **p, const char *end, const char **w, size_t *wlen)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	*w = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*wlen = (size_t)(*p - *w);
	return *wlen > 0;
}

int
control_parse(const char *line, size_t len, struct control_req *req,
    const char **errstr)
{
	const char	*p = line, *end = line + len, *w, *a;
	size_t		 wlen, alen, i;

	memset(req, 0, sizeof(*req));
	if (len > 0 && line[len - 1] == '\r')
		end--;
	if (len > CONTROL_LINE_MAX) {
		*errstr = "request too long";
		return -1;
	}
	for (i = 0; i < (size_t)(end - line); i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
			*errstr = "control character in request";
			return -1;
		}
	}
	if (!word(&p, end, &w, &wlen)) {
		*errstr = "empty request";
		return -1;
	}
	for (i = 0; i < CTL_VERB_COUNT; i++)
		if (strlen(verbs[i].name) == wlen &&
		    memcmp(verbs[i].name, w, wlen) == 0)
			break;
	if (i == CTL_VERB_COUNT) {
		*errstr = "unknown verb (status, sessions, lookup, kick, "
		    "flush, reload, metrics, hold, release, moves)";
		return -1;
	}
	req->verb = (enum control_verb)i;
	if (word(&p, end, &a, &alen)) {
		if (verbs[i].arg == 0) {
			*errstr = "this verb takes no argument";
			return -1;
		}
		if (alen > CONTROL_ARG_MAX) {
			*errstr = "user name too long";
			return -1;
		}
		memcpy(req->arg, a, alen);
		req->arg[alen] = '\0';
		req->has_arg = 1;
		if (verbs[i].arg == 3 && word(&p, end, &w, &wlen)) {
			if (wlen > CONTROL_ARG_MAX) {
				*errstr = "argument too long";
				return -1;
			}
			memcpy(req->arg2, w, wlen);
			req->arg2[wlen] = '\0';
			req->has_arg2 = 1;
		}
		if (word(&p, end, &w, &wlen)) {
			*errstr = "too many arguments";
			return -1;
		}
	} else if (verbs[i].arg == 1 || verbs[i].arg == 3) {
		*errstr = "missing user name";
		return -1;
	}
	return 0;
}

static void
ctlbuf_grow(struct ctlbuf *b, size_t need)
{
	size_t	 size;
	char	*d;

	if (b->oom || b->len + need + 1 <= b->size)
		return;
	size = b->size == 0 ? 1024 : b->size;
	while (size < b->len + need + 1)
		size *= 2;
	if ((d = realloc(b->data, size)) == NULL) {
		b->oom = 1;
		return;
	}
	b->data = d;
	b->size = size;
}

void
ctlbuf_printf(struct ctlbuf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	ctlbuf_grow(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
ctlbuf_str(struct ctlbuf *b, const char *key, const char *val)
{
	static const char	hex[] = "0123456789ABCDEF";
	const unsigned char	*v = (const unsigned char *)val;
	char			*o;

	ctlbuf_grow(b, strlen(key) + 4 + strlen(val) * 3);
	if (b->oom)
		return;
	o = b->data + b->len;
	o += sprintf(o, " %s=\"", key);
	for (; *v != '\0'; v++) {
		if (*v <= ' ' || *v >= 0x7f || *v == '"' || *v == '%') {
			*o++ = '%';
			*o++ = hex[*v >> 4];
			*o++ = hex[*v & 15];
		} else
			*o++ = (char)*v;
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->data);
}

void
ctlbuf_num(struct ctlbuf *b, const char *key, uint64_t val)
{
	ctlbuf_printf(b, " %s=%llu", key, (unsigned long long)val);
}

void
ctlbuf_free(struct ctlbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Unescape a quoted value in place; -1 if malformed. */
static int
unquote(char *v)
{
	char	*o = v;
	size_t	 len = strlen(v);
	size_t	 i;
	int	 hi, lo;

	if (len < 2 || v[0] != '"' || v[len - 1] != '"')
		return -1;
	for (i = 1; i + 1 < len; i++) {
		if (v[i] == '"')
			return -1;
		if (v[i] != '%') {
			*o++ = v[i];
			continue;
		}
		if (i + 3 > len - 1 || (hi = hexval(v[i + 1])) == -1 ||
		    (lo = hexval(v[i + 2])) == -1)
			return -1;
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return 0;
}

int
control_record_parse(char *line, const char **type,
    struct control_field *f, size_t max)
{
	char	*p, *tok, *eq, *save = NULL;
	size_t	 n = 0;

	if (strncmp(line, "* ", 2) != 0)
		return -1;
	if ((tok = strtok_r(line + 2, " ", &save)) == NULL)
		return -1;
	*type = tok;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (n == max || (eq = strchr(tok, '=')) == NULL || eq == tok)
			return -1;
		*eq = '\0';
		p = eq + 1;
		f[n].key = tok;
		f[n].is_string = *p == '"';
		if (f[n].is_string && unquote(p) == -1)
			return -1;
		f[n].value = p;
		n++;
	}
	return (int)n;
}
