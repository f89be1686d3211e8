/* Unit tests for src/metrics.c (Prometheus text), src/clients.c and
 * src/downs.c. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/clients.h"
#include "src/downs.h"
#include "src/metrics.h"

static void
test_histogram(void **state)
{
	struct histogram	h, sum;

	memset(&h, 0, sizeof(h));
	histogram_observe(&h, 100);		/* 0.1ms: first bucket */
	histogram_observe(&h, 500);		/* exactly 0.5ms: first */
	histogram_observe(&h, 501);		/* second */
	histogram_observe(&h, 3000000);		/* 3s: the 5s bucket */
	histogram_observe(&h, 9000000);		/* +Inf */
	assert_int_equal(h.buckets[0], 2);
	assert_int_equal(h.buckets[1], 1);
	assert_int_equal(h.buckets[HIST_NBOUNDS - 1], 1);
	assert_int_equal(h.buckets[HIST_NBOUNDS], 1);
	assert_int_equal(h.count, 5);
	assert_int_equal(h.sum_us, 100 + 500 + 501 + 3000000 + 9000000);
	memset(&sum, 0, sizeof(sum));
	histogram_add(&sum, &h);
	histogram_add(&sum, &h);
	assert_int_equal(sum.count, 10);
	assert_int_equal(sum.buckets[0], 4);
}

/* Every line is a comment (# HELP/# TYPE) or "name{labels} value". */
static void
check_exposition(const char *text)
{
	const char	*p = text, *nl;
	char		 line[512], name[128];
	double		 v;
	int		 n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true((size_t)(nl - p) < sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ferry_", 13) == 0 ||
		    strncmp(line, "# TYPE ferry_", 13) == 0)
			continue;
		n = 0;
		if (sscanf(line, "%127[a-z_]%n", name, &n) != 1)
			fail_msg("bad line \"%s\"", line);
		assert_true(strncmp(name, "ferry_", 6) == 0);
		if (line[n] == '{') {
			const char *end = strchr(line + n, '}');
			assert_non_null(end);
			n = (int)(end - line) + 1;
		}
		if (sscanf(line + n, " %lf", &v) != 1)
			fail_msg("no value in \"%s\"", line);
	}
}

static void
test_render(void **state)
{
	struct metrics_snapshot	 s;
	char			*text;

	memset(&s, 0, sizeof(s));
	s.version = "9.9.9";
	s.uptime_s = 12;
	s.sessions[MST_RELAY] = 3;
	s.sessions[MST_PREAUTH] = 1;
	s.logins_ok = 7;
	s.logins_failed = 2;
	s.bytes_in = 1000;
	s.bytes_out = 2000;
	s.ldap_up = 1;
	histogram_observe(&s.lookup_latency, 2000);	/* 2ms */
	histogram_observe(&s.lookup_latency, 20000);	/* 20ms */
	text = metrics_render(&s);
	assert_non_null(text);
	check_exposition(text);
	assert_non_null(strstr(text,
	    "ferry_build_info{version=\"9.9.9\"} 1\n"));
	assert_non_null(strstr(text, "ferry_sessions{state=\"relay\"} 3\n"));
	assert_non_null(strstr(text, "ferry_sessions{state=\"preauth\"} 1\n"));
	assert_non_null(strstr(text, "ferry_logins_total{result=\"ok\"} 7\n"));
	assert_non_null(strstr(text,
	    "ferry_logins_total{result=\"failed\"} 2\n"));
	assert_non_null(strstr(text,
	    "ferry_relayed_bytes_total{direction=\"out\"} 2000\n"));
	assert_non_null(strstr(text, "# TYPE ferry_lookup_duration_seconds "
	    "histogram\n"));
	/* Cumulative buckets: 0 up to 1ms, 1 at 2.5ms, 2 from 25ms. */
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_bucket{le=\"0.001\"} 0\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_bucket{le=\"0.01\"} 1\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_bucket{le=\"0.025\"} 2\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_sum 0.022000\n"));
	assert_non_null(strstr(text,
	    "ferry_lookup_duration_seconds_count 2\n"));
	assert_non_null(strstr(text,
	    "ferry_backend_connect_duration_seconds_count 0\n"));
	assert_non_null(strstr(text, "ferry_ldap_up 1\n"));
	free(text);
	s.ldap_up = -1;		/* unknown: not rendered */
	text = metrics_render(&s);
	assert_null(strstr(text, "ferry_ldap_up"));
	free(text);
}

static struct sockaddr_in
v4(const char *a)
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(12345);
	inet_pton(AF_INET, a, &sin.sin_addr);
	return sin;
}

static enum clients_verdict
admit(struct clients *cs, struct sockaddr_in *a, int per_client, uint64_t now,
    struct client_addr **cp)
{
	return clients_admit(cs, (struct sockaddr *)a, per_client, now, cp);
}

static void
test_clients_per_address(void **state)
{
	struct clients		*cs = clients_new();
	struct sockaddr_in	 a = v4("192.0.2.1"), b = v4("192.0.2.2");
	struct client_addr	*c1, *c2, *c3, *none;

	assert_non_null(cs);
	assert_int_equal(admit(cs, &a, 2, 0, &c1), CLIENTS_OK);
	assert_non_null(c1);
	a.sin_port = htons(999);	/* the port does not matter */
	assert_int_equal(admit(cs, &a, 2, 0, &c2), CLIENTS_OK);
	assert_ptr_equal(c1, c2);
	/* Refused: not counted, nothing to detach. */
	assert_int_equal(admit(cs, &a, 2, 0, &none), CLIENTS_TOO_MANY);
	assert_null(none);
	assert_int_equal(admit(cs, &b, 2, 0, &c3), CLIENTS_OK);
	clients_detach(cs, &c2, 0);
	assert_null(c2);
	assert_int_equal(admit(cs, &a, 2, 0, &c2), CLIENTS_OK);
	assert_int_equal(admit(cs, &a, 2, 0, &none), CLIENTS_TOO_MANY);
	clients_detach(cs, &c1, 0);
	clients_detach(cs, &c2, 0);
	clients_detach(cs, &c3, 0);
	clients_free(&cs);
	assert_null(cs);
}

static void
test_clients_backoff(void **state)
{
	struct clients		*cs = clients_new();
	struct sockaddr_in	 a = v4("198.51.100.7");
	struct client_addr	*c, *none;
	size_t			 tracked, blocked;

	assert_int_equal(admit(cs, &a, 50, 0, &c), CLIENTS_OK);
	/* Failures far apart never add up. */
	assert_int_equal(clients_failed(cs, c, 3, 1000, 0), 0);
	assert_int_equal(clients_failed(cs, c, 3, 1000, 1500), 0);
	assert_int_equal(clients_failed(cs, c, 3, 1000, 3000), 0);
	/* Three within the window: refused for 1000ms. */
	assert_int_equal(clients_failed(cs, c, 3, 1000, 3100), 0);
	assert_int_equal(clients_failed(cs, c, 3, 1000, 3200), 1);
	assert_int_equal(admit(cs, &a, 50, 3300, &none), CLIENTS_BACKOFF);
	assert_null(none);
	clients_stats(cs, 3300, &tracked, &blocked);
	assert_int_equal(tracked, 1);
	assert_int_equal(blocked, 1);
	/* The session ends; the address is still remembered. */
	clients_detach(cs, &c, 3300);
	assert_int_equal(admit(cs, &a, 50, 4100, &none), CLIENTS_BACKOFF);
	assert_int_equal(admit(cs, &a, 50, 4200, &c), CLIENTS_OK);
	clients_stats(cs, 4200, &tracked, &blocked);
	assert_int_equal(blocked, 0);
	clients_detach(cs, &c, 4200);
	clients_free(&cs);
}

static void
test_downs(void **state)
{
	struct downs	*ds = downs_new();
	char		 addr[32];
	int		 i;

	assert_non_null(ds);
	assert_int_equal(downs_is_down(ds, "192.0.2.1:143", 0), 0);
	/* down-time 0: never marked. */
	assert_int_equal(downs_failed(ds, "192.0.2.1:143", 900, 0, 1000), 0);
	assert_int_equal(downs_is_down(ds, "192.0.2.1:143", 1000), 0);
	assert_int_equal(downs_failed(ds, "192.0.2.1:143", 900, 500, 1000), 1);
	/* Failed again while down: extended, not new. */
	assert_int_equal(downs_failed(ds, "192.0.2.1:143", 1100, 500, 1200),
	    0);
	assert_int_equal(downs_is_down(ds, "192.0.2.1:143", 1699), 1);
	assert_int_equal(downs_is_down(ds, "192.0.2.1:143", 1700), 0);
	/* The address with its port: POP3's is another; names ignore case. */
	assert_int_equal(downs_is_down(ds, "192.0.2.1:110", 1300), 0);
	assert_int_equal(downs_failed(ds, "mx.example:143", 0, 500, 10), 1);
	assert_int_equal(downs_is_down(ds, "MX.example:143", 100), 1);
	/* A success lifts the mark, once. */
	assert_int_equal(downs_ok(ds, "mx.example:143", 200), 1);
	assert_int_equal(downs_ok(ds, "mx.example:143", 300), 0);
	assert_int_equal(downs_is_down(ds, "mx.example:143", 300), 0);
	/* A connect begun before that success failed later: busy, not down. */
	assert_int_equal(downs_failed(ds, "mx.example:143", 250, 500, 2000),
	    0);
	assert_int_equal(downs_failed(ds, "mx.example:143", 300, 500, 2000),
	    0);
	assert_int_equal(downs_is_down(ds, "mx.example:143", 2000), 0);
	/* One begun after it: down. */
	assert_int_equal(downs_failed(ds, "mx.example:143", 301, 500, 2000),
	    1);
	assert_int_equal(downs_is_down(ds, "mx.example:143", 2000), 1);
	/* Full: the least recently used address makes room. */
	for (i = 0; i < DOWNS_MAX; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d:143", i);
		downs_failed(ds, addr, 0, 10000, 3000);
	}
	assert_int_equal(downs_is_down(ds, "mx.example:143", 2000), 0);
	assert_int_equal(downs_is_down(ds, "198.51.100.0:143", 3000), 1);
	assert_int_equal(downs_failed(ds, "203.0.113.9:143", 0, 10000, 3000),
	    1);
	assert_int_equal(downs_is_down(ds, "198.51.100.1:143", 3000), 0);
	assert_int_equal(downs_is_down(ds, "198.51.100.2:143", 3000), 1);
	downs_free(&ds);
	assert_null(ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_clients_per_address),
		cmocka_unit_test(test_clients_backoff),
		cmocka_unit_test(test_downs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
