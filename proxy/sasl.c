/*
 * SASL decoding and encoding; see sasl.h.  Modelled on Dovecot's
 * src/lib-sasl mechanism files, one small function per mechanism.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/sasl.h"

static const char *const mech_names[] = {
	[SASL_PLAIN] = "PLAIN",
	[SASL_LOGIN] = "LOGIN",
	[SASL_OAUTHBEARER] = "OAUTHBEARER",
	[SASL_XOAUTH2] = "XOAUTH2",
};
_Static_assert(sizeof(mech_names) / sizeof(mech_names[0]) ==
    SASL_MECH_COUNT, "a SASL mechanism has no name");

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
sasl_mech_parse(const char *name, enum sasl_mech *mech)
{
	int	i;

	for (i = 0; i < SASL_MECH_COUNT; i++) {
		if (strcasecmp(name, mech_names[i]) == 0) {
			*mech = (enum sasl_mech)i;
			return 0;
		}
	}
	return -1;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	if ((unsigned)mech >= SASL_MECH_COUNT)
		return "unknown";
	return mech_names[mech];
}

int
sasl_mech_is_oauth(enum sasl_mech mech)
{
	return mech == SASL_OAUTHBEARER || mech == SASL_XOAUTH2;
}

static int
b64val(unsigned char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64chars, c)) == NULL)
		return -1;
	return (int)(p - b64chars);
}

long
sasl_b64_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t		 i, j, n = 0;
	int		 v[4], pad;

	if (len % 4 != 0 || outsz < len / 4 * 3 + 1)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			/* Nothing but padding may follow padding. */
			if (pad > 0 || (v[j] = b64val((unsigned char)in[i +
			    j])) == -1)
				return -1;
		}
		out[n++] = (char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (char)((v[1] & 0x0f) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (char)((v[2] & 0x03) << 6 | v[3]);
		/* Canonical form only: the bits padding drops must be 0. */
		if ((pad == 1 && (v[2] & 0x03) != 0) ||
		    (pad == 2 && (v[1] & 0x0f) != 0))
			return -1;
	}
	out[n] = '\0';
	return (long)n;
}

long
sasl_b64_encode(const char *in, size_t len, char *out, size_t outsz)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 i, n = 0;
	unsigned int		 v;

	if (outsz < (len + 2) / 3 * 4 + 1)
		return -1;
	for (i = 0; i < len; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[n++] = b64chars[v >> 18 & 0x3f];
		out[n++] = b64chars[v >> 12 & 0x3f];
		out[n++] = i + 1 < len ? b64chars[v >> 6 & 0x3f] : '=';
		out[n++] = i + 2 < len ? b64chars[v & 0x3f] : '=';
	}
	out[n] = '\0';
	return (long)n;
}

static void
wipe_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	free(s);
}

void
sasl_wipe_free(char **sp)
{
	if (*sp == NULL)
		return;
	wipe_free(*sp, strlen(*sp));
	*sp = NULL;
}

void
sasl_creds_clear(struct sasl_creds *c)
{
	free(c->authzid);
	free(c->user);
	sasl_wipe_free(&c->secret);
	c->authzid = c->user = NULL;
}

/* A name: 1..SASL_USER_MAX bytes, no controls (they end up in logs,
 * LDAP filters and backend commands). */
static int
valid_name(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > SASL_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static char *
copy(const char *s, size_t len)
{
	char	*p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static int
fill(struct sasl_creds *c, enum sasl_mech mech, const char *authzid,
    size_t azlen, const char *user, size_t ulen, const char *secret,
    size_t slen, const char **errstr)
{
	c->mech = mech;
	c->authzid = authzid != NULL ? copy(authzid, azlen) : NULL;
	c->user = copy(user, ulen);
	c->secret = copy(secret, slen);
	if ((authzid != NULL && c->authzid == NULL) || c->user == NULL ||
	    c->secret == NULL) {
		sasl_creds_clear(c);
		*errstr = "out of memory";
		return -1;
	}
	return 0;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd, no other NUL. */
int
sasl_plain_decode(const char *buf, size_t len, struct sasl_creds *c,
    const char **errstr)
{
	const char	*u, *pw, *end = buf + len;
	size_t		 azlen, ulen, pwlen;

	if ((u = memchr(buf, '\0', len)) == NULL ||
	    (pw = memchr(u + 1, '\0', (size_t)(end - u - 1))) == NULL) {
		*errstr = "PLAIN: malformed response";
		return -1;
	}
	azlen = (size_t)(u - buf);
	u++;
	ulen = (size_t)(pw - u);
	pw++;
	pwlen = (size_t)(end - pw);
	if (memchr(pw, '\0', pwlen) != NULL) {
		*errstr = "PLAIN: NUL in password";
		return -1;
	}
	if (!valid_name(u, ulen) || (azlen > 0 && !valid_name(buf, azlen))) {
		*errstr = "PLAIN: invalid user name";
		return -1;
	}
	if (pwlen == 0 || pwlen > SASL_SECRET_MAX) {
		*errstr = "PLAIN: empty or oversized password";
		return -1;
	}
	return fill(c, SASL_PLAIN, azlen > 0 ? buf : NULL, azlen, u, ulen,
	    pw, pwlen, errstr);
}

char *
sasl_login_value(const char *buf, size_t len, size_t max,
    const char **errstr)
{
	char	*p;

	if (len == 0 || len > max || memchr(buf, '\0', len) != NULL) {
		*errstr = "LOGIN: empty, oversized or NUL in value";
		return NULL;
	}
	if ((p = copy(buf, len)) == NULL)
		*errstr = "out of memory";
	return p;
}

/* "Bearer <token>" (RFC 6750 §2.1): the token's characters only. */
static int
bearer(const char *v, size_t len, const char **tok, size_t *toklen)
{
	size_t	i;

	if (len < 8 || strncasecmp(v, "Bearer ", 7) != 0)
		return -1;
	*tok = v + 7;
	*toklen = len - 7;
	if (*toklen == 0 || *toklen > SASL_SECRET_MAX)
		return -1;
	for (i = 0; i < *toklen; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-._~+/=", (*tok)[i]) == NULL || (*tok)[i] == '\0')
			return -1;
	return 0;
}

/*
 * Find key=value in a ^A-separated list ending in ^A^A; 0 with the
 * value, 1 if absent, -1 if the list is malformed.
 */
static int
kvpair(const char *p, const char *end, const char *key, const char **val,
    size_t *vlen)
{
	const char	*e;
	size_t		 klen = strlen(key);

	if (end - p < 2 || end[-1] != '\1' || end[-2] != '\1')
		return -1;
	end--;			/* the list's final ^A */
	while (p < end) {
		if ((e = memchr(p, '\1', (size_t)(end - p))) == NULL)
			return -1;
		if (e == p)
			return -1;	/* an empty pair before the end */
		if (memchr(p, '\0', (size_t)(e - p)) != NULL)
			return -1;
		if ((size_t)(e - p) > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			*val = p + klen + 1;
			*vlen = (size_t)(e - *val);
			return 0;
		}
		p = e + 1;
	}
	return 1;
}

/* RFC 7628 §3.1: gs2-header "n,a=user," then ^A kvpairs ^A^A. */
int
sasl_oauthbearer_decode(const char *buf, size_t len, struct sasl_creds *c,
    const char **errstr)
{
	const char	*p = buf, *end = buf + len, *comma, *tok, *v;
	char		 user[SASL_USER_MAX + 1];
	size_t		 ulen = 0, toklen, vlen;

	*errstr = "OAUTHBEARER: malformed response";
	/* Channel binding ("p=") is not something a proxy can honour. */
	if (len < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return -1;
	p += 2;
	if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
		return -1;
	if (comma != p) {
		if (comma - p < 3 || p[0] != 'a' || p[1] != '=')
			return -1;
		/* saslname: "=2C" is ',' and "=3D" is '=' (RFC 5801). */
		for (p += 2; p < comma; p++) {
			if (ulen == SASL_USER_MAX)
				return -1;
			if (*p == '=') {
				if (comma - p >= 3 && strncmp(p, "=2C", 3) == 0)
					user[ulen++] = ',';
				else if (comma - p >= 3 &&
				    strncmp(p, "=3D", 3) == 0)
					user[ulen++] = '=';
				else
					return -1;
				p += 2;
			} else
				user[ulen++] = *p;
		}
	}
	p = comma + 1;
	if (p >= end || *p != '\1')
		return -1;
	if (kvpair(p + 1, end, "auth", &v, &vlen) != 0)
		return -1;
	if (bearer(v, vlen, &tok, &toklen) == -1) {
		*errstr = "OAUTHBEARER: no bearer token";
		return -1;
	}
	/* ferry routes by user: the token alone names nobody it can see. */
	if (ulen == 0 || !valid_name(user, ulen)) {
		*errstr = "OAUTHBEARER: no or invalid user (a=)";
		return -1;
	}
	return fill(c, SASL_OAUTHBEARER, NULL, 0, user, ulen, tok, toklen,
	    errstr);
}

/* "user=" user ^A "auth=Bearer " token ^A ^A */
int
sasl_xoauth2_decode(const char *buf, size_t len, struct sasl_creds *c,
    const char **errstr)
{
	const char	*end = buf + len, *u, *v, *tok;
	size_t		 ulen, vlen, toklen;

	*errstr = "XOAUTH2: malformed response";
	if (kvpair(buf, end, "user", &u, &ulen) != 0 ||
	    kvpair(buf, end, "auth", &v, &vlen) != 0)
		return -1;
	if (bearer(v, vlen, &tok, &toklen) == -1) {
		*errstr = "XOAUTH2: no bearer token";
		return -1;
	}
	if (!valid_name(u, ulen)) {
		*errstr = "XOAUTH2: invalid user";
		return -1;
	}
	return fill(c, SASL_XOAUTH2, NULL, 0, u, ulen, tok, toklen, errstr);
}

/* Escape ',' and '=' for an OAUTHBEARER saslname (RFC 5801 §4). */
static size_t
saslname(const char *s, char *out)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		if (*s == ',' || *s == '=') {
			memcpy(out + n, *s == ',' ? "=2C" : "=3D", 3);
			n += 3;
		} else
			out[n++] = *s;
	}
	return n;
}

char *
sasl_encode_response(const struct sasl_creds *c)
{
	char	*raw, *out;
	size_t	 azlen, ulen = strlen(c->user), slen = strlen(c->secret);
	size_t	 n = 0, size;

	azlen = c->authzid != NULL ? strlen(c->authzid) : 0;
	size = azlen + 3 * ulen + slen + 64;
	if (c->mech == SASL_LOGIN || (raw = malloc(size)) == NULL)
		return NULL;
	switch (c->mech) {
	case SASL_PLAIN:
		memcpy(raw, c->authzid != NULL ? c->authzid : "", azlen);
		n = azlen;
		raw[n++] = '\0';
		memcpy(raw + n, c->user, ulen);
		n += ulen;
		raw[n++] = '\0';
		memcpy(raw + n, c->secret, slen);
		n += slen;
		break;
	case SASL_OAUTHBEARER:
		memcpy(raw, "n,a=", 4);
		n = 4 + saslname(c->user, raw + 4);
		memcpy(raw + n, ",\1auth=Bearer ", 14);
		n += 14;
		memcpy(raw + n, c->secret, slen);
		n += slen;
		memcpy(raw + n, "\1\1", 2);
		n += 2;
		break;
	case SASL_XOAUTH2:
		memcpy(raw, "user=", 5);
		memcpy(raw + 5, c->user, ulen);
		n = 5 + ulen;
		memcpy(raw + n, "\1auth=Bearer ", 13);
		n += 13;
		memcpy(raw + n, c->secret, slen);
		n += slen;
		memcpy(raw + n, "\1\1", 2);
		n += 2;
		break;
	default:
		break;
	}
	size = (n + 2) / 3 * 4 + 1;
	if ((out = malloc(size)) != NULL)
		sasl_b64_encode(raw, n, out, size);
	wipe_free(raw, n);
	return out;
}
