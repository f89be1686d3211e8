#!/usr/bin/env python3
"""ferry IMAP integration tests: real slapd, two real Dovecot servers (A, B)
and ferryd, driven through Python's imaplib (and a raw socket where the exact
bytes matter).  One line per test, "PASS name" or "FAIL name: why", then
"N passed, N failed"; the exit status is non-zero on any failure.

    FERRYD=/path/to/ferryd python3 test_imap.py [name ...]

Tests run in the order below and share one set of servers; names given on
the command line select a subset.  The harness (ferrytest.py) adds two
checks at the end: ferryd exits 0 on SIGTERM, and its log holds no
sanitizer report and no password.
"""

import imaplib
import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Fail, Harness, LoginFailed, check,  # noqa: E402
                       imap_quote as q, raw)

AUTHFAILED = "NO [AUTHENTICATIONFAILED]"
UNAVAILABLE = "NO [UNAVAILABLE]"

TESTS = []
test = ferrytest.collector(TESTS)


def expect_where(h, user, want, password=None):
    got = h.login_where(user, password or h.password(user))
    check(got == want, "%s landed on %s, want %s" % (user, got, want))


def expect_login_fails(h, user, password, prefix, within=None):
    """LOGIN through imaplib must fail with text starting with prefix
    ('[AUTHENTICATIONFAILED]' / '[UNAVAILABLE]'); returns (text, seconds)."""
    t0 = time.monotonic()
    try:
        conn = h.login(user, password, timeout=15)
    except LoginFailed as e:
        dt = time.monotonic() - t0
        check(e.text.startswith(prefix),
              "LOGIN %s: got %r, want %s ..." % (user, e.text, prefix))
        if within is not None:
            check(dt < within, "LOGIN %s answered after %.1fs, want < %.0fs"
                  % (user, dt, within))
        return e.text, dt
    except (imaplib.IMAP4.abort, OSError) as e:
        raise Fail("LOGIN %s: connection failed after %.1fs: %r" % (
            user, time.monotonic() - t0, e))
    conn.logout()
    raise Fail("LOGIN %s succeeded, want %s" % (user, prefix))


def login_until_ok(h, user, want, timeout):
    """Retries a login until it lands on want; returns seconds taken."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            got = h.login_where(user, h.password(user), timeout=8)
            check(got == want, "%s landed on %s, want %s" % (user, got, want))
            return time.monotonic() - t0
        except (LoginFailed, imaplib.IMAP4.error, OSError) as e:
            last = e
            time.sleep(0.25)
    raise Fail("%s could not log in within %.0fs: %s" % (user, timeout, last))


def wait_log(h, pattern, timeout=3.0):
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while True:
        m = rx.search(h.ferry_log())
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


# ------------------------------------------------------------- pre-auth

@test
def greeting_capability(h):
    c = raw(h)
    try:
        g = c.greeting.decode("utf-8", "replace")
        check(g.startswith("* OK [CAPABILITY "), "greeting %r" % g)
        caps = g[len("* OK [CAPABILITY "):].split("]")[0].split()
        check("IMAP4rev1" in caps, "greeting capabilities %r" % caps)
    finally:
        c.close()
    conn = h.imap()
    try:
        check(b"[CAPABILITY" in conn.welcome, "imaplib welcome %r" %
              conn.welcome)
    finally:
        conn.shutdown()


@test
def preauth_capability(h):
    conn = h.imap()
    try:
        typ, data = conn.capability()
        check(typ == "OK", "CAPABILITY -> %s %r" % (typ, data))
        caps = data[0].decode().split()
        check("IMAP4rev1" in caps, "CAPABILITY lists %r" % caps)
    finally:
        conn.shutdown()
    c = raw(h)
    try:
        untagged, tagged = c.command("c1", "CAPABILITY")
        check(any(u.startswith(b"* CAPABILITY ") and b" IMAP4rev1" in u
                  for u in untagged), "untagged %r" % untagged)
        check(tagged.startswith("OK"), "tagged %r" % tagged)
    finally:
        c.close()


@test
def preauth_noop(h):
    conn = h.imap()
    try:
        typ, data = conn.noop()
        check(typ == "OK", "NOOP -> %s %r" % (typ, data))
    finally:
        conn.shutdown()


@test
def preauth_unknown_command_bad(h):
    c = raw(h)
    try:
        _, tagged = c.command("x1", "FROBNICATE now")
        check(tagged.startswith("BAD"), "unknown command -> %r" % tagged)
        _, tagged = c.command("x2", "NOOP")
        check(tagged.startswith("OK"), "NOOP after BAD -> %r" % tagged)
    finally:
        c.close()
    conn = h.imap()
    try:
        try:
            conn.xatom("FROBNICATE")
            raise Fail("imaplib: unknown command accepted")
        except imaplib.IMAP4.error as e:
            check("BAD" in str(e) or "command error" in str(e),
                  "imaplib error %r" % e)
    finally:
        conn.shutdown()


@test
def preauth_logout(h):
    c = raw(h)
    try:
        untagged, tagged = c.command("l1", "LOGOUT")
        check(any(u.startswith(b"* BYE") for u in untagged),
              "no * BYE before tagged reply: %r" % untagged)
        check(tagged.startswith("OK"), "LOGOUT -> %r" % tagged)
        check(c.at_eof(5), "connection still open 5s after LOGOUT")
    finally:
        c.close()
    conn = h.imap()
    typ, _ = conn.logout()
    check(typ == "BYE", "imaplib logout -> %s" % typ)


@test
def preauth_id(h):
    # ID is advertised in the greeting (RFC 2971)
    c = raw(h)
    try:
        untagged, tagged = c.command("i1", 'ID ("name" "ferrytest")')
        check(tagged.startswith("OK"), "ID -> %r (%r)" % (tagged, untagged))
        untagged, tagged = c.command("i2", "ID NIL")
        check(tagged.startswith("OK"), "ID NIL -> %r" % tagged)
    finally:
        c.close()


# -------------------------------------------------------------- routing

@test
def route_users_of_a_to_a(h):
    for u in ("alice", "frank"):
        expect_where(h, u, "A")


@test
def route_users_of_b_to_b(h):
    for u in ("bob", "u02"):
        expect_where(h, u, "B")


@test
def login_with_mail_address(h):
    expect_where(h, "alice@example.com", "A", h.password("alice"))
    expect_where(h, "bob@example.com", "B", h.password("bob"))


@test
def password_space_quote_backslash(h):
    pw = h.password("erin")
    check(" " in pw and '"' in pw and "\\" in pw, "fixture password %r" % pw)
    expect_where(h, "erin", "B")


@test
def login_synchronizing_literals(h):
    user, pw = "frank", h.password("frank").encode()
    c = raw(h)
    try:
        c.send("s1 LOGIN {%d}\r\n" % len(user))
        cont = c.readline()
        check(cont.startswith(b"+"), "after {%d}: %r, want '+'" % (
            len(user), cont))
        c.send("%s {%d}\r\n" % (user, len(pw)))
        cont = c.readline()
        check(cont.startswith(b"+"), "after user literal: %r, want '+'" % cont)
        c.send(pw + b"\r\n")
        _, tagged = c.response("s1")
        check(tagged.startswith("OK"), "LOGIN with literals -> %r" % tagged)
        _, tagged = c.command("s2", "SELECT INBOX")
        check(tagged.startswith("OK"), "SELECT -> %r" % tagged)
        untagged, tagged = c.command(
            "s3", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        check(tagged.startswith("OK"), "FETCH -> %r" % tagged)
        check(any(b"Welcome to server A" in u for u in untagged),
              "FETCH gave %r" % untagged)
        c.command("s4", "LOGOUT")
    finally:
        c.close()


@test
def login_nonsynchronizing_literals(h):
    # LITERAL+ is in the greeting's capability list
    user, pw = "frank", h.password("frank").encode()
    c = raw(h)
    try:
        c.send(b"n1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
            len(user), user.encode(), len(pw), pw))
        untagged, tagged = c.response("n1")
        check(tagged.startswith("OK"), "LOGIN with LITERAL+ -> %r (%r)" % (
            tagged, untagged))
        check(not any(u.startswith(b"+") for u in untagged),
              "continuation sent for a non-synchronizing literal: %r"
              % untagged)
        _, tagged = c.command("n2", "SELECT INBOX")
        check(tagged.startswith("OK"), "SELECT -> %r" % tagged)
        c.command("n3", "LOGOUT")
    finally:
        c.close()


@test
def auth_failures_same_answer_connection_usable(h):
    c = raw(h)
    try:
        _, wrong = c.command("f1", "LOGIN alice %s" % q("not-her-password"))
        check(wrong.startswith(AUTHFAILED), "wrong password -> %r" % wrong)
        _, unknown = c.command("f2", "LOGIN %s %s" % (
            q("nosuchuser"), q("whatever-pw")))
        check(unknown.startswith(AUTHFAILED), "unknown user -> %r" % unknown)
        check(wrong == unknown, "different answers: wrong password %r, "
              "unknown user %r" % (wrong, unknown))
        _, ok = c.command("f3", "LOGIN alice %s" % q(h.password("alice")))
        check(ok.startswith("OK"), "correct LOGIN after 2 failures -> %r"
              % ok)
        untagged, tagged = c.command(
            "f4", "EXAMINE INBOX")
        check(tagged.startswith("OK"), "EXAMINE -> %r" % tagged)
        c.command("f5", "LOGOUT")
    finally:
        c.close()
    # the same through imaplib: failures, then a good login on one connection
    conn = h.imap()
    try:
        for user, pw in (("bob", "not-bobs-password"),
                         ("nobody-here", "whatever-pw")):
            try:
                conn.login(q(user), pw)
                raise Fail("imaplib LOGIN %s succeeded" % user)
            except imaplib.IMAP4.error as e:
                text = ferrytest._err_text(e)
                check(text.startswith("[AUTHENTICATIONFAILED]"),
                      "imaplib LOGIN %s -> %r" % (user, text))
        typ, _ = conn.login("bob", h.password("bob"))
        check(typ == "OK", "imaplib good LOGIN after failures -> %s" % typ)
        check(h.which_server(conn) == "B", "bob not on B")
        conn.logout()
    finally:
        try:
            conn.shutdown()
        except OSError:
            pass


@test
def filter_injection(h):
    for user in ("*)(uid=*", "*", "alice)(uid=*"):
        expect_login_fails(h, user, h.password("alice"),
                           "[AUTHENTICATIONFAILED]")
    time.sleep(0.3)
    srch = [l for l in h.slapd_log().splitlines() if " SRCH " in l]
    check(srch, "slapd logged no search at all")
    bad = [l for l in srch if "(uid=*)" in l]
    check(not bad, "unescaped filter reached slapd: %s" % bad[:2])
    for s in "AB":
        log = h.dovecot_log(s)
        check("user=<*)(uid=*>" not in log and "user=<*>" not in log,
              "the injected name was sent to backend %s" % s)


# -------------------------------------------------------------- relay

@test
def relay_session(h):
    conn = h.login("alice", h.password("alice"))
    try:
        typ, data = conn.select("INBOX")
        check(typ == "OK" and int(data[0]) >= 1, "SELECT -> %s %r" % (
            typ, data))
        typ, data = conn.fetch("1", "(UID FLAGS RFC822)")
        check(typ == "OK", "FETCH -> %s" % typ)
        body = data[0][1]
        check(b"Subject: Welcome to server A" in body and
              b"Hello alice, your mailbox lives on server A." in body,
              "FETCH RFC822 gave %r" % body[:200])
        typ, _ = conn.noop()
        check(typ == "OK", "NOOP after login -> %s" % typ)
        typ, data = conn.search(None, "ALL")
        check(typ == "OK" and data[0].split()[:1] == [b"1"],
              "SEARCH -> %s %r" % (typ, data))
        typ, _ = conn.close()
        check(typ == "OK", "CLOSE -> %s" % typ)
    finally:
        typ, data = conn.logout()
    check(typ == "BYE", "LOGOUT -> %s %r" % (typ, data))


@test
def relay_bulk_append_fetch(h):
    # 2 MiB message up and back down through the relay
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n"
    body = b"".join(b"%07d " % i + line for i in range(2 * 1024 * 1024 //
                                                       (len(line) + 8)))
    msg = (b"From: bulk@example.com\r\nTo: bob@example.com\r\n"
           b"Subject: bulk test\r\n\r\n" + body)
    conn = h.login("bob", h.password("bob"), timeout=30)
    try:
        typ, data = conn.append("INBOX", None, None, msg)
        check(typ == "OK", "APPEND %d bytes -> %s %r" % (len(msg), typ, data))
        typ, data = conn.select("INBOX")
        n = int(data[0])
        typ, data = conn.fetch(str(n), "(RFC822)")
        check(typ == "OK", "FETCH -> %s" % typ)
        got = data[0][1]
        check(got == msg, "fetched %d bytes, appended %d; equal=%s" % (
            len(got), len(msg), got == msg))
        conn.store(str(n), "+FLAGS", "(\\Deleted)")
        conn.expunge()
    finally:
        conn.logout()


@test
def session_log_line(h):
    expect_where(h, "alice", "A")
    a = re.escape(h.mailhost("A"))
    m = wait_log(h, r"^.*\buser=\"?alice\S*.*\bbackend=\S*%s.*$" % a)
    check(m, "no session line with user=alice backend=%s in ferryd's log" %
          h.mailhost("A"))
    line = m.group(0)
    for field in (r"\bin=\d+", r"\bout=\d+"):
        check(re.search(field, line), "session line lacks %s: %r" % (
            field.replace("\\b", "").replace("\\d+", "N"), line))
    nums = [int(x) for x in re.findall(r"\b(?:in|out)=(\d+)", line)]
    check(all(n > 0 for n in nums), "zero byte counts: %r" % line)


@test
def password_not_in_log(h):
    problems = [p for p in h.check_ferry_log() if "password" in p]
    check(not problems, "; ".join(problems))


# ------------------------------------------------------------ moves

@test
def move_user_next_login_lands_on_new_server(h):
    expect_where(h, "dave", "A")
    h.move_user("dave", "B")
    expect_where(h, "dave", "B")
    h.move_user("dave", "A")
    expect_where(h, "dave", "A")


# ------------------------------------------------- failures of others

@test
def ldap_down_unavailable(h):
    h.stop_ldap()
    try:
        # carol has never logged in: nothing cached for her
        expect_login_fails(h, "carol", h.password("carol"), "[UNAVAILABLE]",
                           within=6)
        # the connection answers, it does not hang: a second try also fails
        expect_login_fails(h, "carol", h.password("carol"), "[UNAVAILABLE]",
                           within=6)
    finally:
        h.start_ldap()
    login_until_ok(h, "carol", "A", timeout=15)


@test
def ldap_hung_unavailable(h):
    h.pause_ldap()  # SIGSTOP: connections open, nothing answers
    try:
        expect_login_fails(h, "gina", h.password("gina"), "[UNAVAILABLE]",
                           within=6)
    finally:
        h.resume_ldap()
    login_until_ok(h, "gina", "B", timeout=15)


@test
def backend_down_unavailable(h):
    h.stop_backend("B")
    try:
        expect_login_fails(h, "bob", h.password("bob"), "[UNAVAILABLE]",
                           within=6)
        expect_where(h, "alice", "A")  # A still fine
    finally:
        h.start_backend("B")
    login_until_ok(h, "bob", "B", timeout=10)


@test
def backend_hung_unavailable(h):
    # hank's mailHost accepts TCP and never greets: login-timeout is 5s
    expect_login_fails(h, "hank", h.password("hank"), "[UNAVAILABLE]",
                       within=9)


# ------------------------------------------------------------ load

@test
def concurrent_logins_50(h):
    users = ["u%02d" % i for i in range(1, 21)] + \
        ["alice", "bob", "erin", "frank", "dave"]
    jobs = [users[i % len(users)] for i in range(50)]
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs), timeout=20)

    def run(i, user):
        try:
            start.wait()
            results[i] = h.login_where(user, h.password(user), timeout=30)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, u), daemon=True)
               for i, u in enumerate(jobs)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    dt = time.monotonic() - t0
    bad = []
    for user, r in zip(jobs, results):
        want = h.location[user]
        if r != want:
            bad.append("%s: %r (want %s)" % (user, r, want))
    check(not bad, "%d of 50 wrong in %.1fs: %s" % (len(bad), dt,
                                                    "; ".join(bad[:5])))


# ------------------------------------------------------------ limits

@test
def too_long_line(h):
    c = raw(h)
    try:
        c.send(b"t1 NOOP " + b"x" * 20000 + b"\r\n")
        line = c.readline()
        check(line.startswith(b"* BYE") or line.startswith(b"t1 BAD") or
              line.startswith(b"* BAD"),
              "64k line -> %r, want * BYE or BAD" % line[:200])
        check(c.at_eof(5), "connection not closed after an over-long line "
              "(answer %r)" % line[:200])
    finally:
        c.close()
    # ferry is still fine
    expect_where(h, "alice", "A")


@test
def too_many_auth_failures(h):
    # limits.auth-failures is 3: the third failure ends the connection
    c = raw(h)
    try:
        seen = []
        for i in (1, 2, 3):
            try:
                untagged, tagged = c.command("m%d" % i, "LOGIN alice %s" % q(
                    "wrong-%d" % i))
            except EOFError as e:
                raise Fail("connection closed without * BYE after %d "
                           "failures (%s)" % (i, e))
            seen.append((untagged, tagged))
            if i < 3:
                check(tagged.startswith(AUTHFAILED), "failure %d -> %r" % (
                    i, tagged))
        untagged, tagged = seen[-1]
        rest = c.readline() if not any(
            u.startswith(b"* BYE") for u in untagged) else b""
        check(any(u.startswith(b"* BYE") for u in untagged) or
              rest.startswith(b"* BYE"),
              "no * BYE after 3 failures: %r %r %r" % (untagged, tagged,
                                                       rest))
        check(c.at_eof(5), "connection still open after * BYE")
    finally:
        c.close()


@test
def preauth_timeout(h):
    limit = ferrytest.PREAUTH_TIMEOUT
    c = raw(h, timeout=limit + 6)
    t0 = time.monotonic()
    try:
        line = c.readline()
        dt = time.monotonic() - t0
        check(line.startswith(b"* BYE"), "idle pre-auth connection got %r "
              "after %.1fs, want * BYE" % (line, dt))
        check(limit - 1 <= dt <= limit + 3, "* BYE after %.1fs, "
              "preauth-timeout is %ds" % (dt, limit))
        check(c.at_eof(3), "connection open after * BYE")
    except socket.timeout:
        raise Fail("idle pre-auth connection still open after %.0fs "
                   "(preauth-timeout %ds)" % (time.monotonic() - t0, limit))
    finally:
        c.close()


# ------------------------------------------------------------------ main

def main(argv):
    return ferrytest.run_tests(TESTS, Harness, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
