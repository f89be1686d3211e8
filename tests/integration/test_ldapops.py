#!/usr/bin/env python3
"""ferry integration tests of LDAP connection settings and the idle limit:
ldap failback, max-searches, bind-timeout, tls-verify, and limits
idle-timeout, end to end with the harness's slapd and Dovecot servers and
real clients.

    FERRYD=/path/to/ferryd python3 test_ldapops.py [name ...]

Where a test needs an LDAP server that goes away and comes back, that
never answers, or whose traffic is counted, ferry talks to slapd through
a Forwarder: a loopback TCP relay in this process that can be stopped
(its port then refuses), restarted on the same port, or made mute
(accepts, reads, never answers).  It counts the LDAP requests it relays
(BER framing) and connects to slapd from an address of its own, so that
slapd's log tells its connections from ferry's direct ones.

Tests come in groups; each group starts its own servers with its own
ferry.conf.  Output as the other test files: "PASS name" / "FAIL name:
why", then "N passed, N failed".
"""

import os
import queue
import re
import select
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrytest  # noqa: E402
from ferrytest import (SLOW, Fail, Harness, HarnessError,  # noqa: E402
                       LoginFailed, RawIMAP, check, free_port, imap_quote,
                       random_loopback, run_groups, wait_until)

UNAVAILABLE = "[UNAVAILABLE]"
GROUPS = []

FAILBACK_S = 2          # ldap failback in the failback group
BIND_TIMEOUT_S = 1      # ldap bind-timeout in the bind-timeout groups
# the general ldap timeout there, far above bind-timeout plus slack
LONG_TIMEOUT_S = int(10 * SLOW)
MAX_SEARCHES = 2
IDLE_S = 2              # limits idle-timeout in the idle group


group = ferrytest.grouper(GROUPS)


# ------------------------------------------------------------ forwarder

LDAP_SEARCH_REQ = 0x63      # [APPLICATION 3], constructed
LDAP_SEARCH_DONE = 0x65     # [APPLICATION 5]
LDAP_BIND_REQ = 0x60        # [APPLICATION 0]
LDAP_ABANDON_REQ = 0x50     # [APPLICATION 16], primitive


def ber_messages(buf):
    """Splits complete LDAPMessages off buf: ([(msgid, op, body)], rest).
    rest is None if buf is not LDAP (TLS, say): stop parsing it."""
    out = []
    while len(buf) >= 2:
        if buf[0] != 0x30:
            return out, None
        if buf[1] < 0x80:
            hl, n = 2, buf[1]
        else:
            k = buf[1] & 0x7f
            if len(buf) < 2 + k:
                break
            hl, n = 2 + k, int.from_bytes(buf[2:2 + k], "big")
        if len(buf) < hl + n:
            break
        body, buf = buf[hl:hl + n], buf[hl + n:]
        if len(body) < 3 or body[0] != 0x02:
            return out, None
        ml = body[1]
        msgid = int.from_bytes(body[2:2 + ml], "big")
        out.append((msgid, body[2 + ml] if len(body) > 2 + ml else 0,
                    body[2 + ml:]))
    return out, buf


class Forwarder:
    """A loopback TCP relay to target (addr, port), connecting from the
    address source; see the module's docstring.  With reply_delay set,
    the server's answers reach the client that many seconds late.  All
    socket work happens on one thread; the methods below ask it and
    wait."""

    def __init__(self, addr, port, target, source, mode="forward",
                 scheme="ldap"):
        self.addr, self.port, self.target, self.source = (
            addr, port, target, source)
        self.uri = "%s://%s:%d" % (scheme, addr, port)
        self.mode = mode
        # seconds each piece of the server's answers is held back
        self.reply_delay = 0
        # a function that may change each piece of the server's answers
        # (bytes -> bytes) before it is counted and relayed
        self.rewrite = None
        self._later = []        # (when, socket, data): held-back answers
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests = []      # (connection number, msgid, op, body)
        self.max_inflight = 0   # searches relayed and not answered, at most
        self._inflight = {}     # connection number -> {msgid}
        self._lsock = None
        self._socks = {}        # socket -> [peer or None, number, dir, buf]
        self._cmds = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._quit = False
        self._dead = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.start()

    # --- for tests (any thread)
    def start(self, mode=None):
        """Listens (again) on the port."""
        def fn():
            if mode is not None:
                self.mode = mode
            if self._lsock is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.addr, self.port))
                s.listen(64)
                self._lsock = s
        self._call(fn)

    def stop(self):
        """Closes the listener (the port refuses) and every connection."""
        def fn():
            if self._lsock is not None:
                self._lsock.close()
                self._lsock = None
            self._drop_all()
        self._call(fn)

    def drop(self):
        """Closes every connection; keeps listening."""
        self._call(self._drop_all)

    def shutdown(self):
        if self._dead:
            return
        self.stop()
        self._quit = True
        self._wake_w.send(b"q")
        self._thread.join(5)
        self._wake_r.close()
        self._wake_w.close()
        self._dead = True

    def searches(self, uid=None):
        """Search requests relayed, those naming uid if given."""
        with self.lock:
            return [r for r in self.requests if r[2] == LDAP_SEARCH_REQ and (
                uid is None or uid.encode() in r[3])]

    def binds(self):
        with self.lock:
            return len([r for r in self.requests if r[2] == LDAP_BIND_REQ])

    def inflight(self):
        with self.lock:
            return sum(len(v) for v in self._inflight.values())

    def reset_max(self):
        with self.lock:
            self.max_inflight = sum(len(v) for v in self._inflight.values())

    # --- the relay thread
    def _call(self, fn):
        done = threading.Event()
        box = []

        def run():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - raised in the caller
                box.append(e)
            done.set()
        self._cmds.put(run)
        self._wake_w.send(b"x")
        if not done.wait(5):
            raise HarnessError("forwarder %s: not answering" % self.uri)
        if box:
            raise box[0]

    def _drop_all(self):
        for s in list(self._socks):
            self._close(s)

    def _close(self, s):
        ent = self._socks.pop(s, None)
        if ent is None:
            return
        s.close()
        peer, n = ent[0], ent[1]
        if peer is not None:
            self._socks.pop(peer, None)
            peer.close()
        with self.lock:
            self._inflight.pop(n, None)

    def _run(self):
        while not self._quit:
            rl = [self._wake_r] + list(self._socks)
            if self._lsock is not None:
                rl.append(self._lsock)
            wait = 1.0
            if self._later:
                wait = min(wait, max(0, self._later[0][0] - time.monotonic()))
            try:
                r, _, _ = select.select(rl, [], [], wait)
            except (OSError, ValueError):
                continue
            self._send_due()
            for s in r:
                if s is self._wake_r:
                    self._wake_r.recv(256)
                    while True:
                        try:
                            self._cmds.get_nowait()()
                        except queue.Empty:
                            break
                elif s is self._lsock:
                    self._accept()
                elif s in self._socks:
                    self._pump(s)
        self._drop_all()

    def _accept(self):
        try:
            c, _ = self._lsock.accept()
        except OSError:
            return
        c.settimeout(5)
        with self.lock:
            self.accepted += 1
            n = self.accepted
        if self.mode == "mute":
            self._socks[c] = [None, n, "c", b""]
            return
        u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u.settimeout(5)
        try:
            u.bind((self.source, 0))
            u.connect(self.target)
        except OSError:
            u.close()
            c.close()
            return
        self._socks[c] = [u, n, "c", b""]
        self._socks[u] = [c, n, "s", b""]

    def _pump(self, s):
        ent = self._socks[s]
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(s)
            return
        if ent[2] == "s" and self.rewrite is not None:
            data = self.rewrite(data)
        if ent[3] is not None:
            msgs, ent[3] = ber_messages(ent[3] + data)
            self._count(ent[1], ent[2], msgs)
        if ent[0] is not None and ent[2] == "s" and self.reply_delay:
            self._later.append((time.monotonic() + self.reply_delay, ent[0],
                                data))
        elif ent[0] is not None:
            try:
                ent[0].sendall(data)
            except OSError:
                self._close(s)

    def _send_due(self):
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            _, s, data = self._later.pop(0)
            if s in self._socks:
                try:
                    s.sendall(data)
                except OSError:
                    self._close(s)

    def _count(self, n, direction, msgs):
        with self.lock:
            fl = self._inflight.setdefault(n, set())
            for msgid, op, body in msgs:
                if direction == "c":
                    self.requests.append((n, msgid, op, body))
                    if op == LDAP_SEARCH_REQ:
                        fl.add(msgid)
                    elif op == LDAP_ABANDON_REQ and len(body) > 2:
                        fl.discard(int.from_bytes(body[2:2 + body[1]],
                                                  "big"))
                elif op == LDAP_SEARCH_DONE:
                    fl.discard(msgid)
            self.max_inflight = max(self.max_inflight, sum(
                len(v) for v in self._inflight.values()))


# -------------------------------------------------------------- harness

LIMITS = "    per-client 1000\n    client-failures 1000000"


class OpsHarness(Harness):
    """A Harness whose Forwarders stop with it."""

    def __init__(self, kw):
        super().__init__()
        self.forwarders = {}
        self.limits_extra = LIMITS
        for k, v in kw.items():
            setattr(self, {"extra": "ferry_extra",
                           "ldap_uri_bind": "ldap_uri_bind",
                           "ldap_extra": "ldap_extra", "ldap_tls": "ldap_tls",
                           "ldap_timeout": "ldap_timeout",
                           "limits": "limits_extra"}[k], v)

    def forwarder(self, name, target, mode="forward", scheme="ldap"):
        """The Forwarder called name, made on first use on an address of
        its own, relaying from another one."""
        if name not in self.forwarders:
            taken = {self.ldap_addr, self.ferry_addr, *self.addr.values()}
            for f in self.forwarders.values():
                taken |= {f.addr, f.source}
            addr = random_loopback(taken)
            source = random_loopback(taken)
            self.forwarders[name] = Forwarder(
                addr, free_port(addr, set()), target, source, mode=mode,
                scheme=scheme)
        return self.forwarders[name]

    def close(self, check=True):
        problems = super().close(check)
        for f in self.forwarders.values():
            f.shutdown()
        return problems


def backends(h):
    return "".join("backend %s { address %s  imap-port %d }\n" % (
        s.lower(), h.addr[s], h.port[s]) for s in ("A", "B"))


def uri_bind(h, uris, more=""):
    """The ldap block's uri line (uris) and the usual simple bind."""
    return "    uri %s\n    bind-dn %s\n    bind-password-file %s%s" % (
        " ".join(uris), ferrytest.FERRY_DN, h.path("ldap.secret"), more)


# -------------------------------------------------------------- helpers

LINE_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) ", re.M)


def log_pos(h):
    return len(h.ferry_log())


def wait_log_from(h, pos, pattern, timeout=3.0):
    """The first match of pattern in ferryd's log at or after offset pos,
    waiting up to timeout seconds; None if none came."""
    rx = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(h.ferry_log(), pos)
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def line_time(text, pos):
    """The time stamp (seconds of the day) of the log line holding pos."""
    m = LINE_TIME.match(text, text.rfind("\n", 0, pos) + 1)
    if not m:
        raise Fail("no time stamp on log line %r" % text[pos:pos + 80])
    hh, mm, ss, ms = (int(x) for x in m.groups())
    return hh * 3600 + mm * 60 + ss + ms / 1000.0


def since(t0, t1):
    """t1 - t0 for two line_time()s, across midnight."""
    return (t1 - t0) % 86400


def where(h, uid, timeout=10):
    return h.login_where(uid, h.password(uid), timeout=timeout)


def expect_unavailable(h, uid, within):
    """A LOGIN of uid must get NO [UNAVAILABLE] within the given seconds;
    returns the seconds it took."""
    t0 = time.monotonic()
    try:
        conn = h.login(uid, h.password(uid), timeout=within + 10)
    except LoginFailed as e:
        dt = time.monotonic() - t0
        check(e.text.startswith(UNAVAILABLE), "LOGIN %s: got NO %r, want "
              "%s" % (uid, e.text, UNAVAILABLE))
        check(dt < within, "LOGIN %s answered after %.1fs, want < %.1fs" % (
            uid, dt, within))
        return dt
    except OSError as e:
        raise Fail("LOGIN %s: connection failed after %.1fs: %r" % (
            uid, time.monotonic() - t0, e))
    conn.logout()
    raise Fail("LOGIN %s succeeded, want NO %s" % (uid, UNAVAILABLE))


def slapd_search_sources(h, uid):
    """The client addresses of slapd's connections that searched for uid
    (loglevel stats: ACCEPT lines name the peer)."""
    text = h.slapd_log()
    peer = dict(re.findall(r"conn=(\d+) fd=\d+ ACCEPT from IP=([\d.]+):",
                           text))
    conns = re.findall(r"conn=(\d+) op=\d+ SRCH base=.*filter=\"[^\"]*"
                       r"uid=%s\)" % re.escape(uid), text)
    return [peer.get(c, "?") for c in conns]


def raw_login(h, uid, timeout=10):
    """A RawIMAP session logged in as uid through ferry."""
    c = RawIMAP(h.ferry_addr, h.ferry_port, timeout=timeout)
    _, tagged = c.command("l", "LOGIN %s %s" % (uid, imap_quote(
        h.password(uid))))
    if not tagged.startswith("OK"):
        c.close()
        raise Fail("LOGIN %s: %r" % (uid, tagged))
    return c


def raw_where(c):
    """Which server a RawIMAP session is on (the welcome message)."""
    _, tagged = c.command("s", "SELECT INBOX")
    check(tagged.startswith("OK"), "SELECT INBOX: %r" % tagged)
    untagged, tagged = c.command("f", "FETCH 1 (BODY.PEEK[HEADER.FIELDS "
                                 "(SUBJECT)])")
    check(tagged.startswith("OK"), "FETCH: %r" % tagged)
    m = ferrytest.SUBJECT_RE.search(b"\n".join(untagged))
    check(m, "no welcome subject in %r" % untagged)
    return m.group(1).decode()


def ferryctl_status(h):
    ctl = os.environ.get("FERRYCTL") or os.path.join(
        os.path.dirname(os.path.abspath(h.ferryd)), "ferryctl")
    p = subprocess.run([ctl, "-s", h.control_socket, "status"],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        raise Fail("ferryctl status: exit %d: %s" % (p.returncode, p.stderr))
    return p.stdout


def lookups_pending(h):
    m = re.search(r"^ldap\s.*\bpending (\d+)", ferryctl_status(h), re.M)
    if not m:
        raise Fail("no 'ldap ... pending N' line in ferryctl status")
    return int(m.group(1))


def read_until_eof(c, timeout):
    """Reads a RawIMAP connection until the server closes it: (bytes
    received, True) or, after timeout seconds without EOF, (bytes, False)."""
    data, c.buf = c.buf, b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        c.sock.settimeout(left)
        try:
            chunk = c.sock.recv(65536)
        except ConnectionResetError:
            return data, True
        except socket.timeout:
            return data, False
        if not chunk:
            return data, True
        data += chunk


def session_end(h, uid, timeout=3.0):
    """ferryd's summary line of uid's session: (end reason, duration)."""
    m = wait_log_from(h, 0, r"session=\d+ proto=imap client=\S+ tls=no "
                      r"user=%s backend=\S+ in=\d+ out=\d+ "
                      r"duration=([\d.]+)s end=\"([^\"]*)\"" % uid, timeout)
    check(m, "no session summary line for %s in ferryd's log" % uid)
    return m.group(2), float(m.group(1))


def expect_idle_close(h, c, uid, quiet_since, min_duration):
    """c (uid's session) must be closed by ferry idle-timeout after its
    last traffic at quiet_since (monotonic), not before, and the log must
    say so."""
    data, eof = read_until_eof(c, IDLE_S + 5 * SLOW)
    dt = time.monotonic() - quiet_since
    check(eof, "%s's session still open %.1fs after its last traffic "
          "(idle-timeout %ds)" % (uid, dt, IDLE_S))
    # Closed no sooner than the limit (a little slack for clock reads).
    check(dt >= IDLE_S - 0.2, "%s's session closed %.2fs after its last "
          "traffic, idle-timeout is %ds" % (uid, dt, IDLE_S))
    check(dt < IDLE_S + 3 * SLOW, "%s's session closed only %.1fs after "
          "its last traffic, idle-timeout is %ds" % (uid, dt, IDLE_S))
    # ferry relays bytes after the login: it may close without a word,
    # or with an untagged BYE, but the client sees nothing else.
    check(data == b"" or (data.startswith(b"* BYE ") and
                          data.endswith(b"\r\n") and data.count(b"\r\n") == 1),
          "%s got %r before the close, want nothing or one * BYE" % (
              uid, data))
    reason, duration = session_end(h, uid)
    check(reason == "idle timeout", "%s's session ended with %r, want "
          "'idle timeout'" % (uid, reason))
    check(duration >= min_duration, "%s's session lasted %.3fs by the "
          "log, want >= %.1fs" % (uid, duration, min_duration))
    # ferry closed the backend's side too: Dovecot saw the client go.
    check(wait_log_dovecot(h, uid, r"Disconnected: ", 5 * SLOW),
          "Dovecot did not log the end of %s's session" % uid)


def wait_log_dovecot(h, uid, pattern, timeout):
    rx = re.compile(r"imap\(%s\)<[^>]*><[^>]*>: Info: %s" % (uid, pattern))
    deadline = time.monotonic() + timeout
    while not rx.search(h.dovecot_log(h.location[uid])):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# ------------------------------------------------------------ failback

def forwarded_first(h):
    f = h.forwarder("first", (h.ldap_addr, h.ldap_port))
    return uri_bind(h, [f.uri, h.ldap_uri])


FAILBACK = {"ldap_uri_bind": forwarded_first, "extra": backends,
            # one LDAP connection: the lookups' (its log lines alone)
            "ldap_extra": "    failback %ds\n    follow-changes no"
            % FAILBACK_S}


@group(FAILBACK)
def failback_returns_to_first_uri(h):
    """uri FIRST SECOND, failback 2s.  FIRST goes away: ferry fails over
    to SECOND; while FIRST stays away, ferry tries it every failback and
    stays on SECOND; once FIRST is back, ferry returns to it within about
    failback, and the searches go there again."""
    f = h.forwarders["first"]
    first, second = re.escape(f.uri), re.escape(h.ldap_uri)
    check(wait_log_from(h, 0, r"ldap: connected to %s " % first,
                        5 * SLOW), "not connected to the first URI at start")
    check(where(h, "alice") == "A", "alice not on A")
    check(f.searches("alice"), "alice's search did not go to the first URI")

    # The first server goes away: the second takes over.
    pos = log_pos(h)
    f.stop()
    check(where(h, "bob") == "B", "bob not on B with the first URI down")
    m = wait_log_from(h, pos, r"ldap: connected to %s " % second, 3 * SLOW)
    check(m, "no 'connected to' the second URI after the first went away")
    src = slapd_search_sources(h, "bob")
    check(src and f.source not in src, "slapd's searches for bob came from "
          "%r, want ferry's own address (not the forwarder %s)" % (
              src, f.source))

    # The first stays away: failback tries it and stays on the second.
    log = h.ferry_log()
    t_second = line_time(log, m.start())
    m2 = wait_log_from(h, m.end(), r"ldap: trying %s again" % first,
                       FAILBACK_S + 3 * SLOW)
    check(m2, "no 'trying %s again' within %.0fs of failing over (failback "
          "%ds)" % (f.uri, FAILBACK_S + 3 * SLOW, FAILBACK_S))
    log = h.ferry_log()
    waited = since(t_second, line_time(log, m2.start()))
    check(waited >= FAILBACK_S - 0.05, "tried the first URI again %.3fs "
          "after connecting to the second, failback is %ds" % (
              waited, FAILBACK_S))
    m3 = wait_log_from(h, m2.end(), r"ldap: connected to %s " % second,
                       3 * SLOW)
    check(m3, "not back on the second URI after trying the dead first")
    check(where(h, "u01") == "A", "u01 not on A after a failed failback")

    # The first comes back: ferry returns to it within about failback.
    pos = log_pos(h)
    f.start()
    t_up = time.monotonic()
    m4 = wait_log_from(h, pos, r"ldap: connected to %s " % first,
                       FAILBACK_S + 4 * SLOW)
    check(m4, "still not connected to the first URI %.1fs after it came "
          "back (failback %ds)" % (time.monotonic() - t_up, FAILBACK_S))
    log = h.ferry_log()
    m5 = re.compile(r"ldap: trying %s again" % first).search(log, pos)
    check(m5 and m5.start() < m4.start(),
          "connected to the first URI without a 'trying ... again' line")
    # Bound to the second no sooner than failback before it tried again.
    t_prev = max(line_time(log, x.start()) for x in re.finditer(
        r"ldap: connected to %s " % second, log[:m5.start()]))
    waited = since(t_prev, line_time(log, m5.start()))
    check(waited >= FAILBACK_S - 0.05, "tried the first URI again %.3fs "
          "after connecting to the second, failback is %ds" % (
              waited, FAILBACK_S))

    before = len(f.searches())
    for uid, want in (("u05", "A"), ("u06", "B")):
        check(where(h, uid) == want, "%s not on %s after failback" % (
            uid, want))
        check(f.searches(uid), "%s's search did not go to the first URI "
              "after failback" % uid)
        src = slapd_search_sources(h, uid)
        check(src == [f.source], "slapd's searches for %s came from %r, "
              "want only the first URI's forwarder %s" % (uid, src,
                                                          f.source))
    check(len(f.searches()) - before == 2, "%d searches through the "
          "first URI for 2 logins" % (len(f.searches()) - before))


def two_forwarded(h):
    first = h.forwarder("first", (h.ldap_addr, h.ldap_port))
    second = h.forwarder("second", (h.ldap_addr, h.ldap_port))
    return uri_bind(h, [first.uri, second.uri])


# Longer than a failback that 0 turned into some default (5s and more).
FAILBACK_OFF_WATCH_S = 6
FAILBACK_OFF = {"ldap_uri_bind": two_forwarded, "extra": backends,
                "ldap_extra": "    failback 0\n    follow-changes no"}


@group(FAILBACK_OFF)
def failback_zero_stays(h):
    """failback 0: after failing over to SECOND, ferry stays there although
    FIRST is back, until that connection fails; then it starts again from
    FIRST."""
    f1, f2 = h.forwarders["first"], h.forwarders["second"]
    check(wait_log_from(h, 0, r"ldap: connected to %s " % re.escape(f1.uri),
                        5 * SLOW), "not connected to the first URI at start")
    pos = log_pos(h)
    f1.stop()
    check(where(h, "bob") == "B", "bob not on B with the first URI down")
    m = wait_log_from(h, pos, r"ldap: connected to %s " % re.escape(f2.uri),
                      3 * SLOW)
    check(m, "no 'connected to' the second URI after the first went away")
    f1.start()
    t0 = time.monotonic()
    for uid in ("u01", "u02", "u03"):
        check(where(h, uid) == h.location[uid], "%s not on %s" % (
            uid, h.location[uid]))
        check(f2.searches(uid) and not f1.searches(uid), "%s's search did "
              "not go (only) to the second URI" % uid)
    time.sleep(max(0, FAILBACK_OFF_WATCH_S - (time.monotonic() - t0)))
    check(not re.search(r"ldap: trying .* again", h.ferry_log()[m.end():]),
          "failback 0, yet ferry tried the first URI again")
    check(where(h, "u04") == "B", "u04 not on B")
    check(f2.searches("u04") and not f1.searches("u04"),
          "u04's search did not go (only) to the second URI")
    # The second's connection fails: ferry starts from the first again.
    pos = log_pos(h)
    f2.drop()
    check(where(h, "u05") == "A", "u05 not on A")
    check(wait_log_from(h, pos, r"ldap: connected to %s " %
                        re.escape(f1.uri), 3 * SLOW),
          "not back on the first URI after the second's connection failed")
    check(f1.searches("u05") and not f2.searches("u05"),
          "u05's search did not go (only) to the first URI")


# -------------------------------------------------------- max-searches

def forwarded_only(h):
    return uri_bind(h, [h.forwarder("ldap", (h.ldap_addr, h.ldap_port)).uri])


MAXSEARCH = {"ldap_uri_bind": forwarded_only, "extra": backends,
             # queued searches wait for their turn well within it
             "ldap_timeout": "%ds" % LONG_TIMEOUT_S,
             "ldap_extra": "    max-searches %d\n    follow-changes no"
             % MAX_SEARCHES}


@group(MAXSEARCH)
def max_searches_queue(h):
    """max-searches 2 and eight logins of distinct users while slapd is
    stopped (SIGSTOP): ferry has eight lookups waiting and has sent
    exactly two searches; once slapd runs again every login completes on
    its own server, and no more than two searches were ever unanswered."""
    f = h.forwarders["ldap"]
    users = ["u%02d" % i for i in range(1, 9)]
    check(wait_log_from(h, 0, r"ldap: connected to %s " % re.escape(f.uri),
                        5 * SLOW), "not connected to LDAP")
    before = len(f.searches())
    conns = []
    h.pause_ldap()
    try:
        f.reset_max()
        for uid in users:
            c = RawIMAP(h.ferry_addr, h.ferry_port, timeout=20 * SLOW)
            conns.append(c)
            c.send("l LOGIN %s %s\r\n" % (uid, imap_quote(h.password(uid))))
        wait_until("8 lookups pending", lambda: lookups_pending(h) ==
                   len(users), 5 * SLOW)
        wait_until("2 searches sent", lambda: len(f.searches()) - before >=
                   MAX_SEARCHES, 5 * SLOW)
        time.sleep(0.5)  # any more would have gone out by now
        sent = len(f.searches()) - before
        check(sent == MAX_SEARCHES, "with LDAP not answering, ferry sent "
              "%d searches for %d logins, max-searches is %d" % (
                  sent, len(users), MAX_SEARCHES))
        check(lookups_pending(h) == len(users), "lookups pending changed "
              "while LDAP was stopped")
    finally:
        h.resume_ldap()
    try:
        for c, uid in zip(conns, users):
            try:
                _, tagged = c.response("l")
            except (OSError, EOFError) as e:
                raise Fail("LOGIN %s after LDAP came back: %r" % (uid, e))
            check(tagged.startswith("OK"), "LOGIN %s after LDAP came back: "
                  "%r" % (uid, tagged))
            want = h.location[uid]
            got = raw_where(c)
            check(got == want, "%s on %s, want %s" % (uid, got, want))
    finally:
        for c in conns:
            c.close()
    for uid in users:
        n = len(f.searches(uid))
        check(n == 1, "%d searches for %s, want 1" % (n, uid))
    check(f.max_inflight == MAX_SEARCHES, "at most %d searches were "
          "unanswered at once, want max-searches (%d)" % (
              f.max_inflight, MAX_SEARCHES))
    check(lookups_pending(h) == 0, "lookups still pending")


# -------------------------------------------------------- bind-timeout

BIND_TIMEOUT = "    bind-timeout %ds\n    follow-changes no" % BIND_TIMEOUT_S


def mute_only(h):
    return uri_bind(h, [h.forwarder("mute", None, mode="mute").uri])


BIND_MUTE = {"ldap_uri_bind": mute_only, "extra": backends,
             "ldap_timeout": "%ds" % LONG_TIMEOUT_S,
             "ldap_extra": BIND_TIMEOUT}


@group(BIND_MUTE)
def bind_timeout_unavailable(h):
    """The only LDAP server accepts and never answers the bind: logins
    get NO [UNAVAILABLE] within about bind-timeout (1s), not the general
    timeout (10s), each time, and the log says the bind timed out."""
    f = h.forwarders["mute"]
    wait_until("ferry's bind to the mute server", lambda: f.binds() > 0,
               5 * SLOW)
    for uid in ("alice", "bob", "u03"):
        expect_unavailable(h, uid, BIND_TIMEOUT_S + 2.5 * SLOW)
        m = wait_log_from(h, 0, r"session=\d+ .* user=%s login unavailable: "
                          r"(.*)" % uid)
        check(m, "no 'login unavailable' line for %s" % uid)
        check(m.group(1) == "LDAP unavailable", "%s unavailable because "
              "%r, want 'LDAP unavailable' (the bind failed, the search "
              "did not time out)" % (uid, m.group(1)))
    check(wait_log_from(h, 0, r"ldap: %s: [\d.:]+: bind timed out" %
                        re.escape(f.uri)),
          "the log does not say the bind timed out")
    check(not f.searches(), "a search was sent to a server that never "
          "answered the bind")


def mute_then_forwarded(h):
    m = h.forwarder("mute", None, mode="mute")
    f = h.forwarder("ldap", (h.ldap_addr, h.ldap_port))
    return uri_bind(h, [m.uri, f.uri])


BIND_NEXT = {"ldap_uri_bind": mute_then_forwarded, "extra": backends,
             "ldap_timeout": "%ds" % LONG_TIMEOUT_S,
             "ldap_extra": BIND_TIMEOUT}


@group(BIND_NEXT)
def bind_timeout_next_server(h):
    """uri MUTE SECOND: when the link to SECOND breaks, ferry tries MUTE
    first, gives up on its bind after bind-timeout and logs in through
    SECOND: a login waiting for it is routed within about bind-timeout."""
    m, f = h.forwarders["mute"], h.forwarders["ldap"]
    check(wait_log_from(h, 0, r"ldap: connected to %s " % re.escape(f.uri),
                        BIND_TIMEOUT_S + 5 * SLOW),
          "not connected to the second URI at start")
    check(where(h, "alice") == "A", "alice not on A")
    binds = m.binds()
    pos = log_pos(h)
    f.drop()
    t0 = time.monotonic()
    got = where(h, "u04", timeout=LONG_TIMEOUT_S + 10)
    dt = time.monotonic() - t0
    check(got == "B", "u04 on %s, want B" % got)
    check(dt < BIND_TIMEOUT_S + 2.5 * SLOW, "the login took %.1fs, "
          "bind-timeout is %ds (timeout %ds)" % (dt, BIND_TIMEOUT_S,
                                                 LONG_TIMEOUT_S))
    check(m.binds() > binds, "ferry did not bind to the first URI again")
    m1 = wait_log_from(h, pos, r"ldap: %s: [\d.:]+: bind timed out" %
                       re.escape(m.uri))
    check(m1, "the log does not say the first URI's bind timed out")
    check(wait_log_from(h, m1.end(), r"ldap: connected to %s " %
                        re.escape(f.uri)),
          "no 'connected to' the second URI after the bind timed out")
    check(f.searches("u04"), "u04's search did not go to the second URI")


# A SASL bind of two round trips (SCRAM), each answer held back for a bit
# more than half the bind-timeout: each step is within it, the whole bind
# is not.
SASL_BIND_TIMEOUT_S = 2 * SLOW
SASL_DELAY_S = 0.65 * SASL_BIND_TIMEOUT_S


def slow_scram(h):
    f = h.forwarder("ldap", (h.ldap_addr, h.ldap_port))
    f.reply_delay = SASL_DELAY_S
    return ("    uri %s\n    sasl-mech SCRAM-SHA-1\n    sasl-authcid ferry\n"
            "    bind-password-file %s" % (f.uri, h.path("ldap.secret")))


SASL_STEPS = {"ldap_uri_bind": slow_scram, "extra": backends,
              "ldap_timeout": "%ds" % LONG_TIMEOUT_S,
              "ldap_extra": "    bind-timeout %dms\n    follow-changes no" % (
                  SASL_BIND_TIMEOUT_S * 1000)}


@group(SASL_STEPS)
def bind_timeout_per_sasl_step(h):
    """bind-timeout bounds "every step of a SASL bind": a SCRAM bind whose
    two answers each come after 0.65 times bind-timeout succeeds, although
    the whole bind takes longer than bind-timeout."""
    f = h.forwarders["ldap"]
    m = wait_log_from(h, 0, r"ldap: (connected to %s |%s: [\d.:]+: bind "
                      r"timed out)" % ((re.escape(f.uri),) * 2),
                      2 * SASL_DELAY_S + 5 * SLOW)
    check(m, "neither connected nor timed out %.1fs after start" % (
        2 * SASL_DELAY_S + 5 * SLOW))
    check(m.group(0).startswith("ldap: connected"), "the SASL bind, two "
          "steps of %.1fs each, timed out (bind-timeout %ds)" % (
              SASL_DELAY_S, SASL_BIND_TIMEOUT_S))
    binds = [r for r in f.requests if r[2] == LDAP_BIND_REQ]
    check(len(binds) == 2 and binds[0][0] == binds[1][0],
          "want one connection with two SASL bind steps, got %r" % (
              [(r[0], r[1]) for r in binds],))
    check(where(h, "alice", timeout=LONG_TIMEOUT_S + 10) == "A",
          "alice not on A")


# ---------------------------------------------------------- tls-verify

def other_ca(h):
    """A CA that did not sign slapd's certificate."""
    d = h.path("other-ca")
    os.makedirs(d, exist_ok=True)
    return ferrytest.make_ca(d, "other", "not the LDAP CA")[0]


def ldaps_other_ca_noverify(h):
    return uri_bind(h, [h.ldaps_uri], "\n    tls-ca-file %s\n"
                    "    tls-verify no" % other_ca(h))


TLS_NOVERIFY = {"ldap_tls": True, "extra": backends,
                "ldap_uri_bind": ldaps_other_ca_noverify}


def tls_sessions(h):
    return re.findall(r"conn=(\d+) fd=\d+ TLS established", h.slapd_log())


@group(TLS_NOVERIFY)
def ldap_tls_verify_no(h):
    """ldaps:// with tls-ca-file naming a CA that did not sign slapd's
    certificate, and tls-verify no: ferry connects over TLS anyway and
    routes logins (with yes it refuses: test_lookup.py)."""
    check(where(h, "alice") == "A", "alice not on A")
    check(where(h, "bob") == "B", "bob not on B")
    check(tls_sessions(h), "slapd logged no TLS connection")
    check(wait_log_from(h, 0, r"ldap: connected to %s " %
                        re.escape(h.ldaps_uri)), "no 'connected to' line")
    check(not re.search(r"ldap: .*TLS: ", h.ferry_log()),
          "a TLS failure in ferryd's log")


def ldaps_wrong_name_then_right(h):
    """FIRST is slapd's ldaps port through a forwarder on another address
    (slapd's certificate names slapd's own); SECOND is slapd itself."""
    f = h.forwarder("ldaps", (h.ldap_addr, int(h.ldaps_uri.rsplit(":", 1)[1])),
                    scheme="ldaps")
    return uri_bind(h, [f.uri, h.ldaps_uri], "\n    tls-ca-file %s" %
                    h.ldap_ca[0])


TLS_NAME = {"ldap_tls": True, "extra": backends,
            "ldap_uri_bind": ldaps_wrong_name_then_right}


@group(TLS_NAME)
def ldap_tls_verify_checks_name(h):
    """tls-verify yes (the default) checks that the certificate names the
    host in the URI: a certificate signed by tls-ca-file's CA but for
    another address is refused after the handshake, and the next URI, the
    right host, is used."""
    f = h.forwarders["ldaps"]
    check(where(h, "alice") == "A", "alice not on A")
    check(wait_log_from(h, 0, r"ldap: connected to %s " %
                        re.escape(h.ldaps_uri)),
          "not connected to slapd's own ldaps:// URI")
    check(wait_log_from(h, 0, r"ldap: %s: [\d.:]+: TLS: " %
                        re.escape(f.uri)),
          "no TLS failure logged for %s" % f.uri)
    check(not re.search(r"ldap: connected to %s " % re.escape(f.uri),
                        h.ferry_log()),
          "connected to a server whose certificate names another host")
    # The handshake itself worked through the forwarder (slapd logged
    # it): the refusal is the name check, not a broken relay.
    peers = dict(re.findall(r"conn=(\d+) fd=\d+ ACCEPT from IP=([\d.]+):",
                            h.slapd_log()))
    check(any(peers.get(c) == f.source for c in tls_sessions(h)),
          "slapd logged no TLS handshake through the forwarder")


# --------------------------------------------------------- idle-timeout

IDLE = {"extra": backends,
        "limits": LIMITS + "\n    idle-timeout %ds" % IDLE_S}


@group(IDLE)
def idle_session_closed(h):
    """A logged-in session with no traffic either way for idle-timeout
    (2s) is closed: the client sees the connection end, ferryd logs the
    session with end="idle timeout", and the backend's session ends."""
    c = raw_login(h, "u03")
    try:
        _, tagged = c.command("n", "NOOP")
        check(tagged.startswith("OK"), "NOOP: %r" % tagged)
        expect_idle_close(h, c, "u03", time.monotonic(), IDLE_S)
    finally:
        c.close()


@group(IDLE)
def noop_keeps_session_open(h):
    """A client that sends NOOP every half idle-timeout stays logged in
    for 2.5 times idle-timeout; when it stops, the session is closed
    idle-timeout later."""
    c = raw_login(h, "u05")
    try:
        check(raw_where(c) == "A", "u05 not on A")
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 2.5 * IDLE_S:
            time.sleep(IDLE_S / 2.0)
            i += 1
            try:
                _, tagged = c.command("n%d" % i, "NOOP")
            except (OSError, EOFError) as e:
                raise Fail("session closed %.1fs into sending NOOPs every "
                           "%.1fs: %r" % (time.monotonic() - t0,
                                         IDLE_S / 2.0, e))
            check(tagged.startswith("OK"), "NOOP %d: %r" % (i, tagged))
        quiet = time.monotonic()
        expect_idle_close(h, c, "u05", quiet, quiet - t0 + IDLE_S)
    finally:
        c.close()


def deliver(h, uid, n):
    """A new message in uid's Maildir/new on its server (as a delivery
    agent would: written in tmp/, renamed into new/)."""
    md = h.path(h.location[uid], "home", uid, "Maildir")
    name = "%d.M%dP%d.ferrytest-idle" % (time.time(), n, os.getpid())
    tmp = os.path.join(md, "tmp", name)
    with open(tmp, "w", newline="") as f:
        f.write("From: test <t@example.com>\r\nTo: %s@example.com\r\n"
                "Subject: idle %d\r\n\r\nbody %d\r\n" % (uid, n, n))
    uid_, gid_ = h._mail_ids()
    os.chown(tmp, uid_, gid_)
    os.rename(tmp, os.path.join(md, "new", name))


@group(IDLE)
def backend_traffic_keeps_session_open(h):
    """"Neither side has sent anything": a client silent in IDLE for 2.5
    times idle-timeout while the backend reports new mail (new messages
    delivered every half idle-timeout) is not closed."""
    uid = "u07"
    c = raw_login(h, uid)
    try:
        untagged, tagged = c.command("s", "SELECT INBOX")
        check(tagged.startswith("OK"), "SELECT: %r" % tagged)
        c.send("i IDLE\r\n")
        line = c.line()
        check(line.startswith("+"), "IDLE: %r" % line)
        t0 = last = time.monotonic()
        exists, gaps, n = 1, [], 0
        next_delivery = t0
        while time.monotonic() - t0 < 2.5 * IDLE_S:
            if time.monotonic() >= next_delivery:
                n += 1
                deliver(h, uid, n)
                next_delivery += IDLE_S / 2.0
            c.sock.settimeout(max(0.05, next_delivery - time.monotonic()))
            try:
                line = c.readline()
            except socket.timeout:
                continue
            if line == b"":
                raise Fail("session closed %.1fs into IDLE with the backend "
                           "reporting new mail (%d updates so far)" % (
                               time.monotonic() - t0, len(gaps)))
            mm = re.match(rb"\* (\d+) EXISTS", line)
            if mm and int(mm.group(1)) > exists:
                exists = int(mm.group(1))
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        # The premise: the backend did talk, often enough.
        check(len(gaps) >= 3, "only %d EXISTS updates from the backend in "
              "%.1fs (Dovecot did not notice the deliveries?)" % (
                  len(gaps), 2.5 * IDLE_S))
        check(max(gaps) < IDLE_S, "the backend was silent for %.1fs, "
              "longer than idle-timeout: the test proves nothing" % max(
                  gaps))
        c.sock.settimeout(10)
        c.send("DONE\r\n")
        _, tagged = c.response("i")
        check(tagged.startswith("OK"), "IDLE DONE: %r" % tagged)
        _, tagged = c.command("n", "NOOP")
        check(tagged.startswith("OK"), "NOOP after IDLE: %r" % tagged)
        check(not re.search(r"user=%s backend=\S+ .* end=" % uid,
                            h.ferry_log()), "ferryd logged the end of %s's "
              "session" % uid)
        c.command("o", "LOGOUT")
    finally:
        c.close()


# ------------------------------------------------------------------ main

def main(argv):
    return run_groups([(lambda kw=kw: OpsHarness(kw), tests)
                       for kw, tests in GROUPS], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
