#!/usr/bin/env python3
"""ferry routing integration tests: the lookup block's map-file,
not-found-backend and no-attribute-backend, the ldap block's
login-attribute, and the user-name block (lowercase, default-domain,
domain-delimiter, strip-domain), end to end through imaplib and poplib
against the real slapd and the two Dovecot servers.

    FERRYD=/path/to/ferryd [FERRYCTL=/path/to/ferryctl] \\
        python3 test_routing.py [name ...]

Tests come in groups; each group starts its own servers with its own
ferry.conf (the user-name group switches its rules with ferryctl reload).
Output as test_lookup.py: "PASS name" / "FAIL name: why", then "N passed,
N failed".

Where a login lands is told by the welcome message each Dovecot server
holds (A or B; both servers know every user with the same password).
The name ferry searches LDAP with is read from slapd's log, the name it
logs in to the backend with from Dovecot's "Login: user=<...>" lines
(Dovecot lower-cases names, so case is checked with ferryctl lookup).
"""

import imaplib
import json
import os
import poplib
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Fail, Harness, LoginFailed, check,  # noqa: E402
                       free_port, run_groups)

AUTHFAILED = "[AUTHENTICATIONFAILED] Authentication failed."
UNAVAILABLE = "[UNAVAILABLE]"
POP_AUTH = "-ERR [AUTH]"
PEOPLE = ferrytest.PEOPLE
SERVER_RE = re.compile(rb"Welcome to server ([AB])")
GROUPS = []


group = ferrytest.grouper(GROUPS)


# ------------------------------------------------------------- harness

class RoutingHarness(Harness):
    """The harness with a plain POP3 listener too, one backend block per
    Dovecot server (named a and b), LDAP changes made before ferryd
    starts, an optional map file and an optional ferry.conf without an
    ldap block.  kw keys:

        extra     more ferry.conf text (or a function of the harness)
        ldap_extra  more lines for the ldap block
        cache     the cache block's settings (default "ttl 0")
        ldif      LDIF (or a function of the harness) for ldapmodify as
                  the root DN, applied before ferryd starts
        map       the map file's text (or a function of the harness),
                  written to map_path before ferryd starts
        no_ldap   True: ferry.conf has no ldap block
    """

    def __init__(self, kw):
        super().__init__()
        self.kw = kw
        taken = {self.ferry_port, self.ldap_port} | set(self.port.values())
        taken |= set(self.pop3_port.values())
        self.ferry_pop3_port = free_port(self.ferry_addr, taken)
        self.cache_conf = kw.get("cache", "ttl 0")
        # No change follower: every test reads LDAP afresh (ttl 0), and
        # deleted entries must not close sessions behind a test's back.
        self.ldap_extra = "    follow-changes no\n" + kw.get("ldap_extra", "")
        self.limits_extra = "    per-client 1000\n    client-failures 1000000"
        self.ferry_extra = self._extra
        self.map_path = None
        self.base_conf = None

    def _extra(self, h):
        text = "listen pop3 %s:%d starttls=off\n" % (self.ferry_addr,
                                                    self.ferry_pop3_port)
        for s in "AB":
            text += ("backend %s { address %s  imap-port %d  pop3-port %d }\n"
                     % (s.lower(), self.addr[s], self.port[s],
                        self.pop3_port[s]))
        return text + self._conf_part(self.kw.get("extra", ""))

    def _load_ldap(self):
        super()._load_ldap()
        if self.kw.get("ldif"):
            ldap_modify(self, self._conf_part(self.kw["ldif"]))

    def _setup_ferry(self):
        if self.kw.get("map") is not None:
            self.map_path = self.path("users.map")
            write_file(self.map_path, self._conf_part(self.kw["map"]))
        super()._setup_ferry()
        with open(self.ferry_conf) as f:
            text = f.read()
        if self.kw.get("no_ldap"):
            text, n = re.subn(r"\nldap \{\n.*?\n\}\n", "\n", text, flags=re.S)
            if n != 1:
                raise ferrytest.HarnessError("no ldap block in ferry.conf")
        write_file(self.ferry_conf, text)
        self.base_conf = text


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def ldap_modify(h, ldif):
    h._ldap_cmd(["ldapmodify", "-x", "-D", ferrytest.ROOT_DN, "-w",
                 ferrytest.LDAP_ROOT_PW], input=ldif)


def delete_ldif(uid):
    return "dn: uid=%s,%s\nchangetype: delete\n\n" % (uid, PEOPLE)


def no_mailhost_ldif(uid):
    return ("dn: uid=%s,%s\nchangetype: modify\ndelete: mailHost\n\n"
            % (uid, PEOPLE))


def add_values_ldif(uid, attr, *values):
    return ("dn: uid=%s,%s\nchangetype: modify\nadd: %s\n%s\n" % (
        uid, PEOPLE, attr, "".join("%s: %s\n" % (attr, v) for v in values)))


# ------------------------------------------------------------- helpers

def ferryctl_bin(h):
    return os.environ.get("FERRYCTL") or os.path.join(
        os.path.dirname(os.path.abspath(h.ferryd)), "ferryctl")


def ctl(h, *args):
    """Runs ferryctl; returns (exit status, stdout + stderr)."""
    p = subprocess.run([ferryctl_bin(h), "-s", h.control_socket, *args],
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def reload(h, want=0):
    """ferryctl reload; retried while the previous reload is still being
    applied.  Returns ferryctl's output."""
    deadline = time.monotonic() + 10
    while True:
        rc, out = ctl(h, "reload")
        if "still being applied" in out and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        check(want is None or rc == want, "ferryctl reload: exit %d, "
              "want %s: %r" % (rc, want, out))
        return out


def where(h, user, uid=None):
    """IMAP login through ferry with uid's password (default: user's);
    'A' or 'B'.  A refused login is a Fail naming the answer."""
    try:
        return h.login_where(user, h.password(uid or user))
    except LoginFailed as e:
        raise Fail("IMAP LOGIN %s refused: %s" % (user, e.text))


def pop_where(h, user, uid=None):
    """POP3 USER/PASS through ferry; 'A' or 'B' from message 1."""
    p = poplib.POP3(h.ferry_addr, h.ferry_pop3_port, timeout=10)
    try:
        p.user(user)
        try:
            p.pass_(h.password(uid or user))
        except poplib.error_proto as e:
            raise Fail("POP3 PASS for %s refused: %s" % (user, e))
        _, lines, _ = p.retr(1)
        m = SERVER_RE.search(b"\n".join(lines))
        check(m, "POP3 %s: no welcome message" % user)
        return m.group(1).decode()
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def imap_refused(h, user, password, want=AUTHFAILED):
    """An IMAP LOGIN through ferry must be refused with text starting with
    want."""
    try:
        conn = h.login(user, password, timeout=15)
    except LoginFailed as e:
        check(e.text.startswith(want), "LOGIN %s: got %r, want %r" % (
            user, e.text, want))
        return e.text
    except (imaplib.IMAP4.abort, OSError) as e:
        raise Fail("LOGIN %s: connection failed: %r" % (user, e))
    try:
        got = h.which_server(conn)
    finally:
        conn.logout()
    raise Fail("LOGIN %s succeeded (landed on %s), want %r" % (
        user, got, want))


def pop_refused(h, user, password, want=POP_AUTH):
    p = poplib.POP3(h.ferry_addr, h.ferry_pop3_port, timeout=15)
    try:
        p.user(user)
        try:
            p.pass_(password)
        except poplib.error_proto as e:
            text = e.args[0].decode("utf-8", "replace")
            check(text.startswith(want), "POP3 PASS %s: got %r, want %r" % (
                user, text, want))
            return text
        raise Fail("POP3 login of %s succeeded, want %r" % (user, want))
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Logs:
    """Offsets into ferryd's, slapd's and both Dovecot logs: what each
    has written since."""

    def __init__(self, h):
        self.h = h
        self.paths = {"ferry": h.path("ferryd.log"),
                      "slapd": h.path("ldap", "slapd.log"),
                      "A": h.path("A", "dovecot.log"),
                      "B": h.path("B", "dovecot.log")}
        self.at = {k: len(read(p)) for k, p in self.paths.items()}

    def new(self, which):
        return read(self.paths[which])[self.at[which]:]

    def wait(self, which, pattern, timeout=3.0):
        """The first match of pattern in which's new text, waiting up to
        timeout; None if none."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.new(which))
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def searches(self, attr):
        """The values ferry searched attr= for under ou=people, in order
        (slapd's SRCH lines)."""
        return re.findall(r'SRCH base="%s" .*filter=".*\b%s=([^)]*)\)' % (
            re.escape(PEOPLE), attr), self.new("slapd"), re.I)

    def backend_logins(self, server, n=1, timeout=3.0):
        """The user names Dovecot server logged in since (its
        "Login: user=<...>" lines), waiting for n of them."""
        rx = re.compile(r"imap-login: Info: Login: user=<([^>]*)>|"
                        r"pop3-login: Info: Login: user=<([^>]*)>")
        deadline = time.monotonic() + timeout
        while True:
            got = [a or b for a, b in rx.findall(self.new(server))]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def lands(h, user, want, uid=None, pop=False):
    got = (pop_where if pop else where)(h, user, uid)
    check(got == want, "%s %s landed on %s, want %s" % (
        "POP3" if pop else "IMAP", user, got, want))


def mailhost_of(h, s):
    return "%s:%d" % (h.addr[s], h.port[s])


# ------------------------------------------------ map file, with LDAP

def map_text(h, **change):
    """The map file of MAP_LDAP; change replaces entries by user (None
    drops one)."""
    entries = [
        ("u13", "b"),                          # LDAP does not know u13
        ("alice", "b"),                        # LDAP says A: LDAP wins
        ("u14@example.org", "a"),              # exact entry ...
        ("*@Example.ORG", "b"),                # ... over its domain
        ("u16", mailhost_of(h, "A")),          # host:port, by address
    ]
    lines = ["# ferry test map: user host[:port]", ""]
    for user, host in entries:
        host = change.get(user, host)
        if host is not None:
            lines.append("%-18s %s%s" % (user, host, "   # a comment"
                                         if user == "u16" else ""))
    return "\n".join(lines) + "\n"


MAP_LDAP = {
    "extra": lambda h: "lookup { map-file %s }\n" % h.path("users.map"),
    "map": map_text,
    # u13-u16 exist only in Dovecot; u19's entry has no mailHost.
    "ldif": "".join(delete_ldif(u) for u in ("u13", "u14", "u15", "u16")) +
    no_mailhost_ldif("u19"),
}


@group(MAP_LDAP)
def map_file_routes_users_ldap_does_not_know(h):
    """u13 (home A) and u16 (home B) are not in LDAP: the map sends u13
    to backend b by name and u16 to A's host:port, over IMAP and POP3."""
    lands(h, "u13", "B")
    lands(h, "u13", "B", pop=True)
    lands(h, "u16", "A")
    lands(h, "u16", "A", pop=True)


@group(MAP_LDAP)
def map_file_ldap_answer_wins(h):
    """alice is in LDAP (A) and in the map (b): LDAP's answer is used,
    the map only answers for users LDAP does not know."""
    lands(h, "alice", "A")
    lands(h, "alice", "A", pop=True)


@group(MAP_LDAP)
def map_file_exact_entry_beats_wildcard(h):
    """*@Example.ORG b, u14@example.org a: the exact entry wins for u14,
    the wildcard matches u15 whatever the domain's case; a name without
    the domain matches neither."""
    lands(h, "u14@example.org", "A", uid="u14")
    lands(h, "u15@EXAMPLE.org", "B", uid="u15")
    lands(h, "u15@example.org", "B", uid="u15", pop=True)
    logs = Logs(h)
    imap_refused(h, "u15", h.password("u15"))
    check(logs.wait("ferry", r"user=u15 login failed: no such user"),
          "no 'user=u15 login failed: no such user' line in ferryd's log")


@group(MAP_LDAP)
def unknown_user_refused_without_defaults(h):
    """Without not-found-backend and no-attribute-backend, a user in
    neither LDAP nor the map, and a user whose entry has no mailHost, get
    the unknown-user answer (IMAP and POP3) and the log says why."""
    logs = Logs(h)
    imap_refused(h, "u15", h.password("u15"))
    pop_refused(h, "u15", h.password("u15"))
    check(logs.wait("ferry", r"user=u15 login failed: no such user"),
          "no 'user=u15 login failed: no such user' line")
    imap_refused(h, "u19", h.password("u19"))
    pop_refused(h, "u19", h.password("u19"))
    check(logs.wait("ferry", r"user=u19 login failed: no mailHost"),
          "no 'user=u19 login failed: no mailHost ...' line")
    check(not logs.backend_logins("A", 1, 0.3) and
          not logs.backend_logins("B", 1, 0.0),
          "a refused user reached a backend")


@group(MAP_LDAP)
def map_file_reread_on_reload(h):
    """The map is read at start and again on ferryctl reload, not on
    each login: an edited file takes effect with the reload."""
    try:
        write_file(h.map_path, map_text(h, u13="a", **{
            "u14@example.org": None}))
        lands(h, "u13", "B")                  # not read again yet
        logs = Logs(h)
        reload(h)
        check(logs.wait("ferry", r"lookup: map file %s: 4 entries" %
                        re.escape(h.map_path)),
              "no 'map file ...: 4 entries' line after the reload")
        lands(h, "u13", "A")
        lands(h, "u13", "A", pop=True)
        lands(h, "u14@example.org", "B", uid="u14")   # now the wildcard
    finally:
        write_file(h.map_path, map_text(h))
        reload(h, want=None)
    lands(h, "u13", "B")


@group(MAP_LDAP)
def map_file_malformed_line_refused(h):
    """A map file with a malformed line: ferryctl reload is refused
    naming the file and line; on SIGHUP the log says "reload refused,
    configuration unchanged: FILE:LINE: ..."; the old map stays in use;
    ferryd -t names the same line."""
    bad = re.sub(r"^u13 .*$", "u13", map_text(h), count=1, flags=re.M)
    lineno = bad.splitlines().index("u13") + 1
    where_ = "%s:%d: missing host" % (h.map_path, lineno)
    try:
        write_file(h.map_path, bad)
        logs = Logs(h)
        rc, out = ctl(h, "reload")
        check(rc == 1, "ferryctl reload of a broken map: exit %d, want 1 "
              "(%r)" % (rc, out))
        check("reload refused" in out and where_ in out, "ferryctl reload "
              "says %r, want 'reload refused' naming %r" % (out, where_))
        lands(h, "u13", "B")                  # the old map
        h.procs["ferryd"].signal(signal.SIGHUP)
        check(logs.wait("ferry", r"reload refused, configuration "
                        r"unchanged: %s" % re.escape(where_)),
              "no 'reload refused, configuration unchanged: %s' line; "
              "new log: %r" % (where_, logs.new("ferry")[-400:]))
        lands(h, "u13", "B")                  # the old map
        p = subprocess.run([h.ferryd, "-t", "-c", h.ferry_conf],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 1 and where_ in p.stdout + p.stderr,
              "ferryd -t with the broken map: exit %d, %r; want 1 naming "
              "%r" % (p.returncode, p.stdout + p.stderr, where_))
    finally:
        write_file(h.map_path, map_text(h))
        reload(h, want=None)
    lands(h, "u13", "B")


@group(MAP_LDAP)
def map_file_not_used_while_ldap_down(h):
    """u03 lives on A (LDAP) and matches the map's *@Example.ORG b.  With
    LDAP down the map must not answer for him: LDAP knows him, it just
    cannot be asked, so the answer is NO [UNAVAILABLE], not B.  Last of
    its group: it stops slapd."""
    lands(h, "u03@example.org", "A", uid="u03")
    h.stop_ldap()
    try:
        try:
            conn = h.login("u03@example.org", h.password("u03"), timeout=15)
        except LoginFailed as e:
            check(e.text.startswith(UNAVAILABLE), "u03 with LDAP down: "
                  "got %r, want %s" % (e.text, UNAVAILABLE))
        else:
            try:
                got = h.which_server(conn)
            finally:
                conn.logout()
            raise Fail("u03 (on A in LDAP) logged in on %s through the "
                       "map's wildcard while LDAP was down, want %s" % (
                           got, UNAVAILABLE))
    finally:
        h.start_ldap()


# --------------------------------------------- map file without LDAP

MAP_ONLY = {
    "extra": lambda h: "lookup { map-file %s }\n" % h.path("users.map"),
    "map": "alice b\n*@example.com a\n",
    "no_ldap": True,
}


@group(MAP_ONLY)
def map_file_without_ldap(h):
    """No ldap block: the configuration is valid, and the map alone
    routes (alice to B although LDAP would say A; bob@example.com by the
    wildcard to A; bob matches nothing); ferry never talks to LDAP."""
    p = subprocess.run([h.ferryd, "-t", "-c", h.ferry_conf],
                       capture_output=True, text=True, timeout=20)
    check(p.returncode == 0 and "configuration OK" in p.stdout,
          "ferryd -t without an ldap block: exit %d %r" % (
              p.returncode, p.stdout + p.stderr))
    logs = Logs(h)
    lands(h, "alice", "B")
    lands(h, "alice", "B", pop=True)
    lands(h, "bob@example.com", "A", uid="bob")
    lands(h, "bob@example.com", "A", uid="bob", pop=True)
    imap_refused(h, "bob", h.password("bob"))
    check(logs.wait("ferry", r"user=bob login failed: "),
          "no 'user=bob login failed' line")
    check(not re.search(r"SRCH base=\"%s\"" % re.escape(PEOPLE),
                        logs.new("slapd")),
          "slapd was searched for logins without an ldap block")
    m = re.search(r"ferryd: ldap: .*", h.ferry_log())
    check(not m, "ferryd logged LDAP activity without an ldap block: %r"
          % (m and m.group(0)))


# ---------------------------------------- not-found / no-attribute backends

DEFAULTS = {
    "extra": "lookup { not-found-backend b  no-attribute-backend a }\n",
    # u17 (home A) is not in LDAP; u18's entry (home B) has no mailHost
    "ldif": delete_ldif("u17") + no_mailhost_ldif("u18"),
}


@group(DEFAULTS)
def not_found_backend_routes_unknown_user(h):
    """u17 is not in LDAP: not-found-backend b sends him to B (his home
    is A), over IMAP and POP3; users LDAP knows still go to their
    mailHost."""
    lands(h, "u17", "B")
    lands(h, "u17", "B", pop=True)
    lands(h, "alice", "A")
    lands(h, "bob", "B")


@group(DEFAULTS)
def no_attribute_backend_routes_user_without_mailhost(h):
    """u18's entry has no mailHost: no-attribute-backend a sends him to
    A (his home is B), over IMAP and POP3."""
    lands(h, "u18", "A")
    lands(h, "u18", "A", pop=True)
    logs = Logs(h)
    lands(h, "u18", "A")
    check(logs.wait("ferry", r"user=u18 logged in on %s" % re.escape(
        mailhost_of(h, "A"))), "no 'user=u18 logged in on A' line")


@group(DEFAULTS)
def refused_name_not_sent_to_not_found_backend(h):
    """A name the user-name rules refuse (two domain delimiters) is not
    an unknown user to route: the client gets the refusal and no backend
    sees the login."""
    logs = Logs(h)
    imap_refused(h, "u17@example.com@x", h.password("u17"))
    check(logs.wait("ferry", r"login failed: more than one domain "
                    r"delimiter"),
          "no 'login failed: more than one domain delimiter' line; new "
          "log: %r" % logs.new("ferry")[-600:])
    for s in "AB":
        check("imap-login" not in logs.new(s),
              "Dovecot %s saw a login for a refused name: %r" % (
                  s, logs.new(s)[-300:]))


# --------------------------------------------------------- login-attribute

LOGIN_ATTR = {
    "ldap_extra": "    login-attribute uid\n",
    # answers are cached: the second login uses the cached login name
    "cache": "ttl 60s  negative-ttl 0  stale-if-error 1h",
    # u10 (B) also receives mail as rt.alias@example.org; Dovecot has
    # no user rt.alias
    "ldif": add_values_ldif("u10", "mail", "rt.alias@example.org"),
}


@group(LOGIN_ATTR)
def login_attribute_names_backend_login(h):
    """A user typing the alias address is found by mail= and logged in
    to the backend as the entry's uid (the only name Dovecot knows), over
    IMAP (twice: the second from the cache) and POP3."""
    logs = Logs(h)
    lands(h, "rt.alias@example.org", "B", uid="u10")
    got = logs.backend_logins("B")
    check(got == ["u10"], "Dovecot B logins %r, want ['u10']" % got)
    lands(h, "rt.alias@example.org", "B", uid="u10")
    lands(h, "rt.alias@example.org", "B", uid="u10", pop=True)
    got = logs.backend_logins("B", 3)
    check(got == ["u10"] * 3, "Dovecot B logins %r, want u10 three "
          "times" % got)
    check(logs.wait("ferry", r"user=rt\.alias@example\.org logged in on "
                    + re.escape(mailhost_of(h, "B"))),
          "ferryd's log does not show the typed name logged in on B")


@group(LOGIN_ATTR)
def login_attribute_replaces_typed_domain(h):
    """alice types alice@example.com; the backend gets her uid, alice."""
    logs = Logs(h)
    lands(h, "alice@example.com", "A", uid="alice")
    got = logs.backend_logins("A")
    check(got == ["alice"], "Dovecot A logins %r, want ['alice']" % got)


# ------------------------------------------------------------ user-name

# A search by a case-exact attribute: the login lands only if ferry
# searched with exactly the value an entry holds (uid and mail compare
# without case, and slapd logs their values lower-cased).
KEY_FILTER = "(&(objectClass=inetLocalMailRecipient)(labeledURI=%u))"

def username_ldif(h):
    """Key values for u05-u08, and a decoy entry on A that the bare local
    part "u08" finds (u08 himself, found by u08@example.com, is on B)."""
    return (add_values_ldif("u05", "labeledURI", "u05@example.com") +
            add_values_ldif("u06", "labeledURI", "u06@example.org") +
            add_values_ldif("u07", "labeledURI", "u07@example.net") +
            add_values_ldif("u08", "labeledURI", "u08@example.com") +
            "dn: uid=decoy08,{people}\nchangetype: add\n"
            "objectClass: inetOrgPerson\n"
            "objectClass: inetLocalMailRecipient\nuid: decoy08\n"
            "cn: Decoy\nsn: Decoy\nlabeledURI: u08\nmailHost: {a}\n\n"
            .format(people=PEOPLE, a=mailhost_of(h, "A")))


USERNAME_KW = {"ldif": username_ldif}


def rules(h, block):
    """Reloads ferry with the key filter and user-name { block }."""
    text = h.base_conf.replace("    filter %s\n" % ferrytest.FILTER,
                               "    filter %s\n" % KEY_FILTER)
    check(text != h.base_conf, "filter line not found in ferry.conf")
    if block:
        text += "\nuser-name { %s }\n" % block
    write_file(h.ferry_conf, text)
    reload(h)


def searched_once(logs, want):
    got = logs.searches("labeledURI")
    check(got == [want], "ferry searched labeledURI=%r, want [%r]" % (
        got, want))


@group(USERNAME_KW)
def username_lowercase(h):
    """lowercase yes: U05@Example.COM is searched and logged in as
    u05@example.com; without it the typed case is searched and finds
    nobody."""
    rules(h, "lowercase yes")
    logs = Logs(h)
    lands(h, "U05@Example.COM", "A", uid="u05")
    searched_once(logs, "u05@example.com")
    rc, out = ctl(h, "--json", "lookup", "U05@Example.COM")
    check(rc == 0, "ferryctl lookup: exit %d %r" % (rc, out))
    try:
        login = json.loads(out)["lookup"]["login"]
    except (ValueError, KeyError, TypeError):
        raise Fail("ferryctl --json lookup: no lookup.login in %r" % out)
    check(login == "u05@example.com", "backend login %r, want "
          "'u05@example.com'" % login)
    rules(h, "lowercase no")
    logs = Logs(h)
    imap_refused(h, "U05@Example.COM", h.password("u05"))
    searched_once(logs, "U05@Example.COM")


@group(USERNAME_KW)
def username_default_domain(h):
    """default-domain example.org: u06 is searched and logged in as
    u06@example.org; a name with a domain keeps its own."""
    rules(h, "default-domain example.org")
    logs = Logs(h)
    lands(h, "u06", "B")
    searched_once(logs, "u06@example.org")
    got = logs.backend_logins("B")
    check(got == ["u06@example.org"], "Dovecot B logins %r, want "
          "['u06@example.org']" % got)
    logs = Logs(h)
    imap_refused(h, "u06@example.com", h.password("u06"))
    searched_once(logs, "u06@example.com")


@group(USERNAME_KW)
def username_domain_delimiter(h):
    """domain-delimiter %: u07%example.net becomes u07@example.net for
    the search and the backend; a typed @ works too; two delimiters are
    refused without a search.  Then the same with +."""
    rules(h, "domain-delimiter %")
    logs = Logs(h)
    lands(h, "u07%example.net", "A", uid="u07")
    searched_once(logs, "u07@example.net")
    got = logs.backend_logins("A")
    check(got == ["u07@example.net"], "Dovecot A logins %r, want "
          "['u07@example.net']" % got)
    lands(h, "u07@example.net", "A", uid="u07")
    logs = Logs(h)
    imap_refused(h, "u07%example.net@x", h.password("u07"))
    check(logs.wait("ferry", r"login failed: more than one domain "
                    r"delimiter"), "no 'more than one domain delimiter' "
          "line for u07%example.net@x")
    check(logs.searches("labeledURI") == [],
          "a refused name was searched: %r" % logs.searches("labeledURI"))
    rules(h, "domain-delimiter +")
    logs = Logs(h)
    lands(h, "u07+example.net", "A", uid="u07")
    searched_once(logs, "u07@example.net")


def strip_case(h, mode, search, server, login):
    """u08@example.com with strip-domain mode: LDAP is searched with
    search (u08@example.com finds u08's entry, on B; u08 finds the decoy,
    on A), the login lands on server, which sees login."""
    rules(h, "strip-domain %s" % mode)
    logs = Logs(h)
    lands(h, "u08@example.com", server, uid="u08")
    searched_once(logs, search)
    got = logs.backend_logins(server)
    check(got == [login], "Dovecot %s logins %r, want [%r]" % (
        server, got, login))


@group(USERNAME_KW)
def username_strip_domain_no(h):
    strip_case(h, "no", "u08@example.com", "B", "u08@example.com")


@group(USERNAME_KW)
def username_strip_domain_lookup(h):
    strip_case(h, "lookup", "u08", "A", "u08@example.com")


@group(USERNAME_KW)
def username_strip_domain_login(h):
    strip_case(h, "login", "u08@example.com", "B", "u08")


@group(USERNAME_KW)
def username_strip_domain_both(h):
    strip_case(h, "both", "u08", "A", "u08")


# ------------------------------------------------------------------ main

def main(argv):
    return run_groups([(lambda kw=kw: RoutingHarness(kw), tests)
                       for kw, tests in GROUPS], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
