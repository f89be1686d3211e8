/*
 * pop3_parse: every input is parsed at every prefix length, as it could
 * arrive split at any byte; only the complete line may give a result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/pop3_parse.h"

static const struct pop3_limits deflim = { 255, 1024 };

typedef enum pop3_parse_status (*parse_fn)(const char *, size_t,
    const struct pop3_limits *, struct pop3_command *);

/*
 * Parse buf[0..i) for every i.  Shorter prefixes than the first result
 * must be NEED_MORE; every longer one must give the same result.  Each
 * prefix gets an exact-size copy so that ASan sees any read past it.
 * cmd keeps the full-length result.
 */
static enum pop3_parse_status
parse_split(parse_fn fn, const char *in, size_t len,
    const struct pop3_limits *lim, struct pop3_command *cmd)
{
	struct pop3_command	 c, ref;
	enum pop3_parse_status	 st, refst = POP3_PARSE_NEED_MORE;
	size_t			 i, j;
	char			*copy;

	pop3_command_init(&ref);
	for (i = 0; i <= len; i++) {
		copy = malloc(i > 0 ? i : 1);
		assert_non_null(copy);
		memcpy(copy, in, i);
		pop3_command_init(&c);
		st = fn(copy, i, lim, &c);
		free(copy);
		assert_true(c.consumed <= i);
		if (refst == POP3_PARSE_NEED_MORE) {
			if (st == POP3_PARSE_NEED_MORE) {
				assert_int_equal(c.consumed, 0);
				assert_int_equal(c.nargs, 0);
				assert_null(c.rest);
				assert_null(c.error);
				pop3_command_clear(&c);
				continue;
			}
			refst = st;
			ref = c;
			if (st == POP3_PARSE_OK || st == POP3_PARSE_BAD)
				assert_int_equal(c.consumed, i);
			if (st == POP3_PARSE_OK) {
				assert_null(c.error);
				assert_non_null(c.rest);
				assert_int_equal(c.rest[c.rest_len], '\0');
			} else {
				assert_non_null(c.error);
				assert_int_equal(c.nargs, 0);
				assert_null(c.rest);
			}
			continue;
		}
		assert_int_equal(st, refst);
		assert_int_equal(c.consumed, ref.consumed);
		assert_string_equal(c.name, ref.name);
		assert_int_equal(c.nargs, ref.nargs);
		for (j = 0; j < c.nargs; j++)
			assert_string_equal(c.args[j], ref.args[j]);
		assert_int_equal(c.rest_len, ref.rest_len);
		if (c.rest != NULL)
			assert_memory_equal(c.rest, ref.rest, c.rest_len);
		assert_int_equal(c.cancel, ref.cancel);
		if (st != POP3_PARSE_OK)
			assert_string_equal(c.error, ref.error);
		pop3_command_clear(&c);
	}
	*cmd = ref;
	return refst;
}

#define CMD(s, c)	parse_split(pop3_parse_command, (s), sizeof(s) - 1, \
			    &deflim, (c))
#define AUTHLINE(s, c)	parse_split(pop3_parse_auth_line, (s), \
			    sizeof(s) - 1, &deflim, (c))

static void
expect_bad(const char *in, size_t len, size_t consumed, const char *error)
{
	struct pop3_command	 cmd;

	assert_int_equal(parse_split(pop3_parse_command, in, len, &deflim,
	    &cmd), POP3_PARSE_BAD);
	assert_int_equal(cmd.consumed, consumed);
	if (error != NULL)
		assert_string_equal(cmd.error, error);
	assert_string_equal(cmd.name, "");
	pop3_command_clear(&cmd);
}

#define BAD(s, err)	expect_bad((s), sizeof(s) - 1, sizeof(s) - 1, (err))

static void
test_user(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("USER alice@example.com\r\n", &cmd),
	    POP3_PARSE_OK);
	assert_string_equal(cmd.name, "USER");
	assert_int_equal(cmd.nargs, 1);
	assert_string_equal(cmd.args[0], "alice@example.com");
	assert_string_equal(cmd.rest, "alice@example.com");
	assert_int_equal(cmd.consumed, 24);
	assert_int_equal(cmd.cancel, 0);
	pop3_command_clear(&cmd);
	assert_null(cmd.mem);
	assert_null(cmd.rest);
	assert_int_equal(cmd.nargs, 0);
}

static void
test_keyword_case(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("cApA\r\n", &cmd), POP3_PARSE_OK);
	assert_string_equal(cmd.name, "CAPA");
	assert_int_equal(cmd.nargs, 0);
	assert_string_equal(cmd.rest, "");
	assert_int_equal(cmd.rest_len, 0);
	pop3_command_clear(&cmd);
}

/* RFC 1939: a password may hold spaces; rest keeps them as sent. */
static void
test_pass_spaces(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("PASS  my secret  pass \r\n", &cmd),
	    POP3_PARSE_OK);
	assert_string_equal(cmd.name, "PASS");
	assert_string_equal(cmd.rest, " my secret  pass ");
	assert_int_equal(cmd.rest_len, 17);
	assert_int_equal(cmd.nargs, 3);
	assert_string_equal(cmd.args[0], "my");
	assert_string_equal(cmd.args[1], "secret");
	assert_string_equal(cmd.args[2], "pass");
	pop3_command_clear(&cmd);
}

static void
test_auth_initial_response(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", &cmd),
	    POP3_PARSE_OK);
	assert_string_equal(cmd.name, "AUTH");
	assert_int_equal(cmd.nargs, 2);
	assert_string_equal(cmd.args[0], "PLAIN");
	assert_string_equal(cmd.args[1], "AGFsaWNlAHNlY3JldA==");
	pop3_command_clear(&cmd);
	assert_int_equal(CMD("AUTH PLAIN =\r\n", &cmd), POP3_PARSE_OK);
	assert_string_equal(cmd.args[1], "=");
	pop3_command_clear(&cmd);
	assert_int_equal(CMD("AUTH\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.nargs, 0);
	pop3_command_clear(&cmd);
}

static void
test_bare_lf(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("QUIT\n", &cmd), POP3_PARSE_OK);
	assert_string_equal(cmd.name, "QUIT");
	assert_int_equal(cmd.consumed, 5);
	pop3_command_clear(&cmd);
}

static void
test_eight_bit_and_tab(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("PASS p\xc3\xa4ss\tw\r\n", &cmd),
	    POP3_PARSE_OK);
	assert_string_equal(cmd.rest, "p\xc3\xa4ss\tw");
	assert_int_equal(cmd.nargs, 1);
	pop3_command_clear(&cmd);
}

static void
test_pipelined(void **state)
{
	struct pop3_command	 cmd;
	const char		 in[] = "CAPA\r\nUSER bob\r\nPASS x\r\n";
	size_t			 off = 0;
	const char		*names[] = { "CAPA", "USER", "PASS" };
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		pop3_command_init(&cmd);
		assert_int_equal(pop3_parse_command(in + off,
		    sizeof(in) - 1 - off, &deflim, &cmd), POP3_PARSE_OK);
		assert_string_equal(cmd.name, names[i]);
		off += cmd.consumed;
		pop3_command_clear(&cmd);
	}
	assert_int_equal(off, sizeof(in) - 1);
	/* each line alone is complete at its own LF */
	assert_int_equal(CMD("CAPA\r\nUSER bob\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.consumed, 6);
	pop3_command_clear(&cmd);
}

static void
test_bad(void **state)
{
	(void)state;
	BAD("\r\n", "Empty command line");
	BAD("\n", "Empty command line");
	BAD(" USER x\r\n", "Invalid command");
	BAD("US-ER x\r\n", "Invalid command");
	BAD("USER\tx\r\n", "Invalid command");
	BAD("ABCDEFGHIJKLMNOPQ\r\n", "Invalid command");
	BAD("USER a\0b\r\n", "Invalid character in command line");
	BAD("USER a\rb\r\n", "Invalid character in command line");
	BAD("USER a\x1b\r\n", "Invalid character in command line");
	BAD("USER a\x7f\r\n", "Invalid character in command line");
	BAD("X 1 2 3 4 5 6 7 8 9\r\n", "Too many arguments");
	BAD("\xc3\xa4 x\r\n", "Invalid command");
}

static void
test_limits_of_keyword_and_args(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(CMD("ABCDEFGHIJKLMNOP\r\n", &cmd), POP3_PARSE_OK);
	assert_string_equal(cmd.name, "ABCDEFGHIJKLMNOP");
	pop3_command_clear(&cmd);
	assert_int_equal(CMD("X 1 2 3 4 5 6 7 8\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.nargs, POP3_ARGS_MAX);
	assert_string_equal(cmd.args[7], "8");
	pop3_command_clear(&cmd);
}

/* A bad line is skipped to its LF; the next one parses. */
static void
test_bad_then_good(void **state)
{
	struct pop3_command	 cmd;
	const char		 in[] = "??\r\nNOOP\r\n";

	(void)state;
	expect_bad(in, sizeof(in) - 1, 4, "Invalid command");
	pop3_command_init(&cmd);
	assert_int_equal(pop3_parse_command(in + 4, sizeof(in) - 5, &deflim,
	    &cmd), POP3_PARSE_OK);
	assert_string_equal(cmd.name, "NOOP");
	pop3_command_clear(&cmd);
}

static char *
make_line(size_t content, const char *end)
{
	char	*s;
	size_t	 i;

	s = malloc(content + strlen(end) + 1);
	assert_non_null(s);
	memcpy(s, "PASS ", 5);
	for (i = 5; i < content; i++)
		s[i] = 'a' + (char)(i % 26);
	strcpy(s + content, end);
	return s;
}

static enum pop3_parse_status
parse_len(size_t content, const char *end, size_t line_max)
{
	struct pop3_limits	 lim = { line_max, line_max };
	struct pop3_command	 cmd;
	enum pop3_parse_status	 st;
	char			*s = make_line(content, end);

	st = parse_split(pop3_parse_command, s, strlen(s), &lim, &cmd);
	if (st == POP3_PARSE_OK)
		assert_int_equal(cmd.rest_len, content - 5);
	if (st == POP3_PARSE_TOO_LONG) {
		assert_string_equal(cmd.error, "Line too long");
		assert_int_equal(cmd.consumed, 0);
	}
	pop3_command_clear(&cmd);
	free(s);
	return st;
}

/* RFC 2449 section 4: 255 octets with the CRLF. */
static void
test_line_limit(void **state)
{
	(void)state;
	assert_int_equal(parse_len(253, "\r\n", 255), POP3_PARSE_OK);
	assert_int_equal(parse_len(254, "\r\n", 255), POP3_PARSE_TOO_LONG);
	assert_int_equal(parse_len(253, "\n", 255), POP3_PARSE_OK);
	assert_int_equal(parse_len(254, "\n", 255), POP3_PARSE_TOO_LONG);
	assert_int_equal(parse_len(300, "", 255), POP3_PARSE_TOO_LONG);
	assert_int_equal(parse_len(1000, "\r\n", 255), POP3_PARSE_TOO_LONG);
	assert_int_equal(parse_len(998, "\r\n", 1000), POP3_PARSE_OK);
	assert_int_equal(parse_len(999, "\r\n", 1000), POP3_PARSE_TOO_LONG);
}

/* A limit below the minimum acts as the minimum: one byte of content. */
static void
test_tiny_limit(void **state)
{
	struct pop3_limits	 lim = { 0, 0 };
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(parse_split(pop3_parse_command, "Q\r\n", 3, &lim,
	    &cmd), POP3_PARSE_OK);
	pop3_command_clear(&cmd);
	assert_int_equal(parse_split(pop3_parse_command, "QU\r\n", 4, &lim,
	    &cmd), POP3_PARSE_TOO_LONG);
	pop3_command_clear(&cmd);
	assert_int_equal(parse_split(pop3_parse_auth_line, "*\r\n", 3, &lim,
	    &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	pop3_command_clear(&cmd);
}

static void
test_auth_line(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	assert_int_equal(AUTHLINE("AGFsaWNlAHNlY3JldA==\r\n", &cmd),
	    POP3_PARSE_OK);
	assert_string_equal(cmd.name, "");
	assert_int_equal(cmd.nargs, 0);
	assert_string_equal(cmd.rest, "AGFsaWNlAHNlY3JldA==");
	assert_int_equal(cmd.cancel, 0);
	assert_int_equal(cmd.consumed, 22);
	pop3_command_clear(&cmd);

	assert_int_equal(AUTHLINE("*\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	assert_string_equal(cmd.rest, "*");
	pop3_command_clear(&cmd);

	assert_int_equal(AUTHLINE("*\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.cancel, 1);
	pop3_command_clear(&cmd);

	/* an empty response is legal (an empty initial response is "=") */
	assert_int_equal(AUTHLINE("\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.rest_len, 0);
	assert_int_equal(cmd.cancel, 0);
	pop3_command_clear(&cmd);

	assert_int_equal(AUTHLINE(" *\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.cancel, 0);
	pop3_command_clear(&cmd);

	assert_int_equal(AUTHLINE("**\r\n", &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.cancel, 0);
	pop3_command_clear(&cmd);

	assert_int_equal(AUTHLINE("ab\0c\r\n", &cmd), POP3_PARSE_BAD);
	assert_int_equal(cmd.consumed, 6);
	assert_string_equal(cmd.error, "Invalid character in response");
	pop3_command_clear(&cmd);
}

/* Bearer tokens: AUTH lines have their own, larger limit. */
static void
test_auth_line_limit(void **state)
{
	struct pop3_limits	 lim = { 255, 1002 };
	struct pop3_command	 cmd;
	char			 line[1100];

	(void)state;
	memset(line, 'A', 1000);
	memcpy(line + 1000, "\r\n", 3);
	assert_int_equal(parse_split(pop3_parse_auth_line, line, 1002, &lim,
	    &cmd), POP3_PARSE_OK);
	assert_int_equal(cmd.rest_len, 1000);
	pop3_command_clear(&cmd);
	assert_int_equal(parse_split(pop3_parse_command, line, 1002, &lim,
	    &cmd), POP3_PARSE_TOO_LONG);
	pop3_command_clear(&cmd);
	memset(line, 'A', 1001);
	memcpy(line + 1001, "\r\n", 3);
	assert_int_equal(parse_split(pop3_parse_auth_line, line, 1003, &lim,
	    &cmd), POP3_PARSE_TOO_LONG);
	pop3_command_clear(&cmd);
}

/* Reusing one struct: each call drops what the last one held. */
static void
test_reuse(void **state)
{
	struct pop3_command	 cmd;

	(void)state;
	pop3_command_init(&cmd);
	assert_int_equal(pop3_parse_command("USER a b\r\n", 10, &deflim,
	    &cmd), POP3_PARSE_OK);
	assert_int_equal(pop3_parse_command("NOOP\r\n", 6, &deflim, &cmd),
	    POP3_PARSE_OK);
	assert_int_equal(cmd.nargs, 0);
	assert_string_equal(cmd.name, "NOOP");
	assert_int_equal(pop3_parse_command("NO", 2, &deflim, &cmd),
	    POP3_PARSE_NEED_MORE);
	assert_null(cmd.rest);
	assert_string_equal(cmd.name, "");
	pop3_command_clear(&cmd);
	pop3_command_clear(&cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_keyword_case),
		cmocka_unit_test(test_pass_spaces),
		cmocka_unit_test(test_auth_initial_response),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_eight_bit_and_tab),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits_of_keyword_and_args),
		cmocka_unit_test(test_bad_then_good),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_tiny_limit),
		cmocka_unit_test(test_auth_line),
		cmocka_unit_test(test_auth_line_limit),
		cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
