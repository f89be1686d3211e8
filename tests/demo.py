#!/usr/bin/env python3
"""ferry demo: one user moved from mail server A to mail server B, live.

Starts, in a temporary directory on random loopback addresses:
  - an LDAP directory (slapd) saying where each user's mail lives (mailHost),
  - two Dovecot IMAP servers, A and B, both knowing the same users,
  - ferryd, the proxy the mail clients talk to.
Then logs alice in through ferry, moves her to B with one ldapmodify, and
logs her in again.  Run it with tests/demo.sh (installs, builds, runs), or:

    FERRYD=build/ferryd python3 tests/demo.py
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
os.environ.setdefault("FERRYTEST_QUIET", "1")
import ferrytest  # noqa: E402


def say(text=""):
    print(text, flush=True)


def step(n, title):
    say()
    say("== %d. %s" % (n, title))


def indent(text, prefix="     | "):
    return "\n".join(prefix + l for l in text.rstrip("\n").splitlines())


def login_and_show(h, user):
    """Logs user in through ferry with Python's imaplib and shows where."""
    say("   client: connect to ferry at %s:%d (the only address a client "
        "knows)" % (h.ferry_addr, h.ferry_port))
    conn = h.imap()
    say("   ferry:  %s" % conn.welcome.decode())
    conn.login(user, h.password(user))
    say("   client: LOGIN %s ******  ->  OK" % user)
    conn.select("INBOX", readonly=True)
    typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subject = data[0][1].decode().strip()
    say("   client: SELECT INBOX; FETCH 1 subject  ->  %s" % subject)
    conn.logout()
    m = ferrytest.SUBJECT_RE.search(subject.encode())
    return m.group(1).decode() if m else "?"


def session_lines(h, user):
    return [l for l in h.ferry_log().splitlines()
            if "user=%s " % user in l and " in=" in l]


def main():
    ferryd = os.environ.get("FERRYD") or ferrytest.DEFAULT_FERRYD
    say(__doc__.split("\n")[0])
    say()
    say("ferryd binary: %s" % ferryd)

    h = ferrytest.Harness(ferryd=ferryd)
    try:
        step(1, "Start LDAP, mail servers A and B, and ferry")
        t0 = time.monotonic()
        h.start()
        say("   temp dir        %s%s" % (h.tmp, "  (kept: KEEP_TMP=1)"
                                         if h.keep else ""))
        say("   slapd (LDAP)    %s" % h.ldap_uri)
        say("   Dovecot A       %s" % h.mailhost("A"))
        say("   Dovecot B       %s" % h.mailhost("B"))
        say("   ferryd          %s:%d   (config: %s)" % (
            h.ferry_addr, h.ferry_port, h.ferry_conf))
        say("   all up in %.1fs" % (time.monotonic() - t0))

        step(2, "Where does alice live?  LDAP says (mailHost):")
        say("   $ ldapsearch -x -H %s -D %s -W \\\n"
            "         -b %s '(uid=alice)' mailHost" % (
                h.ldap_uri, ferrytest.FERRY_DN, ferrytest.PEOPLE))
        say("   mailHost: %s   <- server A" % h.ldap_mailhost("alice"))

        step(3, "alice logs in through ferry")
        where = login_and_show(h, "alice")
        say("   => alice's mail is served by server %s" % where)
        say("   alice's phone stays logged in (through ferry, on A), "
            "INBOX selected")
        phone = h.imap()
        phone.login("alice", h.password("alice"))
        phone.select("INBOX", readonly=True)
        phone.sock.settimeout(10)

        step(4, "The operator moves alice to server B: one LDAP change")
        ldif = h.move_ldif("alice", "B")
        say("   $ ldapmodify -x -H %s -D %s -W <<EOF" % (h.ldap_uri,
                                                      ferrytest.ROOT_DN))
        say(indent(ldif, "   "))
        say("   EOF")
        t_move = time.monotonic()
        h.move_user("alice", "B")
        say("   mailHost is now %s   <- server B" % h.ldap_mailhost("alice"))
        say("   ferry follows LDAP and closes her sessions still on A, "
            "between two IMAP responses:")
        try:
            bye = phone.readline().decode(errors="replace").strip()
        except OSError as e:
            bye = "(nothing: %s)" % e
        say("   alice's phone receives, %.0f ms after the change:  %s" % (
            (time.monotonic() - t_move) * 1000, bye))
        say("   (a mail client reconnects by itself, and lands on B)")
        phone.shutdown()
        say("   (in real life the mail is copied first, e.g. with dsync; "
            "here both servers already have a mailbox for her)")

        step(5, "alice logs in again, same address, same client settings")
        where2 = login_and_show(h, "alice")
        say("   => alice's mail is now served by server %s" % where2)

        step(6, "ferry's log: one line per session")
        deadline = time.monotonic() + 3
        while len(session_lines(h, "alice")) < 2 and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        for l in session_lines(h, "alice"):
            say("   " + l)

        ok = where == "A" and where2 == "B" and \
            bye.startswith("* BYE [UNAVAILABLE]")
        step(7, "Stop everything")
    except Exception as e:  # noqa: BLE001
        say()
        say("demo failed: %s" % e)
        tail = h.ferry_log_tail(30)
        if tail:
            say("--- last lines of ferryd's log:")
            say(tail)
        h.close(check=False)
        return 1
    problems = h.close(check=True)
    for p in problems:
        say("   problem: %s" % p)
    say("   stopped ferryd, both Dovecot servers and slapd%s" % (
        "" if h.keep else "; temp dir removed"))
    say()
    if ok and not problems:
        say("Demo done: alice moved from A to B with one LDAP change; "
            "her client kept talking to ferry.")
        return 0
    say("Demo did not go as expected.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
