/* Unit tests for src/control_proto.c: requests, records, escaping. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/control_proto.h"

static int
parse(const char *line, struct control_req *req, const char **errstr)
{
	return control_parse(line, strlen(line), req, errstr);
}

static void
test_verbs(void **state)
{
	struct control_req	 req;
	const char		*errstr = NULL;

	assert_int_equal(parse("status", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_STATUS);
	assert_false(req.has_arg);
	assert_int_equal(parse("sessions", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_SESSIONS);
	assert_false(req.has_arg);
	assert_int_equal(parse("  sessions   alice@example.com \r", &req,
	    &errstr), 0);
	assert_true(req.has_arg);
	assert_string_equal(req.arg, "alice@example.com");
	assert_int_equal(parse("lookup bob", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_LOOKUP);
	assert_string_equal(req.arg, "bob");
	assert_int_equal(parse("kick bob", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_KICK);
	assert_int_equal(parse("flush", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_FLUSH);
	assert_int_equal(parse("flush carol", &req, &errstr), 0);
	assert_string_equal(req.arg, "carol");
	assert_int_equal(parse("reload", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_RELOAD);
	assert_int_equal(parse("metrics", &req, &errstr), 0);
	assert_int_equal(req.verb, CTL_METRICS);
	assert_string_equal(control_verb_name(CTL_KICK), "kick");
}

static void
expect_error(const char *line, const char *word)
{
	struct control_req	 req;
	const char		*errstr = NULL;

	assert_int_equal(control_parse(line, strlen(line), &req, &errstr),
	    -1);
	assert_non_null(errstr);
	if (strstr(errstr, word) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", line, errstr,
		    word);
}

static void
test_errors(void **state)
{
	char	long_user[CONTROL_ARG_MAX + 20];
	char	long_line[CONTROL_LINE_MAX + 8];

	expect_error("", "empty");
	expect_error("   ", "empty");
	expect_error("stats", "unknown verb");
	expect_error("STATUS", "unknown verb");
	expect_error("status now", "no argument");
	expect_error("reload x", "no argument");
	expect_error("metrics x", "no argument");
	expect_error("lookup", "missing user");
	expect_error("kick", "missing user");
	expect_error("kick a b", "too many");
	expect_error("sessions a b", "too many");
	expect_error("kick a\001", "control character");
	memset(long_user, 'u', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	memcpy(long_user, "kick ", 5);
	expect_error(long_user, "too long");
	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	expect_error(long_line, "too long");
}

static void
test_record_roundtrip(void **state)
{
	struct ctlbuf		 b = { 0 };
	struct control_field	 f[CONTROL_FIELDS_MAX];
	const char		*type;
	char			*nl;
	int			 n;

	ctlbuf_printf(&b, "* session");
	ctlbuf_num(&b, "id", 42);
	ctlbuf_str(&b, "user", "a b\"c%d\n\xc3\xa9");
	ctlbuf_str(&b, "empty", "");
	ctlbuf_printf(&b, " tls=false\n");
	assert_false(b.oom);
	assert_string_equal(b.data, "* session id=42 user=\"a%20b%22c%25d"
	    "%0A%C3%A9\" empty=\"\" tls=false\n");
	nl = strchr(b.data, '\n');
	*nl = '\0';
	n = control_record_parse(b.data, &type, f, CONTROL_FIELDS_MAX);
	assert_int_equal(n, 4);
	assert_string_equal(type, "session");
	assert_string_equal(f[0].key, "id");
	assert_string_equal(f[0].value, "42");
	assert_false(f[0].is_string);
	assert_string_equal(f[1].key, "user");
	assert_string_equal(f[1].value, "a b\"c%d\n\xc3\xa9");
	assert_true(f[1].is_string);
	assert_string_equal(f[2].value, "");
	assert_true(f[2].is_string);
	assert_string_equal(f[3].value, "false");
	assert_false(f[3].is_string);
	ctlbuf_free(&b);
}

static void
test_record_malformed(void **state)
{
	static const char *const bad[] = {
		"session id=1",		/* no "* " */
		"* ",			/* no type */
		"* s novalue",
		"* s =1",
		"* s u=\"open",
		"* s u=\"a\"b\"",
		"* s u=\"%4\"",
		"* s u=\"%zz\"",
	};
	struct control_field	 f[CONTROL_FIELDS_MAX];
	const char		*type;
	char			 line[64];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(line, bad[i]);
		if (control_record_parse(line, &type, f,
		    CONTROL_FIELDS_MAX) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	strcpy(line, "* s a=1 b=2 c=3");
	assert_int_equal(control_record_parse(line, &type, f, 2), -1);
}

static void
test_ctlbuf_grows(void **state)
{
	struct ctlbuf	b = { 0 };
	int		i;

	for (i = 0; i < 5000; i++)
		ctlbuf_num(&b, "n", (uint64_t)i);
	assert_false(b.oom);
	assert_int_equal(strlen(b.data), b.len);
	assert_true(strstr(b.data, " n=4999") != NULL);
	ctlbuf_free(&b);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_malformed),
		cmocka_unit_test(test_ctlbuf_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
