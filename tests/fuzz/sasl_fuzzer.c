/*
 * libFuzzer target for sasl: the first byte picks a mechanism, the rest
 * is a client response, fed both raw and through base64; whatever
 * decodes must re-encode and decode to the same credentials.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static int
decode(enum sasl_mech m, const char *buf, size_t len, struct sasl_creds *c)
{
	const char	*e = NULL;
	char		*v;
	int		 r;

	switch (m) {
	case SASL_PLAIN:
		r = sasl_plain_decode(buf, len, c, &e);
		break;
	case SASL_OAUTHBEARER:
		r = sasl_oauthbearer_decode(buf, len, c, &e);
		break;
	case SASL_XOAUTH2:
		r = sasl_xoauth2_decode(buf, len, c, &e);
		break;
	default:
		v = sasl_login_value(buf, len, SASL_USER_MAX, &e);
		CHECK(v != NULL || e != NULL);
		if (v != NULL)
			CHECK(strlen(v) == len);
		free(v);
		return -1;
	}
	CHECK(r == 0 || e != NULL);
	if (r == 0) {
		CHECK(c->mech == m);
		CHECK(c->user != NULL && c->secret != NULL);
		CHECK(strlen(c->user) > 0 && strlen(c->user) <= SASL_USER_MAX);
		CHECK(strlen(c->secret) > 0);
	} else
		CHECK(c->user == NULL && c->secret == NULL);
	return r;
}

static void
roundtrip(const struct sasl_creds *c)
{
	struct sasl_creds	 again = { 0 };
	char			*enc, *dec;
	size_t			 n;
	long			 dn;

	enc = sasl_encode_response(c);
	CHECK(enc != NULL);
	n = strlen(enc);
	dec = malloc(n / 4 * 3 + 1);
	CHECK(dec != NULL);
	dn = sasl_b64_decode(enc, n, dec, n / 4 * 3 + 1);
	CHECK(dn >= 0);
	CHECK(decode(c->mech, dec, (size_t)dn, &again) == 0);
	CHECK(strcmp(again.user, c->user) == 0);
	CHECK(strcmp(again.secret, c->secret) == 0);
	CHECK((again.authzid == NULL) == (c->authzid == NULL));
	if (c->authzid != NULL)
		CHECK(strcmp(again.authzid, c->authzid) == 0);
	sasl_creds_clear(&again);
	free(dec);
	sasl_wipe_free(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_creds	 c = { 0 };
	enum sasl_mech		 m;
	char			*buf, *dec, *enc;
	size_t			 len;
	long			 n;

	if (size < 1)
		return 0;
	m = (enum sasl_mech)(data[0] % SASL_MECH_COUNT);
	len = size - 1;
	/* an exact-size copy so ASan sees any read past len */
	buf = malloc(len > 0 ? len : 1);
	CHECK(buf != NULL);
	memcpy(buf, data + 1, len);

	if (decode(m, buf, len, &c) == 0) {
		roundtrip(&c);
		sasl_creds_clear(&c);
	}
	/* the same bytes as base64 text */
	dec = malloc(len / 4 * 3 + 1);
	CHECK(dec != NULL);
	n = sasl_b64_decode(buf, len, dec, len / 4 * 3 + 1);
	if (n >= 0) {
		CHECK((size_t)n <= len / 4 * 3);
		enc = malloc(len + 1);
		CHECK(enc != NULL);
		/* strict base64 is canonical: it encodes back the same */
		CHECK(sasl_b64_encode(dec, (size_t)n, enc, len + 1) ==
		    (long)len);
		CHECK(memcmp(enc, buf, len) == 0);
		free(enc);
		if (decode(m, dec, (size_t)n, &c) == 0) {
			roundtrip(&c);
			sasl_creds_clear(&c);
		}
	}
	free(dec);
	free(buf);
	return 0;
}
