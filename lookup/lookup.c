/*
 * Where does a user live: the LDAP lookup behind lookup.h.  The filter
 * comes from the configured template, the answer from ldap_conn, and the
 * mailHost value is parsed here.
 *
 * lookup_free() must not be called from inside a lookup callback.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lookup/filter.h"
#include "lookup/ldap_conn.h"
#include "lookup/lookup.h"
#include "lookup/mailhost.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/xmalloc.h"

TAILQ_HEAD(lookup_req_list, lookup_req);

struct lookup {
	struct event_base	*base;
	const struct conf_ldap	*conf;
	struct ldap_conn	*conn;
	struct lookup_req_list	 reqs;
};

struct lookup_req {
	TAILQ_ENTRY(lookup_req)	 entry;
	struct lookup		*lk;
	struct ldap_conn_search	*search;
	struct event		*early;		/* answer w/o LDAP */
	lookup_cb		*cb;
	void			*arg;
	int			 answering;	/* inside the callback */
};

static void
req_free(struct lookup_req *r)
{
	TAILQ_REMOVE(&r->lk->reqs, r, entry);
	if (r->early != NULL)
		event_free(r->early);
	free(r);
}

/* Run the callback once; the handle stays usable (cancel is a no-op). */
static void
req_answer(struct lookup_req *r, const struct lookup_result *res)
{
	r->answering = 1;
	r->cb(res, r->arg);
	req_free(r);
}

static void
lookup_early_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_req	*r = arg;
	struct lookup_result	 res;

	(void)fd;
	(void)what;
	memset(&res, 0, sizeof(res));
	res.status = LOOKUP_NOTFOUND;
	res.reason = "user name too long for the filter";
	req_answer(r, &res);
}

static void
lookup_search_cb(const struct ldap_conn_result *lr, void *arg)
{
	struct lookup_req	*r = arg;
	struct lookup_result	 res;
	const char		*errstr = NULL;
	char			 dn[256], val[256], reason[128];

	r->search = NULL;
	memset(&res, 0, sizeof(res));
	res.reason = lr->reason;
	switch (lr->status) {
	case LDAP_CONN_FOUND:
		if (mailhost_parse(lr->value, lr->len, &res.host,
		    &errstr) == 0) {
			res.status = LOOKUP_OK;
			break;
		}
		/* Broken directory data: an operator must look at it. */
		log_warnx("ldap: %s: bad %s value \"%s\": %s",
		    log_escape(lr->dn, strlen(lr->dn), dn, sizeof(dn)),
		    r->lk->conf->attribute != NULL ?
		    r->lk->conf->attribute : "mailHost",
		    log_escape(lr->value, lr->len, val, sizeof(val)),
		    errstr != NULL ? errstr : "malformed");
		memset(&res.host, 0, sizeof(res.host));
		snprintf(reason, sizeof(reason), "bad %s value",
		    r->lk->conf->attribute != NULL ?
		    r->lk->conf->attribute : "mailHost");
		res.status = LOOKUP_TEMPFAIL;
		res.reason = reason;
		break;
	case LDAP_CONN_NOTFOUND:
		res.status = LOOKUP_NOTFOUND;
		break;
	default:
		res.status = LOOKUP_TEMPFAIL;
		break;
	}
	req_answer(r, &res);
}

struct lookup *
lookup_new(struct event_base *base, struct evdns_base *dns,
    const struct conf_ldap *conf)
{
	struct lookup	*lk;

	lk = xcalloc(1, sizeof(*lk));
	lk->base = base;
	lk->conf = conf;
	TAILQ_INIT(&lk->reqs);
	lk->conn = ldap_conn_new(base, dns, conf);
	return lk;
}

void
lookup_free(struct lookup **lkp)
{
	struct lookup		*lk = *lkp;
	struct lookup_req	*r;

	if (lk == NULL)
		return;
	*lkp = NULL;
	/* Frees the searches without calling back. */
	ldap_conn_free(&lk->conn);
	while ((r = TAILQ_FIRST(&lk->reqs)) != NULL)
		req_free(r);
	free(lk);
}

struct lookup_req *
lookup_start(struct lookup *lk, const char *user, lookup_cb *cb, void *arg)
{
	struct lookup_req	*r;
	char			 filter[FILTER_MAX];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->lk = lk;
	r->cb = cb;
	r->arg = arg;
	if (filter_expand(lk->conf->filter, user, filter,
	    sizeof(filter)) == -1) {
		/* Answered on the next loop turn, never from here. */
		if ((r->early = event_new(lk->base, -1, 0, lookup_early_cb,
		    r)) == NULL) {
			free(r);
			return NULL;
		}
		event_active(r->early, EV_TIMEOUT, 0);
	} else if ((r->search = ldap_conn_search(lk->conn, filter,
	    lookup_search_cb, r)) == NULL) {
		free(r);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&lk->reqs, r, entry);
	return r;
}

void
lookup_cancel(struct lookup_req **rp)
{
	struct lookup_req	*r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	/* From inside its own callback: req_answer() frees it. */
	if (r->answering)
		return;
	ldap_conn_cancel(&r->search);
	req_free(r);
}
