/*
 * Running as the configured user.  ferryd starts as root to bind ports
 * below 1024 and read its secrets, then switches to `user` and `group`,
 * keeping only CAP_NET_BIND_SERVICE so that a reload can bind a new
 * privileged port.  Without `user`, ferryd refuses to run as root;
 * `user root` keeps root on purpose.
 */
#ifndef FERRY_PRIVDROP_H
#define FERRY_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct conf;

/* Before binding anything: is conf's user setting usable from here?
 * 0, or -1 with the reason in err. */
int	privdrop_check(const struct conf *, char *err, size_t errlen);
/* The uid and gid ferryd will run as (for the control socket's owner);
 * the current ones when no switch happens. */
void	privdrop_ids(const struct conf *, uid_t *, gid_t *);
/* Switch; 0, or -1 with the reason in err. */
int	privdrop(const struct conf *, char *err, size_t errlen);

#endif
