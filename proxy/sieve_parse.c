/*
 * ManageSieve pre-authentication command parser (RFC 5804 section 4).
 * Pure: bytes in, command out.
 *
 * The input is split into line segments: the first line, then one more
 * after every literal's data.  Each segment is located (its LF found and
 * its length checked) before it is tokenised, so the tokeniser never
 * runs off the end of the input.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* explicit_bzero; no config.h here */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/literal.h"
#include "proxy/sieve_parse.h"

struct parser {
	const char			*buf;
	size_t				 len;
	const struct sieve_limits	*lim;
	struct sieve_command		*cmd;
	size_t				 seg;	/* segment start */
	size_t				 eol;	/* its CR or LF */
	size_t				 next;	/* past its LF */
	size_t				 pos;
};

static void
free_args(struct sieve_command *cmd)
{
	size_t	 i;

	for (i = 0; i < cmd->nargs && i < SIEVE_ARGS_MAX; i++) {
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
sieve_command_init(struct sieve_command *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
}

void
sieve_command_clear(struct sieve_command *cmd)
{
	free_args(cmd);
	explicit_bzero(cmd->name, sizeof(cmd->name));
	cmd->cancel = 0;
	cmd->consumed = 0;
	cmd->error = NULL;
}

/* ATOM-CHAR: any CHAR except atom-specials (RFC 5804 section 4). */
static int
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("(){%*\"\\]", c) == NULL;
}

/*
 * Locate the line starting at start.  OK with eol/next set, NEED_MORE
 * if its LF has not arrived, TOO_LONG if it cannot fit.
 */
static enum sieve_parse_status
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
			return SIEVE_PARSE_TOO_LONG;
		/* line_max bytes and a CR may still be followed by LF */
		if (avail == limit - 1 && p->buf[p->len - 1] != '\r')
			return SIEVE_PARSE_TOO_LONG;
		return SIEVE_PARSE_NEED_MORE;
	}
	at = (size_t)(lf - p->buf);
	p->seg = start;
	p->next = at + 1;
	p->eol = (at > start && p->buf[at - 1] == '\r') ? at - 1 : at;
	if (p->eol - start > p->lim->line_max)
		return SIEVE_PARSE_TOO_LONG;
	return SIEVE_PARSE_OK;
}

/*
 * The current segment is bad.  Skip to the end of the command: past this
 * line and past every literal it announces, since ManageSieve clients
 * send literal data without waiting.
 */
static enum sieve_parse_status
bad(struct parser *p, const char *error)
{
	enum sieve_parse_status	 st;
	size_t			 n;
	int			 sync;

	free_args(p->cmd);
	while (literal_at_end(p->buf, p->seg, p->eol, &n, &sync)) {
		if (n > p->lim->literal_max) {
			p->cmd->error = "Literal too large";
			return SIEVE_PARSE_TOO_LONG;
		}
		if (p->len - p->next < n)
			return SIEVE_PARSE_NEED_MORE;
		st = find_line(p, p->next + n);
		if (st == SIEVE_PARSE_TOO_LONG)
			p->cmd->error = "Line too long";
		if (st != SIEVE_PARSE_OK)
			return st;
	}
	p->cmd->error = error;
	p->cmd->consumed = p->next;
	return SIEVE_PARSE_BAD;
}

static int
push(struct parser *p, enum sieve_arg_type type, const char *data,
    size_t len)
{
	struct sieve_arg	*arg;

	if (p->cmd->nargs >= SIEVE_ARGS_MAX)
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

static enum sieve_parse_status
push_failed(struct parser *p, int r)
{
	if (r == -1)
		return bad(p, "Too many arguments");
	free_args(p->cmd);
	p->cmd->error = "out of memory";
	return SIEVE_PARSE_TOO_LONG;
}

/* Quoted string at p->pos (on the opening quote). */
static enum sieve_parse_status
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
		} else if (b[i] == '\0' || b[i] == '\r')
			return bad(p, "Invalid character in quoted string");
		n++;
	}
	if (i >= p->eol)
		return bad(p, "Unterminated quoted string");
	if ((r = push(p, SIEVE_ARG_STRING, NULL, n)) != 0)
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
	return SIEVE_PARSE_OK;
}

/* Literal at p->pos (on the '{'); on OK, p->pos is past its data. */
static enum sieve_parse_status
literal(struct parser *p)
{
	enum sieve_parse_status	 st;
	const char		*b = p->buf;
	size_t			 i = p->pos + 1, n = 0, start;
	int			 big = 0, nul, r;

	if (i >= p->eol || b[i] < '0' || b[i] > '9')
		return bad(p, "Invalid literal");
	for (; i < p->eol && b[i] >= '0' && b[i] <= '9'; i++) {
		if (n > (SIZE_MAX - 9) / 10)
			big = 1;
		else
			n = n * 10 + (size_t)(b[i] - '0');
	}
	if (i < p->eol && b[i] == '+')
		i++;
	if (i >= p->eol || b[i] != '}' || i + 1 != p->eol)
		return bad(p, "Invalid literal");
	if (big || n > p->lim->literal_max) {
		free_args(p->cmd);
		p->cmd->error = "Literal too large";
		return SIEVE_PARSE_TOO_LONG;
	}
	if (p->len - p->next < n)
		return SIEVE_PARSE_NEED_MORE;
	start = p->next;
	/* a pre-auth string is a name or base64: NUL is bogus */
	nul = n > 0 && memchr(b + start, '\0', n) != NULL;
	if (!nul && (r = push(p, SIEVE_ARG_STRING, b + start, n)) != 0)
		return push_failed(p, r);
	if ((st = find_line(p, start + n)) != SIEVE_PARSE_OK) {
		if (st == SIEVE_PARSE_TOO_LONG)
			p->cmd->error = "Line too long";
		return st;
	}
	if (nul)
		return bad(p, "NUL in literal");
	p->pos = p->seg;
	return SIEVE_PARSE_OK;
}

static enum sieve_parse_status
atom(struct parser *p)
{
	size_t	 i;
	int	 r;

	for (i = p->pos; i < p->eol && is_atom_char(p->buf[i]); i++)
		;
	if (i < p->eol && p->buf[i] != ' ')
		return bad(p, "Invalid characters in atom");
	if ((r = push(p, SIEVE_ARG_ATOM, p->buf + p->pos, i - p->pos)) != 0)
		return push_failed(p, r);
	p->pos = i;
	return SIEVE_PARSE_OK;
}

/* One argument at p->pos. */
static enum sieve_parse_status
element(struct parser *p)
{
	unsigned char	 c = (unsigned char)p->buf[p->pos];

	if (c == '"')
		return quoted(p);
	if (c == '{')
		return literal(p);
	if (is_atom_char(c))
		return atom(p);
	if (c == ' ')
		return bad(p, "Extra space between arguments");
	return bad(p, "Invalid characters in argument");
}

/* Arguments from p->pos, each after one SP, to the end of the line. */
static enum sieve_parse_status
args(struct parser *p)
{
	enum sieve_parse_status	 st;

	for (;;) {
		if (p->pos == p->eol) {
			p->cmd->consumed = p->next;
			return SIEVE_PARSE_OK;
		}
		if (p->buf[p->pos] != ' ')
			return bad(p, "Missing space between arguments");
		if (++p->pos == p->eol)
			return bad(p, "Unexpected space at end of line");
		if ((st = element(p)) != SIEVE_PARSE_OK)
			return st;
	}
}

static void
init_parser(struct parser *p, const char *buf, size_t len,
    const struct sieve_limits *lim, struct sieve_command *cmd)
{
	sieve_command_clear(cmd);
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->len = len;
	p->lim = lim;
	p->cmd = cmd;
}

/* Nothing but complete results leave the parser holding copies. */
static enum sieve_parse_status
finish(struct sieve_command *cmd, enum sieve_parse_status st)
{
	if (st != SIEVE_PARSE_OK && st != SIEVE_PARSE_BAD)
		free_args(cmd);
	if (st == SIEVE_PARSE_NEED_MORE)
		cmd->error = NULL;
	return st;
}

enum sieve_parse_status
sieve_parse_command(const char *buf, size_t len,
    const struct sieve_limits *lim, struct sieve_command *cmd)
{
	struct parser		 p;
	enum sieve_parse_status	 st;
	size_t			 i, n;

	init_parser(&p, buf, len, lim, cmd);
	if ((st = find_line(&p, 0)) != SIEVE_PARSE_OK) {
		if (st == SIEVE_PARSE_TOO_LONG)
			cmd->error = "Line too long";
		return st;
	}
	if (p.eol == 0)
		return bad(&p, "Empty command line");
	for (i = 0; i < p.eol && is_atom_char(buf[i]); i++)
		if (i == SIEVE_NAME_MAX)
			return bad(&p, "Command name too long");
	if (i == 0 || (i < p.eol && buf[i] != ' '))
		return bad(&p, "Invalid command name");
	for (n = 0; n < i; n++) {
		if (buf[n] >= 'a' && buf[n] <= 'z')
			cmd->name[n] = buf[n] - 'a' + 'A';
		else
			cmd->name[n] = buf[n];
	}
	cmd->name[n] = '\0';
	p.pos = i;
	return finish(cmd, args(&p));
}

enum sieve_parse_status
sieve_parse_response(const char *buf, size_t len,
    const struct sieve_limits *lim, struct sieve_command *cmd)
{
	struct parser		 p;
	enum sieve_parse_status	 st;

	init_parser(&p, buf, len, lim, cmd);
	if ((st = find_line(&p, 0)) != SIEVE_PARSE_OK) {
		if (st == SIEVE_PARSE_TOO_LONG)
			cmd->error = "Line too long";
		return st;
	}
	if (p.eol == 1 && buf[0] == '*') {
		if (push(&p, SIEVE_ARG_STRING, "*", 1) != 0)
			return push_failed(&p, -2);
		cmd->cancel = 1;
		cmd->consumed = p.next;
		return SIEVE_PARSE_OK;
	}
	if (p.eol == 0)
		return bad(&p, "Expected a string");
	if (buf[0] != '"' && buf[0] != '{')
		return bad(&p, "Expected a string");
	if ((st = element(&p)) != SIEVE_PARSE_OK)
		return finish(cmd, st);
	if (p.pos != p.eol)
		return bad(&p, "Expected one string");
	cmd->cancel = cmd->args[0].len == 1 && cmd->args[0].data[0] == '*';
	cmd->consumed = p.next;
	return SIEVE_PARSE_OK;
}

int
sieve_quote(const char *s, size_t len, char *out, size_t outsz)
{
	size_t	 i, n = 0;
	int	 esc;

	if (outsz < 3 || outsz > INT32_MAX)
		return -1;
	out[n++] = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
			return -1;
		esc = s[i] == '"' || s[i] == '\\';
		/* room for this byte, the closing quote and NUL */
		if (outsz - n < (size_t)esc + 3)
			return -1;
		if (esc)
			out[n++] = '\\';
		out[n++] = s[i];
	}
	out[n++] = '"';
	out[n] = '\0';
	return (int)n;
}
