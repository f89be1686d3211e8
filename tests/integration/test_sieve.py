#!/usr/bin/env python3
"""ferry ManageSieve integration tests: both Dovecot servers also run
Pigeonhole's managesieve; ferry listens for sieve in clear and with
STARTTLS.  A user of A and a user of B each upload a script through ferry
(with sieve-connect, and with a raw RFC 5804 dialogue), and the script
must be in that user's home on the right server and not on the other.

    FERRYD=/path/to/ferryd python3 test_sieve.py [name ...]

One line per test, "PASS name" or "FAIL name: why", then "N passed, N
failed".
"""

import base64
import os
import re
import shutil
import ssl
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (Fail, Harness, HarnessError, LineConn,  # noqa: E402
                       check, free_port, make_ca, make_cert)

TESTS = []
test = ferrytest.collector(TESTS)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


def script_for(user):
    return ('require "fileinto";\r\n'
            'if header :contains "subject" "%s" { fileinto "INBOX"; }\r\n'
            % user)


MANAGESIEVE_LOGIN = "/usr/lib/dovecot/managesieve-login"


def with_managesieve(conf, addr, port):
    """The harness's dovecot.conf text with Pigeonhole's managesieve on
    addr:port (test_tls.py uses it too, for TLS towards it)."""
    if "protocols = imap pop3\n" not in conf:
        raise HarnessError("dovecot.conf: no protocols line")
    conf = conf.replace("protocols = imap pop3\n",
                        "protocols = imap pop3 sieve\n")
    chroot = "" if os.geteuid() == 0 else "  chroot =\n"
    return conf + """\
service managesieve-login {{
{chroot}  inet_listener sieve {{
    address = {addr}
    port = {port}
  }}
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
""".format(chroot=chroot, addr=addr, port=port)


class SieveHarness(Harness):
    """The harness with managesieve on both Dovecot servers and ferry
    listening for sieve (clear, and STARTTLS optional)."""

    def __init__(self):
        super().__init__()
        taken = {self.ferry_port, self.ldap_port} | set(self.port.values())
        taken |= set(self.pop3_port.values())
        self.sieve_port = {k: free_port(self.addr[k], taken) for k in "AB"}
        self.s_plain = free_port(self.ferry_addr, taken)
        self.s_tls = free_port(self.ferry_addr, taken)

    def _setup_dovecot(self, s):
        super()._setup_dovecot(s)
        path = self.path(s, "dovecot.conf")
        with open(path) as f:
            conf = f.read()
        conf = with_managesieve(conf, self.addr[s], self.sieve_port[s])
        with open(path, "w") as f:
            f.write(conf)

    def _make_certs(self):
        d = self.path("tls")
        os.makedirs(d)
        ca = make_ca(d, "ca", "ferry sieve test ca")
        self.ca = ca[0]
        self.crt, self.key = make_cert(d, "sieve", "sieve.example.com", [
            "IP:" + self.ferry_addr, "DNS:sieve.example.com"], ca)

    def _setup_ferry(self):
        self._make_certs()
        self.ferry_extra = """\
listen sieve {a}:{sp} starttls=off
listen sieve {a}:{st} starttls=optional
tls {{
    certificate {crt}
    key {key}
}}
backend {A} {{ imap-port {iA}  sieve-port {sA} }}
backend {B} {{ imap-port {iB}  sieve-port {sB} }}
""".format(a=self.ferry_addr, sp=self.s_plain, st=self.s_tls,
           crt=self.crt, key=self.key, A=self.addr["A"], B=self.addr["B"],
           iA=self.port["A"], iB=self.port["B"], sA=self.sieve_port["A"],
           sB=self.sieve_port["B"])
        super()._setup_ferry()

    def script_path(self, server, user, name):
        return self.path(server, "home", user, "sieve", name + ".sieve")


class Raw(LineConn):
    """A line-level ManageSieve client on a socket that can start TLS."""

    def __init__(self, h, port):
        self.h = h
        super().__init__(h.ferry_addr, port)
        self.caps = self.response()

    def response(self):
        """Lines up to and including OK/NO/BYE: (data lines, last)."""
        lines = []
        while True:
            ln = self.line()
            if re.match(r"(OK|NO|BYE)\b", ln) or ln == "":
                return lines, ln
            lines.append(ln)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.response()

    def starttls(self):
        super().starttls(ssl.create_default_context(cafile=self.h.ca),
                         self.h.ferry_addr)


@test
def greeting_and_capability(h):
    r = Raw(h, h.s_tls)
    try:
        caps, ok = r.caps
        check(ok.startswith("OK"), "greeting %r" % ok)
        for c in ('"IMPLEMENTATION" "ferry"', '"STARTTLS"', '"VERSION" "1.0"'):
            check(c in caps, "%s not in %r" % (c, caps))
        check(any(c.startswith('"SASL" "PLAIN') for c in caps),
              "no SASL in %r" % caps)
        caps2, ok = r.cmd("CAPABILITY")
        check(ok.startswith("OK") and caps2 == caps, "CAPABILITY %r" % caps2)
        _, ok = r.cmd('NOOP "x1"')
        check(ok.startswith('OK (TAG "x1")'), "NOOP %r" % ok)
        _, ok = r.cmd("PUTSCRIPT \"a\" {1+}\r\nx")
        check(ok.startswith("NO"), "PUTSCRIPT before login: %r" % ok)
        _, ok = r.cmd("LOGOUT")
        check(ok.startswith("OK"), "LOGOUT %r" % ok)
    finally:
        r.close()


def upload_raw(h, port, user, pw, name, tls=False, literal_auth=False):
    r = Raw(h, port)
    try:
        if tls:
            _, ok = r.cmd("STARTTLS")
            check(ok.startswith("OK"), "STARTTLS %r" % ok)
            r.starttls()
            caps, ok = r.response()   # RFC 5804 2.2: capabilities again
            check(ok.startswith("OK") and '"STARTTLS"' not in caps,
                  "capabilities after TLS: %r %r" % (caps, ok))
        resp = b64("\0%s\0%s" % (user, pw))
        if literal_auth:
            r.send('AUTHENTICATE "PLAIN"\r\n')
            ch = r.line()
            check(ch == '""', "challenge %r" % ch)
            r.send("{%d+}\r\n%s\r\n" % (len(resp), resp))
            _, ok = r.response()
        else:
            _, ok = r.cmd('AUTHENTICATE "PLAIN" "%s"' % resp)
        if not ok.startswith("OK"):
            return ok
        script = script_for(user)
        _, ok = r.cmd('PUTSCRIPT "%s" {%d+}\r\n%s' % (
            name, len(script.encode()), script))
        check(ok.startswith("OK"), "PUTSCRIPT %r" % ok)
        r.cmd("LOGOUT")
        return "OK"
    finally:
        r.close()


@test
def raw_upload_lands_on_home_server(h):
    for user in ("alice", "bob"):
        ok = upload_raw(h, h.s_plain, user, h.password(user), "raw-" + user)
        check(ok == "OK", "%s: login %r" % (user, ok))
        home, other = h.location[user], "B" if h.location[user] == "A" \
            else "A"
        check(os.path.exists(h.script_path(home, user, "raw-" + user)),
              "%s: script not on %s" % (user, home))
        check(not os.path.exists(h.script_path(other, user, "raw-" + user)),
              "%s: script on %s too" % (user, other))


@test
def starttls_and_continuation(h):
    ok = upload_raw(h, h.s_tls, "carol", h.password("carol"), "tls-carol",
                    tls=True, literal_auth=True)
    check(ok == "OK", "login %r" % ok)
    check(os.path.exists(h.script_path("A", "carol", "tls-carol")),
          "script not on A")


@test
def wrong_password(h):
    ok = upload_raw(h, h.s_plain, "alice", "wrong", "x")
    check(ok.startswith("NO") and "(TRYLATER)" not in ok, "got %r" % ok)
    ok = upload_raw(h, h.s_plain, "nosuchuser", "wrong", "x")
    check(ok.startswith("NO"), "unknown user: %r" % ok)


@test
def cancel(h):
    r = Raw(h, h.s_plain)
    try:
        r.send('AUTHENTICATE "PLAIN"\r\n')
        check(r.line() == '""', "no empty challenge")
        _, ok = r.cmd('"*"')
        check(ok.startswith("NO"), "cancel: %r" % ok)
        _, ok = r.cmd("NOOP")
        check(ok.startswith("OK"), "out of step: %r" % ok)
    finally:
        r.close()


@test
def sieve_connect_upload(h):
    if not shutil.which("sieve-connect"):
        raise Fail("sieve-connect not installed")
    for user in ("bob", "u01"):
        local = h.path("sc-%s.sieve" % user)
        with open(local, "w", newline="") as f:
            f.write(script_for(user))
        r = run(["sieve-connect", "--server", h.ferry_addr, "--port",
                 str(h.s_tls), "--user", user, "--passwordfd", "0",
                 "--tlscafile", h.ca, "--tlshostname", h.ferry_addr,
                 "--authmech", "PLAIN", "--upload", "--localsieve", local,
                 "--remotesieve", "sc-" + user],
                input=(h.password(user) + "\n").encode())
        check(r.returncode == 0, "%s: sieve-connect %d: %s %s" % (
            user, r.returncode, r.stdout[-300:], r.stderr[-300:]))
        home = h.location[user]
        check(os.path.exists(h.script_path(home, user, "sc-" + user)),
              "%s: script not on %s" % (user, home))


def main(argv):
    if not os.path.exists(MANAGESIEVE_LOGIN):
        print("SKIP: dovecot-managesieved is not installed "
              "(tests/install-deps.sh test)")
        print("0 passed, 0 failed")
        return 0
    return ferrytest.run_tests(TESTS, SieveHarness, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
