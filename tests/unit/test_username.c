/* username: lower-casing, default domain, delimiters, stripping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lookup/username.h"

static void
expect(const struct username_rules *r, const char *in, const char *key,
    const char *login)
{
	char		 k[USERNAME_MAX + 1], l[USERNAME_MAX + 1];
	const char	*err = "x";

	assert_int_equal(username_normalize(r, in, strlen(in), k, sizeof(k),
	    l, sizeof(l), &err), 0);
	assert_null(err);
	assert_string_equal(k, key);
	assert_string_equal(l, login);
}

static void
expect_err(const struct username_rules *r, const char *in, size_t len,
    const char *want)
{
	char		 k[USERNAME_MAX + 1], l[USERNAME_MAX + 1];
	const char	*err = NULL;

	assert_int_equal(username_normalize(r, in, len, k, sizeof(k), l,
	    sizeof(l), &err), -1);
	assert_non_null(err);
	assert_string_equal(err, want);
	assert_string_equal(k, "");
	assert_string_equal(l, "");
}

static void
test_defaults(void **state)
{
	struct username_rules	r;

	(void)state;
	memset(&r, 0, sizeof(r));
	expect(&r, "Alice", "Alice", "Alice");
	expect(&r, "Alice@Example.COM", "Alice@Example.COM",
	    "Alice@Example.COM");
	expect(&r, "a%b", "a%b", "a%b");
}

static void
test_lowercase(void **state)
{
	struct username_rules	r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.lowercase = 1;
	expect(&r, "Alice@Example.COM", "alice@example.com",
	    "alice@example.com");
	/* Only ASCII: bytes above 0x7f are left alone. */
	expect(&r, "\xc3\x84rger", "\xc3\x84rger", "\xc3\x84rger");
}

static void
test_default_domain(void **state)
{
	struct username_rules	r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.default_domain = "example.com";
	expect(&r, "alice", "alice@example.com", "alice@example.com");
	expect(&r, "alice@other.org", "alice@other.org", "alice@other.org");
}

static void
test_strip(void **state)
{
	struct username_rules	r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.strip_lookup = 1;
	expect(&r, "alice@example.com", "alice", "alice@example.com");
	r.strip_lookup = 0;
	r.strip_login = 1;
	expect(&r, "alice@example.com", "alice@example.com", "alice");
	r.strip_lookup = 1;
	r.default_domain = "example.com";
	expect(&r, "alice", "alice", "alice");
	/* One domain only (fuzzing): "a@b@c" used to give "a@b". */
	expect_err(&r, "a@b@c", 5, "more than one domain delimiter");
}

static void
test_delimiters(void **state)
{
	struct username_rules	r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.delimiter = '%';
	expect(&r, "alice%example.com", "alice@example.com",
	    "alice@example.com");
	r.delimiter = '+';
	r.strip_login = 1;
	expect(&r, "alice+example.com", "alice@example.com", "alice");
	/* A typed '@' is a domain delimiter too, and one is the most:
	 * fuzzing found "@koUabg+te7" giving the key "@koUabg". */
	expect(&r, "alice@example.com", "alice@example.com", "alice");
	expect_err(&r, "@koUabg+te7", 11, "more than one domain delimiter");
	r.delimiter = '%';
	expect_err(&r, "alice@evil.com%example.com", 26,
	    "more than one domain delimiter");
	assert_int_equal(username_delimiter_valid('@'), 0);
	assert_int_equal(username_delimiter_valid('%'), 0);
	assert_int_equal(username_delimiter_valid('+'), 0);
	assert_int_equal(username_delimiter_valid('!'), -1);
}

static void
test_errors(void **state)
{
	struct username_rules	r;
	char			 big[USERNAME_MAX + 2];
	char			 k[8], l[USERNAME_MAX + 1];
	const char		*err = NULL;

	(void)state;
	memset(&r, 0, sizeof(r));
	expect_err(&r, "", 0, "empty user name");
	expect_err(&r, "a\r\nb", 4, "control character in user name");
	expect_err(&r, "a\0b", 3, "control character in user name");
	expect_err(&r, "@example.com", 12, "empty local part");
	expect_err(&r, "alice@", 6, "empty domain");
	memset(big, 'a', sizeof(big));
	expect_err(&r, big, sizeof(big), "user name too long");
	/* A default domain that makes the name too long. */
	r.default_domain = "example.com";
	expect_err(&r, big, USERNAME_MAX - 3, "user name too long");
	/* An output buffer too small. */
	assert_int_equal(username_normalize(&r, "alice", 5, k, sizeof(k), l,
	    sizeof(l), &err), -1);
	assert_string_equal(err, "user name too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lowercase),
		cmocka_unit_test(test_default_domain),
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_delimiters),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
