/*
 * IMAP pre-authentication command parser: a pure function over bytes.
 *
 * imap_parse_command() looks at everything the client has sent that has
 * not been consumed yet and either returns one complete command or says
 * why it cannot.  It keeps no state between calls: the caller re-runs it
 * on the whole buffer when more bytes arrive (pre-auth commands are
 * small and bounded by the limits, so re-parsing is cheap).
 *
 * Synchronizing literals ({n}): while a command is incomplete the parser
 * reports how many literal announcements it has seen complete so far
 * (sync_literals); the caller sends one "+ " continuation for each new
 * one.  Non-synchronizing literals ({n+}, RFC 7888) need none.
 */
#ifndef FERRY_IMAP_PARSE_H
#define FERRY_IMAP_PARSE_H

#include <stddef.h>

#define IMAP_TAG_MAX	64	/* longer tags are refused */
#define IMAP_NAME_MAX	32	/* command name */
#define IMAP_ARGS_MAX	64	/* enough for ID's 30 pairs + parentheses */

enum imap_parse_status {
	IMAP_PARSE_OK,		/* one command in cmd; cmd->consumed bytes */
	IMAP_PARSE_NEED_MORE,	/* incomplete; cmd->sync_literals is set */
	IMAP_PARSE_BAD,		/* syntax error; cmd->consumed skips it */
	IMAP_PARSE_TOO_LONG,	/* line or literal over the limit: close */
};

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* includes NIL as an atom "NIL" */
	IMAP_ARG_STRING,	/* quoted string or literal, decoded */
	IMAP_ARG_LIST_BEGIN,	/* "(" */
	IMAP_ARG_LIST_END,	/* ")" */
};

struct imap_arg {
	enum imap_arg_type	 type;
	char			*data;	/* NUL-terminated copy; may hold NULs */
	size_t			 len;
};

struct imap_limits {
	size_t		line_max;	/* one line, CRLF excluded */
	size_t		literal_max;	/* one literal's size */
};

struct imap_command {
	char		 tag[IMAP_TAG_MAX + 1];	/* "" when none was valid */
	char		 name[IMAP_NAME_MAX + 1]; /* upper-cased */
	struct imap_arg	 args[IMAP_ARGS_MAX];
	size_t		 nargs;
	size_t		 consumed;	/* bytes of the input this used */
	size_t		 sync_literals;	/* NEED_MORE: {n} seen complete */
	const char	*error;		/* BAD/TOO_LONG: text for the client */
};

/*
 * Parse one command from buf[0..len).  Always initialise cmd first with
 * imap_command_init(); call imap_command_clear() after use (it wipes and
 * frees the argument copies, which may hold a password).
 *
 * BAD: cmd->consumed is the end of the offending line (past its CRLF);
 * cmd->tag is set if the tag was valid.  A synchronizing literal larger
 * than literal_max is BAD at the end of its announcement line (the client
 * waits for "+" and sends nothing more).  TOO_LONG: a line longer than
 * line_max, or a non-synchronizing literal larger than literal_max; the
 * connection cannot be resynchronised.
 */
enum imap_parse_status imap_parse_command(const char *buf, size_t len,
		    const struct imap_limits *, struct imap_command *cmd);
void		 imap_command_init(struct imap_command *);
void		 imap_command_clear(struct imap_command *);

/* 1 if s can be sent as an IMAP quoted string (no CR, LF, NUL, 8-bit). */
int		 imap_quotable(const char *s, size_t len);
/* Write "s" with \ and " escaped into out; returns length or -1 if
 * outsz is too small or s is not quotable. */
int		 imap_quote(const char *s, size_t len, char *out, size_t outsz);

#endif
