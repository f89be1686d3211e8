#!/usr/bin/env python3
"""ferry integration tests of ldap block options: scope (sub, one, base),
sasl-authzid and sasl-realm, end to end with the harness's slapd and
Dovecot servers and real clients.

    FERRYD=/path/to/ferryd python3 test_ldapopts.py [name ...]

The scope groups move u19 into ou=staff below ou=people, and u20 below
u19, before ferryd starts.  The SASL groups bind as cn=proxy (an entry
with no read access, allowed by slapd's authz-policy to act as cn=ferry),
or as a name slapd maps to cn=ferry only in the right realm, through a
relay (test_ldapops.py's Forwarder) that offers a second realm in slapd's
DIGEST-MD5 challenge: with one, libsasl2 never asks for sasl-realm.

Tests come in groups; each group starts its own servers with its own
ferry.conf.  Output as the other test files: "PASS name" / "FAIL name:
why", then "N passed, N failed".
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (FERRY_DN, LDAP_FERRY_PW, PEOPLE, SUFFIX,  # noqa: E402
                       check, run_groups)
from test_imap import expect_login_fails, wait_log  # noqa: E402
from test_ldapops import OpsHarness  # noqa: E402
from test_lookup import DIGEST  # noqa: E402

AUTHFAILED = "[AUTHENTICATIONFAILED]"
UNAVAILABLE = "[UNAVAILABLE]"
GROUPS = []
group = ferrytest.grouper(GROUPS)


def where(h, uid):
    return h.login_where(uid, h.password(uid))


def unknown_user(h, uid):
    """A LOGIN of uid must be refused exactly as one of a user LDAP does
    not have."""
    text, _ = expect_login_fails(h, uid, h.password(uid), AUTHFAILED)
    want, _ = expect_login_fails(h, "nosuchuser", "x-Pw", AUTHFAILED)
    check(text == want, "%s refused with %r, an unknown user with %r" % (
        uid, text, want))


def scopes(h, base):
    """The scopes (0 base, 1 one, 2 sub) of slapd's searches below base
    for a user (ferry's lookups) and for mailHost=* (its change feed,
    waited for)."""
    def found():
        return re.findall(r'SRCH base="%s" scope=(\d) deref=\d filter="(.*)"'
                          % re.escape(base), h.slapd_log())
    ferrytest.wait_until("change feed search", lambda: any(
        f == "(mailHost=*)" for _, f in found()), 5)
    return ({s for s, f in found() if "inetLocalMailRecipient" in f},
            {s for s, f in found() if f == "(mailHost=*)"})


# ---------------------------------------------------------------- scope

STAFF = "ou=staff," + PEOPLE
U19 = "uid=u19," + STAFF
TREE = """dn: {staff}
objectClass: organizationalUnit
ou: staff

dn: uid=u19,{people}
changetype: modrdn
newrdn: uid=u19
deleteoldrdn: 1
newsuperior: {staff}

dn: uid=u20,{people}
changetype: modrdn
newrdn: uid=u20
deleteoldrdn: 1
newsuperior: {u19}
""".format(staff=STAFF, people=PEOPLE, u19=U19)

SCOPE_ONE = {"ldif_extra": TREE, "ldap_extra": "    scope one"}
SCOPE_SUB = {"ldif_extra": TREE, "ldap_extra": "    scope sub"}
SCOPE_BASE = {"ldif_extra": TREE, "ldap_base": U19,
              "ldap_extra": "    scope base"}


@group(SCOPE_ONE)
def scope_one_children_only(h):
    """scope one, base ou=people: alice, an entry right below the base,
    logs in; u19 (in ou=staff) and u20 (below u19) are refused as unknown
    users; slapd saw lookups and the change feed with scope one."""
    check(where(h, "alice") == "A", "alice not on A")
    unknown_user(h, "u19")
    unknown_user(h, "u20")
    lookups, feed = scopes(h, PEOPLE)
    check(lookups == {"1"}, "lookup scopes %r, want one (1)" % lookups)
    check(feed == {"1"}, "change feed scopes %r, want one (1)" % feed)


@group(SCOPE_SUB)
def scope_sub_whole_subtree(h):
    """scope sub: alice, u19 and u20, at any depth below ou=people, log
    in on their servers."""
    for uid, server in (("alice", "A"), ("u19", "A"), ("u20", "B")):
        got = where(h, uid)
        check(got == server, "%s on %s, want %s" % (uid, got, server))
    lookups, feed = scopes(h, PEOPLE)
    check(lookups == {"2"} and feed == {"2"}, "scopes %r %r, want sub (2)"
          % (lookups, feed))


@group(SCOPE_BASE)
def scope_base_entry_itself(h):
    """scope base with base u19's own entry: u19 logs in; u20, whose
    entry lies below it, and alice, elsewhere, are refused as unknown
    users."""
    check(where(h, "u19") == "A", "u19 not on A")
    unknown_user(h, "u20")
    unknown_user(h, "alice")
    lookups, feed = scopes(h, U19)
    check(lookups == {"0"} and feed == {"0"}, "scopes %r %r, want base (0)"
          % (lookups, feed))


# --------------------------------------------------------- sasl-authzid

PROXY = """dn: cn=proxy,ou=services,{suffix}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: proxy
userPassword: {pw}
authzTo: dn.exact:{ferry}
""".format(suffix=SUFFIX, pw=LDAP_FERRY_PW, ferry=FERRY_DN)
ROOT = "dn:cn=admin," + SUFFIX     # cn=proxy may not act as this one


def proxy_as(authzid):
    def part(h):
        return ("    uri %s\n    sasl-mech SCRAM-SHA-1\n"
                "    sasl-authcid proxy\n    sasl-authzid %s\n"
                "    bind-password-file %s" % (
                    h.ldap_uri, authzid, h.path("ldap.secret")))
    return part


AUTHZ = {"slapd_extra": "authz-policy to\n", "ldif_extra": PROXY,
         "ldap_uri_bind": proxy_as("dn:" + FERRY_DN)}
AUTHZ_DENIED = dict(AUTHZ, ldap_uri_bind=proxy_as(ROOT))


@group(AUTHZ)
def sasl_authzid_searches_as_it(h):
    """sasl-authcid proxy, sasl-authzid dn:cn=ferry,...: cn=proxy alone
    can read no entry, yet alice and bob log in, and slapd logged the bind
    with that authorization identity."""
    r = h._ldap_cmd(["ldapsearch", "-LLL", "-Y", "SCRAM-SHA-1", "-U",
                     "proxy", "-w", LDAP_FERRY_PW, "-b", PEOPLE,
                     "(uid=alice)", "mailHost"], check=False)
    check("mailHost:" not in r.stdout, "cn=proxy itself reads alice's "
          "entry: the test proves nothing")
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "bob") == "B", "bob not on B")
    check(re.search(r'BIND authcid="proxy" authzid="dn:%s"' % re.escape(
        FERRY_DN), h.slapd_log(), re.I),
        "slapd logged no bind of proxy as %s" % FERRY_DN)


@group(AUTHZ_DENIED)
def sasl_authzid_not_allowed(h):
    """An authzid cn=proxy may not assume: slapd refuses the bind, logins
    get NO [UNAVAILABLE], and ferryd's log names the failed bind (without
    the password)."""
    expect_login_fails(h, "alice", h.password("alice"), UNAVAILABLE)
    check(wait_log(h, r"ldap: ldap://\S+: [\d.:]+: SASL SCRAM-SHA-1 bind: "
                   r"Insufficient access"),
          "ferryd's log does not name the refused SASL bind")
    check(LDAP_FERRY_PW not in h.ferry_log(), "the password in the log")
    check("SASL(-14): authorization failure" in
          h.slapd_log(), "slapd logged no authorization "
          "failure")


# ----------------------------------------------------------- sasl-realm
#
# A Cyrus SASL server (slapd) offers DIGEST-MD5 clients exactly one realm,
# and libsasl2's client then takes that one without asking: sasl-realm
# only chooses when a server offers several.  Here the relay adds a realm
# to slapd's challenge; the client's choice reaches slapd, which names
# the user NAME@REALM and maps that name in this realm only to cn=ferry.

REALM = "ferry-realm"


def ber(tag, content):
    n = len(content)
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes(
        [0x80 | len(size)]) + size) + content


def ber_split(buf):
    """The (tag, content) pairs of a run of BER elements."""
    out = []
    while buf:
        n, hl = buf[1], 2
        if n & 0x80:
            hl = 2 + (n & 0x7f)
            n = int.from_bytes(buf[2:hl], "big")
        out.append((buf[0], buf[hl:hl + n]))
        buf = buf[hl + n:]
    return out


def add_realm(h):
    """For the relay: slapd's DIGEST-MD5 challenge (an LDAPMessage whose
    bindResponse ends in serverSaslCreds with a nonce) offers REALM too."""
    def rewrite(data):
        try:
            (tag, msg), = ber_split(data)
            parts = ber_split(msg)
            resp = ber_split(parts[1][1])
            if tag != 0x30 or parts[1][0] != 0x61 or resp[-1][0] != 0x87 or \
                    b'nonce="' not in resp[-1][1]:
                return data
        except (IndexError, ValueError):
            return data     # not one whole LDAPMessage: the layer's data
        h.realms_added += 1
        resp[-1] = (0x87, b'realm="%s",' % REALM.encode() + resp[-1][1])
        parts[1] = (0x61, b"".join(ber(*x) for x in resp))
        return ber(0x30, b"".join(ber(*x) for x in parts))
    return rewrite


def realm_bind(h):
    f = h.forwarder("ldap", (h.ldap_addr, h.ldap_port))
    h.realms_added = 0
    f.rewrite = add_realm(h)
    return ("    uri %s\n    sasl-mech DIGEST-MD5\n    sasl-authcid realmuser\n"
            "    sasl-realm %s\n    bind-password-file %s" % (
                f.uri, REALM, h.path("ldap.secret")))


SASL_REALM = {"ldap_uri_bind": realm_bind, "ferryd_env": DIGEST["ferryd_env"],
              "slapd_extra": 'authz-regexp "^uid=[^,]*@%s,cn=digest-md5,'
              'cn=auth$"\n    "%s"\n' % (REALM, FERRY_DN)}


@group(SASL_REALM)
def sasl_realm_chosen(h):
    """sasl-realm picks the realm among those the server offers: the bind
    as realmuser in ferry-realm is mapped to cn=ferry (elsewhere it maps
    to cn=realmuser, which does not exist), alice logs in, and slapd's log
    names the user in that realm."""
    check(where(h, "alice") == "A", "alice not on A")
    check(h.realms_added, "the relay added no realm to a challenge")
    log = h.slapd_log()
    check(re.search(r'BIND authcid="realmuser@%s"' % REALM, log),
          "slapd logged no bind of realmuser@%s" % REALM)
    check(re.search(r'BIND dn="%s" mech=DIGEST-MD5' % re.escape(FERRY_DN),
                    log, re.I), "slapd logged no DIGEST-MD5 bind as %s" %
          FERRY_DN)


# ------------------------------------------------------------------ main

def harness(settings):
    h = OpsHarness({})
    for k, v in settings.items():
        setattr(h, k, v)
    return h


def main(argv):
    return run_groups([(lambda s=s: harness(s), tests)
                       for s, tests in GROUPS], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
