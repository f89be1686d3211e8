/*
 * syncproto: RFC 4533 values built with liblber as a server would send
 * them, decoded; malformed ones refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <lber.h>
#include <ldap.h>

#include "lookup/syncproto.h"

static const char	UUID[SYNC_UUID_LEN] = "0123456789abcdef";
static const char	UUID2[SYNC_UUID_LEN] = "fedcba9876543210";

/* Encode with fmt (ber_printf) into out; free with ber_memfree. */
static void
encode(struct berval *out, const char *fmt, ...)
{
	BerElement	*ber = ber_alloc_t(LBER_USE_DER);
	va_list		 ap;
	int		 rc;

	assert_non_null(ber);
	va_start(ap, fmt);
	/* ber_printf has no va_list form: one or two arguments at most. */
	if (strcmp(fmt, "state") == 0) {
		int		 state = va_arg(ap, int);
		const char	*cookie = va_arg(ap, const char *);
		struct berval	 u = { SYNC_UUID_LEN, (char *)UUID };

		rc = ber_printf(ber, "{eO", (ber_int_t)state, &u);
		if (cookie != NULL)
			rc = ber_printf(ber, "s", cookie);
		rc = ber_printf(ber, "}");
	} else
		rc = -1;
	va_end(ap);
	assert_int_not_equal(rc, -1);
	assert_int_not_equal(ber_flatten2(ber, out, 1), -1);
	ber_free(ber, 1);
}

static void
test_request(void **state)
{
	struct berval		 bv;
	struct sync_cookie	 c;
	BerElement		*ber;
	ber_int_t		 mode;
	struct berval		 got;

	(void)state;
	memset(&c, 0, sizeof(c));
	memcpy(c.data, "rid=1,csn=x", 11);
	c.len = 11;
	assert_int_equal(syncproto_request(LDAP_SYNC_REFRESH_AND_PERSIST, &c,
	    &bv), 0);
	ber = ber_init(&bv);
	assert_non_null(ber);
	assert_int_not_equal(ber_scanf(ber, "{em}", &mode, &got),
	    LBER_ERROR);
	assert_int_equal(mode, LDAP_SYNC_REFRESH_AND_PERSIST);
	assert_int_equal(got.bv_len, 11);
	assert_memory_equal(got.bv_val, "rid=1,csn=x", 11);
	ber_free(ber, 1);
	ber_memfree(bv.bv_val);

	/* No cookie: just the mode. */
	assert_int_equal(syncproto_request(LDAP_SYNC_REFRESH_ONLY, NULL,
	    &bv), 0);
	assert_int_equal(bv.bv_len, 5);
	ber_memfree(bv.bv_val);
}

static void
test_state(void **state)
{
	struct berval		bv;
	struct sync_state_ctl	st;

	(void)state;
	encode(&bv, "state", LDAP_SYNC_MODIFY, "c1");
	assert_int_equal(syncproto_state(&bv, &st), 0);
	assert_int_equal(st.state, SYNC_MODIFY);
	assert_memory_equal(st.uuid, UUID, SYNC_UUID_LEN);
	assert_int_equal(st.cookie.len, 2);
	assert_memory_equal(st.cookie.data, "c1", 2);
	ber_memfree(bv.bv_val);

	encode(&bv, "state", LDAP_SYNC_DELETE, NULL);
	assert_int_equal(syncproto_state(&bv, &st), 0);
	assert_int_equal(st.state, SYNC_DELETE);
	assert_int_equal(st.cookie.len, 0);
	ber_memfree(bv.bv_val);

	/* An unknown state. */
	encode(&bv, "state", 7, NULL);
	assert_int_equal(syncproto_state(&bv, &st), -1);
	ber_memfree(bv.bv_val);
}

static void
test_state_garbage(void **state)
{
	struct berval		bv;
	struct sync_state_ctl	st;
	char			junk[] = "\x30\x05\x0a\x01\x01\x04\x02xy";

	(void)state;
	/* A two-byte UUID. */
	bv.bv_val = junk;
	bv.bv_len = sizeof(junk) - 1;
	assert_int_equal(syncproto_state(&bv, &st), -1);
	bv.bv_len = 3;
	assert_int_equal(syncproto_state(&bv, &st), -1);
}

static void
test_info_cookie_and_refresh(void **state)
{
	BerElement		*ber;
	struct berval		 bv;
	struct sync_info	 info;

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "to", LDAP_TAG_SYNC_NEW_COOKIE, "ck", (ber_len_t)2);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_info(&bv, &info), 0);
	assert_int_equal(info.kind, SYNC_INFO_NEW_COOKIE);
	assert_int_equal(info.cookie.len, 2);
	ber_memfree(bv.bv_val);

	/* refreshPresent, refreshDone FALSE, with a cookie. */
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "t{sb}", LDAP_TAG_SYNC_REFRESH_PRESENT, "c2",
	    (ber_int_t)0);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_info(&bv, &info), 0);
	assert_int_equal(info.kind, SYNC_INFO_REFRESH_PRESENT);
	assert_int_equal(info.refresh_done, 0);
	assert_int_equal(info.cookie.len, 2);
	ber_memfree(bv.bv_val);

	/* refreshDelete, empty: refreshDone defaults to TRUE. */
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "t{}", LDAP_TAG_SYNC_REFRESH_DELETE);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_info(&bv, &info), 0);
	assert_int_equal(info.kind, SYNC_INFO_REFRESH_DELETE);
	assert_int_equal(info.refresh_done, 1);
	assert_int_equal(info.cookie.len, 0);
	ber_memfree(bv.bv_val);
}

static void
test_info_id_set(void **state)
{
	BerElement		*ber;
	struct berval		 bv, set[3];
	struct sync_info	 info;

	(void)state;
	set[0].bv_val = (char *)UUID;
	set[0].bv_len = SYNC_UUID_LEN;
	set[1].bv_val = (char *)UUID2;
	set[1].bv_len = SYNC_UUID_LEN;
	set[2].bv_val = NULL;
	set[2].bv_len = 0;
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "t{b[W]}", LDAP_TAG_SYNC_ID_SET, (ber_int_t)1, set);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_info(&bv, &info), 0);
	assert_int_equal(info.kind, SYNC_INFO_ID_SET);
	assert_int_equal(info.refresh_deletes, 1);
	assert_int_equal(info.nuuids, 2);
	assert_memory_equal(info.uuids[0], UUID, SYNC_UUID_LEN);
	assert_memory_equal(info.uuids[1], UUID2, SYNC_UUID_LEN);
	syncproto_info_free(&info);
	ber_memfree(bv.bv_val);

	/* A UUID of the wrong size spoils the set. */
	set[1].bv_len = 3;
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "t{[W]}", LDAP_TAG_SYNC_ID_SET, set);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_info(&bv, &info), -1);
	assert_null(info.uuids);
	ber_memfree(bv.bv_val);
}

static void
test_done(void **state)
{
	BerElement		*ber;
	struct berval		 bv;
	struct sync_done_ctl	 done;

	(void)state;
	ber = ber_alloc_t(LBER_USE_DER);
	ber_printf(ber, "{sb}", "c9", (ber_int_t)1);
	ber_flatten2(ber, &bv, 1);
	ber_free(ber, 1);
	assert_int_equal(syncproto_done(&bv, &done), 0);
	assert_int_equal(done.cookie.len, 2);
	assert_int_equal(done.refresh_deletes, 1);
	ber_memfree(bv.bv_val);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_state_garbage),
		cmocka_unit_test(test_info_cookie_and_refresh),
		cmocka_unit_test(test_info_id_set),
		cmocka_unit_test(test_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
