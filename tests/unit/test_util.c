/*
 * The hand-made formatting of the hot paths gives what the stdio it
 * replaced gave: sockaddr_format() and put_decimal() (src/util.c),
 * strjoin(), and log lines (src/log.c formats its common conversions
 * itself), each against snprintf().
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/log.h"
#include "src/util.h"

static void
test_put_decimal(void **state)
{
	static const uint64_t	 v[] = { 0, 7, 10, 99, 100, 65535,
	    4294967296ULL, UINT64_MAX };
	char			 out[32], ref[32];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		*put_decimal(out, v[i]) = '\0';
		snprintf(ref, sizeof(ref), "%llu", (unsigned long long)v[i]);
		assert_string_equal(out, ref);
	}
}

static void
test_sockaddr_format_v4(void **state)
{
	struct sockaddr_in	 sin;
	char			 out[64], ref[64], addr[INET_ADDRSTRLEN];
	uint32_t		 x = 12345;
	size_t			 sz;
	int			 i;

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	for (i = 0; i < 2000; i++) {
		x = x * 1103515245u + 12345u;
		sin.sin_addr.s_addr = i == 0 ? 0 : i == 1 ? 0xffffffffu : x;
		sin.sin_port = htons(i == 0 ? 0 : i == 1 ? 65535 :
		    (uint16_t)(x >> 7));
		inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
		snprintf(ref, sizeof(ref), "%s:%u", addr, ntohs(sin.sin_port));
		sockaddr_format((struct sockaddr *)&sin, out, sizeof(out));
		assert_string_equal(out, ref);
		/* Cut as snprintf() would cut it. */
		for (sz = 1; sz < 24; sz++) {
			snprintf(ref, sz, "%s:%u", addr, ntohs(sin.sin_port));
			sockaddr_format((struct sockaddr *)&sin, out, sz);
			assert_string_equal(out, ref);
		}
	}
}

static void
test_sockaddr_format_v6(void **state)
{
	struct sockaddr_in6	sin6;
	char			out[64];

	(void)state;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(993);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1",
	    &sin6.sin6_addr), 1);
	sockaddr_format((struct sockaddr *)&sin6, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::1]:993");
}

static void
test_strjoin(void **state)
{
	char	*s;
	size_t	 len = 99;

	(void)state;
	s = strjoin(&len, "ferry1 ", "AUTHENTICATE ", "PLAIN", "\r\n",
	    (char *)NULL);
	assert_non_null(s);
	assert_string_equal(s, "ferry1 AUTHENTICATE PLAIN\r\n");
	assert_int_equal(len, strlen(s));
	free(s);
	s = strjoin(&len, (char *)NULL);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	s = strjoin(NULL, "a", "", "b", (char *)NULL);
	assert_string_equal(s, "ab");
	free(s);
}

static int	capture_fds[2], capture_saved;

/* stderr into a pipe until capture_end(). */
static void
capture_begin(void)
{
	assert_int_equal(pipe(capture_fds), 0);
	capture_saved = dup(STDERR_FILENO);
	assert_true(capture_saved != -1);
	assert_true(dup2(capture_fds[1], STDERR_FILENO) != -1);
}

/* The message part of the line written meanwhile: without "HH:MM:SS.mmm
 * ferryd: " and the newline. */
static void
capture_end(char *out, size_t outsz)
{
	char	buf[8192], *msg;
	ssize_t	n;

	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	close(capture_fds[1]);
	n = read(capture_fds[0], buf, sizeof(buf) - 1);
	close(capture_fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	assert_true(n > 13 && buf[n - 1] == '\n');
	buf[n - 1] = '\0';
	msg = strstr(buf, " ferryd: ");
	assert_non_null(msg);
	snprintf(out, outsz, "%s", msg + strlen(" ferryd: "));
}

/* snprintf(), where cutting is what the test wants. */
static void	ref(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void
ref(char *buf, size_t size, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* log_info() gives what snprintf() gives (cut at 2047 bytes). */
#define CHECK_LOG(...) do {						\
	char	got_[4096], ref_[2048];					\
									\
	capture_begin();						\
	log_info(__VA_ARGS__);						\
	capture_end(got_, sizeof(got_));				\
	ref(ref_, sizeof(ref_), __VA_ARGS__);				\
	assert_string_equal(got_, ref_);				\
} while (0)

static void
test_log_format(void **state)
{
	char	long_[3000];

	(void)state;
	CHECK_LOG("session=%llu proto=%s client=%s tls=%s user=%s "
	    "backend=%s in=%llu out=%llu duration=%ss end=\"%s\"",
	    18446744073709551615ULL, "imap", "127.0.0.1:50000", "no", "u01",
	    "10.0.0.1:143", 0ULL, 12345ULL, "0.015", "client closed");
	CHECK_LOG("%d %d %d %u %u %ld %ld %zu 100%%", 0, -7, INT_MIN, 0u,
	    UINT_MAX, LONG_MIN, LONG_MAX, (size_t)SIZE_MAX);
	CHECK_LOG("no conversion at all");
	CHECK_LOG("%s|%s", "", "x");
	/* Others go to vsnprintf(). */
	CHECK_LOG("%.3f %02x %5s %s", 1.5, 10, "ab", "tail");
	memset(long_, 'x', sizeof(long_) - 1);
	long_[sizeof(long_) - 1] = '\0';
	CHECK_LOG("a %s b %d", long_, 42);
	CHECK_LOG("%.3f %s", 2.25, long_);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_decimal),
		cmocka_unit_test(test_sockaddr_format_v4),
		cmocka_unit_test(test_sockaddr_format_v6),
		cmocka_unit_test(test_strjoin),
		cmocka_unit_test(test_log_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
