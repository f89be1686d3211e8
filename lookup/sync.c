/*
 * The directory follower; see sync.h.  Message handling after OpenLDAP's
 * libraries/libldap/ldap_sync.c, but driven by ldap_conn's zero-timeout
 * ldap_result() loop instead of ldap_sync_init(), which blocks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include <ldap.h>

#include "lookup/ldap_conn.h"
#include "lookup/sync.h"
#include "lookup/syncproto.h"
#include "lookup/userkeys.h"
#include "src/conf.h"
#include "src/log.h"
#include "src/util.h"
#include "src/xmalloc.h"

#define SYNC_KEYS_MAX	32	/* login key values kept per entry */
#define SYNC_RETRY_MS	5000	/* after a refused or ended search */
#define DEFAULT_POLL_MS	30000
#define TIMESTAMP_MAX	32

enum sync_mode {
	MODE_PERSIST,
	MODE_POLL,
};

struct sync_rec {
	struct sync_rec	*next;			/* hash chain */
	unsigned char	 uuid[SYNC_UUID_LEN];
	unsigned int	 gen;		/* search that last saw it */
	char		*dn;
	char		*host;
	char		*keys[SYNC_KEYS_MAX];	/* "u..." or "n..." */
	size_t		 nkeys;
};

struct sync {
	struct event_base	*base;
	const struct conf_ldap	*conf;
	struct ldap_conn	*conn;
	LDAP			*ld;		/* while bound */
	sync_change_cb		*cb;
	void			*arg;
	struct userkeys		 uk;
	const char		*attrs[USERKEYS_MAX + 4];
	enum sync_mode		 mode;
	int			 msgid;		/* -1: no search */
	int			 full;	/* poll: a full listing */
	int			 loaded;
	unsigned int		 gen;
	unsigned int		 polls;
	struct sync_cookie	 cookie;
	char			 since[TIMESTAMP_MAX];
	char			 newest[TIMESTAMP_MAX];
	struct event		*timer;
	struct sync_rec		**buckets;
	size_t			 nbuckets;
	size_t			 nrecs;
	uint64_t		 changes;
	uint64_t		 reconnects;
};

/* What one search entry says. */
struct sync_seen {
	const char	*dn;
	char		*host;		/* NULL: no attribute */
	char		*keys[SYNC_KEYS_MAX];
	size_t		 nkeys;
};

static void	sync_start(struct sync *);

static const char *
mode_name(const struct sync *sy)
{
	return sy->mode == MODE_PERSIST ? "sync" : "poll";
}

static size_t
uuid_hash(const unsigned char *u, size_t n)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < SYNC_UUID_LEN; i++)
		h = (h ^ u[i]) * 16777619u;
	return h % n;
}

static struct sync_rec **
rec_slot(struct sync *sy, const unsigned char *uuid)
{
	struct sync_rec	**rp;

	rp = &sy->buckets[uuid_hash(uuid, sy->nbuckets)];
	while (*rp != NULL && memcmp((*rp)->uuid, uuid, SYNC_UUID_LEN) != 0)
		rp = &(*rp)->next;
	return rp;
}

static void
rec_grow(struct sync *sy)
{
	struct sync_rec	**old = sy->buckets, *r, *next;
	size_t		  n = sy->nbuckets, i, h;

	sy->nbuckets = n * 4;
	sy->buckets = xcalloc(sy->nbuckets, sizeof(*sy->buckets));
	for (i = 0; i < n; i++)
		for (r = old[i]; r != NULL; r = next) {
			next = r->next;
			h = uuid_hash(r->uuid, sy->nbuckets);
			r->next = sy->buckets[h];
			sy->buckets[h] = r;
		}
	free(old);
}

static void
rec_free(struct sync_rec *r)
{
	size_t	i;

	for (i = 0; i < r->nkeys; i++)
		free(r->keys[i]);
	free(r->dn);
	free(r->host);
	free(r);
}

static void
seen_free(struct sync_seen *e)
{
	size_t	i;

	for (i = 0; i < e->nkeys; i++)
		free(e->keys[i]);
	free(e->host);
	memset(e, 0, sizeof(*e));
}

static int
same_keys(const struct sync_rec *r, const struct sync_seen *e)
{
	size_t	i, j;

	if (r->nkeys != e->nkeys)
		return 0;
	for (i = 0; i < e->nkeys; i++) {
		for (j = 0; j < r->nkeys; j++)
			if (strcasecmp(e->keys[i], r->keys[j]) == 0)
				break;
		if (j == r->nkeys)
			return 0;
	}
	return 1;
}

static void
report(struct sync *sy, const char *dn, const char *old_host,
    const char *new_host, const struct sync_rec *r,
    const struct sync_seen *e)
{
	struct sync_change	 ch;
	const char		*keys[2 * SYNC_KEYS_MAX];
	size_t			 n = 0, i;

	if (!sy->loaded)
		return;
	for (i = 0; r != NULL && i < r->nkeys; i++)
		keys[n++] = r->keys[i];
	for (i = 0; e != NULL && i < e->nkeys; i++)
		keys[n++] = e->keys[i];
	memset(&ch, 0, sizeof(ch));
	ch.dn = dn;
	ch.old_host = old_host;
	ch.new_host = new_host;
	ch.keys = keys;
	ch.nkeys = n;
	ch.how = mode_name(sy);
	sy->changes++;
	sy->cb(&ch, sy->arg);
}

/* The entry is gone (or no longer has the attribute). */
static void
apply_delete(struct sync *sy, const unsigned char *uuid)
{
	struct sync_rec	**rp = rec_slot(sy, uuid), *r = *rp;

	if (r == NULL)
		return;
	*rp = r->next;
	sy->nrecs--;
	report(sy, r->dn, r->host, NULL, r, NULL);
	rec_free(r);
}

/* An entry as it is now; takes e's strings. */
static void
apply_entry(struct sync *sy, const unsigned char *uuid, struct sync_seen *e)
{
	struct sync_rec	**rp = rec_slot(sy, uuid), *r = *rp;
	size_t		  i;
	int		  changed;

	if (e->host == NULL) {
		apply_delete(sy, uuid);
		seen_free(e);
		return;
	}
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		memcpy(r->uuid, uuid, SYNC_UUID_LEN);
		*rp = r;
		if (++sy->nrecs > 2 * sy->nbuckets)
			rec_grow(sy);
		report(sy, e->dn, NULL, e->host, NULL, e);
		changed = 1;
	} else {
		changed = strcasecmp(r->host, e->host) != 0 ||
		    strcmp(r->dn, e->dn) != 0 || !same_keys(r, e);
		if (changed)
			report(sy, e->dn, r->host, e->host, r, e);
	}
	r->gen = sy->gen;
	if (!changed) {
		seen_free(e);
		return;
	}
	for (i = 0; i < r->nkeys; i++)
		free(r->keys[i]);
	free(r->host);
	free(r->dn);
	r->dn = xstrdup(e->dn);
	r->host = e->host;
	memcpy(r->keys, e->keys, sizeof(r->keys));
	r->nkeys = e->nkeys;
	e->host = NULL;
	e->nkeys = 0;
	seen_free(e);
}

static void
mark_present(struct sync *sy, const unsigned char *uuid)
{
	struct sync_rec	*r = *rec_slot(sy, uuid);

	if (r != NULL)
		r->gen = sy->gen;
}

/* End of a present phase or a full listing: what was not seen is gone. */
static void
sweep(struct sync *sy)
{
	struct sync_rec	**rp, *r;
	size_t		  i;

	for (i = 0; i < sy->nbuckets; i++) {
		rp = &sy->buckets[i];
		while ((r = *rp) != NULL) {
			if (r->gen == sy->gen) {
				rp = &r->next;
				continue;
			}
			*rp = r->next;
			sy->nrecs--;
			report(sy, r->dn, r->host, NULL, r, NULL);
			rec_free(r);
		}
	}
}

static void
set_loaded(struct sync *sy)
{
	if (sy->loaded)
		return;
	sy->loaded = 1;
	if (sy->mode == MODE_PERSIST)
		log_info("ldap: following changes (content synchronisation), "
		    "%zu entries", sy->nrecs);
	else
		log_info("ldap: following changes (polling every %dms), "
		    "%zu entries", sy->conf->poll_interval_ms, sy->nrecs);
}

static void
timer_in(struct sync *sy, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(sy->timer, &tv);
}

static int
poll_ms(const struct sync *sy)
{
	return sy->conf->poll_interval_ms > 0 ? sy->conf->poll_interval_ms :
	    DEFAULT_POLL_MS;
}

/* "5ab6b1a2-7ee4-103e-8b2f-3d1c0d6d1a2b" -> 16 bytes. */
static int
uuid_parse(const char *s, size_t len, unsigned char *out)
{
	size_t	i, n = 0;
	int	hi = -1, v;

	for (i = 0; i < len; i++) {
		if (s[i] == '-')
			continue;
		if (s[i] >= '0' && s[i] <= '9')
			v = s[i] - '0';
		else if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')
			v = (s[i] | 0x20) - 'a' + 10;
		else
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= SYNC_UUID_LEN)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	return n == SYNC_UUID_LEN && hi < 0 ? 0 : -1;
}

static char *
first_value(LDAP *ld, LDAPMessage *msg, const char *attr)
{
	struct berval	**vals;
	char		 *v = NULL;

	vals = ldap_get_values_len(ld, msg, attr);
	if (vals != NULL && vals[0] != NULL && vals[0]->bv_len > 0 &&
	    memchr(vals[0]->bv_val, '\0', vals[0]->bv_len) == NULL)
		v = xstrndup(vals[0]->bv_val, vals[0]->bv_len);
	if (vals != NULL)
		ldap_value_free_len(vals);
	return v;
}

/* Read the attributes ferry follows from an entry. */
static void
read_entry(struct sync *sy, LDAPMessage *msg, const char *dn,
    struct sync_seen *e)
{
	struct berval	**vals;
	size_t		  i, j, len;
	char		 *k;

	memset(e, 0, sizeof(*e));
	e->dn = dn;
	e->host = first_value(sy->ld, msg, sy->attrs[0]);
	for (i = 0; i < sy->uk.n; i++) {
		vals = ldap_get_values_len(sy->ld, msg, sy->uk.k[i].attr);
		for (j = 0; vals != NULL && vals[j] != NULL; j++) {
			len = vals[j]->bv_len;
			if (e->nkeys >= SYNC_KEYS_MAX || len == 0 ||
			    memchr(vals[j]->bv_val, '\0', len) != NULL)
				continue;
			k = xmalloc(len + 2);
			k[0] = sy->uk.k[i].var;
			memcpy(k + 1, vals[j]->bv_val, len);
			k[len + 1] = '\0';
			e->keys[e->nkeys++] = k;
		}
		if (vals != NULL)
			ldap_value_free_len(vals);
	}
}

static void
cookie_keep(struct sync *sy, const struct sync_cookie *c)
{
	if (c->len > 0)
		sy->cookie = *c;
}

static void
on_entry(struct sync *sy, LDAPMessage *msg)
{
	LDAPControl		**ctrls = NULL, *ctl;
	struct sync_state_ctl	  st;
	struct sync_seen	  e;
	unsigned char		  uuid[SYNC_UUID_LEN];
	char			 *dn, *v, *ts;
	int			  have = 0;

	if ((dn = ldap_get_dn(sy->ld, msg)) == NULL)
		return;
	if (ldap_get_entry_controls(sy->ld, msg, &ctrls) == LDAP_SUCCESS &&
	    (ctl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls,
	    NULL)) != NULL) {
		if (syncproto_state(&ctl->ldctl_value, &st) == -1) {
			log_warnx("ldap: %s: bad sync state control", dn);
			goto done;
		}
		cookie_keep(sy, &st.cookie);
		memcpy(uuid, st.uuid, sizeof(uuid));
		have = 1;
		if (st.state == SYNC_PRESENT) {
			mark_present(sy, uuid);
			goto done;
		}
		if (st.state == SYNC_DELETE) {
			apply_delete(sy, uuid);
			goto done;
		}
	}
	if (!have) {
		/* Polling: the operational attribute instead. */
		if ((v = first_value(sy->ld, msg, "entryUUID")) == NULL ||
		    uuid_parse(v, strlen(v), uuid) == -1) {
			log_debug("ldap: %s: no usable entryUUID", dn);
			free(v);
			goto done;
		}
		free(v);
		if ((ts = first_value(sy->ld, msg, "modifyTimestamp")) !=
		    NULL) {
			if (strlen(ts) < sizeof(sy->newest) &&
			    strcmp(ts, sy->newest) > 0)
				strcpy(sy->newest, ts);
			free(ts);
		}
	}
	read_entry(sy, msg, dn, &e);
	apply_entry(sy, uuid, &e);
done:
	if (ctrls != NULL)
		ldap_controls_free(ctrls);
	ldap_memfree(dn);
}

static void
on_info(struct sync *sy, LDAPMessage *msg)
{
	struct sync_info	 info;
	struct berval		*data = NULL;
	char			*oid = NULL;
	size_t			 i;

	if (ldap_parse_intermediate(sy->ld, msg, &oid, &data, NULL, 0) !=
	    LDAP_SUCCESS)
		return;
	if (oid == NULL || strcmp(oid, LDAP_SYNC_INFO) != 0 ||
	    data == NULL || syncproto_info(data, &info) == -1) {
		log_debug("ldap: ignoring an intermediate message");
		goto done;
	}
	cookie_keep(sy, &info.cookie);
	switch (info.kind) {
	case SYNC_INFO_NEW_COOKIE:
		break;
	case SYNC_INFO_REFRESH_PRESENT:
		sweep(sy);
		/* FALLTHROUGH */
	case SYNC_INFO_REFRESH_DELETE:
		if (info.refresh_done)
			set_loaded(sy);
		break;
	case SYNC_INFO_ID_SET:
		for (i = 0; i < info.nuuids; i++)
			if (info.refresh_deletes)
				apply_delete(sy, info.uuids[i]);
			else
				mark_present(sy, info.uuids[i]);
		break;
	}
	syncproto_info_free(&info);
done:
	ldap_memfree(oid);
	if (data != NULL)
		ber_bvfree(data);
}

static void
fall_back(struct sync *sy, const char *why)
{
	log_warnx("ldap: no content synchronisation (%s); polling every "
	    "%dms instead", why, poll_ms(sy));
	sy->mode = MODE_POLL;
	sy->polls = 0;
	sy->since[0] = '\0';
	timer_in(sy, 0);
}

static void
on_result(struct sync *sy, LDAPMessage *msg)
{
	LDAPControl		**ctrls = NULL, *ctl;
	struct sync_done_ctl	  done;
	char			 *diag = NULL;
	int			  err, rc;

	sy->msgid = -1;
	rc = ldap_parse_result(sy->ld, msg, &err, NULL, &diag, NULL, &ctrls,
	    0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	if (ctrls != NULL && (ctl = ldap_control_find(LDAP_CONTROL_SYNC_DONE,
	    ctrls, NULL)) != NULL && ctl->ldctl_value.bv_len > 0 &&
	    syncproto_done(&ctl->ldctl_value, &done) == 0)
		cookie_keep(sy, &done.cookie);
	if (sy->mode == MODE_POLL) {
		if (err == LDAP_SUCCESS) {
			if (sy->full)
				sweep(sy);
			set_loaded(sy);
			if (sy->newest[0] != '\0')
				strcpy(sy->since, sy->newest);
		} else
			log_warnx("ldap: polling for changes: %s%s%s",
			    ldap_err2string(err), diag != NULL ? ": " : "",
			    diag != NULL ? diag : "");
		timer_in(sy, poll_ms(sy));
	} else if (err == LDAP_SYNC_REFRESH_REQUIRED) {
		log_info("ldap: the server wants a full refresh");
		sy->cookie.len = 0;
		timer_in(sy, 0);
	} else if (err == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ||
	    err == LDAP_UNWILLING_TO_PERFORM || err == LDAP_PROTOCOL_ERROR ||
	    err == LDAP_INSUFFICIENT_ACCESS || err == LDAP_NOT_SUPPORTED)
		fall_back(sy, ldap_err2string(err));
	else {
		/* The server ended the persistent search; come back. */
		log_warnx("ldap: change notification ended: %s%s%s",
		    ldap_err2string(err), diag != NULL ? ": " : "",
		    diag != NULL ? diag : "");
		timer_in(sy, SYNC_RETRY_MS);
	}
	if (diag != NULL)
		ldap_memfree(diag);
	if (ctrls != NULL)
		ldap_controls_free(ctrls);
}

static void
sync_message(struct ldap *ld, struct ldapmsg *msg, void *arg)
{
	struct sync	*sy = arg;

	(void)ld;
	if (sy->msgid < 0 || ldap_msgid(msg) != sy->msgid)
		return;
	switch (ldap_msgtype(msg)) {
	case LDAP_RES_SEARCH_ENTRY:
		on_entry(sy, msg);
		break;
	case LDAP_RES_INTERMEDIATE:
		on_info(sy, msg);
		break;
	case LDAP_RES_SEARCH_RESULT:
		on_result(sy, msg);
		break;
	default:
		break;
	}
}

static int
ldap_scope(const struct conf_ldap *conf)
{
	switch (conf->scope) {
	case CONF_SCOPE_BASE:
		return LDAP_SCOPE_BASE;
	case CONF_SCOPE_ONE:
		return LDAP_SCOPE_ONELEVEL;
	default:
		return LDAP_SCOPE_SUBTREE;
	}
}

static void
start_persist(struct sync *sy)
{
	LDAPControl	 ctl, *ctrls[2];
	char		 filter[128];
	int		 rc;

	if (syncproto_request(LDAP_SYNC_REFRESH_AND_PERSIST, &sy->cookie,
	    &ctl.ldctl_value) == -1) {
		timer_in(sy, SYNC_RETRY_MS);
		return;
	}
	ctl.ldctl_oid = (char *)LDAP_CONTROL_SYNC;
	/* Critical: a server without syncprov must say no, not ignore it. */
	ctl.ldctl_iscritical = 1;
	ctrls[0] = &ctl;
	ctrls[1] = NULL;
	snprintf(filter, sizeof(filter), "(%s=*)", sy->attrs[0]);
	sy->gen++;
	rc = ldap_search_ext(sy->ld, sy->conf->base, ldap_scope(sy->conf),
	    filter, (char **)sy->attrs, 0, ctrls, NULL, NULL, 0, &sy->msgid);
	ber_memfree(ctl.ldctl_value.bv_val);
	if (rc != LDAP_SUCCESS) {
		sy->msgid = -1;
		log_warnx("ldap: change notification: %s",
		    ldap_err2string(rc));
		timer_in(sy, SYNC_RETRY_MS);
	}
}

static void
start_poll(struct sync *sy)
{
	struct timeval	tv;
	char		filter[128];
	int		rc, ms = sy->conf->timeout_ms > 0 ?
			    sy->conf->timeout_ms : 5000;

	sy->full = !sy->loaded || sy->since[0] == '\0' ||
	    ++sy->polls % SYNC_FULL_EVERY == 0;
	if (sy->full) {
		snprintf(filter, sizeof(filter), "(%s=*)", sy->attrs[0]);
		sy->gen++;
	} else
		/* Also entries that lost the attribute. */
		snprintf(filter, sizeof(filter), "(modifyTimestamp>=%s)",
		    sy->since);
	tv.tv_sec = (ms + 999) / 1000;
	tv.tv_usec = 0;
	rc = ldap_search_ext(sy->ld, sy->conf->base, ldap_scope(sy->conf),
	    filter, (char **)sy->attrs, 0, NULL, NULL, &tv, 0, &sy->msgid);
	if (rc != LDAP_SUCCESS) {
		sy->msgid = -1;
		log_warnx("ldap: polling for changes: %s",
		    ldap_err2string(rc));
		timer_in(sy, poll_ms(sy));
	}
}

static void
sync_start(struct sync *sy)
{
	if (sy->ld == NULL || sy->msgid >= 0)
		return;
	evtimer_del(sy->timer);
	if (sy->mode == MODE_PERSIST)
		start_persist(sy);
	else
		start_poll(sy);
}

static void
sync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sync_start(arg);
}

static void
sync_up(struct ldap *ld, void *arg)
{
	struct sync	*sy = arg;

	sy->ld = ld;
	sy->msgid = -1;
	sync_start(sy);
}

static void
sync_down(void *arg)
{
	struct sync	*sy = arg;

	if (sy->ld != NULL)
		sy->reconnects++;
	sy->ld = NULL;
	sy->msgid = -1;
	evtimer_del(sy->timer);
}

struct sync *
sync_new(struct event_base *base, struct evdns_base *dns,
    const struct conf_ldap *conf, sync_change_cb *cb, void *arg)
{
	static const struct ldap_conn_hooks hooks = {
		.up = sync_up,
		.down = sync_down,
		.message = sync_message,
	};
	struct sync	*sy;
	size_t		 i, n = 0;

	sy = xcalloc(1, sizeof(*sy));
	sy->base = base;
	sy->conf = conf;
	sy->cb = cb;
	sy->arg = arg;
	sy->msgid = -1;
	sy->mode = conf->follow_changes == CONF_FOLLOW_POLL ? MODE_POLL :
	    MODE_PERSIST;
	userkeys_from_filter(conf->filter, &sy->uk);
	sy->attrs[n++] = conf->attribute != NULL ? conf->attribute :
	    "mailHost";
	for (i = 0; i < sy->uk.n; i++)
		sy->attrs[n++] = sy->uk.k[i].attr;
	sy->attrs[n++] = "entryUUID";
	sy->attrs[n++] = "modifyTimestamp";
	sy->attrs[n] = NULL;
	sy->nbuckets = 64;
	sy->buckets = xcalloc(sy->nbuckets, sizeof(*sy->buckets));
	if ((sy->timer = evtimer_new(base, sync_timer_cb, sy)) == NULL)
		fatalx("sync_new: out of memory");
	sy->conn = ldap_conn_new(base, dns, conf);
	ldap_conn_set_hooks(sy->conn, &hooks, sy);
	return sy;
}

void
sync_free(struct sync **syp)
{
	struct sync	*sy = *syp;
	struct sync_rec	*r, *next;
	size_t		 i;

	if (sy == NULL)
		return;
	*syp = NULL;
	ldap_conn_free(&sy->conn);
	event_free(sy->timer);
	for (i = 0; i < sy->nbuckets; i++)
		for (r = sy->buckets[i]; r != NULL; r = next) {
			next = r->next;
			rec_free(r);
		}
	free(sy->buckets);
	free(sy);
}

int
sync_change_matches(const struct sync_change *ch, const char *login)
{
	size_t	i;

	for (i = 0; i < ch->nkeys; i++)
		if (userkeys_match(ch->keys[i][0], ch->keys[i] + 1, login))
			return 1;
	return 0;
}

void
sync_get_stats(const struct sync *sy, struct sync_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->mode = sy->ld == NULL && !sy->loaded ? "starting" :
	    sy->mode == MODE_PERSIST ? "syncrepl" : "polling";
	st->loaded = sy->loaded;
	st->entries = sy->nrecs;
	st->changes = sy->changes;
	st->reconnects = sy->reconnects;
}
