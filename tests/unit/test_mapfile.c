/* mapfile: parsing, exact entries over wildcards, errors with lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lookup/mapfile.h"

static struct mapfile *
parse(const char *text, char *err, size_t errlen)
{
	return mapfile_parse("map", text, strlen(text), err, errlen);
}

static void
expect_err(const char *text, const char *want)
{
	char	err[256] = "";

	assert_null(parse(text, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void
test_lookup(void **state)
{
	struct mapfile	*m;
	struct mailhost	 mh;
	char		 err[256] = "";

	(void)state;
	m = parse("# users\n"
	    "alice@example.com   mail-a.example.com\n"
	    "\n"
	    "bob@example.com\t10.0.0.2:1143   # moved\r\n"
	    "*@Example.COM       [::1]:143\n"
	    "carol               mail-c\n", err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(mapfile_count(m), 4);
	assert_int_equal(mapfile_lookup(m, "alice@example.com", &mh), 1);
	assert_string_equal(mh.host, "mail-a.example.com");
	assert_int_equal(mh.port, 0);
	assert_int_equal(mapfile_lookup(m, "bob@example.com", &mh), 1);
	assert_string_equal(mh.host, "10.0.0.2");
	assert_int_equal(mh.port, 1143);
	assert_int_equal(mapfile_lookup(m, "dave@EXAMPLE.com", &mh), 1);
	assert_string_equal(mh.host, "::1");
	assert_int_equal(mh.port, 143);
	assert_int_equal(mapfile_lookup(m, "carol", &mh), 1);
	assert_int_equal(mapfile_lookup(m, "dave", &mh), 0);
	assert_int_equal(mapfile_lookup(m, "dave@example.org", &mh), 0);
	mapfile_free(&m);
	assert_null(m);
	assert_int_equal(mapfile_lookup(NULL, "x", &mh), 0);
}

static void
test_empty(void **state)
{
	struct mapfile	*m;
	struct mailhost	 mh;
	char		 err[64];

	(void)state;
	m = parse("", err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(mapfile_count(m), 0);
	assert_int_equal(mapfile_lookup(m, "a", &mh), 0);
	mapfile_free(&m);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_err("alice\n", "map:1: missing host");
	expect_err("\nalice a b\n", "map:2: text after the host");
	expect_err("alice bad/host\n", "map:1: bad host name in mailHost");
	expect_err("*x.com h\n", "map:1: a wildcard must look like *@domain");
	expect_err("*@ h\n", "map:1: empty domain in wildcard");
	expect_err("a h1\nb h\na h2\n", "map:3: duplicate entry (first at "
	    "line 1)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
