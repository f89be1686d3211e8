/*
 * Where does a user live?  One asynchronous interface; behind it, LDAP.
 *
 * lookup_start() never calls back synchronously; the callback runs
 * exactly once per request unless the request is cancelled first, and
 * never after lookup_cancel().  The request handle is invalid once the
 * callback has run.
 */
#ifndef FERRY_LOOKUP_H
#define FERRY_LOOKUP_H

#include "lookup/mailhost.h"

struct event_base;
struct evdns_base;
struct conf_ldap;
struct lookup;
struct lookup_req;

enum lookup_status {
	LOOKUP_OK,		/* result->host is set */
	LOOKUP_NOTFOUND,	/* no such user, or no usable attribute */
	LOOKUP_TEMPFAIL,	/* LDAP unreachable, timed out, or erred */
};

struct lookup_result {
	enum lookup_status	 status;
	struct mailhost		 host;		/* LOOKUP_OK only */
	const char		*reason;	/* for the log, never secret */
};

typedef void	lookup_cb(const struct lookup_result *, void *arg);

/* conf must outlive the lookup service. */
struct lookup	*lookup_new(struct event_base *, struct evdns_base *,
		    const struct conf_ldap *);
void		 lookup_free(struct lookup **);
/* NULL only if memory runs out. */
struct lookup_req *lookup_start(struct lookup *, const char *user,
		    lookup_cb *, void *arg);
void		 lookup_cancel(struct lookup_req **);

#endif
