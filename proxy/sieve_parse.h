/*
 * ManageSieve (RFC 5804) pre-authentication command parser: a pure
 * function over bytes.
 *
 * A command is an atom (its name) followed by arguments separated by
 * single spaces: atoms (numbers among them), quoted strings with \" and
 * \\ escapes, and literals.  RFC 5804 section 4 gives the client the
 * non-synchronizing literal {n+}; a client that sends {n} instead gets
 * no continuation (ManageSieve has none), so both are read the same way:
 * the data follows the announcement at once.
 *
 * Like imap_parse, it keeps no state between calls: the caller re-runs
 * it on the whole unconsumed input when more bytes arrive.
 */
#ifndef FERRY_SIEVE_PARSE_H
#define FERRY_SIEVE_PARSE_H

#include <stddef.h>

#define SIEVE_NAME_MAX	32	/* command name */
#define SIEVE_ARGS_MAX	8	/* pre-auth commands take at most 2 */

enum sieve_parse_status {
	SIEVE_PARSE_OK,		/* one command in cmd, consumed bytes */
	SIEVE_PARSE_NEED_MORE,	/* incomplete */
	SIEVE_PARSE_BAD,	/* syntax error; cmd->consumed skips it */
	SIEVE_PARSE_TOO_LONG,	/* line or literal over the limit: close */
};

enum sieve_arg_type {
	SIEVE_ARG_ATOM,		/* includes numbers */
	SIEVE_ARG_STRING,	/* quoted string or literal, decoded */
};

struct sieve_arg {
	enum sieve_arg_type	 type;
	char			*data;	/* NUL-terminated copy */
	size_t			 len;
};

struct sieve_limits {
	size_t		line_max;	/* one line, CRLF excluded */
	size_t		literal_max;	/* one literal's size */
};

struct sieve_command {
	char		 name[SIEVE_NAME_MAX + 1]; /* upper-cased; "" for a
						      response line */
	struct sieve_arg args[SIEVE_ARGS_MAX];
	size_t		 nargs;
	int		 cancel;	/* response: the client sent "*" */
	size_t		 consumed;	/* input bytes this used */
	const char	*error;		/* BAD/TOO_LONG: for the client */
};

/*
 * Parse one command from buf[0..len).  Initialise cmd once with
 * sieve_command_init(); every call clears what it held before.  Call
 * sieve_command_clear() after use (it wipes and frees the argument
 * copies, which may hold a password).
 *
 * BAD: consumed is past the end of the offending command, including
 * any literal its lines announced (the client sent those without
 * waiting, so they are not the next command).  TOO_LONG: a line longer
 * than line_max, or a literal larger than literal_max; the connection
 * cannot be resynchronised.  Strings with NUL are refused (and quoted
 * ones cannot hold CR or LF).
 */
enum sieve_parse_status sieve_parse_command(const char *buf, size_t len,
		    const struct sieve_limits *, struct sieve_command *);

/*
 * Parse the client's answer to an AUTHENTICATE challenge (RFC 5804
 * section 2.1): one string on a line.  A string "*" (or a bare * for
 * lenience) cancels: cancel is set and args[0] holds "*".
 */
enum sieve_parse_status sieve_parse_response(const char *buf, size_t len,
		    const struct sieve_limits *, struct sieve_command *);

void		 sieve_command_init(struct sieve_command *);
void		 sieve_command_clear(struct sieve_command *);

/* Write s as a ManageSieve quoted string (with \ and " escaped) into
 * out; its length, or -1 if outsz is too small or s holds NUL, CR or
 * LF (send those as a literal). */
int		 sieve_quote(const char *s, size_t len, char *out,
		    size_t outsz);

#endif
