/*
 * imap_boundary: response boundaries in the backend's stream, with every
 * input fed whole, byte by byte, and split at every byte boundary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/imap_boundary.h"

#define MAXLEN	512

/*
 * Feed s one byte at a time and write into at[i] whether the stream is at
 * a boundary after byte i.  Returns how many boundaries there were.
 */
static size_t
reference(const char *s, size_t len, int *at)
{
	struct imap_boundary	b;
	size_t			i, n = 0;

	imap_boundary_init(&b);
	for (i = 0; i < len; i++) {
		assert_int_equal(imap_boundary_feed(&b, s + i, 1, 0), 1);
		at[i] = imap_boundary_at(&b);
		n += at[i];
	}
	return n;
}

/* The boundaries of s are exactly after the bytes listed in want. */
static void
check(const char *s, const size_t *want, size_t nwant)
{
	struct imap_boundary	b, whole;
	size_t			len = strlen(s), i, j, k, got, off;
	int			at[MAXLEN];

	assert_true(len < MAXLEN);
	assert_int_equal(reference(s, len, at), nwant);
	for (i = 0, k = 0; i < len; i++) {
		if (!at[i])
			continue;
		assert_true(k < nwant);
		assert_int_equal(i + 1, want[k]);
		k++;
	}
	imap_boundary_init(&whole);
	assert_int_equal(imap_boundary_feed(&whole, s, len, 0), len);

	/* Any split gives the same states as byte by byte. */
	for (i = 0; i <= len; i++) {
		imap_boundary_init(&b);
		assert_int_equal(imap_boundary_feed(&b, s, i, 0), i);
		if (i > 0)
			assert_int_equal(imap_boundary_at(&b), at[i - 1]);
		assert_int_equal(imap_boundary_feed(&b, s + i, len - i, 0),
		    len - i);
		assert_int_equal(b.state, whole.state);
		assert_int_equal(b.remaining, whole.remaining);
		assert_int_equal(b.count, whole.count);
		assert_int_equal(b.brace, whole.brace);
	}

	/* Stop mode, with a split at every byte, finds each boundary. */
	for (j = 0; j <= len; j++) {
		imap_boundary_init(&b);
		off = 0;
		k = 0;
		while (off < len) {
			size_t	end = off < j ? j : len;

			if (imap_boundary_at(&b))
				got = imap_boundary_feed(&b, s + off, 1, 0);
			else
				got = imap_boundary_feed(&b, s + off,
				    end - off, 1);
			assert_true(got > 0);
			off += got;
			if (imap_boundary_at(&b)) {
				assert_true(k < nwant);
				assert_int_equal(off, want[k]);
				k++;
			}
		}
		assert_int_equal(k, nwant);
	}
}

static void
test_lines(void **state)
{
	static const size_t	w1[] = { 9, 23 };
	static const size_t	w2[] = { 1, 2, 4 };

	(void)state;
	check("* OK hi\r\n* 3 EXISTS x\r\n", w1, 2);
	check("\n\n\r\n", w2, 3);
	check("* OK no end", NULL, 0);
}

static void
test_literal(void **state)
{
	/* The CRLF inside the literal is no boundary. */
	static const size_t	w1[] = { 32 };
	static const size_t	w2[] = { 34, 45 };
	static const size_t	w3[] = { 18 };

	(void)state;
	check("* 1 FETCH (BODY[] {6}\r\nab\r\ncd)\r\n", w1, 1);
	check("* 1 FETCH (BODY[] {9}\r\n{3}\r\nabc)\r\na OK done\r\n", w2, 2);
	check("* 1 X {0}\r\n more\r\n", w3, 1);
}

static void
test_literal_shapes(void **state)
{
	static const size_t	w1[] = { 15, 17 };
	static const size_t	w2[] = { 12 };
	static const size_t	w3[] = { 12 };
	static const size_t	w4[] = { 16, 17 };
	static const size_t	w5[] = { 11, 12 };

	(void)state;
	/* LITERAL+ form and a bare LF after the brace. */
	check("* X {2+}\r\nab)\r\n\r\n", w1, 2);
	check("* X {2}\nab\r\n", w2, 1);
	/* Not literals: no digits, text after the brace, a sign. */
	check("* OK {abc}\r\n", w3, 1);
	check("* OK {5} later\r\n\n", w4, 2);
	check("* OK {+5}\r\n\n", w5, 2);
}

static void
test_huge_count(void **state)
{
	struct imap_boundary	 b;
	const char		*s = "* X {99999999999999999999999999}\r\n";

	(void)state;
	imap_boundary_init(&b);
	assert_int_equal(imap_boundary_feed(&b, s, strlen(s), 0), strlen(s));
	assert_int_equal(b.state, IMAPB_IN_LITERAL);
	assert_true(b.remaining > (uint64_t)1 << 50);
	/* Still in it after a megabyte. */
	{
		static char	junk[1 << 20];

		memset(junk, '\n', sizeof(junk));
		assert_int_equal(imap_boundary_feed(&b, junk, sizeof(junk),
		    1), sizeof(junk));
		assert_false(imap_boundary_at(&b));
	}
}

static void
test_stop_at_start(void **state)
{
	struct imap_boundary	b;

	(void)state;
	imap_boundary_init(&b);
	assert_true(imap_boundary_at(&b));
	assert_int_equal(imap_boundary_feed(&b, "* OK\r\n", 6, 1), 0);
	assert_int_equal(imap_boundary_feed(&b, "* OK\r\n", 6, 0), 6);
	assert_int_equal(imap_boundary_feed(&b, "* OK", 4, 0), 4);
	assert_false(imap_boundary_at(&b));
	assert_int_equal(imap_boundary_feed(&b, "\r\n* B\r\n", 7, 1), 2);
	assert_true(imap_boundary_at(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_literal_shapes),
		cmocka_unit_test(test_huge_count),
		cmocka_unit_test(test_stop_at_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
