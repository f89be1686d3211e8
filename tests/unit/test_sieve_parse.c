/*
 * sieve_parse: every input is parsed at every prefix length, as it could
 * arrive split at any byte; only the complete command may give a result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sieve_parse.h"

static const struct sieve_limits deflim = { 1024, 4096 };

typedef enum sieve_parse_status (*parse_fn)(const char *, size_t,
    const struct sieve_limits *, struct sieve_command *);

/*
 * Parse buf[0..i) for every i.  Shorter prefixes than the first result
 * must be NEED_MORE; every longer one must give the same result.  Each
 * prefix gets an exact-size copy so that ASan sees any read past it.
 */
static enum sieve_parse_status
parse_split(parse_fn fn, const char *in, size_t len,
    const struct sieve_limits *lim, struct sieve_command *cmd)
{
	struct sieve_command	 c, ref;
	enum sieve_parse_status	 st, refst = SIEVE_PARSE_NEED_MORE;
	size_t			 i, j;
	char			*copy;

	sieve_command_init(&ref);
	for (i = 0; i <= len; i++) {
		copy = malloc(i > 0 ? i : 1);
		assert_non_null(copy);
		memcpy(copy, in, i);
		sieve_command_init(&c);
		st = fn(copy, i, lim, &c);
		free(copy);
		assert_true(c.consumed <= i);
		if (refst == SIEVE_PARSE_NEED_MORE) {
			if (st == SIEVE_PARSE_NEED_MORE) {
				assert_int_equal(c.consumed, 0);
				assert_int_equal(c.nargs, 0);
				assert_null(c.error);
				sieve_command_clear(&c);
				continue;
			}
			refst = st;
			ref = c;
			if (st == SIEVE_PARSE_OK || st == SIEVE_PARSE_BAD)
				assert_int_equal(c.consumed, i);
			if (st != SIEVE_PARSE_OK) {
				assert_non_null(c.error);
				assert_int_equal(c.nargs, 0);
			}
			continue;
		}
		assert_int_equal(st, refst);
		assert_int_equal(c.consumed, ref.consumed);
		assert_string_equal(c.name, ref.name);
		assert_int_equal(c.nargs, ref.nargs);
		assert_int_equal(c.cancel, ref.cancel);
		for (j = 0; j < c.nargs; j++) {
			assert_int_equal(c.args[j].type, ref.args[j].type);
			assert_int_equal(c.args[j].len, ref.args[j].len);
			assert_memory_equal(c.args[j].data, ref.args[j].data,
			    c.args[j].len + 1);
		}
		if (st != SIEVE_PARSE_OK)
			assert_string_equal(c.error, ref.error);
		sieve_command_clear(&c);
	}
	*cmd = ref;
	return refst;
}

#define CMD(s, c)	parse_split(sieve_parse_command, (s), sizeof(s) - 1, \
			    &deflim, (c))
#define RESP(s, c)	parse_split(sieve_parse_response, (s), \
			    sizeof(s) - 1, &deflim, (c))

static void
assert_arg(const struct sieve_command *cmd, size_t i,
    enum sieve_arg_type type, const char *data, size_t len)
{
	assert_true(i < cmd->nargs);
	assert_int_equal(cmd->args[i].type, type);
	assert_int_equal(cmd->args[i].len, len);
	assert_memory_equal(cmd->args[i].data, data, len);
	assert_int_equal(cmd->args[i].data[len], '\0');
}

#define ARG(c, i, t, s)	assert_arg((c), (i), (t), (s), sizeof(s) - 1)

static void
expect_bad(parse_fn fn, const char *in, size_t len, size_t consumed,
    const char *error)
{
	struct sieve_command	 cmd;

	assert_int_equal(parse_split(fn, in, len, &deflim, &cmd),
	    SIEVE_PARSE_BAD);
	assert_int_equal(cmd.consumed, consumed);
	if (error != NULL)
		assert_string_equal(cmd.error, error);
	assert_int_equal(cmd.nargs, 0);
	sieve_command_clear(&cmd);
}

#define BAD(s, err)	expect_bad(sieve_parse_command, (s), sizeof(s) - 1, \
			    sizeof(s) - 1, (err))
#define BADRESP(s, err)	expect_bad(sieve_parse_response, (s), \
			    sizeof(s) - 1, sizeof(s) - 1, (err))

static void
test_simple(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(CMD("CAPABILITY\r\n", &cmd), SIEVE_PARSE_OK);
	assert_string_equal(cmd.name, "CAPABILITY");
	assert_int_equal(cmd.nargs, 0);
	assert_int_equal(cmd.consumed, 12);
	assert_null(cmd.error);
	sieve_command_clear(&cmd);
	assert_int_equal(CMD("logout\n", &cmd), SIEVE_PARSE_OK);
	assert_string_equal(cmd.name, "LOGOUT");
	sieve_command_clear(&cmd);
}

static void
test_authenticate_quoted(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(CMD("Authenticate \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\""
	    "\r\n", &cmd), SIEVE_PARSE_OK);
	assert_string_equal(cmd.name, "AUTHENTICATE");
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "PLAIN");
	ARG(&cmd, 1, SIEVE_ARG_STRING, "AGFsaWNlAHNlY3JldA==");
	sieve_command_clear(&cmd);
}

/* {n+} is the client's literal; {n} is read the same way. */
static void
test_literals(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(CMD("AUTHENTICATE \"PLAIN\" {20+}\r\n"
	    "AGFsaWNlAHNlY3JldA==\r\n", &cmd), SIEVE_PARSE_OK);
	ARG(&cmd, 1, SIEVE_ARG_STRING, "AGFsaWNlAHNlY3JldA==");
	sieve_command_clear(&cmd);
	assert_int_equal(CMD("AUTHENTICATE {5}\r\nPLAIN {4}\r\nab\"\\\r\n",
	    &cmd), SIEVE_PARSE_OK);
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "PLAIN");
	ARG(&cmd, 1, SIEVE_ARG_STRING, "ab\"\\");
	sieve_command_clear(&cmd);
	/* a literal may hold CRLF and 8-bit, and be empty */
	assert_int_equal(CMD("X {4+}\r\na\r\n\xff {0+}\r\n\r\n", &cmd),
	    SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "a\r\n\xff");
	ARG(&cmd, 1, SIEVE_ARG_STRING, "");
	sieve_command_clear(&cmd);
}

static void
test_quoted_escapes(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(CMD("NOOP \"a\\\"b\\\\c \xc3\xa4\"\r\n", &cmd),
	    SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "a\"b\\c \xc3\xa4");
	sieve_command_clear(&cmd);
	assert_int_equal(CMD("NOOP \"\"\r\n", &cmd), SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "");
	sieve_command_clear(&cmd);
}

static void
test_atoms(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(CMD("HAVESPACE \"s\" 1234\r\n", &cmd),
	    SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "s");
	ARG(&cmd, 1, SIEVE_ARG_ATOM, "1234");
	sieve_command_clear(&cmd);
}

static void
test_bad(void **state)
{
	(void)state;
	BAD("\r\n", "Empty command line");
	BAD("\"NOOP\"\r\n", "Invalid command name");
	BAD(" NOOP\r\n", "Invalid command name");
	BAD("NO\"OP\r\n", "Invalid command name");
	BAD("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\r\n", "Command name too long");
	BAD("NOOP  \"x\"\r\n", "Extra space between arguments");
	BAD("NOOP \"x\" \r\n", "Unexpected space at end of line");
	BAD("NOOP \"x\"\"y\"\r\n", "Missing space between arguments");
	BAD("NOOP \"a\\x\"\r\n", "Invalid escape in quoted string");
	BAD("NOOP \"abc\r\n", "Unterminated quoted string");
	BAD("NOOP \"a\\\"\r\n", "Unterminated quoted string");
	BAD("NOOP \"a\0b\"\r\n", "Invalid character in quoted string");
	BAD("NOOP \"a\rb\"\r\n", "Invalid character in quoted string");
	BAD("NOOP (x)\r\n", "Invalid characters in argument");
	BAD("NOOP ab(\r\n", "Invalid characters in atom");
	BAD("NOOP {x}\r\n", "Invalid literal");
	BAD("NOOP {3+} x\r\n", "Invalid literal");
	BAD("NOOP {3\r\n", "Invalid literal");
	BAD("NOOP {3}\r\na\0b\r\n", "NUL in literal");
	BAD("X 1 2 3 4 5 6 7 8 9\r\n", "Too many arguments");
}

/* A bad command's literals are skipped with it. */
static void
test_bad_skips_literals(void **state)
{
	struct sieve_command	 cmd;
	const char		 in[] = "NOOP \"\\q\" {3+}\r\nabc {2}\r\n"
	    "xy\r\nNOOP\r\n";

	(void)state;
	expect_bad(sieve_parse_command, in, sizeof(in) - 7, sizeof(in) - 7,
	    "Invalid escape in quoted string");
	sieve_command_init(&cmd);
	assert_int_equal(sieve_parse_command(in, sizeof(in) - 1, &deflim,
	    &cmd), SIEVE_PARSE_BAD);
	assert_int_equal(cmd.consumed, sizeof(in) - 7);
	assert_int_equal(sieve_parse_command(in + cmd.consumed, 6, &deflim,
	    &cmd), SIEVE_PARSE_OK);
	assert_string_equal(cmd.name, "NOOP");
	sieve_command_clear(&cmd);
}

static void
test_too_long(void **state)
{
	struct sieve_limits	 lim = { 16, 8 };
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP {8+}\r\n12345678\r\n", 21, &lim, &cmd), SIEVE_PARSE_OK);
	sieve_command_clear(&cmd);
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP {9+}\r\n123456789\r\n", 22, &lim, &cmd),
	    SIEVE_PARSE_TOO_LONG);
	assert_string_equal(cmd.error, "Literal too large");
	sieve_command_clear(&cmd);
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP {99999999999999999999999}\r\n", 32, &deflim, &cmd),
	    SIEVE_PARSE_TOO_LONG);
	sieve_command_clear(&cmd);
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP \"012345678\"\r\n", 18, &lim, &cmd), SIEVE_PARSE_OK);
	sieve_command_clear(&cmd);
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP \"0123456789\"\r\n", 19, &lim, &cmd),
	    SIEVE_PARSE_TOO_LONG);
	assert_string_equal(cmd.error, "Line too long");
	sieve_command_clear(&cmd);
	/* the line after a literal has the same limit */
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP {1+}\r\nx \"0123456789abcd\"\r\n", 31, &lim, &cmd),
	    SIEVE_PARSE_TOO_LONG);
	sieve_command_clear(&cmd);
	/* a bad line's literal over the limit cannot be skipped */
	assert_int_equal(parse_split(sieve_parse_command,
	    "NOOP ( {9+}\r\n", 13, &lim, &cmd), SIEVE_PARSE_TOO_LONG);
	assert_string_equal(cmd.error, "Literal too large");
	sieve_command_clear(&cmd);
}

static void
test_response(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(RESP("\"AGFsaWNlAHNlY3JldA==\"\r\n", &cmd),
	    SIEVE_PARSE_OK);
	assert_string_equal(cmd.name, "");
	ARG(&cmd, 0, SIEVE_ARG_STRING, "AGFsaWNlAHNlY3JldA==");
	assert_int_equal(cmd.cancel, 0);
	sieve_command_clear(&cmd);
	assert_int_equal(RESP("{4+}\r\nabcd\r\n", &cmd), SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "abcd");
	sieve_command_clear(&cmd);
	assert_int_equal(RESP("\"\"\r\n", &cmd), SIEVE_PARSE_OK);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "");
	assert_int_equal(cmd.cancel, 0);
	sieve_command_clear(&cmd);
}

static void
test_response_cancel(void **state)
{
	struct sieve_command	 cmd;

	(void)state;
	assert_int_equal(RESP("\"*\"\r\n", &cmd), SIEVE_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	sieve_command_clear(&cmd);
	assert_int_equal(RESP("*\r\n", &cmd), SIEVE_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	ARG(&cmd, 0, SIEVE_ARG_STRING, "*");
	sieve_command_clear(&cmd);
	assert_int_equal(RESP("{1+}\r\n*\r\n", &cmd), SIEVE_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	sieve_command_clear(&cmd);
}

static void
test_response_bad(void **state)
{
	(void)state;
	BADRESP("\r\n", "Expected a string");
	BADRESP("abc\r\n", "Expected a string");
	BADRESP("**\r\n", "Expected a string");
	BADRESP("\"a\" \"b\"\r\n", "Expected one string");
	BADRESP("{1+}\r\na x\r\n", "Expected one string");
	BADRESP("\"a\r\n", "Unterminated quoted string");
	/* the literal announced by a bad response is skipped too */
	BADRESP("\"a\" {2+}\r\nxy\r\n", "Expected one string");
}

static void
test_quote(void **state)
{
	char	 out[32];

	(void)state;
	assert_int_equal(sieve_quote("ab\"c\\", 5, out, sizeof(out)), 9);
	assert_string_equal(out, "\"ab\\\"c\\\\\"");
	assert_int_equal(sieve_quote("", 0, out, sizeof(out)), 2);
	assert_string_equal(out, "\"\"");
	assert_int_equal(sieve_quote("abc", 3, out, 6), 5);
	assert_int_equal(sieve_quote("abc", 3, out, 5), -1);
	assert_int_equal(sieve_quote("a\nb", 3, out, sizeof(out)), -1);
	assert_int_equal(sieve_quote("a\0b", 3, out, sizeof(out)), -1);
	assert_int_equal(sieve_quote("a", 1, out, 2), -1);
}

/* What sieve_quote writes parses back to the same bytes. */
static void
test_quote_roundtrip(void **state)
{
	struct sieve_command	 cmd;
	const char		*in = "p\xc3\xa4ss \"w\\rd\"";
	char			 q[64], line[80];
	int			 n;

	(void)state;
	n = sieve_quote(in, strlen(in), q, sizeof(q));
	assert_true(n > 0);
	n = snprintf(line, sizeof(line), "NOOP %s\r\n", q);
	assert_int_equal(parse_split(sieve_parse_command, line, (size_t)n,
	    &deflim, &cmd), SIEVE_PARSE_OK);
	assert_int_equal(cmd.nargs, 1);
	assert_string_equal(cmd.args[0].data, in);
	sieve_command_clear(&cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_authenticate_quoted),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_quoted_escapes),
		cmocka_unit_test(test_atoms),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bad_skips_literals),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_response_cancel),
		cmocka_unit_test(test_response_bad),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
