/*
 * Where does a user live: the sources behind lookup.h.  A login name
 * goes through the user-name rules, then the cache; on a miss one LDAP
 * search per user runs (a "flight"), however many logins wait for it.
 * LDAP's answer is cached and falls back to the map file and the
 * default backends; a mailHost must name a configured backend.
 *
 * Every answer reaches its caller through the request's own event on a
 * later loop turn, so callbacks never nest inside this file's loops.
 * lookup_free() must not be called from inside a lookup callback.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "lookup/cache.h"
#include "lookup/filter.h"
#include "lookup/ldap_conn.h"
#include "lookup/lookup.h"
#include "lookup/mailhost.h"
#include "lookup/mapfile.h"
#include "lookup/username.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/xmalloc.h"

#define NEG_NOUSER	1		/* cache_value.negative: */
#define NEG_NOATTR	2		/*  why there is no route */

TAILQ_HEAD(lookup_req_list, lookup_req);

enum outcome_kind {
	OUT_FOUND,
	OUT_NOUSER,
	OUT_NOATTR,
	OUT_BADNAME,		/* refused by the user-name rules */
	OUT_TEMPFAIL,
};

struct outcome {
	enum outcome_kind	 kind;
	struct cache_value	 val;		/* OUT_FOUND */
	const char		*source;
	int			 cached;
	char			 reason[128];
};

struct flight {
	struct lookup		*lk;
	struct ldap_conn_search	*search;
	struct lookup_req_list	 waiters;
	char			 key[USERNAME_MAX + 1];
};

struct lookup_req {
	TAILQ_ENTRY(lookup_req)	 entry;		/* lk->reqs */
	TAILQ_ENTRY(lookup_req)	 wentry;	/* flight->waiters */
	struct lookup		*lk;
	struct flight		*flight;
	struct event		*ev;		/* answers */
	struct outcome		 out;
	lookup_cb		*cb;
	void			*arg;
	int			 answering;	/* inside the callback */
	char			 key[USERNAME_MAX + 1];
	char			 login[USERNAME_MAX + 1];
};

struct lookup {
	struct event_base	*base;
	const struct conf	*conf;
	struct username_rules	 rules;
	struct ldap_conn	*conn;		/* NULL: no LDAP configured */
	struct cache		*cache;
	struct lookup_req_list	 reqs;
	uint64_t		 searches;
	uint64_t		 coalesced;
	uint64_t		 refused;
};

static void
req_free(struct lookup_req *r)
{
	TAILQ_REMOVE(&r->lk->reqs, r, entry);
	event_free(r->ev);
	free(r);
}

static void
flight_free(struct flight *f)
{
	cache_set_flight(f->lk->cache, f->key, NULL);
	ldap_conn_cancel(&f->search);
	free(f);
}

/* Answer r on the next loop turn with r->out. */
static void
req_post(struct lookup_req *r)
{
	event_active(r->ev, EV_TIMEOUT, 0);
}

static const char *
escaped(const char *s, char *buf, size_t len)
{
	return log_escape(s, strlen(s), buf, len);
}

/* Is mh a configured backend?  Fills res->host and res->backend. */
static int
route_check(struct lookup *lk, const struct lookup_req *r,
    const struct mailhost *mh, struct lookup_result *res)
{
	const struct conf		*conf = lk->conf;
	const struct conf_backend	*b;
	const struct conf_backend_defaults *o;
	char				 u[128], h[MAILHOST_HOST_MAX * 4 + 1];

	res->host = *mh;
	if ((b = conf_backend_find(conf, mh->host)) != NULL) {
		o = &b->opts;
		if (mh->port == 0 || mh->port == o->imap_port ||
		    mh->port == o->imaps_port || mh->port == o->pop3_port) {
			res->backend = b;
			snprintf(res->host.host, sizeof(res->host.host), "%s",
			    b->address != NULL ? b->address : b->name);
			if (mh->port == 0)
				res->host.port = (uint16_t)(o->tls ==
				    CONF_BTLS_IMPLICIT ? o->imaps_port :
				    o->imap_port);
			return 0;
		}
	}
	if (conf->lookup.allow_any_host)
		return 0;
	/* Whoever can write one attribute must not get passwords sent
	 * to a host of their choosing. */
	lk->refused++;
	log_warnx("lookup: user %s: mailHost \"%s%s%u\" is not a configured "
	    "backend; login refused", escaped(r->key, u, sizeof(u)),
	    escaped(mh->host, h, sizeof(h)), mh->port ? ":" : "",
	    mh->port ? mh->port : 0);
	return -1;
}

/* A configured default backend as a route. */
static int
default_route(struct lookup *lk, const char *name, struct mailhost *mh)
{
	const struct conf_backend	*b;

	if (name == NULL || (b = conf_backend_find(lk->conf, name)) == NULL)
		return -1;
	memset(mh, 0, sizeof(*mh));
	snprintf(mh->host, sizeof(mh->host), "%s", b->name);
	return 0;
}

static void
req_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_req	*r = arg;
	struct lookup		*lk = r->lk;
	struct outcome		*o = &r->out;
	struct lookup_result	 res;
	struct mailhost		 mh;
	const char		*dflt = NULL;

	(void)fd;
	(void)what;
	memset(&res, 0, sizeof(res));
	res.source = o->source;
	res.cached = o->cached;
	res.reason = o->reason;
	/* The map file, then a default backend, where LDAP had nothing:
	 * not for a name the rules refused (its login is empty), nor
	 * while LDAP cannot be asked (it may know the user). */
	if ((o->kind == OUT_NOUSER || o->kind == OUT_NOATTR) &&
	    lk->conf->lookup.map != NULL &&
	    mapfile_lookup(lk->conf->lookup.map, r->key, &o->val.host)) {
		o->kind = OUT_FOUND;
		o->val.login[0] = '\0';
		res.source = "map";
		res.cached = 0;
	} else if (o->kind == OUT_NOUSER || o->kind == OUT_NOATTR) {
		dflt = o->kind == OUT_NOUSER ?
		    lk->conf->lookup.not_found_backend :
		    lk->conf->lookup.no_attribute_backend;
		if (default_route(lk, dflt, &mh) == 0) {
			o->kind = OUT_FOUND;
			o->val.host = mh;
			o->val.login[0] = '\0';
			res.source = "default";
		}
	}
	switch (o->kind) {
	case OUT_FOUND:
		if (route_check(lk, r, &o->val.host, &res) == -1) {
			res.status = LOOKUP_TEMPFAIL;
			res.reason = "mailHost is not a configured backend";
			break;
		}
		res.status = LOOKUP_OK;
		res.login = o->val.login[0] != '\0' ? o->val.login : r->login;
		break;
	case OUT_NOUSER:
	case OUT_NOATTR:
	case OUT_BADNAME:
		res.status = LOOKUP_NOTFOUND;
		break;
	case OUT_TEMPFAIL:
		res.status = LOOKUP_TEMPFAIL;
		break;
	}
	r->answering = 1;
	r->cb(&res, r->arg);
	req_free(r);
}

static void
outcome_set(struct outcome *o, enum outcome_kind kind, const char *source,
    const char *reason)
{
	o->kind = kind;
	o->source = source;
	snprintf(o->reason, sizeof(o->reason), "%s", reason != NULL ?
	    reason : "");
}

/* LDAP answered the flight: cache it, then answer every waiter. */
static void
flight_search_cb(const struct ldap_conn_result *lr, void *arg)
{
	struct flight		*f = arg;
	struct lookup		*lk = f->lk;
	struct lookup_req	*r;
	struct outcome		 o;
	struct cache_value	 stale;
	const char		*errstr = NULL;
	const char		*attr = lk->conf->ldap.attribute;
	char			 dn[256], val[256];
	uint64_t		 now = now_ms();

	f->search = NULL;
	memset(&o, 0, sizeof(o));
	switch (lr->status) {
	case LDAP_CONN_FOUND:
		if (mailhost_parse(lr->value, lr->len, &o.val.host,
		    &errstr) == -1) {
			/* Broken directory data: an operator must look. */
			log_warnx("ldap: %s: bad %s value \"%s\": %s",
			    log_escape(lr->dn, strlen(lr->dn), dn, sizeof(dn)),
			    attr, log_escape(lr->value, lr->len, val,
			    sizeof(val)), errstr != NULL ? errstr :
			    "malformed");
			memset(&o.val, 0, sizeof(o.val));
			outcome_set(&o, OUT_TEMPFAIL, "ldap", "bad mailHost "
			    "value");
			break;
		}
		if (lr->login != NULL && lr->login_len > 0 &&
		    lr->login_len < sizeof(o.val.login))
			memcpy(o.val.login, lr->login, lr->login_len + 1);
		outcome_set(&o, OUT_FOUND, "ldap", lr->reason);
		cache_put(lk->cache, f->key, &o.val, now);
		break;
	case LDAP_CONN_NOTFOUND:
		o.val.negative = lr->noattr ? NEG_NOATTR : NEG_NOUSER;
		outcome_set(&o, lr->noattr ? OUT_NOATTR : OUT_NOUSER, "ldap",
		    lr->reason);
		cache_put(lk->cache, f->key, &o.val, now);
		break;
	default:
		outcome_set(&o, OUT_TEMPFAIL, "ldap", lr->reason);
		/* LDAP is away: an expired route beats no route. */
		if (cache_get(lk->cache, f->key, now, &stale) == CACHE_STALE &&
		    !stale.negative) {
			o.val = stale;
			outcome_set(&o, OUT_FOUND, "cache", "stale: LDAP "
			    "unavailable");
			o.cached = 1;
		}
		break;
	}
	while ((r = TAILQ_FIRST(&f->waiters)) != NULL) {
		TAILQ_REMOVE(&f->waiters, r, wentry);
		r->flight = NULL;
		r->out = o;
		if (o.cached)
			cache_served_stale(lk->cache);
		req_post(r);
	}
	flight_free(f);
}

static int
flight_start(struct lookup *lk, struct lookup_req *r)
{
	struct flight	*f;
	char		 filter[FILTER_MAX];

	if (filter_expand(lk->conf->ldap.filter, r->key, filter,
	    sizeof(filter)) == -1) {
		outcome_set(&r->out, OUT_NOUSER, "ldap", "user name too long "
		    "for the filter");
		req_post(r);
		return 0;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->lk = lk;
	TAILQ_INIT(&f->waiters);
	memcpy(f->key, r->key, sizeof(f->key));
	if (cache_set_flight(lk->cache, f->key, f) == -1 ||
	    (f->search = ldap_conn_search(lk->conn, filter, flight_search_cb,
	    f)) == NULL) {
		cache_set_flight(lk->cache, f->key, NULL);
		free(f);
		return -1;
	}
	lk->searches++;
	TAILQ_INSERT_TAIL(&f->waiters, r, wentry);
	r->flight = f;
	return 0;
}

static struct lookup_req *
start(struct lookup *lk, const char *user, int refresh, lookup_cb *cb,
    void *arg)
{
	struct lookup_req	*r;
	struct flight		*f;
	const char		*errstr = NULL;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->lk = lk;
	r->cb = cb;
	r->arg = arg;
	if ((r->ev = event_new(lk->base, -1, 0, req_event_cb, r)) == NULL) {
		free(r);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&lk->reqs, r, entry);
	if (username_normalize(&lk->rules, user, strlen(user), r->key,
	    sizeof(r->key), r->login, sizeof(r->login), &errstr) == -1) {
		/* Answered by the user-name rules; no source has it. */
		outcome_set(&r->out, OUT_BADNAME, "rules", errstr);
		req_post(r);
		return r;
	}
	if (!refresh) {
		switch (cache_get(lk->cache, r->key, now_ms(), &r->out.val)) {
		case CACHE_FRESH:
			outcome_set(&r->out, r->out.val.negative == 0 ?
			    OUT_FOUND : r->out.val.negative == NEG_NOATTR ?
			    OUT_NOATTR : OUT_NOUSER, "cache", "cached");
			r->out.cached = 1;
			req_post(r);
			return r;
		default:
			/* A stale answer is kept for when LDAP fails. */
			memset(&r->out.val, 0, sizeof(r->out.val));
			break;
		}
	}
	if (lk->conn == NULL) {
		outcome_set(&r->out, OUT_NOUSER, "map", "not in the map file");
		req_post(r);
		return r;
	}
	if ((f = cache_flight(lk->cache, r->key)) != NULL) {
		/* Someone is asking LDAP about this user already. */
		lk->coalesced++;
		TAILQ_INSERT_TAIL(&f->waiters, r, wentry);
		r->flight = f;
		return r;
	}
	if (flight_start(lk, r) == -1) {
		req_free(r);
		return NULL;
	}
	return r;
}

struct lookup_req *
lookup_start(struct lookup *lk, const char *user, lookup_cb *cb, void *arg)
{
	return start(lk, user, 0, cb, arg);
}

struct lookup_req *
lookup_refresh(struct lookup *lk, const char *user, lookup_cb *cb,
    void *arg)
{
	return start(lk, user, 1, cb, arg);
}

void
lookup_cancel(struct lookup_req **rp)
{
	struct lookup_req	*r = *rp;
	struct flight		*f;

	if (r == NULL)
		return;
	*rp = NULL;
	/* From inside its own callback: req_event_cb() frees it. */
	if (r->answering)
		return;
	if ((f = r->flight) != NULL) {
		TAILQ_REMOVE(&f->waiters, r, wentry);
		/* Nobody left waiting: the search goes too. */
		if (TAILQ_EMPTY(&f->waiters))
			flight_free(f);
	}
	req_free(r);
}

struct lookup *
lookup_new(struct event_base *base, struct evdns_base *dns,
    const struct conf *conf)
{
	struct lookup	*lk;

	lk = xcalloc(1, sizeof(*lk));
	lk->base = base;
	lk->conf = conf;
	TAILQ_INIT(&lk->reqs);
	lk->rules.lowercase = conf->username.lowercase;
	lk->rules.default_domain = conf->username.default_domain;
	lk->rules.delimiter = conf->username.delimiter;
	lk->rules.strip_lookup = conf->username.strip_lookup;
	lk->rules.strip_login = conf->username.strip_login;
	lk->cache = cache_new((size_t)conf->cache.size, conf->cache.ttl_ms,
	    conf->cache.negative_ttl_ms, conf->cache.stale_ms);
	if (lk->cache == NULL)
		fatalx("lookup_new: out of memory");
	/* Read, and refused if broken, by conf_load(). */
	if (conf->lookup.map != NULL)
		log_info("lookup: map file %s: %zu entries",
		    conf->lookup.map_file, mapfile_count(conf->lookup.map));
	if (conf->ldap.nuris > 0)
		lk->conn = ldap_conn_new(base, dns, &conf->ldap);
	if (conf->nbackends == 0 && !conf->lookup.allow_any_host)
		log_warnx("lookup: no backend blocks and allow-any-host is "
		    "off: every login will be refused (%s)", conf->path);
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
	while ((r = TAILQ_FIRST(&lk->reqs)) != NULL) {
		r->answering = 0;
		lookup_cancel(&r);
	}
	/* Frees any searches left without calling back. */
	ldap_conn_free(&lk->conn);
	cache_free(&lk->cache);
	free(lk);
}

size_t
lookup_adopt_cache(struct lookup *lk, const struct lookup *old)
{
	return cache_adopt(lk->cache, old->cache, now_ms());
}

size_t
lookup_flush(struct lookup *lk, const char *user)
{
	char		 key[USERNAME_MAX + 1], login[USERNAME_MAX + 1];

	if (user == NULL)
		return cache_flush(lk->cache, NULL);
	if (username_normalize(&lk->rules, user, strlen(user), key,
	    sizeof(key), login, sizeof(login), NULL) == -1)
		return 0;
	return cache_flush(lk->cache, key);
}

void
lookup_get_stats(const struct lookup *lk, struct lookup_stats *st)
{
	const struct lookup_req	*r;

	memset(st, 0, sizeof(*st));
	cache_get_stats(lk->cache, &st->cache);
	st->searches = lk->searches;
	st->coalesced = lk->coalesced;
	st->refused = lk->refused;
	TAILQ_FOREACH(r, &lk->reqs, entry)
		st->pending++;
	st->ldap_state = "none";
	st->ldap_uri = "-";
	if (lk->conn != NULL)
		st->ldap_state = ldap_conn_state(lk->conn, &st->ldap_uri);
}
