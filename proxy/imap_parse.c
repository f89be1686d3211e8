/*
 * IMAP pre-authentication command parser (RFC 3501 section 9, with
 * RFC 7888 non-synchronizing literals).  Pure: bytes in, command out.
 *
 * The input is split into line segments: the first line, then one more
 * segment after every literal's data.  Each segment is located (its LF
 * found and its length checked) before it is tokenised, so the tokeniser
 * never runs off the end of the input.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* explicit_bzero; no config.h here */
#endif

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/literal.h"
#include "proxy/imap_parse.h"

struct parser {
	const char			*buf;
	size_t				 len;
	const struct imap_limits	*lim;
	struct imap_command		*cmd;
	size_t				 seg;	/* current segment start */
	size_t				 eol;	/* its CR (or bare LF) */
	size_t				 next;	/* past its LF */
	size_t				 pos;
	size_t				 depth;
};

enum state {
	ST_AFTER,		/* after an element: SP, ')' or end */
	ST_ELEM,		/* after SP: an element must follow */
	ST_ELEM_OR_CLOSE,	/* after '(': an element or ')' */
};

static void
free_args(struct imap_command *cmd)
{
	size_t	 i;

	for (i = 0; i < cmd->nargs && i < IMAP_ARGS_MAX; i++) {
		if (cmd->args[i].data != NULL) {
			explicit_bzero(cmd->args[i].data, cmd->args[i].len);
			free(cmd->args[i].data);
		}
		cmd->args[i].data = NULL;
		cmd->args[i].len = 0;
	}
	cmd->nargs = 0;
}

void
imap_command_init(struct imap_command *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
}

void
imap_command_clear(struct imap_command *cmd)
{
	free_args(cmd);
	explicit_bzero(cmd->tag, sizeof(cmd->tag));
	explicit_bzero(cmd->name, sizeof(cmd->name));
	cmd->consumed = 0;
	cmd->sync_literals = 0;
	cmd->error = NULL;
}

/* ATOM-CHAR: any CHAR except atom-specials. */
static int
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("(){%*\"\\]", c) == NULL;
}

/* ASTRING-CHAR: ATOM-CHAR or resp-specials (']'). */
static int
is_astring_char(unsigned char c)
{
	return is_atom_char(c) || c == ']';
}

static int
is_tag_char(unsigned char c)
{
	return is_astring_char(c) && c != '+';
}

/*
 * Locate the line starting at start.  Returns OK with eol/next set,
 * NEED_MORE if its LF has not arrived, TOO_LONG if it cannot fit.
 */
static enum imap_parse_status
find_line(struct parser *p, size_t start)
{
	const char	*lf;
	size_t		 avail, limit, scan, at;

	avail = p->len - start;
	limit = p->lim->line_max > SIZE_MAX - 2 ? SIZE_MAX :
	    p->lim->line_max + 2;
	scan = avail < limit ? avail : limit;
	lf = memchr(p->buf + start, '\n', scan);
	if (lf == NULL) {
		if (avail >= limit)
			return IMAP_PARSE_TOO_LONG;
		/* line_max bytes and a CR may still be followed by LF */
		if (avail == limit - 1 && p->buf[p->len - 1] != '\r')
			return IMAP_PARSE_TOO_LONG;
		return IMAP_PARSE_NEED_MORE;
	}
	at = (size_t)(lf - p->buf);
	p->seg = start;
	p->next = at + 1;
	p->eol = (at > start && p->buf[at - 1] == '\r') ? at - 1 : at;
	if (p->eol - start > p->lim->line_max)
		return IMAP_PARSE_TOO_LONG;
	return IMAP_PARSE_OK;
}

/*
 * The current segment is bad.  Skip to the end of the command: past this
 * line, and past any non-synchronizing literal it ends with (the client
 * sends those without waiting, so they are not the next command).
 */
static enum imap_parse_status
bad(struct parser *p, const char *error)
{
	enum imap_parse_status	 st;
	size_t			 n;
	int			 sync;

	free_args(p->cmd);
	while (literal_at_end(p->buf, p->seg, p->eol, &n, &sync) && !sync) {
		if (n > p->lim->literal_max) {
			p->cmd->error = "Literal too large";
			return IMAP_PARSE_TOO_LONG;
		}
		if (p->len - p->next < n)
			return IMAP_PARSE_NEED_MORE;
		st = find_line(p, p->next + n);
		if (st == IMAP_PARSE_TOO_LONG)
			p->cmd->error = "Line too long";
		if (st != IMAP_PARSE_OK)
			return st;
	}
	p->cmd->error = error;
	p->cmd->consumed = p->next;
	return IMAP_PARSE_BAD;
}

static int
push(struct parser *p, enum imap_arg_type type, const char *data,
    size_t len)
{
	struct imap_arg	*arg;

	if (p->cmd->nargs >= IMAP_ARGS_MAX)
		return -1;
	arg = &p->cmd->args[p->cmd->nargs];
	if ((arg->data = malloc(len + 1)) == NULL)
		return -2;
	if (data != NULL && len > 0)
		memcpy(arg->data, data, len);
	arg->data[len] = '\0';
	arg->len = len;
	arg->type = type;
	p->cmd->nargs++;
	return 0;
}

static enum imap_parse_status
push_failed(struct parser *p, int r)
{
	if (r == -1)
		return bad(p, "Too many arguments");
	free_args(p->cmd);
	p->cmd->error = "out of memory";
	return IMAP_PARSE_TOO_LONG;
}

/* Quoted string at p->pos (on the opening quote). */
static enum imap_parse_status
quoted(struct parser *p)
{
	const char	*b = p->buf;
	char		*out;
	size_t		 i, n = 0;
	int		 r;

	for (i = p->pos + 1; i < p->eol && b[i] != '"'; i++) {
		if (b[i] == '\\') {
			if (++i == p->eol)
				break;
			if (b[i] != '\\' && b[i] != '"')
				return bad(p, "Invalid escape in quoted "
				    "string");
		} else if (b[i] == '\0' || (unsigned char)b[i] >= 0x80 ||
		    b[i] == '\r')
			return bad(p, "Invalid character in quoted string");
		n++;
	}
	if (i >= p->eol)
		return bad(p, "Unterminated quoted string");
	if ((r = push(p, IMAP_ARG_STRING, NULL, n)) != 0)
		return push_failed(p, r);
	out = p->cmd->args[p->cmd->nargs - 1].data;
	n = 0;
	for (i = p->pos + 1; b[i] != '"'; i++) {
		if (b[i] == '\\')
			i++;
		out[n++] = b[i];
	}
	out[n] = '\0';
	p->pos = i + 1;
	return IMAP_PARSE_OK;
}

/* Literal at p->pos (on the '{'); on OK, p->pos is past its data. */
static enum imap_parse_status
literal(struct parser *p)
{
	enum imap_parse_status	 st;
	const char		*b = p->buf;
	size_t			 i = p->pos + 1, n = 0, start;
	int			 sync = 1, big = 0, nul, r;

	if (i >= p->eol || b[i] < '0' || b[i] > '9')
		return bad(p, "Invalid literal");
	for (; i < p->eol && b[i] >= '0' && b[i] <= '9'; i++) {
		if (n > (SIZE_MAX - 9) / 10)
			big = 1;
		else
			n = n * 10 + (size_t)(b[i] - '0');
	}
	if (i < p->eol && b[i] == '+') {
		sync = 0;
		i++;
	}
	if (i >= p->eol || b[i] != '}' || i + 1 != p->eol)
		return bad(p, "Invalid literal");
	if (big || n > p->lim->literal_max) {
		if (sync)
			return bad(p, "Literal too large");
		free_args(p->cmd);
		p->cmd->error = "Literal too large";
		return IMAP_PARSE_TOO_LONG;
	}
	/* Decided before waiting for the data, so that the answer does
	 * not depend on how much of it has arrived (found by fuzzing). */
	if (p->cmd->nargs >= IMAP_ARGS_MAX)
		return bad(p, "Too many arguments");
	if (sync)
		p->cmd->sync_literals++;
	if (p->len - p->next < n)
		return IMAP_PARSE_NEED_MORE;
	start = p->next;
	/* CHAR8 excludes NUL (RFC 3501); literal8 is not for commands */
	nul = n > 0 && memchr(b + start, '\0', n) != NULL;
	if (!nul && (r = push(p, IMAP_ARG_STRING, b + start, n)) != 0)
		return push_failed(p, r);
	if ((st = find_line(p, start + n)) != IMAP_PARSE_OK) {
		if (st == IMAP_PARSE_TOO_LONG)
			p->cmd->error = "Line too long";
		return st;
	}
	if (nul)
		return bad(p, "NUL in literal");
	p->pos = p->seg;
	return IMAP_PARSE_OK;
}

static enum imap_parse_status
atom(struct parser *p)
{
	size_t	 i;
	int	 r;

	for (i = p->pos; i < p->eol && is_astring_char(p->buf[i]); i++)
		;
	if (i < p->eol && p->buf[i] != ' ' && p->buf[i] != ')')
		return bad(p, "Invalid characters in atom");
	if ((r = push(p, IMAP_ARG_ATOM, p->buf + p->pos, i - p->pos)) != 0)
		return push_failed(p, r);
	p->pos = i;
	return IMAP_PARSE_OK;
}

static enum imap_parse_status
args(struct parser *p)
{
	enum imap_parse_status	 st;
	enum state		 state = ST_AFTER;
	unsigned char		 c;
	int			 r;

	for (;;) {
		if (p->pos == p->eol) {
			if (state == ST_ELEM)
				return bad(p, "Unexpected space at end of "
				    "line");
			if (p->depth > 0)
				return bad(p, "Unterminated list");
			p->cmd->consumed = p->next;
			return IMAP_PARSE_OK;
		}
		c = (unsigned char)p->buf[p->pos];
		if (state == ST_AFTER) {
			if (c == ' ') {
				state = ST_ELEM;
				p->pos++;
				continue;
			}
			if (c != ')')
				return bad(p, "Missing space between "
				    "arguments");
		}
		if (c == ')') {
			if (p->depth == 0)
				return bad(p, "Unexpected ')'");
			if (state == ST_ELEM)
				return bad(p, "Unexpected space before ')'");
			if ((r = push(p, IMAP_ARG_LIST_END, ")", 1)) != 0)
				return push_failed(p, r);
			p->depth--;
			p->pos++;
			state = ST_AFTER;
			continue;
		}
		if (c == '(') {
			if ((r = push(p, IMAP_ARG_LIST_BEGIN, "(", 1)) != 0)
				return push_failed(p, r);
			p->depth++;
			p->pos++;
			state = ST_ELEM_OR_CLOSE;
			continue;
		}
		if (c == ' ')
			return bad(p, "Extra space between arguments");
		if (c == '"')
			st = quoted(p);
		else if (c == '{')
			st = literal(p);
		else if (is_astring_char(c))
			st = atom(p);
		else
			return bad(p, "Invalid characters in argument");
		if (st != IMAP_PARSE_OK)
			return st;
		state = ST_AFTER;
	}
}

/* Tag at the start of buf[0..end): its length if valid and followed by
 * SP or end, else 0. */
static size_t
tag_len(const char *buf, size_t end)
{
	size_t	 i;

	for (i = 0; i < end && buf[i] != ' '; i++)
		if (!is_tag_char(buf[i]) || i == IMAP_TAG_MAX)
			return 0;
	return i;
}

enum imap_parse_status
imap_parse_command(const char *buf, size_t len,
    const struct imap_limits *lim, struct imap_command *cmd)
{
	struct parser		 p;
	enum imap_parse_status	 st;
	size_t			 i, n, end;

	imap_command_clear(cmd);
	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = len;
	p.lim = lim;
	p.cmd = cmd;

	if ((st = find_line(&p, 0)) != IMAP_PARSE_OK) {
		if (st == IMAP_PARSE_TOO_LONG) {
			/* a tag for the reply, if one is visible */
			end = len < IMAP_TAG_MAX + 1 ? len : IMAP_TAG_MAX + 1;
			if (memchr(buf, ' ', end) != NULL &&
			    (n = tag_len(buf, end)) > 0)
				memcpy(cmd->tag, buf, n);
			cmd->error = "Line too long";
		}
		return st;
	}
	if (p.eol == 0)
		return bad(&p, "Empty command line");
	if (buf[0] == ' ')
		return bad(&p, "Missing tag");
	if ((n = tag_len(buf, p.eol)) == 0) {
		for (i = 0; i < p.eol && buf[i] != ' '; i++)
			;
		return bad(&p, i > IMAP_TAG_MAX ? "Tag too long" :
		    "Invalid tag");
	}
	memcpy(cmd->tag, buf, n);
	cmd->tag[n] = '\0';
	if (n == p.eol || n + 1 == p.eol || buf[n + 1] == ' ')
		return bad(&p, "Missing command name");

	p.pos = n + 1;
	for (i = p.pos; i < p.eol && is_atom_char(buf[i]); i++)
		if (i - p.pos == IMAP_NAME_MAX)
			return bad(&p, "Command name too long");
	if (i < p.eol && buf[i] != ' ')
		return bad(&p, "Invalid command name");
	for (n = 0; p.pos < i; p.pos++) {
		if (buf[p.pos] >= 'a' && buf[p.pos] <= 'z')
			cmd->name[n++] = buf[p.pos] - 'a' + 'A';
		else
			cmd->name[n++] = buf[p.pos];
	}
	cmd->name[n] = '\0';

	st = args(&p);
	if (st != IMAP_PARSE_OK && st != IMAP_PARSE_BAD)
		free_args(cmd);
	if (st == IMAP_PARSE_NEED_MORE)
		cmd->error = NULL;
	return st;
}

int
imap_quotable(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n' ||
		    (unsigned char)s[i] >= 0x80)
			return 0;
	}
	return 1;
}

int
imap_quote(const char *s, size_t len, char *out, size_t outsz)
{
	size_t	 i, n = 0;
	int	 esc;

	if (!imap_quotable(s, len))
		return -1;
	if (outsz < 3)
		return -1;
	out[n++] = '"';
	for (i = 0; i < len; i++) {
		esc = s[i] == '"' || s[i] == '\\';
		/* room for this byte, the closing quote and NUL */
		if (outsz - n < (size_t)esc + 3 || n > INT_MAX - 4)
			return -1;
		if (esc)
			out[n++] = '\\';
		out[n++] = s[i];
	}
	out[n++] = '"';
	out[n] = '\0';
	return (int)n;
}
