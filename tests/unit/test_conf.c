/* Unit tests for src/conf.c: grammar, defaults, errors, password file. */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/conf.h"

/* The smallest valid configuration; error cases build on it. */
#define MIN_LDAP	"ldap {\nuri ldap://l\nbase dc=x\n}\n"
#define MINIMAL		"listen imap 127.0.0.1:1143\n" MIN_LDAP

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

/* The error must start with prefix and contain word. */
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
test_full(void **state)
{
	const char *text =
	    "# every setting\n"
	    "user _ferry\n"
	    "group _ferrygrp\n"
	    "pid-file /run/ferryd.pid\n"
	    "listen imap 127.0.0.1:1143\n"
	    "listen imap [::1]:1144\n"
	    "listen imap *:2143\n"
	    "ldap {\n"
	    "\turi ldap://ldap1.example.com ldapi://%2frun%2fslapd\n"
	    "\tbind-dn \"cn=ferry,dc=example,dc=com\"\n"
	    "\tbind-password \"s3cret pass\"\n"
	    "\tbase \"dc=example,dc=com\"\n"
	    "\tscope one\n"
	    "\tfilter \"(&(uid=%n)(mail=%u))\"\n"
	    "\tattribute mailRoute\n"
	    "\tconnect-timeout 2s\n"
	    "\ttimeout 1500ms\n"
	    "}\n"
	    "backend-defaults {\n"
	    "\timap-port 10143\n"
	    "\tconnect-timeout 3s\n"
	    "\tlogin-timeout 1m\n"
	    "}\n"
	    "limits {\n"
	    "\tsessions 500\n"
	    "\tpreauth-timeout 20s\n"
	    "\tidle-timeout 1h\n"
	    "\tauth-failures 5\n"
	    "\tauth-failure-delay 0\n"
	    "\tbad-commands 7\n"
	    "\tline-max 16k\n"
	    "\tliteral-max 1m\n"
	    "}\n";
	struct conf		*c = parse_ok(text);
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	struct in6_addr		 lo6 = IN6ADDR_LOOPBACK_INIT;

	(void)state;
	assert_string_equal(c->path, "t.conf");
	assert_string_equal(c->user, "_ferry");
	assert_string_equal(c->group, "_ferrygrp");
	assert_string_equal(c->pid_file, "/run/ferryd.pid");

	assert_int_equal(c->nlistens, 3);
	assert_int_equal(c->listens[0].proto, PROTO_IMAP);
	assert_string_equal(c->listens[0].address, "127.0.0.1:1143");
	assert_int_equal(c->listens[0].line, 5);
	sin = (struct sockaddr_in *)&c->listens[0].ss;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 1143);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(c->listens[0].sslen, sizeof(struct sockaddr_in));

	assert_string_equal(c->listens[1].address, "[::1]:1144");
	assert_int_equal(c->listens[1].line, 6);
	sin6 = (struct sockaddr_in6 *)&c->listens[1].ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 1144);
	assert_memory_equal(&sin6->sin6_addr, &lo6, sizeof(lo6));
	assert_int_equal(c->listens[1].sslen, sizeof(struct sockaddr_in6));

	assert_string_equal(c->listens[2].address, "*:2143");
	sin = (struct sockaddr_in *)&c->listens[2].ss;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 2143);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_ANY);

	assert_int_equal(c->ldap.nuris, 2);
	assert_string_equal(c->ldap.uris[0], "ldap://ldap1.example.com");
	assert_string_equal(c->ldap.uris[1], "ldapi://%2frun%2fslapd");
	assert_string_equal(c->ldap.bind_dn, "cn=ferry,dc=example,dc=com");
	assert_string_equal(c->ldap.bind_password, "s3cret pass");
	assert_null(c->ldap.bind_password_file);
	assert_string_equal(c->ldap.base, "dc=example,dc=com");
	assert_int_equal(c->ldap.scope, CONF_SCOPE_ONE);
	assert_string_equal(c->ldap.filter, "(&(uid=%n)(mail=%u))");
	assert_string_equal(c->ldap.attribute, "mailRoute");
	assert_int_equal(c->ldap.connect_timeout_ms, 2000);
	assert_int_equal(c->ldap.timeout_ms, 1500);

	assert_int_equal(c->backend.imap_port, 10143);
	assert_int_equal(c->backend.connect_timeout_ms, 3000);
	assert_int_equal(c->backend.login_timeout_ms, 60000);

	assert_int_equal(c->limits.sessions, 500);
	assert_int_equal(c->limits.preauth_timeout_ms, 20000);
	assert_int_equal(c->limits.idle_timeout_ms, 3600000);
	assert_int_equal(c->limits.auth_failures, 5);
	assert_int_equal(c->limits.auth_failure_delay_ms, 0);
	assert_int_equal(c->limits.bad_commands, 7);
	assert_int_equal(c->limits.line_max, 16384);
	assert_int_equal(c->limits.literal_max, 1024 * 1024);

	conf_free(&c);
	assert_null(c);
}

static void
test_defaults(void **state)
{
	struct conf	*c = parse_ok(MINIMAL);

	(void)state;
	assert_null(c->user);
	assert_null(c->group);
	assert_null(c->pid_file);
	assert_int_equal(c->nlistens, 1);
	assert_int_equal(c->ldap.nuris, 1);
	assert_string_equal(c->ldap.uris[0], "ldap://l");
	assert_null(c->ldap.bind_dn);
	assert_null(c->ldap.bind_password);
	assert_null(c->ldap.bind_password_file);
	assert_string_equal(c->ldap.base, "dc=x");
	assert_int_equal(c->ldap.scope, CONF_SCOPE_SUB);
	assert_string_equal(c->ldap.filter,
	    "(&(objectClass=inetLocalMailRecipient)(|(uid=%n)(mail=%u)))");
	assert_string_equal(c->ldap.attribute, "mailHost");
	assert_int_equal(c->ldap.connect_timeout_ms, 5000);
	assert_int_equal(c->ldap.timeout_ms, 5000);
	assert_int_equal(c->backend.imap_port, 143);
	assert_int_equal(c->backend.connect_timeout_ms, 10000);
	assert_int_equal(c->backend.login_timeout_ms, 30000);
	assert_int_equal(c->limits.sessions, 10000);
	assert_int_equal(c->limits.preauth_timeout_ms, 60000);
	assert_int_equal(c->limits.idle_timeout_ms, 30 * 60 * 1000);
	assert_int_equal(c->limits.auth_failures, 3);
	assert_int_equal(c->limits.auth_failure_delay_ms, 1000);
	assert_int_equal(c->limits.bad_commands, 10);
	assert_int_equal(c->limits.line_max, 8192);
	assert_int_equal(c->limits.literal_max, 8192);
	assert_string_equal(conf_proto_name(PROTO_IMAP), "imap");
	conf_free(&c);
	conf_free(&c);		/* NULL is fine */
}

static void
test_quoted(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok("listen imap 127.0.0.1:1\n"
	    "ldap { uri \"ldap://a b\"\n base \"o=with \\\"quotes\\\" and "
	    "\\\\ # not a comment\" bind-dn \"cn=a\" }\n");
	assert_string_equal(c->ldap.uris[0], "ldap://a b");
	assert_string_equal(c->ldap.base,
	    "o=with \"quotes\" and \\ # not a comment");
	conf_free(&c);

	/* An empty base is the root DSE and allowed; other values not. */
	c = parse_ok("listen imap 127.0.0.1:1\n"
	    "ldap { uri ldap://a\n base \"\" }\n");
	assert_string_equal(c->ldap.base, "");
	conf_free(&c);
}

static void
test_comments_and_lines(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok("# top comment\n"
	    "listen imap 127.0.0.1:1 # trailing\n"
	    "\n   \t\n"
	    "ldap { # open\n"
	    "  uri ldap://a ldap://b; base dc=x;  timeout 60s ; \n"
	    "  #base dc=y\n"
	    "}\r\n"
	    "limits { sessions 2  bad-commands 4 }\n"
	    "backend-defaults { imap-port 993; connect-timeout 1s }");
	assert_int_equal(c->ldap.nuris, 2);
	assert_string_equal(c->ldap.uris[1], "ldap://b");
	assert_string_equal(c->ldap.base, "dc=x");
	assert_int_equal(c->ldap.timeout_ms, 60000);
	assert_int_equal(c->limits.sessions, 2);
	assert_int_equal(c->limits.bad_commands, 4);
	assert_int_equal(c->backend.imap_port, 993);
	assert_int_equal(c->backend.connect_timeout_ms, 1000);
	conf_free(&c);

	/* A block may open on the next line. */
	c = parse_ok("listen imap 127.0.0.1:1\nldap\n{\nuri ldap://a\n"
	    "base b\n}\n");
	conf_free(&c);
}

static int
duration(const char *v, int *ms)
{
	char		 buf[256], err[CONF_ERR_MAX];
	struct conf	*c;

	snprintf(buf, sizeof(buf), MINIMAL "limits { idle-timeout %s }\n",
	    v);
	c = conf_parse("t.conf", buf, strlen(buf), err, sizeof(err));
	if (c == NULL)
		return -1;
	*ms = c->limits.idle_timeout_ms;
	conf_free(&c);
	return 0;
}

static void
test_durations(void **state)
{
	int	ms;

	(void)state;
	assert_int_equal(duration("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(duration("5s", &ms), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(duration("30m", &ms), 0);
	assert_int_equal(ms, 30 * 60000);
	assert_int_equal(duration("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(duration("42", &ms), 0);
	assert_int_equal(ms, 42000);
	assert_int_equal(duration("596h", &ms), 0);	/* fits an int */
	assert_int_equal(duration("597h", &ms), -1);
	assert_int_equal(duration("99999999999999999999999s", &ms), -1);
	assert_int_equal(duration("0", &ms), -1);
	assert_int_equal(duration("-5s", &ms), -1);
	assert_int_equal(duration("5S", &ms), -1);
	assert_int_equal(duration("5 s", &ms), -1);
	assert_int_equal(duration("s", &ms), -1);
	assert_int_equal(duration("1.5s", &ms), -1);

	parse_err(MINIMAL "limits {\ntimeout 5s\n}\n", "t.conf:7: ",
	    "unknown setting \"timeout\" in limits block");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "timeout 5x\n}\n", "t.conf:5: timeout: bad duration \"5x\"",
	    "use ms, s, m or h");
	parse_err(MINIMAL "limits {\npreauth-timeout 0ms\n}\n",
	    "t.conf:7: preauth-timeout: ", "greater than 0");
	parse_err(MINIMAL "limits {\nidle-timeout 9999h\n}\n",
	    "t.conf:7: idle-timeout: ", "too long");
}

static void
test_sizes(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok(MINIMAL "limits { line-max 8k literal-max 1m }");
	assert_int_equal(c->limits.line_max, 8192);
	assert_int_equal(c->limits.literal_max, 1048576);
	conf_free(&c);
	c = parse_ok(MINIMAL "limits { line-max 1024 literal-max 1 }");
	assert_int_equal(c->limits.line_max, 1024);
	assert_int_equal(c->limits.literal_max, 1);
	conf_free(&c);

	parse_err(MINIMAL "limits {\nline-max 8x\n}\n",
	    "t.conf:7: line-max: bad size \"8x\"", "k or m");
	parse_err(MINIMAL "limits {\nline-max 8K\n}\n",
	    "t.conf:7: line-max: bad size", "8K");
	parse_err(MINIMAL "limits {\nline-max 1023\n}\n",
	    "t.conf:7: line-max: ", "too small (min 1024)");
	parse_err(MINIMAL "limits {\nliteral-max 0\n}\n",
	    "t.conf:7: literal-max: ", "too small");
	parse_err(MINIMAL "limits {\nliteral-max 4000000m\n}\n",
	    "t.conf:7: literal-max: ", "too large");
	parse_err(MINIMAL "limits {\nsessions 10x\n}\n",
	    "t.conf:7: sessions: bad number \"10x\"", "number");
	parse_err(MINIMAL "limits {\nauth-failures 0\n}\n",
	    "t.conf:7: auth-failures: ", "out of range");
	parse_err(MINIMAL "limits {\nbad-commands 99999999999\n}\n",
	    "t.conf:7: bad-commands: ", "out of range");
}

static void
test_ports(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok(MINIMAL "backend-defaults { imap-port 65535 }");
	assert_int_equal(c->backend.imap_port, 65535);
	conf_free(&c);
	parse_err(MINIMAL "backend-defaults {\nimap-port 0\n}\n",
	    "t.conf:7: imap-port: bad port \"0\"", "1-65535");
	parse_err(MINIMAL "backend-defaults {\nimap-port 65536\n}\n",
	    "t.conf:7: imap-port: bad port", "65536");
	parse_err(MINIMAL "backend-defaults {\nimap-port imap\n}\n",
	    "t.conf:7: imap-port: bad port", "imap");
	parse_err("listen imap 127.0.0.1:0\n" MIN_LDAP,
	    "t.conf:1: listen: bad address \"127.0.0.1:0\"", "port");
	parse_err("listen imap 127.0.0.1:70000\n" MIN_LDAP,
	    "t.conf:1: listen: bad address", "port");
}

static void
test_listen_errors(void **state)
{
	(void)state;
	parse_err("\n\nlisten imapx 127.0.0.1:1\n" MIN_LDAP,
	    "t.conf:3: listen: unknown protocol \"imapx\"", "protocol");
	parse_err("listen imap localhost:143\n" MIN_LDAP,
	    "t.conf:1: listen: bad address \"localhost:143\"", "IPv4");
	parse_err("listen imap 127.0.0.1\n" MIN_LDAP,
	    "t.conf:1: listen: bad address", "ADDRESS:PORT");
	parse_err("listen imap [::1:143\n" MIN_LDAP,
	    "t.conf:1: listen: bad address", "IPv6");
	parse_err("listen imap\n127.0.0.1:143\n" MIN_LDAP,
	    "t.conf:1: listen: missing value", "missing");
	parse_err("listen imap 127.0.0.1:1\nlisten imap 127.0.0.1:1\n"
	    MIN_LDAP, "t.conf:2: listen: duplicate address", "first at line 1");
	parse_err(MIN_LDAP, "t.conf: no listen line", "listen");
	parse_err("listen imap 127.0.0.1:1\n", "t.conf: no ldap block",
	    "ldap");
}

/* POP3, POP3S and ManageSieve listeners and their backend ports. */
static void
test_pop3_sieve(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok("listen pop3 127.0.0.1:110 starttls=optional\n"
	    "listen pop3s 127.0.0.1:995\nlisten sieve 127.0.0.1:4190\n"
	    MIN_LDAP "backend-defaults { pop3s-port 1995  sieve-port 14190 "
	    "xclient yes }\nlimits { pop3-line-max 512 }\n");
	assert_int_equal(c->nlistens, 3);
	assert_int_equal(c->listens[0].proto, PROTO_POP3);
	assert_int_equal(c->listens[0].implicit_tls, 0);
	assert_int_equal(c->listens[0].starttls, CONF_STARTTLS_OPTIONAL);
	assert_int_equal(c->listens[1].proto, PROTO_POP3);
	assert_int_equal(c->listens[1].implicit_tls, 1);
	assert_int_equal(c->listens[2].proto, PROTO_SIEVE);
	assert_int_equal(c->listens[2].starttls, CONF_STARTTLS_REQUIRED);
	assert_int_equal(c->backend.pop3s_port, 1995);
	assert_int_equal(c->backend.sieve_port, 14190);
	assert_int_equal(c->backend.xclient, 1);
	assert_int_equal(c->limits.pop3_line_max, 512);
	assert_string_equal(conf_proto_name(PROTO_POP3), "pop3");
	assert_string_equal(conf_proto_name(PROTO_SIEVE), "sieve");
	conf_free(&c);
	c = parse_ok(MINIMAL);
	assert_int_equal(c->backend.pop3_port, 110);
	assert_int_equal(c->backend.pop3s_port, 995);
	assert_int_equal(c->backend.sieve_port, 4190);
	assert_int_equal(c->backend.xclient, 0);
	assert_int_equal(c->limits.pop3_line_max, 255);
	conf_free(&c);
	parse_err("listen pop3s 127.0.0.1:995 starttls=off\n" MIN_LDAP,
	    "t.conf:1: listen: starttls= is for plaintext", "pop3s");
	parse_err("listen sieves 127.0.0.1:1\n" MIN_LDAP,
	    "t.conf:1: listen: unknown protocol", "sieves");
	parse_err(MINIMAL "limits {\npop3-line-max 100\n}\n",
	    "t.conf:7: pop3-line-max: ", "100");
}

/* ldap follow-changes, poll-interval, move-grace (issue 7). */
static void
test_follow_changes(void **state)
{
	struct conf	*c;

	(void)state;
	c = parse_ok(MINIMAL);
	assert_int_equal(c->ldap.follow_changes, CONF_FOLLOW_YES);
	assert_int_equal(c->ldap.poll_interval_ms, 30000);
	assert_int_equal(c->ldap.move_grace_ms, 0);
	conf_free(&c);
	c = parse_ok("listen imap 127.0.0.1:1143\nldap {\nuri ldap://l\n"
	    "base dc=x\nfollow-changes poll  poll-interval 500ms\n"
	    "move-grace 2s\n}\n");
	assert_int_equal(c->ldap.follow_changes, CONF_FOLLOW_POLL);
	assert_int_equal(c->ldap.poll_interval_ms, 500);
	assert_int_equal(c->ldap.move_grace_ms, 2000);
	conf_free(&c);
	c = parse_ok("listen imap 127.0.0.1:1143\nldap {\nuri ldap://l\n"
	    "base dc=x\nfollow-changes no\n}\n");
	assert_int_equal(c->ldap.follow_changes, CONF_FOLLOW_NO);
	conf_free(&c);
	parse_err("listen imap 127.0.0.1:1143\nldap {\nuri ldap://l\n"
	    "base dc=x\nfollow-changes maybe\n}\n", "t.conf:5:",
	    "yes, no or poll");
	parse_err("listen imap 127.0.0.1:1143\nldap {\nuri ldap://l\n"
	    "base dc=x\npoll-interval 0\n}\n", "t.conf:5:", "greater");
}

static void
test_ldap_errors(void **state)
{
	(void)state;
	parse_err("listen imap 127.0.0.1:1\n"
	    "\n\nldap {\nbase dc=x\n}\n",
	    "t.conf:4: ldap: uri is required", "uri");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\n}\n",
	    "t.conf:2: ldap: base is required", "base");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\n\n"
	    "base a\nscope sub\nbase b\n}\n",
	    "t.conf:7: ldap: duplicate setting \"base\" (first at line 5)",
	    "duplicate");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "tiemout 5s\n}\n",
	    "t.conf:5: unknown setting \"tiemout\" in ldap block", "ldap");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri http://a\nbase b\n}",
	    "t.conf:3: uri: unsupported URI \"http://a\"", "ldap://");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a ldap://b "
	    "ldap://c ldap://d ldap://e ldap://f ldap://g ldap://h "
	    "ldap://i\nbase b\n}", "t.conf:3: uri: too many values", "8");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a base b\n}",
	    "t.conf:3: uri: unsupported URI \"base\"", "URI");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "scope subtree\n}", "t.conf:5: scope: bad scope \"subtree\"",
	    "sub, one or base");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "filter \"uid=%n\"\n}", "t.conf:5: filter: bad template", "uid");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "filter \"(uid=%x)\"\n}", "t.conf:5: filter: ", "template");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "bind-password x\nbind-password-file /etc/pw\n}",
	    "t.conf:6: ldap: bind-password and bind-password-file",
	    "mutually exclusive");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "attribute \"\"\n}", "t.conf:5: attribute: empty value", "empty");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "timeout\n}", "t.conf:5: timeout: missing value", "missing");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "timeout }", "t.conf:5: timeout: missing value", "missing");
}

static void
test_structure_errors(void **state)
{
	(void)state;
	parse_err("listen imap 127.0.0.1:1\n\nldap {\nuri ldap://a\n"
	    "base b\n", "t.conf:3: missing \"}\" for block opened here", "}");
	parse_err(MINIMAL "\nldap {\nuri ldap://b\nbase c\n}\n",
	    "t.conf:7: duplicate block \"ldap\" (first at line 2)",
	    "duplicate");
	parse_err(MINIMAL "user a\nuser b\n",
	    "t.conf:7: duplicate setting \"user\" (first at line 6)",
	    "duplicate");
	parse_err(MINIMAL "mail {\n}\n", "t.conf:6: unknown block \"mail\"",
	    "block");
	parse_err(MINIMAL "tiemout 5s\n", "t.conf:6: unknown setting "
	    "\"tiemout\"", "unknown");
	parse_err(MINIMAL "}\n", "t.conf:6: unexpected \"}\"", "}");
	parse_err(MINIMAL "{\n", "t.conf:6: unexpected \"{\"", "{");
	parse_err("listen imap 127.0.0.1:1\nldap {\nuri ldap://a\nbase b\n"
	    "limits {\n}\n}\n",
	    "t.conf:5: unknown setting \"limits\" in ldap block", "ldap");
	parse_err(MINIMAL "limits sessions 5\n",
	    "t.conf:6: limits: expected \"{\"", "{");
	parse_err(MINIMAL "pid-file", "t.conf:6: pid-file: missing value",
	    "missing");
	parse_err(MINIMAL "\"user\" x\n", "t.conf:6: unexpected quoted "
	    "string", "user");
	parse_err(MINIMAL "user \"abc\n\"\n", "t.conf:6: unterminated "
	    "quoted string", "unterminated");
	parse_err(MINIMAL "user \"abc", "t.conf:6: unterminated", "quoted");
	parse_err(MINIMAL "user \"a\\nb\"\n", "t.conf:6: bad escape \"\\n\"",
	    "quoted");
	parse_err(MINIMAL "user a\x01z\n", "t.conf:6: unexpected byte \\x01",
	    "byte");
	parse_err(MINIMAL "user \"a\x7f\"\n",
	    "t.conf:6: unexpected byte \\x7f in quoted string", "quoted");
	parse_err(MINIMAL "user \"\"\n", "t.conf:6: user: empty value",
	    "empty");
	parse_err("", "t.conf: no listen line", "listen");
}

static void
test_odd_bytes(void **state)
{
	char		 err[CONF_ERR_MAX], text[] = MINIMAL "us\0er x\n";
	struct conf	*c;

	(void)state;
	/* An embedded NUL must not cut the text short. */
	c = conf_parse("t.conf", text, sizeof(text) - 1, err, sizeof(err));
	assert_null(c);
	assert_string_equal(err, "t.conf:6: unexpected byte \\x00");

	/* Odd bytes in a shown token are escaped. */
	parse_err(MINIMAL "\xff\xfe 1\n", "t.conf:6: unknown setting "
	    "\"\\xff\\xfe\"", "unknown");
	/* Long tokens are cut short in the message. */
	parse_err(MINIMAL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n", "t.conf:6: unknown "
	    "setting", "...\"");
	/* A tiny error buffer is not overrun. */
	c = conf_parse("t.conf", "x", 1, err, 4);
	assert_null(c);
	assert_string_equal(err, "t.c");
	c = conf_parse("t.conf", "x", 1, NULL, 0);
	assert_null(c);
}

/* Write text to a fresh file in a private directory. */
static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_load(void **state)
{
	char		 dir[] = "/tmp/test_conf.XXXXXX";
	char		 cpath[64], ppath[64], text[512], err[CONF_ERR_MAX];
	char		 want[512];
	struct conf	*c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cpath, sizeof(cpath), "%s/ferry.conf", dir);
	snprintf(ppath, sizeof(ppath), "%s/pw", dir);
	snprintf(text, sizeof(text), "listen imap 127.0.0.1:1\n"
	    "ldap {\nuri ldap://a\nbase b\nbind-dn cn=x\n"
	    "bind-password-file %s\n}\n", ppath);
	write_file(cpath, text, 0644);

	/* 0600 works; one trailing newline is stripped. */
	write_file(ppath, "pass word\n", 0600);
	c = conf_load(cpath, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->path, cpath);
	assert_string_equal(c->ldap.bind_password_file, ppath);
	assert_string_equal(c->ldap.bind_password, "pass word");
	conf_free(&c);

	/* Only one newline goes; no newline is fine too. */
	write_file(ppath, "pw\n\n", 0400);
	c = conf_load(cpath, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->ldap.bind_password, "pw\n");
	conf_free(&c);
	write_file(ppath, "pw", 0600);
	c = conf_load(cpath, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->ldap.bind_password, "pw");
	conf_free(&c);

	/* Group or other bits: refused, at the setting's line. */
	write_file(ppath, "pw\n", 0644);
	assert_null(conf_load(cpath, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:6: bind-password-file %s: readable "
	    "by group or others (chmod 600)", cpath, ppath);
	assert_string_equal(err, want);
	write_file(ppath, "pw\n", 0620);
	assert_null(conf_load(cpath, err, sizeof(err)));
	assert_non_null(strstr(err, "chmod 600"));

	write_file(ppath, "\n", 0600);
	assert_null(conf_load(cpath, err, sizeof(err)));
	assert_non_null(strstr(err, ": empty"));

	/* Missing password file. */
	unlink(ppath);
	assert_null(conf_load(cpath, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:6: bind-password-file %s: No such "
	    "file or directory", cpath, ppath);
	assert_string_equal(err, want);

	/* A parse error carries the file's path. */
	write_file(cpath, "listen imap 127.0.0.1:1\nbogus 1\n", 0644);
	assert_null(conf_load(cpath, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: unknown setting \"bogus\"",
	    cpath);
	assert_string_equal(err, want);

	/* Missing configuration file. */
	unlink(cpath);
	assert_null(conf_load(cpath, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory", cpath);
	assert_string_equal(err, want);
	assert_null(conf_load(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));

	assert_int_equal(rmdir(dir), 0);
}

/* Issue 6: control and metrics blocks, operational limits, refs. */
static void
test_operations(void **state)
{
	struct conf	*c, *r;

	c = parse_ok(MINIMAL);
	assert_string_equal(c->control.socket, "/run/ferry/ferry.sock");
	assert_int_equal(c->control.mode, 0660);
	assert_null(c->control.group);
	assert_null(c->metrics.listen);
	assert_int_equal(c->limits.per_client, 50);
	assert_int_equal(c->limits.client_failures, 30);
	assert_int_equal(c->limits.client_backoff_ms, 5 * 60 * 1000);
	assert_int_equal(c->limits.drain_time_ms, 30 * 1000);
	assert_int_equal(c->refs, 1);
	r = conf_ref(c);
	assert_ptr_equal(r, c);
	conf_unref(&r);
	assert_null(r);
	assert_int_equal(c->refs, 1);
	conf_unref(&c);
	assert_null(c);

	c = parse_ok(MINIMAL "control { socket /tmp/f.sock  mode 600  "
	    "group adm }\nmetrics { listen 127.0.0.1:9143 }\n"
	    "limits { per-client 3  client-failures 4  client-backoff 1m  "
	    "drain-time 0 }\n");
	assert_string_equal(c->control.socket, "/tmp/f.sock");
	assert_int_equal(c->control.mode, 0600);
	assert_string_equal(c->control.group, "adm");
	assert_string_equal(c->metrics.listen, "127.0.0.1:9143");
	assert_int_equal(c->metrics.ss.ss_family, AF_INET);
	assert_int_equal(c->limits.per_client, 3);
	assert_int_equal(c->limits.client_failures, 4);
	assert_int_equal(c->limits.client_backoff_ms, 60 * 1000);
	assert_int_equal(c->limits.drain_time_ms, 0);
	conf_free(&c);

	parse_err(MINIMAL "control {\nmode 0868\n}\n", "t.conf:7: ",
	    "bad mode");
	parse_err(MINIMAL "control {\nmode 01777\n}\n", "t.conf:7: ",
	    "bad mode");
	parse_err(MINIMAL "control {\nmode rw\n}\n", "t.conf:7: ", "octal");
	parse_err(MINIMAL "control {\nport 5\n}\n", "t.conf:7: ",
	    "unknown setting \"port\" in control block");
	parse_err(MINIMAL "metrics {\nlisten localhost\n}\n", "t.conf:7: ",
	    "bad address");
	parse_err(MINIMAL "limits {\nper-client 0\n}\n", "t.conf:7: ",
	    "out of range");
	parse_err(MINIMAL "limits {\nclient-backoff 0\n}\n", "t.conf:7: ",
	    "greater than 0");
}

/* workers auto | 1..64; auto resolves to the cores online. */
static void
test_workers(void **state)
{
	struct conf	*c;

	c = parse_ok(MINIMAL);
	assert_int_equal(c->workers, 0);
	assert_true(conf_workers(c) >= 1);
	assert_true(conf_workers(c) <= CONF_WORKERS_MAX);
	conf_free(&c);
	c = parse_ok("workers 3\n" MINIMAL);
	assert_int_equal(conf_workers(c), 3);
	conf_free(&c);
	c = parse_ok("workers auto\n" MINIMAL);
	assert_int_equal(c->workers, 0);
	conf_free(&c);
	parse_err("workers 0\n" MINIMAL, "t.conf:1: ", "out of range");
	parse_err("\nworkers 65\n" MINIMAL, "t.conf:2: ", "workers");
	parse_err("workers many\n" MINIMAL, "t.conf:1: ", "bad number");
	parse_err("workers\n" MINIMAL, "t.conf:1: ", "workers");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_comments_and_lines),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_pop3_sieve),
		cmocka_unit_test(test_ldap_errors),
		cmocka_unit_test(test_follow_changes),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_odd_bytes),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
