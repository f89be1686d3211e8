/*
 * SASL for the pre-auth dialogues: pure decoding of what a client sends
 * (base64, PLAIN, LOGIN, OAUTHBEARER, XOAUTH2) and encoding of what ferry
 * sends a backend.  No I/O, no logging, no libevent: testable and
 * fuzzable over bytes.
 *
 * Decoded credentials live in a struct sasl_creds owned by the caller;
 * sasl_creds_clear() wipes and frees them (the secret is a password or
 * a bearer token).
 */
#ifndef FERRY_SASL_H
#define FERRY_SASL_H

#include <stddef.h>

#define SASL_USER_MAX	255	/* authcid, authzid, user= */
#define SASL_SECRET_MAX	16384	/* a password or a bearer token (JWTs) */

enum sasl_mech {
	SASL_PLAIN,		/* RFC 4616 */
	SASL_LOGIN,		/* draft-murchison-sasl-login */
	SASL_OAUTHBEARER,	/* RFC 7628 */
	SASL_XOAUTH2,		/* Google's format */
	SASL_MECH_COUNT
};

struct sasl_creds {
	enum sasl_mech	 mech;
	char		*authzid;	/* NULL: none (act as user) */
	char		*user;		/* authcid, or the OAuth user */
	char		*secret;	/* password or bearer token */
};

/* Mechanism by name (case-insensitive); -1 if ferry does not do it. */
int		 sasl_mech_parse(const char *, enum sasl_mech *);
const char	*sasl_mech_name(enum sasl_mech);
/* 1 if the mechanism carries a bearer token rather than a password. */
int		 sasl_mech_is_oauth(enum sasl_mech);

/*
 * Strict base64 (RFC 4648 §4, padding required, no blanks).  out must
 * hold len / 4 * 3 + 1 bytes; the result is NUL-terminated (it may hold
 * NULs of its own).  Returns the decoded length or -1 if invalid.
 */
long		 sasl_b64_decode(const char *in, size_t len, char *out,
		    size_t outsz);
/* base64 of in into out (NUL-terminated); length, or -1 if too small. */
long		 sasl_b64_encode(const char *in, size_t len, char *out,
		    size_t outsz);

/*
 * Mechanism decoders over the decoded (not base64) client response.
 * 0 and creds filled, or -1 and *errstr says why (for the log; never
 * holds a secret).  creds must be zeroed or cleared before the call.
 */
int		 sasl_plain_decode(const char *, size_t, struct sasl_creds *,
		    const char **errstr);
int		 sasl_oauthbearer_decode(const char *, size_t,
		    struct sasl_creds *, const char **errstr);
int		 sasl_xoauth2_decode(const char *, size_t, struct sasl_creds *,
		    const char **errstr);
/* One LOGIN step (user name or password): a copy, or NULL and errstr. */
char		*sasl_login_value(const char *, size_t, size_t max,
		    const char **errstr);

/*
 * The backend's AUTHENTICATE payload for creds, base64-encoded,
 * allocated (free with sasl_wipe_free): PLAIN "authzid\0user\0pass",
 * OAUTHBEARER "n,a=user,\1auth=Bearer token\1\1", XOAUTH2
 * "user=user\1auth=Bearer token\1\1".  NULL on allocation failure or
 * for SASL_LOGIN (which a backend gets as PLAIN or LOGIN).
 */
char		*sasl_encode_response(const struct sasl_creds *);

void		 sasl_creds_clear(struct sasl_creds *);
/* Wipe a NUL-terminated secret and free it; NULLs the pointer. */
void		 sasl_wipe_free(char **);

#endif
