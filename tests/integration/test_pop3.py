#!/usr/bin/env python3
"""ferry POP3 integration tests: POP3 (STLS optional and required) and
POP3S listeners in front of the two Dovecot servers, driven by Python's
poplib, raw dialogues, curl and fetchmail.  Users of A must land on A and
users of B on B (told apart by the welcome message each server holds);
UIDL through ferry must be byte-identical to UIDL straight from Dovecot.

    FERRYD=/path/to/ferryd python3 test_pop3.py [name ...]

One line per test, "PASS name" or "FAIL name: why", then "N passed, N
failed".
"""

import base64
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Fail, Harness, LineConn, check,  # noqa: E402
                       free_port, make_ca, make_cert)

TESTS = []
test = ferrytest.collector(TESTS)
SERVER_RE = re.compile(rb"Welcome to server ([AB])")


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


class POP3Harness(Harness):
    """The harness with ferry listening for pop3 (STLS optional), pop3
    (STLS required), pop3s, and one backend block per Dovecot server so
    that each has its own POP3 port.  One worker: the worker on the main
    thread, asking the lookup service without messages (the other files
    run two worker threads)."""

    def __init__(self):
        super().__init__()
        self.workers = 1
        taken = {self.ferry_port, self.ldap_port} | set(self.port.values())
        taken |= set(self.pop3_port.values())
        self.p_opt = free_port(self.ferry_addr, taken)
        self.p_req = free_port(self.ferry_addr, taken)
        self.p_ssl = free_port(self.ferry_addr, taken)

    def _make_certs(self):
        d = self.path("tls")
        os.makedirs(d)
        ca = make_ca(d, "ca", "ferry pop3 test ca")
        self.ca = ca[0]
        self.crt, self.key = make_cert(d, "pop", "pop.example.com", [
            "IP:" + self.ferry_addr, "DNS:pop.example.com"], ca)

    def _setup_ferry(self):
        self._make_certs()
        a = self.ferry_addr
        self.ferry_extra = """\
listen pop3 {a}:{po} starttls=optional
listen pop3 {a}:{pr} starttls=required
listen pop3s {a}:{ps}
tls {{
    certificate {crt}
    key {key}
}}
backend {A} {{ imap-port {iA}  pop3-port {qA}  xclient yes }}
backend {B} {{ imap-port {iB}  pop3-port {qB}  xclient yes }}
""".format(a=a, po=self.p_opt, pr=self.p_req, ps=self.p_ssl, crt=self.crt,
           key=self.key, A=self.addr["A"], B=self.addr["B"],
           iA=self.port["A"], iB=self.port["B"], qA=self.pop3_port["A"],
           qB=self.pop3_port["B"])
        # every test connects from 127.0.0.1: no per-address back-off
        self.limits_extra = "    client-failures 1000"
        super()._setup_ferry()

    def ctx(self):
        return ssl.create_default_context(cafile=self.ca)

    def pop(self, port=None, server=None, timeout=10):
        if server:
            return poplib.POP3(self.addr[server], self.pop3_port[server],
                               timeout=timeout)
        return poplib.POP3(self.ferry_addr, port or self.p_opt,
                           timeout=timeout)


def server_of(p):
    """Which server's welcome message is message 1 -> 'A' or 'B'."""
    _, lines, _ = p.retr(1)
    m = SERVER_RE.search(b"\n".join(lines))
    if not m:
        raise Fail("no welcome message in %r" % lines[:8])
    return m.group(1).decode()


def pop_where(h, user, pw=None, port=None):
    p = h.pop(port)
    try:
        p.user(user)
        p.pass_(pw if pw is not None else h.password(user))
        return server_of(p)
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


class Raw(LineConn):
    """A line-level POP3 client on a socket that can start TLS."""

    def __init__(self, h, port=None, tls=False):
        self.h = h
        super().__init__(h.ferry_addr, port or h.p_opt,
                         tls_ctx=h.ctx() if tls else None)
        self.greeting = self.line()

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def multi(self):
        out = []
        while True:
            ln = self.line()
            if ln in (".", ""):
                return out
            out.append(ln[1:] if ln.startswith("..") else ln)

    def starttls(self):
        super().starttls(self.h.ctx(), self.h.ferry_addr)


@test
def greeting_and_capa(h):
    r = Raw(h)
    try:
        check(r.greeting.startswith("+OK"), "greeting %r" % r.greeting)
        check("<" not in r.greeting, "APOP timestamp in %r" % r.greeting)
        check(r.cmd("CAPA").startswith("+OK"), "CAPA refused")
        caps = r.multi()
        for c in ("USER", "SASL PLAIN LOGIN OAUTHBEARER XOAUTH2", "STLS",
                  "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
            check(c in caps, "%s not in CAPA %r" % (c, caps))
        check(not any(c.startswith("APOP") for c in caps), "APOP in CAPA")
        check(r.cmd("NOOP").startswith("+OK"), "NOOP")
        check(r.cmd("APOP alice 0123456789abcdef0123456789abcdef")
              .startswith("-ERR"), "APOP accepted")
        check(r.cmd("QUIT").startswith("+OK"), "QUIT")
    finally:
        r.close()


@test
def user_pass_routing(h):
    for user, want in (("alice", "A"), ("bob", "B"), ("carol", "A"),
                       ("u02", "B")):
        got = pop_where(h, user)
        check(got == want, "%s landed on %s, want %s" % (user, got, want))


@test
def password_with_spaces(h):
    got = pop_where(h, "erin")
    check(got == "B", "erin landed on %s" % got)


@test
def auth_plain_raw(h):
    for user, want in (("alice", "A"), ("bob", "B")):
        r = Raw(h)
        try:
            ans = r.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (
                user, h.password(user))))
            check(ans.startswith("+OK"), "AUTH PLAIN with IR: %r" % ans)
            check(r.cmd("RETR 1").startswith("+OK"), "RETR")
            body = "\n".join(r.multi())
            check("Welcome to server " + want in body,
                  "%s: wrong server: %r" % (user, body[:200]))
            r.cmd("QUIT")
        finally:
            r.close()
    # without an initial response, and LOGIN
    r = Raw(h)
    try:
        check(r.cmd("AUTH PLAIN") == "+ ", "no empty challenge")
        ans = r.cmd(b64("\0bob\0" + h.password("bob")))
        check(ans.startswith("+OK"), "AUTH PLAIN continuation: %r" % ans)
        r.cmd("QUIT")
    finally:
        r.close()
    r = Raw(h)
    try:
        check(r.cmd("AUTH LOGIN").startswith("+ "), "LOGIN prompt")
        check(r.cmd(b64("alice")).startswith("+ "), "LOGIN password prompt")
        ans = r.cmd(b64(h.password("alice")))
        check(ans.startswith("+OK"), "AUTH LOGIN: %r" % ans)
        r.cmd("QUIT")
    finally:
        r.close()


@test
def auth_cancel_and_garbage(h):
    r = Raw(h)
    try:
        check(r.cmd("AUTH PLAIN") == "+ ", "no challenge")
        check(r.cmd("*").startswith("-ERR"), "* did not cancel")
        check(r.cmd("AUTH PLAIN !!!notbase64").startswith("-ERR"),
              "bad base64 accepted")
        check(r.cmd("AUTH CRAM-MD5").startswith("-ERR"), "CRAM-MD5")
        check(r.cmd("PASS x").startswith("-ERR"), "PASS without USER")
        check(r.cmd("NOOP").startswith("+OK"), "not in step afterwards")
    finally:
        r.close()


@test
def wrong_password_and_unknown_user(h):
    for user, pw in (("alice", "wrong-password"), ("nosuchuser", "x"),
                     ("bob", h.password("alice"))):
        r = Raw(h)
        try:
            check(r.cmd("USER " + user).startswith("+OK"), "USER")
            ans = r.cmd("PASS " + pw)
            check(ans.startswith("-ERR [AUTH]"), "%s: %r" % (user, ans))
            # the client may try again on the same connection
            check(r.cmd("USER alice").startswith("+OK"), "USER again")
            ans = r.cmd("PASS " + h.password("alice"))
            check(ans.startswith("+OK"), "retry: %r" % ans)
        finally:
            r.close()
    r = Raw(h)
    try:
        ans = r.cmd("AUTH PLAIN " + b64("\0alice\0nope"))
        check(ans.startswith("-ERR [AUTH]"), "AUTH PLAIN: %r" % ans)
    finally:
        r.close()


@test
def ldap_down_is_sys_temp(h):
    h.stop_ldap()
    try:
        r = Raw(h)
        try:
            r.cmd("USER alice")
            ans = r.cmd("PASS " + h.password("alice"))
            check(ans.startswith("-ERR [SYS/TEMP]"), "got %r" % ans)
        finally:
            r.close()
    finally:
        h.start_ldap()


@test
def backend_down_is_sys_temp(h):
    h.stop_backend("B")
    try:
        r = Raw(h)
        try:
            r.cmd("USER bob")
            ans = r.cmd("PASS " + h.password("bob"))
            check(ans.startswith("-ERR [SYS/TEMP]"), "got %r" % ans)
        finally:
            r.close()
    finally:
        h.start_backend("B")
    # B's POP3 port stays marked down for down-time (1s), then works.
    deadline = time.monotonic() + 10
    while True:
        try:
            got = pop_where(h, "bob")
            break
        except poplib.error_proto as e:
            check(b"[SYS/TEMP]" in e.args[0], "bob refused: %r" % e.args[0])
            check(time.monotonic() < deadline, "bob still refused after 10s")
            time.sleep(0.2)
    check(got == "B", "bob landed on %s after B came back" % got)


@test
def move_takes_effect_on_next_login(h):
    check(pop_where(h, "dave") == "A", "dave not on A at first")
    h.move_user("dave", "B")
    try:
        got = pop_where(h, "dave")
        check(got == "B", "after the move dave landed on %s" % got)
    finally:
        h.move_user("dave", "A")


def uidl_of(addr, port, user, pw):
    s = socket.create_connection((addr, port), timeout=10)
    try:
        f = s.makefile("rb")
        f.readline()
        s.sendall(("USER %s\r\nPASS %s\r\n" % (user, pw)).encode())
        f.readline()
        ok = f.readline()
        if not ok.startswith(b"+OK"):
            raise Fail("login for UIDL: %r" % ok)
        s.sendall(b"UIDL\r\n")
        out = [f.readline()]
        while out[-1] not in (b".\r\n", b""):
            out.append(f.readline())
        s.sendall(b"QUIT\r\n")
        return b"".join(out)
    finally:
        s.close()


@test
def uidl_byte_identical(h):
    for user in ("alice", "bob"):
        server = h.location[user]
        direct = uidl_of(h.addr[server], h.pop3_port[server], user,
                         h.password(user))
        ferry = uidl_of(h.ferry_addr, h.p_opt, user, h.password(user))
        check(direct.startswith(b"+OK") and len(direct.splitlines()) >= 3,
              "direct UIDL: %r" % direct)
        check(ferry == direct, "UIDL differs: %r vs %r" % (ferry, direct))


@test
def stls_poplib(h):
    p = h.pop()
    try:
        p.stls(context=h.ctx())
        p.user("bob")
        p.pass_(h.password("bob"))
        check(server_of(p) == "B", "bob not on B over STLS")
        p.quit()
    finally:
        p.close()


@test
def stls_required(h):
    r = Raw(h, port=h.p_req)
    try:
        r.cmd("CAPA")
        caps = r.multi()
        check("STLS" in caps, "no STLS in %r" % caps)
        check("USER" not in caps and not any(c.startswith("SASL")
              for c in caps), "login offered before TLS: %r" % caps)
        check(r.cmd("USER alice").startswith("-ERR"), "USER in clear")
        check(r.cmd("AUTH PLAIN " + b64("\0alice\0x")).startswith("-ERR"),
              "AUTH in clear")
        check(r.cmd("STLS").startswith("+OK"), "STLS")
        r.starttls()
        r.cmd("CAPA")
        caps = r.multi()
        check("USER" in caps and "STLS" not in caps, "caps after TLS %r" %
              caps)
        check(r.cmd("STLS").startswith("-ERR"), "second STLS")
        check(r.cmd("USER alice").startswith("+OK"), "USER over TLS")
        check(r.cmd("PASS " + h.password("alice")).startswith("+OK"),
              "PASS over TLS")
    finally:
        r.close()


@test
def stls_injection_not_executed(h):
    r = Raw(h, port=h.p_req)
    try:
        r.send("STLS\r\nUSER alice\r\nPASS %s\r\n" % h.password("alice"))
        check(r.line().startswith("+OK"), "STLS refused")
        r.starttls()
        # the injected USER was dropped: PASS alone has no user
        ans = r.cmd("PASS " + h.password("alice"))
        check(ans.startswith("-ERR"), "injected USER was kept: %r" % ans)
        check(r.cmd("NOOP").startswith("+OK"), "out of step")
    finally:
        r.close()


@test
def pop3s_poplib(h):
    p = poplib.POP3_SSL(h.ferry_addr, h.p_ssl, context=h.ctx(), timeout=10)
    try:
        check(p.getwelcome().startswith(b"+OK"), "greeting")
        p.user("alice")
        p.pass_(h.password("alice"))
        check(server_of(p) == "A", "alice not on A over POP3S")
        p.quit()
    finally:
        p.close()


@test
def pipelined_after_pass(h):
    """Commands behind PASS go to the backend once logged in."""
    r = Raw(h)
    try:
        r.send("USER bob\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % h.password("bob"))
        check(r.line().startswith("+OK"), "USER")
        check(r.line().startswith("+OK"), "PASS")
        stat = r.line()
        check(re.match(r"\+OK 1 \d+", stat), "STAT: %r" % stat)
    finally:
        r.close()


@test
def xclient_reaches_backend(h):
    pop_where(h, "carol")
    log = h.dovecot_log("A")
    check("session=<ferry-" in log, "no XCLIENT session in Dovecot's log")


@test
def curl_pop3_and_pop3s(h):
    if not shutil.which("curl"):
        raise Fail("curl not installed")
    for url, extra in (("pop3://%s:%d/" % (h.ferry_addr, h.p_opt), []),
                       ("pop3s://%s:%d/" % (h.ferry_addr, h.p_ssl),
                        ["--cacert", h.ca])):
        r = run(["curl", "-sS", "--max-time", "20", "-u", "alice:" +
                 h.password("alice")] + extra + [url])
        check(r.returncode == 0, "%s: curl %d %s" % (url, r.returncode,
                                                      r.stderr))
        check(re.match(rb"1 \d+", r.stdout), "%s listing %r" % (url,
                                                                r.stdout))
        r = run(["curl", "-sS", "--max-time", "20", "-u", "bob:" +
                 h.password("bob")] + extra + [url + "1"])
        check(b"Welcome to server B" in r.stdout, "%s RETR %r" % (
            url, r.stdout[:200]))


@test
def fetchmail_keep(h):
    if not shutil.which("fetchmail"):
        raise Fail("fetchmail not installed")
    d = h.path("fetchmail")
    os.makedirs(d)
    out = os.path.join(d, "mbox")
    rc = os.path.join(d, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll {a} port {p} proto pop3 auth password no dns\n'
                '  user "alice" password "{pw}" is "alice" here\n'
                '  keep sslproto "" mda "/bin/sh -c \'cat >> {out}\'"\n'
                .format(a=h.ferry_addr, p=h.p_opt, pw=h.password("alice"),
                        out=out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=d, FETCHMAILHOME=d)
    for _ in range(2):  # keep: the second run fetches it again
        r = run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog",
                 "--all"], env=env)
        check(r.returncode == 0, "fetchmail %d: %s %s" % (
            r.returncode, r.stdout[-400:], r.stderr[-400:]))
    with open(out, "rb") as f:
        mbox = f.read()
    check(mbox.count(b"Welcome to server A") == 2,
          "fetchmail mbox: %r" % mbox[:300])
    # and the message is still on A
    check(pop_where(h, "alice") == "A", "message gone after keep")


def main(argv):
    return ferrytest.run_tests(TESTS, POP3Harness, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
