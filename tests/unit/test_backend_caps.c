/*
 * backend_caps: what ferry reads from a backend's capability lists,
 * including the odd shapes a broken or hostile backend sends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/backend_caps.h"

static unsigned int
imap_list(const char *s)
{
	return imap_caps_parse(s, strlen(s));
}

static void
test_imap_list(void **state)
{
	(void)state;
	assert_int_equal(imap_list(""), BCAP_KNOWN);
	assert_int_equal(imap_list("IMAP4rev1 LITERAL+ sasl-ir ID"),
	    BCAP_KNOWN | BCAP_LITERALPLUS | BCAP_SASLIR | BCAP_ID);
	assert_int_equal(imap_list("  AUTH=PLAIN   AUTH=XOAUTH2 "),
	    BCAP_KNOWN | BCAP_PLAIN | BCAP_XOAUTH2);
	/* Prefixes and longer words are other capabilities. */
	assert_int_equal(imap_list("AUTH=PLAINX LITERAL STARTTLS2 I"),
	    BCAP_KNOWN);
	/* The length bounds the list, not a NUL. */
	assert_int_equal(imap_caps_parse("STARTTLS ID", 8),
	    BCAP_KNOWN | BCAP_STARTTLS);
}

static void
test_imap_code(void **state)
{
	(void)state;
	assert_int_equal(imap_caps_in_code("* OK [CAPABILITY IMAP4rev1 "
	    "STARTTLS AUTH=PLAIN] ready"), BCAP_KNOWN | BCAP_STARTTLS |
	    BCAP_PLAIN);
	assert_int_equal(imap_caps_in_code("* OK ready"), 0);
	/* No closing bracket: no list at all. */
	assert_int_equal(imap_caps_in_code("* OK [CAPABILITY STARTTLS"), 0);
	assert_int_equal(imap_caps_in_code("* OK [CAPABILITY ]"), BCAP_KNOWN);
	assert_int_equal(imap_caps_in_code("[CAPABILITY ID]]"),
	    BCAP_KNOWN | BCAP_ID);
	/* Fuzzing: a code in another case was ignored. */
	assert_int_equal(imap_caps_in_code("* OK [capability sasl-ir] hi"),
	    BCAP_KNOWN | BCAP_SASLIR);
	assert_int_equal(imap_caps_in_code("x OK [CAPABILiTY IMAP4r\"SASev1]"),
	    BCAP_KNOWN);
}

static void
test_pop3(void **state)
{
	(void)state;
	assert_int_equal(pop3_caps_line("STLS"), PCAP_STLS);
	assert_int_equal(pop3_caps_line("stls "), 0);
	assert_int_equal(pop3_caps_line("XCLIENT ADDR PORT"), PCAP_XCLIENT);
	assert_int_equal(pop3_caps_line("XCLIENTX"), 0);
	assert_int_equal(pop3_caps_line("SASL"), PCAP_SASL);
	assert_int_equal(pop3_caps_line("SASL PLAIN  XOAUTH2 LOGIN"),
	    PCAP_SASL | PCAP_PLAIN | PCAP_XOAUTH2);
	assert_int_equal(pop3_caps_line("SASLPLAIN"), 0);
	assert_int_equal(pop3_caps_line("SASL    "), PCAP_SASL);
	assert_int_equal(pop3_caps_line(""), 0);
}

static void
test_sieve(void **state)
{
	(void)state;
	assert_int_equal(sieve_caps_line("\"STARTTLS\""), SCAP_STARTTLS);
	assert_int_equal(sieve_caps_line("\"SASL\" \"PLAIN OAUTHBEARER\""),
	    SCAP_PLAIN | SCAP_OAUTHBEARER);
	/* Unterminated or empty value. */
	assert_int_equal(sieve_caps_line("\"SASL\" \"xoauth2"), SCAP_XOAUTH2);
	assert_int_equal(sieve_caps_line("\"SASL\" \""), 0);
	assert_int_equal(sieve_caps_line("\"SASL\" \"  \" PLAIN"), 0);
	assert_int_equal(sieve_caps_line("\"SIEVE\" \"PLAIN\""), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_list),
		cmocka_unit_test(test_imap_code),
		cmocka_unit_test(test_pop3),
		cmocka_unit_test(test_sieve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
