/*
 * Telling systemd how ferryd is doing (sd_notify(3)): READY, RELOADING,
 * STOPPING, STATUS and WATCHDOG.  Without libsystemd every call is a
 * no-op, and so is each one when ferryd was not started by systemd.
 */
#ifndef FERRY_NOTIFY_H
#define FERRY_NOTIFY_H

#include <stdint.h>

void		 notify_ready(void);
void		 notify_reloading(void);
void		 notify_stopping(void);
void		 notify_status(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* How often to send WATCHDOG=1, in microseconds; 0 when not asked. */
uint64_t	 notify_watchdog_interval(void);
void		 notify_watchdog(void);

#endif
