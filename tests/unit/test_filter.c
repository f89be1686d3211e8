/*
 * filter: template validation, RFC 4515 escaping and expansion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lookup/filter.h"

static char	 out[FILTER_MAX + 1];

static void
expect_expand(const char *tmpl, const char *user, const char *want)
{
	assert_int_equal(filter_expand(tmpl, user, out, sizeof(out)),
	    (int)strlen(want));
	assert_string_equal(out, want);
}

static void
test_escapes(void **state)
{
	(void)state;
	expect_expand("(uid=%u)", "joe@example.org", "(uid=joe@example.org)");
	expect_expand("(&(uid=%n)(dc=%d))", "joe@example.org",
	    "(&(uid=joe)(dc=example.org))");
	expect_expand("(x=100%%)", "joe", "(x=100%)");
	expect_expand("(x=%%u%u)", "joe", "(x=%ujoe)");
	expect_expand("(objectClass=*)", "joe", "(objectClass=*)");
}

static void
test_no_at(void **state)
{
	(void)state;
	expect_expand("(&(uid=%n)(dc=%d))", "joe", "(&(uid=joe)(dc=))");
	expect_expand("(u=%u)", "", "(u=)");
	expect_expand("(&(n=%n)(d=%d))", "@", "(&(n=)(d=))");
}

static void
test_two_at(void **state)
{
	(void)state;
	/* split on the last '@' */
	expect_expand("(&(uid=%n)(dc=%d))", "a@b@example.org",
	    "(&(uid=a@b)(dc=example.org))");
}

static void
test_injection(void **state)
{
	(void)state;
	expect_expand("(uid=%u)", "*)(uid=*", "(uid=\\2a\\29\\28uid=\\2a)");
	expect_expand("(uid=%n)", "a\\b@x(y)", "(uid=a\\5cb)");
	expect_expand("(d=%d)", "a@x(y)*", "(d=x\\28y\\29\\2a)");
	expect_expand("(u=%u)", "a\tb\x7f\xc3\xa9",
	    "(u=a\\09b\\7f\\c3\\a9)");
}

static void
test_escape_nul(void **state)
{
	char	 buf[32];

	(void)state;
	assert_int_equal(filter_escape("a\0b\\", 4, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "a\\00b\\5c");
	assert_int_equal(filter_escape("", 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(filter_escape("abc", 3, buf, 4), 3);
	assert_int_equal(filter_escape("abc", 3, buf, 3), -1);
	assert_string_equal(buf, "");
	assert_int_equal(filter_escape("*", 1, buf, 4), 3);
	assert_string_equal(buf, "\\2a");
	assert_int_equal(filter_escape("*", 1, buf, 3), -1);
	assert_int_equal(filter_escape("", 0, buf, 0), -1);
}

static void
test_overflow(void **state)
{
	static char	 user[FILTER_MAX + 16];
	char		 small[16];

	(void)state;
	/* "(u=joe)" needs 8 bytes with the NUL */
	assert_int_equal(filter_expand("(u=%u)", "joe", small, 8), 7);
	assert_string_equal(small, "(u=joe)");
	assert_int_equal(filter_expand("(u=%u)", "joe", small, 7), -1);
	assert_string_equal(small, "");
	/* "(u=\2a)" */
	assert_int_equal(filter_expand("(u=%u)", "*", small, 7), -1);
	assert_int_equal(filter_expand("(u=%u)", "*", small, 8), 7);
	assert_int_equal(filter_expand("(u=%u)", "joe", small, 0), -1);

	/* FILTER_MAX caps the result whatever the buffer */
	memset(user, 'a', FILTER_MAX - 5);
	user[FILTER_MAX - 5] = '\0';
	assert_int_equal(filter_expand("(u=%u)", user, out, sizeof(out)),
	    FILTER_MAX - 1);
	memset(user, 'a', FILTER_MAX - 4);
	user[FILTER_MAX - 4] = '\0';
	assert_int_equal(filter_expand("(u=%u)", user, out, sizeof(out)),
	    FILTER_MAX);
	memset(user, 'a', FILTER_MAX - 3);
	user[FILTER_MAX - 3] = '\0';
	assert_int_equal(filter_expand("(u=%u)", user, out, sizeof(out)),
	    -1);
	memset(user, '*', FILTER_MAX);
	user[FILTER_MAX] = '\0';
	assert_int_equal(filter_expand("(u=%u)", user, out, sizeof(out)),
	    -1);
}

static void
expect_invalid(const char *tmpl, const char *want)
{
	const char	*err = NULL;

	assert_int_equal(filter_template_valid(tmpl, &err), -1);
	assert_non_null(err);
	if (want != NULL)
		assert_string_equal(err, want);
	assert_int_equal(filter_expand(tmpl, "joe", out, sizeof(out)), -1);
}

static void
test_template_valid(void **state)
{
	const char	*err = "x";

	(void)state;
	assert_int_equal(filter_template_valid("(uid=%u)", &err), 0);
	assert_null(err);
	assert_int_equal(filter_template_valid(
	    "(&(objectClass=inetOrgPerson)(|(uid=%n)(mail=%u))(x=%%%d))",
	    &err), 0);
	assert_int_equal(filter_template_valid("(uid=%u)", NULL), 0);
}

static void
test_template_invalid(void **state)
{
	static char	 big[FILTER_MAX + 8];

	(void)state;
	expect_invalid("", "filter must start with '('");
	expect_invalid("uid=%u", "filter must start with '('");
	expect_invalid(" (uid=%u)", "filter must start with '('");
	expect_invalid("(uid=%u", "unbalanced '(' in filter");
	expect_invalid("((uid=%u)", "unbalanced '(' in filter");
	expect_invalid("(uid=%u))", "unbalanced ')' in filter");
	expect_invalid("(uid=%u)(x=y)", "text after the end of the filter");
	expect_invalid("(uid=%u)x", "text after the end of the filter");
	expect_invalid("(uid=%u)%u", "text after the end of the filter");
	expect_invalid("(uid=%x)", "unknown %-escape in filter");
	expect_invalid("(uid=%U)", "unknown %-escape in filter");
	expect_invalid("(uid=%", "trailing '%' in filter");
	expect_invalid("(uid=%u)%", NULL);
	expect_invalid("(uid=\n%u)", "control character in filter");
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '(';
	big[sizeof(big) - 2] = ')';
	expect_invalid(big, "filter too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_no_at),
		cmocka_unit_test(test_two_at),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_escape_nul),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_template_valid),
		cmocka_unit_test(test_template_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
