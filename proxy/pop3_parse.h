/*
 * POP3 authorization-state command parser: a pure function over bytes
 * (RFC 1939 section 3, RFC 2449 section 4, RFC 5034 section 4).
 *
 * pop3_parse_command() looks at everything the client has sent that has
 * not been consumed yet and either returns one complete command line or
 * says why it cannot.  It keeps no state: the caller re-runs it on the
 * whole buffer when more bytes arrive.  pop3_parse_auth_line() does the
 * same for the client's lines inside an AUTH exchange (RFC 5034 section
 * 4: base64 or "*" to cancel), which have their own, larger limit since
 * bearer tokens do not fit in 255 octets.
 *
 * A POP3 line has no literals, so a bad line is skipped up to its LF and
 * the connection stays in step.  A line over the limit cannot be
 * skipped without state the parser does not keep: TOO_LONG means close.
 */
#ifndef FERRY_POP3_PARSE_H
#define FERRY_POP3_PARSE_H

#include <stddef.h>

#define POP3_NAME_MAX	16	/* keywords are 3 or 4 long; extensions */
#define POP3_ARGS_MAX	8	/* pre-auth commands take at most 2 */
#define POP3_LINE_MIN	3	/* the shortest sensible line_max */

enum pop3_parse_status {
	POP3_PARSE_OK,		/* one line in cmd; cmd->consumed bytes */
	POP3_PARSE_NEED_MORE,	/* no complete line yet */
	POP3_PARSE_BAD,		/* bad line; cmd->consumed skips it */
	POP3_PARSE_TOO_LONG,	/* no LF within the limit: close */
};

/*
 * Line limits count the whole line, CRLF included, as RFC 2449 section 4
 * does (255 for commands).  A line ended by a bare LF is held to the
 * same content length, so the answer never depends on how it ends.
 * Values below POP3_LINE_MIN are treated as POP3_LINE_MIN.
 */
struct pop3_limits {
	size_t		line_max;	/* command line; RFC 2449: 255 */
	size_t		auth_line_max;	/* a line inside AUTH */
};

struct pop3_command {
	char		 name[POP3_NAME_MAX + 1]; /* upper-cased; "" for
						     an AUTH line */
	char		*args[POP3_ARGS_MAX];	/* rest, split at SPs */
	size_t		 nargs;
	/*
	 * The line after the keyword and one SP, exactly as sent (CRLF
	 * removed).  RFC 1939 lets PASS take the rest of the line so that
	 * a password may hold spaces.  For an AUTH line, the whole line.
	 * Never NULL after OK; "" when there was nothing.
	 */
	char		*rest;
	size_t		 rest_len;
	int		 cancel;	/* AUTH line: the client sent "*" */
	size_t		 consumed;	/* input bytes this used */
	const char	*error;		/* BAD/TOO_LONG: for the client */
	char		*mem;		/* owns args and rest */
	size_t		 mem_len;
};

/*
 * Parse one command line from buf[0..len).  Initialise cmd once with
 * pop3_command_init(); every call clears what it held before.  Call
 * pop3_command_clear() after use: the copies may hold a password, and
 * it wipes them.
 *
 * OK: name is a keyword of letters and digits; the arguments and rest
 * are NUL-terminated copies.  BAD: an empty line, a bad keyword, a
 * control character, or too many arguments; consumed is past the LF.
 * NUL, a CR not before the LF, and other C0 controls except TAB are
 * refused; 8-bit bytes are allowed (UTF-8 user names and passwords).
 */
enum pop3_parse_status pop3_parse_command(const char *buf, size_t len,
		    const struct pop3_limits *, struct pop3_command *);

/*
 * Parse one client line inside an AUTH exchange: rest is the line,
 * cancel is set when it is "*".  The characters are checked as for a
 * command line; decoding the base64 is the caller's job.
 */
enum pop3_parse_status pop3_parse_auth_line(const char *buf, size_t len,
		    const struct pop3_limits *, struct pop3_command *);

void		 pop3_command_init(struct pop3_command *);
void		 pop3_command_clear(struct pop3_command *);

#endif
