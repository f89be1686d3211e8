/*
 * userkeys: which filter assertions name a login, and how logins match
 * the values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lookup/userkeys.h"

static void
test_default_filter(void **state)
{
	struct userkeys	uk;

	(void)state;
	userkeys_from_filter("(&(objectClass=inetLocalMailRecipient)"
	    "(|(uid=%n)(mail=%u)))", &uk);
	assert_int_equal(uk.n, 2);
	assert_string_equal(uk.k[0].attr, "uid");
	assert_int_equal(uk.k[0].var, 'n');
	assert_string_equal(uk.k[1].attr, "mail");
	assert_int_equal(uk.k[1].var, 'u');
}

static void
test_other_filters(void **state)
{
	struct userkeys	uk;

	(void)state;
	userkeys_from_filter("(&(objectClass=x)(mailLocalAddress=%u)"
	    "(MAILLOCALADDRESS=%u)(cn=%d))", &uk);
	assert_int_equal(uk.n, 1);
	assert_string_equal(uk.k[0].attr, "mailLocalAddress");
	/* Not equality, or not the whole value: ignored; then defaults. */
	userkeys_from_filter("(|(uid~=%u)(mail=%u*)(cn=x%n))", &uk);
	assert_int_equal(uk.n, 2);
	assert_string_equal(uk.k[0].attr, "uid");
	userkeys_from_filter("", &uk);
	assert_int_equal(uk.n, 2);
}

static void
test_match(void **state)
{
	(void)state;
	assert_true(userkeys_match('u', "Alice@Example.com",
	    "alice@example.COM"));
	assert_false(userkeys_match('u', "alice@example.com",
	    "alice@example.org"));
	/* No domain typed: a default domain may have been added. */
	assert_true(userkeys_match('u', "alice@example.com", "alice"));
	assert_false(userkeys_match('u', "alice@example.com", "alic"));
	assert_true(userkeys_match('n', "alice", "alice"));
	assert_true(userkeys_match('n', "alice", "ALICE@example.org"));
	assert_false(userkeys_match('n', "alice", "alice2@example.org"));
	assert_false(userkeys_match('n', "alice", "bob"));
	assert_false(userkeys_match('n', "alice", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_filter),
		cmocka_unit_test(test_other_filters),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
