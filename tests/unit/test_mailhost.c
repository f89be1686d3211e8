/*
 * mailhost: the shapes of a mailHost value, good and bad.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lookup/mailhost.h"

static void
expect_ok(const char *v, const char *host, unsigned int port)
{
	struct mailhost	 mh;
	const char	*err = "x";

	assert_int_equal(mailhost_parse(v, strlen(v), &mh, &err), 0);
	assert_null(err);
	assert_string_equal(mh.host, host);
	assert_int_equal(mh.port, port);
}

static void
expect_err_len(const char *v, size_t len, const char *want)
{
	struct mailhost	 mh;
	const char	*err = NULL;

	memset(&mh, 'x', sizeof(mh));
	assert_int_equal(mailhost_parse(v, len, &mh, &err), -1);
	assert_non_null(err);
	if (want != NULL)
		assert_string_equal(err, want);
	assert_string_equal(mh.host, "");
	assert_int_equal(mh.port, 0);
}

#define expect_err(v, want)	expect_err_len((v), strlen(v), (want))

static void
test_host(void **state)
{
	(void)state;
	expect_ok("imap1.example.org", "imap1.example.org", 0);
	expect_ok("a", "a", 0);
	expect_ok("mail_host-2", "mail_host-2", 0);
	expect_ok("192.0.2.1", "192.0.2.1", 0);
}

static void
test_host_port(void **state)
{
	(void)state;
	expect_ok("imap1.example.org:993", "imap1.example.org", 993);
	expect_ok("h:1", "h", 1);
	expect_ok("h:65535", "h", 65535);
	expect_ok("192.0.2.1:143", "192.0.2.1", 143);
}

static void
test_v6(void **state)
{
	(void)state;
	expect_ok("[::1]:993", "::1", 993);
	expect_ok("[::1]", "::1", 0);
	expect_ok("::1", "::1", 0);
	expect_ok("2001:db8::2", "2001:db8::2", 0);
	expect_ok("[2001:db8::ffff:192.0.2.1]:143", "2001:db8::ffff:192.0.2.1",
	    143);
	expect_err("[::1]:", "bad port in mailHost");
	expect_err("[::1]:0", "bad port in mailHost");
	expect_err("[]", "bad IPv6 address in mailHost");
	expect_err("[host]", "bad IPv6 address in mailHost");
	expect_err("[::1", "unclosed '[' in mailHost");
	expect_err("[::1]x", "junk after ']' in mailHost");
	expect_err("[::1]]", "junk after ']' in mailHost");
	expect_err("[::1]:993x", "bad port in mailHost");
	expect_err("::1:993x", "bad IPv6 address in mailHost");
	expect_err("1:2:3", "bad IPv6 address in mailHost");
	expect_err("fe80::1%eth0", NULL);
}

static void
test_bad_port(void **state)
{
	(void)state;
	expect_err("h:0", "bad port in mailHost");
	expect_err("h:65536", "bad port in mailHost");
	expect_err("h:99999", "bad port in mailHost");
	expect_err("h:100000", "bad port in mailHost");
	expect_err("h:12a", "bad port in mailHost");
	expect_err("h:-1", "bad port in mailHost");
	expect_err("h:+1", "bad port in mailHost");
	expect_err("h:", "bad port in mailHost");
	expect_err(":993", "bad host name in mailHost");
}

static void
test_bad_value(void **state)
{
	char	 big[MAILHOST_HOST_MAX + 8], want[MAILHOST_HOST_MAX + 1];

	(void)state;
	expect_err("", "empty mailHost");
	expect_err(" h", "space or control character in mailHost");
	expect_err("h ", "space or control character in mailHost");
	expect_err("h :1", "space or control character in mailHost");
	expect_err("h\t", "space or control character in mailHost");
	expect_err("h\r\n", "space or control character in mailHost");
	expect_err("h\x7f", "space or control character in mailHost");
	expect_err_len("h\0x", 3, "space or control character in mailHost");
	expect_err("h/x", "bad host name in mailHost");
	expect_err("h\xc3\xa9", "bad host name in mailHost");
	expect_err("user@h", "bad host name in mailHost");

	memset(big, 'a', MAILHOST_HOST_MAX);
	big[MAILHOST_HOST_MAX] = '\0';
	expect_ok(big, big, 0);
	memcpy(want, big, sizeof(want));
	memcpy(big + MAILHOST_HOST_MAX, ":1", 3);
	expect_ok(big, want, 1);
}

static void
test_too_long(void **state)
{
	char	 big[MAILHOST_HOST_MAX + 8];

	(void)state;
	memset(big, 'a', MAILHOST_HOST_MAX + 1);
	big[MAILHOST_HOST_MAX + 1] = '\0';
	expect_err(big, "host name too long in mailHost");
	memcpy(big + MAILHOST_HOST_MAX + 1, ":1", 3);
	expect_err(big, "host name too long in mailHost");
}

static void
test_null_errstr(void **state)
{
	struct mailhost	 mh;

	(void)state;
	assert_int_equal(mailhost_parse("h:1", 3, &mh, NULL), 0);
	assert_int_equal(mailhost_parse("h:0", 3, &mh, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_bad_port),
		cmocka_unit_test(test_bad_value),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_null_errstr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
