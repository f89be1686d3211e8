#!/usr/bin/env python3
"""ferry fault tests (issue 9): what a broken or hostile LDAP server,
backend or client does must end in the right answer within its timeout,
and ferry must keep serving everyone else.

    FERRYD=/path/to/ferryd python3 test_faults.py [name ...]

Real processes on loopback (slapd, Dovecot, ferryd from ferrytest.py) and
small fake servers written here: an LDAP proxy that can go mute or cut
connections, and IMAP backends that misbehave in one way each.  Output as
test_imap.py: "PASS name" / "FAIL name: why", then "N passed, N failed".
"""

import base64
import concurrent.futures
import os
import poplib
import random
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Harness, LineConn, LoginFailed, Proc,  # noqa: E402
                       RawIMAP, free_port, random_loopback)
from test_imap import Fail, check, expect_login_fails  # noqa: E402
from test_sieve import Raw as SieveRaw  # noqa: E402

UNAVAILABLE = "[UNAVAILABLE]"
AUTHFAILED = "[AUTHENTICATIONFAILED]"
PREAUTH = ferrytest.PREAUTH_TIMEOUT
SLOW = ferrytest.SLOW
# A token ferry carries but must never log (XOAUTH2 below).
TOKEN = "tok-fault.9e8d7c41"
FAULT_PW = "fault-Pw.0dd5ec"
GROUPS = []


group = ferrytest.grouper(GROUPS)


class FaultHarness(Harness):
    def all_passwords(self):
        return super().all_passwords() + [TOKEN, FAULT_PW]


def raw(h, timeout=10, source=None):
    if source is None:
        return RawIMAP(h.ferry_addr, h.ferry_port, timeout=timeout)
    c = RawIMAP.__new__(RawIMAP)
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.sock.settimeout(timeout)
    c.sock.bind((source, 0))
    c.sock.connect((h.ferry_addr, h.ferry_port))
    c.buf = b""
    c.greeting = c.readline()
    return c


def literal_login(h, tag, user, password, timeout=15):
    """LOGIN with both arguments as synchronizing literals (any bytes);
    returns the tagged answer text ('' if the connection closed)."""
    c = raw(h, timeout=timeout)
    try:
        def early(line):
            # a refused literal: the tagged answer comes at once
            t = tag.encode() + b" "
            return line[len(t):].decode("utf-8", "replace") if \
                line.startswith(t) else line.decode("utf-8", "replace")
        c.send(b"%s LOGIN {%d}\r\n" % (tag.encode(), len(user)))
        line = c.readline()
        if not line.startswith(b"+"):
            return early(line)
        c.send(user + b" {%d}\r\n" % len(password))
        line = c.readline()
        if not line.startswith(b"+"):
            return early(line)
        c.send(password + b"\r\n")
        try:
            _, text = c.response(tag)
        except EOFError:
            return ""
        return text
    finally:
        c.close()


def ldap_add_user(h, uid, mailhost):
    ldif = ("dn: uid={u},{people}\nobjectClass: inetOrgPerson\n"
            "objectClass: inetLocalMailRecipient\nuid: {u}\ncn: {u}\n"
            "sn: {u}\nmail: {u}@example.com\nmailHost: {m}\n\n").format(
                u=uid, people=ferrytest.PEOPLE, m=mailhost)
    h._ldap_cmd(["ldapadd", "-x", "-D", ferrytest.ROOT_DN, "-w",
                 ferrytest.LDAP_ROOT_PW], input=ldif)


# ------------------------------------------------------------ fake servers

class FakeServer:
    """A threaded TCP server on a random loopback address; handler(conn)
    runs per connection on its own thread."""

    def __init__(self, handler):
        self.addr = random_loopback(set())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.addr, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.handler = handler
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._one, args=(conn,),
                             daemon=True).start()

    def _one(self, conn):
        try:
            self.handler(self, conn)
        except OSError:
            pass

    def hostport(self):
        return "%s:%d" % (self.addr, self.port)

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def readline(conn, limit=65536):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        b = conn.recv(1)
        if not b:
            raise OSError("eof")
        buf += b
    return buf


def sink(srv, conn):
    while not srv.stopping and conn.recv(65536):
        pass


GREET = b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] fake ready.\r\n"


def be_nogreet(srv, conn):
    sink(srv, conn)


def be_badgreet(srv, conn):
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    sink(srv, conn)


def be_nologin(srv, conn):
    conn.sendall(GREET)
    sink(srv, conn)


def be_drop(srv, conn):
    conn.sendall(GREET)
    readline(conn)          # ferry's AUTHENTICATE
    conn.close()


def be_bigline(srv, conn):
    conn.sendall(GREET)
    readline(conn)
    conn.sendall(b"ferry1 OK " + b"x" * (1 << 20))
    sink(srv, conn)


def be_garbage(srv, conn):
    conn.sendall(GREET)
    readline(conn)
    rnd = random.Random(9)
    junk = bytes(rnd.randrange(1, 256) for _ in range(8192))
    junk = junk.replace(b"*", b"#").replace(b"+", b"-")
    conn.sendall(b"\x00\x01" + junk + b"\r\n" + junk[:100] + b"\r\n")
    sink(srv, conn)


def be_flood(srv, conn):
    """Untagged lines without end: ferry passes some to the client, but
    must not hold an unbounded amount for one that does not read."""
    conn.sendall(GREET)
    readline(conn)
    line = b"* FLOOD " + b"f" * 1000 + b"\r\n"
    chunk = line * 64
    deadline = time.monotonic() + 30
    while not srv.stopping and time.monotonic() < deadline:
        conn.sendall(chunk)


BACKENDS = {}


def fake_backends(h):
    """Starts the misbehaving backends; one LDAP user routes to each."""
    for name, fn in (("nogreet", be_nogreet), ("badgreet", be_badgreet),
                     ("nologin", be_nologin), ("drop", be_drop),
                     ("bigline", be_bigline), ("garbage", be_garbage),
                     ("flood", be_flood)):
        BACKENDS[name] = FakeServer(fn)
        ldap_add_user(h, "fault-" + name, BACKENDS[name].hostport())
    refused = random_loopback(set())
    ldap_add_user(h, "fault-refused", "%s:%d" % (
        refused, free_port(refused, set())))
    h.pop3_listen = free_port(h.ferry_addr, set())
    return "listen pop3 %s:%d starttls=off\n" % (h.ferry_addr, h.pop3_listen)


def stop_fakes():
    for s in BACKENDS.values():
        s.stop()
    BACKENDS.clear()


class LdapProxy:
    """A byte proxy in front of slapd.  mode 'pass' forwards; 'mute'
    accepts and swallows everything (a server that never answers);
    'cut' closes a connection as soon as a request arrives (closes
    mid-search)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mode = "pass"
        self.server = FakeServer(self._conn)

    def uri(self):
        return "ldap://" + self.server.hostport()

    def _conn(self, srv, conn):
        if self.mode != "pass":
            self._bad(conn)
            return
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        conn.settimeout(None)
        socks = [conn, up]
        try:
            while not srv.stopping:
                r, _, _ = select.select(socks, [], [], 0.2)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is conn and self.mode == "cut":
                        return
                    if s is conn and self.mode == "mute":
                        continue
                    (up if s is conn else conn).sendall(data)
        finally:
            conn.close()
            up.close()

    def _bad(self, conn):
        conn.settimeout(0.2)
        while not self.server.stopping:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data or self.mode == "cut":
                break
        conn.close()


# ------------------------------------------------------------- LDAP faults

PROXY = {}


def proxied_ldap(h):
    PROXY["p"] = LdapProxy((h.ldap_addr, h.ldap_port))
    return ("    uri %s\n    bind-dn %s\n    bind-password-file %s" % (
        PROXY["p"].uri(), ferrytest.FERRY_DN, h.path("ldap.secret")))


LDAP_FAULTS = {
    # entries go stale after a second: every login asks LDAP, and falls
    # back on the stale entry when LDAP fails
    "cache": "ttl 1s  negative-ttl 1s  stale-if-error 1h",
    "ldap_uri_bind": proxied_ldap,
    "ldap_extra": "    follow-changes no",
}

# LDAP timeout 2s and connect-timeout 2s in ferrytest's ferry.conf.
LDAP_WITHIN = 8 * SLOW


def ldap_fault(h, mode, fresh):
    """With the proxy in mode: cached users still log in, a user never
    seen gets [UNAVAILABLE] in time; then ferry recovers."""
    for uid in ("u01", "u02"):
        check(h.login_where(uid, h.password(uid)) == h.location[uid],
              "%s: wrong server before the fault" % uid)
    time.sleep(1.2)     # the entries are stale now
    PROXY["p"].mode = mode
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            stale = [ex.submit(h.login_where, uid, h.password(uid), 20)
                     for uid in ("u01", "u02")]
            new = ex.submit(expect_login_fails, h, fresh, h.password(fresh),
                            UNAVAILABLE, LDAP_WITHIN)
            new.result()
            for uid, f in zip(("u01", "u02"), stale):
                check(f.result() == h.location[uid],
                      "%s: cached user not served while LDAP is %s" % (
                          uid, mode))
        dt = time.monotonic() - t0
        check(dt < LDAP_WITHIN + 2, "answers took %.1fs" % dt)
    finally:
        PROXY["p"].mode = "pass"
    recover(h, fresh)


def recover(h, uid, within=20):
    deadline = time.monotonic() + within * SLOW
    last = None
    while time.monotonic() < deadline:
        try:
            got = h.login_where(uid, h.password(uid), timeout=10)
            check(got == h.location[uid], "%s landed on %s" % (uid, got))
            return
        except (LoginFailed, OSError) as e:
            last = e
            time.sleep(0.3)
    raise Fail("%s: no recovery within %ds: %s" % (uid, within, last))


@group(LDAP_FAULTS)
def ldap_never_answers(h):
    ldap_fault(h, "mute", "u09")


@group(LDAP_FAULTS)
def ldap_closes_mid_search(h):
    ldap_fault(h, "cut", "u10")


@group(LDAP_FAULTS)
def slapd_killed_with_searches_in_flight(h):
    check(h.login_where("u03", h.password("u03")) == "A", "u03 before")
    time.sleep(1.2)
    fresh = ["u11", "u12", "u13", "u14"]
    h.pause_ldap()      # searches hang in slapd ...
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            fs = [ex.submit(expect_login_fails, h, u, h.password(u),
                            UNAVAILABLE, LDAP_WITHIN) for u in fresh]
            cached = ex.submit(h.login_where, "u03", h.password("u03"), 20)
            time.sleep(0.5)
            h.procs["slapd"].signal(signal.SIGKILL)  # ... and it dies
            for f in fs:
                f.result()
            check(cached.result() == "A", "cached u03 not served")
    finally:
        h.procs["slapd"].stop()
        h.start_ldap()
    recover(h, "u15")


@group(LDAP_FAULTS)
def reload_during_ldap_outage_keeps_stale(h):
    """Soak finding: a reload started with an empty cache, so a reload
    during an LDAP outage failed every login."""
    check(h.login_where("u06", h.password("u06")) == "B", "u06 before")
    n = h.ferry_log().count("reloaded")
    PROXY["p"].mode = "cut"
    try:
        h.procs["ferryd"].signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * SLOW
        while h.ferry_log().count("reloaded") == n:
            check(time.monotonic() < deadline, "no reload")
            time.sleep(0.1)
        check(h.login_where("u06", h.password("u06"), timeout=20) == "B",
              "u06 not served stale after the reload")
    finally:
        PROXY["p"].mode = "pass"
    recover(h, "u16")


@group(LDAP_FAULTS)
def ldap_faults_nothing_in_logs(h):
    check_secrets(h)


# ---------------------------------------------------------- backend faults

MAIN = {
    "extra": fake_backends,
}

BACKEND_WITHIN = {
    # connect-timeout 2s, login-timeout 5s (ferrytest.py's ferry.conf)
    "refused": 4, "nogreet": 9, "badgreet": 4, "nologin": 9, "drop": 4,
    "bigline": 4, "garbage": 4,
}


@group(MAIN)
def backend_faults(h):
    """Every misbehaving backend ends in NO [UNAVAILABLE] in time; run
    side by side, the slow ones take their login-timeout once."""
    with concurrent.futures.ThreadPoolExecutor(len(BACKEND_WITHIN)) as ex:
        fs = dict((name, ex.submit(
            expect_login_fails, h, "fault-" + name, FAULT_PW, UNAVAILABLE,
            within * SLOW)) for name, within in BACKEND_WITHIN.items())
        errors = []
        for name, f in fs.items():
            try:
                f.result()
            except Fail as e:
                errors.append("%s: %s" % (name, e))
    check(not errors, "; ".join(errors))
    check(h.login_where("alice", h.password("alice")) == "A",
          "alice after the faults")


@group(MAIN)
def backend_flood_bounded(h):
    c = raw(h, timeout=20)
    try:
        c.send("f1 LOGIN fault-flood %s\r\n" % FAULT_PW)
        time.sleep(2)   # a client that does not read
        total, answer = 0, None
        while answer is None:
            line = c.readline()
            if line == b"":
                break
            total += len(line) + 2
            if line.startswith(b"f1 "):
                answer = line.decode("utf-8", "replace")
        check(answer is not None and answer.startswith("f1 NO " +
                                                       UNAVAILABLE),
              "answer %r after %d bytes" % (answer, total))
        check(total < 16 << 20, "ferry passed on %d bytes" % total)
    finally:
        c.close()


# ------------------------------------- POP3 and ManageSieve backend faults
#
# The same misbehaving backends, speaking POP3 and ManageSieve: each
# ends in ferry's "try later" answer (-ERR [SYS/TEMP] ..., NO (TRYLATER)
# ...; ferryd(8)) within its timeout, the client's connection still
# answers, and the next login is served.

POP3_GREET = b"+OK fake ready.\r\n"
POP3_CAPA = b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
SIEVE_GREET = (b'"IMPLEMENTATION" "fake"\r\n"SASL" "PLAIN"\r\n'
               b'"VERSION" "1.0"\r\nOK "fake ready."\r\n')


def junk_line():
    rnd = random.Random(9)
    junk = bytes(rnd.randrange(1, 256) for _ in range(8192))
    # nothing that reads as a continuation, a capability or a status
    junk = junk.replace(b"+", b"-").replace(b'"', b"'")
    return b"\x00\x01" + junk + b"\r\n" + junk[:100] + b"\r\n"


def pop3_to_login(conn):
    """Greets and answers CAPA; returns ferry's login command."""
    conn.sendall(POP3_GREET)
    line = readline(conn)
    if line.upper().startswith(b"CAPA"):
        conn.sendall(POP3_CAPA)
        line = readline(conn)
    return line


def sieve_to_login(conn):
    conn.sendall(SIEVE_GREET)
    return readline(conn)


def fake_dialect(to_login):
    """The misbehaving backends for one protocol: name -> handler."""
    def nologin(srv, conn):
        to_login(conn)
        sink(srv, conn)

    def drop(srv, conn):
        to_login(conn)
        conn.close()

    def bigline(srv, conn):
        to_login(conn)
        conn.sendall(b"+OK " + b"x" * (1 << 20) + b"\r\n")
        sink(srv, conn)

    def garbage(srv, conn):
        to_login(conn)
        conn.sendall(junk_line())
        sink(srv, conn)
    return {"nogreet": be_nogreet, "badgreet": be_badgreet,
            "nologin": nologin, "drop": drop, "bigline": bigline,
            "garbage": garbage}


def sieve_good(srv, conn):
    """A ManageSieve backend that takes any login (the next login)."""
    sieve_to_login(conn)
    conn.sendall(b'OK "Logged in."\r\n')
    while True:
        line = readline(conn)
        if line.upper().startswith(b"LOGOUT"):
            conn.sendall(b'OK "Logout completed."\r\n')
            conn.close()
            return
        conn.sendall(b'OK "fake."\r\n')


def fake_pop3_sieve_backends(h):
    """Fake POP3 and ManageSieve backends, each a backend block whose
    ports are the fake's, and one LDAP user routed to each:
    pfault-NAME, sfault-NAME."""
    blocks = []

    def add(uid, srv):
        if srv is None:         # nothing listens there
            addr = random_loopback(set())
            port = free_port(addr, set())
        else:
            addr, port = srv.addr, srv.port
        blocks.append("backend %s { imap-port %d  pop3-port %d  "
                      "sieve-port %d }" % (addr, port, port, port))
        ldap_add_user(h, uid, "%s:%d" % (addr, port))
    for prefix, to_login in (("pfault-", pop3_to_login),
                             ("sfault-", sieve_to_login)):
        for name, fn in fake_dialect(to_login).items():
            BACKENDS[prefix + name] = FakeServer(fn)
            add(prefix + name, BACKENDS[prefix + name])
        add(prefix + "refused", None)
    BACKENDS["sieve-good"] = FakeServer(sieve_good)
    add("sieve-good", BACKENDS["sieve-good"])
    for s in "AB":
        blocks.append("backend %s { imap-port %d  pop3-port %d }" % (
            h.addr[s], h.port[s], h.pop3_port[s]))
    taken = {h.ferry_port}
    h.pop3_listen = free_port(h.ferry_addr, taken)
    h.sieve_listen = free_port(h.ferry_addr, taken | {h.pop3_listen})
    return ("listen pop3 %s:%d starttls=off\n"
            "listen sieve %s:%d starttls=off\n"
            "lookup { allow-any-host yes }\n%s\n" % (
                h.ferry_addr, h.pop3_listen, h.ferry_addr, h.sieve_listen,
                "\n".join(blocks)))


POP3_SIEVE = {
    "extra": fake_pop3_sieve_backends,
}


class Sieve(SieveRaw):
    """test_sieve.py's line-level ManageSieve client, on the fault
    harness's listener and with a longer timeout."""

    def __init__(self, h, timeout=15):
        self.h = h
        LineConn.__init__(self, h.ferry_addr, h.sieve_listen,
                          timeout=timeout)
        self.caps = self.response()


def sieve_auth(user, password):
    return 'AUTHENTICATE "PLAIN" "%s"' % base64.b64encode(
        ("\0%s\0%s" % (user, password)).encode()).decode()


def pop3_login_fails(h, user, within):
    """USER/PASS through poplib ends in -ERR [SYS/TEMP] within seconds;
    the connection still answers QUIT."""
    t0 = time.monotonic()
    p = poplib.POP3(h.ferry_addr, h.pop3_listen, timeout=15)
    try:
        p.user(user)
        try:
            resp = p.pass_(FAULT_PW)
        except poplib.error_proto as e:
            text = e.args[0].decode("utf-8", "replace")
        else:
            raise Fail("PASS %s: %r, want -ERR [SYS/TEMP]" % (user, resp))
        dt = time.monotonic() - t0
        check(text.startswith("-ERR [SYS/TEMP] "),
              "PASS %s: %r, want -ERR [SYS/TEMP] ..." % (user, text))
        check(dt < within, "PASS %s answered after %.1fs, want < %.0fs" % (
            user, dt, within))
        check(p.quit().startswith(b"+OK"), "QUIT after the failure")
    except (poplib.error_proto, OSError, EOFError) as e:
        raise Fail("POP3 %s: %s after %.1fs" % (
            user, e, time.monotonic() - t0))
    finally:
        p.close()


def sieve_login_fails(h, user, within):
    """AUTHENTICATE ends in NO (TRYLATER) within seconds; the
    connection still answers LOGOUT."""
    t0 = time.monotonic()
    c = Sieve(h)
    try:
        check(c.caps[1].startswith("OK"), "greeting %r" % (c.caps,))
        _, ok = c.cmd(sieve_auth(user, FAULT_PW))
        dt = time.monotonic() - t0
        check(ok.startswith("NO (TRYLATER) "),
              "AUTHENTICATE %s: %r, want NO (TRYLATER) ..." % (user, ok))
        check(dt < within, "AUTHENTICATE %s answered after %.1fs, want "
              "< %.0fs" % (user, dt, within))
        _, ok = c.cmd("LOGOUT")
        check(ok.startswith("OK"), "LOGOUT after the failure: %r" % ok)
    finally:
        c.close()


def pop3_stat(h, user):
    p = poplib.POP3(h.ferry_addr, h.pop3_listen, timeout=15)
    try:
        p.user(user)
        p.pass_(h.password(user))
        n, _ = p.stat()
        p.quit()
        return n
    finally:
        p.close()


@group(POP3_SIEVE)
def pop3_sieve_backend_faults(h):
    """Every misbehaving POP3 and ManageSieve backend: the client's
    "try later" answer in time, side by side; then the next logins."""
    jobs = []
    for name, within in BACKEND_WITHIN.items():
        jobs.append((pop3_login_fails, "pfault-" + name, within * SLOW))
        jobs.append((sieve_login_fails, "sfault-" + name, within * SLOW))
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        fs = [(user, ex.submit(fn, h, user, within))
              for fn, user, within in jobs]
        errors = []
        for user, f in fs:
            try:
                f.result()
            except Fail as e:
                errors.append("%s: %s" % (user, e))
    check(not errors, "; ".join(errors))
    # ferryd goes on serving: POP3 on Dovecot, ManageSieve, IMAP
    check(pop3_stat(h, "alice") >= 1, "alice's POP3 STAT afterwards")
    c = Sieve(h)
    try:
        _, ok = c.cmd(sieve_auth("sieve-good", FAULT_PW))
        check(ok.startswith("OK"), "ManageSieve login afterwards: %r" % ok)
        _, ok = c.cmd("LOGOUT")
        check(ok.startswith("OK"), "LOGOUT relayed: %r" % ok)
    finally:
        c.close()
    check(h.login_where("bob", h.password("bob")) == "B",
          "bob (IMAP) afterwards")


@group(POP3_SIEVE)
def pop3_sieve_faults_one_at_a_time(h):
    """The same faults one after another, each followed at once by a
    good login of its protocol: nothing a broken backend leaves behind
    (a marked-down address, a half-read buffer) spills over."""
    for name in ("drop", "bigline", "garbage", "badgreet", "refused"):
        within = BACKEND_WITHIN[name] * SLOW
        pop3_login_fails(h, "pfault-" + name, within)
        check(pop3_stat(h, "bob") >= 1, "bob's POP3 after %s" % name)
        sieve_login_fails(h, "sfault-" + name, within)
        c = Sieve(h)
        try:
            _, ok = c.cmd(sieve_auth("sieve-good", FAULT_PW))
            check(ok.startswith("OK"), "ManageSieve after %s: %r" % (
                name, ok))
        finally:
            c.close()


@group(POP3_SIEVE)
def pop3_sieve_faults_nothing_in_logs(h):
    check_secrets(h)


# ------------------------------------------------------------ client faults

def expect_closed(c, within, what):
    t0 = time.monotonic()
    if not c.at_eof(within):
        raise Fail("%s: still open after %.1fs" % (
            what, time.monotonic() - t0))


@group(MAIN)
def slow_clients_cut_at_preauth_timeout(h):
    """Half a literal then silence; a partial line; a byte every half
    second of complete NOOPs, or POP3 CAPAs (slowloris): all closed at
    the pre-auth timeout, counted from the connection."""
    def half_literal():
        c = raw(h)
        t0 = time.monotonic()
        c.send("h1 LOGIN {20}\r\n")
        check(c.readline().startswith(b"+"), "no continuation")
        c.send("alice")
        expect_closed(c, PREAUTH + 4 * SLOW - (time.monotonic() - t0),
                      "half a literal")

    def partial_line():
        c = raw(h)
        c.send("p1 LOGIN alice")
        expect_closed(c, PREAUTH + 4 * SLOW, "partial line")

    def slowloris():
        c = raw(h, timeout=2)
        t0 = time.monotonic()
        data = b"s NOOP\r\n" * 100
        for i, b in enumerate(data):
            if time.monotonic() - t0 > PREAUTH + 4 * SLOW:
                raise Fail("slowloris: still open after %.1fs" % (
                    time.monotonic() - t0))
            try:
                c.sock.sendall(bytes([b]))
            except OSError:
                return
            r, _, _ = select.select([c.sock], [], [], 0.5)
            if r:
                try:
                    chunk = c.sock.recv(4096)
                except OSError:
                    return
                if not chunk or b"BYE" in chunk:
                    expect_closed(c, 3, "slowloris after BYE")
                    return
        raise Fail("slowloris: never closed")

    def pop3_slowloris():
        c = socket.create_connection((h.ferry_addr, h.pop3_listen),
                                     timeout=2)
        t0 = time.monotonic()
        try:
            check(c.recv(256).startswith(b"+OK"), "no POP3 greeting")
            for b in b"CAPA\r\n" * 100:
                if time.monotonic() - t0 > PREAUTH + 4 * SLOW:
                    raise Fail("POP3 slowloris: open after %.1fs" % (
                        time.monotonic() - t0))
                try:
                    c.sendall(bytes([b]))
                    r, _, _ = select.select([c], [], [], 0.5)
                    if r and not c.recv(4096):
                        return
                except OSError:
                    return
            raise Fail("POP3 slowloris: never closed")
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for f in [ex.submit(fn) for fn in (half_literal, partial_line,
                                           slowloris, pop3_slowloris)]:
            f.result()


PER_CLIENT = 40


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(want, hard), hard))


@group(MAIN)
def ten_thousand_connections_one_address(h):
    raise_nofile(20000)
    src = random_loopback(set())
    held, refused, other = [], 0, 0
    t0 = time.monotonic()
    try:
        batch = []
        for i in range(10000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.settimeout(10)
            s.connect((h.ferry_addr, h.ferry_port))
            batch.append(s)
            if len(batch) < 200 and i != 9999:
                continue
            for s in batch:
                try:
                    line = s.recv(256)
                except OSError:
                    line = b""
                if line.startswith(b"* OK"):
                    held.append(s)
                    continue
                if b"Too many connections from your address" in line:
                    refused += 1
                else:
                    other += 1
                s.close()
            batch = []
        dt = time.monotonic() - t0
        check(len(held) == PER_CLIENT, "%d sessions held from one address, "
              "limit %d" % (len(held), PER_CLIENT))
        check(refused + other == 10000 - PER_CLIENT and other == 0,
              "%d refused, %d other answers" % (refused, other))
        # Everyone else still logs in meanwhile.
        check(h.login_where("bob", h.password("bob")) == "B",
              "bob with one address saturated")
    finally:
        for s in held:
            s.close()
    # The slots come back once the connections are gone.
    deadline = time.monotonic() + 5 * SLOW
    while True:
        c = raw(h, source=src)
        ok = c.greeting.startswith(b"* OK")
        c.close()
        if ok:
            break
        check(time.monotonic() < deadline, "address still refused")
        time.sleep(0.2)
    sys.stderr.write("[info] 10000 connections in %.1fs\n" % dt)


@group(MAIN)
def descriptors_exhausted_pause_and_resume(h):
    """A second ferryd with few descriptors: accepting pauses (logged
    once) and resumes when descriptors come back."""
    port = free_port(h.ferry_addr, set())
    with open(h.ferry_conf) as f:
        conf = f.read()
    conf = conf.replace("listen imap %s:%d" % (h.ferry_addr, h.ferry_port),
                        "listen imap %s:%d" % (h.ferry_addr, port))
    conf = conf.replace(h.control_socket, h.path("ferry-fd.sock"))
    conf = re.sub(r"per-client \d+", "per-client 1000", conf)
    conf = re.sub(r"(?m)^listen pop3 .*$", "", conf)
    path = h.path("ferry-fd.conf")
    with open(path, "w") as f:
        f.write(conf)
    logpath = h.path("ferryd-fd.log")
    # No valgrind wrapper here: it needs descriptors of its own.  As
    # root ferryd would raise its limit: without CAP_SYS_RESOURCE it
    # cannot.
    p = Proc("ferryd-fd", ["setpriv", "--bounding-set", "-sys_resource",
                           "prlimit", "--nofile=40:40", h.ferryd, "-f",
                           "-v", "-c", path], logpath)
    h.procs["ferryd-fd"] = p
    p.start()
    conns, greeted, waiting = [], [], []
    try:
        def up():
            with socket.create_connection((h.ferry_addr, port), timeout=1):
                return True
        ferrytest.wait_until("ferryd-fd", up, 20, proc=p)
        def paused():
            with open(logpath, "rb") as f:
                return b": pausing" in f.read()
        # Fill ferryd's descriptors until it pauses, then queue four
        # more in the backlog.
        while not paused():
            check(len(conns) < 100, "100 connections, no pause")
            s = socket.create_connection((h.ferry_addr, port), timeout=5)
            conns.append(s)
            r, _, _ = select.select([s], [], [], 1.0 * SLOW)
            (greeted if r else waiting).append(s)
        for _ in range(4):
            s = socket.create_connection((h.ferry_addr, port), timeout=5)
            conns.append(s)
            waiting.append(s)
        time.sleep(2.5)     # more than one pause period
        check(greeted, "no connection was greeted")
        with open(logpath, "rb") as f:
            n = f.read().count(b": pausing")
        check(n == 1, "'pausing' logged %d times, want once" % n)
        for s in greeted:
            s.close()
        for s in waiting:   # resumed: they are accepted and greeted
            r, _, _ = select.select([s], [], [], 3 * SLOW)
            check(r, "a waiting connection was never accepted")
            check(s.recv(256).startswith(b"* OK"), "no greeting")
        for s in waiting:
            s.close()
        conns = []
        time.sleep(0.5)
        c = ferrytest.imaplib.IMAP4(h.ferry_addr, port, timeout=10)
        try:
            c.login("alice", h.password("alice"))
            check(h.which_server(c) == "A", "alice not on A")
            c.logout()
        except ferrytest.imaplib.IMAP4.error as e:
            raise Fail("login after resume: %s" % e)
    finally:
        for s in conns:
            s.close()
        rc = p.stop(timeout=10)
        del h.procs["ferryd-fd"]
    check(rc is not None and rc[0] == 0, "ferryd-fd exit %r" % (rc,))
    with open(logpath, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    for m in ferrytest.SANITIZER_MARKERS:
        check(m not in text, "ferryd-fd log has %r" % m)


# ------------------------------------------------- credentials and tags

@group(MAIN)
def odd_bytes_in_credentials(h):
    pw = h.password("alice").encode()
    cases = [
        (b"ali\x00ce", pw), (b"alice", pw + b"\x00"),
        (b"alice", b"\x00" + pw), (b"alice\r\n", pw),
        (b"alice", pw + b"\r\nferry1 OK"), (b"al\rice", pw),
        (b"alice\n", pw), ("alïce".encode(), pw),
        (b"alice", pw + "é".encode()), (b"\xff\xfe\x80", b"\x80\x81"),
        (b"a" * 8192, pw), (b"alice", b"p" * 8192),
        (b"alice@" + b"x" * 8000 + b".com", pw),
    ]
    for i, (user, password) in enumerate(cases):
        t0 = time.monotonic()
        text = literal_login(h, "c%d" % i, user, password)
        dt = time.monotonic() - t0
        check(text.startswith("NO") or text.startswith("BAD") or
              text == "" and len(user) > 4096,
              "case %d (%r...): answer %r" % (i, user[:20], text[:80]))
        # Dovecot drops an 8 KB AUTHENTICATE response: "try later" then.
        check(not text.startswith("NO " + UNAVAILABLE) or
              len(password) > 4096, "case %d: %r" % (i, text))
        check(dt < 8 * SLOW, "case %d answered after %.1fs" % (i, dt))
    # AUTHENTICATE PLAIN with extra NULs, and an XOAUTH2 token the
    # backend cannot take (Dovecot here offers no OAuth).
    for i, blob in enumerate([b"\x00ali\x00ce\x00" + pw, b"alice\x00" + pw,
                              b"\x00alice\x00" + pw + b"\x00x"]):
        c = raw(h)
        try:
            _, t = c.command("p%d" % i, "AUTHENTICATE PLAIN " +
                             base64.b64encode(blob).decode())
            check(t.startswith("NO") or t.startswith("BAD"),
                  "PLAIN %d: %r" % (i, t))
        finally:
            c.close()
    c = raw(h)
    try:
        blob = ("user=alice\x01auth=Bearer %s\x01\x01" % TOKEN).encode()
        _, t = c.command("x1", "AUTHENTICATE XOAUTH2 " +
                         base64.b64encode(blob).decode())
        check(t.startswith("NO"), "XOAUTH2: %r" % t)
    finally:
        c.close()
    check(h.login_where("alice", h.password("alice")) == "A",
          "alice afterwards")


@group(MAIN)
def ldap_filter_metacharacters(h):
    pw = h.password("alice")
    for user in ["*", "ali*", "*lice", "a*e", "alice)(uid=*", "alice)",
                 "(uid=alice)", "*)(|(uid=*", "alice*)(objectClass=*",
                 "al\\69ce", "alice\\2a", "alice\\00", "alice\\", "\\*"]:
        try:
            conn = h.login(user, pw, timeout=10)
        except LoginFailed as e:
            check(e.text.startswith(AUTHFAILED),
                  "user %r: %r, want %s" % (user, e.text, AUTHFAILED))
            continue
        conn.logout()
        raise Fail("user %r logged in with alice's password" % user)


# RFC 3501: tag = 1*<any ASTRING-CHAR except "+">
def allowed_tag_char(b):
    return 0x21 <= b <= 0x7e and chr(b) not in '(){%*"\\+'


@group(MAIN)
def tags_every_byte(h):
    good = [b for b in range(256) if allowed_tag_char(b)]
    c = raw(h)
    try:
        for b in good:
            tag = b"t" + bytes([b]) + b"x"
            c.send(tag + b" NOOP\r\n")
            line = c.readline()
            check(line.startswith(tag + b" OK"),
                  "tag byte 0x%02x: %r" % (b, line))
        tag = b"T" * ferrytest_tag_max()
        c.send(tag + b" NOOP\r\n")
        check(c.readline().startswith(tag + b" OK"), "longest tag")
    finally:
        c.close()
    bad = [bytes([b]) for b in range(256) if not allowed_tag_char(b) and
           b not in (0x20, 0x0a, 0x0d)]
    bad += [b"%s%n%x%p", b"%08x" * 8, b"T" * (ferrytest_tag_max() + 1)]
    for tb in bad:
        tag = b"t" + tb + b"x"
        c = raw(h)
        try:
            c.send(tag + b" NOOP\r\n")
            line = c.readline()
            check(b" BAD " in line and not line.startswith(tag) and
                  b"(null)" not in line,
                  "tag %r: %r" % (tb[:20], line))
            c.send(b"ok NOOP\r\n")
            check(c.readline().startswith(b"ok OK"),
                  "no NOOP after bad tag %r" % tb[:20])
        finally:
            c.close()


def ferrytest_tag_max():
    return 64   # IMAP_TAG_MAX in proxy/imap_parse.h


@group(MAIN)
def status_and_logs_hold_no_secrets(h):
    conn = h.login("bob", h.password("bob"))
    try:
        ctl = os.path.join(os.path.dirname(os.path.abspath(h.ferryd)),
                           "ferryctl")
        out = b""
        for verb in (["status"], ["sessions"], ["metrics"],
                     ["lookup", "bob"], ["--json", "sessions"]):
            r = subprocess.run([ctl, "-s", h.control_socket] + verb,
                               capture_output=True, timeout=10)
            out += r.stdout + r.stderr
        check(b"bob" in out, "ferryctl sessions does not show bob")
        for pw in h.all_passwords():
            check(pw.encode() not in out, "ferryctl output has %r" % pw)
    finally:
        conn.logout()
    check_secrets(h)


def memory_hits(pid, needles):
    """How often each needle occurs in ferryd's writable anonymous
    memory (heap, thread stacks, allocator arenas)."""
    hits = {}
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if not f[1].startswith("rw") or (len(f) > 5 and
                                             not f[5].startswith("[")):
                continue
            a, b = (int(x, 16) for x in f[0].split("-"))
            if b - a > 256 << 20:   # sanitizer shadow and reservations
                continue
            try:
                mem.seek(a)
                data = mem.read(b - a)
            except (OSError, OverflowError, ValueError):
                continue
            for n in needles:
                k = data.count(n)
                if k:
                    hits[n] = hits.get(n, 0) + k
    return hits


@group(MAIN)
def credentials_wiped_from_memory(h):
    """After logins by LOGIN (quoted and literal), AUTHENTICATE PLAIN and
    a failed login, no copy of a password is left in ferryd's memory."""
    pid = h.procs["ferryd"].pid
    if ferrytest.FERRYD_WRAPPER or not os.access("/proc/%d/mem" % pid,
                                                  os.R_OK):
        return      # valgrind's own copies; or not allowed to look
    pws = dict((u, h.password(u).encode()) for u in ("alice", "bob",
                                                      "frank", "u05"))
    check(h.login_where("alice", pws["alice"].decode()) == "A", "alice")
    c = raw(h)
    try:
        _, t = c.command("a", "AUTHENTICATE PLAIN " + base64.b64encode(
            b"\0bob\0" + pws["bob"]).decode())
        check(t.startswith("OK"), "bob: %r" % t)
    finally:
        c.close()
    check(literal_login(h, "f", b"frank", pws["frank"]).startswith("OK"),
          "frank")
    wrong = b"wrong-Pw.5c0ff1"
    check(literal_login(h, "w", b"u05", wrong).startswith("NO"), "u05")
    # A LOGIN cut short: its bytes are still in ferry's input buffer
    # when the client goes away.
    pws["carol"] = h.password("carol").encode()
    c = raw(h)
    c.send(b'x LOGIN carol "' + pws["carol"])
    time.sleep(0.2)
    c.close()
    time.sleep(0.5)
    # The control socket's path stays in the configuration: the scan
    # must find it, or it saw nothing.
    control = h.control_socket.encode()
    hits = memory_hits(pid, list(pws.values()) + [wrong, control])
    check(hits.pop(control, 0) > 0, "memory scan found no control string")
    check(not hits, "left in memory: %r" % hits)


def check_secrets(h):
    problems = [p for p in h.check_ferry_log() if "password" in p]
    problems += h.check_other_logs()
    check(not problems, "; ".join(problems))


# ------------------------------------------------------------------ main

def run_group(kw, tests, names):
    tests = [t for t in tests if not names or t.__name__ in names]
    if not tests:
        return 0, 0
    passed = failed = 0
    h = FaultHarness()
    h.limits_extra = ("    per-client %d\n    client-failures 1000000\n"
                      "    bad-commands 1000" % PER_CLIENT)
    for k, v in kw.items():
        setattr(h, {"cache": "cache_conf", "extra": "ferry_extra",
                    "ldap_uri_bind": "ldap_uri_bind",
                    "ldap_extra": "ldap_extra"}[k], v)
    try:
        try:
            h.start()
        except Exception as e:  # noqa: BLE001
            print("FAIL setup (%s): %s" % (tests[0].__name__, e))
            print(h.ferry_log_tail())
            h.close(check=False)
            return 0, 1
        for fn in tests:
            t0 = time.monotonic()
            try:
                fn(h)
                passed += 1
                print("PASS %s" % fn.__name__, flush=True)
            except Fail as e:
                failed += 1
                print("FAIL %s: %s" % (fn.__name__, e), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e),
                      flush=True)
                traceback.print_exc(file=sys.stderr)
            sys.stderr.write("[time] %s %.2fs\n" % (fn.__name__,
                                                     time.monotonic() - t0))
        tail = h.ferry_log_tail(40)
        problems = h.close(check=True)
        if problems:
            failed += 1
            print("FAIL ferryd_clean_exit_and_log (%s): %s" % (
                tests[0].__name__, "; ".join(problems)))
        else:
            passed += 1
            print("PASS ferryd_clean_exit_and_log (%s)" % tests[0].__name__)
        if failed:
            print("--- last lines of ferryd's log:")
            print(tail)
    finally:
        h.close(check=False)
        stop_fakes()
        if "p" in PROXY:
            PROXY.pop("p").server.stop()
    return passed, failed


def main(argv):
    names = set(argv[1:])
    known = set(t.__name__ for _, ts in GROUPS for t in ts)
    if names - known:
        print("unknown test(s): %s" % ", ".join(sorted(names - known)))
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    passed = failed = 0
    t0 = time.monotonic()
    try:
        for kw, tests in GROUPS:
            p, f = run_group(kw, tests, names)
            passed += p
            failed += f
    except KeyboardInterrupt as e:
        print("interrupted (%s)" % e)
        failed += 1
    print("time: %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
