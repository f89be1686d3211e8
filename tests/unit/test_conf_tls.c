/*
 * conf: the TLS settings (listen modes, trusted-networks, the tls block,
 * backend TLS), cidr, the address ranges trusted-networks uses, and the
 * reference counting of tls.c's context sets.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "proxy/tls.h"
#include "src/cidr.h"
#include "src/conf.h"

#define MIN_LDAP	"ldap {\nuri ldap://l\nbase dc=x\n}\n"

static struct conf *
parse_ok(const char *text)
{
	char		 err[CONF_ERR_MAX];
	struct conf	*c;

	c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("unexpected error: %s", err);
	return c;
}

static void
parse_err(const char *text, const char *prefix, const char *word)
{
	char		 err[CONF_ERR_MAX];
	struct conf	*c;

	c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
	if (c != NULL) {
		conf_free(&c);
		fail_msg("accepted: %s", text);
	}
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err,
		    prefix);
	if (strstr(err, word) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, word);
}

static void
test_defaults(void **state)
{
	struct conf	*c = parse_ok("listen imap 127.0.0.1:143\n" MIN_LDAP);

	assert_int_equal(c->listens[0].starttls, CONF_STARTTLS_REQUIRED);
	assert_int_equal(c->listens[0].implicit_tls, 0);
	assert_null(c->tls.certificate);
	assert_int_equal(c->tls.min_version, 12);
	assert_int_equal(c->tls.handshake_timeout_ms, 10000);
	assert_int_equal(c->backend.tls, CONF_BTLS_OFF);
	assert_int_equal(c->backend.verify, 1);
	assert_int_equal(c->backend.imaps_port, 993);
	assert_int_equal(c->backend.forward_id, 0);
	assert_null(c->backend.ca);
	assert_int_equal(c->ntrusted, 0);
	conf_free(&c);
}

static void
test_all(void **state)
{
	struct conf	*c = parse_ok(
	    "listen imap 127.0.0.1:143 starttls=optional\n"
	    "listen imap 127.0.0.1:144 starttls=off\n"
	    "listen imap 127.0.0.1:145 starttls=required\n"
	    "listen imaps 127.0.0.1:993\n"
	    "trusted-networks 10.0.0.0/8 192.0.2.7\n"
	    "trusted-networks ::1\n"
	    "tls {\n"
	    "  certificate /c.pem\n  key /c.key\n"
	    "  sni imap.example.org /o.pem /o.key\n"
	    "  sni imap.example.net /n.pem /n.key\n"
	    "  min-version 1.3\n  ciphers HIGH:!aNULL\n"
	    "  handshake-timeout 2s\n"
	    "}\n"
	    "backend-defaults { tls implicit  ca /ca.pem  verify no\n"
	    "  imaps-port 1993  forward-id yes }\n" MIN_LDAP);

	assert_int_equal(c->listens[0].starttls, CONF_STARTTLS_OPTIONAL);
	assert_int_equal(c->listens[1].starttls, CONF_STARTTLS_OFF);
	assert_int_equal(c->listens[2].starttls, CONF_STARTTLS_REQUIRED);
	assert_int_equal(c->listens[3].implicit_tls, 1);
	assert_int_equal(c->ntrusted, 3);
	assert_int_equal(c->trusted[0].prefix, 8);
	assert_int_equal(c->trusted[1].prefix, 32);
	assert_int_equal(c->trusted[2].family, AF_INET6);
	assert_string_equal(c->tls.certificate, "/c.pem");
	assert_string_equal(c->tls.key, "/c.key");
	assert_int_equal(c->tls.nsni, 2);
	assert_string_equal(c->tls.sni[1].name, "imap.example.net");
	assert_string_equal(c->tls.sni[1].certificate, "/n.pem");
	assert_string_equal(c->tls.sni[1].key, "/n.key");
	assert_int_equal(c->tls.min_version, 13);
	assert_string_equal(c->tls.ciphers, "HIGH:!aNULL");
	assert_int_equal(c->tls.handshake_timeout_ms, 2000);
	assert_int_equal(c->backend.tls, CONF_BTLS_IMPLICIT);
	assert_string_equal(c->backend.ca, "/ca.pem");
	assert_int_equal(c->backend.verify, 0);
	assert_int_equal(c->backend.imaps_port, 1993);
	assert_int_equal(c->backend.forward_id, 1);
	conf_free(&c);
}

static void
test_errors(void **state)
{
	parse_err("listen imap 127.0.0.1:1 starttls=maybe\n" MIN_LDAP,
	    "t.conf:1: listen: bad starttls \"maybe\"", "required");
	parse_err("listen imap 127.0.0.1:1 tls=yes\n" MIN_LDAP,
	    "t.conf:1: listen: unknown option", "starttls");
	parse_err("listen imaps 127.0.0.1:1 starttls=off\n" MIN_LDAP,
	    "t.conf:1: listen: starttls= is for plaintext", "imaps");
	parse_err("listen imap 127.0.0.1:1\ntrusted-networks 10.0.0.1/8\n"
	    MIN_LDAP, "t.conf:2: trusted-networks: bad network", "host bits");
	parse_err("listen imap 127.0.0.1:1\ntrusted-networks 10.0.0.0/33\n"
	    MIN_LDAP, "t.conf:2: trusted-networks: bad network", "prefix");
	parse_err("listen imap 127.0.0.1:1\ntrusted-networks example.com\n"
	    MIN_LDAP, "t.conf:2: trusted-networks: bad network", "IPv4");
	parse_err("listen imap 127.0.0.1:1\ntls {\ncertificate /c\n}\n"
	    MIN_LDAP, "t.conf:2: tls: certificate and key", "together");
	parse_err("listen imap 127.0.0.1:1\ntls {\nsni a /a /b\n}\n" MIN_LDAP,
	    "t.conf:2: tls: sni needs a default certificate", "sni");
	parse_err("listen imap 127.0.0.1:1\ntls {\ncertificate /c\nkey /k\n"
	    "sni a /a /b\nsni A /c /d\n}\n" MIN_LDAP,
	    "t.conf:6: sni: duplicate name \"A\"", "line 5");
	parse_err("listen imap 127.0.0.1:1\ntls {\nsni a /a\n}\n" MIN_LDAP,
	    "t.conf:3: sni: missing value", "missing");
	parse_err("listen imap 127.0.0.1:1\ntls { min-version 1.1 }\n"
	    MIN_LDAP, "t.conf:2: min-version: bad version", "1.2");
	parse_err("listen imap 127.0.0.1:1\nbackend-defaults { tls yes }\n"
	    MIN_LDAP, "t.conf:2: tls: bad value \"yes\"", "implicit");
	parse_err("listen imap 127.0.0.1:1\nbackend-defaults { verify 1 }\n"
	    MIN_LDAP, "t.conf:2: verify: bad value", "yes or no");
	parse_err("listen imap 127.0.0.1:1\nbackend-defaults { imaps-port 0 }"
	    "\n" MIN_LDAP, "t.conf:2: imaps-port: bad port", "1-65535");
}

static void
sin4(struct sockaddr_in *sin, const char *a)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &sin->sin_addr), 1);
}

static void
sin6(struct sockaddr_in6 *sin, const char *a)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &sin->sin6_addr), 1);
}

static void
test_cidr(void **state)
{
	struct cidr		 c;
	struct sockaddr_in	 a;
	struct sockaddr_in6	 b;
	const char		*e;

	assert_int_equal(cidr_parse("10.0.0.0/8", &c, &e), 0);
	sin4(&a, "10.200.3.4");
	assert_true(cidr_match(&c, (struct sockaddr *)&a));
	sin4(&a, "11.0.0.1");
	assert_false(cidr_match(&c, (struct sockaddr *)&a));
	/* an IPv4-mapped IPv6 client is the IPv4 address */
	sin6(&b, "::ffff:10.1.2.3");
	assert_true(cidr_match(&c, (struct sockaddr *)&b));

	assert_int_equal(cidr_parse("192.168.4.0/22", &c, &e), 0);
	sin4(&a, "192.168.7.255");
	assert_true(cidr_match(&c, (struct sockaddr *)&a));
	sin4(&a, "192.168.8.0");
	assert_false(cidr_match(&c, (struct sockaddr *)&a));

	assert_int_equal(cidr_parse("127.0.0.1", &c, &e), 0);
	assert_int_equal(c.prefix, 32);
	sin4(&a, "127.0.0.2");
	assert_false(cidr_match(&c, (struct sockaddr *)&a));

	assert_int_equal(cidr_parse("0.0.0.0/0", &c, &e), 0);
	sin4(&a, "203.0.113.9");
	assert_true(cidr_match(&c, (struct sockaddr *)&a));
	sin6(&b, "2001:db8::1");
	assert_false(cidr_match(&c, (struct sockaddr *)&b));

	assert_int_equal(cidr_parse("2001:db8::/33", &c, &e), 0);
	sin6(&b, "2001:db8:7fff::1");
	assert_true(cidr_match(&c, (struct sockaddr *)&b));
	sin6(&b, "2001:db8:8000::1");
	assert_false(cidr_match(&c, (struct sockaddr *)&b));

	assert_int_equal(cidr_parse("10.0.0.1/8", &c, &e), -1);
	assert_int_equal(cidr_parse("10.0.0.0/", &c, &e), -1);
	assert_int_equal(cidr_parse("10.0.0.0/-1", &c, &e), -1);
	assert_int_equal(cidr_parse("::/129", &c, &e), -1);
	assert_int_equal(cidr_parse("10.0.0.0/8x", &c, &e), -1);
	assert_int_equal(cidr_parse("", &c, &e), -1);
}

/* A set lives while a reference does: a reload drops main's, each
 * session its own (tls.h). */
static void
test_tls_refs(void **state)
{
	struct conf	*c = parse_ok("listen imap 127.0.0.1:143 starttls=off\n"
			    MIN_LDAP);
	struct conf	*bad = parse_ok("listen imaps 127.0.0.1:993\n"
			    "tls {\ncertificate /nonexistent.pem\n"
			    "key /nonexistent.key\n}\n" MIN_LDAP);
	struct tls	*t, *s1, *s2;
	unsigned int	 live = tls_live();
	char		 err[CONF_ERR_MAX];

	t = tls_new(c, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tls_live(), live + 1);
	assert_int_equal(tls_server_ready(t), 0);
	s1 = tls_ref(t);
	s2 = tls_ref(t);
	assert_ptr_equal(s1, t);
	tls_unref(&t);			/* replaced by a reload */
	assert_null(t);
	assert_int_equal(tls_live(), live + 1);
	tls_unref(&s1);
	assert_int_equal(tls_live(), live + 1);
	tls_unref(&s2);			/* the last session */
	assert_null(s2);
	assert_int_equal(tls_live(), live);
	tls_unref(&s2);			/* NULL: nothing */

	/* A failed tls_new() leaves nothing behind. */
	assert_null(tls_new(bad, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent.pem"));
	assert_int_equal(tls_live(), live);
	conf_free(&bad);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_tls_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
