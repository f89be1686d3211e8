/*
 * sasl: base64 and the mechanism decoders, with the byte strings a
 * client really sends (NULs and ^A included, hence sizeof - 1).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/sasl.h"

#define S(lit)	(lit), sizeof(lit) - 1

static void
test_b64(void **state)
{
	char	out[64];
	long	n;

	n = sasl_b64_decode(S("AHVzZXIAcGFzcw=="), out, sizeof(out));
	assert_int_equal(n, 10);
	assert_memory_equal(out, "\0user\0pass", 10);
	assert_int_equal(sasl_b64_decode(S(""), out, sizeof(out)), 0);
	assert_int_equal(sasl_b64_decode(S("Zg=="), out, sizeof(out)), 1);
	assert_int_equal(sasl_b64_decode(S("Zm8="), out, sizeof(out)), 2);
	assert_int_equal(sasl_b64_decode(S("Zm9v"), out, sizeof(out)), 3);
	assert_string_equal(out, "foo");
	/* bad length, bad characters, padding in the middle, blanks */
	assert_int_equal(sasl_b64_decode(S("Zm9"), out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode(S("Zm9v!A=="), out, sizeof(out)),
	    -1);
	assert_int_equal(sasl_b64_decode(S("Zg==Zm9v"), out, sizeof(out)),
	    -1);
	assert_int_equal(sasl_b64_decode(S("Z=g="), out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode(S("Zm9v Zm9v"), out, sizeof(out)),
	    -1);
	assert_int_equal(sasl_b64_decode(S("Zm\0v"), out, sizeof(out)), -1);
	/* non-canonical: bits that padding drops are set */
	assert_int_equal(sasl_b64_decode(S("Zh=="), out, sizeof(out)), -1);
	/* output too small */
	assert_int_equal(sasl_b64_decode(S("Zm9v"), out, 3), -1);

	assert_int_equal(sasl_b64_encode(S("\0user\0pass"), out,
	    sizeof(out)), 16);
	assert_string_equal(out, "AHVzZXIAcGFzcw==");
	assert_int_equal(sasl_b64_encode(S("foo"), out, 4), -1);
	assert_int_equal(sasl_b64_encode(S(""), out, 1), 0);
}

static void
test_b64_roundtrip(void **state)
{
	char	in[300], enc[512], dec[400];
	long	n;
	size_t	len, i;

	for (len = 0; len < sizeof(in); len++) {
		for (i = 0; i < len; i++)
			in[i] = (char)(i * 37 + len);
		n = sasl_b64_encode(in, len, enc, sizeof(enc));
		assert_true(n >= 0);
		assert_int_equal(sasl_b64_decode(enc, (size_t)n, dec,
		    sizeof(dec)), (long)len);
		assert_memory_equal(in, dec, len);
	}
}

static void
test_mechs(void **state)
{
	enum sasl_mech	m;

	assert_int_equal(sasl_mech_parse("plain", &m), 0);
	assert_int_equal(m, SASL_PLAIN);
	assert_int_equal(sasl_mech_parse("XOAUTH2", &m), 0);
	assert_int_equal(m, SASL_XOAUTH2);
	assert_int_equal(sasl_mech_parse("OAuthBearer", &m), 0);
	assert_int_equal(m, SASL_OAUTHBEARER);
	assert_int_equal(sasl_mech_parse("CRAM-MD5", &m), -1);
	assert_string_equal(sasl_mech_name(SASL_LOGIN), "LOGIN");
	assert_true(sasl_mech_is_oauth(SASL_XOAUTH2));
	assert_false(sasl_mech_is_oauth(SASL_PLAIN));
}

static void
test_plain(void **state)
{
	struct sasl_creds	c = { 0 };
	const char		*e = NULL;

	assert_int_equal(sasl_plain_decode(S("\0alice\0s3cret"), &c, &e), 0);
	assert_null(c.authzid);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.secret, "s3cret");
	assert_int_equal(c.mech, SASL_PLAIN);
	sasl_creds_clear(&c);
	assert_null(c.secret);

	/* with authzid (a master user logging in as alice) */
	assert_int_equal(sasl_plain_decode(S("alice\0master\0pw"), &c, &e),
	    0);
	assert_string_equal(c.authzid, "alice");
	assert_string_equal(c.user, "master");
	assert_string_equal(c.secret, "pw");
	sasl_creds_clear(&c);

	/* passwords may hold anything but NUL */
	assert_int_equal(sasl_plain_decode(S("\0bob\0a b\"\\\x01\xff"), &c,
	    &e), 0);
	assert_string_equal(c.secret, "a b\"\\\x01\xff");
	sasl_creds_clear(&c);
}

static void
test_plain_bad(void **state)
{
	struct sasl_creds	c = { 0 };
	const char		*e = NULL;
	char			*big;

	assert_int_equal(sasl_plain_decode(S("alice"), &c, &e), -1);
	assert_non_null(e);
	assert_int_equal(sasl_plain_decode(S("\0alice"), &c, &e), -1);
	/* a third NUL */
	assert_int_equal(sasl_plain_decode(S("\0alice\0pw\0x"), &c, &e), -1);
	assert_int_equal(sasl_plain_decode(S("\0\0pw"), &c, &e), -1);
	assert_int_equal(sasl_plain_decode(S("\0alice\0"), &c, &e), -1);
	assert_int_equal(sasl_plain_decode(S("\0al\rice\0pw"), &c, &e), -1);
	assert_int_equal(sasl_plain_decode(S("a\nz\0alice\0pw"), &c, &e),
	    -1);
	assert_int_equal(sasl_plain_decode(S(""), &c, &e), -1);
	assert_null(c.user);

	/* oversize user and password */
	big = malloc(SASL_SECRET_MAX + 16);
	assert_non_null(big);
	memset(big, 'u', SASL_SECRET_MAX + 16);
	big[0] = '\0';
	big[SASL_USER_MAX + 2] = '\0';
	assert_int_equal(sasl_plain_decode(big, SASL_USER_MAX + 6, &c, &e),
	    -1);
	big[SASL_USER_MAX + 2] = 'u';
	big[6] = '\0';
	assert_int_equal(sasl_plain_decode(big, SASL_SECRET_MAX + 7, &c, &e),
	    0);
	sasl_creds_clear(&c);
	assert_int_equal(sasl_plain_decode(big, SASL_SECRET_MAX + 8, &c, &e),
	    -1);
	free(big);
}

static void
test_login(void **state)
{
	const char	*e = NULL;
	char		*v;

	v = sasl_login_value(S("alice"), SASL_USER_MAX, &e);
	assert_string_equal(v, "alice");
	free(v);
	assert_null(sasl_login_value(S(""), SASL_USER_MAX, &e));
	assert_null(sasl_login_value(S("al\0ice"), SASL_USER_MAX, &e));
	assert_null(sasl_login_value(S("abc"), 2, &e));
}

static void
test_oauthbearer(void **state)
{
	struct sasl_creds	c = { 0 };
	const char		*e = NULL;
	char			*enc, dec[256];
	long			 n;

	assert_int_equal(sasl_oauthbearer_decode(S("n,a=user@example.com,"
	    "\1host=server.example.com\1port=143\1auth=Bearer vF9dft4qmT\1\1"),
	    &c, &e), 0);
	assert_string_equal(c.user, "user@example.com");
	assert_string_equal(c.secret, "vF9dft4qmT");
	assert_int_equal(c.mech, SASL_OAUTHBEARER);

	/* re-encoded for the backend: a canonical gs2 header */
	enc = sasl_encode_response(&c);
	assert_non_null(enc);
	n = sasl_b64_decode(enc, strlen(enc), dec, sizeof(dec));
	assert_int_equal(n, sizeof("n,a=user@example.com,\1auth=Bearer "
	    "vF9dft4qmT\1\1") - 1);
	assert_memory_equal(dec, "n,a=user@example.com,\1auth=Bearer "
	    "vF9dft4qmT\1\1", (size_t)n);
	free(enc);
	sasl_creds_clear(&c);

	/* escaped saslname, "y" flag, case of the scheme */
	assert_int_equal(sasl_oauthbearer_decode(S("y,a=a=2Cb=3Dc,\1auth="
	    "bearer t.o-k_e~n+/=\1\1"), &c, &e), 0);
	assert_string_equal(c.user, "a,b=c");
	assert_string_equal(c.secret, "t.o-k_e~n+/=");
	enc = sasl_encode_response(&c);
	n = sasl_b64_decode(enc, strlen(enc), dec, sizeof(dec));
	assert_memory_equal(dec, "n,a=a=2Cb=3Dc,\1", 15);
	free(enc);
	sasl_creds_clear(&c);
}

static void
test_oauthbearer_bad(void **state)
{
	struct sasl_creds	c = { 0 };
	const char		*e = NULL;

	/* no user: ferry cannot route */
	assert_int_equal(sasl_oauthbearer_decode(S("n,,\1auth=Bearer x\1\1"),
	    &c, &e), -1);
	/* channel binding */
	assert_int_equal(sasl_oauthbearer_decode(S("p=tls-unique,a=u,\1"
	    "auth=Bearer x\1\1"), &c, &e), -1);
	/* no auth, not Bearer, empty token, bad token characters */
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1host=h\1\1"), &c,
	    &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1auth=Basic x\1\1"),
	    &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1auth=Bearer \1\1"),
	    &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1auth=Bearer a b"
	    "\1\1"), &c, &e), -1);
	/* framing: missing final ^A^A, NUL, bad escape, empty pair */
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1auth=Bearer x\1"),
	    &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1auth=Bearer x\0"
	    "\1\1"), &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u=2,\1auth=Bearer x"
	    "\1\1"), &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,\1\1auth=Bearer x"
	    "\1\1"), &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S("n,a=u,"), &c, &e), -1);
	assert_int_equal(sasl_oauthbearer_decode(S(""), &c, &e), -1);
	assert_null(c.user);
}

static void
test_xoauth2(void **state)
{
	struct sasl_creds	c = { 0 };
	const char		*e = NULL;
	char			*enc, dec[256];
	long			 n;

	assert_int_equal(sasl_xoauth2_decode(S("user=someuser@example.com\1"
	    "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\1\1"),
	    &c, &e), 0);
	assert_string_equal(c.user, "someuser@example.com");
	assert_string_equal(c.secret,
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	enc = sasl_encode_response(&c);
	n = sasl_b64_decode(enc, strlen(enc), dec, sizeof(dec));
	assert_memory_equal(dec, "user=someuser@example.com\1auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\1\1", (size_t)n);
	free(enc);
	sasl_creds_clear(&c);

	assert_int_equal(sasl_xoauth2_decode(S("auth=Bearer x\1\1"), &c, &e),
	    -1);
	assert_int_equal(sasl_xoauth2_decode(S("user=u\1\1"), &c, &e), -1);
	assert_int_equal(sasl_xoauth2_decode(S("user=u\1auth=Bearer x"), &c,
	    &e), -1);
	assert_int_equal(sasl_xoauth2_decode(S("user=\1auth=Bearer x\1\1"),
	    &c, &e), -1);
	assert_int_equal(sasl_xoauth2_decode(S("user=u\0v\1auth=Bearer x"
	    "\1\1"), &c, &e), -1);
}

static void
test_encode_plain(void **state)
{
	struct sasl_creds	c = { SASL_PLAIN, NULL, NULL, NULL };
	char			*enc;

	c.user = strdup("alice");
	c.secret = strdup("pw");
	enc = sasl_encode_response(&c);
	assert_string_equal(enc, "AGFsaWNlAHB3");	/* "\0alice\0pw" */
	sasl_wipe_free(&enc);
	assert_null(enc);
	c.authzid = strdup("bob");
	enc = sasl_encode_response(&c);
	assert_string_equal(enc, "Ym9iAGFsaWNlAHB3");
	free(enc);
	c.mech = SASL_LOGIN;
	assert_null(sasl_encode_response(&c));
	sasl_creds_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_mechs),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_bad),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_oauthbearer_bad),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_encode_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
