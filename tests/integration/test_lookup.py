#!/usr/bin/env python3
"""ferry lookup integration tests: the cache (stale-if-error, negative
answers, one search for many logins), LDAP failover, SASL EXTERNAL over
ldapi://, backends ferry may route to, and stale routes healing.

    FERRYD=/path/to/ferryd python3 test_lookup.py [name ...]

Tests come in groups; each group starts its own servers with its own
ferry.conf.  Output as test_imap.py: "PASS name" / "FAIL name: why", then
"N passed, N failed".
"""

import concurrent.futures
import imaplib
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Harness, LoginFailed, check,  # noqa: E402
                       free_port, run_groups)
from test_imap import (expect_login_fails, login_until_ok,  # noqa: E402
                       wait_log)

UNAVAILABLE = "[UNAVAILABLE]"
AUTHFAILED = "[AUTHENTICATIONFAILED]"
GROUPS = []


group = ferrytest.grouper(GROUPS)


def backends(h):
    return "".join("backend %s { address %s  imap-port %d  down-time 10s }\n"
                   % (
        s.lower(), h.addr[s], h.port[s]) for s in ("A", "B", "hung"))


def searches(h, uid):
    """How many searches for uid slapd has logged (loglevel stats)."""
    return len(re.findall(r"SRCH base=.*filter=\"[^\"]*uid=%s\)" % uid,
                          h.slapd_log()))


def where(h, uid, password=None, timeout=10):
    return h.login_where(uid, password or h.password(uid), timeout=timeout)


# ---------------------------------------------------------------- cache

CACHED = {
    "cache": "ttl 60s  negative-ttl 60s  stale-if-error 1h  size 1000",
    "extra": backends,
    # Stale routes only exist when ferry does not follow LDAP changes.
    "ldap_extra": "    follow-changes no",
}


@group(CACHED)
def concurrent_logins_one_search(h):
    uid, n = "u05", 200
    before = searches(h, uid)

    def one(_):
        try:
            return where(h, uid, timeout=30)
        except (LoginFailed, imaplib.IMAP4.error, OSError) as e:
            return repr(e)
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        got = list(ex.map(one, range(n)))
    bad = [g for g in got if g != "A"]
    check(not bad, "%d of %d logins did not land on A: %r" % (
        len(bad), n, bad[:3]))
    time.sleep(0.5)
    k = searches(h, uid) - before
    check(k == 1, "%d concurrent logins of %s cost %d LDAP searches, "
          "want 1" % (n, uid, k))


@group(CACHED)
def unknown_user_negative_cache(h):
    uid = "nosuchuser"
    before = searches(h, uid)
    t0 = time.monotonic()
    for _ in range(100):
        expect_login_fails(h, uid, "whatever-Pw", AUTHFAILED)
    check(time.monotonic() - t0 < 60, "100 logins took longer than the "
          "negative TTL (60s)")
    k = searches(h, uid) - before
    check(k == 1, "100 logins of an unknown user cost %d searches, want 1"
          % k)


@group(CACHED)
def ldap_down_cached_users_still_log_in(h):
    # u01 (A) and u02 (B) are cached; u09 has never logged in.
    check(where(h, "u01") == "A", "u01 not on A")
    check(where(h, "u02") == "B", "u02 not on B")
    h.stop_ldap()
    try:
        check(where(h, "u01") == "A", "cached u01 not on A with LDAP down")
        check(where(h, "u02") == "B", "cached u02 not on B with LDAP down")
        expect_login_fails(h, "u09", h.password("u09"), UNAVAILABLE,
                           within=6)
    finally:
        h.start_ldap()
    # New users log in again without restarting ferryd.
    login_until_ok(h, "u09", "A", timeout=15)


@group(CACHED)
def ldap_down_stale_entries_served(h):
    # The flush makes the entry missing, not stale: then LDAP decides.
    check(where(h, "u03") == "A", "u03 not on A")
    h.stop_ldap()
    try:
        check(where(h, "u03") == "A", "u03 not served from cache")
    finally:
        h.start_ldap()


@group(CACHED)
def mailhost_not_a_backend_refused(h):
    uid = "u11"
    port = free_port("127.0.0.1", set())
    ldif = ("dn: uid=%s,ou=people,dc=example,dc=com\nchangetype: modify\n"
            "replace: mailHost\nmailHost: 127.0.0.1:%d\n" % (uid, port))
    h._ldap_cmd(["ldapmodify", "-x", "-D", "cn=admin,dc=example,dc=com",
                 "-w", "ldap-root-Pw.ad31"], input=ldif)
    try:
        expect_login_fails(h, uid, h.password(uid), UNAVAILABLE, within=6)
        m = wait_log(h, r"user %s: mailHost \"127\.0\.0\.1:%d\" is not a "
                     r"configured backend; login refused" % (uid, port))
        check(m, "no refusal line in ferryd's log")
    finally:
        h.move_user(uid, "A")


@group(CACHED)
def stale_route_heals(h):
    uid = "u07"
    check(where(h, uid) == "A", "%s not on A" % uid)   # cached: A
    h.move_user(uid, "B")
    # The move is done: A no longer knows the user.
    users = h.path("A", "users")
    with open(users) as f:
        lines = f.readlines()
    with open(users, "w") as f:
        f.writelines(l for l in lines if not l.startswith(uid + ":"))
    time.sleep(1.1)  # a new mtime for Dovecot's passwd-file
    got = where(h, uid)
    check(got == "B", "%s landed on %s after the move, want B" % (uid, got))
    m = wait_log(h, r"user=%s stale route to \S+; trying" % uid)
    check(m, "no stale-route line in ferryd's log")


@group(CACHED)
def backend_down_fails_fast(h):
    """A backend that refused a connection is marked down for its
    down-time (10s here): logins routed there fail at once, without a
    connect, even after it is back.  Last of its group: B stays marked."""
    h.stop_backend("B")
    try:
        expect_login_fails(h, "u04", h.password("u04"), UNAVAILABLE,
                           within=6)
        m = wait_log(h, r"backend %s:%d marked down for 10000ms" % (
            re.escape(h.addr["B"]), h.port["B"]))
        check(m, "no 'marked down' line for B's IMAP address in ferryd's "
              "log")
    finally:
        h.start_backend("B")
    _, dt = expect_login_fails(h, "u06", h.password("u06"), UNAVAILABLE,
                               within=2)
    check(wait_log(h, r"user=u06 login unavailable: backend marked down "
                   r"\(%s:%d\)" % (re.escape(h.addr["B"]), h.port["B"])),
          "no 'backend marked down' line for u06")
    # Other backends are not affected.
    check(where(h, "u01") == "A", "u01 did not land on A")


# -------------------------------------------------------------- failover

def dead_first(h):
    dead = free_port(h.ldap_addr, set())
    return ("    uri ldap://%s:%d ldap://%s:%d\n    bind-dn %s\n"
            "    bind-password-file %s" % (
                h.ldap_addr, dead, h.ldap_addr, h.ldap_port,
                "cn=ferry,ou=services,dc=example,dc=com",
                h.path("ldap.secret")))


FAILOVER = {"ldap_uri_bind": dead_first, "extra": backends}


@group(FAILOVER)
def first_uri_dead_second_used(h):
    for uid, want in (("alice", "A"), ("bob", "B"), ("u12", "B")):
        t0 = time.monotonic()
        got = where(h, uid)
        dt = time.monotonic() - t0
        check(got == want, "%s on %s, want %s" % (uid, got, want))
        check(dt < 2.5 * ferrytest.SLOW,
              "login took %.1fs, connect-timeout is 2s" % dt)


# ------------------------------------------------------------------ SASL

def sasl_external(h):
    return "    uri %s\n    sasl-mech EXTERNAL" % h.ldapi_uri()


SASL = {"ldap_uri_bind": sasl_external, "extra": backends}


@group(SASL)
def sasl_external_over_ldapi(h):
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "bob") == "B", "bob not on B")
    expect_login_fails(h, "nosuchuser", "x-Pw", AUTHFAILED)
    check(wait_log(h, r"ldap: connected to ldapi://"),
          "no 'connected to ldapi://' line")


def sasl_password(mech, password_file):
    """A SASL bind with a name and password as cn=ferry (slapd maps the
    name to the entry and checks its userPassword)."""
    def part(h):
        return ("    uri %s\n    sasl-mech %s\n"
                "    sasl-authcid ferry\n    bind-password-file %s" % (
                    h.ldap_uri, mech, password_file(h)))
    return part


def ldap_secret(h):
    return h.path("ldap.secret")


def wrong_secret(h):
    path = h.path("wrong.secret")
    with open(path, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write("not-the-password\n")
    return path


# Debian's slapd offers SCRAM-SHA-1, not -256; DIGEST-MD5 adds a SASL
# security layer (SSF 128): every LDAP message after the bind is wrapped.
SCRAM = {"ldap_uri_bind": sasl_password("SCRAM-SHA-1", ldap_secret),
         "extra": backends}
# The plugin's leak (tests/lsan.supp) is allocated inside libcrypto, whose
# frames ASan's fast unwinder cannot walk: without the slow one the stack
# stops before libdigestmd5 and the suppression cannot match.
DIGEST = {"ldap_uri_bind": sasl_password("DIGEST-MD5", ldap_secret),
          "extra": backends, "ferryd_env": {"ASAN_OPTIONS": ":".join(
              filter(None, [os.environ.get("ASAN_OPTIONS"),
                            "fast_unwind_on_malloc=0"]))}}
SCRAM_WRONG = {"ldap_uri_bind": sasl_password("SCRAM-SHA-1", wrong_secret),
               "extra": backends}


def sasl_bind_logged(h, mech):
    return re.search(r'BIND dn="%s" mech=%s' % (
        re.escape(ferrytest.FERRY_DN), mech), h.slapd_log(), re.I)


@group(SCRAM)
def sasl_scram_password_bind(h):
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "bob") == "B", "bob not on B")
    check(sasl_bind_logged(h, "SCRAM-SHA-1"),
          "slapd logged no SCRAM-SHA-1 bind as %s" % ferrytest.FERRY_DN)


@group(DIGEST)
def sasl_digest_security_layer(h):
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "u12") == "B", "u12 not on B")
    expect_login_fails(h, "nosuchuser", "x-Pw", AUTHFAILED)
    m = sasl_bind_logged(h, "DIGEST-MD5")
    check(m, "slapd logged no DIGEST-MD5 bind as %s" % ferrytest.FERRY_DN)
    check(re.search(r'mech=DIGEST-MD5 bind_ssf=(?!0)\d+', h.slapd_log()),
          "no SASL security layer (bind_ssf 0)")


@group(SCRAM_WRONG)
def sasl_wrong_password_unavailable(h):
    """A wrong bind password is LDAP being unusable, not the user's
    fault: UNAVAILABLE, and the log says the bind failed without the
    password."""
    expect_login_fails(h, "alice", h.password("alice"), UNAVAILABLE)
    check(wait_log(h, r"ldap: .*SASL SCRAM-SHA-1 bind: "),
          "the log does not name the failed SASL bind")
    check("not-the-password" not in h.ferry_log(), "password in the log")


# ----------------------------------------------------------- LDAP over TLS

def tls_bind(uri, ca, starttls):
    """uri and the usual simple bind, with the CA file ca(h)."""
    def part(h):
        return ("    uri %s\n    bind-dn %s\n    bind-password-file %s\n"
                "    tls-ca-file %s%s" % (
                    uri(h), ferrytest.FERRY_DN, h.path("ldap.secret"), ca(h),
                    "\n    starttls yes" if starttls else ""))
    return part


def other_ca(h):
    """A CA that did not sign slapd's certificate."""
    d = h.path("other-ca")
    os.makedirs(d, exist_ok=True)
    return ferrytest.make_ca(d, "other", "not the LDAP CA")[0]


STARTTLS = {"ldap_tls": True, "extra": backends, "ldap_uri_bind": tls_bind(
    lambda h: h.ldap_uri, lambda h: h.ldap_ca[0], True)}
LDAPS = {"ldap_tls": True, "extra": backends, "ldap_uri_bind": tls_bind(
    lambda h: h.ldaps_uri, lambda h: h.ldap_ca[0], False)}
WRONG_CA = {"ldap_tls": True, "extra": backends, "ldap_uri_bind": tls_bind(
    lambda h: h.ldaps_uri, other_ca, False)}


def tls_sessions(h):
    """slapd's log lines for TLS connections it accepted."""
    return re.findall(r"conn=\d+ fd=\d+ TLS established", h.slapd_log())


@group(STARTTLS)
def ldap_starttls(h):
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "bob") == "B", "bob not on B")
    check(re.search(r"op=\d+ STARTTLS", h.slapd_log()),
          "slapd saw no StartTLS")
    check(tls_sessions(h), "slapd logged no TLS connection")
    check(wait_log(h, r"ldap: connected to ldap://"), "no connected line")


@group(LDAPS)
def ldap_ldaps(h):
    check(where(h, "carol") == "A", "carol not on A")
    check(tls_sessions(h), "slapd logged no TLS connection")
    check(not re.search(r"STARTTLS", h.slapd_log()), "StartTLS on ldaps")
    check(wait_log(h, r"ldap: connected to ldaps://"), "no connected line")


@group(WRONG_CA)
def ldap_wrong_ca_refused(h):
    """slapd's certificate is not signed by tls-ca-file's CA: no login is
    routed by an LDAP server ferry cannot trust, and the log says why."""
    expect_login_fails(h, "alice", h.password("alice"), UNAVAILABLE)
    check(wait_log(h, r"ldap: ldaps://.*TLS: .*signed by .*other\.pem"),
          "the log does not name the TLS failure and the CA file")
    check(not re.search(r"ldap: connected to", h.ferry_log()),
          "connected to an untrusted LDAP server")


# ------------------------------------------------------------------ main

def lookup_harness(kw):
    h = Harness()
    # Many logins from one address on purpose.
    h.limits_extra = "    per-client 1000\n    client-failures 1000000"
    # Functions of the harness are called when ferry.conf is written.
    for k, v in kw.items():
        setattr(h, {"cache": "cache_conf", "extra": "ferry_extra",
                    "ldap_uri_bind": "ldap_uri_bind",
                    "ldap_extra": "ldap_extra", "ldap_tls": "ldap_tls",
                    "ferryd_env": "ferryd_env"}[k], v)
    return h


def main(argv):
    return run_groups([(lambda kw=kw: lookup_harness(kw), tests)
                       for kw, tests in GROUPS], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
