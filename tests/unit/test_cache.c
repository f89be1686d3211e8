/*
 * cache: expiry, negative answers, stale serving, LRU eviction, flush,
 * in-flight markers and counters.  Time is passed in, so no sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lookup/cache.h"

static struct cache_value
pos(const char *host)
{
	struct cache_value	v;

	memset(&v, 0, sizeof(v));
	snprintf(v.host.host, sizeof(v.host.host), "%s", host);
	return v;
}

static struct cache_value
neg(void)
{
	struct cache_value	v;

	memset(&v, 0, sizeof(v));
	v.negative = 1;
	return v;
}

static void
test_fresh_then_expired(void **state)
{
	struct cache		*c = cache_new(10, 1000, 500, 0);
	struct cache_value	 v = pos("a.example"), out;
	struct cache_stats	 st;

	(void)state;
	assert_int_equal(cache_get(c, "alice", 0, &out), CACHE_MISS);
	assert_int_equal(cache_put(c, "alice", &v, 0), 0);
	assert_int_equal(cache_get(c, "alice", 999, &out), CACHE_FRESH);
	assert_string_equal(out.host.host, "a.example");
	assert_int_equal(cache_get(c, "alice", 1000, &out), CACHE_MISS);
	cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 0);
	cache_free(&c);
	assert_null(c);
}

static void
test_negative_ttl(void **state)
{
	struct cache		*c = cache_new(10, 1000, 200, 5000);
	struct cache_value	 v = neg(), out;
	struct cache_stats	 st;

	(void)state;
	cache_put(c, "nobody", &v, 100);
	assert_int_equal(cache_get(c, "nobody", 299, &out), CACHE_FRESH);
	assert_true(out.negative);
	/* Negative answers are never served stale. */
	assert_int_equal(cache_get(c, "nobody", 300, &out), CACHE_MISS);
	cache_get_stats(c, &st);
	assert_int_equal(st.negative_hits, 1);
	cache_free(&c);
}

static void
test_stale_window(void **state)
{
	struct cache		*c = cache_new(10, 1000, 200, 5000);
	struct cache_value	 v = pos("a"), out;
	struct cache_stats	 st;

	(void)state;
	cache_put(c, "alice", &v, 0);
	assert_int_equal(cache_get(c, "alice", 1000, &out), CACHE_STALE);
	assert_string_equal(out.host.host, "a");
	cache_served_stale(c);
	assert_int_equal(cache_get(c, "alice", 5999, &out), CACHE_STALE);
	assert_int_equal(cache_get(c, "alice", 6000, &out), CACHE_MISS);
	assert_int_equal(cache_get(c, "alice", 6000, &out), CACHE_MISS);
	cache_get_stats(c, &st);
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.entries, 0);
	/* A fresh answer starts a new window. */
	v = pos("b");
	cache_put(c, "alice", &v, 7000);
	assert_int_equal(cache_get(c, "alice", 7001, &out), CACHE_FRESH);
	assert_string_equal(out.host.host, "b");
	cache_free(&c);
}

/* Soak: a reload threw the cache away, so a reload during an LDAP
 * outage failed every login.  The new cache keeps the old answers,
 * expired (LDAP decides when it can), inside the new stale window. */
static void
test_adopt(void **state)
{
	struct cache		*old = cache_new(10, 1000, 1000, 5000);
	struct cache		*c = cache_new(10, 2000, 200, 3000);
	struct cache_value	 v = pos("a"), n = neg(), out;

	(void)state;
	cache_put(old, "alice", &v, 10000);	/* fresh in old */
	v = pos("b");
	cache_put(old, "bob", &v, 6000);	/* stale in old */
	cache_put(old, "nobody", &n, 10000);	/* negative: not taken */
	v = pos("x");
	cache_put(old, "gone", &v, 1000);	/* out of any window */
	assert_int_equal(cache_adopt(c, old, 10500), 2);
	cache_free(&old);
	assert_int_equal(cache_get(c, "alice", 10500, &out), CACHE_STALE);
	assert_string_equal(out.host.host, "a");
	assert_int_equal(cache_get(c, "bob", 10500, &out), CACHE_STALE);
	assert_string_equal(out.host.host, "b");
	assert_int_equal(cache_get(c, "nobody", 10500, &out), CACHE_MISS);
	assert_int_equal(cache_get(c, "gone", 10500, &out), CACHE_MISS);
	/* The new stale window, from the old answer's age: bob was stored
	 * at 6000, so 6000 + 2000 + 3000. */
	assert_int_equal(cache_get(c, "bob", 10999, &out), CACHE_STALE);
	assert_int_equal(cache_get(c, "bob", 11000, &out), CACHE_MISS);
	/* Nothing to take into a disabled cache, or too early. */
	old = cache_new(10, 0, 0, 0);
	assert_int_equal(cache_adopt(old, c, 10500), 0);
	assert_int_equal(cache_adopt(c, c, 100), 0);
	cache_free(&old);
	cache_free(&c);
}

static void
test_lru_eviction(void **state)
{
	struct cache		*c = cache_new(3, 10000, 10000, 0);
	struct cache_value	 v = pos("h"), out;
	struct cache_stats	 st;

	(void)state;
	cache_put(c, "u1", &v, 0);
	cache_put(c, "u2", &v, 0);
	cache_put(c, "u3", &v, 0);
	/* u1 used: u2 is now the least recently used. */
	assert_int_equal(cache_get(c, "u1", 1, &out), CACHE_FRESH);
	cache_put(c, "u4", &v, 2);
	assert_int_equal(cache_get(c, "u2", 3, &out), CACHE_MISS);
	assert_int_equal(cache_get(c, "u1", 3, &out), CACHE_FRESH);
	assert_int_equal(cache_get(c, "u3", 3, &out), CACHE_FRESH);
	assert_int_equal(cache_get(c, "u4", 3, &out), CACHE_FRESH);
	cache_get_stats(c, &st);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 3);
	/* Replacing does not grow. */
	cache_put(c, "u4", &v, 4);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3);
	cache_free(&c);
}

static void
test_flush(void **state)
{
	struct cache		*c = cache_new(10, 10000, 10000, 0);
	struct cache_value	 v = pos("h"), out;

	(void)state;
	cache_put(c, "u1", &v, 0);
	cache_put(c, "u2", &v, 0);
	cache_put(c, "u3", &v, 0);
	assert_int_equal(cache_flush(c, "u2"), 1);
	assert_int_equal(cache_flush(c, "u2"), 0);
	assert_int_equal(cache_get(c, "u2", 1, &out), CACHE_MISS);
	assert_int_equal(cache_get(c, "u1", 1, &out), CACHE_FRESH);
	assert_int_equal(cache_flush(c, NULL), 2);
	assert_int_equal(cache_get(c, "u1", 1, &out), CACHE_MISS);
	cache_free(&c);
}

static void
test_disabled(void **state)
{
	struct cache		*c = cache_new(10, 0, 10000, 10000);
	struct cache_value	 v = pos("h"), out;
	int			 marker;

	(void)state;
	assert_int_equal(cache_put(c, "u1", &v, 0), 0);
	assert_int_equal(cache_get(c, "u1", 1, &out), CACHE_MISS);
	/* In-flight markers work with the cache off. */
	assert_int_equal(cache_set_flight(c, "u1", &marker), 0);
	assert_ptr_equal(cache_flight(c, "u1"), &marker);
	cache_set_flight(c, "u1", NULL);
	assert_null(cache_flight(c, "u1"));
	cache_free(&c);
}

static void
test_flight_survives(void **state)
{
	struct cache		*c = cache_new(1, 10000, 10000, 0);
	struct cache_value	 v = pos("h"), out;
	int			 marker;

	(void)state;
	cache_set_flight(c, "u1", &marker);
	cache_put(c, "u1", &v, 0);
	/* Eviction and flush drop the answer, not the marker. */
	cache_put(c, "u2", &v, 1);
	assert_int_equal(cache_get(c, "u1", 2, &out), CACHE_MISS);
	assert_ptr_equal(cache_flight(c, "u1"), &marker);
	cache_flush(c, NULL);
	assert_ptr_equal(cache_flight(c, "u1"), &marker);
	assert_null(cache_flight(c, "u2"));
	cache_set_flight(c, "u1", NULL);
	cache_free(&c);
}

static void
test_many(void **state)
{
	struct cache		*c = cache_new(1000, 10000, 10000, 0);
	struct cache_value	 v, out;
	struct cache_stats	 st;
	char			 key[32];
	int			 i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "user%d", i);
		v = pos(key);
		assert_int_equal(cache_put(c, key, &v, (uint64_t)i), 0);
	}
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1000);
	assert_int_equal(st.evictions, 4000);
	assert_int_equal(cache_get(c, "user4999", 5000, &out), CACHE_FRESH);
	assert_string_equal(out.host.host, "user4999");
	assert_int_equal(cache_get(c, "user3999", 5000, &out), CACHE_MISS);
	cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_then_expired),
		cmocka_unit_test(test_negative_ttl),
		cmocka_unit_test(test_stale_window),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_flight_survives),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
