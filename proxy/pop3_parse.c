/*
 * POP3 authorization-state command parser.  Pure: bytes in, command
 * out.  The line is located (its LF found and its length checked) before
 * anything in it is looked at, so a too-long line is refused the same
 * way however it was split.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* explicit_bzero; no config.h here */
#endif

#include <stdlib.h>
#include <string.h>

#include "proxy/pop3_parse.h"

struct line {
	size_t	 eol;		/* its CR (or bare LF) */
	size_t	 next;		/* past its LF */
};

void
pop3_command_init(struct pop3_command *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
}

void
pop3_command_clear(struct pop3_command *cmd)
{
	if (cmd->mem != NULL) {
		explicit_bzero(cmd->mem, cmd->mem_len);
		free(cmd->mem);
	}
	explicit_bzero(cmd->name, sizeof(cmd->name));
	memset(cmd->args, 0, sizeof(cmd->args));
	cmd->mem = NULL;
	cmd->mem_len = 0;
	cmd->nargs = 0;
	cmd->rest = NULL;
	cmd->rest_len = 0;
	cmd->cancel = 0;
	cmd->consumed = 0;
	cmd->error = NULL;
}

/*
 * Locate the first line of buf.  max counts the whole line with its
 * CRLF; the content may hold max - 2 bytes.
 */
static enum pop3_parse_status
find_line(const char *buf, size_t len, size_t max, struct line *ln)
{
	const char	*lf;
	size_t		 content_max, scan, at;

	if (max < POP3_LINE_MIN)
		max = POP3_LINE_MIN;
	content_max = max - 2;
	scan = len < max ? len : max;
	lf = memchr(buf, '\n', scan);
	if (lf == NULL) {
		if (len >= max)
			return POP3_PARSE_TOO_LONG;
		/* content_max bytes and a CR may still be followed by LF */
		if (len == max - 1 && buf[len - 1] != '\r')
			return POP3_PARSE_TOO_LONG;
		return POP3_PARSE_NEED_MORE;
	}
	at = (size_t)(lf - buf);
	ln->next = at + 1;
	ln->eol = (at > 0 && buf[at - 1] == '\r') ? at - 1 : at;
	if (ln->eol > content_max)
		return POP3_PARSE_TOO_LONG;
	return POP3_PARSE_OK;
}

/* Printable ASCII, SP, TAB and 8-bit; no NUL, CR or other controls. */
static int
valid_chars(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
is_keyword_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

static enum pop3_parse_status
bad(struct pop3_command *cmd, const struct line *ln, const char *error)
{
	pop3_command_clear(cmd);
	cmd->consumed = ln->next;
	cmd->error = error;
	return POP3_PARSE_BAD;
}

static enum pop3_parse_status
too_long(struct pop3_command *cmd, const char *error)
{
	pop3_command_clear(cmd);
	cmd->error = error;
	return POP3_PARSE_TOO_LONG;
}

/*
 * Copy s into cmd->mem twice: once whole as rest, once split at runs
 * of SP into args.  -1 on allocation failure, -2 on too many arguments.
 */
static int
copy_rest(struct pop3_command *cmd, const char *s, size_t len, int split)
{
	char	*p, *end;

	cmd->mem_len = 2 * (len + 1);
	if ((cmd->mem = malloc(cmd->mem_len)) == NULL) {
		cmd->mem_len = 0;
		return -1;
	}
	cmd->rest = cmd->mem;
	memcpy(cmd->rest, s, len);
	cmd->rest[len] = '\0';
	cmd->rest_len = len;
	p = cmd->mem + len + 1;
	memcpy(p, s, len);
	p[len] = '\0';
	if (!split)
		return 0;
	end = p + len;
	while (p < end) {
		if (*p == ' ') {
			*p++ = '\0';
			continue;
		}
		if (cmd->nargs == POP3_ARGS_MAX)
			return -2;
		cmd->args[cmd->nargs++] = p;
		while (p < end && *p != ' ')
			p++;
	}
	return 0;
}

enum pop3_parse_status
pop3_parse_command(const char *buf, size_t len,
    const struct pop3_limits *lim, struct pop3_command *cmd)
{
	enum pop3_parse_status	 st;
	struct line		 ln;
	size_t			 i, n;
	int			 r;

	pop3_command_clear(cmd);
	if ((st = find_line(buf, len, lim->line_max, &ln)) != POP3_PARSE_OK) {
		if (st == POP3_PARSE_TOO_LONG)
			cmd->error = "Line too long";
		return st;
	}
	if (ln.eol == 0)
		return bad(cmd, &ln, "Empty command line");
	if (!valid_chars(buf, ln.eol))
		return bad(cmd, &ln, "Invalid character in command line");
	for (n = 0; n < ln.eol && buf[n] != ' '; n++)
		if (!is_keyword_char(buf[n]) || n == POP3_NAME_MAX)
			return bad(cmd, &ln, "Invalid command");
	if (n == 0)
		return bad(cmd, &ln, "Invalid command");
	for (i = 0; i < n; i++) {
		if (buf[i] >= 'a' && buf[i] <= 'z')
			cmd->name[i] = buf[i] - 'a' + 'A';
		else
			cmd->name[i] = buf[i];
	}
	cmd->name[n] = '\0';
	/* one SP ends the keyword; the rest is kept as sent */
	if (n < ln.eol)
		n++;
	r = copy_rest(cmd, buf + n, ln.eol - n, 1);
	if (r == -1)
		return too_long(cmd, "out of memory");
	if (r == -2)
		return bad(cmd, &ln, "Too many arguments");
	cmd->consumed = ln.next;
	return POP3_PARSE_OK;
}

enum pop3_parse_status
pop3_parse_auth_line(const char *buf, size_t len,
    const struct pop3_limits *lim, struct pop3_command *cmd)
{
	enum pop3_parse_status	 st;
	struct line		 ln;

	pop3_command_clear(cmd);
	st = find_line(buf, len, lim->auth_line_max, &ln);
	if (st != POP3_PARSE_OK) {
		if (st == POP3_PARSE_TOO_LONG)
			cmd->error = "Line too long";
		return st;
	}
	if (!valid_chars(buf, ln.eol))
		return bad(cmd, &ln, "Invalid character in response");
	if (copy_rest(cmd, buf, ln.eol, 0) == -1)
		return too_long(cmd, "out of memory");
	cmd->cancel = ln.eol == 1 && buf[0] == '*';
	cmd->consumed = ln.next;
	return POP3_PARSE_OK;
}
