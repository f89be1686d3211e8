/* Logging to stderr or syslog; see log.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "src/log.h"
#include "src/util.h"

#define LOG_MSG_MAX	2048	/* a message, without the stamp */

static int log_to_stderr = 1;
static int log_level_verbose;

void
log_init(int foreground, int verbose)
{
	log_to_stderr = foreground;
	log_level_verbose = verbose;
	if (!foreground)
		openlog("ferryd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

int
log_verbose(void)
{
	return log_level_verbose;
}

static void	vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static size_t	format_msg(char *, size_t, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static void	vlog_errno(int, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

/* Appends n bytes of p at buf + *o, as far as size - 1 allows. */
static void
put(char *buf, size_t size, size_t *o, const char *p, size_t n)
{
	if (n > size - 1 - *o)
		n = size - 1 - *o;
	memcpy(buf + *o, p, n);
	*o += n;
}

/*
 * vsnprintf() for the conversions log lines use: %s %d %u %ld %llu %zu
 * and %%, without flags, width or precision.  Every login logs two lines,
 * which cost 7,400 instructions through vsnprintf() and a third of that
 * here (callgrind).  Returns -1 at any other conversion, having used
 * part of ap; else the length of what is in buf (cut at size - 1, size
 * > 0, and NUL-terminated).
 */
static int
simple_format(char *buf, size_t size, const char *fmt, va_list ap)
{
	const char		*p, *pct;
	char			 num[24], *e;
	size_t			 o = 0;
	unsigned long long	 v;
	long long		 sv;
	int			 neg;

	while (*fmt != '\0') {
		pct = strchrnul(fmt, '%');
		put(buf, size, &o, fmt, (size_t)(pct - fmt));
		if (*pct == '\0')
			break;
		fmt = pct + 1;
		neg = 0;
		if (*fmt == 's') {
			if ((p = va_arg(ap, const char *)) == NULL)
				p = "(null)";
			put(buf, size, &o, p, strlen(p));
			fmt++;
			continue;
		}
		if (*fmt == '%') {
			put(buf, size, &o, "%", 1);
			fmt++;
			continue;
		}
		if (*fmt == 'd' || strncmp(fmt, "ld", 2) == 0) {
			sv = *fmt == 'd' ? va_arg(ap, int) : va_arg(ap, long);
			neg = sv < 0;
			v = neg ? -(unsigned long long)sv :
			    (unsigned long long)sv;
			fmt += *fmt == 'd' ? 1 : 2;
		} else if (*fmt == 'u') {
			v = va_arg(ap, unsigned int);
			fmt++;
		} else if (strncmp(fmt, "llu", 3) == 0) {
			v = va_arg(ap, unsigned long long);
			fmt += 3;
		} else if (strncmp(fmt, "zu", 2) == 0) {
			v = va_arg(ap, size_t);
			fmt += 2;
		} else
			return -1;
		e = num;
		if (neg)
			*e++ = '-';
		e = put_decimal(e, v);
		put(buf, size, &o, num, (size_t)(e - num));
	}
	buf[o] = '\0';
	return (int)o;
}

/* The message into buf (size > 0), cut at size - 1; its length. */
static size_t
format_msg(char *buf, size_t size, const char *fmt, va_list ap)
{
	va_list	ap2;
	int	n;

	va_copy(ap2, ap);
	n = simple_format(buf, size, fmt, ap2);
	va_end(ap2);
	if (n < 0 && (n = vsnprintf(buf, size, fmt, ap)) < 0) {
		buf[0] = '\0';
		n = 0;
	}
	return (size_t)n < size ? (size_t)n : size - 1;
}

/*
 * "HH:MM:SS.mmm ferryd: message\n" in one write(2).  Every login logs at
 * info level, so the clock is formatted once a second (per thread: the
 * workers log too), not with strftime and stdio for every line.
 */
static void
vlog(int pri, const char *fmt, va_list ap)
{
	static _Thread_local time_t	 stamp_sec = -1;
	static _Thread_local char	 stamp[16];
	static const char		 tag[] = " ferryd: ";
	char				 line[16 + sizeof(tag) +
					    LOG_MSG_MAX];
	struct timespec			 ts;
	struct tm			 tm;
	size_t				 off, len;
	ssize_t				 w;
	int				 ms, saved;

	if (!log_to_stderr) {
		format_msg(line, LOG_MSG_MAX, fmt, ap);
		syslog(pri, "%s", line);
		return;
	}
	saved = errno;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != stamp_sec) {
		localtime_r(&ts.tv_sec, &tm);
		if (strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm) != 8)
			memcpy(stamp, "??:??:??", 8);
		stamp_sec = ts.tv_sec;
	}
	ms = (int)(ts.tv_nsec / 1000000);
	memcpy(line, stamp, 8);
	line[8] = '.';
	line[9] = '0' + ms / 100;
	line[10] = '0' + ms / 10 % 10;
	line[11] = '0' + ms % 10;
	memcpy(line + 12, tag, sizeof(tag) - 1);
	off = 12 + sizeof(tag) - 1;
	len = off + format_msg(line + off, LOG_MSG_MAX, fmt, ap);
	line[len++] = '\n';
	for (off = 0; off < len; off += (size_t)w) {
		if ((w = write(STDERR_FILENO, line + off, len - off)) == -1 &&
		    errno == EINTR)
			w = 0;
		else if (w <= 0)
			break;
	}
	errno = saved;
}

static void
vlog_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char	msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (saved)
		log_warnx("%s: %s", msg, strerror(saved));
	else
		log_warnx("%s", msg);
	(void)pri;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_level_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

char *
log_escape(const char *s, size_t len, char *out, size_t outsz)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 c;

	if (outsz == 0)
		return out;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	return out;
}
