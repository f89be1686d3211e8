/*
 * RFC 4533 (LDAP content synchronisation) on the wire: the Sync Request
 * control ferry sends, and the Sync State control, Sync Info message
 * and Sync Done control the server answers with.  Pure BER encoding and
 * decoding with liblber; no connection, no event loop.
 */
#ifndef FERRY_SYNCPROTO_H
#define FERRY_SYNCPROTO_H

#include <stddef.h>

#define SYNC_UUID_LEN	16
#define SYNC_COOKIE_MAX	1024	/* longer cookies are refused */

struct berval;

enum sync_entry_state {
	SYNC_PRESENT = 0,
	SYNC_ADD = 1,
	SYNC_MODIFY = 2,
	SYNC_DELETE = 3,
};

struct sync_cookie {
	size_t		len;		/* 0: none */
	char		data[SYNC_COOKIE_MAX];
};

struct sync_state_ctl {
	enum sync_entry_state	state;
	unsigned char		uuid[SYNC_UUID_LEN];
	struct sync_cookie	cookie;
};

enum sync_info_kind {
	SYNC_INFO_NEW_COOKIE,
	SYNC_INFO_REFRESH_DELETE,
	SYNC_INFO_REFRESH_PRESENT,
	SYNC_INFO_ID_SET,
};

struct sync_info {
	enum sync_info_kind	 kind;
	struct sync_cookie	 cookie;
	int			 refresh_done;	/* default 1 */
	int			 refresh_deletes; /* ID_SET: default 0 */
	unsigned char		(*uuids)[SYNC_UUID_LEN]; /* ID_SET */
	size_t			 nuuids;
};

struct sync_done_ctl {
	struct sync_cookie	cookie;
	int			refresh_deletes;
};

/*
 * Encode the Sync Request control's value (mode LDAP_SYNC_*, cookie or
 * NULL) into out; out->bv_val is malloc'd (free with ber_memfree).
 * -1 if out of memory.
 */
int	syncproto_request(int mode, const struct sync_cookie *,
	    struct berval *out);
/* Decoders: 0, or -1 on a malformed value (the message is ignored). */
int	syncproto_state(const struct berval *, struct sync_state_ctl *);
/* On success info->uuids is malloc'd (or NULL); syncproto_info_free(). */
int	syncproto_info(const struct berval *, struct sync_info *);
void	syncproto_info_free(struct sync_info *);
int	syncproto_done(const struct berval *, struct sync_done_ctl *);

#endif
