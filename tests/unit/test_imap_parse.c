/*
 * imap_parse: every input is parsed at every prefix length, as it could
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

#include "proxy/imap_parse.h"

static const struct imap_limits deflim = { 1024, 4096 };

/* sizeof keeps embedded NULs */
#define PARSE(s, cmd)	parse_split((s), sizeof(s) - 1, &deflim, (cmd), NULL)

/*
 * Parse buf[0..i) for every i.  Shorter prefixes than the first result
 * must be NEED_MORE with non-decreasing sync_literals; every longer one
 * must give the same result.  Each prefix gets an exact-size copy so
 * that ASan sees any read past it.  cmd keeps the full-length result.
 */
static enum imap_parse_status
parse_split(const char *in, size_t len, const struct imap_limits *lim,
    struct imap_command *cmd, size_t *first)
{
	struct imap_command	 c, ref;
	enum imap_parse_status	 st, refst = IMAP_PARSE_NEED_MORE;
	size_t			 i, j, prevsync = 0, done = 0;
	char			*copy;

	imap_command_init(&ref);
	for (i = 0; i <= len; i++) {
		copy = malloc(i > 0 ? i : 1);
		assert_non_null(copy);
		memcpy(copy, in, i);
		imap_command_init(&c);
		st = imap_parse_command(copy, i, lim, &c);
		free(copy);
		assert_true(c.consumed <= i);
		if (refst == IMAP_PARSE_NEED_MORE) {
			if (st == IMAP_PARSE_NEED_MORE) {
				assert_int_equal(c.consumed, 0);
				assert_int_equal(c.nargs, 0);
				assert_true(c.sync_literals >= prevsync);
				prevsync = c.sync_literals;
				imap_command_clear(&c);
				continue;
			}
			refst = st;
			done = i;
			ref = c;
			if (st == IMAP_PARSE_OK || st == IMAP_PARSE_BAD)
				assert_int_equal(c.consumed, i);
			if (st != IMAP_PARSE_OK)
				assert_non_null(c.error);
			continue;
		}
		assert_int_equal(st, refst);
		assert_int_equal(c.consumed, ref.consumed);
		assert_string_equal(c.tag, ref.tag);
		assert_string_equal(c.name, ref.name);
		assert_int_equal(c.nargs, ref.nargs);
		for (j = 0; j < c.nargs; j++) {
			assert_int_equal(c.args[j].type, ref.args[j].type);
			assert_int_equal(c.args[j].len, ref.args[j].len);
			assert_memory_equal(c.args[j].data, ref.args[j].data,
			    c.args[j].len + 1);
		}
		if (st != IMAP_PARSE_OK)
			assert_string_equal(c.error, ref.error);
		imap_command_clear(&c);
	}
	if (first != NULL)
		*first = done;
	*cmd = ref;
	return refst;
}

static void
assert_arg(const struct imap_command *cmd, size_t i,
    enum imap_arg_type type, const char *data, size_t len)
{
	assert_true(i < cmd->nargs);
	assert_int_equal(cmd->args[i].type, type);
	assert_int_equal(cmd->args[i].len, len);
	assert_memory_equal(cmd->args[i].data, data, len);
	assert_int_equal(cmd->args[i].data[len], '\0');
}

#define ARG(cmd, i, t, s)	assert_arg((cmd), (i), (t), (s), sizeof(s) - 1)

static void
expect_bad(const char *in, size_t len, const char *tag, const char *error)
{
	struct imap_command	 cmd;

	assert_int_equal(parse_split(in, len, &deflim, &cmd, NULL),
	    IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, len);
	assert_string_equal(cmd.tag, tag);
	if (error != NULL)
		assert_string_equal(cmd.error, error);
	assert_int_equal(cmd.nargs, 0);
	imap_command_clear(&cmd);
}

#define BAD(s, tag, err)	expect_bad((s), sizeof(s) - 1, (tag), (err))

static void
test_simple(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a1 NOOP\r\n", &cmd), IMAP_PARSE_OK);
	assert_string_equal(cmd.tag, "a1");
	assert_string_equal(cmd.name, "NOOP");
	assert_int_equal(cmd.nargs, 0);
	assert_int_equal(cmd.consumed, 9);
	assert_null(cmd.error);
	imap_command_clear(&cmd);
}

static void
test_name_upper(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("x LoGin User PASS\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_string_equal(cmd.name, "LOGIN");
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, IMAP_ARG_ATOM, "User");
	ARG(&cmd, 1, IMAP_ARG_ATOM, "PASS");
	imap_command_clear(&cmd);

	assert_int_equal(PARSE("x x-Vendor-1\r\n", &cmd), IMAP_PARSE_OK);
	assert_string_equal(cmd.name, "X-VENDOR-1");
	imap_command_clear(&cmd);
}

static void
test_name_bad(void **state)
{
	struct imap_command	 cmd;
	char			 buf[128];

	(void)state;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "a ", 2);
	memset(buf + 2, 'N', IMAP_NAME_MAX);
	memcpy(buf + 2 + IMAP_NAME_MAX, "\r\n", 2);
	assert_int_equal(parse_split(buf, strlen(buf), &deflim, &cmd, NULL),
	    IMAP_PARSE_OK);
	assert_int_equal(strlen(cmd.name), IMAP_NAME_MAX);
	imap_command_clear(&cmd);

	memset(buf + 2, 'N', IMAP_NAME_MAX + 1);
	memcpy(buf + 3 + IMAP_NAME_MAX, "\r\n", 2);
	expect_bad(buf, strlen(buf), "a", "Command name too long");

	BAD("a NO\"OP\r\n", "a", "Invalid command name");
	BAD("a NO(OP\r\n", "a", "Invalid command name");
	BAD("a NO]OP\r\n", "a", "Invalid command name");
	BAD("a (x)\r\n", "a", "Invalid command name");
}

static void
test_tag_chars(void **state)
{
	struct imap_command	 cmd;
	enum imap_parse_status	 st;
	char			 buf[16];
	int			 c, ok;

	(void)state;
	for (c = 0; c < 256; c++) {
		if (c == ' ' || c == '\r' || c == '\n')
			continue;
		snprintf(buf, sizeof(buf), "X%cY NOOP\r\n", 'z');
		buf[1] = (char)c;
		ok = c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
		st = parse_split(buf, 10, &deflim, &cmd, NULL);
		assert_int_equal(st, ok ? IMAP_PARSE_OK : IMAP_PARSE_BAD);
		if (ok) {
			assert_int_equal(cmd.tag[1], c);
			assert_int_equal(strlen(cmd.tag), 3);
		} else {
			assert_string_equal(cmd.tag, "");
			assert_string_equal(cmd.error, "Invalid tag");
		}
		imap_command_clear(&cmd);
	}
	assert_int_equal(PARSE("A]b.c-d_9~!#$&'=<>?@[^`| NOOP\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_string_equal(cmd.tag, "A]b.c-d_9~!#$&'=<>?@[^`|");
	imap_command_clear(&cmd);
}

static void
test_tag_bad(void **state)
{
	char	 buf[128];

	(void)state;
	BAD("a+ NOOP\r\n", "", "Invalid tag");
	BAD("+ NOOP\r\n", "", "Invalid tag");
	BAD("* NOOP\r\n", "", "Invalid tag");
	BAD(" NOOP\r\n", "", "Missing tag");
	BAD("a\r\n", "a", "Missing command name");
	BAD("a \r\n", "a", "Missing command name");
	BAD("a  NOOP\r\n", "a", "Missing command name");

	memset(buf, 0, sizeof(buf));
	memset(buf, 't', IMAP_TAG_MAX + 1);
	memcpy(buf + IMAP_TAG_MAX + 1, " NOOP\r\n", 7);
	expect_bad(buf, strlen(buf), "", "Tag too long");
}

static void
test_tag_max(void **state)
{
	struct imap_command	 cmd;
	char			 buf[128];

	(void)state;
	memset(buf, 0, sizeof(buf));
	memset(buf, 't', IMAP_TAG_MAX);
	memcpy(buf + IMAP_TAG_MAX, " NOOP\r\n", 7);
	assert_int_equal(parse_split(buf, strlen(buf), &deflim, &cmd, NULL),
	    IMAP_PARSE_OK);
	assert_int_equal(strlen(cmd.tag), IMAP_TAG_MAX);
	imap_command_clear(&cmd);
}

static void
test_empty_line(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	BAD("\r\n", "", "Empty command line");
	BAD("\n", "", "Empty command line");
	assert_int_equal(PARSE("\r\na NOOP\r\n", &cmd), IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, 2);
	imap_command_clear(&cmd);
}

static void
test_atoms(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a X foo NIL b]c 1:2 a+b\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 5);
	ARG(&cmd, 0, IMAP_ARG_ATOM, "foo");
	ARG(&cmd, 1, IMAP_ARG_ATOM, "NIL");
	ARG(&cmd, 2, IMAP_ARG_ATOM, "b]c");
	ARG(&cmd, 3, IMAP_ARG_ATOM, "1:2");
	ARG(&cmd, 4, IMAP_ARG_ATOM, "a+b");
	imap_command_clear(&cmd);

	BAD("a X fo%o\r\n", "a", "Invalid characters in atom");
	BAD("a X fo*\r\n", "a", "Invalid characters in atom");
	BAD("a X fo\"o\"\r\n", "a", "Invalid characters in atom");
	BAD("a X fo{1}\r\n", "a", "Invalid characters in atom");
	BAD("a X fo\\o\r\n", "a", "Invalid characters in atom");
	BAD("a X fo\x01o\r\n", "a", "Invalid characters in atom");
	BAD("a X fo\xffo\r\n", "a", "Invalid characters in atom");
	BAD("a X %\r\n", "a", "Invalid characters in argument");
	BAD("a X \\Seen\r\n", "a", "Invalid characters in argument");
}

static void
test_quoted(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a X \"he said \\\"hi\\\" \\\\ (ok)\" \"\" "
	    "\"\t{1}\"\r\n", &cmd), IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 3);
	ARG(&cmd, 0, IMAP_ARG_STRING, "he said \"hi\" \\ (ok)");
	ARG(&cmd, 1, IMAP_ARG_STRING, "");
	ARG(&cmd, 2, IMAP_ARG_STRING, "\t{1}");
	imap_command_clear(&cmd);
}

static void
test_quoted_bad(void **state)
{
	(void)state;
	BAD("a X \"a\\b\"\r\n", "a", "Invalid escape in quoted string");
	BAD("a X \"a\\n\"\r\n", "a", "Invalid escape in quoted string");
	BAD("a X \"a\\\"\r\n", "a", "Unterminated quoted string");
	BAD("a X \"abc\r\n", "a", "Unterminated quoted string");
	BAD("a X \"abc\n", "a", "Unterminated quoted string");
	BAD("a X \"caf\xc3\xa9\"\r\n", "a",
	    "Invalid character in quoted string");
	BAD("a X \"a\0b\"\r\n", "a", "Invalid character in quoted string");
	BAD("a X \"a\rb\"\r\n", "a", "Invalid character in quoted string");
	BAD("a X \"a\"\"b\"\r\n", "a", "Missing space between arguments");
	BAD("a X \"a\"b\r\n", "a", "Missing space between arguments");
}

static void
test_sync_literals(void **state)
{
	static const char	 in[] = "a LOGIN {4}\r\nuser {6}\r\npasswd\r\n";
	struct imap_command	 cmd;
	size_t			 i, len = sizeof(in) - 1, want;

	(void)state;
	assert_int_equal(PARSE(in, &cmd), IMAP_PARSE_OK);
	assert_string_equal(cmd.name, "LOGIN");
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, IMAP_ARG_STRING, "user");
	ARG(&cmd, 1, IMAP_ARG_STRING, "passwd");
	assert_int_equal(cmd.sync_literals, 2);
	imap_command_clear(&cmd);

	/* one more "+" is owed exactly when an announcement's LF arrives */
	for (i = 0; i < len; i++) {
		imap_command_init(&cmd);
		assert_int_equal(imap_parse_command(in, i, &deflim, &cmd),
		    IMAP_PARSE_NEED_MORE);
		want = i < strlen("a LOGIN {4}\r\n") ? 0 :
		    i < strlen("a LOGIN {4}\r\nuser {6}\r\n") ? 1 : 2;
		assert_int_equal(cmd.sync_literals, want);
		imap_command_clear(&cmd);
	}
}

static void
test_nonsync_literals(void **state)
{
	static const char	 in[] =
	    "a LOGIN {4+}\r\nuser {6+}\r\npasswd\r\n";
	struct imap_command	 cmd;
	size_t			 i;

	(void)state;
	assert_int_equal(PARSE(in, &cmd), IMAP_PARSE_OK);
	ARG(&cmd, 0, IMAP_ARG_STRING, "user");
	ARG(&cmd, 1, IMAP_ARG_STRING, "passwd");
	imap_command_clear(&cmd);
	for (i = 0; i <= sizeof(in) - 1; i++) {
		imap_command_init(&cmd);
		(void)imap_parse_command(in, i, &deflim, &cmd);
		assert_int_equal(cmd.sync_literals, 0);
		imap_command_clear(&cmd);
	}

	assert_int_equal(PARSE("a X {0}\r\n {0+}\r\n\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, IMAP_ARG_STRING, "");
	ARG(&cmd, 1, IMAP_ARG_STRING, "");
	imap_command_clear(&cmd);

	/* literal data is opaque: CRLF, quotes, 8-bit */
	assert_int_equal(PARSE("a X ({5}\r\n\"\r\n\xff) y)\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 4);
	ARG(&cmd, 1, IMAP_ARG_STRING, "\"\r\n\xff)");
	ARG(&cmd, 2, IMAP_ARG_ATOM, "y");
	imap_command_clear(&cmd);
}

static void
test_literal_bad(void **state)
{
	(void)state;
	BAD("a X {3}\r\na\0b\r\n", "a", "NUL in literal");
	BAD("a X {3}\r\nabcd\r\n", "a", "Missing space between arguments");
	BAD("a X {3} foo\r\n", "a", "Invalid literal");
	BAD("a X {}\r\n", "a", "Invalid literal");
	BAD("a X {+}\r\n", "a", "Invalid literal");
	BAD("a X {1a}\r\n", "a", "Invalid literal");
	BAD("a X {-1}\r\n", "a", "Invalid literal");
	BAD("a X {3\r\n", "a", "Invalid literal");
}

static void
test_literal_too_large(void **state)
{
	static const struct imap_limits	 lim = { 1024, 10 };
	struct imap_command		 cmd;
	static const char		 s1[] = "a LOGIN {11}\r\nb NOOP\r\n";
	static const char		 s2[] =
	    "a LOGIN {11+}\r\nxxxxxxxxxxx\r\n";
	static const char		 s3[] =
	    "a LOGIN {99999999999999999999999999}\r\n";
	static const char		 s4[] =
	    "a LOGIN {10}\r\n0123456789\r\n";
	size_t				 first;

	(void)state;
	/* the client waits for "+": BAD at the end of the announcement */
	assert_int_equal(parse_split(s1, sizeof(s1) - 1, &lim, &cmd, &first),
	    IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, strlen("a LOGIN {11}\r\n"));
	assert_string_equal(cmd.tag, "a");
	assert_string_equal(cmd.error, "Literal too large");
	assert_int_equal(cmd.sync_literals, 0);
	imap_command_clear(&cmd);

	assert_int_equal(parse_split(s2, sizeof(s2) - 1, &lim, &cmd, &first),
	    IMAP_PARSE_TOO_LONG);
	assert_int_equal(first, strlen("a LOGIN {11+}\r\n"));
	assert_string_equal(cmd.error, "Literal too large");
	imap_command_clear(&cmd);

	assert_int_equal(parse_split(s3, sizeof(s3) - 1, &lim, &cmd, &first),
	    IMAP_PARSE_BAD);
	assert_string_equal(cmd.error, "Literal too large");
	imap_command_clear(&cmd);

	assert_int_equal(parse_split(s4, sizeof(s4) - 1, &lim, &cmd, &first),
	    IMAP_PARSE_OK);
	ARG(&cmd, 0, IMAP_ARG_STRING, "0123456789");
	imap_command_clear(&cmd);
}

static void
test_line_too_long(void **state)
{
	static const struct imap_limits	 lim = { 20, 100 };
	struct imap_command		 cmd;
	size_t				 first;

	(void)state;
	/* exactly line_max bytes before CRLF or LF is fine */
	assert_int_equal(parse_split("a X 0123456789abcdef\r\n", 22, &lim,
	    &cmd, &first), IMAP_PARSE_OK);
	imap_command_clear(&cmd);
	assert_int_equal(parse_split("a X 0123456789abcdef\n", 21, &lim,
	    &cmd, &first), IMAP_PARSE_OK);
	imap_command_clear(&cmd);

	/* one more is refused as soon as it is visible */
	assert_int_equal(parse_split("a X 0123456789abcdefg\r\n", 23, &lim,
	    &cmd, &first), IMAP_PARSE_TOO_LONG);
	assert_int_equal(first, 21);
	assert_string_equal(cmd.error, "Line too long");
	assert_string_equal(cmd.tag, "a");
	imap_command_clear(&cmd);

	/* a CR not followed by LF does not make room */
	assert_int_equal(parse_split("a X 0123456789abcdef\rx\n", 23, &lim,
	    &cmd, &first), IMAP_PARSE_TOO_LONG);
	assert_int_equal(first, 22);
	imap_command_clear(&cmd);

	/* the line after a literal is limited too */
	assert_int_equal(parse_split("a X {1+}\r\nx 0123456789abcdefghij\r\n",
	    34, &lim, &cmd, &first), IMAP_PARSE_TOO_LONG);
	assert_string_equal(cmd.error, "Line too long");
	imap_command_clear(&cmd);

	/* a line with no SP yet gives no tag */
	assert_int_equal(parse_split("aaaaaaaaaaaaaaaaaaaaaaaaa", 25, &lim,
	    &cmd, &first), IMAP_PARSE_TOO_LONG);
	assert_string_equal(cmd.tag, "");
	imap_command_clear(&cmd);
}

static void
test_line_ends(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a NOOP\n", &cmd), IMAP_PARSE_OK);
	assert_int_equal(cmd.consumed, 7);
	imap_command_clear(&cmd);
	assert_int_equal(PARSE("a LOGIN {2}\nab c\n", &cmd), IMAP_PARSE_OK);
	ARG(&cmd, 0, IMAP_ARG_STRING, "ab");
	ARG(&cmd, 1, IMAP_ARG_ATOM, "c");
	imap_command_clear(&cmd);
	BAD("a NO\rOP\r\n", "a", NULL);
	BAD("a NOOP\r\r\n", "a", NULL);
	BAD("a X y\rz\r\n", "a", NULL);
}

static void
test_pipelined(void **state)
{
	static const char	 in[] = "a NOOP\r\nb CAPABILITY\r\nc";
	struct imap_command	 cmd;
	size_t			 off;

	(void)state;
	assert_int_equal(PARSE(in, &cmd), IMAP_PARSE_OK);
	assert_string_equal(cmd.tag, "a");
	off = cmd.consumed;
	assert_int_equal(off, 8);
	imap_command_clear(&cmd);
	assert_int_equal(parse_split(in + off, sizeof(in) - 1 - off, &deflim,
	    &cmd, NULL), IMAP_PARSE_OK);
	assert_string_equal(cmd.tag, "b");
	assert_string_equal(cmd.name, "CAPABILITY");
	assert_int_equal(cmd.consumed, 14);
	imap_command_clear(&cmd);
}

static void
test_bad_resync(void **state)
{
	static const char	 s1[] = "a X \"\\q\"\r\nb NOOP\r\n";
	static const char	 s2[] =
	    "a X \"\\q\" {3+}\r\nabc {2+}\r\nde\r\nb NOOP\r\n";
	static const char	 s3[] = "a X \"\\q\" {3}\r\nabc\r\n";
	static const char	 s4[] = "a X {1}\r\nx \"\\q\"\r\nb NOOP\r\n";
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE(s1, &cmd), IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, 10);
	imap_command_clear(&cmd);

	/* the client sends non-synchronizing literals without waiting */
	assert_int_equal(PARSE(s2, &cmd), IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, strlen(s2) - strlen("b NOOP\r\n"));
	imap_command_clear(&cmd);

	/* but waits for "+" after a synchronizing one */
	assert_int_equal(PARSE(s3, &cmd), IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, strlen("a X \"\\q\" {3}\r\n"));
	imap_command_clear(&cmd);

	assert_int_equal(PARSE(s4, &cmd), IMAP_PARSE_BAD);
	assert_int_equal(cmd.consumed, strlen(s4) - strlen("b NOOP\r\n"));
	assert_int_equal(cmd.sync_literals, 1);
	imap_command_clear(&cmd);
}

static void
test_lists(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a ID (\"name\" \"x\" \"version\" NIL)\r\n",
	    &cmd), IMAP_PARSE_OK);
	assert_string_equal(cmd.name, "ID");
	assert_int_equal(cmd.nargs, 6);
	ARG(&cmd, 0, IMAP_ARG_LIST_BEGIN, "(");
	ARG(&cmd, 1, IMAP_ARG_STRING, "name");
	ARG(&cmd, 2, IMAP_ARG_STRING, "x");
	ARG(&cmd, 3, IMAP_ARG_STRING, "version");
	ARG(&cmd, 4, IMAP_ARG_ATOM, "NIL");
	ARG(&cmd, 5, IMAP_ARG_LIST_END, ")");
	imap_command_clear(&cmd);

	assert_int_equal(PARSE("a ID NIL\r\n", &cmd), IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 1);
	ARG(&cmd, 0, IMAP_ARG_ATOM, "NIL");
	imap_command_clear(&cmd);

	assert_int_equal(PARSE("a X () ((a) b) c\r\n", &cmd), IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 9);
	ARG(&cmd, 0, IMAP_ARG_LIST_BEGIN, "(");
	ARG(&cmd, 1, IMAP_ARG_LIST_END, ")");
	ARG(&cmd, 2, IMAP_ARG_LIST_BEGIN, "(");
	ARG(&cmd, 3, IMAP_ARG_LIST_BEGIN, "(");
	ARG(&cmd, 4, IMAP_ARG_ATOM, "a");
	ARG(&cmd, 5, IMAP_ARG_LIST_END, ")");
	ARG(&cmd, 6, IMAP_ARG_ATOM, "b");
	ARG(&cmd, 7, IMAP_ARG_LIST_END, ")");
	ARG(&cmd, 8, IMAP_ARG_ATOM, "c");
	imap_command_clear(&cmd);

	BAD("a ID (\"a\"\r\n", "a", "Unterminated list");
	BAD("a ID (\r\n", "a", "Unterminated list");
	BAD("a ID \"a\")\r\n", "a", "Unexpected ')'");
	BAD("a ID )\r\n", "a", "Unexpected ')'");
	BAD("a ID ( a)\r\n", "a", "Extra space between arguments");
	BAD("a ID (a )\r\n", "a", "Unexpected space before ')'");
	BAD("a ID (a)(b)\r\n", "a", "Missing space between arguments");
	BAD("a ID (a)b\r\n", "a", "Missing space between arguments");
}

static void
test_too_many_args(void **state)
{
	struct imap_command	 cmd;
	char			 buf[512];
	size_t			 i, n;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "a X");
	for (i = 0; i < IMAP_ARGS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " x");
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(parse_split(buf, n + 2, &deflim, &cmd, NULL),
	    IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, IMAP_ARGS_MAX);
	imap_command_clear(&cmd);

	memcpy(buf + n, " x\r\n", 5);
	expect_bad(buf, n + 4, "a", "Too many arguments");

	/* list parentheses take slots too */
	memcpy(buf + n - 2, " ()\r\n", 6);
	expect_bad(buf, n + 3, "a", "Too many arguments");

	/* a literal one too many: BAD at its announcement, not once its
	 * data has come (the answer must not depend on the split) */
	memcpy(buf + n - 2, " x {1}\r\n", 9);
	expect_bad(buf, n + 6, "a", "Too many arguments");
}

static void
test_spaces(void **state)
{
	(void)state;
	BAD("a NOOP \r\n", "a", "Unexpected space at end of line");
	BAD("a X a  b\r\n", "a", "Extra space between arguments");
	BAD("a X a \r\n", "a", "Unexpected space at end of line");
	BAD("a X\ta\r\n", "a", "Invalid command name");
}

static void
test_login_password(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	assert_int_equal(PARSE("a LOGIN \"us er\" \"p a\\\"s\\\\s\"\r\n", &cmd),
	    IMAP_PARSE_OK);
	assert_int_equal(cmd.nargs, 2);
	ARG(&cmd, 0, IMAP_ARG_STRING, "us er");
	ARG(&cmd, 1, IMAP_ARG_STRING, "p a\"s\\s");
	imap_command_clear(&cmd);
	assert_null(cmd.args[0].data);
	assert_null(cmd.args[1].data);
	assert_int_equal(cmd.nargs, 0);

	assert_int_equal(PARSE("a LOGIN user {7}\r\np a\"s\\s\r\n", &cmd),
	    IMAP_PARSE_OK);
	ARG(&cmd, 0, IMAP_ARG_ATOM, "user");
	ARG(&cmd, 1, IMAP_ARG_STRING, "p a\"s\\s");
	imap_command_clear(&cmd);
}

static void
test_reuse(void **state)
{
	struct imap_command	 cmd;

	(void)state;
	/* re-parsing into a used command frees its old arguments */
	imap_command_init(&cmd);
	assert_int_equal(imap_parse_command("a X y z\r\n", 9, &deflim, &cmd),
	    IMAP_PARSE_OK);
	assert_int_equal(imap_parse_command("b Y w\r\n", 7, &deflim, &cmd),
	    IMAP_PARSE_OK);
	assert_string_equal(cmd.tag, "b");
	assert_int_equal(cmd.nargs, 1);
	assert_int_equal(imap_parse_command("b Y w", 5, &deflim, &cmd),
	    IMAP_PARSE_NEED_MORE);
	assert_int_equal(cmd.nargs, 0);
	imap_command_clear(&cmd);
}

static void
test_quote(void **state)
{
	struct imap_command	 cmd;
	char			 out[64], line[128];
	const char		*s = "p a\"s\\s";
	int			 n;

	(void)state;
	assert_true(imap_quotable("", 0));
	assert_true(imap_quotable("a \"\\\t", 5));
	assert_false(imap_quotable("a\rb", 3));
	assert_false(imap_quotable("a\nb", 3));
	assert_false(imap_quotable("a\0b", 3));
	assert_false(imap_quotable("caf\xc3\xa9", 5));

	assert_int_equal(imap_quote("", 0, out, sizeof(out)), 2);
	assert_string_equal(out, "\"\"");
	n = imap_quote(s, strlen(s), out, sizeof(out));
	assert_int_equal(n, 11);
	assert_string_equal(out, "\"p a\\\"s\\\\s\"");
	/* exactly enough room, then one byte short */
	assert_int_equal(imap_quote(s, strlen(s), out, 12), 11);
	assert_int_equal(imap_quote(s, strlen(s), out, 11), -1);
	assert_int_equal(imap_quote("ab", 2, out, 5), 4);
	assert_int_equal(imap_quote("ab", 2, out, 4), -1);
	assert_int_equal(imap_quote("", 0, out, 2), -1);
	assert_int_equal(imap_quote("a\nb", 3, out, sizeof(out)), -1);

	/* and it parses back to the same bytes */
	(void)imap_quote(s, strlen(s), out, sizeof(out));
	n = snprintf(line, sizeof(line), "a LOGIN u %s\r\n", out);
	assert_int_equal(parse_split(line, (size_t)n, &deflim, &cmd, NULL),
	    IMAP_PARSE_OK);
	assert_arg(&cmd, 1, IMAP_ARG_STRING, s, strlen(s));
	imap_command_clear(&cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_name_upper),
		cmocka_unit_test(test_name_bad),
		cmocka_unit_test(test_tag_chars),
		cmocka_unit_test(test_tag_bad),
		cmocka_unit_test(test_tag_max),
		cmocka_unit_test(test_empty_line),
		cmocka_unit_test(test_atoms),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_quoted_bad),
		cmocka_unit_test(test_sync_literals),
		cmocka_unit_test(test_nonsync_literals),
		cmocka_unit_test(test_literal_bad),
		cmocka_unit_test(test_literal_too_large),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_bad_resync),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_too_many_args),
		cmocka_unit_test(test_spaces),
		cmocka_unit_test(test_login_password),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
