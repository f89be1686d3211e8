/*
 * Pre-auth input is wiped before libevent frees or copies it: the
 * helpers in proxy/session.c, checked on buffers whose chains are
 * memory of the test's own (evbuffer_add_reference).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/session.h"

static int	released;

static void
release(const void *data, size_t len, void *arg)
{
	released++;
}

static int
all_zero(const char *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != '\0')
			return 0;
	return 1;
}

static struct evbuffer *
two_chains(char *a, size_t alen, char *b, size_t blen)
{
	struct evbuffer	*in = evbuffer_new();

	assert_non_null(in);
	assert_int_equal(evbuffer_add_reference(in, a, alen, release, NULL),
	    0);
	assert_int_equal(evbuffer_add_reference(in, b, blen, release, NULL),
	    0);
	return in;
}

static void
test_wipe_drain(void **state)
{
	char		 a[] = "a LOGIN alice ", b[] = "secret-Pw\r\nb NOOP\r\n";
	struct evbuffer	*in;

	(void)state;
	released = 0;
	in = two_chains(a, strlen(a), b, strlen(b));
	/* Through the password and its CRLF: that much is wiped. */
	session_wipe_drain(in, strlen(a) + strlen("secret-Pw\r\n"));
	assert_true(all_zero(a, strlen(a)));
	assert_true(all_zero(b, strlen("secret-Pw\r\n")));
	assert_string_equal(b + strlen("secret-Pw\r\n"), "b NOOP\r\n");
	assert_int_equal(evbuffer_get_length(in), strlen("b NOOP\r\n"));
	assert_int_equal(released, 1);
	evbuffer_free(in);
}

static void
test_pullup(void **state)
{
	char		 a[] = "a LOGIN alice ", b[] = "secret-Pw\r\n";
	struct evbuffer	*in;
	unsigned char	*p;

	(void)state;
	released = 0;
	in = two_chains(a, strlen(a), b, strlen(b));
	p = session_pullup(in);
	assert_non_null(p);
	assert_memory_equal(p, "a LOGIN alice secret-Pw\r\n",
	    strlen("a LOGIN alice secret-Pw\r\n"));
	/* evbuffer_pullup would have copied and let go, uncleared. */
	assert_int_equal(released, 2);
	assert_true(all_zero(a, strlen(a)));
	assert_true(all_zero(b, strlen(b)));
	evbuffer_free(in);
}

static void
test_readln(void **state)
{
	char		 a[] = "AGFsaWNlAHNl", b[] = "Y3JldA==\r\nrest";
	struct evbuffer	*in;
	char		*line;
	size_t		 len = 0;

	(void)state;
	in = two_chains(a, strlen(a), b, strlen(b));
	line = session_readln(in, &len);
	assert_non_null(line);
	assert_string_equal(line, "AGFsaWNlAHNlY3JldA==");
	assert_int_equal(len, strlen(line));
	assert_true(all_zero(a, strlen(a)));
	assert_true(all_zero(b, strlen("Y3JldA==\r\n")));
	assert_null(session_readln(in, &len));	/* "rest": no end yet */
	free(line);
	evbuffer_free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wipe_drain),
		cmocka_unit_test(test_pullup),
		cmocka_unit_test(test_readln),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
