#!/usr/bin/env python3
"""ferry moves: a user's mailHost changes in LDAP and ferry closes exactly
that user's open sessions, at an IMAP response boundary, so that every
client reconnects to the new server.  Real slapd (with the syncprov overlay,
and again without it so that ferry polls), real Dovecot A and B, ferryd.

    FERRYD=/path/to/ferryd python3 test_moves.py [name ...]

One line per test, "PASS name" or "FAIL name: why", then "N passed, N
failed"; exit status non-zero on any failure.  Timings go to stderr.
"""

import imaplib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import Harness, RawIMAP  # noqa: E402

NUSERS = 40
NMOVED = 10
WITHIN = 5.0  # seconds from the ldapmodify to the BYE
BYE = b"* BYE [UNAVAILABLE] Your mailbox has moved, please reconnect."
# A 940 KB message, read slowly: most of the time a FETCH response is in
# flight (ferry has the backend's reading paused at its high-water mark)
# when the move comes, so the BYE must wait for the response to end.
BIG_LINES = 12000
SLOW_READ = 0.002  # seconds between 64 KB reads
# The first moved FETCH session asks for a 12 MB message and reads none of
# it until ferry has seen the move: more than the socket buffers hold, so
# the response is certainly in flight and the BYE must wait for its end.
STALL_LINES = 150000


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def big_message(user, lines=BIG_LINES):
    body = "".join("%s line %06d %s\r\n" % (user, i, "x" * 60)
                   for i in range(lines))
    return ("From: Big <big@example.com>\r\nTo: %s@example.com\r\n"
            "Subject: big one\r\nMessage-ID: <big-%s@example.com>\r\n\r\n%s"
            % (user, user, body)).encode()


class SlowIMAP(RawIMAP):
    def read_exact(self, n):
        while len(self.buf) < n:
            time.sleep(SLOW_READ)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("EOF in literal")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class Client(threading.Thread):
    """One logged-in session through ferry: IDLE, or FETCH in a loop.
    Records whether it saw the move's BYE (and when), and anything wrong:
    an error answer, a broken literal, EOF without BYE, bytes after BYE."""

    def __init__(self, h, user, mode):
        super().__init__(daemon=True)
        self.h, self.user, self.mode = h, user, mode
        self.expect = big_message(user, STALL_LINES if mode == "stall"
                                  else BIG_LINES)
        self.go = threading.Event()  # "stall": start reading
        self.bye_at = None
        self.errors = []
        self.fetches = 0   # FETCH commands completed
        self.literals = 0  # whole FETCH responses (the BYE may come
        #                    between one and its command's tagged OK)
        self.stop = threading.Event()
        self.done = threading.Event()
        self.ready = threading.Event()
        self.c = SlowIMAP(h.ferry_addr, h.ferry_port, timeout=30)
        _, t = self.c.command("l", "LOGIN %s %s" % (
            user, ferrytest.imap_quote(h.password(user))))
        if not t.startswith("OK"):
            raise Fail("%s: login: %s" % (user, t))
        _, t = self.c.command("s", "SELECT INBOX")
        if not t.startswith("OK"):
            raise Fail("%s: select: %s" % (user, t))

    def error(self, what):
        self.errors.append(what)

    def line(self):
        """A line at a response start; BYE handling for both modes."""
        ln = self.c.readline()
        if ln.startswith(b"* BYE"):
            self.bye_at = time.monotonic()
            if ln != BYE:
                self.error("unexpected BYE %r" % ln)
            rest = self.c.buf
            if rest or not self.c.at_eof(10):
                self.error("bytes after the BYE: %r" % rest[:80])
            return None
        if ln == b"":
            self.error("EOF without BYE")
            return None
        return ln

    def run(self):
        try:
            (self.run_idle if self.mode == "idle" else self.run_fetch)()
        except Exception as e:  # noqa: BLE001
            self.error("%s: %s" % (type(e).__name__, e))
        finally:
            self.done.set()

    def run_idle(self):
        self.c.send("i IDLE\r\n")
        ln = self.c.readline()
        if not ln.startswith(b"+"):
            self.error("IDLE answered %r" % ln)
            return
        self.ready.set()
        while True:
            ln = self.line()
            if ln is None:
                return
            if ln.startswith(b"i "):
                # the test ended the IDLE: the session still works
                if not ln.startswith(b"i OK"):
                    self.error("IDLE ended with %r" % ln)
                _, t = self.c.command("n", "NOOP")
                if not t.startswith("OK"):
                    self.error("NOOP after IDLE: %s" % t)
                self.c.command("o", "LOGOUT")
                return
            if not ln.startswith(b"* "):
                self.error("in IDLE: %r" % ln)

    def run_fetch(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            tag = b"f%d" % n
            self.c.send(tag + b" FETCH 2 (BODY.PEEK[])\r\n")
            if self.mode == "stall":
                time.sleep(0.5)  # the backend is answering by then
                self.ready.set()
                self.go.wait(30)
            while True:
                ln = self.line()
                if ln is None:
                    return
                if ln.startswith(tag + b" "):
                    if not ln.startswith(tag + b" OK"):
                        self.error("FETCH answered %r" % ln)
                        return
                    break
                m = re.search(rb"\{(\d+)\}$", ln)
                if not m:
                    self.error("unexpected line %r" % ln[:80])
                    return
                data = self.c.read_exact(int(m.group(1)))
                if data != self.expect:
                    self.error("broken literal (%d bytes)" % len(data))
                    return
                tail = self.c.readline()
                if tail != b")":
                    self.error("after the literal: %r" % tail[:80])
                    return
                self.literals += 1
            self.fetches += 1
            self.ready.set()
        self.c.command("o", "LOGOUT")

    def finish(self):
        """End a session that was not moved and check it still works."""
        self.stop.set()
        if self.mode == "idle":
            self.c.send("DONE\r\n")
        self.done.wait(15)
        if not self.done.is_set():
            self.error("did not finish")
        self.c.close()


def where(h, user):
    return h.login_where(user, h.password(user))


def moves_scenario(h, how):
    users = ["m%02d" % i for i in range(1, NUSERS + 1)]
    for i, u in enumerate(users[::2]):  # the FETCH ones
        c = h.login(u, h.password(u), server="A")
        typ, _ = c.append("INBOX", None, None, big_message(
            u, STALL_LINES if i == 0 else BIG_LINES))
        check(typ == "OK", "APPEND for %s on A: %s" % (u, typ))
        c.logout()
    clients = [Client(h, u, "idle" if i % 2 else "stall" if i == 0 else
                      "fetch") for i, u in enumerate(users)]
    for c in clients:
        c.start()
    for c in clients:
        check(c.ready.wait(20), "%s (%s) never got going: %s" % (
            c.user, c.mode, c.errors))
    moved = clients[:NMOVED]  # half of them IDLE, half FETCH
    others = clients[NMOVED:]
    t_mod = {}
    for c in moved:
        t_mod[c.user] = time.monotonic()
        h.move_user(c.user, "B")
    stall = clients[0]
    ferrytest.wait_until("ferry sees %s move" % stall.user,
                         lambda: "uid=%s,%s" % (stall.user, ferrytest.PEOPLE)
                         in h.ferry_log(), WITHIN)
    stall.go.set()
    deadline = max(t_mod.values()) + WITHIN
    while time.monotonic() < deadline and \
            not all(c.done.is_set() for c in moved):
        time.sleep(0.05)
    fetches_then = dict((c.user, c.fetches) for c in others)
    time.sleep(1.5)  # let a wrong close show up
    lat = []
    for c in moved:
        check(c.bye_at is not None, "%s (%s): no BYE within %.0fs (%s)" % (
            c.user, c.mode, WITHIN, c.errors))
        check(not c.errors, "%s (%s): %s" % (c.user, c.mode, c.errors))
        lat.append(c.bye_at - t_mod[c.user])
    for c in others:
        check(c.bye_at is None and not c.done.is_set() and not c.errors,
              "%s (%s) was disturbed: bye=%s errors=%s" % (
                  c.user, c.mode, c.bye_at is not None, c.errors))
        if c.mode == "fetch":
            check(c.fetches > fetches_then[c.user],
                  "%s stopped fetching" % c.user)
    for c in others:
        c.finish()
        check(not c.errors, "%s (%s): %s" % (c.user, c.mode, c.errors))
    for c in moved:
        got = where(h, c.user)
        check(got == "B", "%s reconnected to %s, want B" % (c.user, got))
    log = h.ferry_log()
    closes = re.findall(r"user=(m\d\d) backend=\S+ closing \(mailbox moved\)",
                        log)
    check(sorted(closes) == sorted(c.user for c in moved),
          "log lines for closed sessions: %s" % sorted(closes))
    waited = [int(x) for x in re.findall(
        r"closing \(mailbox moved\): BYE at a response boundary "
        r"\(waited (\d+)ms\)", log)]
    m = re.search(r"user=%s backend=\S+ closing \(mailbox moved\): BYE at "
                  r"a response boundary \(waited (\d+)ms\)" % stall.user, log)
    check(m and int(m.group(1)) > 0, "%s's BYE did not wait for its "
          "12 MB response to end: %s" % (stall.user, m and m.group(0)))
    check(stall.literals == 1, "%s: %d whole responses before the BYE" % (
        stall.user, stall.literals))
    # the stalled session's BYE waits for its own slow reader: apart
    lat = [c.bye_at - t_mod[c.user] for c in moved if c is not stall]
    sys.stderr.write("[moves %s] BYE after the ldapmodify: min %.3fs, max "
                     "%.3fs, mean %.3fs (stalled 12 MB reader: %.3fs); "
                     "waits for a boundary (ms): %s; fetches by the "
                     "others: %d\n" % (
                         how, min(lat), max(lat), sum(lat) / len(lat),
                         stall.bye_at - t_mod[stall.user], waited,
                         sum(c.fetches for c in others)))


def moves_syncrepl(h):
    moves_scenario(h, "syncrepl")
    check("following changes (content synchronisation)" in h.ferry_log(),
          "ferry did not follow with syncrepl")


def moves_polling(h):
    moves_scenario(h, "polling")
    check("polling every" in h.ferry_log(), "ferry did not fall back to "
          "polling")


def doveadm_backup(h, user):
    """The guide's copy step: doveadm backup from A into B's Maildir."""
    dest = "maildir:" + h.path("B", "home", user, "Maildir")
    r = subprocess.run(["doveadm", "-c", h.path("A", "dovecot.conf"),
                        "backup", "-u", user, dest], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "doveadm backup: %d %s" % (
        r.returncode, r.stderr.strip()))


def status(conn):
    typ, data = conn.status("INBOX", "(MESSAGES UIDVALIDITY UIDNEXT)")
    check(typ == "OK", "STATUS: %r" % data)
    return tuple(int(re.search(k + rb" (\d+)", data[0]).group(1))
                 for k in (b"MESSAGES", b"UIDVALIDITY", b"UIDNEXT"))


def uids(conn):
    conn.select("INBOX", readonly=True)
    typ, data = conn.uid("SEARCH", None, "ALL")
    return data[0].split()


def mail_arrives_during_move(h):
    user = "alice"
    # B has no mailbox for alice yet (the harness made one: remove it)
    shutil.rmtree(h.path("B", "home", user, "Maildir"))
    doveadm_backup(h, user)  # the first, full copy
    a = h.login(user, h.password(user), server="A")
    before = status(a)
    before_uids = uids(a)
    a.logout()
    h.move_user(user, "B")
    ferrytest.wait_until("ferry sees the move", lambda: re.search(
        r"uid=%s,.*mailHost .* \(sync\)" % user, h.ferry_log()), 10)
    # mail delivered to A after the flip (the MTA did not know yet)
    muid, mgid = h._mail_ids()
    new = h.path("A", "home", user, "Maildir", "new", "%d.late.ferry" %
                 time.time())
    with open(new, "w", newline="") as f:
        f.write("From: late@example.com\r\nTo: %s@example.com\r\n"
                "Subject: arrived on A during the move\r\n\r\nhi\r\n" % user)
    os.chown(new, muid, mgid)
    c = h.login(user, h.password(user))
    mid = status(c)
    c.logout()
    check(mid[:2] == before[:2], "on B before the final copy: %s, A had %s"
          % (mid, before))
    doveadm_backup(h, user)  # the final incremental copy
    c = h.login(user, h.password(user))
    after = status(c)
    after_uids = uids(c)
    typ, data = c.fetch(b"*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    c.logout()
    check(after[0] == before[0] + 1, "messages %d after the final copy, "
          "want %d" % (after[0], before[0] + 1))
    check(after[1] == before[1], "UIDVALIDITY changed: %d -> %d" % (
        before[1], after[1]))
    check(after_uids[:len(before_uids)] == before_uids,
          "UIDs changed: %s -> %s" % (before_uids, after_uids))
    check(b"arrived on A during the move" in data[0][1],
          "the late message is not the newest on B: %r" % (data,))
    check(re.search(r"user=%s logged in on %s" % (user, re.escape(
        h.mailhost("B"))), h.ferry_log()), "%s did not log in on B" % user)


def ctl(h, *args):
    ferryctl = os.environ.get("FERRYCTL") or os.path.join(
        os.path.dirname(os.path.abspath(h.ferryd)), "ferryctl")
    p = subprocess.run([ferryctl, "-s", h.control_socket, *args],
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def hold_release_moves(h):
    user = "bob"
    rc, out = ctl(h, "hold", user, "2")
    check(rc == 0 and "holding bob" in out, "hold: %d %r" % (rc, out))
    try:
        h.login(user, h.password(user)).logout()
        raise Fail("a held user logged in")
    except ferrytest.LoginFailed as e:
        check("[UNAVAILABLE]" in str(e), "held login answered %s" % e)
    rc, out = ctl(h, "moves")
    check(rc == 0 and "bob" in out and "syncrepl" in out,
          "moves: %d %r" % (rc, out))
    check(re.search(r"m01", out), "moves does not list m01's move: %r" % out)
    rc, out = ctl(h, "release", user)
    check(rc == 0, "release: %d %r" % (rc, out))
    h.login(user, h.password(user)).logout()
    rc, out = ctl(h, "release", user)
    check(rc != 0 and "not held" in out, "second release: %d %r" % (rc, out))
    # a hold ends by itself
    ctl(h, "hold", user, "1")
    time.sleep(1.3)
    h.login(user, h.password(user)).logout()


def pop3_session_moved(h):
    """A POP3 session of a moved user is closed (POP3 has no BYE to send
    unasked: after the backend's last answer), another user's is not."""
    import poplib
    moved, stays = "u01", "u03"  # both on A
    p1 = h.pop()
    p1.user(moved)
    p1.pass_(h.password(moved))
    p2 = h.pop()
    p2.user(stays)
    p2.pass_(h.password(stays))
    count, _ = p1.stat()
    t0 = time.monotonic()
    h.move_user(moved, "B")
    p1.sock.settimeout(WITHIN)
    try:
        got = p1.file.readline()
    except OSError as e:
        got = repr(e)
    dt = time.monotonic() - t0
    check(got == b"", "moved POP3 session: %r after %.1fs, want EOF" % (
        got, dt))
    sys.stderr.write("[moves pop3] closed %.3fs after the ldapmodify\n" % dt)
    p2.noop()
    check(p2.stat()[0] >= 1, "the other POP3 session broke")
    p2.quit()
    p3 = h.pop()
    p3.user(moved)
    p3.pass_(h.password(moved))
    _, lines, _ = p3.retr(1)
    p3.quit()
    check(b"Welcome to server B" in b"\n".join(lines),
          "%s's POP3 reconnect did not land on B" % moved)
    check(re.search(r"user=%s backend=\S+ closing \(mailbox moved\): "
                    r"closed at a response boundary" % moved, h.ferry_log()),
          "no log line for the closed POP3 session")


GRACE = 2.0     # move-grace in the grace run


def move_grace_then_bye(h):
    """move-grace 2s: a moved user's open session keeps working for the
    grace time after ferry sees the change, then gets the BYE; a new
    login lands on the new server at once."""
    user = "dave"
    c = h.login(user, h.password(user))
    try:
        check(where(h, user) == "A", "%s not on A at first" % user)
        seen = "uid=%s,%s" % (user, ferrytest.PEOPLE)
        before = h.ferry_log().count(seen)
        h.move_user(user, "B")
        ferrytest.wait_until("ferry sees %s move" % user, lambda:
                             h.ferry_log().count(seen) > before, WITHIN)
        t_seen = time.monotonic()
        check(where(h, user) == "B", "a new login of %s did not land on B"
              % user)
        bye, t_bye = None, None
        while time.monotonic() - t_seen < GRACE + 3 * ferrytest.SLOW:
            try:
                typ, _ = c.noop()
                check(typ == "OK", "NOOP during the grace time: %s" % typ)
            except imaplib.IMAP4.abort as e:
                bye, t_bye = str(e), time.monotonic() - t_seen
                break
            time.sleep(0.2)
        check(bye is not None, "no BYE within %.1fs of the move" % (
            GRACE + 3 * ferrytest.SLOW))
        check(t_bye >= GRACE - 0.3, "BYE %.2fs after ferry saw the move, "
              "move-grace is %.0fs" % (t_bye, GRACE))
        check("[UNAVAILABLE] Your mailbox has moved" in bye,
              "the session ended with %r" % bye)
        check(re.search(r"user=%s backend=\S+ closing \(mailbox moved\)"
                        % user, h.ferry_log()), "no 'closing (mailbox "
              "moved)' line for %s" % user)
    finally:
        try:
            c.shutdown()
        except OSError:
            pass
        h.move_user(user, "A")


def pop3_harness():
    from test_pop3 import POP3Harness
    return POP3Harness()


RUNS = [
    # (harness options, tests)
    (dict(extra_users=NUSERS), [moves_syncrepl, mail_arrives_during_move,
                                hold_release_moves]),
    (dict(extra_users=NUSERS, syncprov=False,
          ldap_extra="    poll-interval 1s"), [moves_polling]),
    (pop3_harness, [pop3_session_moved]),
    (dict(ldap_extra="    move-grace %ds" % GRACE), [move_grace_then_bye]),
]


def main(argv):
    names = set(argv[1:])
    passed = failed = 0
    t_start = time.monotonic()

    def stop(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)

    for opts, tests in RUNS:
        tests = [t for t in tests if not names or t.__name__ in names]
        if not tests:
            continue
        h = opts() if callable(opts) else Harness(**opts)
        try:
            try:
                h.start()
            except Exception as e:  # noqa: BLE001
                print("FAIL setup: %s" % e)
                failed += 1
                continue
            for fn in tests:
                t0 = time.monotonic()
                try:
                    fn(h)
                    passed += 1
                    print("PASS %s" % fn.__name__, flush=True)
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    print("FAIL %s: %s: %s" % (fn.__name__,
                                               type(e).__name__, e),
                          flush=True)
                    if not isinstance(e, Fail):
                        traceback.print_exc(file=sys.stderr)
                    print("--- last lines of ferryd's log:")
                    print(h.ferry_log_tail(30))
                sys.stderr.write("[time] %s %.2fs\n" % (
                    fn.__name__, time.monotonic() - t0))
            problems = h.close(check=True)
            name = "ferryd_clean_" + (
                "pop3" if callable(opts) else
                "syncrepl" if opts.get("syncprov", True) else "polling")
            if problems:
                failed += 1
                print("FAIL %s: %s" % (name, "; ".join(problems)))
            else:
                passed += 1
                print("PASS %s" % name)
        except KeyboardInterrupt as e:
            print("interrupted (%s)" % e)
            failed += 1
            break
        finally:
            h.close(check=False)
    print("time: %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
