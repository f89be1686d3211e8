/*
 * RFC 4533 messages; see syncproto.h.  The decoders read from liblber's
 * copy of the value (ber_init) and copy out what they keep.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <lber.h>
#include <ldap.h>

#include "lookup/syncproto.h"

static int
cookie_set(struct sync_cookie *c, const struct berval *bv)
{
	if (bv->bv_len > sizeof(c->data))
		return -1;
	memcpy(c->data, bv->bv_val, bv->bv_len);
	c->len = bv->bv_len;
	return 0;
}

/* An optional cookie at the current position. */
static int
maybe_cookie(BerElement *ber, struct sync_cookie *c)
{
	struct berval	bv;
	ber_len_t	len;

	if (ber_peek_tag(ber, &len) != LDAP_TAG_SYNC_COOKIE)
		return 0;
	if (ber_scanf(ber, "m", &bv) == LBER_ERROR)
		return -1;
	return cookie_set(c, &bv);
}

/* An optional BOOLEAN at the current position, else def. */
static int
maybe_bool(BerElement *ber, int def, int *out)
{
	ber_int_t	b;
	ber_len_t	len;

	*out = def;
	if (ber_peek_tag(ber, &len) != LBER_BOOLEAN)
		return 0;
	if (ber_scanf(ber, "b", &b) == LBER_ERROR)
		return -1;
	*out = b != 0;
	return 0;
}

int
syncproto_request(int mode, const struct sync_cookie *cookie,
    struct berval *out)
{
	BerElement	*ber;
	struct berval	 bv;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if ((ber = ber_alloc_t(LBER_USE_DER)) == NULL)
		return -1;
	rc = ber_printf(ber, "{e", (ber_int_t)mode);
	if (rc != -1 && cookie != NULL && cookie->len > 0) {
		bv.bv_val = (char *)cookie->data;
		bv.bv_len = cookie->len;
		rc = ber_printf(ber, "O", &bv);
	}
	if (rc != -1)
		rc = ber_printf(ber, "}");
	if (rc != -1)
		rc = ber_flatten2(ber, out, 1);
	ber_free(ber, 1);
	return rc == -1 ? -1 : 0;
}

int
syncproto_state(const struct berval *val, struct sync_state_ctl *st)
{
	BerElement		*ber;
	struct berval		 uuid;
	ber_int_t		 state;

	int			 rc = -1;

	memset(st, 0, sizeof(*st));
	if ((ber = ber_init((struct berval *)val)) == NULL)
		return -1;
	if (ber_scanf(ber, "{em", &state, &uuid) != LBER_ERROR &&
	    state >= SYNC_PRESENT && state <= SYNC_DELETE &&
	    uuid.bv_len == SYNC_UUID_LEN) {
		st->state = (enum sync_entry_state)state;
		memcpy(st->uuid, uuid.bv_val, SYNC_UUID_LEN);
		rc = maybe_cookie(ber, &st->cookie);
	}
	ber_free(ber, 1);
	return rc;
}

static int
id_set(BerElement *ber, struct sync_info *info)
{
	BerVarray	 set = NULL;
	size_t		 i, n;

	if (maybe_cookie(ber, &info->cookie) == -1 ||
	    maybe_bool(ber, 0, &info->refresh_deletes) == -1)
		return -1;
	if (ber_scanf(ber, "[W]", &set) == LBER_ERROR)
		return -1;
	for (n = 0; set != NULL && set[n].bv_val != NULL; n++)
		if (set[n].bv_len != SYNC_UUID_LEN) {
			ber_bvarray_free(set);
			return -1;
		}
	if (n > 0 && (info->uuids = calloc(n, SYNC_UUID_LEN)) == NULL) {
		ber_bvarray_free(set);
		return -1;
	}
	for (i = 0; i < n; i++)
		memcpy(info->uuids[i], set[i].bv_val, SYNC_UUID_LEN);
	info->nuuids = n;
	ber_bvarray_free(set);
	return 0;
}

int
syncproto_info(const struct berval *val, struct sync_info *info)
{
	BerElement		*ber;
	struct berval		 bv;
	ber_tag_t		 tag;
	ber_len_t		 len;

	int			 rc = -1;

	memset(info, 0, sizeof(*info));
	if ((ber = ber_init((struct berval *)val)) == NULL)
		return -1;
	tag = ber_peek_tag(ber, &len);
	switch (tag) {
	case LDAP_TAG_SYNC_NEW_COOKIE:
		info->kind = SYNC_INFO_NEW_COOKIE;
		if (ber_scanf(ber, "m", &bv) != LBER_ERROR)
			rc = cookie_set(&info->cookie, &bv);
		break;
	case LDAP_TAG_SYNC_REFRESH_DELETE:
	case LDAP_TAG_SYNC_REFRESH_PRESENT:
		info->kind = tag == LDAP_TAG_SYNC_REFRESH_DELETE ?
		    SYNC_INFO_REFRESH_DELETE : SYNC_INFO_REFRESH_PRESENT;
		if (ber_scanf(ber, "{") != LBER_ERROR &&
		    maybe_cookie(ber, &info->cookie) == 0 &&
		    maybe_bool(ber, 1, &info->refresh_done) == 0)
			rc = 0;
		break;
	case LDAP_TAG_SYNC_ID_SET:
		info->kind = SYNC_INFO_ID_SET;
		if (ber_scanf(ber, "{") != LBER_ERROR)
			rc = id_set(ber, info);
		if (rc == -1)
			syncproto_info_free(info);
		break;
	default:
		break;
	}
	ber_free(ber, 1);
	return rc;
}

void
syncproto_info_free(struct sync_info *info)
{
	free(info->uuids);
	info->uuids = NULL;
	info->nuuids = 0;
}

int
syncproto_done(const struct berval *val, struct sync_done_ctl *done)
{
	BerElement		*ber;

	int			 rc = -1;

	memset(done, 0, sizeof(*done));
	if ((ber = ber_init((struct berval *)val)) == NULL)
		return -1;
	if (ber_scanf(ber, "{") != LBER_ERROR &&
	    maybe_cookie(ber, &done->cookie) == 0 &&
	    maybe_bool(ber, 0, &done->refresh_deletes) == 0)
		rc = 0;
	ber_free(ber, 1);
	return rc;
}
