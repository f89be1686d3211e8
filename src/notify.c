/* sd_notify wrapper; see notify.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "src/notify.h"

#ifdef HAVE_SYSTEMD
static void
notify(const char *msg)
{
	/* 0 keeps NOTIFY_SOCKET: the watchdog and reloads need it later. */
	sd_notify(0, msg);
}
#else
static void
notify(const char *msg)
{
	(void)msg;
}
#endif

void
notify_ready(void)
{
	notify("READY=1");
}

void
notify_reloading(void)
{
	struct timespec	ts;
	char		msg[96];

	/* systemd 253 wants the time with RELOADING=1 (Type=notify-reload). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify(msg);
}

void
notify_stopping(void)
{
	notify("STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;
	int	n;

	n = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	notify(msg);
}

uint64_t
notify_watchdog_interval(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t	usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}

void
notify_watchdog(void)
{
	notify("WATCHDOG=1");
}
